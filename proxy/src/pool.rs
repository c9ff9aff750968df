//! The proxy's shared state and its node loop: the live jobs built from the
//! node's templates (longpoll, with polling as a fallback and a refresh after
//! every found block), the PPLNS window, the counters, and found-block
//! handling (journal first, then `submitblock` retried until the node answers).

use crate::coinbase::{CoinbaseConfig, CoinbaseParts};
use crate::jobs::{Job, JobBook, DEFAULT_LIVE_JOBS};
use crate::journal::{Entry, Journal, Recovered};
use crate::payouts::{PayoutConfig, PplnsWindow};
use crate::upstream::{BlockTemplate, NodeClient, SubmitBlockOutcome, UpstreamError};
use bitcoin::{Network, ScriptBuf};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tracing::{error, info, warn};

/// How the pool runs.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub network: Network,
    pub coinbase: CoinbaseConfig,
    pub payouts: PayoutConfig,
    /// Poll the node this often when longpoll is unavailable or fails.
    pub poll_interval: Duration,
    /// Rebuild the job from a fresh template at least this often (mempool changes).
    pub refresh_interval: Duration,
    /// Hang right after journaling a found block, before submitting it, so a
    /// test can `kill -9` the proxy there: proves no found block is lost.
    pub crash_after_journal: bool,
}

/// Counters for `/api/stats` and the logs.
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub accepted_difficulty_milli: AtomicU64,
    /// The exact sum of accepted share difficulties (an `f64` as bits): sub-milli
    /// difficulties, normal on regtest and for CPU miners, add up here too.
    accepted_difficulty_bits: AtomicU64,
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    pub blocks_found: AtomicU64,
    pub blocks_accepted: AtomicU64,
    pub connections: AtomicU64,
}

impl Stats {
    /// Adds an accepted share's difficulty to [`Stats::accepted_difficulty`].
    pub fn add_accepted_difficulty(&self, difficulty: f64) {
        let _ = self.accepted_difficulty_bits.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |bits| Some((f64::from_bits(bits) + difficulty).to_bits()),
        );
    }

    /// The sum of the difficulties of all accepted shares.
    pub fn accepted_difficulty(&self) -> f64 {
        f64::from_bits(self.accepted_difficulty_bits.load(Ordering::Relaxed))
    }

    pub fn reject(&self, reason: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }
}

/// Everything the miner sessions share.
pub struct Pool {
    pub config: PoolConfig,
    pub node: NodeClient,
    pub journal: Journal,
    pub jobs: Mutex<JobBook>,
    window: Mutex<PplnsWindow>,
    template: Mutex<Option<Arc<BlockTemplate>>>,
    /// New jobs for the sessions.
    pub jobs_tx: broadcast::Sender<Arc<Job>>,
    /// Ask the node loop for a new template now (after a found block).
    refresh: Notify,
    next_extranonce1: AtomicU32,
    pub stats: Stats,
}

impl Pool {
    /// The pool, with the PPLNS window rebuilt from the journal's shares.
    pub fn new(
        config: PoolConfig,
        node: NodeClient,
        journal: Journal,
        recovered: &Recovered,
    ) -> Arc<Self> {
        let mut window = PplnsWindow::from_config(&config.payouts);
        for (script, difficulty) in &recovered.shares {
            if let Ok(bytes) = hex::decode(script) {
                window.add(ScriptBuf::from_bytes(bytes), *difficulty);
            }
        }
        let (jobs_tx, _) = broadcast::channel(64);
        Arc::new(Self {
            config,
            node,
            journal,
            jobs: Mutex::new(JobBook::new(DEFAULT_LIVE_JOBS)),
            window: Mutex::new(window),
            template: Mutex::new(None),
            jobs_tx,
            refresh: Notify::new(),
            // Random start so that restarts do not reuse extranonce1 values.
            next_extranonce1: AtomicU32::new(rand_u32()),
            stats: Stats::default(),
        })
    }

    /// A fresh extranonce1 for a new connection (unique while fewer than 2^32 connect).
    pub fn next_extranonce1(&self) -> Vec<u8> {
        let n = self.next_extranonce1.fetch_add(1, Ordering::Relaxed);
        let size = self.config.coinbase.extranonce1_size;
        n.to_be_bytes()[4 - size.min(4)..].to_vec()
    }

