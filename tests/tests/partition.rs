//! The full stack across a real network partition. Three agents, each on a host of its own (a
//! network namespace on a bridge of this machine; devcluster's `--agent-host`), run the
//! proxy and miners; Bitcoin Core listens on the bridge. Cutting the proxy's host's link:
//! the master sees the agent miss its pings, the scheduler replaces the proxy on another
//! host after its unreachable timeout, the miners elsewhere are killed and mine again for the
//! new proxy, and blocks keep landing. Behind the cut the old proxy runs on (it cannot reach
//! the node: nothing it finds there enters the chain). Restoring the link: the agent
//! re-registers, the old proxy is reported RUNNING and killed. Every block of the chain is
//! the proxies' and pays a window of the journal of the proxy that found it, so no payout
//! is made twice, and every block the new proxy found was answered by the node.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use devcluster::netns::TestHosts;
use proxy::payouts::PayoutConfig;
use tests::bins::workspace_bin;
use tests::mining::{
    block_difficulty, journal_entries, journal_shares, journals, mined_by_proxy,
    paid_by_some_window, payouts, wait_until,
};
use tests::node::{Chain, Node, NodeOptions};
use tests::stack::{Stack, StackConfig, StackExtras, Tasks};
use tests::tasks::{agent_index, running};
use tests::wallet::{AddressKind, TestWallet};

/// A journal's blocks: those found, those the node answered (any outcome), and those it
/// answered `accepted`.
struct JournalBlocks {
    found: BTreeSet<String>,
    answered: BTreeSet<String>,
    accepted: BTreeSet<String>,
}

