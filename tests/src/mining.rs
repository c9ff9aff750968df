//! The pool and its miners as processes, for tests against a [`Node`]: a `proxy` with the
//! settings a test picks ([`ProxyOptions`]), `miner run` processes, and the proxy's
//! `/api/stats` and journal as a test reads them, and the check that a block's coinbase pays
//! exactly what some window of the journaled shares says (a window by work, as the proxy's). Every process is killed on drop, so a
//! failing test leaves none behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bitcoin::{Amount, Block, ScriptBuf, TxOut};
use proxy::budget::CoinbaseBudget;
use proxy::payouts::{PayoutConfig, PplnsWindow};

use crate::bins::workspace_bin;
use crate::node::{free_ports, Node};
use crate::stack::{http_get_json, wait_listening};

/// A child process killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a test's proxy runs.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Paid while the PPLNS window is empty.
    pub fallback: String,
    /// The journal file.
    pub journal: PathBuf,
    /// `--difficulty`: the starting share difficulty.
    pub difficulty: f64,
    /// `--share-seconds`: vardiff's aim.
    pub share_seconds: f64,
    /// `--refresh-seconds`.
    pub refresh_seconds: f64,
    /// Hang after journaling a found block (the kill -9 test).
    pub crash_after_journal: bool,
    /// More flags.
    pub extra_args: Vec<String>,
    /// `RUST_LOG`.
    pub log: String,
}

impl ProxyOptions {
    /// Defaults for tests: fast shares, a journal in `dir`.
    pub fn new(fallback: &str, dir: &Path) -> Self {
        Self {
            fallback: fallback.to_owned(),
            journal: dir.join("journal"),
            difficulty: 0.0005,
            share_seconds: 0.5,
            refresh_seconds: 30.0,
            crash_after_journal: false,
            extra_args: Vec::new(),
            log: "info".into(),
        }
    }
}

/// A running `proxy`.
#[derive(Debug)]
pub struct Proxy {
    /// The process.
    pub process: KillOnDrop,
    /// Its stratum port on 127.0.0.1.
    pub port: u16,
    /// Its `/api/stats` port on 127.0.0.1.
    pub http_port: u16,
}

impl Proxy {
    /// Starts a proxy for `node` (credentials from its `rpcauth` user, in the environment) and
    /// waits until it listens.
    pub fn start(node: &Node, options: &ProxyOptions) -> Self {
        Self::start_on(node, options, free_ports(1).expect("a free port")[0])
    }

    /// [`Self::start`] on a given stratum port (a restarted proxy keeps its miners).
    pub fn start_on(node: &Node, options: &ProxyOptions, port: u16) -> Self {
        let http_port = free_ports(1).expect("a free port")[0];
        let mut cmd = Command::new(workspace_bin("proxy"));
        cmd.args(["--node-url", &node.rpc_url()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .args(["--fallback-address", &options.fallback])
            .args(["--difficulty", &options.difficulty.to_string()])
            .args(["--share-secs", &options.share_seconds.to_string()])
            .args(["--refresh-secs", &options.refresh_seconds.to_string()])
            .arg("--journal")
            .arg(&options.journal)
            .args(&options.extra_args)
            .env("PROXY_RPC_USER", node.rpc_user())
            .env("PROXY_RPC_PASSWORD", node.rpc_password())
            .env("RUST_LOG", &options.log)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if options.crash_after_journal {
            cmd.env("PROXY_FAULT_CRASH_AFTER_JOURNAL", "true");
        }
        let process = KillOnDrop(cmd.spawn().expect("start proxy"));
        let mut proxy = Self {
            process,
            port,
            http_port,
        };
        // The proxy asks the node for its chain before listening; a proxy that exits (a flag
        // error, a crash) fails here at once rather than after the whole wait.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while wait_listening(http_port, Duration::from_millis(200)).is_err() {
            if let Some(status) = proxy.process.0.try_wait().expect("poll the proxy") {
                panic!("the proxy exited before listening: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "proxy not listening after 60 s"
            );
        }
        proxy
    }

    /// `/api/stats`.
    pub fn stats(&self) -> serde_json::Value {
        http_get_json(self.http_port, "/api/stats").unwrap_or_default()
    }

    /// `stratum+tcp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("stratum+tcp://127.0.0.1:{}", self.port)
    }
}

/// A `miner run` process with one thread mining for `user` at `pool` (a stratum URL). It
/// suggests no difficulty (`--suggest-difficulty off`), so the tests see the proxy's own
/// vardiff: with `auto`, a fast miner on signet asks for the network difficulty and its
/// shares are its blocks.
pub fn miner(pool: &str, user: &str) -> KillOnDrop {
    KillOnDrop(
        Command::new(workspace_bin("miner"))
            .args(["run", "--pool", pool, "--suggest-difficulty", "off"])
            .args(["--user", user, "--threads", "1", "--status-secs", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start miner"),
    )
}

/// Polls `ok` every 250 ms until it holds, panicking after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every `proxy-journal.jsonl` under `dir` (on the proxies' volumes), not
/// following the links sandboxes have to the volumes.
pub fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path);
            } else if path.file_name().is_some_and(|n| n == "proxy-journal.jsonl") {
                found.push(path);
            }
        }
    }
    found
}

