//! The Mesos side of the full stack for one Bitcoin Core node: `devcluster` (the
//! local master and agents) and the `scheduler`, which launches the proxy and
//! miners as processes under our executor or as Docker containers. Used by
//! `mesos-miner local` and the full-stack tests alike.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::bins::Stopping;

/// Why the stack could not be started or asked something: a file, process or socket of
/// its own failed, or the scheduler's configuration could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A work-dir file, a process start or a connection to the master failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The scheduler's configuration could not be written as JSON.
    #[error("the scheduler's configuration: {0}")]
    Config(#[from] serde_json::Error),
}

use crate::node::{free_ports, Node};

/// How the scheduler runs tasks.
#[derive(Debug, Clone)]
pub enum Tasks {
    /// Our executor as a process (`executor`, with `proxy` beside it).
    Processes {
        /// The executor binary.
        executor: PathBuf,
    },
    /// Docker containers of these images, through `docker_host`'s engine.
    Containers {
        /// The miner (and executor) image.
        miner_image: String,
        /// The proxy image.
        proxy_image: String,
        /// `DOCKER_HOST` for the agent's docker CLI.
        docker_host: String,
        /// The CLI the agent drives (`docker`, or `podman`, which takes the
        /// same commands and flags).
        docker_cli: String,
    },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The `devcluster` binary.
    pub devcluster: PathBuf,
    /// The `scheduler` binary.
    pub scheduler: PathBuf,
    /// Processes or containers.
    pub tasks: Tasks,
    /// Number of agents.
    pub agents: usize,
    /// CPUs of each agent.
    pub cpus_per_agent: f64,
    /// Inclusive port range of each agent.
    pub ports: (u16, u16),
    /// Sandboxes, scheduler state and logs go here.
    pub work_dir: PathBuf,
    /// `RUST_LOG` for both programs (and the executors they start).
    pub log_level: String,
    /// Seconds a killed task has before it is killed hard.
    pub kill_grace_secs: f64,
}

impl StackConfig {
    /// For tests: this build's `devcluster` and `scheduler`, `agents` agents
    /// of `cpus_per_agent` CPUs sharing a port range that starts at a free
    /// port (two ports per agent), a 2 s kill grace, logs in `work_dir`.
    pub fn for_test(
        tasks: Tasks,
        agents: usize,
        cpus_per_agent: f64,
        work_dir: &std::path::Path,
    ) -> Result<Self, StackError> {
        let first = free_ports(1)?[0];
        Ok(Self {
            devcluster: crate::bins::workspace_bin("devcluster"),
            scheduler: crate::bins::workspace_bin("scheduler"),
            tasks,
            agents,
            cpus_per_agent,
            ports: (first, first.saturating_add(2 * agents as u16 - 1)),
            work_dir: work_dir.to_path_buf(),
            log_level: "info".into(),
            kill_grace_secs: 2.0,
        })
    }
}

/// What tests may add to a [`StackConfig`].
#[derive(Debug, Clone, Default)]
pub struct StackExtras {
    /// Environment of devcluster, which its executors (and the proxy they
    /// start) inherit.
    pub devcluster_env: Vec<(String, String)>,
    /// The proxy's fallback address (scheduler `proxy.fallback_address`);
    /// `None` = the payout address.
    pub fallback_address: Option<String>,
    /// The node's credentials as a Mesos secret: devcluster resolves
    /// [`NODE_RPC_SECRET`] from a store file (`--secrets-file`), the
    /// scheduler only names it (`node.rpc_secret`). Otherwise the scheduler
    /// names the node's cookie file (`node.rpc_cookie_file`). Either way it
    /// never gets the password.
    pub rpc_secret: bool,
    /// Serve devcluster's fault-injection endpoints (`--fault-endpoints`).
    pub fault_endpoints: bool,
    /// Revocable CPUs each agent offers on top of its regular ones
    /// (devcluster `--revocable-cpus`); 0 = none.
    pub revocable_cpus: f64,
    /// The scheduler's `miner.cpu_policy` (`regular`, `revocable`, `both`);
    /// `None` = its default (both).
    pub cpu_policy: Option<String>,
    /// Agents on hosts of their own, in order: (network namespace, address
    /// there) (devcluster `--agent-host NETNS=IP`), pinged every
    /// `agent_ping_timeout_secs`, unreachable after 3 missed pings.
    pub agent_hosts: Vec<(String, std::net::IpAddr)>,
    /// devcluster's `--agent-ping-timeout-secs` for `agent_hosts`.
    pub agent_ping_timeout_secs: f64,
    /// The node's address as the proxy reaches it (an address of this host
    /// the agents' hosts can route to; the node must listen there);
    /// `None` = 127.0.0.1.
    pub node_host: Option<std::net::IpAddr>,
    /// Scheduler settings, by section, put over the stack's own (a JSON
    /// object such as `{"proxy": {"unreachable_timeout_secs": 5}}`).
    pub scheduler_settings: Option<serde_json::Value>,
}

