//! The flood: connections from their own range of source addresses sending `mining.submit`
//! junk at a total rate, the three kinds in turn:
//! * low: a random extranonce2 and nonce for the connection's newest job; the pool hashes it
//!   and finds it under the share target (23, a ban point);
//! * stale: the newest job of the block before the current tip, which the pool retired (21; no
//!   ban point: the proxy does not count stale shares towards the ban);
//! * duplicate: the session's one real share again (22, a ban point), mined once per session
//!   on its first job (if the tip moves on, the pool answers it as stale).
//!
//! Until a session has a share of its own, or a stale job is known, those go out as low.
//! When the pool closes a session (a ban) its slot reconnects from the slot's next address; a
//! banned address's connection is dropped at once and the slot moves on again. Each slot keeps
//! its rate against the clock since the flood began (every 10 ms it sends what is due by the
//! next tick), so time lost reconnecting is made up, at most one second's worth at once (what
//! is given up is counted as `missed`).

use crate::wire::{self, Outcomes};
use crate::work::{extranonce2, HashPool, Work};
use bitcoin::BlockHash;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use stratum::{Message, Notify, ServerMessage, Submit, SubscribeResult};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How often a slot sends what it owes.
const TICK: Duration = Duration::from_millis(10);
/// How long a stopped session waits for the answers to what it sent.
const DRAIN: Duration = Duration::from_secs(1);

/// How the flood runs.
#[derive(Debug, Clone)]
pub struct AttackConfig {
    /// The pool.
    pub pool: SocketAddr,
    /// The worker name the attack connections authorize.
    pub user: String,
    /// Connections at once (slots).
    pub connections: usize,
    /// Submits a second, in all.
    pub rate: f64,
    /// The first source address of the attack's range...
    pub first_source: Ipv4Addr,
    /// ...and how many there are.
    pub sources: u32,
    /// The difficulty each session asks for (the pool clamps it to its floor).
    pub suggest: f64,
}

impl AttackConfig {
    /// The address slot `slot` connects from on its `attempt`th connection: the slots take
    /// distinct addresses until the range wraps.
    pub fn source(&self, slot: usize, attempt: u64) -> Ipv4Addr {
        let n = (slot as u64 + attempt * self.connections as u64) % u64::from(self.sources);
        Ipv4Addr::from(u32::from(self.first_source) + n as u32)
    }
}

/// What the flood did, in all.
#[derive(Debug, Default, Clone)]
pub struct AttackStats {
    /// Junk submits written, by kind.
    pub sent_low: u64,
    pub sent_stale: u64,
    pub sent_duplicate: u64,
    /// Real shares written (one a session, the duplicates' originals).
    pub sent_shares: u64,
    /// Answers by outcome ([`wire::outcome`]).
    pub outcomes: Outcomes,
    /// Written, and the session closed before the answer came.
    pub unanswered: u64,
    /// Submits a slot owed but gave up (it could not send for more than a second).
    pub missed: u64,
    /// Sessions whose subscribe was answered.
    pub sessions: u64,
    /// Connections the pool closed before answering the subscribe (a banned address).
    pub refused: u64,
    /// Connects that failed.
    pub connect_errors: u64,
    /// Hashes computed for the sessions' real shares.
    pub hashes: u64,
}

impl AttackStats {
    /// Every submit written.
    pub fn sent(&self) -> u64 {
        self.sent_low + self.sent_stale + self.sent_duplicate + self.sent_shares
    }

    /// Every answer received.
    pub fn answered(&self) -> u64 {
        self.outcomes.values().sum()
    }
}

/// The submit kinds, in the order each session cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Low,
    Stale,
    Duplicate,
}

const TURNS: [Kind; 3] = [Kind::Low, Kind::Stale, Kind::Duplicate];

/// The job ids seen by all sessions: the newest, and the newest of the block before it.
#[derive(Debug, Default)]
struct Tips {
    newest: Option<(u64, String, BlockHash)>,
    stale: Option<String>,
}

impl Tips {
    /// Takes in a job. The proxy numbers its jobs in hex, counting up; a job id that does not
    /// read so is ignored (and no stale kind is sent).
    fn saw(&mut self, notify: &Notify) {
        let Ok(n) = u64::from_str_radix(&notify.job_id, 16) else {
            return;
        };
        match &self.newest {
            Some((newest, _, _)) if n <= *newest => return,
            Some((_, id, prevhash)) if *prevhash != notify.prevhash => {
                self.stale = Some(id.clone());
            }
            _ => {}
        }
        self.newest = Some((n, notify.job_id.clone(), notify.prevhash));
    }
}