/// The journal's lines, parsed (a torn last line is skipped).
pub fn journal_entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The journal's accepted shares, oldest first: `(payout script, difficulty)`.
pub fn journal_shares(path: &Path) -> Vec<(ScriptBuf, f64)> {
    journal_entries(path)
        .iter()
        .filter(|e| e["type"] == "share")
        .filter_map(|e| {
            let script = hex::decode(e["script"].as_str()?).ok()?;
            Some((ScriptBuf::from_bytes(script), e["difficulty"].as_f64()?))
        })
        .collect()
}

/// The coinbase outputs a block pays, without the witness commitment (`OP_RETURN`).
pub fn payouts(block: &Block) -> Vec<TxOut> {
    block.txdata[0]
        .output
        .iter()
        .filter(|o| !o.script_pubkey.is_op_return())
        .cloned()
        .collect()
}

/// The network difficulty a block was mined at (its header's target).
pub fn block_difficulty(block: &Block) -> f64 {
    block.header.target().difficulty_float()
}

/// Whether some prefix of the journaled `shares`, as the proxy's PPLNS window under `config`
/// at `network_difficulty` (the block's: [`block_difficulty`]), splits `value` into exactly
/// `paid`: the window the proxy built the block's job from. The window is the newest shares of
/// the prefix whose weights sum to `config.window_factor` blocks' work at that difficulty, the
/// oldest of them counted in part ([`PplnsWindow`]). For windows small enough that no coinbase
/// budget binds.
pub fn paid_by_some_window(
    paid: &[TxOut],
    value: Amount,
    shares: &[(ScriptBuf, f64)],
    config: &PayoutConfig,
    network_difficulty: f64,
) -> bool {
    let budget = CoinbaseBudget::unlimited();
    let mut window = PplnsWindow::from_config(config);
    window.set_network_difficulty(network_difficulty);
    let pays = |window: &PplnsWindow| {
        window
            .outputs(value, config, &budget)
            .is_ok_and(|outs| outs == paid)
    };
    if pays(&window) {
        return true;
    }
    shares.iter().any(|(script, difficulty)| {
        window.add(script.clone(), *difficulty);
        pays(&window)
    })
}

/// The payouts of `block` (at `height`), asserted to be the proxy's block and to pay a window by
/// work of the journaled `shares` under `config` ([`paid_by_some_window`]).
pub fn checked_payouts(
    block: &Block,
    height: u64,
    shares: &[(ScriptBuf, f64)],
    config: &PayoutConfig,
) -> Vec<TxOut> {
    assert!(mined_by_proxy(block), "block {height} is the proxy's");
    let outs = payouts(block);
    let value = outs.iter().map(|o| o.value).sum();
    assert!(
        paid_by_some_window(&outs, value, shares, config, block_difficulty(block)),
        "block {height} pays {outs:?}, which no window of the journaled shares gives"
    );
    outs
}

/// Whether a block's coinbase scriptSig carries the proxy's default tag.
pub fn mined_by_proxy(block: &Block) -> bool {
    block.txdata.first().is_some_and(|cb| {
        cb.input[0]
            .script_sig
            .as_bytes()
            .windows(13)
            .any(|w| w == b"/mesos-miner/")
    })
}
