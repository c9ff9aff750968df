//! Bitcoin Core nodes for cross-process tests: regtest, or a custom signet where shares and
//! blocks differ.
//!
//! [`Node::start`] runs one `bitcoind` (from [`crate::bitcoin_core`]) on free loopback ports
//! with its own temporary datadir and waits for its RPC. One node is enough: Core answers
//! `getblocktemplate` on regtest and on a fresh custom signet without peers and outside initial
//! block download. [`NodeOptions::peer`] connects a second node for tests that need relay or
//! reorgs.
//!
//! Settings go into `bitcoin.conf`, the network-specific ones (`port`, `rpcport`, `bind`...)
//! into the `[regtest]` or `[signet]` section, the only place Core applies them for those
//! chains. Credentials are never in argv:
//! - the node writes its cookie file (`<datadir>/<chain dir>/.cookie`), which `bitcoin-cli`
//!   and the proxy's `--rpc-cookie-file` read ([`Node::cookie_path`]);
//! - for programs that cannot read that file (the proxy launched by the scheduler, containers)
//!   the conf carries an `rpcauth` line (user, salt and HMAC-SHA256 of a random password,
//!   never the password itself), and [`Node::rpc_user`]/[`Node::rpc_password`] give the pair.
//!
//! [`Chain::Signet`] is a custom signet with the anyone-can-sign challenge `51` (`OP_TRUE`):
//! real proof of work from difficulty ~0.0011 (about 4.8 M hashes a block, retargeting every
//! 2016 blocks), blocks need no signature, and Core serves templates only for the rules
//! `["segwit", "signet"]`.
//!
//! Nodes are stopped on drop (RPC `stop`, wait, then kill); when a test panics, the datadir is
//! kept and its path printed, for the node's `debug.log`. Everything here is blocking and drives
//! the node through `bitcoin-cli`, so it is independent of the RPC client under test and usable
//! from sync and async tests alike.

use std::fs;
use std::io::{self, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bitcoin::consensus::encode;
use bitcoin::hashes::{hmac, sha256, Hash as _, HashEngine as _};
use bitcoin::{Block, BlockHash, Network};
use serde_json::Value;
use tempfile::TempDir;

use crate::bitcoin_core::{core_binaries, CoreBinaries, CoreBuildError};

const READY_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 3;
/// Arguments longer than this go to `bitcoin-cli` on stdin (`-stdin`), not argv.
const MAX_ARG_LEN: usize = 64 * 1024;

/// What can go wrong setting up or driving a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Finding or building Core failed.
    #[error(transparent)]
    Build(#[from] CoreBuildError),
    /// A file-system or process-spawn operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A `bitcoin-cli` call failed.
    #[error("bitcoin-cli {args}: {message}")]
    Cli {
        /// The method and the start of its arguments.
        args: String,
        /// The RPC error code, when the node answered with one.
        code: Option<i64>,
        /// The error text.
        message: String,
    },
    /// The node process exited on its own.
    #[error("bitcoind ({datadir}) exited with {status}\n--- log tail ---\n{log}")]
    Exited {
        /// The node's datadir.
        datadir: PathBuf,
        /// How it exited.
        status: ExitStatus,
        /// The end of its log.
        log: String,
    },
    /// A condition was not reached in time.
    #[error("timed out waiting for {what}; last: {last}\n--- log tail ---\n{log}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The last observation.
        last: String,
        /// The end of the node's log.
        log: String,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> NodeError {
    let context = context.into();
    move |source| NodeError::Io { context, source }
}

/// Which test chain a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// Regtest: every hash below `7fffff..` is a block.
    Regtest,
    /// A custom signet with challenge `51`: real, low proof of work.
    Signet,
}

impl Chain {
    /// The conf flag and section name.
    pub fn name(self) -> &'static str {
        match self {
            Chain::Regtest => "regtest",
            Chain::Signet => "signet",
        }
    }

    /// The `bitcoin` crate's network (addresses, parameters).
    pub fn network(self) -> Network {
        match self {
            Chain::Regtest => Network::Regtest,
            Chain::Signet => Network::Signet,
        }
    }
}

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The chain.
    pub chain: Chain,
    /// Another node's P2P port to connect to (relay and reorg tests).
    pub peer: Option<u16>,
    /// More `key=value` lines for the chain's section (e.g. `blockreservedweight=40000`).
    pub extra_conf: Vec<String>,
    /// Put the cookie file in this directory, readable by every user (Core's
    /// `-rpccookiefile` and `-rpccookieperms=all`), as a proxy container running as
    /// another user needs; `None`: Core's default, `<chain dir>/.cookie`, owner only.
    pub cookie_dir: Option<PathBuf>,
}

