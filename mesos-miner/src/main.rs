//! `mesos-miner`: the whole system on this machine, in one command.
//!
//! `mesos-miner local` starts a Bitcoin Core node on regtest or a custom signet (Core is
//! built from source and cached on first use), `devcluster` with this machine's CPUs, and
//! the `scheduler`, which launches the proxy and miners through our executor as processes
//! or, with `--containerizer docker`, as Docker containers of the workspace's images (built first);
//! then shows a live view of the chain height, blocks found and each miner's hash rate and
//! shares, and which CPUs are revocable (with `--revocable-cpus`, agents offer
//! oversubscribed slack too). Ctrl-C (or `--secs`) stops every process it started and the
//! containers they ran; the work dir, with the proxy's found-block journal on its volume and
//! the logs, stays. The dashboard's URL (the scheduler's `--http`) is printed at start and in
//! the live view.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use clap::Subcommand;
use mesos_miner::bins::build_workspace_bins;
use mesos_miner::node::{Chain, Node};
use mesos_miner::stack::{Stack, StackConfig, StackExtras, Tasks};
use mesos_miner::wallet::{AddressKind, TestWallet};

#[derive(Debug, Parser)]
#[command(name = "mesos-miner", about = "The mesos-miner system on this machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mine regtest (or custom signet) blocks on a local Mesos-compatible cluster.
    Local(LocalArgs),
}

#[derive(Debug, clap::Args)]
struct LocalArgs {
    /// The chain: `regtest` (every share a block) or `signet` (a custom signet with
    /// real, low proof of work: shares and blocks differ).
    #[arg(long, default_value = "regtest", value_parser = ["regtest", "signet"])]
    chain: String,
    /// Simulated agents (the machine's CPUs are split between them, at least
    /// half a CPU each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    agents: u16,
    /// How the proxy and miners run, as the scheduler's `--containerizer`:
    /// `process` (our executor on each agent) or `docker` (containers of
    /// this workspace's images; podman's Docker API is started if no engine
    /// answers).
    #[arg(long, value_enum, default_value = "process")]
    containerizer: LocalContainerizer,
    /// `--containerizer docker`, by its former name.
    #[arg(long, hide = true, conflicts_with = "containerizer")]
    containers: bool,
    /// With `--containerizer docker`: the CLI the agents drive, `docker` (Mesos' way) or
    /// `podman` (same commands; set CONTAINERS_CONF as docker/engine does).
    #[arg(long, default_value = "docker")]
    docker_cli: String,
    /// Stop after this many seconds [default: run until Ctrl-C].
    #[arg(long, alias = "seconds")]
    secs: Option<u64>,
    /// Build the programs (and Bitcoin Core, if not cached yet), then exit.
    #[arg(long)]
    prepare: bool,
    /// Revocable CPUs each agent offers on top of its share of the machine's
    /// (devcluster's oversubscription): miners take them too, and the live
    /// view marks them. 0 = none.
    #[arg(long, default_value_t = 0.0, value_parser = parse_revocable_cpus)]
    revocable_cpus: f64,
    /// Which CPUs miners take: `regular`, `revocable` or `both` (the
    /// scheduler's `--cpu-policy`).
    #[arg(long, default_value = "both", value_parser = ["regular", "revocable", "both"])]
    cpu_policy: String,
    /// Where the cluster keeps sandboxes (and the proxy its journal), and the logs.
    #[arg(long, default_value = "mesos-miner-local")]
    work_dir: PathBuf,
}

/// `--containerizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LocalContainerizer {
    Process,
    Docker,
}

/// `--revocable-cpus`: a number of CPUs, 0 or more.
fn parse_revocable_cpus(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(cpus) if cpus.is_finite() && cpus >= 0.0 => Ok(cpus),
        _ => Err(format!("{text:?} is not a number of CPUs (0 or more)")),
    }
}

fn main() -> anyhow::Result<()> {
    let loaded = cli_config::load::<Cli>(&cli_config::Program {
        env_prefix: "MESOS_MINER_LOCAL_",
        sections: &[],
        section_flags: &[],
    })?;
    if loaded.print_config {
        print!("{}", cli_config::render(&loaded.effective()));
        return Ok(());
    }
    match loaded.args.command {
        Command::Local(args) => local(args),
    }
}

