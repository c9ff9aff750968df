//! Maintenance on the full stack: a Bitcoin Core regtest node, `devcluster` with two agents on
//! two machines (hostnames 127.0.0.1 and 127.0.0.2, one IP), the `scheduler`, our `executor`,
//! the `proxy` and miners. The proxy's agent is scheduled for maintenance (Mesos'
//! `/maintenance/schedule`): before its window starts the scheduler drains it (its miners
//! killed, the proxy moved to the other agent with a fresh volume, the inverse offer accepted)
//! and mining goes on there; the machine goes DOWN and UP again (`/machine/down`,
//! `/machine/up`) and a miner runs on it again. No block is lost: every block any proxy
//! journaled is in Core's chain or was answered by it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tests::bins::workspace_bin;
use tests::mining::{journal_entries, journals, wait_until};
use tests::node::{Chain, Node};
use tests::stack::{Stack, StackConfig, StackExtras, Tasks};
use tests::tasks::{agent_index, running};
use tests::wallet::{AddressKind, TestWallet};

/// The agents' hostnames, in order: two machines.
const HOSTNAMES: [&str; 2] = ["127.0.0.1", "127.0.0.2"];

/// `METHOD path` with a JSON body (none for null) to devcluster's master; (status code, body).
fn request(stack: &Stack, method: &str, path: &str, body: &Value) -> (u16, String) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    stack.master_request(method, path, &body).unwrap()
}