impl NodeOptions {
    /// One node of `chain`, no peer, Core's defaults.
    pub fn new(chain: Chain) -> Self {
        Self {
            chain,
            peer: None,
            extra_conf: Vec::new(),
            cookie_dir: None,
        }
    }
}

/// `n` distinct free TCP ports on loopback (all bound at once, then released).
pub fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// A random hex string from the standard library's per-process random hasher keys.
fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < bytes * 2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(bytes * 2);
    out
}

/// The `rpcauth` conf value for `user`/`password`: `user:salt$hex(HMAC-SHA256(salt, password))`,
/// as Core's `share/rpcauth/rpcauth.py` makes it.
pub fn rpcauth_line(user: &str, password: &str, salt: &str) -> String {
    let mut engine = hmac::HmacEngine::<sha256::Hash>::new(salt.as_bytes());
    engine.input(password.as_bytes());
    let mac = hmac::Hmac::<sha256::Hash>::from_engine(engine);
    format!("{user}:{salt}${}", hex::encode(mac.to_byte_array()))
}

/// One running Bitcoin Core node.
#[derive(Debug)]
pub struct Node {
    bins: CoreBinaries,
    chain: Chain,
    child: Option<Child>,
    datadir: Option<TempDir>,
    datadir_path: PathBuf,
    p2p_port: u16,
    rpc_port: u16,
    rpc_user: String,
    rpc_password: String,
    /// Where `-rpccookiefile` put the cookie, if the options moved it.
    cookie_file: Option<PathBuf>,
}

impl Node {
    /// One node of `chain` with Core's defaults (see the module docs). Blocking; builds Core
    /// first if no cached build exists.
    pub fn start(chain: Chain) -> Result<Self, NodeError> {
        Self::start_with(&NodeOptions::new(chain))
    }

