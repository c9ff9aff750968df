//! Best-effort mining on oversubscribed CPUs, across the real processes: a Bitcoin Core
//! node, `devcluster` with an agent offering regular and revocable CPUs (Mesos' fixed
//! resource estimator), the `scheduler` (subscribed with REVOCABLE_RESOURCES, the default
//! `both` CPU policy) and our executors. Miners fill both kinds; the QoS controller's
//! revocation (devcluster's `qos-revoke` fault) kills only the revocable miner, with
//! `REASON_CONTAINER_PREEMPTED`, while the proxy and the regular miner keep mining (their
//! shares keep being accepted, blocks keep landing); once the slack is offered again
//! (`qos-restore`), a new revocable miner mines it, with no failure backoff in between.

use std::time::{Duration, Instant};

use serde_json::Value;
use tests::bins::workspace_bin;
use tests::mining::wait_until;
use tests::node::{Chain, Node};
use tests::stack::{Stack, StackConfig, StackExtras, Tasks};
use tests::wallet::{AddressKind, TestWallet};

/// A task in the scheduler's status.
#[derive(Debug, Clone, PartialEq)]
struct Task {
    id: String,
    kind: String,
    state: String,
    revocable: bool,
    cpus: f64,
}

fn tasks(status: &Value) -> Vec<Task> {
    status["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|task| Task {
            id: task["id"].as_str().unwrap_or_default().to_owned(),
            kind: task["kind"].as_str().unwrap_or_default().to_owned(),
            state: task["state"].as_str().unwrap_or_default().to_owned(),
            revocable: task["revocable"].as_bool().unwrap_or(false),
            cpus: task["cpus"].as_f64().unwrap_or(0.0),
        })
        .collect()
}

/// Shares the proxy accepted from task `id`, as its executor last reported.
fn accepted(status: &Value, id: &str) -> u64 {
    status["hash_rates"][id]["accepted"].as_u64().unwrap_or(0)
}

fn running_miners(stack: &Stack) -> (Option<Task>, Option<Task>) {
    let status = stack.status().unwrap_or_default();
    let running: Vec<Task> = tasks(&status)
        .into_iter()
        .filter(|t| t.kind == "miner" && t.state == "RUNNING")
        .collect();
    let regular = running.iter().find(|t| !t.revocable).cloned();
    let revocable = running.iter().find(|t| t.revocable).cloned();
    (regular, revocable)
}

#[test]
fn revocation_kills_only_revocable_miners_and_the_slack_is_mined_again() {
    let node = &Node::start(Chain::Regtest).expect("node");
    let wallet = TestWallet::new(node.network(), "payout");
    let payout = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let dir = tempfile::tempdir().unwrap();
    let (executor, _) = (workspace_bin("executor"), workspace_bin("proxy"));
    // 2 regular CPUs (0.5 for the proxy, 1.5 for a miner) and 1 revocable CPU.
    let stack = Stack::start_with(
        &StackConfig::for_test(Tasks::Processes { executor }, 1, 2.0, dir.path()).unwrap(),
        node,
        &payout,
        &StackExtras {
            fault_endpoints: true,
            revocable_cpus: 1.0,
            // Hash-rate and share reports every second, not every 5.
            devcluster_env: vec![("MESOS_MINER_REPORT_INTERVAL".into(), "1secs".into())],
            ..Default::default()
        },
    )
    .expect("start devcluster and the scheduler");

    // 1. Miners fill both kinds, and both get shares accepted.
    let mut both = (None, None);
    wait_until(
        "a regular and a revocable miner with accepted shares",
        Duration::from_secs(240),
        || {
            both = running_miners(&stack);
            let status = stack.status().unwrap_or_default();
            matches!(&both, (Some(r), Some(v))
                if accepted(&status, &r.id) > 0 && accepted(&status, &v.id) > 0)
        },
    );
    let (regular, revocable) = (both.0.unwrap(), both.1.unwrap());
    assert_eq!(
        regular.cpus, 1.5,
        "the regular miner takes what the proxy leaves"
    );
    assert_eq!(revocable.cpus, 1.0, "the revocable miner takes the slack");
    let status = stack.status().unwrap();
    assert_eq!(status["revocable_cpus"].as_f64(), Some(1.0));
    let proxy: Vec<Task> = tasks(&status)
        .into_iter()
        .filter(|t| t.kind == "proxy")
        .collect();
    assert_eq!(proxy.len(), 1, "{proxy:?}");
    assert!(!proxy[0].revocable, "the proxy is on regular CPUs");

    // 2. The QoS controller revokes the slack: only the revocable miner goes.
    let before_accepted = accepted(&status, &regular.id);
    let before_height = node.height().unwrap();
    let answer = stack.fault("qos-revoke").unwrap();
    assert!(answer.contains("200"), "qos-revoke: {answer}");
    wait_until("the revocable miner gone", Duration::from_secs(30), || {
        let status = stack.status().unwrap_or_default();
        !tasks(&status).iter().any(|t| t.id == revocable.id)
    });
    // While the slack is revoked, no revocable miner comes back; the others stay and mine.
    let quiet_until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < quiet_until {
        let status = stack.status().unwrap_or_default();
        let now = tasks(&status);
        assert!(
            !now.iter().any(|t| t.revocable),
            "a revocable miner while the slack is revoked: {now:?}"
        );
        for kept in [&regular.id, &proxy[0].id] {
            assert!(
                now.iter().any(|t| &t.id == kept && t.state == "RUNNING"),
                "{kept} was touched by the revocation: {now:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_until(
        "the regular miner's shares still accepted",
        Duration::from_secs(60),
        || accepted(&stack.status().unwrap_or_default(), &regular.id) > before_accepted,
    );
    wait_until(
        "blocks still landing after the revocation",
        Duration::from_secs(120),
        || node.height().unwrap() > before_height,
    );
    // The revocation was no failure: the scheduler logged it as a revocation.
    let log = std::fs::read_to_string(dir.path().join("scheduler.log")).unwrap();
    assert!(
        log.contains("revoked: not a failure"),
        "the scheduler did not see a revocation"
    );

    // 3. The slack is offered again: a new revocable miner mines it.
    let answer = stack.fault("qos-restore").unwrap();
    assert!(answer.contains("200"), "qos-restore: {answer}");
    let mut again = None;
    wait_until(
        "a new revocable miner with accepted shares",
        Duration::from_secs(120),
        || {
            let status = stack.status().unwrap_or_default();
            again = running_miners(&stack)
                .1
                .filter(|t| t.id != revocable.id && accepted(&status, &t.id) > 0);
            again.is_some()
        },
    );
    let (still_regular, _) = running_miners(&stack);
    assert_eq!(
        still_regular.map(|t| t.id),
        Some(regular.id.clone()),
        "the regular miner ran throughout"
    );
    assert_eq!(again.unwrap().cpus, 1.0);
    drop(stack);
}