/// Puts every key of the object `over` onto `base`, recursing into objects.
fn merge_json(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                merge_json(
                    base.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// The secret holding the node's `user:password` with [`StackExtras::rpc_secret`].
pub const NODE_RPC_SECRET: &str = "mesos-miner/node-rpc";
/// The secret store file devcluster reads, in the work dir.
pub const SECRETS_FILE: &str = "devcluster-secrets.json";

/// How to start the scheduler (again).
struct SchedulerLaunch {
    binary: PathBuf,
    master_port: u16,
    config_path: PathBuf,
    state_dir: PathBuf,
    status_port: u16,
    log_level: String,
    log: PathBuf,
}

/// The scheduler's state directory under the stack's work dir.
pub const SCHEDULER_STATE_DIR: &str = "scheduler-state";

/// The scheduler's environment prefix (its flags' variables).
const SCHEDULER_ENV_PREFIX: &str = "MESOS_MINER_";
/// What devcluster and the programs of its tasks read from their environment: devcluster's
/// flags, the executor's and the scheduler's settings (`MESOS_MINER_*`), the proxy's and the
/// miner's flags.
const TASK_ENV_PREFIXES: [&str; 4] = ["DEVCLUSTER_", SCHEDULER_ENV_PREFIX, "PROXY_", "MINER_"];

/// Leaves out of `command`'s environment every inherited variable named `<prefix>...`.
fn without_env_prefix(command: &mut Command, prefix: &str) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with(prefix) {
            command.env_remove(name);
        }
    }
}

impl SchedulerLaunch {
    fn spawn(&self) -> Result<Stopping, StackError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = Command::new(&self.binary);
        // The configuration is the file this stack wrote: none of the user's own scheduler
        // settings (MESOS_MINER_*) may override it unseen.
        without_env_prefix(&mut command, SCHEDULER_ENV_PREFIX);
        command
            .args([
                "--master",
                &format!("http://127.0.0.1:{}", self.master_port),
            ])
            .arg("--config")
            .arg(&self.config_path)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--http", &format!("127.0.0.1:{}", self.status_port)])
            .env("RUST_LOG", &self.log_level)
            .stdout(Stdio::null())
            .stderr(log);
        Ok(Stopping(command.spawn()?, "scheduler"))
    }
}

/// A running devcluster + scheduler; both are stopped on drop (scheduler first).
pub struct Stack {
    scheduler: Option<Stopping>,
    cluster: Option<Stopping>,
    launch: SchedulerLaunch,
    /// The master's port on 127.0.0.1.
    pub master_port: u16,
    /// The scheduler's `/api/status` port on 127.0.0.1.
    pub status_port: u16,
}

impl Stack {
    /// Starts devcluster, then the scheduler for `node`, paying `payout`.
    pub fn start(config: &StackConfig, node: &Node, payout: &str) -> Result<Self, StackError> {
        Self::start_with(config, node, payout, &StackExtras::default())
    }