    pub fn latest_job(&self) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .latest()
            .cloned()
    }

    /// Records an accepted share in the PPLNS window and the journal.
    pub async fn record_share(&self, script: &ScriptBuf, difficulty: f64) {
        self.window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(script.clone(), difficulty);
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.stats
            .accepted_difficulty_milli
            .fetch_add((difficulty * 1000.0) as u64, Ordering::Relaxed);
        self.stats.add_accepted_difficulty(difficulty);
        let entry = Entry::Share {
            script: hex::encode(script.as_bytes()),
            difficulty,
        };
        if let Err(e) = self.journal.append(&entry).await {
            error!(error = %e, "cannot journal an accepted share");
        }
    }

    /// A share that is also a block: journal it durably, then submit it in
    /// the background until the node gives a final answer.
    pub async fn found_block(self: &Arc<Self>, hash: String, height: u32, hex: String) {
        self.stats.blocks_found.fetch_add(1, Ordering::Relaxed);
        info!(%hash, height, "block found");
        let entry = Entry::Block {
            hash: hash.clone(),
            height,
            hex: hex.clone(),
        };
        if let Err(e) = self.journal.append(&entry).await {
            error!(error = %e, "cannot journal a found block; submitting anyway");
        }
        if self.config.crash_after_journal {
            // Holds the block between journal and submission for a test to `kill -9` us.
            error!("fault injection: block {hash} journaled; hanging before submitting it");
            std::future::pending::<()>().await;
        }
        let pool = Arc::clone(self);
        tokio::spawn(async move { pool.submit(hash, hex).await });
    }

    /// Submits until the node answers; journals the answer; asks for new work.
    pub async fn submit(self: Arc<Self>, hash: String, hex: String) {
        let mut wait = Duration::from_millis(200);
        let outcome = loop {
            match self.node.submit_block_hex(&hex).await {
                Ok(outcome) => break outcome,
                Err(e) => {
                    warn!(%hash, error = %e, "submitblock failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        };
        let text = match &outcome {
            SubmitBlockOutcome::Accepted => {
                self.stats.blocks_accepted.fetch_add(1, Ordering::Relaxed);
                info!(%hash, "block accepted by the node");
                "accepted".to_string()
            }
            SubmitBlockOutcome::Duplicate => "duplicate".to_string(),
            SubmitBlockOutcome::Inconclusive => "inconclusive".to_string(),
            SubmitBlockOutcome::Rejected { reason } => {
                error!(%hash, %reason, "node rejected our block");
                format!("rejected: {reason}")
            }
        };
        let entry = Entry::Submitted {
            hash,
            outcome: text,
        };
        if let Err(e) = self.journal.append(&entry).await {
            error!(error = %e, "cannot journal a block outcome");
        }
        self.refresh.notify_one();
    }

    /// Builds and publishes a job from `template` paying the current window.
    fn publish(
        &self,
        template: Arc<BlockTemplate>,
    ) -> Result<Arc<Job>, crate::coinbase::CoinbaseError> {
        let outputs = self
            .window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .outputs(template.coinbasevalue, &self.config.payouts);
        let coinbase = CoinbaseParts::build(
            &self.config.coinbase,
            template.height,
            template.coinbasevalue,
            outputs,
            template.default_witness_commitment.as_ref(),
        )?;
        let job = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&template), coinbase);
        *self.template.lock().unwrap_or_else(|e| e.into_inner()) = Some(template);
        // No session listening yet is fine.
        let _ = self.jobs_tx.send(Arc::clone(&job));
        Ok(job)
    }

    /// The node loop: templates in, jobs out, until the task is dropped.
    pub async fn run_node_loop(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(500);
        let mut last_published = tokio::time::Instant::now();
        loop {
            let longpoll = self
                .template
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .and_then(|t| t.longpollid.clone());
            let fetched: Result<BlockTemplate, UpstreamError> = match longpoll {
                Some(id) => tokio::select! {
                    t = self.node.get_block_template_longpoll(&id) => t,
                    _ = self.refresh.notified() => self.node.get_block_template().await,
                    _ = tokio::time::sleep(self.config.refresh_interval) => self.node.get_block_template().await,
                },
                None => self.node.get_block_template().await,
            };
            let template = match fetched {
                Ok(t) => Arc::new(t),
                Err(e) => {
                    warn!(error = %e, "no template from the node; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.refresh.notified() => {}
                    }
                    backoff =
                        (backoff * 2).min(self.config.poll_interval.max(Duration::from_secs(1)));
                    continue;
                }
            };
            backoff = Duration::from_millis(500);
            let changed = {
                let current = self.template.lock().unwrap_or_else(|e| e.into_inner());
                match current.as_ref() {
                    None => true,
                    Some(c) => {
                        c.previousblockhash != template.previousblockhash
                            || c.longpollid != template.longpollid
                            || last_published.elapsed() >= self.config.refresh_interval
                    }
                }
            };
            if changed {
                match self.publish(template) {
                    Ok(job) => {
                        last_published = tokio::time::Instant::now();
                        info!(
                            job = job.id(),
                            height = job.template().height,
                            clean = job.clean_jobs(),
                            "new job"
                        );
                    }
                    Err(e) => {
                        error!(error = %e, "cannot build a coinbase for the template");
                        tokio::time::sleep(self.config.poll_interval).await;
                    }
                }
            } else {
                // Same work: don't spin on a node without longpoll.
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    _ = self.refresh.notified() => {}
                }
            }
        }
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// The payout script for a worker name, as `mining.authorize` checks it.
pub fn worker_script(pool: &Pool, worker: &str) -> Result<ScriptBuf, crate::payouts::PayoutError> {
    crate::payouts::payout_script(worker, pool.config.network)
}