struct Shared {
    config: AttackConfig,
    stats: Mutex<AttackStats>,
    tips: Mutex<Tips>,
    hashers: HashPool,
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, AttackStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stale_job(&self) -> Option<String> {
        self.tips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stale
            .clone()
    }
}

/// One connection's view.
struct Session {
    extranonce1: Option<Vec<u8>>,
    extranonce2_size: usize,
    next_difficulty: f64,
    /// The newest job and its share difficulty.
    job: Option<(Notify, f64)>,
    /// The real share, once mined.
    share: Option<Submit>,
    mining: bool,
    turn: usize,
    next_id: i64,
    sent: u64,
    answered: u64,
}

impl Session {
    fn new() -> Self {
        Self {
            extranonce1: None,
            extranonce2_size: 0,
            next_difficulty: 1.0,
            job: None,
            share: None,
            mining: false,
            turn: 0,
            next_id: wire::FIRST_SUBMIT_ID,
            sent: 0,
            answered: 0,
        }
    }

    fn ready(&self) -> bool {
        self.extranonce1.is_some() && self.job.is_some()
    }

    /// The next junk submit for `worker` (the session must be [`Self::ready`]).
    fn junk(&mut self, worker: &str, stale: Option<&str>) -> Option<(Kind, Submit)> {
        let (job, _) = self.job.as_ref()?;
        let kind = TURNS[self.turn % TURNS.len()];
        self.turn += 1;
        let low = || Submit {
            worker: worker.to_owned(),
            job_id: job.job_id.clone(),
            extranonce2: (0..self.extranonce2_size).map(|_| rand::random()).collect(),
            ntime: job.ntime,
            nonce: rand::random(),
            version_bits: None,
        };
        Some(match (kind, stale, &self.share) {
            (Kind::Stale, Some(id), _) => (
                Kind::Stale,
                Submit {
                    job_id: id.to_owned(),
                    ..low()
                },
            ),
            (Kind::Duplicate, _, Some(share)) => (Kind::Duplicate, share.clone()),
            _ => (Kind::Low, low()),
        })
    }
}

/// The running flood.
pub struct Attack {
    shared: Arc<Shared>,
    slots: Vec<JoinHandle<()>>,
}

impl Attack {
    /// Starts every slot; they run until `stop` turns true.
    pub fn start(config: AttackConfig, hashers: HashPool, stop: watch::Receiver<bool>) -> Self {
        let connections = config.connections;
        let shared = Arc::new(Shared {
            config,
            stats: Mutex::default(),
            tips: Mutex::default(),
            hashers,
        });
        let began = Instant::now();
        let slots = (0..connections)
            .map(|i| tokio::spawn(slot(i, Arc::clone(&shared), began, stop.clone())))
            .collect();
        Self { shared, slots }
    }

    /// The counters so far.
    pub fn stats(&self) -> AttackStats {
        self.shared.stats().clone()
    }

    /// Waits for the slots to stop (each waits up to a second for its answers).
    pub async fn join(&mut self) {
        for slot in self.slots.drain(..) {
            let _ = slot.await;
        }
    }
}