    /// [`Stack::start`] with `extras`.
    pub fn start_with(
        config: &StackConfig,
        node: &Node,
        payout: &str,
        extras: &StackExtras,
    ) -> Result<Self, StackError> {
        std::fs::create_dir_all(&config.work_dir)?;
        let ports = free_ports(2)?;
        let (master_port, status_port) = (ports[0], ports[1]);
        let log = |name: &str| -> std::io::Result<std::fs::File> {
            std::fs::File::create(config.work_dir.join(name))
        };
        let mut cluster = Command::new(&config.devcluster);
        // Its executors, and the proxy and miners they start, inherit its environment (as a
        // Mesos agent's do): none of the user's settings for these programs may reach them
        // unseen. What a test means them to get, it passes in `devcluster_env`.
        for prefix in TASK_ENV_PREFIXES {
            without_env_prefix(&mut cluster, prefix);
        }
        cluster
            .args(["--listen", &format!("127.0.0.1:{master_port}")])
            .args(["--agents", &config.agents.to_string()])
            .args(["--cpus", &config.cpus_per_agent.to_string()])
            .args(["--mem-mb", "4096"])
            .args(["--ports", &format!("{}-{}", config.ports.0, config.ports.1)])
            .arg("--work-dir")
            .arg(config.work_dir.join("cluster"))
            .env("RUST_LOG", &config.log_level)
            .envs(extras.devcluster_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log("devcluster.log")?);
        let mut scheduler_config = serde_json::json!({
            "framework": { "name": "mesos-miner-local", "failover_timeout_secs": 300 },
            "proxy": { "cpus": 0.5, "mem_mb": 256 },
            "miner": { "mem_mb": 64 },
            "executor": { "kill_grace_period_secs": config.kill_grace_secs },
            "node": {
                "url": node.rpc_url(),
                "rpc_cookie_file": node.cookie_path().display().to_string(),
            },
            "payout_address": payout,
        });
        if extras.fault_endpoints {
            cluster.arg("--fault-endpoints");
        }
        if extras.revocable_cpus > 0.0 {
            cluster.args(["--revocable-cpus", &extras.revocable_cpus.to_string()]);
        }
        for (netns, ip) in &extras.agent_hosts {
            cluster.args(["--agent-host", &format!("{netns}={ip}")]);
        }
        if !extras.agent_hosts.is_empty() {
            cluster
                .args([
                    "--agent-ping-timeout-secs",
                    &extras.agent_ping_timeout_secs.to_string(),
                ])
                .args(["--max-agent-ping-timeouts", "3"]);
        }
        if let Some(policy) = &extras.cpu_policy {
            scheduler_config["miner"]["cpu_policy"] = policy.clone().into();
        }
        if let Some(fallback) = &extras.fallback_address {
            scheduler_config["proxy"]["fallback_address"] = fallback.clone().into();
        }
        if extras.rpc_secret {
            let store = config.work_dir.join(SECRETS_FILE);
            // A work dir kept from an earlier run (`mesos-miner local`'s) has one already.
            match std::fs::remove_file(&store) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&store)?;
            let entry = format!("{}:{}", node.rpc_user(), node.rpc_password());
            file.write_all(
                serde_json::json!({ NODE_RPC_SECRET: entry })
                    .to_string()
                    .as_bytes(),
            )?;
            cluster.arg("--secrets-file").arg(&store);
            scheduler_config["node"] = serde_json::json!({
                "url": node.rpc_url(),
                "rpc_secret": NODE_RPC_SECRET,
            });
        }
        match &config.tasks {
            Tasks::Processes { executor } => {
                scheduler_config["executor"]["command"] = executor.display().to_string().into();
            }
            Tasks::Containers {
                miner_image,
                proxy_image,
                docker_host,
                docker_cli,
            } => {
                cluster
                    .args(["--containerizers", "docker,mesos"])
                    .args(["--docker-cli", docker_cli])
                    .env("DOCKER_HOST", docker_host);
                scheduler_config["containers"] = serde_json::json!({
                    "containerizer": "docker",
                    "miner_image": miner_image,
                    "proxy_image": proxy_image,
                });
            }
        }
        if let Some(host) = extras.node_host {
            scheduler_config["node"]["url"] = node.rpc_url_on(host).into();
        }
        if let Some(settings) = &extras.scheduler_settings {
            merge_json(&mut scheduler_config, settings);
        }
        let cluster = Stopping(cluster.spawn()?, "devcluster");
        let config_path = config.work_dir.join("scheduler.json");
        std::fs::write(
            &config_path,
            serde_json::to_string_pretty(&scheduler_config)?,
        )?;
        wait_listening(master_port, Duration::from_secs(30))?;
        let launch = SchedulerLaunch {
            binary: config.scheduler.clone(),
            master_port,
            config_path,
            state_dir: config.work_dir.join(SCHEDULER_STATE_DIR),
            status_port,
            log_level: config.log_level.clone(),
            log: config.work_dir.join("scheduler.log"),
        };
        let scheduler = launch.spawn()?;
        Ok(Self {
            scheduler: Some(scheduler),
            cluster: Some(cluster),
            launch,
            master_port,
            status_port,
        })
    }

    /// Stops the scheduler (SIGTERM: it exits without a teardown, so the
    /// master keeps its tasks for the failover timeout).
    pub fn stop_scheduler(&mut self) {
        drop(self.scheduler.take());
    }

    /// Starts the scheduler again with the same config and state dir.
    pub fn start_scheduler(&mut self) -> Result<(), StackError> {
        self.scheduler = Some(self.launch.spawn()?);
        Ok(())
    }

    /// The scheduler's `/api/status` document, if it answers.
    pub fn status(&self) -> Option<serde_json::Value> {
        http_get_json(self.status_port, "/api/status")
    }

    /// `POST /devcluster/faults/<fault>` to the master (with
    /// [`StackExtras::fault_endpoints`]); the HTTP status line.
    pub fn fault(&self, fault: &str) -> Result<String, StackError> {
        let text = self.master_http("POST", &format!("/devcluster/faults/{fault}"), "")?;
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }

    /// `METHOD path` to the master with a JSON `body` (none when empty), e.g. its
    /// maintenance endpoints: the status code and the body of the answer.
    pub fn master_request(
        &self,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<(u16, String), StackError> {
        let text = self.master_http(method, path, body)?;
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((code, body))
    }

    /// One HTTP/1.0 exchange with the master: the whole answer.
    fn master_http(&self, method: &str, path: &str, body: &str) -> Result<String, StackError> {
        Ok(http_exchange(
            self.master_port,
            method,
            path,
            body,
            Duration::from_secs(10),
        )?)
    }

    /// `(id, kind, state)` of every task the scheduler knows.
    pub fn tasks(&self) -> Vec<(String, String, String)> {
        self.tasks_on_agents()
            .into_iter()
            .map(|(id, kind, _, state)| (id, kind, state))
            .collect()
    }

    /// `(id, kind, agent id, state)` of every task the scheduler knows.
    pub fn tasks_on_agents(&self) -> Vec<(String, String, String, String)> {
        let Some(status) = self.status() else {
            return Vec::new();
        };
        status["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|task| {
                let text = |key: &str| task[key].as_str().unwrap_or_default().to_owned();
                (text("id"), text("kind"), text("agent"), text("state"))
            })
            .collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        drop(self.scheduler.take());
        drop(self.cluster.take());
    }
}

