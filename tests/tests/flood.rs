//! Flood benchmark (ignored by default; run in release):
//! `cargo test --release -p tests --test flood -- --ignored --nocapture`.
//!
//! A real `proxy` on Bitcoin Core's custom signet (where a share is not a block) holds
//! `LOAD_CONNECTIONS` (default 10,000) honest miners from `stratum-load --mode flood`, which
//! submit real shares at the signet floor (2^-16), 20 a second in all, while 64 attack
//! connections from another address range flood 2,000 junk submits a second (low-difficulty,
//! stale and duplicate in turn), reconnecting from fresh addresses as the proxy bans them, for
//! `FLOOD_SECONDS` (default 60). Targets: the honest shares' submit-to-answer p99 under 50 ms
//! with the proxy's RSS under 1 GiB. Honest shares that are blocks make new jobs for everyone;
//! their fan-out is reported beside. The test prints the proxy's RSS (and per connection) and
//! the CPU seconds of the proxy and the generator.
//!
//! The proxy runs with its defaults but for the addresses, the journal and the stats port: the
//! honest connections come from 400 loopback addresses, 25 each, within the default
//! `--max-per-ip` of 32, and ask for the floor difficulty themselves.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proxy::vardiff::SIGNET_MIN_DIFFICULTY;
use serde_json::Value;
use tests::bins::workspace_bin;
use tests::mining::KillOnDrop;
use tests::node::{free_ports, Chain, Node};
use tests::procfs::{cpu_seconds, rss_mib};
use tests::stack::{http_get_json, wait_listening};
use tests::wallet::{AddressKind, TestWallet};

