//! Honest miners: connections that subscribe (suggesting a difficulty when asked), authorize,
//! keep their newest job with the difficulty announced before it (`mining.set_difficulty`
//! applies to the jobs after it), and, when the share schedule picks them, mine a real share
//! for that job on the hash pool and submit it. The time from a submit's write to its answer
//! is the figure ([`HonestStats`]). Every connection also records its notifies' arrivals for
//! the fan-out report.

use crate::fanout::Arrivals;
use crate::wire::{self, Outcomes};
use crate::work::{extranonce2, HashPool, Work};
use anyhow::Context;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stratum::{Message, Response, ServerMessage, SubscribeResult};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, watch};

/// What the honest connections did, in all.
#[derive(Debug, Default)]
pub struct HonestStats {
    /// Shares asked of the hash pool.
    pub scheduled: u64,
    /// Shares the schedule wanted while the hash pool was full (not mined).
    pub skipped: u64,
    /// Hashes computed.
    pub hashes: u64,
    /// Submits written.
    pub submitted: u64,
    /// Answers by outcome ([`wire::outcome`]).
    pub outcomes: Outcomes,
    /// Submit-to-answer times of accepted shares, in milliseconds, in arrival order.
    pub accepted_ms: Vec<f64>,
    /// The same for rejected ones.
    pub rejected_ms: Vec<f64>,
    /// Connections the pool closed.
    pub closed: u64,
    /// Authorizations refused.
    pub unauthorized: u64,
}

/// One connection's job: the `mining.notify` line as received, and its share difficulty.
#[derive(Debug, Clone)]
struct Job {
    line: String,
    difficulty: f64,
}

#[derive(Debug)]
struct State {
    extranonce1: Option<Vec<u8>>,
    extranonce2_size: usize,
    /// The difficulty of the jobs notified from now on.
    next_difficulty: f64,
    job: Option<Job>,
    /// The next extranonce2, as a counter.
    extranonce2: u64,
    next_id: i64,
    /// Submits written and not answered yet: id -> when.
    pending: HashMap<i64, Instant>,
    closed: bool,
}

struct Conn {
    state: Mutex<State>,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
}

impl Conn {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A share found for connection `conn`.
struct Mined {
    conn: usize,
    submit: stratum::Submit,
}

/// The honest connections.
pub struct Honest {
    user: String,
    conns: Vec<Arc<Conn>>,
    stats: Arc<Mutex<HonestStats>>,
}

impl Honest {
    /// No connections yet; they will authorize `user`.
    pub fn new(user: &str) -> Self {
        Self {
            user: user.to_owned(),
            conns: Vec::new(),
            stats: Arc::default(),
        }
    }

    /// How many connections were opened.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> std::sync::MutexGuard<'_, HonestStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Submits written and not answered.
    pub fn unanswered(&self) -> usize {
        self.conns.iter().map(|c| c.state().pending.len()).sum()
    }

    /// Opens one more connection from `source` and starts its reader.
    pub async fn connect(
        &mut self,
        pool: SocketAddr,
        source: Ipv4Addr,
        suggest: Option<f64>,
        arrivals: &Arrivals,
    ) -> anyhow::Result<()> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
        let stream = socket
            .connect(pool)
            .await
            .with_context(|| format!("connection {} from {source}", self.conns.len()))?;
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        write
            .write_all(wire::hello("stratum-load", &self.user, suggest).as_bytes())
            .await?;
        let conn = Arc::new(Conn {
            state: Mutex::new(State {
                extranonce1: None,
                extranonce2_size: 0,
                // Stratum's default until the pool says otherwise.
                next_difficulty: 1.0,
                job: None,
                extranonce2: 0,
                next_id: wire::FIRST_SUBMIT_ID,
                pending: HashMap::new(),
                closed: false,
            }),
            writer: tokio::sync::Mutex::new(write),
        });
        tokio::spawn(read_lines(
            Arc::clone(&conn),
            read,
            arrivals.clone(),
            Arc::clone(&self.stats),
        ));
        self.conns.push(conn);
        Ok(())
    }

