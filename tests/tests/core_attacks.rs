//! Attacks on the pool's payouts, against Bitcoin Core on a custom signet (challenge `51`),
//! where a share is not a block: on regtest every minimum-difficulty share is also a block,
//! which hides what these check.
//!
//! * One share is credited once: jobs republished on one tip have byte-identical coinbases, so
//!   the same header is a share for every live job; sent to each, it is accepted once.
//! * A share is judged at the difficulty of its job: `mining.set_difficulty` applies to the
//!   next job, so a share for the job before it is held to (and credited at) the older one.
//! * A connection flooding minimum-difficulty shares for the whole test (it asks for the regtest
//!   difficulty and gets the signet floor) beside two honest miners is paid at most its work's
//!   fraction: the PPLNS window is measured in work, and the per-connection share rate limit
//!   refuses what it sends beyond `--max-share-rate`. By count it would have been paid nearly
//!   everything.
//!
//! The attacker is this test's own stratum client ([`Client`]), mining with the `miner`
//! crate's engines; it can send whatever a miner can.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, ScriptBuf, Target};
use miner::{Engine, ShareTarget};
use proxy::payouts::PayoutConfig;
use proxy::vardiff::REGTEST_DIFFICULTY;
use proxy::vardiff::SIGNET_MIN_DIFFICULTY;
use serde_json::{json, Value};
use stratum::{Notify, ServerMessage};
use tests::mining::{checked_payouts, journal_shares, miner, wait_until, Proxy, ProxyOptions};
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
    /// Responses not yet looked at, by id.
    answers: HashMap<u64, Value>,
    /// A line being read.
    line: String,
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
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut c = Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            next_id: 1,
            pending: VecDeque::new(),
            answers: HashMap::new(),
            line: String::new(),
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

    /// The next message, if one arrives within the socket's short read timeout.
    fn try_read(&mut self) -> Option<Value> {
        match self.reader.read_line(&mut self.line) {
            Ok(0) => panic!("the proxy closed the connection"),
            Ok(_) if self.line.ends_with('\n') => {
                let msg = serde_json::from_str(&self.line).expect("JSON from the proxy");
                self.line.clear();
                Some(msg)
            }
            Ok(_) => None,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) => panic!("reading from the proxy: {e}"),
        }
    }

    /// Reads one message, if any is waiting, into `pending` or `answers`; whether it did.
    fn pump(&mut self) -> bool {
        let Some(msg) = self.try_read() else {
            return false;
        };
        if msg.get("method").is_some() {
            self.pending.push_back(msg);
        } else if let Some(id) = msg["id"].as_u64() {
            self.answers.insert(id, msg);
        }
        true
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
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(msg) = self.answers.remove(&id) {
                return msg;
            }
            assert!(Instant::now() < deadline, "no answer to request {id}");
            self.pump();
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
        let deadline = Instant::now() + WAIT;
        self.absorb();
        while self.jobs.len() < n {
            assert!(Instant::now() < deadline, "no job in time");
            self.pump();
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

/// What a flooding client did.
#[derive(Debug, Default)]
struct Flood {
    /// Hashes computed.
    hashes: u64,
    /// Shares sent.
    submitted: u64,
    /// The proxy's answers: `accepted`, or the error code.
    answers: BTreeMap<String, u64>,
}

impl Client {
    /// Mines shares at the newest job's difficulty and sends every one without waiting for
    /// the answers, until `stop`; suggests `suggest` every 2 s (vardiff raises it again within
    /// a few dozen shares).
    fn flood(mut self, stop: &AtomicBool, suggest: f64) -> Flood {
        let mut flood = Flood::default();
        let engine = Engine::best();
        let mut submits = std::collections::HashSet::new();
        let mut extranonce2 = 0x8000_0000u32;
        let mut suggested = Instant::now();
        const CHUNK: u64 = 1 << 18;
        while !stop.load(Ordering::Relaxed) {
            if suggested.elapsed() >= Duration::from_secs(2) {
                self.send("mining.suggest_difficulty", json!([suggest]));
                suggested = Instant::now();
            }
            while self.pump() {}
            self.absorb();
            let job = self.jobs.last().cloned().expect("a job");
            extranonce2 += 1;
            let en2 = extranonce2.to_be_bytes();
            let n = &job.notify;
            let root = n.merkle_root(&n.coinbase(&self.extranonce1, &en2));
            let header = n.header(root, n.version, n.ntime, 0);
            let bytes: [u8; 80] = bitcoin::consensus::encode::serialize(&header)
                .try_into()
                .unwrap();
            let target = ShareTarget::from_difficulty(job.difficulty).unwrap();
            let hits = engine.scan(&miner::Job::new(bytes, target), 0..CHUNK);
            flood.hashes += CHUNK;
            for hit in hits {
                let params = json!([
                    self.worker,
                    n.job_id,
                    hex::encode(en2),
                    format!("{:08x}", n.ntime),
                    format!("{:08x}", hit.nonce),
                ]);
                submits.insert(self.send("mining.submit", params));
                flood.submitted += 1;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while submits.iter().any(|id| !self.answers.contains_key(id)) && Instant::now() < deadline {
            self.pump();
        }
        for id in submits {
            let key = match self.answers.get(&id) {
                None => "unanswered".to_owned(),
                Some(a) if a["result"] == true => "accepted".to_owned(),
                Some(a) => format!("error {}", error_code(a).unwrap_or(0)),
            };
            *flood.answers.entry(key).or_default() += 1;
        }
        flood
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
    assert!(late.difficulty < 4.0 * d0, "{late:?}");
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

#[test]
fn a_connection_flooding_minimum_difficulty_shares_earns_only_its_work() {
    let node = Node::start(Chain::Signet).expect("a custom signet node");
    let info = node.cli_json(&["getblockchaininfo"]).unwrap();
    let network_difficulty = info["difficulty"].as_f64().unwrap();
    let wallet = TestWallet::new(node.network(), "flood");
    let fallback = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let alice = wallet.address(AddressKind::P2tr, 1).to_string();
    let bob = wallet.address(AddressKind::P2shP2wpkh, 2).to_string();
    let mallory = wallet.address(AddressKind::P2wpkh, 3).to_string();
    let mallory_script = wallet.script(AddressKind::P2wpkh, 3);
    let dir = tempfile::tempdir().unwrap();
    let mut options = ProxyOptions::new(&fallback, dir.path());
    options.difficulty = network_difficulty / 20.0;
    // Honest miners aim at a share a second; a connection may have 5 a second accepted.
    options.share_seconds = 1.0;
    options.extra_args = vec!["--max-share-rate".into(), "5".into()];
    options.refresh_seconds = 2.0;
    let journal = options.journal.clone();
    let proxy = Proxy::start(&node, &options);
    let start = node.height().unwrap();

    // The attacker asks for the regtest difficulty and gets the signet floor.
    let mut c = Client::connect(proxy.port, &format!("{mallory}.flood"));
    c.wait_jobs(1);
    let r = c.call("mining.suggest_difficulty", json!([REGTEST_DIFFICULTY]));
    assert_eq!(r["result"], true, "{r}");
    let seen = c.jobs.len();
    c.wait_jobs(seen + 1);
    let floor = c.jobs.last().unwrap().difficulty;
    assert!(
        close(floor, SIGNET_MIN_DIFFICULTY),
        "suggested down to {floor}"
    );

    // It floods for the whole test; two honest miners mine beside it.
    let stop = Arc::new(AtomicBool::new(false));
    let flooding = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || c.flood(&stop, REGTEST_DIFFICULTY))
    };
    let a = miner(&proxy.url(), &format!("{alice}.a"));
    let b = miner(&proxy.url(), &format!("{bob}.b"));
    let flood_start = Instant::now();
    wait_until("6 signet blocks and 45 s", Duration::from_secs(300), || {
        node.height().unwrap() >= start + 6 && flood_start.elapsed() >= Duration::from_secs(45)
    });
    let tip = node.height().unwrap();
    stop.store(true, Ordering::Relaxed);
    let flood = flooding
        .join()
        .expect("the flooding client kept its connection");
    drop((a, b));
    let stats = proxy.stats();
    eprintln!("flood: {flood:?}\nstats: {stats}");
    assert!(
        stats["shares_rejected"]["rate-limited"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the attacker was rate limited: {stats}"
    );
    // Blocks race each other at this difficulty (some end up stale), but none is invalid.
    assert_eq!(stats["blocks_rejected"], json!({}), "{stats}");

    // Every block pays a window by work of the journaled shares ...
    let shares = journal_shares(&journal);
    let config = PayoutConfig::new(wallet.script(AddressKind::P2wpkh, 0));
    let (mut to_mallory, mut paid) = (0u64, 0u64);
    for h in start + 1..=tip {
        let outs = checked_payouts(&node.block_at(h).unwrap(), h, &shares, &config);
        for o in outs {
            paid += o.value.to_sat();
            if o.script_pubkey == mallory_script {
                to_mallory += o.value.to_sat();
            }
        }
    }
    // ... so the attacker gets at most the fraction its hashes are of all the work done,
    // however many shares it sent.
    let mallory_count = shares.iter().filter(|(s, _)| *s == mallory_script).count();
    let honest_work: f64 = shares
        .iter()
        .filter(|(s, _)| *s != mallory_script)
        .map(|(_, d)| d * 4_294_967_296.0)
        .sum();
    let mallory_hashes = flood.hashes as f64;
    let fair = mallory_hashes / (mallory_hashes + honest_work);
    let got = to_mallory as f64 / paid as f64;
    let by_count = mallory_count as f64 / shares.len() as f64;
    eprintln!(
        "attacker: {mallory_count} of {} shares ({by_count:.3}), {:.3e} hashes, fair {fair:.3}, \
         paid {got:.3} over {} blocks",
        shares.len(),
        mallory_hashes,
        tip - start
    );
    assert!(paid > 0);
    assert!(
        got <= fair * 1.25 + 0.05,
        "the attacker got {got:.3} of the payouts for {fair:.3} of the work"
    );
}