/// Honest connections per source address (the proxy's default `--max-per-ip` is 32).
const PER_SOURCE: usize = 25;
const HONEST_SHARE_RATE: f64 = 20.0;
const ATTACK_RATE: f64 = 2_000.0;
const ATTACK_CONNECTIONS: usize = 64;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "flood benchmark: run in release with --ignored"]
fn honest_shares_are_answered_fast_under_a_submit_flood() {
    let connections: usize = env_or("LOAD_CONNECTIONS", 10_000);
    let seconds: u64 = env_or("FLOOD_SECONDS", 60);
    let node = Node::start(Chain::Signet).expect("a custom signet node");
    let start_height = node.height().unwrap();
    let mining_address = TestWallet::new(node.network(), "flood")
        .address(AddressKind::P2wpkh, 0)
        .to_string();
    // Below the ephemeral range: a port the last run's client sockets (in TIME_WAIT) may
    // still hold would make the proxy's bind fail.
    let port = (20_000..30_000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .unwrap();
    let http_port = free_ports(1).unwrap()[0];
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("proxy.log");
    let proxy = KillOnDrop(
        Command::new(workspace_bin("proxy"))
            .args(["--node-url", &node.rpc_url()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .args(["--fallback-address", &mining_address])
            .arg("--journal")
            .arg(dir.path().join("journal"))
            .env("PROXY_RPC_USER", node.rpc_user())
            .env("PROXY_RPC_PASSWORD", node.rpc_password())
            // Warnings (one per ban among them) to a file, not the test's output.
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = proxy.0.id();
    wait_listening(http_port, Duration::from_secs(60)).expect("the proxy listens");
    let idle_rss = rss_mib(pid);
    let sources = connections.div_ceil(PER_SOURCE);
    let mut load = KillOnDrop(
        Command::new(workspace_bin("stratum-load"))
            .args(["--pool", &format!("127.0.0.1:{port}"), "--mode", "flood"])
            .args(["--connections", &connections.to_string()])
            .args(["--sources", &sources.to_string()])
            .args(["--user", &mining_address])
            .args(["--duration", &seconds.to_string()])
            .args(["--suggest-difficulty", &SIGNET_MIN_DIFFICULTY.to_string()])
            .args(["--honest-share-rate", &HONEST_SHARE_RATE.to_string()])
            .args(["--attack-connections", &ATTACK_CONNECTIONS.to_string()])
            .args(["--attack-rate", &ATTACK_RATE.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = BufReader::new(load.0.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut peak_rss: f64 = 0.0;
    let (mut connected_rss, mut proxy_cpu_at_flood) = (None, None);
    let mut summary = None;
    let mut worst_fan_out: f64 = 0.0;
    for line in lines {
        let line = line.unwrap();
        let rss = rss_mib(pid);
        peak_rss = peak_rss.max(rss);
        let cpu = cpu_seconds(pid);
        println!("{line} {{\"proxy_rss_mib\":{rss:.0},\"proxy_cpu_s\":{cpu:.1}}}");
        let report: Value = serde_json::from_str(&line).unwrap();
        match report["report"].as_str() {
            Some("connected") => {
                connected_rss = Some(rss);
                proxy_cpu_at_flood = Some(cpu);
            }
            Some("summary") => {
                summary = Some(report);
                break;
            }
            Some(_) => {}
            None => worst_fan_out = worst_fan_out.max(report["p99_ms"].as_f64().unwrap_or(0.0)),
        }
    }
    let proxy_cpu = cpu_seconds(pid);
    peak_rss = peak_rss.max(rss_mib(pid));
    let stats = http_get_json(http_port, "/api/stats").unwrap_or_default();
    let blocks = node.height().unwrap() - start_height;
    drop((load, proxy));
    let bans = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("banned after repeated bad input"))
        .count();
    let summary = summary.expect("the generator's summary");
    let honest = &summary["honest"];
    let attack = &summary["attack"];
    let p99 = honest["accepted_latency"]["p99_ms"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let accepted = honest["accepted"].as_u64().unwrap_or(0);
    let offered = attack["offered_per_s"].as_f64().unwrap_or(0.0);
    let connected_rss = connected_rss.expect("every connection opened");
    let per_connection = (connected_rss - idle_rss) * 1024.0 * 1024.0 / connections as f64;
    println!("proxy stats: {stats}");
    println!(
        "{{\"connections\":{connections},\"seconds\":{seconds},\"honest_p50_ms\":{},\"honest_p99_ms\":{p99},\
         \"honest_accepted\":{accepted},\"attack_offered_per_s\":{offered},\"attack_answered_per_s\":{},\
         \"bans\":{bans},\"blocks\":{blocks},\"worst_fan_out_p99_ms\":{worst_fan_out:.1},\
         \"proxy_rss_mib\":{peak_rss:.0},\"proxy_idle_rss_mib\":{idle_rss:.1},\
         \"proxy_connected_rss_mib\":{connected_rss:.0},\"rss_bytes_per_connection\":{per_connection:.0},\
         \"proxy_cpu_s\":{proxy_cpu:.1},\"proxy_cpu_s_flood\":{:.1},\"generator_cpu_s\":{},\
         \"generator_cpu_s_flood\":{},\"wall_s\":{:.0}}}",
        honest["accepted_latency"]["p50_ms"],
        attack["answered_per_s"],
        proxy_cpu - proxy_cpu_at_flood.unwrap_or(0.0),
        summary["generator_cpu_s"],
        summary["generator_cpu_s_flood"],
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        honest["closed_by_pool"], 0,
        "no honest connection was dropped: {honest}"
    );
    let least = (HONEST_SHARE_RATE / 2.0 * seconds as f64) as u64;
    assert!(
        accepted >= least,
        "{accepted} honest shares accepted, fewer than {least}: {honest}"
    );
    assert!(
        offered >= ATTACK_RATE,
        "the attack offered {offered} submits/s: {attack}"
    );
    assert!(peak_rss < 1024.0, "proxy RSS {peak_rss:.0} MiB");
    assert!(p99 < 50.0, "honest share answer p99 {p99} ms: {honest}");
}
