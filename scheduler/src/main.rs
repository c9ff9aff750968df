//! `scheduler`: the command line of mesos-miner's Mesos framework scheduler.
//!
//! Loads the configuration (`--config`: TOML, or JSON for a `.json` file, through
//! `cli-config`: flags over environment over file over defaults), the master secret from the
//! environment (never from arguments or the file), and the persisted state. The node's
//! credentials are never the scheduler's: it names the node's cookie file or a Mesos secret
//! for the proxy task. Then it either prints the framework it would SUBSCRIBE as (`--check`) or
//! runs the driver against the master(s), optionally serving `GET /api/status` and
//! `GET /metrics` (`--http`), with alert webhooks (`--alert-url`). Every flag can also be
//! given as an environment variable. Ctrl-C exits without tearing the framework down: the
//! master keeps its tasks for `failover_timeout_secs` and a restarted scheduler fails over
//! to them.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use mesos::client::{Auth, ClientConfig};
use mesos::ContentType;
use scheduler::config::Containerizer;
use scheduler::cpu_policy::CpuPolicy;
use scheduler::limits::{Constraint, CpuLimit};
use scheduler::{Config, Driver, DriverConfig, Framework, PersistedState, StateStore};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// Variables that used to carry the node's RPC password into the proxy task's environment;
/// set, they are an error that says what replaced them.
const RETIRED_PASSWORD_ENV: [&str; 2] =
    ["MESOS_MINER_RPC_PASSWORD", "MESOS_MINER_NODE_RPC_PASSWORD"];

/// The scheduler's environment prefix and the tables of its config file besides the flags:
/// [`Config`]'s sections.
const PROGRAM: cli_config::Program = cli_config::Program {
    env_prefix: "MESOS_MINER_",
    sections: &[
        "framework",
        "proxy",
        "miner",
        "executor",
        "containers",
        "node",
        "offers",
        "backoff",
        "limits",
        "maintenance",
    ],
    // Each of these flags overrides one key of a section; the file sets that key (the flags'
    // aliases are refused with them).
    section_flags: &[
        ("node_url", "node.url"),
        ("rpc_cookie_file", "node.rpc_cookie_file"),
        ("rpc_secret", "node.rpc_secret"),
        ("containerizer", "containers.containerizer"),
        ("miner_image", "containers.miner_image"),
        ("proxy_image", "containers.proxy_image"),
        ("executor", "executor.command"),
        ("proxy_cpus", "proxy.cpus"),
        ("proxy_mem_mb", "proxy.mem_mb"),
        ("miner_mem_mb", "miner.mem_mb"),
        ("cpu_policy", "miner.cpu_policy"),
        ("max_cpus", "limits.max_cpus"),
        ("quota_cpus", "limits.quota_cpus"),
        ("constraint", "limits.constraints"),
        ("principal", "framework.principal"),
    ],
};
/// Environment variable holding the secret of `--principal`.
const SECRET_ENV: &str = "MESOS_MINER_SECRET";

