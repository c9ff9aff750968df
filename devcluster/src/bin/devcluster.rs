//! `devcluster`: runs a local Mesos-compatible master with N agents until
//! Ctrl-C or SIGTERM, then kills the executors (and removes the containers)
//! it started.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Parser;
use devcluster::{Cluster, ClusterConfig};

/// A local Mesos-compatible master and agents speaking the v1 HTTP APIs.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the master's HTTP API.
    #[arg(long, default_value = "127.0.0.1:5050")]
    listen: SocketAddr,
    /// Number of agents.
    #[arg(long, default_value_t = 1)]
    agents: usize,
    /// CPUs per agent (default: this machine's).
    #[arg(long)]
    cpus: Option<f64>,
    /// Memory per agent in MB (default: this machine's).
    #[arg(long, alias = "mem")]
    mem_mb: Option<f64>,
    /// Port range per agent, BEGIN-END.
    #[arg(long, default_value = "31000-32000")]
    ports: String,
    /// CPUs each agent offers as revocable on top of --cpus, to frameworks
    /// with REVOCABLE_RESOURCES (Mesos' fixed resource estimator); with
    /// --fault-endpoints, `qos-revoke[/AGENT_ID]` kills what runs on them.
    #[arg(long, default_value_t = 0.0)]
    revocable_cpus: f64,
    /// Attributes of one agent in Mesos' `--attributes` syntax
    /// (`rack:r1;zone:a`); repeat it, once per agent in order.
    #[arg(long)]
    agent_attributes: Vec<String>,
    /// Root of the executor sandboxes.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Seconds between HEARTBEAT events.
    #[arg(long, default_value_t = 15.0)]
    heartbeat_secs: f64,
    /// Containerizers of the agents, as Mesos' `--containerizers`: `docker`
    /// adds the Docker containerizer (DOCKER containers through the docker
    /// CLI); `mesos` (executors as processes) is always on.
    #[arg(long, value_delimiter = ',', default_value = "mesos")]
    containerizers: Vec<Containerizer>,
    /// The docker CLI the Docker containerizer runs (it honours DOCKER_HOST).
    #[arg(long, alias = "docker", default_value = "docker")]
    docker_cli: PathBuf,
    /// Require frameworks to authenticate (HTTP Basic) as a principal of
    /// `--credentials`, as Mesos' flag of the same name. Required when
    /// `--listen` is not a loopback address.
    #[arg(long, alias = "authenticate_frameworks", requires = "credentials")]
    authenticate_frameworks: bool,
    /// Mesos credentials file (a path or file:// URL), JSON:
    /// {"credentials":[{"principal":"...","secret":"..."}]}.
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Hostnames of the agents in turn (Mesos' agent `--hostname`), e.g.
    /// `127.0.0.1,localhost`: agents with different hostnames are
    /// different machines to the maintenance endpoints.
    #[arg(long, env = "DEVCLUSTER_AGENT_HOSTNAMES", value_delimiter = ',')]
    agent_hostnames: Vec<String>,
    /// Serve the fault injection endpoints (POST /devcluster/faults/...)
    /// and the maintenance endpoints (/maintenance/schedule, /machine/down,
    /// /machine/up); for tests only.
    #[arg(long)]
    fault_endpoints: bool,
    /// On Ctrl-C or SIGTERM, shut the executors down as an agent does (their tasks get
    /// their kill grace) and wait up to this many seconds before killing what is left.
    #[arg(long, default_value = "12", value_parser = shutdown_secs)]
    shutdown_secs: std::time::Duration,
    /// The secret store REFERENCE secrets resolve from: a JSON object of
    /// name -> value (or name -> {key -> value}).
    #[arg(long)]
    secrets_file: Option<PathBuf>,
    /// Puts an agent on a host of its own, NETNS=IP: it listens at IP inside
    /// the network namespace NETNS (made with `ip netns add`, reachable from
    /// here), its executors run there, and the master pings it across the
    /// link. Repeat it, once per agent in order (needs root and `ip`).
    #[arg(long, value_parser = agent_host)]
    agent_host: Vec<devcluster::AgentHost>,
    /// Seconds the master waits for a ping of an agent on a host of its own
    /// (Mesos' `--agent_ping_timeout`); pings go out at this interval.
    #[arg(long, default_value = "15", value_parser = ping_timeout)]
    agent_ping_timeout_secs: std::time::Duration,
    /// Missed pings in a row after which such an agent is unreachable
    /// (Mesos' `--max_agent_ping_timeouts`).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    max_agent_ping_timeouts: u32,
}

/// `--agent-host NETNS=IP`.
fn agent_host(text: &str) -> anyhow::Result<devcluster::AgentHost> {
    let (netns, ip) = text
        .split_once('=')
        .with_context(|| format!("--agent-host {text:?} is not NETNS=IP"))?;
    if netns.is_empty() || netns.contains('/') {
        bail!("--agent-host {text:?}: {netns:?} is not a network namespace name");
    }
    let ip = ip
        .parse()
        .with_context(|| format!("--agent-host {text:?}: {ip:?} is not an IP address"))?;
    Ok(devcluster::AgentHost {
        netns: netns.to_owned(),
        ip,
    })
}