    /// A node started with `options`, its RPC answering.
    pub fn start_with(options: &NodeOptions) -> Result<Self, NodeError> {
        let bins = core_binaries()?;
        let mut last_err = None;
        for attempt in 1..=START_ATTEMPTS {
            let ports = free_ports(2).map_err(io_err("choosing free ports"))?;
            let mut node = Self::spawn(&bins, options, ports[0], ports[1])?;
            match node.wait_rpc_ready() {
                Ok(()) => {
                    tracing::info!(
                        chain = options.chain.name(),
                        rpc = node.rpc_port,
                        "node ready"
                    );
                    return Ok(node);
                }
                // A port taken between choosing and binding makes the node exit at start:
                // retry with new ports. Anything else is reported at once.
                Err(e @ NodeError::Exited { .. }) => {
                    tracing::warn!(attempt, error = %e, "node exited during start");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.expect("at least one attempt"))
    }

    fn spawn(
        bins: &CoreBinaries,
        options: &NodeOptions,
        p2p_port: u16,
        rpc_port: u16,
    ) -> Result<Self, NodeError> {
        let chain = options.chain;
        let datadir = tempfile::Builder::new()
            .prefix(&format!("{}-node-", chain.name()))
            .tempdir()
            .map_err(io_err("creating a datadir"))?;
        let datadir_path = datadir.path().to_owned();
        let rpc_user = "mesos-miner-test".to_owned();
        let rpc_password = random_hex(16);
        let mut conf = format!(
            "{chain}=1\nserver=1\nprinttoconsole=0\n\n[{chain}]\n\
             port={p2p_port}\nrpcport={rpc_port}\nbind=127.0.0.1\n\
             rpcbind=127.0.0.1\nrpcallowip=127.0.0.1\nrpcauth={auth}\n\
             dnsseed=0\nfixedseeds=0\ndiscover=0\nlistenonion=0\n",
            chain = chain.name(),
            auth = rpcauth_line(&rpc_user, &rpc_password, &random_hex(16)),
        );
        if chain == Chain::Signet {
            conf.push_str("signetchallenge=51\n");
        }
        match options.peer {
            Some(peer) => conf.push_str(&format!("connect=127.0.0.1:{peer}\n")),
            None => conf.push_str("connect=0\n"),
        }
        for line in &options.extra_conf {
            conf.push_str(line);
            conf.push('\n');
        }
        let cookie_file = options.cookie_dir.as_ref().map(|dir| dir.join(".cookie"));
        if let Some(file) = &cookie_file {
            conf.push_str(&format!(
                "rpccookiefile={}\nrpccookieperms=all\n",
                file.display()
            ));
        }
        let conf_path = datadir_path.join("bitcoin.conf");
        fs::write(&conf_path, conf).map_err(io_err(format!("writing {}", conf_path.display())))?;
        let mut node = Self {
            bins: bins.clone(),
            chain,
            child: None,
            datadir: Some(datadir),
            datadir_path,
            p2p_port,
            rpc_port,
            rpc_user,
            rpc_password,
            cookie_file,
        };
        node.launch()?;
        Ok(node)
    }

    fn launch(&mut self) -> Result<(), NodeError> {
        let child = Command::new(&self.bins.bitcoind)
            .arg(format!("-datadir={}", self.datadir_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err(format!("starting {}", self.bins.bitcoind.display())))?;
        tracing::debug!(chain = self.chain.name(), rpc = self.rpc_port, datadir = %self.datadir_path.display(), "bitcoind started");
        self.child = Some(child);
        Ok(())
    }

    /// The chain.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The chain's network.
    pub fn network(&self) -> Network {
        self.chain.network()
    }

    /// `http://127.0.0.1:<rpcport>/`
    pub fn rpc_url(&self) -> String {
        self.rpc_url_on(std::net::Ipv4Addr::LOCALHOST.into())
    }

    /// `http://<host>:<rpcport>/`: the node's RPC at another address of this host (it must
    /// listen there: `rpcbind` in `NodeOptions::extra_conf`).
    pub fn rpc_url_on(&self, host: std::net::IpAddr) -> String {
        format!("http://{}/", std::net::SocketAddr::new(host, self.rpc_port))
    }

    /// The `rpcauth` user.
    pub fn rpc_user(&self) -> &str {
        &self.rpc_user
    }

    /// The `rpcauth` user's password.
    pub fn rpc_password(&self) -> &str {
        &self.rpc_password
    }

    /// The P2P port.
    pub fn p2p_port(&self) -> u16 {
        self.p2p_port
    }

    /// The RPC port.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The datadir.
    pub fn datadir(&self) -> &Path {
        &self.datadir_path
    }

    /// The directory of this chain's data (`regtest/`, or the custom signet's directory).
    pub fn chain_dir(&self) -> PathBuf {
        // Core names a custom signet's directory itself; find whichever subdirectory holds the
        // log, falling back to the chain's name.
        fs::read_dir(&self.datadir_path)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.join("debug.log").is_file())
            .unwrap_or_else(|| self.datadir_path.join(self.chain.name()))
    }

    /// The cookie file the node writes while it runs (`__cookie__:<password>`).
    pub fn cookie_path(&self) -> PathBuf {
        self.cookie_file
            .clone()
            .unwrap_or_else(|| self.chain_dir().join(".cookie"))
    }

    /// Runs `bitcoin-cli` against this node; returns its trimmed output. Long arguments (raw
    /// blocks and transactions) are passed on stdin.
    pub fn cli(&self, args: &[&str]) -> Result<String, NodeError> {
        let long = args.iter().any(|a| a.len() > MAX_ARG_LEN);
        let mut cmd = Command::new(&self.bins.bitcoin_cli);
        cmd.arg(format!("-datadir={}", self.datadir_path.display()));
        let shown = || {
            args.iter()
                .map(|a| if a.len() > 80 { &a[..80] } else { a })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let out = if long {
            // `-stdin`: one argument per line after the method.
            cmd.arg("-stdin").arg(args[0]);
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(io_err(format!(
                    "running {}",
                    self.bins.bitcoin_cli.display()
                )))?;
            {
                let mut stdin = child.stdin.take().expect("piped stdin");
                for arg in &args[1..] {
                    writeln!(stdin, "{arg}").map_err(io_err("writing bitcoin-cli's stdin"))?;
                }
            }
            child.wait_with_output()
        } else {
            cmd.args(args).stdin(Stdio::null()).output()
        }
        .map_err(io_err(format!(
            "running {}",
            self.bins.bitcoin_cli.display()
        )))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = stderr.lines().find_map(|l| {
            l.strip_prefix("error code:")
                .and_then(|c| c.trim().parse::<i64>().ok())
        });
        Err(NodeError::Cli {
            args: shown(),
            code,
            message: stderr.trim().replace('\n', " "),
        })
    }

    /// The `bitcoin-cli` program and its datadir argument, for running it from another thread.
    pub fn cli_command(&self) -> Vec<String> {
        vec![
            self.bins.bitcoin_cli.display().to_string(),
            format!("-datadir={}", self.datadir_path.display()),
        ]
    }

    /// Runs `bitcoin-cli` and parses its output as JSON.
    pub fn cli_json(&self, args: &[&str]) -> Result<Value, NodeError> {
        let text = self.cli(args)?;
        serde_json::from_str(&text).map_err(|e| NodeError::Cli {
            args: args.first().copied().unwrap_or_default().to_owned(),
            code: None,
            message: format!("output is not JSON ({e}): {text}"),
        })
    }

    /// Height of the best block.
    pub fn height(&self) -> Result<u64, NodeError> {
        let text = self.cli(&["getblockcount"])?;
        text.parse().map_err(|_| NodeError::Cli {
            args: "getblockcount".into(),
            code: None,
            message: format!("not a height: {text}"),
        })
    }

    /// Hash of the best block.
    pub fn best_hash(&self) -> Result<BlockHash, NodeError> {
        self.parse(&["getbestblockhash"])
    }

    /// Hash of the block at `height` on the best chain.
    pub fn block_hash(&self, height: u64) -> Result<BlockHash, NodeError> {
        self.parse(&["getblockhash", &height.to_string()])
    }

    fn parse<T: std::str::FromStr>(&self, args: &[&str]) -> Result<T, NodeError> {
        let text = self.cli(args)?;
        text.parse().map_err(|_| NodeError::Cli {
            args: args.join(" "),
            code: None,
            message: format!("cannot parse: {text}"),
        })
    }

    /// The block `hash`, decoded (`getblock hash 0`).
    pub fn block(&self, hash: &BlockHash) -> Result<Block, NodeError> {
        let text = self.cli(&["getblock", &hash.to_string(), "0"])?;
        hex::decode(&text)
            .ok()
            .and_then(|bytes| encode::deserialize(&bytes).ok())
            .ok_or_else(|| NodeError::Cli {
                args: format!("getblock {hash} 0"),
                code: None,
                message: "not a block".into(),
            })
    }

    /// The block at `height` on the best chain, decoded.
    pub fn block_at(&self, height: u64) -> Result<Block, NodeError> {
        self.block(&self.block_hash(height)?)
    }

    /// Mines `n` blocks paying `address` (`generatetoaddress`); returns their hashes. On the
    /// custom signet Core grinds the proof of work itself (a few seconds a block).
    pub fn generate_to(&self, n: u64, address: &str) -> Result<Vec<BlockHash>, NodeError> {
        let v = self.cli_json(&[
            "generatetoaddress",
            &n.to_string(),
            address,
            // maxtries: enough for the signet's difficulty at any 32-bit nonce luck.
            "100000000",
        ])?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str()?.parse().ok())
            .collect())
    }

    /// The end of the node's log file.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.chain_dir().join("debug.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }

    fn check_alive(&mut self) -> Result<(), NodeError> {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(NodeError::Exited {
                    datadir: self.datadir_path.clone(),
                    status,
                    log: self.log_tail(),
                });
            }
        }
        Ok(())
    }

    /// Polls `f` until it returns `Some`, failing if the node exits or `timeout` passes.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Self) -> Result<Option<T>, String>,
    ) -> Result<T, NodeError> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("(not tried)");
        loop {
            self.check_alive()?;
            match f(self) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                return Err(NodeError::Timeout {
                    what: what.to_owned(),
                    last,
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until RPC answers (Core says -28 while loading).
    pub fn wait_rpc_ready(&mut self) -> Result<(), NodeError> {
        self.wait_for("RPC to answer", READY_TIMEOUT, |n| match n.height() {
            Ok(_) => Ok(Some(())),
            Err(e) => Err(e.to_string()),
        })
    }

    /// Waits until the node has at least `n` peers.
    pub fn wait_connections(&mut self, n: u64) -> Result<(), NodeError> {
        self.wait_for(
            &format!("{n} peer connection(s)"),
            READY_TIMEOUT,
            |node| match node.cli(&["getconnectioncount"]) {
                Ok(c) if c.parse::<u64>().is_ok_and(|c| c >= n) => Ok(Some(())),
                Ok(c) => Err(format!("{c} connections")),
                Err(e) => Err(e.to_string()),
            },
        )
    }

    /// Waits until the node's best block is at least `height`.
    pub fn wait_height(&mut self, height: u64, timeout: Duration) -> Result<(), NodeError> {
        self.wait_for(&format!("height {height}"), timeout, |node| {
            match node.height() {
                Ok(h) if h >= height => Ok(Some(())),
                Ok(h) => Err(format!("height {h}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// Stops the node: RPC `stop`, wait for the process to exit, kill it if it does not.
    /// Idempotent.
    pub fn stop(&mut self) -> Result<(), NodeError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        if let Err(e) = self.cli(&["stop"]) {
            tracing::warn!(error = %e, "RPC stop failed; will kill");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => break,
            }
        }
        tracing::warn!(datadir = %self.datadir_path.display(), "bitcoind did not stop in time; killing");
        child.kill().map_err(io_err("killing bitcoind"))?;
        child.wait().map_err(io_err("reaping bitcoind"))?;
        Ok(())
    }

    /// Starts a stopped node again on the same datadir and ports, and waits for its RPC.
    pub fn restart(&mut self) -> Result<(), NodeError> {
        if self.child.is_some() {
            return Ok(());
        }
        self.launch()?;
        self.wait_rpc_ready()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "stopping bitcoind");
        }
        if std::thread::panicking() {
            if let Some(dir) = self.datadir.take() {
                eprintln!("node datadir kept for inspection: {}", dir.keep().display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpcauth_matches_cores_script() {
        // share/rpcauth/rpcauth.py with user "alice", password "secret", salt "00ff":
        // hmac.new(bytearray("00ff", "utf-8"), bytearray("secret", "utf-8"), "SHA256").hexdigest()
        let line = rpcauth_line("alice", "secret", "00ff");
        assert_eq!(
            line,
            "alice:00ff$aaeec185df44eef4284ef0b656613e6c08a30e434f446c3081cbb69736e064db"
        );
        assert_ne!(line, rpcauth_line("alice", "secret2", "00ff"));
    }
}