    /// Mines and submits `rate` shares a second in all, each for the next ready connection in
    /// turn, until `stop` turns true.
    pub async fn mine(
        self: Arc<Self>,
        rate: f64,
        hashers: HashPool,
        mut stop: watch::Receiver<bool>,
    ) {
        if rate.is_nan() || rate <= 0.0 || self.conns.is_empty() {
            return;
        }
        let (found_tx, mut found) = mpsc::unbounded_channel::<Mined>();
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut next = 0usize;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Some(search) = self.next_search(&mut next, &found_tx) {
                        let offered = hashers.offer(search);
                        let mut stats = self.stats();
                        stats.scheduled += u64::from(offered);
                        stats.skipped += u64::from(!offered);
                    }
                }
                Some(mined) = found.recv() => self.submit(mined).await,
                _ = stop.changed() => return,
            }
        }
    }

    /// The search for the next connection with a job, from `next` on.
    fn next_search(
        &self,
        next: &mut usize,
        found: &mpsc::UnboundedSender<Mined>,
    ) -> Option<impl FnOnce() + Send + 'static> {
        for _ in 0..self.conns.len() {
            let i = *next;
            *next = (*next + 1) % self.conns.len();
            let mut s = self.conns[i].state();
            let (Some(en1), Some(job), false) = (s.extranonce1.clone(), s.job.clone(), s.closed)
            else {
                continue;
            };
            let en2 = extranonce2(s.extranonce2, s.extranonce2_size);
            s.extranonce2 += 1;
            drop(s);
            let (found, stats, user) = (found.clone(), Arc::clone(&self.stats), self.user.clone());
            return Some(move || {
                let Some(work) = work_for(&job, &en1, &en2) else {
                    return;
                };
                let result = work.search(0..=u32::MAX);
                let mut stats = stats.lock().unwrap_or_else(|e| e.into_inner());
                stats.hashes += result.map_or(1 << 32, |f| f.hashes);
                drop(stats);
                if let Some(f) = result {
                    let _ = found.send(Mined {
                        conn: i,
                        submit: work.submit(&user, &f),
                    });
                }
            });
        }
        None
    }

    /// Writes a found share's submit, noting when.
    async fn submit(&self, mined: Mined) {
        let conn = &self.conns[mined.conn];
        let mut writer = conn.writer.lock().await;
        let id = {
            let mut s = conn.state();
            if s.closed {
                return;
            }
            let id = s.next_id;
            s.next_id += 1;
            s.pending.insert(id, Instant::now());
            id
        };
        let line = wire::submit_line(id, mined.submit);
        if writer.write_all(line.as_bytes()).await.is_ok() {
            self.stats().submitted += 1;
        } else {
            conn.state().pending.remove(&id);
        }
    }
}

/// The work of `job` for this connection, when its line is a notify the stratum crate reads.
fn work_for(job: &Job, extranonce1: &[u8], extranonce2: &[u8]) -> Option<Work> {
    let Ok(Message::Notification(n)) = Message::from_line(&job.line) else {
        return None;
    };
    let Ok(ServerMessage::Notify(notify)) = ServerMessage::from_notification(&n) else {
        return None;
    };
    Work::new(&notify, extranonce1, extranonce2, job.difficulty).ok()
}

/// One connection's reader: jobs, difficulties and answers, until the pool closes it.
async fn read_lines(
    conn: Arc<Conn>,
    read: OwnedReadHalf,
    arrivals: Arrivals,
    stats: Arc<Mutex<HonestStats>>,
) {
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let at = Instant::now();
        if let Some(id) = wire::notify_job_id(&line) {
            arrivals.record(id, at);
            let mut s = conn.state();
            let difficulty = s.next_difficulty;
            s.job = Some(Job { line, difficulty });
            continue;
        }
        match Message::from_line(&line) {
            Ok(Message::Notification(n)) => {
                if let Ok(ServerMessage::SetDifficulty(d)) = ServerMessage::from_notification(&n) {
                    conn.state().next_difficulty = d;
                }
            }
            Ok(Message::Response(r)) => answered(&conn, &r, at, &stats),
            _ => {}
        }
    }
    conn.state().closed = true;
    stats.lock().unwrap_or_else(|e| e.into_inner()).closed += 1;
}

fn answered(conn: &Conn, response: &Response, at: Instant, stats: &Mutex<HonestStats>) {
    let Some(id) = wire::response_id(response) else {
        return;
    };
    let mut stats = stats.lock().unwrap_or_else(|e| e.into_inner());
    match id {
        wire::SUBSCRIBE_ID => {
            if let Ok(sub) = SubscribeResult::from_value(&response.result) {
                let mut s = conn.state();
                s.extranonce1 = Some(sub.extranonce1);
                s.extranonce2_size = sub.extranonce2_size;
            }
        }
        wire::AUTHORIZE_ID => {
            if !matches!(response.bool_result(), Ok(true)) {
                stats.unauthorized += 1;
            }
        }
        _ => {
            let Some(sent) = conn.state().pending.remove(&id) else {
                return;
            };
            let ms = (at - sent).as_secs_f64() * 1e3;
            let outcome = wire::outcome(response);
            if outcome == "accepted" {
                stats.accepted_ms.push(ms);
            } else {
                stats.rejected_ms.push(ms);
            }
            *stats.outcomes.entry(outcome).or_default() += 1;
        }
    }
}