/// mesos-miner framework scheduler.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The Mesos master(s), `host:port`, `http://host:port` or
    /// `https://host:port`, comma
    /// separated or repeated; tried in turn when one fails.
    #[arg(
        long,
        env = "MESOS_MINER_MASTER",
        default_value = "127.0.0.1:5050",
        value_delimiter = ','
    )]
    master: Vec<String>,
    /// Principal to authenticate as (HTTP basic auth, also
    /// `FrameworkInfo.principal`); its secret comes from MESOS_MINER_SECRET.
    #[arg(long, env = "MESOS_MINER_PRINCIPAL")]
    principal: Option<String>,
    /// Directory of the persisted state (framework id, tasks).
    #[arg(long, env = "MESOS_MINER_STATE_DIR", default_value = "scheduler-state")]
    state_dir: PathBuf,
    /// Serve `GET /api/status` and the dashboard (`/`, `/api/v1/...`) on this
    /// address (e.g. 127.0.0.1:8080).
    #[arg(long, env = "MESOS_MINER_HTTP")]
    http: Option<SocketAddr>,
    /// Block explorer link for the dashboard's blocks, `{hash}` and `{height}`
    /// replaced, e.g. `https://mempool.space/block/{hash}`.
    #[arg(long, env = "MESOS_MINER_EXPLORER_URL", value_parser = explorer_url)]
    explorer_url: Option<String>,
    /// Block rewards go here: the proxy's fallback payout and the miners'
    /// worker names (overrides the config file's `payout_address`).
    #[arg(long, env = "MESOS_MINER_PAYOUT_ADDRESS")]
    payout_address: Option<String>,
    /// Encoding spoken to the master: `protobuf` or `json`.
    #[arg(long, env = "MESOS_MINER_CONTENT_TYPE", default_value = "protobuf")]
    content_type: ContentType,
    /// PEM file of CA certificates to trust for an `https://` master, besides
    /// the built-in roots.
    #[arg(long, env = "MESOS_MINER_MASTER_CA_FILE")]
    master_ca_file: Option<PathBuf>,
    /// The node's JSON-RPC URL handed to the proxy (overrides `node.url`).
    #[arg(long, env = "MESOS_MINER_NODE_URL", alias = "node-rpc-url")]
    node_url: Option<String>,
    /// The node's cookie file on the agents, which the proxy reads (overrides
    /// `node.rpc_cookie_file`; Docker proxies get its directory mounted read-only).
    #[arg(
        long,
        env = "MESOS_MINER_RPC_COOKIE_FILE",
        conflicts_with = "rpc_secret"
    )]
    rpc_cookie_file: Option<String>,
    /// A Mesos secret holding the node's `user:password`, given to the proxy as a
    /// file (overrides `node.rpc_secret`).
    #[arg(long, env = "MESOS_MINER_RPC_SECRET")]
    rpc_secret: Option<String>,
    /// How tasks run: `process` (our executor on the agent) or `docker`
    /// (the miner and proxy images; overrides `containers.containerizer`).
    #[arg(long, env = "MESOS_MINER_CONTAINERIZER")]
    containerizer: Option<CliContainerizer>,
    /// Docker image of the miner and executor (`containers.miner_image`).
    #[arg(long, env = "MESOS_MINER_MINER_IMAGE")]
    miner_image: Option<String>,
    /// Docker image of the proxy (`containers.proxy_image`).
    #[arg(long, env = "MESOS_MINER_PROXY_IMAGE")]
    proxy_image: Option<String>,
    /// Command the agent runs for our executor in process mode (`executor.command`).
    #[arg(long, env = "MESOS_MINER_EXECUTOR")]
    executor: Option<String>,
    /// CPUs of the proxy task (`proxy.cpus`).
    #[arg(long, env = "MESOS_MINER_PROXY_CPUS")]
    proxy_cpus: Option<f64>,
    /// Memory of the proxy task in MB (`proxy.mem_mb`).
    #[arg(long, env = "MESOS_MINER_PROXY_MEM_MB", alias = "proxy-mem")]
    proxy_mem_mb: Option<f64>,
    /// Memory of each miner task in MB (`miner.mem_mb`).
    #[arg(long, env = "MESOS_MINER_MINER_MEM_MB", alias = "miner-mem")]
    miner_mem_mb: Option<f64>,
    /// Which CPUs miners take: `regular`, `revocable` (oversubscribed slack,
    /// preemptible) or `both`, in separate miner tasks (`miner.cpu_policy`;
    /// default both). The proxy always runs on regular CPUs.
    #[arg(long, env = "MESOS_MINER_CPU_POLICY")]
    cpu_policy: Option<CpuPolicy>,
    /// Most CPUs all miners together take: a number (`8`, `2.5`) or a
    /// percentage of the cluster's regular CPUs seen in offers (`25%`)
    /// (`limits.max_cpus`).
    #[arg(long, env = "MESOS_MINER_MAX_CPUS")]
    max_cpus: Option<CpuLimit>,
    /// The role's CPU quota, enforced by the scheduler: regular CPUs of all
    /// our tasks (proxy and executors included) stay within it; revocable
    /// CPUs do not count (`limits.quota_cpus`).
    #[arg(long, env = "MESOS_MINER_QUOTA_CPUS")]
    quota_cpus: Option<f64>,
    /// A Marathon-style placement constraint `field:OPERATOR[:value]` on an
    /// agent attribute or `hostname`: LIKE / UNLIKE (a regular expression),
    /// CLUSTER, UNIQUE; repeat for more (added to `limits.constraints`;
    /// the environment variable holds one, as regular expressions may have
    /// commas).
    #[arg(long = "constraint", env = "MESOS_MINER_CONSTRAINT")]
    constraints: Vec<Constraint>,
    /// Check the configuration and state, print the framework, and exit.
    #[arg(long, env = "MESOS_MINER_CHECK")]
    check: bool,
    /// Alert webhooks (a relaunched proxy).
    #[command(flatten)]
    alerts: alerts::SenderArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CliContainerizer {
    Process,
    Docker,
}

/// `--explorer-url`: an `http(s)://` pattern naming `{hash}` or `{height}`.
fn explorer_url(s: &str) -> Result<String, String> {
    dashboard::api::check_explorer_url(s)
}

/// The file's sections as the [`Config`] (every key optional, unknown keys errors).
fn file_config(loaded: &cli_config::Loaded<Args>) -> Result<Config> {
    let table = cli_config::toml::Value::Table(loaded.sections.clone());
    let config: Config = table.try_into().with_context(|| match &loaded.file {
        Some(path) => format!("config file {}", path.display()),
        None => "configuration".into(),
    })?;
    Ok(config)
}