async fn connect(source: Ipv4Addr, pool: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = tokio::time::timeout(Duration::from_secs(2), socket.connect(pool))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One slot: sessions one after another, each from the slot's next address.
async fn slot(index: usize, shared: Arc<Shared>, began: Instant, mut stop: watch::Receiver<bool>) {
    // Submits this slot sent or gave up, against what its share of the rate owes since `began`.
    let mut done = 0u64;
    let mut attempt = 0u64;
    while !*stop.borrow() {
        let source = shared.config.source(index, attempt);
        attempt += 1;
        match connect(source, shared.config.pool).await {
            Ok(stream) => session(stream, &shared, began, &mut done, &mut stop).await,
            Err(_) => {
                shared.stats().connect_errors += 1;
                tokio::time::sleep(TICK).await;
            }
        }
    }
}

async fn session(
    stream: TcpStream,
    shared: &Arc<Shared>,
    began: Instant,
    done: &mut u64,
    stop: &mut watch::Receiver<bool>,
) {
    let config = &shared.config;
    let per_slot = config.rate / config.connections as f64;
    // More than a second behind, the rest is given up.
    let most = per_slot.ceil().max(1.0) as u64;
    let (read, mut write) = stream.into_split();
    let mut s = Session::new();
    let hello = wire::hello("stratum-load-attack", &config.user, Some(config.suggest));
    let mut subscribed = false;
    let (mined_tx, mut mined) = mpsc::unbounded_channel::<Submit>();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut lines = BufReader::new(read).lines();
    let mut draining: Option<Instant> = None;
    if write.write_all(hello.as_bytes()).await.is_ok() {
        loop {
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(line)) => {
                        on_line(&line, &mut s, shared, &mut subscribed);
                        start_mining(&mut s, shared, &mined_tx);
                    }
                    _ => break,
                },
                Some(share) = mined.recv() => {
                    let id = s.next_id;
                    s.next_id += 1;
                    if write.write_all(wire::submit_line(id, share.clone()).as_bytes()).await.is_err() {
                        break;
                    }
                    s.sent += 1;
                    s.share = Some(share);
                    shared.stats().sent_shares += 1;
                }
                _ = tick.tick() => {
                    if let Some(until) = draining {
                        if s.answered >= s.sent || Instant::now() >= until {
                            break;
                        }
                        continue;
                    }
                    // What is due by the next tick goes out now: the offered rate is never
                    // below the target, wherever the flood is stopped.
                    let due = (per_slot * (began.elapsed() + TICK).as_secs_f64()).ceil() as u64;
                    let mut owed = due.saturating_sub(*done);
                    if owed > most {
                        shared.stats().missed += owed - most;
                        *done += owed - most;
                        owed = most;
                    }
                    if owed == 0 || !s.ready() {
                        continue;
                    }
                    let stale = shared.stale_job();
                    let mut batch = String::new();
                    let mut kinds = [0u64; 3];
                    for _ in 0..owed {
                        let Some((kind, submit)) = s.junk(&config.user, stale.as_deref()) else {
                            break;
                        };
                        kinds[kind as usize] += 1;
                        batch.push_str(&wire::submit_line(s.next_id, submit));
                        s.next_id += 1;
                    }
                    if write.write_all(batch.as_bytes()).await.is_err() {
                        break;
                    }
                    *done += owed;
                    s.sent += owed;
                    let mut stats = shared.stats();
                    stats.sent_low += kinds[Kind::Low as usize];
                    stats.sent_stale += kinds[Kind::Stale as usize];
                    stats.sent_duplicate += kinds[Kind::Duplicate as usize];
                }
                _ = stop.changed(), if draining.is_none() => draining = Some(Instant::now() + DRAIN),
            }
        }
    }
    let mut stats = shared.stats();
    if !subscribed {
        stats.refused += 1;
    }
    stats.unanswered += s.sent.saturating_sub(s.answered);
}

fn on_line(line: &str, s: &mut Session, shared: &Shared, subscribed: &mut bool) {
    match Message::from_line(line) {
        Ok(Message::Notification(n)) => match ServerMessage::from_notification(&n) {
            Ok(ServerMessage::Notify(notify)) => {
                shared
                    .tips
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .saw(&notify);
                s.job = Some((notify, s.next_difficulty));
            }
            Ok(ServerMessage::SetDifficulty(d)) => s.next_difficulty = d,
            _ => {}
        },
        Ok(Message::Response(r)) => match wire::response_id(&r) {
            Some(wire::SUBSCRIBE_ID) => {
                if let Ok(sub) = SubscribeResult::from_value(&r.result) {
                    s.extranonce1 = Some(sub.extranonce1);
                    s.extranonce2_size = sub.extranonce2_size;
                    *subscribed = true;
                    shared.stats().sessions += 1;
                }
            }
            Some(id) if id >= wire::FIRST_SUBMIT_ID => {
                s.answered += 1;
                *shared
                    .stats()
                    .outcomes
                    .entry(wire::outcome(&r))
                    .or_default() += 1;
            }
            _ => {}
        },
        _ => {}
    }
}

