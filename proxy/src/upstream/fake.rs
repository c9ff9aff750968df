//! A fake JSON-RPC node for unit tests: raw HTTP/1.1 over tokio TCP (keep-alive), answering
//! `getblocktemplate` (plain and longpoll), `submitblock` and `getblockheader` from scripted
//! state, and recording what Bitcoin Core's RPC threads would see: concurrent connections and
//! the longpolls it holds. Like Core, a longpoll is held until the tip changes, whether or not
//! its client is still there.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// `{"result": value, "error": null}`.
    Result(Value),
    /// An RPC error.
    Error(i64, String),
    /// Close the connection without answering (a transport error for the client).
    Drop,
}

/// A gauge that remembers its maximum.
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn up(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }
    fn down(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    pub(crate) fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }
    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// What the node saw and will answer.
#[derive(Debug)]
pub(crate) struct FakeState {
    tip: watch::Sender<u8>,
    /// Open TCP connections.
    pub connections: Gauge,
    /// Longpolls the node holds (a "thread" each, until the tip changes).
    pub longpolls_held: Gauge,
    /// Longpoll requests received.
    pub longpolls: AtomicUsize,
    /// Plain `getblocktemplate` requests received.
    pub templates: AtomicUsize,
    /// `submitblock` requests received.
    pub submits: AtomicUsize,
    /// Answers to the next `submitblock`s (then `null`).
    pub submit_answers: Mutex<VecDeque<Answer>>,
    /// Answers to the next `getblockheader`s (then confirmations 1).
    pub header_answers: Mutex<VecDeque<Answer>>,
    /// The `rules` of the last `getblocktemplate`.
    pub last_rules: Mutex<Value>,
}

/// A running fake node.
pub(crate) struct FakeNode {
    pub url: String,
    pub state: Arc<FakeState>,
}

/// The template the fake node serves on `tip`.
pub(crate) fn template_json(tip: u8) -> Value {
    json!({
        "version": 0x2000_0000,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": hex::encode([tip; 32]),
        "transactions": [],
        "coinbasevalue": 5_000_000_000u64,
        "longpollid": format!("{tip:02x}"),
        "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
        "mintime": 1_700_000_000,
        "curtime": 1_700_000_600,
        "bits": "207fffff",
        "height": 100 + u32::from(tip),
    })
}

impl FakeNode {
    /// Starts a fake node on a loopback port, with tip `1`.
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let state = Arc::new(FakeState {
            tip: watch::channel(1).0,
            connections: Gauge::default(),
            longpolls_held: Gauge::default(),
            longpolls: AtomicUsize::new(0),
            templates: AtomicUsize::new(0),
            submits: AtomicUsize::new(0),
            submit_answers: Mutex::new(VecDeque::new()),
            header_answers: Mutex::new(VecDeque::new()),
            last_rules: Mutex::new(Value::Null),
        });
        let s = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    s.connections.up();
                    let _ = serve(stream, &s).await;
                    s.connections.down();
                });
            }
        });
        Self { url, state }
    }

    /// Moves the tip: held longpolls return.
    pub(crate) fn set_tip(&self, tip: u8) {
        self.state.tip.send_replace(tip);
    }
}

async fn serve(mut stream: TcpStream, state: &Arc<FakeState>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // Headers.
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Value = serde_json::from_slice(&buf[end..end + length]).unwrap_or(Value::Null);
        buf.drain(..end + length);
        let id = body["id"].clone();
        let answer = answer(state, &body).await;
        let reply = match answer {
            Answer::Result(result) => json!({"result": result, "error": null, "id": id}),
            Answer::Error(code, message) => {
                json!({"result": null, "error": {"code": code, "message": message}, "id": id})
            }
            Answer::Drop => return Ok(()),
        };
        let text = reply.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}

async fn answer(state: &Arc<FakeState>, body: &Value) -> Answer {
    let params = &body["params"];
    match body["method"].as_str().unwrap_or_default() {
        "getblocktemplate" => {
            *state.last_rules.lock().unwrap() = params[0]["rules"].clone();
            if params[0].get("longpollid").is_none() {
                state.templates.fetch_add(1, Ordering::SeqCst);
                return Answer::Result(template_json(*state.tip.borrow()));
            }
            state.longpolls.fetch_add(1, Ordering::SeqCst);
            let mut tip = state.tip.subscribe();
            let current = *tip.borrow_and_update();
            if params[0]["longpollid"] != format!("{current:02x}") {
                // Core answers at once when the tip already moved past the longpollid.
                return Answer::Result(template_json(current));
            }
            // Core's RPC thread: held until the tip changes, even when the client leaves.
            let s = Arc::clone(state);
            s.longpolls_held.up();
            let held = tokio::spawn(async move {
                let _ = tip.changed().await;
                s.longpolls_held.down();
                let t = *tip.borrow();
                template_json(t)
            });
            Answer::Result(held.await.unwrap())
        }
        "submitblock" => {
            state.submits.fetch_add(1, Ordering::SeqCst);
            let next = state.submit_answers.lock().unwrap().pop_front();
            next.unwrap_or(Answer::Result(Value::Null))
        }
        "getblockheader" => {
            let next = state.header_answers.lock().unwrap().pop_front();
            next.unwrap_or(Answer::Result(json!({"confirmations": 1})))
        }
        other => Answer::Error(-32601, format!("Method not found: {other}")),
    }
}