fn load_config(args: &Args, mut config: Config) -> Result<Config> {
    if let Some(name) = RETIRED_PASSWORD_ENV
        .iter()
        .find(|name| std::env::var_os(name).is_some())
    {
        bail!(
            "{name} is no longer read: a password in the proxy task's environment is shown by \
             Mesos' state endpoints and docker inspect; give the proxy the node's cookie file \
             (--rpc-cookie-file, node.rpc_cookie_file) or a Mesos secret (--rpc-secret, \
             node.rpc_secret)"
        );
    }
    if let Some(address) = &args.payout_address {
        config.payout_address = address.clone();
    }
    if let Some(principal) = &args.principal {
        config.framework.principal = Some(principal.clone());
    }
    if let Some(url) = &args.node_url {
        config.node.rpc_url = url.clone();
    }
    // A flag names the one way: it replaces the file's, whichever that was.
    if let Some(path) = &args.rpc_cookie_file {
        config.node.rpc_cookie_file = Some(path.clone());
        config.node.rpc_secret = None;
    }
    if let Some(name) = &args.rpc_secret {
        config.node.rpc_secret = Some(name.clone());
        config.node.rpc_cookie_file = None;
    }
    if let Some(containerizer) = args.containerizer {
        config.containers.containerizer = match containerizer {
            CliContainerizer::Process => Containerizer::Process,
            CliContainerizer::Docker => Containerizer::Docker,
        };
    }
    if let Some(image) = &args.miner_image {
        config.containers.miner_image = image.clone();
    }
    if let Some(image) = &args.proxy_image {
        config.containers.proxy_image = image.clone();
    }
    if let Some(command) = &args.executor {
        config.executor.command = command.clone();
    }
    if let Some(cpus) = args.proxy_cpus {
        config.proxy.cpus = cpus;
    }
    if let Some(mem) = args.proxy_mem_mb {
        config.proxy.mem_mb = mem;
    }
    if config.proxy.alert_urls.is_empty() {
        // One set of webhooks for the cluster: the proxy's alerts go where ours do.
        config.proxy.alert_urls = args.alerts.alert_url.clone();
    }
    if let Some(mem) = args.miner_mem_mb {
        config.miner.mem_mb = mem;
    }
    if let Some(policy) = args.cpu_policy {
        config.miner.cpu_policy = policy;
    }
    if let Some(limit) = args.max_cpus {
        config.limits.max_cpus = Some(limit);
    }
    if let Some(quota) = args.quota_cpus {
        config.limits.quota_cpus = Some(quota);
    }
    config
        .limits
        .constraints
        .extend(args.constraints.iter().cloned());
    config.validate().context("invalid configuration")?;
    Ok(config)
}

/// The flags and the configuration's sections.
fn effective(
    loaded: &cli_config::Loaded<Args>,
    config: &Config,
) -> Result<cli_config::toml::Table> {
    let mut table = loaded.effective();
    let sections =
        cli_config::toml::Table::try_from(config).context("rendering the configuration")?;
    for (key, mut value) in sections {
        // `payout_address` is a flag too, shown with the flags.
        if PROGRAM.sections.contains(&key.as_str()) {
            if key == "proxy" {
                redact_alert_urls(&mut value);
            }
            table.insert(key, value);
        }
    }
    Ok(table)
}

/// Webhook URLs carry their receiver's token (Slack, Discord): shown as `--alert-url` is.
fn redact_alert_urls(proxy: &mut cli_config::toml::Value) {
    if let Some(cli_config::toml::Value::Array(urls)) = proxy.get_mut("alert_urls") {
        for url in urls {
            *url = cli_config::toml::Value::String(cli_config::REDACTED.into());
        }
    }
}

/// The client's settings: HTTP Basic as `principal` (`--principal` or the file's
/// `[framework] principal`) with its secret from the environment.
fn client_config(args: &Args, principal: Option<&str>) -> Result<ClientConfig> {
    let auth = match (principal, std::env::var(SECRET_ENV)) {
        (Some(principal), Ok(secret)) => Some(Auth::Basic {
            principal: principal.to_owned(),
            secret,
        }),
        (Some(principal), Err(_)) => {
            bail!("principal {principal:?} needs its secret in {SECRET_ENV}")
        }
        (None, Ok(_)) => {
            bail!("{SECRET_ENV} is set but no principal is (--principal or [framework] principal)")
        }
        (None, Err(_)) => None,
    };
    Ok(ClientConfig {
        auth,
        content_type: args.content_type,
        ca_file: args.master_ca_file.clone(),
        ..ClientConfig::default()
    })
}

