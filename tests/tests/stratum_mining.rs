//! Stratum v1 mining end to end on a Bitcoin Core regtest node: the `proxy`
//! process serves two `miner run` processes with different payout addresses;
//! the node accepts their blocks, whose coinbases carry our tag and pay both
//! miners in proportion to their share work. A proxy killed with `kill -9`
//! between journaling a found block and submitting it resubmits the block when
//! restarted, and a
//! node that goes down under a running proxy stops nothing: mining resumes
//! when it is back.

use bitcoin::{Address, Block, Network};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;
use tests::mining::{miner, wait_until, Proxy, ProxyOptions};
use tests::node::{Chain, Node};
use tests::wallet::{AddressKind, TestWallet};

/// Each test runs a node, a proxy and miners: one at a time, so that the
/// miners' CPU shares (and so their payouts) are not skewed by another test.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn options(fallback: &str, dir: &std::path::Path) -> ProxyOptions {
    let mut options = ProxyOptions::new(fallback, dir);
    // About 1000 regtest shares: each is a block, credited one block's work.
    options.extra_args = vec!["--pplns-window-factor".into(), "500".into()];
    options
}

fn height(node: &Node) -> u64 {
    node.height().unwrap()
}

/// A node, and addresses of the test's keys: `(node, fallback, alice, bob)`.
fn start() -> (Node, String, String, String) {
    let node = Node::start(Chain::Regtest).expect("regtest node");
    let wallet = TestWallet::new(node.network(), "stratum-mining");
    let address = |kind, i| wallet.address(kind, i).to_string();
    (
        node,
        address(AddressKind::P2wpkh, 0),
        address(AddressKind::P2tr, 1),
        address(AddressKind::P2pkh, 2),
    )
}

fn block_at(node: &Node, h: u64) -> Block {
    node.block_at(h).unwrap()
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
    let (node, fallback, alice, bob) = start();
    // Past height 16 the BIP34 height is a data push, which `bip34_block_height` reads
    // (heights 1..=16 are OP_1..OP_16, as Core encodes them).
    node.generate_to(20, &fallback).unwrap();
    let node = &node;
    let dir = tempfile::tempdir().unwrap();
    let start = height(node);
    let proxy = Proxy::start(node, &options(&fallback, dir.path()));
    let _a = miner(&proxy.url(), &format!("{alice}.rig1"));
    let _b = miner(&proxy.url(), &format!("{bob}.rig2"));

    // Blocks arrive (enough that both miners' shares fill the window).
    wait_until("40 blocks", Duration::from_secs(120), || {
        height(node) >= start + 40
    });
    let tip = height(node);

    let (a_script, b_script) = (script_of(&alice), script_of(&bob));
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
    let (node, fallback, alice, _) = start();
    let node = &node;
    let dir = tempfile::tempdir().unwrap();
    let start = height(node);

    let mut crash_options = options(&fallback, dir.path());
    crash_options.crash_after_journal = true;
    let journal = crash_options.journal.clone();
    let mut crashing = Proxy::start(node, &crash_options);
    let port = crashing.port;
    let _m = miner(&crashing.url(), &format!("{alice}.rig"));
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
        .args(["-9", &crashing.process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    crashing.process.0.wait().unwrap();
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

    let _restarted = Proxy::start_on(node, &options(&fallback, dir.path()), port);
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
    let (mut node, fallback, alice, _) = start();
    let dir = tempfile::tempdir().unwrap();
    let start = height(&node);
    let mut proxy = Proxy::start(&node, &options(&fallback, dir.path()));
    let mut miner = miner(&proxy.url(), &format!("{alice}.rig"));
    wait_until("first blocks", Duration::from_secs(60), || {
        height(&node) >= start + 3
    });

    node.stop().unwrap();
    // The proxy keeps serving (it retries the node) and the miner stays up.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        proxy.process.0.try_wait().unwrap().is_none(),
        "proxy exited while the node was down"
    );
    assert!(
        miner.0.try_wait().unwrap().is_none(),
        "miner exited while the node was down"
    );

    node.restart().unwrap();
    let back = height(&node);
    wait_until("mining to resume", Duration::from_secs(90), || {
        height(&node) >= back + 3
    });
}
