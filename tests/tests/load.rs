//! Load benchmark (ignored by default; run in release):
//! `cargo test --release -p tests --test load -- --ignored --nocapture`.
//! A real `proxy` on a Bitcoin Core regtest node holds `LOAD_CONNECTIONS` (default
//! 19,900: the per-process open-file hard limit here is 20,000) subscribed
//! miners from `stratum-load`; blocks mined on the node make new jobs, and the
//! generator reports each job's notify fan-out (p50/p99/max, target p99 under 150 ms) and its
//! own CPU time, while this test reads the proxy's RSS (and from it the bytes per connection)
//! and CPU time. `LOAD_PROXY_BIN=path` runs another proxy binary against the same generator.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::bins::workspace_bin;
use tests::mining::KillOnDrop;
use tests::node::{Chain, Node};
use tests::procfs::{cpu_seconds, rss_mib};
use tests::wallet::{AddressKind, TestWallet};

#[test]
#[ignore = "load benchmark: run in release with --ignored"]
fn proxy_holds_many_miners_and_fans_out_jobs() {
    let connections: usize = std::env::var("LOAD_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(19_900);
    let node = &Node::start(Chain::Regtest).unwrap();
    let mining_address = TestWallet::new(node.network(), "load")
        .address(AddressKind::P2wpkh, 0)
        .to_string();
    // Below the ephemeral range: a port the last run's 19,900 client sockets (in TIME_WAIT)
    // may still hold would make the proxy's bind fail.
    let port = (20_000..30_000)
        .find(|p| std::net::TcpListener::bind(("0.0.0.0", *p)).is_ok())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // LOAD_PROXY_BIN runs another build of the proxy (an A/B comparison in one session).
    let proxy_bin = std::env::var_os("LOAD_PROXY_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_bin("proxy"));
    // Killed on drop: a failing assertion must not leave 20,000 sockets' worth of proxy behind.
    let proxy = KillOnDrop(
        Command::new(proxy_bin)
            .args([
                "--node-url",
                &node.rpc_url(),
                "--listen",
                &format!("0.0.0.0:{port}"),
            ])
            .args(["--fallback-address", &mining_address])
            .arg("--journal")
            .arg(dir.path().join("journal"))
            // The generator spreads its connections over 200 loopback addresses.
            .args(["--max-per-ip", "200"])
            .env("PROXY_RPC_USER", node.rpc_user())
            .env("PROXY_RPC_PASSWORD", node.rpc_password())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_mib(proxy.0.id());
    let mut load = KillOnDrop(
        Command::new(workspace_bin("stratum-load"))
            .args(["--pool", &format!("127.0.0.1:{port}")])
            .args(["--connections", &connections.to_string(), "--jobs", "5"])
            .args(["--sources", "200"])
            .args(["--user", &mining_address])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(load.0.stdout.take().unwrap()).lines();
    let mut peak_rss: f64 = 0.0;
    let mut results = Vec::new();
    let started = Instant::now();
    // Each block mined on the node makes the proxy send a new job to everyone.
    let miner_thread = {
        let addr = mining_address.clone();
        let cli = node.cli_command();
        std::thread::spawn(move || {
            for _ in 0..40 {
                std::thread::sleep(Duration::from_secs(3));
                let _ = Command::new(&cli[0])
                    .args(&cli[1..])
                    .args(["generatetoaddress", "1", &addr])
                    .output();
            }
        })
    };
    let mut proxy_cpu_at_last_job = None;
    let mut connected_rss = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let rss = rss_mib(proxy.0.id());
        // At the first report every connection is open and has had its jobs.
        connected_rss.get_or_insert(rss);
        peak_rss = peak_rss.max(rss);
        let cpu = cpu_seconds(proxy.0.id());
        if let Some(last) = proxy_cpu_at_last_job.replace(cpu) {
            println!(
                "{{\"proxy_cpu_ms_since_last_job\":{:.0}}}",
                (cpu - last) * 1e3
            );
        }
        println!("{line}");
        results.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        if results.len() == 5 {
            break;
        }
    }
    peak_rss = peak_rss.max(rss_mib(proxy.0.id()));
    drop((load, proxy));
    drop(miner_thread);
    let worst_p99 = results
        .iter()
        .map(|r| r["p99_ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let per_connection =
        (connected_rss.unwrap_or(peak_rss) - idle_rss) * 1024.0 * 1024.0 / connections as f64;
    println!(
        "{{\"connections\":{connections},\"proxy_rss_mib\":{peak_rss:.0},\"proxy_idle_rss_mib\":{idle_rss:.1},\"rss_bytes_per_connection\":{per_connection:.0},\"worst_p99_ms\":{worst_p99:.1},\"seconds\":{:.0}}}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(results.len(), 5, "five jobs reached every connection");
    assert!(peak_rss < 1024.0, "proxy RSS {peak_rss:.0} MiB");
    assert!(worst_p99 < 150.0, "notify p99 {worst_p99:.1} ms");
}
