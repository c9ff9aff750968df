//! The mining client: the search runs on its own thread against [`PoolWork`],
//! while sessions to the configured pools run one at a time on tokio, failing
//! over to the next pool with exponential backoff and jitter.
//!
//! Hits go from the search thread to the session through a bounded queue of
//! [`HIT_QUEUE`]: the search never blocks on it, and a hit that finds it full
//! is counted as dropped ([`ShareStats::dropped`]) rather than held in memory.
//!
//! With `--suggest-difficulty auto` the search thread first measures the
//! engine's hash rate for [`CALIBRATION`] (the benchmark's search, nonce-only),
//! and each session suggests the difficulty for that rate; a session that ran
//! long enough replaces it with the rate it actually hashed at, for the next.

use super::policy::{PoolPolicy, Reconnect, Suggest};
use super::session::{self, Endpoint, SessionEnd};
use super::work::{JobTag, PoolWork};
use crate::bench;
use crate::engine::{Engine, Mode};
use crate::search::{Found, SearchError, SearchHandle, Searcher};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

/// Hits queued between the search and the session at most.
pub const HIT_QUEUE: usize = 1024;
/// How long the hash rate is measured before mining, for `--suggest-difficulty auto`.
pub const CALIBRATION: Duration = Duration::from_millis(300);
/// A session at least this long measures the hash rate suggested from then on.
const RATE_SESSION: Duration = Duration::from_secs(10);

/// What `miner run` was asked to do.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Pools in order of preference.
    pub pools: Vec<Endpoint>,
    /// The hashing engine.
    pub engine: Engine,
    /// Search threads; `None` for [`crate::search::default_threads`].
    pub threads: Option<usize>,
    /// The first wait between failed connection attempts (before jitter).
    pub backoff_min: Duration,
    /// The largest wait: the wait doubles after each failure up to this.
    pub backoff_max: Duration,
    /// What to suggest, and which reconnects to follow.
    pub policy: PoolPolicy,
}

/// Share counters, readable while mining.
#[derive(Debug, Default)]
pub struct ShareStats {
    submitted: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    stale: AtomicU64,
    dropped: AtomicU64,
}

impl ShareStats {
    pub(crate) fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn rejected(&self, reason: &str) {
        warn!(reason, "share rejected");
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
    }
    /// Hits not submitted because the queue to the session was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// `(submitted, accepted, rejected, dropped as stale before submission)`.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.submitted.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
            self.stale.load(Ordering::Relaxed),
        )
    }
}

/// A running client: its counters and a way to stop it.
pub struct PoolClient {
    /// Share counters of all sessions together.
    pub stats: Arc<ShareStats>,
    /// The searcher's handle, for its hash counters.
    pub search: SearchHandle,
    shutdown: watch::Sender<bool>,
    work: PoolWork,
    engine: Engine,
    task: tokio::task::JoinHandle<()>,
    searcher: std::thread::JoinHandle<()>,
}

impl PoolClient {
    /// Starts the search threads and the pool sessions.
    pub fn start(config: PoolConfig) -> Result<Self, SearchError> {
        let mut searcher = Searcher::new(config.engine, config.threads)?;
        let search = searcher.handle();
        let work = PoolWork::for_engine(config.engine);
        let stats = Arc::new(ShareStats::default());
        let (hits_tx, hits_rx) = mpsc::channel::<Found<JobTag>>(HIT_QUEUE);
        let (shutdown, shutdown_rx) = watch::channel(false);

        let mut source = work.clone();
        let hit_stats = stats.clone();
        let (rate_tx, rate_rx) = oneshot::channel();
        let calibrate = config.policy.suggest == Suggest::Auto;
        let (engine, threads) = (config.engine, searcher.threads());
        let searcher_thread = std::thread::Builder::new()
            .name("search".into())
            .spawn(move || {
                if calibrate {
                    let _ = rate_tx.send(calibrate_rate(engine, threads));
                }
                searcher.run(&mut source, |found| forward(&hits_tx, found, &hit_stats));
            })
            .expect("spawning the search thread");

        let engine = config.engine;
        let task = tokio::spawn(sessions(
            config,
            work.clone(),
            search.clone(),
            hits_rx,
            rate_rx,
            stats.clone(),
            shutdown_rx,
        ));
        Ok(Self {
            stats,
            search,
            shutdown,
            work,
            engine,
            task,
            searcher: searcher_thread,
        })
    }

