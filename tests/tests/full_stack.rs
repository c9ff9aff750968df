//! The whole system on one machine: a Bitcoin Core node, `devcluster` (the local Mesos master
//! and agent), the `scheduler` framework, and our `executor`, which runs the `proxy` and an
//! in-process miner as Mesos tasks. Blocks mined by the Mesos-launched miner land on the node,
//! on regtest and on a custom signet (where shares are not blocks), and every coinbase pays
//! what the proxy's journaled share work says. The proxy's journal lives on a Mesos
//! persistent volume: a proxy task killed while it holds a journaled block is relaunched on
//! the same agent, as a new task on the same volume, even across a scheduler restart, and
//! submits the block and keeps paying the window.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proxy::payouts::PayoutConfig;
use tests::bins::workspace_bin;
use tests::mining::{
    block_difficulty, checked_payouts, journal_entries, journal_shares, journals, mined_by_proxy,
    paid_by_some_window, payouts, wait_until,
};
use tests::node::{Chain, Node};
use tests::stack::{Stack, StackConfig, StackExtras, Tasks};
use tests::wallet::{AddressKind, TestWallet};

/// One stack at a time on the two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
        checked_payouts(&node.block_at(h).unwrap(), h, &shares, &config);
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

/// `POST path` to devcluster's master on 127.0.0.1:`port`; the status line.
fn post(port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines().next().unwrap_or_default().to_owned()
}

