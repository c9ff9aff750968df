//! `scheduler`: the command line of mesos-miner's Mesos framework scheduler.
//!
//! For now it only loads and checks what a run would use (`--check`): the
//! JSON configuration (defaults when no file is given), the node RPC
//! password from the environment (never from arguments), and the persisted
//! state, and prints the framework it would SUBSCRIBE as. The HTTP driver
//! loop over `mesos::client::SchedulerClient` comes next.

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use scheduler::config::Secret;
use scheduler::{Config, Framework, PersistedState, StateStore};
use tracing_subscriber::EnvFilter;

/// Environment variable holding the node's RPC password.
const NODE_RPC_PASSWORD_ENV: &str = "MESOS_MINER_NODE_RPC_PASSWORD";

/// mesos-miner framework scheduler.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The Mesos master, `host:port`.
    #[arg(long, env = "MESOS_MINER_MASTER", default_value = "127.0.0.1:5050")]
    master: String,
    /// JSON configuration file (see config-examples/); defaults when absent.
    /// The node RPC password comes from MESOS_MINER_NODE_RPC_PASSWORD.
    #[arg(long, env = "MESOS_MINER_SCHEDULER_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the persisted state (framework id, tasks).
    #[arg(long, env = "MESOS_MINER_STATE_DIR", default_value = "scheduler-state")]
    state_dir: PathBuf,
    /// Check the configuration and state, print the framework, and exit.
    #[arg(long)]
    check: bool,
}

fn load_config(args: &Args) -> Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text =
                fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => Config::default(),
    };
    if let Ok(password) = std::env::var(NODE_RPC_PASSWORD_ENV) {
        config.node.rpc_password = Secret::new(password);
    }
    config.validate().context("invalid configuration")?;
    Ok(config)
}

fn main() -> Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let args = Args::parse();
    let config = load_config(&args)?;
    let store = StateStore::new(&args.state_dir);
    let state = store
        .load()
        .context("loading the persisted state")?
        .unwrap_or_else(PersistedState::default);
    let tasks = state.book.tasks().count();
    let framework = Framework::new(config, state);
    let info = framework
        .subscribe_call()
        .subscribe
        .context("no SUBSCRIBE body")?
        .framework_info;
    println!(
        "master {}: framework {:?} as user {:?}, roles {:?}, id {}, {} known task(s)",
        args.master,
        info.name,
        info.user,
        info.roles,
        framework.framework_id().unwrap_or("(new)"),
        tasks,
    );
    if !args.check {
        bail!("the scheduler driver loop is not implemented yet; run with --check");
    }
    Ok(())
}