/// `mesos-miner local`.
fn local(args: LocalArgs) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let agents = usize::from(args.agents);
    let cpus_per_agent = cpus as f64 / agents as f64;
    if cpus_per_agent < 0.5 {
        anyhow::bail!(
            "--agents {agents}: this machine's {cpus} CPUs give each agent {cpus_per_agent:.2}, \
             less than the half CPU an agent needs (at most {} agents here)",
            cpus * 2
        );
    }
    let docker = args.containers || args.containerizer == LocalContainerizer::Docker;
    if args.cpu_policy == "revocable" && args.revocable_cpus == 0.0 {
        anyhow::bail!(
            "--cpu-policy revocable with --revocable-cpus 0: no miner could ever start \
             (give the agents revocable CPUs, or use `both`)"
        );
    }
    std::fs::create_dir_all(&args.work_dir)?;
    let work_dir = args.work_dir.canonicalize()?;
    // Each run is a new cluster (new agent ids) on a new regtest node: an earlier run's
    // scheduler state names a framework, tasks and a proxy volume on agents that no longer
    // exist, and failing over to it would wait out the vanished agent's timeout before mining.
    let stale_state = work_dir.join(mesos_miner::stack::SCHEDULER_STATE_DIR);
    if stale_state.exists() {
        std::fs::remove_dir_all(&stale_state)?;
        eprintln!(
            "a new cluster and node: the last run's scheduler state in {} is discarded",
            stale_state.display()
        );
    }

    eprintln!("building the programs and Bitcoin Core (first run only)...");
    let bins = build_workspace_bins(&["executor", "proxy", "devcluster", "scheduler"]);
    let core = mesos_miner::bitcoin_core::core_binaries()?;
    if args.prepare {
        eprintln!("ready: {}", core.bitcoind.display());
        return Ok(());
    }
    let tasks = if docker {
        eprintln!("building the images...");
        let images = mesos_miner::containers::build_images("latest")?;
        Tasks::Containers {
            miner_image: images.miner,
            proxy_image: images.proxy,
            docker_host: mesos_miner::containers::engine().to_owned(),
            docker_cli: args.docker_cli.clone(),
        }
    } else {
        Tasks::Processes {
            executor: bins[0].clone(),
        }
    };
    let chain = match args.chain.as_str() {
        "signet" => Chain::Signet,
        _ => Chain::Regtest,
    };
    let node = &Node::start(chain)?;
    let payout = TestWallet::new(node.network(), "local")
        .address(AddressKind::P2wpkh, 0)
        .to_string();
    // The node's RPC password reaches the proxy as a Mesos secret (a file-based secret volume
    // devcluster resolves from its store, mounted into the container with --containerizer docker), never
    // in a TaskInfo, an environment or `docker inspect`.
    let extras = StackExtras {
        rpc_secret: true,
        revocable_cpus: args.revocable_cpus,
        cpu_policy: Some(args.cpu_policy.clone()),
        ..StackExtras::default()
    };
    let stack = Stack::start_with(
        &StackConfig {
            devcluster: bins[2].clone(),
            scheduler: bins[3].clone(),
            tasks,
            agents,
            cpus_per_agent,
            ports: (31000, 32000),
            work_dir: work_dir.clone(),
            // Executors inherit this: their logs land in the task sandboxes.
            log_level: "info".into(),
            kill_grace_secs: 3.0,
        },
        node,
        &payout,
        &extras,
    )?;

    let dashboard = format!("http://127.0.0.1:{}/", stack.status_port);
    eprintln!("dashboard: {dashboard}");

    // Ctrl-C reaches the whole process group; we then stop what is left in order.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a signal runtime");
            runtime.block_on(tokio::signal::ctrl_c()).ok();
            stop.store(true, Ordering::SeqCst);
        });
    }
    let start_height = node.height()?;
    let started = Instant::now();
    let tty = std::io::stdout().is_terminal();
    let mut height = start_height;
    while !stop.load(Ordering::SeqCst)
        && args
            .secs
            .is_none_or(|s| started.elapsed() < Duration::from_secs(s))
    {
        height = node.height().unwrap_or(height);
        let status = stack.status().unwrap_or_default();
        let mut view = String::new();
        if tty {
            view.push_str("\x1b[2J\x1b[H");
        }
        view.push_str(&format!(
            "mesos-miner local stack ({}, {}) — {}s  chain height {height}  blocks found {}  total {:.2} MH/s\n",
            chain.name(),
            if docker { "containers" } else { "processes" },
            started.elapsed().as_secs(),
            height.saturating_sub(start_height),
            status["total_hash_rate"].as_f64().unwrap_or(0.0) / 1e6
        ));
        view.push_str(&format!("dashboard: {dashboard}\n"));
        view.push_str(&format!(
            "revocable CPUs in use {:.2} (offered per agent {:.2}, policy {})\n",
            status["revocable_cpus"].as_f64().unwrap_or(0.0),
            args.revocable_cpus,
            args.cpu_policy,
        ));
        view.push_str(&format!(
            "{:<28} {:<6} {:<10} {:>5} {:<9} {:>9} {:>9} {:>9}\n",
            "task", "kind", "state", "cpus", "cpu kind", "MH/s", "accepted", "rejected"
        ));
        for task in status["tasks"].as_array().into_iter().flatten() {
            let id = task["id"].as_str().unwrap_or("?");
            let report = &status["hash_rates"][id];
            let cpu_kind = if task["revocable"].as_bool().unwrap_or(false) {
                "revocable"
            } else {
                "regular"
            };
            view.push_str(&format!(
                "{:<28} {:<6} {:<10} {:>5} {:<9} {:>9.2} {:>9} {:>9}\n",
                id,
                task["kind"].as_str().unwrap_or("?"),
                task["state"].as_str().unwrap_or("?"),
                task["cpus"].as_f64().unwrap_or(0.0),
                cpu_kind,
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
    drop(stack);
    println!(
        "mesos-miner local: {} blocks found in {} s (chain height {height})",
        height.saturating_sub(start_height),
        started.elapsed().as_secs()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_args(argv: &[&str]) -> Result<LocalArgs, clap::Error> {
        let mut full = vec!["mesos-miner", "local"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).map(|cli| match cli.command {
            Command::Local(args) => args,
        })
    }

    #[test]
    fn no_agents_is_an_error_and_the_containerizer_has_the_schedulers_name() {
        assert!(local_args(&["--agents", "0"]).is_err());
        assert_eq!(local_args(&["--agents", "3"]).unwrap().agents, 3);
        let default = local_args(&[]).unwrap();
        assert_eq!(default.containerizer, LocalContainerizer::Process);
        assert!(!default.containers);
        let docker = local_args(&["--containerizer", "docker"]).unwrap();
        assert_eq!(docker.containerizer, LocalContainerizer::Docker);
        // The former spelling still works, alone.
        assert!(local_args(&["--containers"]).unwrap().containers);
        assert!(local_args(&["--containers", "--containerizer", "process"]).is_err());
    }
}
