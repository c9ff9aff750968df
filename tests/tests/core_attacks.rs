//! Attacks on the pool's payouts, against Bitcoin Core on a custom signet (challenge `51`),
//! where a share is not a block: on regtest every minimum-difficulty share is also a block,
//! which hides what these check.
//!
//! * One share is credited once: jobs republished on one tip have byte-identical coinbases, so
//!   the same header is a share for every live job; sent to each, it is accepted once.
//! * A share is judged at the difficulty of its job: `mining.set_difficulty` applies to the
//!   next job, so a share for the job before it is held to (and credited at) the older one.
//!
//! The attacker is this test's own stratum client ([`Client`]), mining with the `miner`
//! crate's engines; it can send whatever a miner can.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, ScriptBuf, Target};
use miner::{Engine, ShareTarget};
use proxy::vardiff::SIGNET_MIN_DIFFICULTY;
use serde_json::{json, Value};
use stratum::{Notify, ServerMessage};
use tests::mining::{journal_shares, Proxy, ProxyOptions};
use tests::node::{Chain, Node};
use tests::wallet::{AddressKind, TestWallet};

/// How long any one answer may take.
const WAIT: Duration = Duration::from_secs(30);

/// A job as the client got it: the notify and the difficulty announced before it.
#[derive(Debug, Clone)]
struct Job {
    notify: Notify,
    difficulty: f64,
}

impl Job {
    /// Everything a share's header depends on besides the miner's own fields.
    fn work(&self) -> impl PartialEq + std::fmt::Debug {
        let n = &self.notify;
        (
            n.prevhash,
            n.coinb1.clone(),
            n.coinb2.clone(),
            n.merkle_branch.clone(),
            n.version,
            n.nbits,
        )
    }

    fn network_difficulty(&self) -> f64 {
        Target::from_compact(self.notify.nbits).difficulty_float()
    }
}

/// A share found for a job.
#[derive(Debug, Clone, Copy)]
struct Found {
    extranonce2: [u8; 4],
    ntime: u32,
    nonce: u32,
    difficulty: f64,
}

/// A blocking line-based stratum client.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
    /// Notifications not yet looked at.
    pending: VecDeque<Value>,
    extranonce1: Vec<u8>,
    difficulty: f64,
    /// Every job received, oldest first.
    jobs: Vec<Job>,
    worker: String,
}

impl Client {
    /// Connects, subscribes and authorizes `worker`.
    fn connect(port: u16, worker: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the proxy");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut c = Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            next_id: 1,
            pending: VecDeque::new(),
            extranonce1: Vec::new(),
            difficulty: f64::NAN,
            jobs: Vec::new(),
            worker: worker.to_owned(),
        };
        let sub = c.call("mining.subscribe", json!(["attacker/1.0"]));
        c.extranonce1 = hex::decode(sub["result"][1].as_str().expect("extranonce1")).unwrap();
        assert_eq!(sub["result"][2], 4, "extranonce2 size");
        let auth = c.call("mining.authorize", json!([worker, "x"]));
        assert_eq!(auth["result"], true, "{auth}");
        c
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("a line from the proxy");
        assert!(n > 0, "the proxy closed the connection");
        serde_json::from_str(&line).expect("JSON from the proxy")
    }

    /// Sends a request; returns its id.
    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.writer.write_all(line.as_bytes()).unwrap();
        id
    }

    /// The response to `id` (notifications are queued).
    fn response(&mut self, id: u64) -> Value {
        loop {
            let msg = self.read();
            if msg.get("method").is_some() {
                self.pending.push_back(msg);
            } else if msg["id"] == json!(id) {
                return msg;
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        self.response(id)
    }

    /// Takes the notifications received so far into `jobs` and `difficulty`.
    fn absorb(&mut self) {
        while let Some(msg) = self.pending.pop_front() {
            let params = msg["params"].as_array().cloned().unwrap_or_default();
            match ServerMessage::parse(msg["method"].as_str().unwrap_or(""), &params) {
                Ok(ServerMessage::SetDifficulty(d)) => self.difficulty = d,
                Ok(ServerMessage::Notify(notify)) => self.jobs.push(Job {
                    notify,
                    difficulty: self.difficulty,
                }),
                _ => {}
            }
        }
    }

    /// Waits until `n` jobs were received in all.
    fn wait_jobs(&mut self, n: usize) {
        self.absorb();
        while self.jobs.len() < n {
            let msg = self.read();
            if msg.get("method").is_some() {
                self.pending.push_back(msg);
            }
            self.absorb();
        }
    }

    /// Mines `job` from nonce 0 with `extranonce2` until a hash whose difficulty satisfies
    /// `keep` (always at least `at_least`), and that is not a block.
    fn mine(
        &self,
        job: &Job,
        extranonce2: [u8; 4],
        at_least: f64,
        keep: impl Fn(f64) -> bool,
    ) -> Found {
        let n = &job.notify;
        let ntime = n.ntime;
        let root = n.merkle_root(&n.coinbase(&self.extranonce1, &extranonce2));
        let header = n.header(root, n.version, ntime, 0);
        let bytes: [u8; 80] = bitcoin::consensus::encode::serialize(&header)
            .try_into()
            .unwrap();
        let target = ShareTarget::from_difficulty(at_least).unwrap();
        let mj = miner::Job::new(bytes, target);
        let block = job.network_difficulty();
        let engine = Engine::best();
        (0..1u64 << 16)
            .find_map(|i| {
                engine
                    .scan(&mj, i << 16..(i + 1) << 16)
                    .into_iter()
                    .map(|h| (h.nonce, hash_difficulty(&h.hash)))
                    .find(|(_, d)| *d >= at_least && *d < block && keep(*d))
            })
            .map(|(nonce, difficulty)| Found {
                extranonce2,
                ntime,
                nonce,
                difficulty,
            })
            .expect("a share within 2^32 nonces")
    }

    /// Submits `found` for `job_id`; returns the response.
    fn submit(&mut self, job_id: &str, found: &Found) -> Value {
        let params = json!([
            self.worker,
            job_id,
            hex::encode(found.extranonce2),
            format!("{:08x}", found.ntime),
            format!("{:08x}", found.nonce),
        ]);
        self.call("mining.submit", params)
    }
}

fn hash_difficulty(hash: &[u8; 32]) -> f64 {
    proxy::shares::hash_difficulty(&BlockHash::from_byte_array(*hash))
}

fn error_code(response: &Value) -> Option<i64> {
    response["error"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_i64)
}

fn accepted(proxy: &Proxy) -> u64 {
    proxy.stats()["shares_accepted"].as_u64().unwrap_or(0)
}

/// The journaled credits of `script`.
fn credits(journal: &std::path::Path, script: &ScriptBuf) -> Vec<f64> {
    journal_shares(journal)
        .into_iter()
        .filter(|(s, _)| s == script)
        .map(|(_, d)| d)
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a / b - 1.0).abs() < 1e-6
}