/// Mines the session's one real share on its first job (skipped when the hash pool is full).
fn start_mining(s: &mut Session, shared: &Arc<Shared>, found: &mpsc::UnboundedSender<Submit>) {
    if s.mining || !s.ready() {
        return;
    }
    s.mining = true;
    let (Some(en1), Some((job, difficulty))) = (s.extranonce1.clone(), s.job.clone()) else {
        return;
    };
    let en2 = extranonce2(0, s.extranonce2_size);
    let (found, pool, user) = (
        found.clone(),
        Arc::clone(shared),
        shared.config.user.clone(),
    );
    shared.hashers.offer(move || {
        let Ok(work) = Work::new(&job, &en1, &en2, difficulty) else {
            return;
        };
        let result = work.search(0..=u32::MAX);
        pool.stats().hashes += result.map_or(1 << 32, |f| f.hashes);
        if let Some(f) = result {
            let _ = found.send(work.submit(&user, &f));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::block::Version;
    use bitcoin::hashes::Hash;
    use bitcoin::CompactTarget;

    fn notify(id: &str, prev: u8) -> Notify {
        Notify {
            job_id: id.into(),
            prevhash: BlockHash::from_byte_array([prev; 32]),
            coinb1: vec![1],
            coinb2: vec![2],
            merkle_branch: vec![],
            version: Version::TWO,
            nbits: CompactTarget::from_consensus(0x1e03_77ae),
            ntime: 1_700_000_000,
            clean_jobs: true,
        }
    }

    #[test]
    fn the_stale_job_is_the_last_of_the_previous_tip() {
        let mut tips = Tips::default();
        tips.saw(&notify("0", 1));
        tips.saw(&notify("1", 1));
        assert_eq!(tips.stale, None, "one tip so far");
        tips.saw(&notify("2", 2));
        assert_eq!(tips.stale.as_deref(), Some("1"));
        // A session still getting an older job (the fan-out is not instantaneous) changes
        // nothing, nor does an id that is not the proxy's hex counter.
        tips.saw(&notify("1", 1));
        tips.saw(&notify("zz", 3));
        assert_eq!(tips.stale.as_deref(), Some("1"));
        tips.saw(&notify("a", 2));
        assert_eq!(tips.stale.as_deref(), Some("1"));
        tips.saw(&notify("b", 3));
        assert_eq!(tips.stale.as_deref(), Some("a"));
    }

    #[test]
    fn junk_takes_the_kinds_in_turn_and_falls_back_to_low() {
        let mut s = Session::new();
        assert!(s.junk("w", None).is_none(), "no job yet");
        s.extranonce1 = Some(vec![0; 4]);
        s.extranonce2_size = 4;
        s.job = Some((notify("5", 1), 1.0 / 65_536.0));
        let kinds: Vec<Kind> = (0..6).map(|_| s.junk("w", None).unwrap().0).collect();
        assert!(kinds.iter().all(|k| *k == Kind::Low), "{kinds:?}");
        let share = Submit {
            worker: "w".into(),
            job_id: "5".into(),
            extranonce2: vec![0; 4],
            ntime: 1_700_000_000,
            nonce: 77,
            version_bits: None,
        };
        s.share = Some(share.clone());
        let sent: Vec<(Kind, Submit)> = (0..6).map(|_| s.junk("w", Some("4")).unwrap()).collect();
        let kinds: Vec<Kind> = sent.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [TURNS, TURNS].concat());
        for (kind, submit) in &sent {
            match kind {
                Kind::Low => {
                    assert_eq!(submit.job_id, "5");
                    assert_eq!(submit.extranonce2.len(), 4);
                }
                Kind::Stale => assert_eq!(submit.job_id, "4"),
                Kind::Duplicate => assert_eq!(submit, &share),
            }
        }
        // Random nonces: the two low submits differ.
        assert_ne!(sent[0].1, sent[3].1);
    }

    #[test]
    fn slots_take_distinct_addresses_in_the_range() {
        let config = AttackConfig {
            pool: "127.0.0.1:3333".parse().unwrap(),
            user: "u".into(),
            connections: 4,
            rate: 100.0,
            first_source: Ipv4Addr::new(127, 1, 0, 1),
            sources: 10,
            suggest: 1.0,
        };
        assert_eq!(config.source(0, 0), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(config.source(3, 0), Ipv4Addr::new(127, 1, 0, 4));
        assert_eq!(config.source(0, 1), Ipv4Addr::new(127, 1, 0, 5));
        assert_eq!(config.source(1, 2), Ipv4Addr::new(127, 1, 0, 10));
        // Past the range it wraps to the start.
        assert_eq!(config.source(2, 2), Ipv4Addr::new(127, 1, 0, 1));
        let first_round: std::collections::HashSet<_> =
            (0..4).map(|slot| config.source(slot, 0)).collect();
        assert_eq!(first_round.len(), 4);
    }
}