/// The scheduler's proxy tasks: `(id, agent)`.
fn proxy_tasks(stack: &Stack) -> Vec<(String, String)> {
    let Some(status) = stack.status() else {
        return Vec::new();
    };
    status["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|task| task["kind"] == "proxy")
        .map(|task| {
            let text = |key: &str| task[key].as_str().unwrap_or_default().to_owned();
            (text("id"), text("agent"))
        })
        .collect()
}

#[test]
fn proxy_task_killed_with_a_held_block_is_relaunched_on_its_volume() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let node = &Node::start(Chain::Regtest).expect("node");
    let wallet = TestWallet::new(node.network(), "payout");
    let payout = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let miners = wallet.script(AddressKind::P2wpkh, 0);
    // Paid only while the window is empty: a relaunch that lost it would pay this.
    let fallback = wallet.address(AddressKind::P2wpkh, 1).to_string();
    let fallback_script = wallet.script(AddressKind::P2wpkh, 1);
    let dir = tempfile::tempdir().unwrap();
    let (executor, proxy) = (workspace_bin("executor"), workspace_bin("proxy"));
    // The first proxy started holds its first found block (journaled, not submitted);
    // the ones after it do not.
    let wrapper = dir.path().join("proxy-faulty-once");
    let marker = dir.path().join("fault-used");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif mkdir '{}' 2>/dev/null; then export PROXY_FAULT_CRASH_AFTER_JOURNAL=true; fi\nexec '{}' \"$@\"\n",
            marker.display(),
            proxy.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let start = node.height().unwrap();
    let mut stack = Stack::start_with(
        &StackConfig::for_test(Tasks::Processes { executor }, 1, 2.0, dir.path()).unwrap(),
        node,
        &payout,
        &StackExtras {
            devcluster_env: vec![(
                "MESOS_MINER_PROXY_BIN".into(),
                wrapper.display().to_string(),
            )],
            fallback_address: Some(fallback),
            rpc_secret: false,
            fault_endpoints: true,
            ..Default::default()
        },
    )
    .expect("start devcluster and the scheduler");

    // 1. The first proxy task journals a block and holds it.
    let mut held = None;
    wait_until("a journaled block", Duration::from_secs(240), || {
        held = journals(dir.path()).into_iter().find_map(|path| {
            journal_entries(&path)
                .into_iter()
                .find(|entry| entry["type"] == "block")
                .map(|entry| (path, entry["hash"].as_str().unwrap().to_owned()))
        });
        held.is_some()
    });
    let (journal, hash) = held.unwrap();
    assert!(
        journal.components().any(|c| c.as_os_str() == "volumes"),
        "the journal is on the persistent volume, outside the sandbox: {}",
        journal.display()
    );
    assert!(
        node.cli(&["getblock", &hash]).is_err(),
        "held, not submitted"
    );
    assert_eq!(node.height().unwrap(), start);
    let old_window = journal_shares(&journal);
    assert!(!old_window.is_empty(), "the miners' work before the kill");
    let proxies = proxy_tasks(&stack);
    assert_eq!(proxies.len(), 1, "{proxies:?}");
    let (first_id, first_agent) = proxies[0].clone();

    // 2. The scheduler goes away; the proxy task is killed (its executor and the proxy
    //    with it); the scheduler comes back and recovers from the master's offers.
    stack.stop_scheduler();
    let answer = post(
        stack.master_port,
        &format!("/devcluster/faults/kill-executor/exec-{first_id}"),
    );
    assert!(answer.contains("200"), "kill-executor: {answer}");
    std::thread::sleep(Duration::from_secs(2));
    stack.start_scheduler().unwrap();

    // 3. A new proxy task on the same agent submits the held block.
    wait_until(
        "the held block in the chain",
        Duration::from_secs(120),
        || node.cli(&["getblock", &hash]).is_ok(),
    );
    let mut relaunched = None;
    wait_until(
        "the new proxy task in the status",
        Duration::from_secs(30),
        || {
            relaunched = proxy_tasks(&stack)
                .into_iter()
                .find(|(id, _)| *id != first_id);
            relaunched.is_some()
        },
    );
    let (second_id, second_agent) = relaunched.unwrap();
    assert_eq!(second_id, "proxy-2", "a new task id");
    assert_eq!(second_agent, first_agent, "on the volume's agent");

    // 4. The next block pays the old window's miners, not the fallback.
    let held_height = start + 1;
    assert_eq!(
        node.block_at(held_height).unwrap().block_hash().to_string(),
        hash
    );
    wait_until("the block after it", Duration::from_secs(240), || {
        node.height().unwrap() > held_height
    });
    let next = node.block_at(held_height + 1).unwrap();
    assert!(mined_by_proxy(&next));
    let paid = payouts(&next);
    assert!(
        paid.iter().any(|out| out.script_pubkey == miners)
            && paid.iter().all(|out| out.script_pubkey != fallback_script),
        "the block after the relaunch pays {paid:?}: the window was lost"
    );
    let value = paid.iter().map(|o| o.value).sum();
    let shares = journal_shares(&journal);
    assert!(shares.len() >= old_window.len());
    assert!(
        paid_by_some_window(
            &paid,
            value,
            &shares,
            &PayoutConfig::new(fallback_script),
            block_difficulty(&next)
        ),
        "block pays {paid:?}, which no window of the journaled shares gives"
    );

    // 5. One reservation, one volume: none leaked or duplicated by the restart.
    assert_eq!(journals(dir.path()), vec![journal.clone()], "one journal");
    let volumes: Vec<PathBuf> = std::fs::read_dir(dir.path().join("cluster/volumes"))
        .unwrap()
        .flatten()
        .flat_map(|agent| std::fs::read_dir(agent.path().join("roles")).unwrap())
        .flatten()
        .flat_map(|role| std::fs::read_dir(role.path()).unwrap())
        .flatten()
        .map(|volume| volume.path())
        .collect();
    assert_eq!(volumes.len(), 1, "one volume: {volumes:?}");
    drop(stack);
}