#[test]
fn one_share_is_credited_once_and_at_its_jobs_difficulty() {
    let node = Node::start(Chain::Signet).expect("a custom signet node");
    let wallet = TestWallet::new(node.network(), "attacks");
    let fallback = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let mallory = wallet.address(AddressKind::P2wpkh, 1).to_string();
    let mallory_script = wallet.script(AddressKind::P2wpkh, 1);
    let dir = tempfile::tempdir().unwrap();
    let mut options = ProxyOptions::new(&fallback, dir.path());
    options.difficulty = SIGNET_MIN_DIFFICULTY;
    // A job republished every second: many live jobs on one tip.
    options.refresh_seconds = 1.0;
    let journal = options.journal.clone();
    let proxy = Proxy::start(&node, &options);
    let mut c = Client::connect(proxy.port, &format!("{mallory}.flood"));
    c.wait_jobs(1);
    let d0 = c.jobs[0].difficulty;
    assert!(close(d0, SIGNET_MIN_DIFFICULTY), "{d0}");

    // A first share puts the client alone in the window: jobs after it pay it everything,
    // with byte-identical coinbases.
    let first = c.jobs[0].clone();
    let found = c.mine(&first, [0, 0, 0, 0], d0, |_| true);
    let r = c.submit(&first.notify.job_id, &found);
    assert_eq!(r["result"], true, "{r}");
    let seen = c.jobs.len();
    c.wait_jobs(seen + 4);
    let newest = c.jobs.last().unwrap().clone();
    let twins: Vec<Job> = c.jobs[seen..]
        .iter()
        .filter(|j| j.work() == newest.work())
        .cloned()
        .collect();
    assert!(twins.len() >= 3, "republished jobs with the same coinbase");
    let before = accepted(&proxy);
    let share = c.mine(&newest, [0, 0, 0, 1], d0, |_| true);
    let answers: Vec<Value> = twins
        .iter()
        .map(|j| c.submit(&j.notify.job_id, &share))
        .collect();
    eprintln!("one share to {} jobs: {answers:?}", twins.len());
    assert_eq!(answers[0]["result"], true, "{answers:?}");
    for a in &answers[1..] {
        assert_eq!(error_code(a), Some(22), "a duplicate: {answers:?}");
    }
    assert_eq!(accepted(&proxy), before + 1, "credited once");
    assert_eq!(
        credits(&journal, &mallory_script).len(),
        2,
        "journaled once"
    );

    // The difficulty rises four-fold for the next job; a share for the job before it, found
    // at the old difficulty, is accepted and credited at the old one.
    let older = c.jobs.last().unwrap().clone();
    let r = c.call("mining.suggest_difficulty", json!([4.0 * d0]));
    assert_eq!(r["result"], true, "{r}");
    let seen = c.jobs.len();
    c.wait_jobs(seen + 1);
    let raised = c.jobs[seen].clone();
    assert!(close(raised.difficulty, 4.0 * d0), "{}", raised.difficulty);
    let easy = |d: f64| d < 4.0 * d0;
    let late = c.mine(&older, [0, 0, 0, 2], d0, easy);
    let r = c.submit(&older.notify.job_id, &late);
    assert_eq!(
        r["result"], true,
        "an in-flight share for the older job: {r}"
    );
    // The same level of work for the new job is too low ...
    let low = c.mine(&raised, [0, 0, 0, 3], d0, easy);
    let r = c.submit(&raised.notify.job_id, &low);
    assert_eq!(error_code(&r), Some(23), "{r}");
    // ... and a share that meets it is credited at it.
    let hard = c.mine(&raised, [0, 0, 0, 4], 4.0 * d0, |_| true);
    let r = c.submit(&raised.notify.job_id, &hard);
    assert_eq!(r["result"], true, "{r}");
    let credited = credits(&journal, &mallory_script);
    assert_eq!(credited.len(), 4, "{credited:?}");
    assert!(close(credited[2], d0), "{credited:?}");
    assert!(close(credited[3], 4.0 * d0), "{credited:?}");
}