    /// The mode the search runs in, and why, for the status line.
    pub fn mode_description(&self) -> String {
        match self.work.mode() {
            Mode::VersionRolling => format!(
                "{} {}: {} versions share each schedule",
                self.engine,
                Mode::VersionRolling,
                self.engine.versions()
            ),
            Mode::NonceOnly if self.engine.versions() > 1 => format!(
                "{} {}: the pool granted fewer than {} version patterns",
                self.engine,
                Mode::NonceOnly,
                self.engine.versions()
            ),
            Mode::NonceOnly => format!("{} {}", self.engine, Mode::NonceOnly),
        }
    }

    /// Stops mining and waits for the threads and sessions to end.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.work.close();
        self.search.stop();
        let _ = self.task.await;
        let _ = tokio::task::spawn_blocking(move || self.searcher.join()).await;
    }
}

/// The hash rate of `engine` on `threads` workers, measured for [`CALIBRATION`].
fn calibrate_rate(engine: Engine, threads: usize) -> Option<f64> {
    match bench::measure(engine, Mode::NonceOnly, threads, CALIBRATION, |_, _| {}) {
        Ok(m) => {
            info!(hash_rate = m.hash_rate, "measured the hash rate");
            Some(m.hash_rate)
        }
        Err(e) => {
            warn!(error = %e, "cannot measure the hash rate: no difficulty suggested");
            None
        }
    }
}

/// Queues a hit for the session without blocking the search: a full queue
/// drops it (counted); a closed one means the client is stopping.
fn forward(hits: &mpsc::Sender<Found<JobTag>>, found: Found<JobTag>, stats: &ShareStats) {
    if let Err(mpsc::error::TrySendError::Full(found)) = hits.try_send(found) {
        let dropped = stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if dropped.is_power_of_two() {
            warn!(
                dropped,
                job = %found.tag.job_id,
                "the pool connection is not keeping up with the hits: dropping them"
            );
        }
    }
}

