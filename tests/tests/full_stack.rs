//! The whole system on one machine: a regtest node pair, `devcluster` (the
//! local Mesos master and agent), the `scheduler` framework, and our
//! `executor`, which runs the `proxy` and an in-process miner as Mesos tasks.
//! Blocks mined by the Mesos-launched miner land on the node.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::bins::{workspace_bin, Stopping};
use tests::regtest::{free_ports, RegtestPair};

#[test]
fn mesos_launched_proxy_and_miner_mine_regtest_blocks() {
    let pair = RegtestPair::start().expect("regtest pair");
    let node = &pair.a;
    let payout = node.cli(&["getnewaddress"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3).unwrap();
    let (master_port, task_port) = (ports[0], ports[1]);
    // Built up front so the executor finds `proxy` beside itself.
    let (executor, _) = (workspace_bin("executor"), workspace_bin("proxy"));

    let _cluster = Stopping(
        Command::new(workspace_bin("devcluster"))
            .args(["--listen", &format!("127.0.0.1:{master_port}")])
            .args(["--agents", "1", "--cpus", "2", "--mem", "4096"])
            .args(["--ports", &format!("{task_port}-{}", task_port + 1)])
            .arg("--work-dir")
            .arg(dir.path().join("cluster"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start devcluster"),
        "devcluster",
    );
    let config = serde_json::json!({
        "framework": { "name": "mesos-miner-test", "failover_timeout_secs": 60 },
        "proxy": { "cpus": 0.5, "mem_mb": 256 },
        "miner": { "mem_mb": 64 },
        "executor": { "command": executor.display().to_string(), "kill_grace_period_secs": 2 },
        "node": { "rpc_url": node.rpc_url(), "rpc_user": node.rpc_user() },
        "payout_address": payout.trim(),
    });
    let config_path = dir.path().join("scheduler.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let start = node
        .cli(&["getblockcount"])
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let _scheduler = Stopping(
        Command::new(workspace_bin("scheduler"))
            .args(["--master", &format!("http://127.0.0.1:{master_port}")])
            .arg("--config")
            .arg(&config_path)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .env("MESOS_MINER_NODE_RPC_PASSWORD", node.rpc_password())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .spawn()
            .expect("start scheduler"),
        "scheduler",
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let height: u64 = node.cli(&["getblockcount"]).unwrap().parse().unwrap();
        if height >= start + 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no blocks from the Mesos-launched miner (height {height}, started at {start})"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