/// Waits until something listens on 127.0.0.1:`port`.
pub fn wait_listening(port: u16, timeout: Duration) -> std::io::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) => return Ok(()),
            Err(error) if std::time::Instant::now() >= deadline => return Err(error),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// One HTTP/1.0 exchange with 127.0.0.1:`port` (a JSON `body`, none when empty), reading
/// for at most `timeout`: the whole answer, status line and headers included.
fn http_exchange(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

/// `GET path` on 127.0.0.1:`port`, parsed as JSON.
pub fn http_get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    let text = http_exchange(port, "GET", path, "", Duration::from_secs(2)).ok()?;
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

#[cfg(test)]
mod tests {
    use super::merge_json;

    #[test]
    fn scheduler_settings_go_over_the_stacks_own_key_by_key() {
        let mut config = serde_json::json!({
            "proxy": { "cpus": 0.5, "mem_mb": 256 },
            "payout_address": "a",
        });
        merge_json(
            &mut config,
            &serde_json::json!({
                "proxy": { "unreachable_timeout_secs": 5, "cpus": 1 },
                "miner": { "unreachable_timeout_secs": 9 },
            }),
        );
        assert_eq!(
            config,
            serde_json::json!({
                "proxy": { "cpus": 1, "mem_mb": 256, "unreachable_timeout_secs": 5 },
                "miner": { "unreachable_timeout_secs": 9 },
                "payout_address": "a",
            })
        );
    }
}