/// A log line without its ANSI colour codes (tracing colours the field names).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC '[' parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[test]
fn an_agent_in_maintenance_is_drained_before_its_window_and_mines_again_after() {
    let node = &Node::start(Chain::Regtest).expect("node");
    let wallet = TestWallet::new(node.network(), "payout");
    let payout = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let dir = tempfile::tempdir().unwrap();
    let (executor, _) = (workspace_bin("executor"), workspace_bin("proxy"));
    let start_height = node.height().unwrap();
    let stack = Stack::start_with(
        &StackConfig::for_test(Tasks::Processes { executor }, 2, 2.0, dir.path()).unwrap(),
        node,
        &payout,
        &StackExtras {
            devcluster_env: vec![("DEVCLUSTER_AGENT_HOSTNAMES".into(), HOSTNAMES.join(","))],
            fault_endpoints: true,
            ..Default::default()
        },
    )
    .expect("start devcluster and the scheduler");
    let status_of = |stack: &Stack| format!("{:?}", stack.tasks_on_agents());

    // 1. Mining on both agents, blocks landing.
    wait_until(
        "a proxy and miners on both agents",
        Duration::from_secs(240),
        || {
            let miners = running(&stack, "miner");
            running(&stack, "proxy").len() == 1
                && HOSTNAMES
                    .iter()
                    .enumerate()
                    .all(|(index, _)| miners.iter().any(|(_, agent)| agent_index(agent) == index))
        },
    );
    wait_until("a block", Duration::from_secs(240), || {
        node.height().unwrap() > start_height
    });
    let (old_proxy, proxy_agent) = running(&stack, "proxy").remove(0);
    let index = agent_index(&proxy_agent);
    let machine = json!({ "hostname": HOSTNAMES[index], "ip": "127.0.0.1" });

    // 2. The proxy's machine is scheduled for maintenance in two minutes, for an hour.
    let window_start = now_nanos() + 120 * 1_000_000_000;
    let schedule = json!({ "windows": [{
        "machine_ids": [machine],
        "unavailability": {
            "start": { "nanoseconds": window_start },
            "duration": { "nanoseconds": 3_600_000_000_000_i64 },
        },
    }]});
    let (code, body) = request(&stack, "POST", "/maintenance/schedule", &schedule);
    assert_eq!(code, 200, "{body}");
    let (code, body) = request(&stack, "GET", "/maintenance/schedule", &Value::Null);
    assert_eq!(code, 200);
    let echoed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echoed["windows"][0]["machine_ids"][0], machine, "{body}");
    // Machines not DRAINING cannot go down, nor UP ones up.
    let other = json!([{ "hostname": HOSTNAMES[1 - index], "ip": "127.0.0.1" }]);
    assert_eq!(request(&stack, "POST", "/machine/down", &other).0, 400);
    assert_eq!(request(&stack, "POST", "/machine/up", &other).0, 400);

    // 3. Before the window: nothing of ours on that agent, a new proxy on the other one,
    //    blocks still landing.
    wait_until(
        "the agent drained, the proxy moved",
        Duration::from_secs(90),
        || {
            let all = stack.tasks_on_agents();
            let proxies = running(&stack, "proxy");
            all.iter().all(|(_, _, agent, _)| *agent != proxy_agent)
                && proxies.len() == 1
                && proxies[0].0 != old_proxy
        },
    );
    assert!(
        now_nanos() < window_start,
        "drained only after the window started: {}",
        status_of(&stack)
    );
    let moved_height = node.height().unwrap();
    wait_until("a block after the move", Duration::from_secs(240), || {
        node.height().unwrap() > moved_height
    });
    // The inverse offer was accepted once the agent was drained.
    wait_until(
        "the inverse offer accepted",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(dir.path().join("devcluster.log"))
                .unwrap_or_default()
                .lines()
                .map(without_colours)
                .any(|line| {
                    line.contains("inverse offer answered") && line.contains("accepted=true")
                })
        },
    );
    // No miner went back there during the window.
    assert!(
        stack
            .tasks_on_agents()
            .iter()
            .all(|(_, _, agent, _)| agent_index(agent) != index),
        "{}",
        status_of(&stack)
    );

    // The first proxy's journal, read now: its volume is a leftover that the scheduler
    // destroys once the agent offers it again after the window (see the README).
    let mut journaled: std::collections::BTreeMap<_, _> = journals(dir.path())
        .into_iter()
        .map(|path| {
            let entries = journal_entries(&path);
            (path, entries)
        })
        .collect();

    // 4. The machine goes DOWN, then UP: a miner runs on it again.
    let machines = json!([machine]);
    let (code, body) = request(&stack, "POST", "/machine/down", &machines);
    assert_eq!(code, 200, "{body}");
    let (code, body) = request(&stack, "POST", "/machine/up", &machines);
    assert_eq!(code, 200, "{body}");
    let (_, body) = request(&stack, "GET", "/maintenance/schedule", &Value::Null);
    let schedule: Value = serde_json::from_str(&body).unwrap();
    assert!(
        schedule["windows"].as_array().is_none_or(Vec::is_empty),
        "the machine left the schedule: {body}"
    );
    wait_until(
        "a miner on the agent again",
        Duration::from_secs(120),
        || {
            running(&stack, "miner")
                .iter()
                .any(|(_, agent)| agent_index(agent) == index && *agent != proxy_agent)
        },
    );
    let up_height = node.height().unwrap();
    wait_until(
        "a block after the machine is up",
        Duration::from_secs(240),
        || node.height().unwrap() > up_height,
    );
    drop(stack);

    // 5. No block lost: every block any proxy journaled is in the chain or was answered.
    for path in journals(dir.path()) {
        let entries = journal_entries(&path);
        journaled.insert(path, entries);
    }
    assert_eq!(
        journaled.len(),
        2,
        "the first proxy's and the moved one's: {:?}",
        journaled.keys().collect::<Vec<_>>()
    );
    let mut blocks = 0;
    for (journal, entries) in &journaled {
        for block in entries.iter().filter(|entry| entry["type"] == "block") {
            let hash = block["hash"].as_str().unwrap();
            blocks += 1;
            let answered = entries
                .iter()
                .any(|entry| entry["type"] == "submitted" && entry["hash"] == hash);
            assert!(
                answered || node.cli(&["getblock", hash]).is_ok(),
                "block {hash} of {} is lost",
                journal.display()
            );
        }
    }
    assert!(
        blocks >= 3,
        "blocks before, after the move and after the machine came back"
    );
}
