//! Shared helpers for the in-process server tests: a real [`Pool`] (its node client points
//! at a closed loopback port and its node loop is never started), the real stratum server on
//! `127.0.0.1:0`, hand-built jobs, and a line-based test client that can bind to any
//! loopback source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::{Address, BlockHash, Network, ScriptBuf, WPubkeyHash};
use miner::{Engine, ShareTarget};
use proxy::budget::CoinbaseBudget;
use proxy::coinbase::{CoinbaseConfig, CoinbaseParts};
use proxy::downstream::{self, ServerConfig};
use proxy::jobs::Job;
use proxy::journal::Journal;
use proxy::payouts::{PayoutConfig, PplnsWindow};
use proxy::pool::{Pool, PoolConfig};
use proxy::upstream::{Auth, BlockTemplate, NodeClient};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a test waits for any single answer.
pub const WAIT: Duration = Duration::from_secs(10);

/// A regtest P2WPKH address from a fixed key hash: a valid worker name.
pub fn regtest_address(tag: u8) -> String {
    let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([tag; 20]));
    Address::from_script(&script, Network::Regtest)
        .expect("p2wpkh has an address")
        .to_string()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A pool on regtest whose node is unreachable; the node loop is not started.
pub fn test_pool(dir: &std::path::Path) -> Arc<Pool> {
    let node = NodeClient::new(
        format!("http://127.0.0.1:{}", closed_port()),
        Auth::UserPass {
            user: "u".into(),
            password: "p".into(),
        },
    )
    .unwrap()
    .with_timeouts(Duration::from_millis(200), Duration::from_millis(200));
    let (journal, recovered) = Journal::open(&dir.join("journal.jsonl")).unwrap();
    let fallback = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([0xfa; 20]));
    let config = PoolConfig {
        network: Network::Regtest,
        coinbase: CoinbaseConfig::default(),
        payouts: PayoutConfig::new(fallback),
        poll_interval: Duration::from_secs(5),
        refresh_interval: Duration::from_secs(30),
        crash_after_journal: false,
        max_notify_line: stratum::DEFAULT_MAX_LINE_LEN,
        inconclusive_checks: proxy::pool::DEFAULT_INCONCLUSIVE_CHECKS,
        inconclusive_interval: proxy::pool::DEFAULT_INCONCLUSIVE_INTERVAL,
    };
    Pool::new(config, node, journal, &recovered)
}

/// A template with no transactions and a mainnet-like block target, so test shares at a tiny
/// difficulty are never blocks. `prev` picks the previous block hash.
pub fn template(prev: u8) -> BlockTemplate {
    serde_json::from_value(json!({
        "version": 0x2000_0000,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": BlockHash::from_byte_array([prev; 32]).to_string(),
        "transactions": [],
        "coinbasevalue": 5_000_000_000u64,
        "longpollid": "x",
        "target": "00000000ffff0000000000000000000000000000000000000000000000000000",
        "mintime": 1_700_000_000,
        "curtime": 1_700_000_600,
        "bits": "1d00ffff",
        "height": 1000,
    }))
    .unwrap()
}

/// Builds a job from [`template`]`(prev)`, adds it to the pool's book and broadcasts it.
pub fn push_job(pool: &Pool, prev: u8) -> Arc<Job> {
    let t = Arc::new(template(prev));
    let payouts = &pool.config.payouts;
    let budget =
        CoinbaseBudget::new(&t, &pool.config.coinbase, pool.config.max_notify_line).unwrap();
    let outputs = PplnsWindow::from_config(payouts)
        .outputs(t.coinbasevalue, payouts, &budget)
        .unwrap();
    push_job_with_outputs(pool, t, outputs)
}

/// Builds a job from `t` whose coinbase pays `outputs`, adds it to the pool's book and
/// broadcasts it.
pub fn push_job_with_outputs(
    pool: &Pool,
    t: Arc<BlockTemplate>,
    outputs: Vec<bitcoin::TxOut>,
) -> Arc<Job> {
    let coinbase = CoinbaseParts::build(
        &pool.config.coinbase,
        t.height,
        t.coinbasevalue,
        outputs,
        None,
    )
    .unwrap();
    let job = pool.jobs.lock().unwrap().push(t, coinbase);
    let _ = pool.jobs_tx.send(Arc::clone(&job));
    job
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub pool: Arc<Pool>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), proxy::invalid_config::InvalidConfig>>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    pub async fn start(config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pool = test_pool(dir.path());
        Self::start_with(pool, config, Some(dir)).await
    }

    /// Serves `pool` (whose journal is wherever the caller put it).
    pub async fn start_with(
        pool: Arc<Pool>,
        config: ServerConfig,
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(downstream::serve(
            listener,
            Arc::clone(&pool),
            config,
            stopped,
        ));
        Self {
            addr,
            pool,
            stop,
            task,
            _dir: dir,
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr, None).await
    }

    /// A client whose connection comes from `127.0.0.<last>`.
    pub async fn client_from(&self, last: u8) -> Client {
        Client::connect(self.addr, Some(Ipv4Addr::new(127, 0, 0, last))).await
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(WAIT, self.task).await;
    }
}

/// A raw line-based stratum client.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// Notifications seen while waiting for responses.
    pub notifications: Vec<Value>,
}

