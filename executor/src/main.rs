//! `executor`: started by a Mesos agent for mesos-miner tasks.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mesos-miner's Mesos executor: runs a miner task in-process (threads = the
/// task's CPUs) or the proxy as a child process, and reports their states and
/// hash rates to the agent.
///
/// It takes no arguments: a Mesos agent starts it with MESOS_FRAMEWORK_ID,
/// MESOS_EXECUTOR_ID, MESOS_AGENT_ENDPOINT, MESOS_DIRECTORY, MESOS_CHECKPOINT,
/// MESOS_RECOVERY_TIMEOUT, MESOS_SUBSCRIPTION_BACKOFF_MAX and
/// MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD in its environment. The proxy binary is
/// `proxy` next to this one, or MESOS_MINER_PROXY_BIN. RUST_LOG sets the log level.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {}

fn main() {
    Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let code = match run() {
        Ok(()) => 0,
        Err(error) => {
            tracing::error!("{error:#}");
            1
        }
    };
    // Exit without waiting for miner threads that did not stop in time.
    std::process::exit(code);
}

fn run() -> anyhow::Result<()> {
    let config = executor::ExecutorConfig::from_env().context("reading the agent's environment")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime
        .block_on(executor::run(config))
        .context("executor stopped")?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}
