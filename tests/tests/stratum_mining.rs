//! Stratum v1 mining end to end on a real regtest node pair: the `proxy`
//! process serves two `miner run` processes with different payout addresses;
//! the node accepts their blocks, whose coinbases carry our tag and pay both
//! miners in proportion to their share work. A proxy killed with `kill -9`
//! between journaling a found block and submitting it resubmits the block when
//! restarted, and a
//! node that goes down under a running proxy stops nothing: mining resumes
//! when it is back.

use bitcoin::consensus::deserialize;
use bitcoin::{Address, Block, Network};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tests::bins::workspace_bin;
use tests::regtest::{free_ports, RegtestNode, RegtestPair};

/// Each test runs two nodes, a proxy and miners: one at a time, so that the
/// miners' CPU shares (and so their payouts) are not skewed by another test.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Kills the child on drop, so a failing test leaves no process behind.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn proxy(node: &RegtestNode, port: u16, fallback: &str, journal: &Path, crash: bool) -> Proc {
    let mut cmd = Command::new(workspace_bin("proxy"));
    cmd.args([
        "--node-url",
        &node.rpc_url(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .args(["--fallback-address", fallback, "--difficulty", "0.0005"])
    .args(["--share-seconds", "0.5", "--pplns-window", "1000"])
    .arg("--journal")
    .arg(journal)
    .env("PROXY_RPC_USER", node.rpc_user())
    .env("PROXY_RPC_PASSWORD", node.rpc_password())
    .env("RUST_LOG", "info")
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    if crash {
        cmd.env("PROXY_FAULT_CRASH_AFTER_JOURNAL", "true");
    }
    Proc(cmd.spawn().expect("start proxy"))
}

fn miner(port: u16, user: &str) -> Proc {
    Proc(
        Command::new(workspace_bin("miner"))
            .args(["run", "--pool", &format!("stratum+tcp://127.0.0.1:{port}")])
            .args(["--user", user, "--threads", "1", "--status-every", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start miner"),
    )
}

fn height(node: &RegtestNode) -> u64 {
    node.cli(&["getblockcount"])
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn block_at(node: &RegtestNode, h: u64) -> Block {
    let hash = node.cli(&["getblockhash", &h.to_string()]).unwrap();
    let hex = node.cli(&["getblock", hash.trim(), "0"]).unwrap();
    deserialize(&hex::decode(hex.trim()).unwrap()).unwrap()
}

fn script_of(address: &str) -> bitcoin::ScriptBuf {
    Address::from_str(address)
        .unwrap()
        .require_network(Network::Regtest)
        .unwrap()
        .script_pubkey()
}

#[test]
fn two_miners_mine_blocks_paid_in_proportion() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pair = RegtestPair::start().expect("regtest pair");
    // Past height 16 the BIP34 height is a data push, which `bip34_block_height` reads
    // (heights 1..=16 are OP_1..OP_16, as Core encodes them).
    pair.mine(20).unwrap();
    let node = &pair.a;
    let alice = node.cli(&["getnewaddress"]).unwrap();
    let bob = node.cli(&["getnewaddress"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1).unwrap()[0];
    let start = height(node);
    let _proxy = proxy(
        node,
        port,
        &pair.mining_address,
        &dir.path().join("journal"),
        false,
    );
    let _a = miner(port, &format!("{}.rig1", alice.trim()));
    let _b = miner(port, &format!("{}.rig2", bob.trim()));

    // Blocks arrive (enough that both miners' shares fill the window) and the peer follows.
    wait_until("40 blocks", Duration::from_secs(120), || {
        height(node) >= start + 40
    });
    let tip = height(node);
    wait_until("the peer to follow", Duration::from_secs(30), || {
        height(&pair.b) >= tip
    });

    let (a_script, b_script) = (script_of(alice.trim()), script_of(bob.trim()));
    let block = block_at(node, tip);
    let coinbase = &block.txdata[0];
    assert_eq!(block.bip34_block_height().unwrap(), tip);
    let sig = coinbase.input[0].script_sig.as_bytes();
    assert!(
        sig.windows(13).any(|w| w == b"/mesos-miner/"),
        "coinbase scriptSig lacks our tag: {}",
        hex::encode(sig)
    );
    let paid = |s: &bitcoin::ScriptBuf| -> u64 {
        coinbase
            .output
            .iter()
            .filter(|o| &o.script_pubkey == s)
            .map(|o| o.value.to_sat())
            .sum()
    };
    let (a_paid, b_paid) = (paid(&a_script), paid(&b_script));
    let total: u64 = coinbase.output.iter().map(|o| o.value.to_sat()).sum();
    assert!(
        a_paid > 0 && b_paid > 0,
        "both miners paid: {a_paid} {b_paid} of {total}"
    );
    assert_eq!(a_paid + b_paid, total, "the window holds only their shares");
    // Equal hash rates (one thread each): neither share far from half.
    let share = a_paid as f64 / total as f64;
    assert!(
        (0.2..0.8).contains(&share),
        "alice got {share:.2} of the reward"
    );
}

#[test]
fn a_block_journaled_before_kill_9_is_submitted_after_restart() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pair = RegtestPair::start().expect("regtest pair");
    let node = &pair.a;
    let alice = node.cli(&["getnewaddress"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let port = free_ports(1).unwrap()[0];
    let start = height(node);

    let mut crashing = proxy(node, port, &pair.mining_address, &journal, true);
    let _m = miner(port, &format!("{}.rig", alice.trim()));
    // The fault hook holds the first found block between journal and submission.
    let mut line = None;
    wait_until("a journaled block", Duration::from_secs(120), || {
        line = std::fs::read_to_string(&journal).ok().and_then(|t| {
            t.lines()
                .find(|l| l.contains("\"type\":\"block\""))
                .map(str::to_owned)
        });
        line.is_some()
    });
    let killed = Command::new("kill")
        .args(["-9", &crashing.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    crashing.0.wait().unwrap();
    let line = line.unwrap();
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    let hash = entry["hash"].as_str().unwrap().to_string();
    assert_eq!(
        height(node),
        start,
        "the block was not submitted before the crash"
    );
    assert!(
        node.cli(&["getblock", &hash]).is_err(),
        "node does not have it yet"
    );

    let _restarted = proxy(node, port, &pair.mining_address, &journal, false);
    wait_until(
        "the journaled block in the chain",
        Duration::from_secs(60),
        || node.cli(&["getblock", &hash]).is_ok(),
    );
    assert!(height(node) > start);
}

#[test]
fn a_node_going_down_stops_nothing_and_mining_resumes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut pair = RegtestPair::start().expect("regtest pair");
    let alice = pair.a.cli(&["getnewaddress"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1).unwrap()[0];
    let start = height(&pair.a);
    let mut proxy = proxy(
        &pair.a,
        port,
        &pair.mining_address,
        &dir.path().join("journal"),
        false,
    );
    let mut miner = miner(port, &format!("{}.rig", alice.trim()));
    wait_until("first blocks", Duration::from_secs(60), || {
        height(&pair.a) >= start + 3
    });

    pair.a.stop().unwrap();
    // The proxy keeps serving (it retries the node) and the miner stays up.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        proxy.0.try_wait().unwrap().is_none(),
        "proxy exited while the node was down"
    );
    assert!(
        miner.0.try_wait().unwrap().is_none(),
        "miner exited while the node was down"
    );

    pair.a.restart().unwrap();
    pair.a.wait_connections(1).unwrap();
    let back = height(&pair.a);
    wait_until("mining to resume", Duration::from_secs(90), || {
        height(&pair.a) >= back + 3
    });
}