impl Client {
    pub async fn connect(server: SocketAddr, source: Option<Ipv4Addr>) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(IpAddr::V4(ip), 0)).unwrap();
        }
        let stream = tokio::time::timeout(WAIT, socket.connect(server))
            .await
            .expect("connect in time")
            .expect("connect");
        let (r, w) = stream.into_split();
        Self {
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
            notifications: Vec::new(),
        }
    }

    /// Writes raw bytes; errors (the server closed the connection) are returned.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// The next line as JSON, `None` on EOF or a reset; panics after [`WAIT`].
    pub async fn next_line(&mut self) -> Option<Value> {
        self.next_line_within(WAIT)
            .await
            .expect("an answer or a close in time")
    }

    /// `Err` when nothing arrived within `limit`; `Ok(None)` on EOF or reset.
    pub async fn next_line_within(&mut self, limit: Duration) -> Result<Option<Value>, ()> {
        let mut line = String::new();
        match tokio::time::timeout(limit, self.reader.read_line(&mut line)).await {
            Err(_) => Err(()),
            Ok(Ok(0)) | Ok(Err(_)) => Ok(None),
            Ok(Ok(_)) => Ok(Some(
                serde_json::from_str(&line).expect("the server sends JSON lines"),
            )),
        }
    }

    /// Whether the server closed the connection within `limit` (reading and discarding).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_line_within(left).await {
                Ok(None) => return true,
                Ok(Some(_)) => continue,
                Err(()) => return false,
            }
        }
    }

    /// Sends a request and waits for its response (notifications are kept aside);
    /// `None` if the connection closed first.
    pub async fn call(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.send_raw(line.as_bytes()).await.ok()?;
        self.response(id).await
    }

    /// Waits for the response with `id`.
    pub async fn response(&mut self, id: u64) -> Option<Value> {
        loop {
            let msg = self.next_line().await?;
            if msg.get("method").is_some() {
                self.notifications.push(msg);
            } else if msg["id"] == json!(id) {
                return Some(msg);
            }
        }
    }

    /// Waits for a notification `method` (possibly already received); returns its params.
    pub async fn notification(&mut self, method: &str) -> Value {
        loop {
            if let Some(i) = self
                .notifications
                .iter()
                .position(|n| n["method"] == method)
            {
                return self.notifications.remove(i)["params"].clone();
            }
            let msg = self.next_line().await.expect("connection open");
            if msg.get("method").is_some() {
                self.notifications.push(msg);
            }
        }
    }

    /// `mining.subscribe`; returns extranonce1.
    pub async fn subscribe(&mut self) -> Vec<u8> {
        let r = self
            .call("mining.subscribe", json!(["test/1.0"]))
            .await
            .expect("subscribe answered");
        assert!(r["error"].is_null(), "subscribe failed: {r}");
        hex::decode(r["result"][1].as_str().unwrap()).unwrap()
    }
}

impl Client {
    /// `mining.subscribe`, `mining.suggest_difficulty` of `difficulty`, then `mining.authorize`
    /// of `worker` (asserted to succeed); returns extranonce1.
    pub async fn handshake(&mut self, worker: &str, difficulty: f64) -> Vec<u8> {
        let en1 = self.subscribe().await;
        self.call("mining.suggest_difficulty", json!([difficulty]))
            .await
            .expect("suggest_difficulty answered");
        let r = self
            .call("mining.authorize", json!([worker, "x"]))
            .await
            .expect("authorize answered");
        assert_eq!(r["result"], json!(true), "{r}");
        en1
    }
}

/// The stratum error code of a response (`None` for a success).
pub fn error_code(response: &Value) -> Option<i64> {
    match &response["error"] {
        Value::Null => None,
        Value::Array(a) => a.first().and_then(Value::as_i64),
        Value::Object(o) => o.get("code").and_then(Value::as_i64),
        other => panic!("unexpected error shape {other}"),
    }
}

/// A nonce whose header (job version, given extranonces and ntime) meets `target`, or, with
/// `meets = false`, one that does not.
pub fn find_nonce(
    job: &Job,
    extranonce1: &[u8],
    extranonce2: &[u8],
    ntime: u32,
    target: ShareTarget,
    meets: bool,
) -> u32 {
    let header = job.header(extranonce1, extranonce2, job.version(), ntime, 0);
    let mut bytes: [u8; 80] = bitcoin::consensus::encode::serialize(&header)
        .try_into()
        .unwrap();
    if meets {
        let mj = miner::Job::new(bytes, target);
        (0..4096u64)
            .find_map(|i| {
                Engine::Portable
                    .scan(&mj, i << 16..(i + 1) << 16)
                    .first()
                    .map(|h| h.nonce)
            })
            .expect("a hit within 2^28 nonces")
    } else {
        (0u32..)
            .find(|nonce| {
                bytes[76..].copy_from_slice(&nonce.to_le_bytes());
                let hash = bitcoin::hashes::sha256d::Hash::hash(&bytes);
                !target.is_met_by(hash.as_byte_array())
            })
            .unwrap()
    }
}

/// The JSON params of a `mining.submit`.
pub fn submit_params(
    worker: &str,
    job_id: &str,
    extranonce2: &[u8],
    ntime: u32,
    nonce: u32,
) -> Value {
    json!([
        worker,
        job_id,
        hex::encode(extranonce2),
        format!("{ntime:08x}"),
        format!("{nonce:08x}"),
    ])
}