/// Runs sessions until shutdown: the pools in order, each failure waiting
/// longer (with jitter) before the next attempt; a good session resets it.
async fn sessions(
    config: PoolConfig,
    work: PoolWork,
    search: SearchHandle,
    mut hits: mpsc::Receiver<Found<JobTag>>,
    calibrated: oneshot::Receiver<Option<f64>>,
    stats: Arc<ShareStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    // The first suggestion needs the calibration (a closed channel: none made).
    let mut hash_rate = if config.policy.suggest == Suggest::Auto {
        tokio::select! {
            rate = calibrated => rate.ok().flatten(),
            _ = shutdown.changed() => return,
        }
    } else {
        None
    };
    let mut backoff = config.backoff_min;
    let mut index = 0usize;
    let mut redirect: Option<Endpoint> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let endpoint = redirect
            .take()
            .unwrap_or_else(|| config.pools[index % config.pools.len()].clone());
        let started = tokio::time::Instant::now();
        let hashed_before = search.hashes();
        let suggest = config.policy.suggestion(hash_rate);
        let outcome = session::run(
            &endpoint,
            suggest,
            &work,
            &search,
            &mut hits,
            &stats,
            &mut shutdown,
        )
        .await;
        if started.elapsed() >= RATE_SESSION {
            let rate = (search.hashes() - hashed_before) as f64 / started.elapsed().as_secs_f64();
            if rate > 0.0 {
                hash_rate = Some(rate);
            }
        }
        let wait = match outcome {
            Ok(SessionEnd::Shutdown) => return,
            Ok(SessionEnd::Reconnect { to, wait }) => {
                info!(?to, ?wait, "pool asked us to reconnect");
                let (next, wait) = match config.policy.reconnect(&endpoint, to, wait) {
                    Reconnect::Follow(next, wait) => (next, wait),
                    Reconnect::Refused {
                        host,
                        port,
                        stay,
                        wait,
                    } => {
                        warn!(
                            pool = %format!("{}:{}", endpoint.host, endpoint.port),
                            to = %format!("{host}:{port}"),
                            "not taking our credentials to the other host the pool named \
                             (--allow-reconnect-elsewhere allows it): reconnecting here"
                        );
                        (stay, wait)
                    }
                };
                redirect = Some(next);
                // A pool that keeps sending us back at once waits out the
                // backoff as a failure would, rather than spinning us.
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = config.backoff_min;
                    wait
                } else {
                    let jitter = rand::thread_rng().gen_range(0.5..1.5);
                    let floor = backoff.mul_f64(jitter);
                    backoff = (backoff * 2).min(config.backoff_max);
                    wait.max(floor)
                }
            }
            Err(e) => {
                warn!(pool = %format!("{}:{}", endpoint.host, endpoint.port), error = %e, "pool session ended");
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = config.backoff_min;
                } else {
                    index += 1;
                }
                let jitter = rand::thread_rng().gen_range(0.5..1.5);
                let wait = backoff.mul_f64(jitter);
                backoff = (backoff * 2).min(config.backoff_max);
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// `miner run`: mines until Ctrl-C, printing a status line every `every`.
pub async fn run(config: PoolConfig, every: Duration) -> Result<(), SearchError> {
    let client = PoolClient::start(config)?;
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    let mut last = (client.search.hashes(), tokio::time::Instant::now());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticker.tick() => {
                let now = (client.search.hashes(), tokio::time::Instant::now());
                let rate = (now.0 - last.0) as f64 / (now.1 - last.1).as_secs_f64();
                last = now;
                let (submitted, accepted, rejected, stale) = client.stats.snapshot();
                let dropped = client.stats.dropped() + client.search.hits_dropped();
                eprintln!(
                    "{:.2} MH/s ({})  shares: {accepted} accepted, {rejected} rejected, {submitted} submitted, {stale} stale{}",
                    rate / 1e6,
                    client.mode_description(),
                    if dropped > 0 { format!(", {dropped} dropped") } else { String::new() },
                );
            }
        }
    }
    info!("stopping");
    client.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hit;

    fn found(n: u32) -> Found<JobTag> {
        Found {
            tag: JobTag {
                epoch: 1,
                job_id: "j".into(),
                extranonce2: vec![0; 4],
                ntime: 0,
                version_bits: None,
                job_version: 0x2000_0000,
                version_mask: 0,
            },
            job: 1,
            hit: Hit {
                nonce: n,
                hash: [0; 32],
            },
            version: None,
        }
    }

    #[test]
    fn a_full_hit_queue_drops_and_counts_instead_of_growing() {
        let (tx, mut rx) = mpsc::channel(2);
        let stats = ShareStats::default();
        for n in 0..5 {
            forward(&tx, found(n), &stats);
        }
        assert_eq!(stats.dropped(), 3);
        assert_eq!(rx.try_recv().unwrap().hit.nonce, 0);
        assert_eq!(rx.try_recv().unwrap().hit.nonce, 1);
        assert!(rx.try_recv().is_err());
        // Room again: queued, not dropped.
        forward(&tx, found(9), &stats);
        assert_eq!(rx.try_recv().unwrap().hit.nonce, 9);
        assert_eq!(stats.dropped(), 3);
        // A closed queue (the client stopping) is not a drop.
        drop(rx);
        forward(&tx, found(10), &stats);
        assert_eq!(stats.dropped(), 3);
    }
}