/// Every file under `dir` whose bytes contain `needle`, not following links and skipping
/// `except` (the secret store and the agent's resolved secret files: the mechanism itself).
fn files_containing(dir: &Path, needle: &[u8], except: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if except.iter().any(|skip| path.starts_with(skip)) {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file()
                && std::fs::read(&path)
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn node_password_as_a_mesos_secret_appears_nowhere() {
    node_credentials_appear_nowhere(true);
}

/// The default way: the scheduler names the node's cookie file, which the proxy reads where it
/// is; neither the `rpcauth` password nor the cookie's is in any task, endpoint or process.
#[test]
fn node_cookie_file_credentials_appear_nowhere() {
    node_credentials_appear_nowhere(false);
}

/// Mines through a stack whose proxy gets the node's credentials as a Mesos secret
/// (`rpc_secret`) or as the node's cookie file, then looks for the passwords everywhere a
/// Mesos operator or another process could read them.
fn node_credentials_appear_nowhere(rpc_secret: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let node = &Node::start(Chain::Regtest).expect("node");
    let wallet = TestWallet::new(node.network(), "payout");
    let payout = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let dir = tempfile::tempdir().unwrap();
    let (executor, _) = (workspace_bin("executor"), workspace_bin("proxy"));
    let start = node.height().unwrap();
    let stack = Stack::start_with(
        &StackConfig::for_test(Tasks::Processes { executor }, 1, 2.0, dir.path()).unwrap(),
        node,
        &payout,
        &StackExtras {
            rpc_secret,
            ..Default::default()
        },
    )
    .expect("start devcluster and the scheduler");
    // The proxy reaches the node with the resolved secret: blocks land.
    wait_until(
        "blocks through the secret",
        Duration::from_secs(240),
        || node.height().unwrap() >= start + 2,
    );
    // The `rpcauth` password (the secret's) and the cookie's, which the node wrote at start.
    let cookie = std::fs::read_to_string(node.cookie_path()).expect("the node's cookie");
    let cookie_password = cookie.trim().split_once(':').unwrap().1.to_owned();
    for (password, stored) in [
        (node.rpc_password(), rpc_secret),
        (cookie_password.as_str(), false),
    ] {
        assert!(password.len() >= 16, "a password worth looking for");
        assert_nowhere(&stack, dir.path(), password, stored);
    }
    drop(stack);
}

/// `password` is in no endpoint of the scheduler, master or agents, no command line or proxy
/// environment, and no file under `work`, but, when it is `stored` as the secret, the secret
/// store and the one resolved secret file of the running proxy.
fn assert_nowhere(stack: &Stack, work: &Path, password: &str, stored: bool) {
    let password = password.to_owned();

    // Not in the scheduler's endpoint.
    let status = stack.status().expect("scheduler status").to_string();
    assert!(!status.contains(&password));
    // Nor in the master's state, which shows the proxy executor's environment as Mesos does:
    // the cookie path is there, the password is not.
    for path in ["/master/state", "/state"] {
        let (code, state) = stack.master_request("GET", path, "").unwrap();
        assert_eq!(code, 200, "{path}: {state}");
        assert!(!state.contains(&password), "the password is in {path}");
        assert!(
            state.contains(task_contract::env::PROXY_RPC_COOKIE_FILE),
            "{path} shows no proxy environment: {state}"
        );
    }
    // Nor in the agents' state, found as Mesos tools find them: from the master's `slaves`.
    let (_, master_state) = stack.master_request("GET", "/master/state", "").unwrap();
    let master_state: serde_json::Value = serde_json::from_str(&master_state).unwrap();
    let agents = master_state["slaves"].as_array().unwrap();
    assert!(!agents.is_empty(), "{master_state}");
    for agent in agents {
        let pid = agent["pid"].as_str().unwrap();
        let port: u16 = pid.rsplit_once(':').unwrap().1.parse().unwrap();
        let state = tests::stack::http_get_json(port, "/slave(1)/state")
            .unwrap_or_else(|| panic!("no /slave(1)/state at {pid}"))
            .to_string();
        assert!(
            !state.contains(&password),
            "the password is in {pid}'s state"
        );
        assert!(
            state.contains(task_contract::env::PROXY_RPC_COOKIE_FILE),
            "{pid}'s state shows no proxy executor: {state}"
        );
    }
    // Not in any process' arguments.
    let ps = std::process::Command::new("ps")
        .args(["-eo", "pid=,args="])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&ps.stdout);
    assert!(
        !listing.contains(&password),
        "a command line has the password"
    );
    // Not in the proxy's environment either (it reads the secret file).
    let proxy_pids: Vec<&str> = listing
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with("/proxy"))
        })
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(!proxy_pids.is_empty(), "the proxy runs: {listing}");
    for pid in proxy_pids {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(
            !environ
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "the proxy's environment has the password"
        );
    }
    // Not in any log, state, config, sandbox or journal file: only in the store and the
    // agent's resolved secret file for the running proxy.
    let store = work.join(tests::stack::SECRETS_FILE);
    let resolved = work.join("cluster/secrets");
    let leaks = files_containing(work, password.as_bytes(), &[store, resolved.clone()]);
    assert!(leaks.is_empty(), "the password is in {leaks:?}");
    let secret_files = files_containing(&resolved, password.as_bytes(), &[]);
    if !stored {
        assert!(secret_files.is_empty(), "{secret_files:?}");
        return;
    }
    assert_eq!(
        secret_files.len(),
        1,
        "one resolved secret file: {secret_files:?}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(secret_files[0].parent().unwrap())
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the secret's directory is ours alone");
}