async fn run(args: Args, framework: Framework) -> Result<()> {
    let mut driver_config = DriverConfig::new(args.master.clone(), &args.state_dir);
    driver_config.client = client_config(&args, framework.config().framework.principal.as_deref())?;
    let sender = alerts::Sender::start(&args.alerts.config())?;
    let driver = Driver::new(driver_config, framework)?.with_alerts(sender);
    if let Some(addr) = args.http {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the status endpoint on {addr}"))?;
        info!(%addr, "status endpoint: GET /api/status; dashboard: http://{addr}/");
        let dashboard = scheduler::status::DashboardConfig {
            explorer_url: args.explorer_url.clone(),
        };
        tokio::spawn(scheduler::status::serve(
            listener,
            driver.status(),
            dashboard,
        ));
    }
    tokio::select! {
        result = driver.run() => {
            if let Err(error) = &result {
                error!(%error, "driver stopped");
            }
            result.context("scheduler driver")
        }
        signal = tokio::signal::ctrl_c() => {
            signal.context("waiting for Ctrl-C")?;
            info!("interrupted: exiting without teardown (a restart fails over)");
            Ok(())
        }
    }
}

fn main() -> Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let loaded = cli_config::load::<Args>(&PROGRAM)?;
    let config = load_config(&loaded.args, file_config(&loaded)?)?;
    if loaded.print_config {
        print!("{}", cli_config::render(&effective(&loaded, &config)?));
        return Ok(());
    }
    let args = loaded.args;
    let store = StateStore::new(&args.state_dir);
    let state = store
        .load()
        .context("loading the persisted state")?
        .unwrap_or_else(PersistedState::default);
    let tasks = state.book.tasks().count();
    let framework = Framework::new(config, state);
    if args.check {
        let info = framework
            .subscribe_call()
            .subscribe
            .context("no SUBSCRIBE body")?
            .framework_info;
        println!(
            "master {}: framework {:?} as user {:?}, roles {:?}, id {}, {} known task(s), \
             tasks as {:?}, miner CPUs {}",
            args.master.join(","),
            info.name,
            info.user,
            info.roles,
            framework.framework_id().unwrap_or("(new)"),
            tasks,
            framework.config().containers.containerizer,
            framework.config().miner.cpu_policy,
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = runtime.block_on(run(args, framework));
    // Do not wait on connections still open (the event stream, the pool).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("scheduler").chain(args.iter().copied()))
    }

    #[test]
    fn limit_flags_reach_the_config() {
        let args = parse(&[
            "--cpu-policy",
            "revocable",
            "--max-cpus",
            "40%",
            "--quota-cpus",
            "6",
            "--constraint",
            "rack:LIKE:r{1,2}",
            "--constraint",
            "hostname:UNIQUE",
            "--rpc-cookie-file",
            "/var/lib/bitcoind/.cookie",
        ])
        .unwrap();
        let config = load_config(&args, Config::default()).unwrap();
        assert_eq!(config.miner.cpu_policy, CpuPolicy::Revocable);
        assert_eq!(config.limits.max_cpus, Some(CpuLimit::Percent(40.0)));
        assert_eq!(config.limits.quota_cpus, Some(6.0));
        let constraints: Vec<String> = config
            .limits
            .constraints
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(constraints, ["rack:LIKE:r{1,2}", "hostname:UNIQUE"]);
        assert_eq!(
            config.node.rpc_cookie_file.as_deref(),
            Some("/var/lib/bitcoind/.cookie")
        );
    }

    #[test]
    fn a_credentials_flag_replaces_the_files_way() {
        let mut file = Config::default();
        file.node.rpc_cookie_file = Some("/data/.cookie".into());
        let args = parse(&["--rpc-secret", "node-rpc"]).unwrap();
        let config = load_config(&args, file).unwrap();
        assert_eq!(config.node.rpc_secret.as_deref(), Some("node-rpc"));
        assert_eq!(config.node.rpc_cookie_file, None);
        let error = format!(
            "{:#}",
            load_config(&parse(&[]).unwrap(), Config::default()).unwrap_err()
        );
        assert!(error.contains("node.rpc_cookie_file"), "{error}");
        assert!(parse(&["--rpc-secret", "a", "--rpc-cookie-file", "/b"]).is_err());
    }

    #[test]
    fn bad_limit_flags_are_clear_errors() {
        for (args, says) in [
            (&["--cpu-policy", "spare"][..], "regular|revocable|both"),
            (&["--max-cpus", "150%"][..], "percentage"),
            (&["--max-cpus=-2"][..], "percentage"),
            (&["--constraint", "rack:NEAR:x"][..], "unknown operator"),
        ] {
            let error = parse(args).unwrap_err().to_string();
            assert!(error.contains(says), "{args:?}: {error}");
        }
        let args = parse(&["--quota-cpus", "0"]).unwrap();
        let error = format!("{:#}", load_config(&args, Config::default()).unwrap_err());
        assert!(error.contains("limits.quota_cpus"), "{error}");
    }
}