/// `--agent-ping-timeout-secs`: positive, and no more than devcluster's longest interval.
fn ping_timeout(text: &str) -> anyhow::Result<std::time::Duration> {
    let secs: f64 = text
        .parse()
        .with_context(|| format!("--agent-ping-timeout-secs {text:?}: not a number"))?;
    match devcluster::seconds(secs) {
        Some(timeout) if !timeout.is_zero() => Ok(timeout),
        _ => bail!(
            "--agent-ping-timeout-secs {secs} must be positive and at most {}",
            devcluster::MAX_INTERVAL.as_secs()
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Containerizer {
    Mesos,
    Docker,
}

/// devcluster's config file and environment: `DEVCLUSTER_*`.
const PROGRAM: cli_config::Program = cli_config::Program {
    env_prefix: "DEVCLUSTER_",
    sections: &[],
    section_flags: &[],
};

fn parse_ports(text: &str) -> anyhow::Result<(u64, u64)> {
    let (begin, end) = text
        .split_once('-')
        .with_context(|| format!("--ports {text:?} is not BEGIN-END"))?;
    let range = (begin.trim().parse()?, end.trim().parse()?);
    if range.0 > range.1 {
        bail!("--ports {text:?} is empty");
    }
    Ok(range)
}

/// `--heartbeat-secs`: positive, and no more than devcluster's longest
/// interval.
fn heartbeat(secs: f64) -> anyhow::Result<std::time::Duration> {
    match devcluster::seconds(secs) {
        Some(interval) if !interval.is_zero() => Ok(interval),
        _ => bail!(
            "--heartbeat-secs {secs} must be positive and at most {}",
            devcluster::MAX_INTERVAL.as_secs()
        ),
    }
}

/// `--shutdown-secs`: zero or more, and no more than devcluster's longest interval.
fn shutdown_secs(text: &str) -> anyhow::Result<std::time::Duration> {
    let secs: f64 = text
        .parse()
        .with_context(|| format!("--shutdown-secs {text:?}: not a number"))?;
    devcluster::seconds(secs).with_context(|| {
        format!(
            "--shutdown-secs {secs} must be between 0 and {}",
            devcluster::MAX_INTERVAL.as_secs()
        )
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let loaded = cli_config::load::<Args>(&PROGRAM)?;
    if loaded.print_config {
        print!("{}", cli_config::render(&loaded.effective()));
        return Ok(());
    }
    let args = loaded.args;
    let defaults = ClusterConfig::default();
    let heartbeat_interval = heartbeat(args.heartbeat_secs)?;
    let credentials = match (&args.credentials, args.authenticate_frameworks) {
        (Some(path), true) => Some(devcluster::auth::Credentials::from_file(path)?),
        (Some(_), false) => bail!("--credentials is only used with --authenticate-frameworks"),
        (None, _) => None,
    };
    let config = ClusterConfig {
        listen: args.listen,
        agents: args.agents,
        cpus: args.cpus.unwrap_or(defaults.cpus),
        mem_mb: args.mem_mb.unwrap_or(defaults.mem_mb),
        ports: parse_ports(&args.ports)?,
        revocable_cpus: args.revocable_cpus,
        agent_attributes: args.agent_attributes,
        work_dir: args.work_dir.unwrap_or(defaults.work_dir.clone()),
        heartbeat_interval,
        credentials,
        fault_endpoints: args.fault_endpoints,
        agent_hostnames: args.agent_hostnames,
        docker: args
            .containerizers
            .contains(&Containerizer::Docker)
            .then_some(args.docker_cli),
        secrets: args.secrets_file,
        agent_hosts: args.agent_host,
        agent_ping_timeout: args.agent_ping_timeout_secs,
        max_agent_ping_timeouts: args.max_agent_ping_timeouts,
        ..defaults
    };
    let cluster = Cluster::start(config)
        .await
        .context("starting devcluster")?;
    if args.fault_endpoints {
        tracing::warn!("fault injection endpoints are enabled");
    }
    println!("master listening on {}", cluster.master_addr());
    for agent in cluster.agents() {
        println!("agent {} at {}", agent.id, agent.endpoint);
    }
    // Executors run in their own process groups, so a signal to us does not
    // reach them: stop on Ctrl-C or SIGTERM and kill them ourselves.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    let left = cluster.shutdown(args.shutdown_secs).await;
    if left > 0 {
        tracing::warn!(
            executors = left,
            "executors still running after --shutdown-secs: killing them"
        );
    }
    drop(cluster);
    // Let the monitors deliver the kills.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_heartbeats_are_errors() {
        assert_eq!(heartbeat(15.0).unwrap(), std::time::Duration::from_secs(15));
        for absurd in [1e300, 0.0, -1.0, f64::NAN, f64::INFINITY] {
            let error = heartbeat(absurd).unwrap_err().to_string();
            assert!(error.contains("--heartbeat-secs"), "{error}");
        }
    }

    #[test]
    fn agent_hosts_and_ping_timeouts() {
        let host = agent_host("mmh0=10.231.5.10").unwrap();
        assert_eq!(host.netns, "mmh0");
        assert_eq!(host.ip, "10.231.5.10".parse::<std::net::IpAddr>().unwrap());
        for bad in ["mmh0", "=10.0.0.1", "a/b=10.0.0.1", "mmh0=ten"] {
            let error = agent_host(bad).unwrap_err().to_string();
            assert!(error.contains("--agent-host"), "{error}");
        }
        assert_eq!(
            ping_timeout("0.5").unwrap(),
            std::time::Duration::from_millis(500)
        );
        for bad in ["0", "-1", "nan", "1e300", "x"] {
            assert!(ping_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_ports("31000-32000").unwrap(), (31000, 32000));
        assert!(parse_ports("32000-31000").is_err());
        assert!(parse_ports("31000").is_err());
    }
}