fn journal_blocks(path: &std::path::Path) -> JournalBlocks {
    let entries = journal_entries(path);
    let hashes = |keep: &dyn Fn(&serde_json::Value) -> bool| {
        entries
            .iter()
            .filter(|entry| keep(entry))
            .map(|entry| entry["hash"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    JournalBlocks {
        found: hashes(&|e| e["type"] == "block"),
        answered: hashes(&|e| e["type"] == "submitted"),
        accepted: hashes(&|e| e["type"] == "submitted" && e["outcome"] == "accepted"),
    }
}

#[test]
fn cutting_the_proxys_host_off_moves_mining_to_a_new_proxy_and_the_old_is_killed_on_return() {
    tests::prerequisites::require("partitions").expect("iproute2");
    let hosts = TestHosts::make(3).expect("test hosts (run as root, with iproute2)");
    let gateway = hosts.gateway;
    let mut options = NodeOptions::new(Chain::Regtest);
    // The proxies reach the node across the bridge.
    options.extra_conf = vec![
        format!("rpcbind={gateway}"),
        "rpcallowip=10.231.0.0/16".into(),
    ];
    let node = &Node::start_with(&options).expect("node");
    let wallet = TestWallet::new(node.network(), "payout");
    let payout = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let dir = tempfile::tempdir().unwrap();
    let (executor, _) = (workspace_bin("executor"), workspace_bin("proxy"));
    let start = node.height().unwrap();
    let stack = Stack::start_with(
        &StackConfig::for_test(Tasks::Processes { executor }, 3, 1.0, dir.path()).unwrap(),
        node,
        &payout,
        &StackExtras {
            agent_hosts: hosts
                .agent_hosts()
                .into_iter()
                .map(|host| (host.netns, host.ip))
                .collect(),
            agent_ping_timeout_secs: 0.5,
            node_host: Some(gateway),
            scheduler_settings: Some(serde_json::json!({
                "proxy": {
                    "unreachable_timeout_secs": 3,
                    "volume": { "agent_gone_timeout_secs": 3 },
                },
            })),
            ..Default::default()
        },
    )
    .expect("start devcluster and the scheduler");
    let status = |stack: &Stack| format!("{:?}", stack.tasks_on_agents());

    // 1. A proxy and miners on all three hosts; blocks land.
    wait_until(
        "a proxy and a miner on every host",
        Duration::from_secs(240),
        || {
            let miners = running(&stack, "miner");
            running(&stack, "proxy").len() == 1
                && (0..3).all(|index| miners.iter().any(|(_, agent)| agent_index(agent) == index))
        },
    );
    wait_until("a block", Duration::from_secs(240), || {
        node.height().unwrap() > start
    });
    let (old_proxy, proxy_agent) = running(&stack, "proxy").remove(0);
    let cut = agent_index(&proxy_agent);
    let old_miners: Vec<String> = running(&stack, "miner")
        .into_iter()
        .filter(|(_, agent)| agent_index(agent) != cut)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(old_miners.len(), 2, "{}", status(&stack));

    // 2. The proxy's host is cut off.
    hosts.cut(cut).unwrap();
    let cut_height = node.height().unwrap();
    wait_until(
        "a new proxy on another host and new miners elsewhere",
        Duration::from_secs(120),
        || {
            let proxies = running(&stack, "proxy");
            let miners = running(&stack, "miner");
            proxies.len() == 1
                && proxies[0].0 != old_proxy
                && agent_index(&proxies[0].1) != cut
                && miners
                    .iter()
                    .filter(|(_, agent)| agent_index(agent) != cut)
                    .count()
                    == 2
                && miners.iter().all(|(id, _)| !old_miners.contains(id))
        },
    );
    let (new_proxy, _) = running(&stack, "proxy").remove(0);
    let replaced_height = node.height().unwrap();
    wait_until(
        "blocks from the new proxy",
        Duration::from_secs(240),
        || node.height().unwrap() >= replaced_height + 3,
    );
    // The scheduler still holds the old proxy, unreachable, not gone.
    assert!(
        stack
            .tasks_on_agents()
            .iter()
            .any(|(id, _, _, state)| *id == old_proxy && state == "UNREACHABLE"),
        "{}",
        status(&stack)
    );

    // The cut agent's volumes (`volumes/<master>-S<index>/`).
    let on_cut_agent =
        |path: &std::path::Path| path.to_string_lossy().contains(&format!("-S{cut}/"));
    let old_journals: Vec<_> = journals(dir.path())
        .into_iter()
        .filter(|path| on_cut_agent(path))
        .collect();
    assert_eq!(old_journals.len(), 1, "{old_journals:?}");

    // 3. The link is back: the old proxy is killed, the new one stays. Until it is killed
    // the old proxy may get work from the node again and find a block. Its volume is a
    // leftover the scheduler destroys once the agent offers it again, so the checks below
    // read the last copy of its journal taken before that.
    hosts.restore(cut).unwrap();
    let kept = tempfile::tempdir().unwrap();
    let old_journal = kept.path().join("old-proxy-journal.jsonl");
    let copying = kept.path().join("copying");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Every 10 ms: the proxy's last lines and the volume's removal can be close together.
        if std::fs::copy(&old_journals[0], &copying).is_ok() {
            std::fs::rename(&copying, &old_journal).unwrap();
        } else if !old_journals[0].exists() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old proxy's volume is never destroyed: {}",
            status(&stack)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_until("the old proxy killed", Duration::from_secs(60), || {
        stack.tasks_on_agents().iter().all(|(id, _, _, state)| {
            *id != old_proxy || !matches!(state.as_str(), "RUNNING" | "UNREACHABLE")
        })
    });
    let proxies = running(&stack, "proxy");
    assert_eq!(proxies.len(), 1, "{}", status(&stack));
    assert_eq!(proxies[0].0, new_proxy);
    let tip = node.height().unwrap();
    drop(stack);

    // 4. Every block of the chain is the proxies' and pays a window of one journal; the
    // blocks after the replacement pay the new proxy's, whose every block the node answered.
    let mut journals: Vec<_> = journals(dir.path())
        .into_iter()
        .filter(|path| !on_cut_agent(path))
        .collect();
    assert_eq!(journals.len(), 1, "the new proxy's volume: {journals:?}");
    journals.push(old_journal);
    let config = PayoutConfig::new(wallet.script(AddressKind::P2wpkh, 0));
    let blocks: Vec<_> = journals.iter().map(|path| journal_blocks(path)).collect();
    let shares: Vec<_> = journals.iter().map(|path| journal_shares(path)).collect();
    let mut from = vec![0usize; journals.len()];
    for height in start + 1..=tip {
        let block = node.block_at(height).unwrap();
        assert!(mined_by_proxy(&block), "block {height}");
        let hash = block.block_hash().to_string();
        let owner = blocks
            .iter()
            .position(|journal| journal.found.contains(&hash))
            .unwrap_or_else(|| {
                let heights: Vec<Vec<u64>> = journals
                    .iter()
                    .map(|path| {
                        journal_entries(path)
                            .iter()
                            .filter(|e| e["type"] == "block")
                            .filter_map(|e| e["height"].as_u64())
                            .collect()
                    })
                    .collect();
                panic!(
                    "block {height} ({hash}) is in no proxy's journal; the journals' blocks are \
                     at heights {heights:?}; cut at {cut_height}, replaced at {replaced_height}"
                )
            });
        assert!(
            blocks[owner].accepted.contains(&hash),
            "block {height} journaled as accepted"
        );
        let outs = payouts(&block);
        let value = outs.iter().map(|o| o.value).sum();
        assert!(
            paid_by_some_window(
                &outs,
                value,
                &shares[owner],
                &config,
                block_difficulty(&block)
            ),
            "block {height} pays no window of its proxy's shares"
        );
        from[owner] += 1;
    }
    println!(
        "partition: chain {start}..={tip}, cut at {cut_height}, new proxy at {replaced_height}; \
         blocks from the new proxy {}, from the old {}",
        from[0], from[1]
    );
    assert!(
        from.iter().all(|count| *count > 0),
        "both proxies' blocks are in the chain: {from:?} (cut at height {cut_height})"
    );
    // The new proxy (whose block is the tip) lost nothing: the node answered every block it
    // found.
    let tip_hash = node.block_at(tip).unwrap().block_hash().to_string();
    let newest = blocks
        .iter()
        .find(|journal| journal.found.contains(&tip_hash))
        .unwrap();
    assert_eq!(
        newest.found, newest.answered,
        "every block the new proxy found was answered"
    );
}
