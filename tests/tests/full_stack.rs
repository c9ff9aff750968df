//! The whole system on one machine: a Bitcoin Core node, `devcluster` (the local Mesos master
//! and agent), the `scheduler` framework, and our `executor`, which runs the `proxy` and an
//! in-process miner as Mesos tasks. Blocks mined by the Mesos-launched miner land on the node,
//! on regtest and on a custom signet (where shares are not blocks), and every coinbase pays
//! what the proxy's journaled share work says.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proxy::payouts::PayoutConfig;
use tests::bins::workspace_bin;
use tests::mining::{
    block_difficulty, journal_shares, mined_by_proxy, paid_by_some_window, payouts,
};
use tests::node::{Chain, Node};
use tests::stack::{Stack, StackConfig, Tasks};
use tests::wallet::{AddressKind, TestWallet};

/// One stack at a time on the two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every `proxy-journal.jsonl` under `dir` (the proxy task's sandbox).
fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.file_name().is_some_and(|n| n == "proxy-journal.jsonl") {
                found.push(path);
            }
        }
    }
    found
}

fn mine_through_mesos(chain: Chain, blocks: u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let node = &Node::start(chain).expect("node");
    let wallet = TestWallet::new(node.network(), "payout");
    let payout = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let dir = tempfile::tempdir().unwrap();
    // Built up front so the executor finds `proxy` beside itself.
    let (executor, _) = (workspace_bin("executor"), workspace_bin("proxy"));
    let start = node.height().unwrap();
    let stack = Stack::start(
        &StackConfig::for_test(Tasks::Processes { executor }, 1, 2.0, dir.path()).unwrap(),
        node,
        &payout,
    )
    .expect("start devcluster and the scheduler");

    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let height = node.height().unwrap();
        if height >= start + blocks {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no blocks from the Mesos-launched miner (height {height}, started at {start}); tasks {:?}",
            stack.tasks()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let tip = node.height().unwrap();
    drop(stack);

    // The blocks are the proxy's and pay what its journal says.
    let journal = journals(dir.path());
    assert_eq!(journal.len(), 1, "one proxy journal: {journal:?}");
    let shares = journal_shares(&journal[0]);
    assert!(!shares.is_empty());
    let config = PayoutConfig::new(wallet.script(AddressKind::P2wpkh, 0));
    for h in start + 1..=tip {
        let block = node.block_at(h).unwrap();
        assert!(mined_by_proxy(&block), "block {h}");
        let paid = payouts(&block);
        let value = paid.iter().map(|o| o.value).sum();
        assert!(
            paid_by_some_window(&paid, value, &shares, &config, block_difficulty(&block)),
            "block {h} pays {paid:?}, which no window of the journaled shares gives"
        );
    }
}

#[test]
fn mesos_launched_proxy_and_miner_mine_regtest_blocks() {
    mine_through_mesos(Chain::Regtest, 3);
}

#[test]
fn mesos_launched_proxy_and_miner_mine_custom_signet_blocks() {
    mine_through_mesos(Chain::Signet, 3);
}
