//! The whole system on one machine: a Bitcoin Core regtest node, `devcluster` (the
//! local Mesos master and agent), the `scheduler` framework, and our
//! `executor`, which runs the `proxy` and an in-process miner as Mesos tasks.
//! Blocks mined by the Mesos-launched miner land on the node.

use std::time::{Duration, Instant};
use tests::bins::workspace_bin;
use tests::node::{Chain, Node};
use tests::wallet::{AddressKind, TestWallet};
use tests::stack::{Stack, StackConfig, Tasks};

#[test]
fn mesos_launched_proxy_and_miner_mine_regtest_blocks() {
    let node = &Node::start(Chain::Regtest).expect("regtest node");
    let payout = TestWallet::new(node.network(), "payout")
        .address(AddressKind::P2wpkh, 0)
        .to_string();
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

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let height: u64 = node.height().unwrap();
        if height >= start + 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no blocks from the Mesos-launched miner (height {height}, started at {start}); tasks {:?}",
            stack.tasks()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
