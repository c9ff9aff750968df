//! Scheduler configuration: framework identity, task sizes, the executor to
//! launch tasks through, the node RPC endpoint handed to the proxy, offer
//! filtering and relaunch backoff.
//!
//! Everything is `serde`-deserializable (from the TOML, or JSON, config file's tables) and
//! every field has a default, so a config file only names what it changes.
//! [`Config::validate`] checks the values before the scheduler uses them.
//! No field holds a password: the node's credentials reach the proxy as a
//! Mesos secret or as the path of the node's cookie file ([`NodeCredentials`]).

use mesos::v1::{framework_info, FrameworkId, FrameworkInfo};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The whole scheduler configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Who we are to the master.
    pub framework: FrameworkConfig,
    /// The stratum proxy task (one per framework).
    pub proxy: ProxyConfig,
    /// Miner tasks (one per accepted offer, taking all its CPUs).
    pub miner: MinerConfig,
    /// The custom executor miners (and, as processes, the proxy) run under.
    pub executor: ExecutorConfig,
    /// Processes on the agent, or Docker containers, and their images.
    pub containers: ContainerConfig,
    /// The Bitcoin node the proxy talks to.
    pub node: NodeConfig,
    /// How offers we do not use are declined.
    pub offers: OfferConfig,
    /// Relaunch backoff after task failures.
    pub backoff: BackoffConfig,
    /// The operator's limits: most CPUs, quota, placement constraints.
    pub limits: crate::limits::LimitsConfig,
    /// How agents going into maintenance are drained.
    pub maintenance: crate::maintenance::MaintenanceConfig,
    /// Where block rewards go: the proxy's fallback payout address and the
    /// miners' worker names (`<address>.<task id>`). Must suit the node's chain.
    pub payout_address: String,
}

/// `FrameworkInfo` fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrameworkConfig {
    /// Framework name shown by the master.
    pub name: String,
    /// The role resources are allocated to (and reserved for).
    pub role: String,
    /// Unix user tasks run as.
    pub user: String,
    /// Principal for authentication, if the master requires one.
    pub principal: Option<String>,
    /// Seconds the master keeps our tasks alive while we are disconnected.
    pub failover_timeout_secs: f64,
    /// Ask agents to checkpoint our tasks (survive agent restarts).
    pub checkpoint: bool,
    /// Seconds between explicit reconciliations of our tasks while
    /// subscribed (they also follow every SUBSCRIBED); 0 = only then.
    pub reconcile_interval_secs: f64,
}

impl Default for FrameworkConfig {
    fn default() -> Self {
        Self {
            name: "mesos-miner".into(),
            role: "mesos-miner".into(),
            user: "root".into(),
            principal: None,
            failover_timeout_secs: 7.0 * 24.0 * 3600.0,
            checkpoint: true,
            reconcile_interval_secs: 300.0,
        }
    }
}

/// Size and ports of the proxy task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// CPUs for the proxy task.
    pub cpus: f64,
    /// Memory for the proxy task, in MB.
    pub mem_mb: f64,
    /// A fixed stratum port to take from offers; `None` = the first free one.
    pub stratum_port: Option<u64>,
    /// A fixed HTTP port to take from offers; `None` = the next free one.
    pub http_port: Option<u64>,
    /// Seconds the proxy may stay UNREACHABLE before it is replaced
    /// (0 = wait for it forever).
    pub unreachable_timeout_secs: f64,
    /// The persistent volume its journal lives on.
    pub volume: VolumeConfig,
    /// Paid the whole reward while the PPLNS window is empty; `None` =
    /// `payout_address`.
    pub fallback_address: Option<String>,
    /// Webhooks the proxy POSTs its alerts to (blocks found, workers offline, low hash
    /// rate); empty = the scheduler's own `--alert-url`. They travel in the task's
    /// environment, which Mesos shows to whoever can read its state.
    pub alert_urls: Vec<String>,
    /// Seconds without a share before the proxy says a worker is offline (0: never);
    /// `None` = the proxy's default.
    pub alert_offline_secs: Option<u64>,
    /// Pool hash rate (H/s) below which the proxy alerts (0: never); `None` = the
    /// proxy's default.
    pub alert_min_hash_rate: Option<f64>,
}

/// The proxy's persistent volume: its journal (found blocks not yet
/// submitted, the PPLNS window) outlives the task, on resources reserved for
/// `framework.role` on one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeConfig {
    /// Reserve resources and keep the journal on a persistent volume
    /// (`false`: in the sandbox, lost on every relaunch).
    pub enabled: bool,
    /// Size of the volume, MB.
    pub disk_mb: f64,
    /// Where the volume appears, relative to the proxy's sandbox.
    pub container_path: String,
    /// Seconds to wait for the volume's agent to offer it again before
    /// starting the proxy fresh elsewhere (0 = wait forever).
    pub agent_gone_timeout_secs: f64,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            disk_mb: 64.0,
            container_path: "proxy-data".into(),
            agent_gone_timeout_secs: 300.0,
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            cpus: 0.5,
            mem_mb: 256.0,
            stratum_port: None,
            http_port: None,
            unreachable_timeout_secs: 300.0,
            volume: VolumeConfig::default(),
            fallback_address: None,
            alert_urls: Vec::new(),
            alert_offline_secs: None,
            alert_min_hash_rate: None,
        }
    }
}

/// Size of miner tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinerConfig {
    /// Memory per miner task, in MB.
    pub mem_mb: f64,
    /// Offers with fewer CPUs left than this get no miner.
    pub min_cpus: f64,
    /// Seconds a miner may stay UNREACHABLE (its agent partitioned or lost)
    /// before it is killed and forgotten (0 = keep it forever); its agent's
    /// offers get a new miner if the agent comes back.
    pub unreachable_timeout_secs: f64,
    /// Which CPUs miners take: `regular`, `revocable` or `both`.
    pub cpu_policy: crate::cpu_policy::CpuPolicy,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            mem_mb: 64.0,
            min_cpus: 0.1,
            unreachable_timeout_secs: 600.0,
            cpu_policy: crate::cpu_policy::CpuPolicy::default(),
        }
    }
}

/// The custom executor (`ExecutorInfo` type CUSTOM) that runs our tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Command the agent runs to start the executor (run without a shell).
    pub command: String,
    /// Its arguments (after argv\[0\], which is `command`). Never secrets.
    pub arguments: Vec<String>,
    /// URIs the agent fetches into the sandbox first (the executor binary...).
    pub uris: Vec<UriConfig>,
    /// CPUs reserved for the executor itself, on top of the task's.
    pub cpus: f64,
    /// Memory reserved for the executor itself, in MB, on top of the task's.
    pub mem_mb: f64,
    /// Seconds between the graceful and the forcible kill of a task.
    pub kill_grace_period_secs: f64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            command: "./executor".into(),
            arguments: Vec::new(),
            uris: Vec::new(),
            cpus: 0.0,
            mem_mb: 0.0,
            kill_grace_period_secs: 10.0,
        }
    }
}

/// How tasks are containerized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Containerizer {
    /// Our executor as a process on the agent (Mesos containerizer); it runs
    /// the miner in-process and the proxy as its child.
    #[default]
    Process,
    /// Docker containers (the agent's Docker containerizer): miners under our
    /// executor inside the miner image, the proxy as a command task of the
    /// proxy image. Host networking.
    Docker,
}

/// Docker images and how tasks use them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerConfig {
    /// `process` or `docker`.
    pub containerizer: Containerizer,
    /// Image with `miner` and `executor` (docker/miner).
    pub miner_image: String,
    /// Image of the proxy (docker/proxy); its entrypoint is `proxy`.
    pub proxy_image: String,
    /// The executor's path inside the miner image (the container's entrypoint).
    pub executor_path: String,
    /// Pull the images before every launch (off for local images).
    pub force_pull: bool,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        Self {
            containerizer: Containerizer::Process,
            miner_image: "localhost/mesos-miner-miner:latest".into(),
            proxy_image: "localhost/mesos-miner-proxy:latest".into(),
            executor_path: "/usr/local/bin/executor".into(),
            force_pull: false,
        }
    }
}

/// One `CommandInfo.URI`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriConfig {
    /// What to fetch (http(s) URL or agent-local path).
    pub value: String,
    /// Mark the fetched file executable.
    #[serde(default)]
    pub executable: bool,
    /// Extract archives.
    #[serde(default)]
    pub extract: bool,
    /// Let the agent cache it.
    #[serde(default)]
    pub cache: bool,
}

/// The Bitcoin node's JSON-RPC endpoint and how the proxy task gets its
/// credentials; exactly one of `rpc_secret` and `rpc_cookie_file` is set
/// ([`NodeConfig::credentials`]). There is no password field: a password in
/// a task's environment is shown by Mesos' `/state`, its web UI and
/// `docker inspect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// e.g. `http://10.0.0.5:18443` (`url` in the file, as the flag is `--node-url`).
    #[serde(rename = "url", alias = "rpc_url")]
    pub rpc_url: String,
    /// Name of a secret in the agents' secret store holding `user:password`.
    pub rpc_secret: Option<String>,
    /// Absolute path of the node's cookie file on the agents (Bitcoin Core's
    /// `<datadir>/<chain>/.cookie`, or its `-rpccookiefile`).
    pub rpc_cookie_file: Option<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            rpc_url: "http://127.0.0.1:18443".into(),
            rpc_secret: None,
            rpc_cookie_file: None,
        }
    }
}

/// Where the proxy task reads the node's `user:password` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCredentials<'a> {
    /// A file-based Mesos secret (`Volume.source` SECRET, a REFERENCE to
    /// this name), read as a cookie file.
    Secret(&'a str),
    /// The node's own cookie file at this absolute path on the agent.
    CookieFile(&'a str),
}

impl NodeConfig {
    /// The one way credentials reach the proxy, or why there is none.
    pub fn credentials(&self) -> Result<NodeCredentials<'_>, ConfigError> {
        match (self.rpc_secret.as_deref(), self.rpc_cookie_file.as_deref()) {
            (Some(name), None) if !name.trim().is_empty() => Ok(NodeCredentials::Secret(name)),
            (Some(_), None) => Err(ConfigError::Empty {
                field: "node.rpc_secret",
            }),
            (None, Some(path)) if std::path::Path::new(path).is_absolute() => {
                Ok(NodeCredentials::CookieFile(path))
            }
            (None, Some(path)) => Err(ConfigError::CookiePath(path.to_owned())),
            (None, None) => Err(ConfigError::NoNodeCredentials),
            (Some(_), Some(_)) => Err(ConfigError::TwoNodeCredentials),
        }
    }
}

/// Offer handling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfferConfig {
    /// `Filters.refuse_seconds` on declined offers (`refuse_secs` in the file, as every
    /// duration there).
    #[serde(rename = "refuse_secs", alias = "refuse_seconds")]
    pub refuse_seconds: f64,
}

impl Default for OfferConfig {
    fn default() -> Self {
        Self {
            refuse_seconds: 30.0,
        }
    }
}

/// Exponential relaunch backoff after failures (per agent for miners).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffConfig {
    /// Delay after the first failure, in seconds.
    pub initial_secs: f64,
    /// Upper bound of the delay, in seconds.
    pub max_secs: f64,
    /// A task that ran this long before failing resets the failure count.
    pub reset_after_secs: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_secs: 1.0,
            max_secs: 300.0,
            reset_after_secs: 600.0,
        }
    }
}

impl Config {
    /// Checks that sizes are positive and finite and names non-empty.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("proxy.cpus", self.proxy.cpus),
            ("proxy.mem_mb", self.proxy.mem_mb),
            ("miner.mem_mb", self.miner.mem_mb),
            ("miner.min_cpus", self.miner.min_cpus),
            ("backoff.initial_secs", self.backoff.initial_secs),
            ("backoff.max_secs", self.backoff.max_secs),
        ];
        for (field, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::NotPositive { field, value });
            }
        }
        let non_negative = [
            ("executor.cpus", self.executor.cpus),
            ("executor.mem_mb", self.executor.mem_mb),
            (
                "executor.kill_grace_period_secs",
                self.executor.kill_grace_period_secs,
            ),
            ("offers.refuse_secs", self.offers.refuse_seconds),
            (
                "framework.failover_timeout_secs",
                self.framework.failover_timeout_secs,
            ),
            ("backoff.reset_after_secs", self.backoff.reset_after_secs),
            (
                "proxy.unreachable_timeout_secs",
                self.proxy.unreachable_timeout_secs,
            ),
            (
                "proxy.volume.agent_gone_timeout_secs",
                self.proxy.volume.agent_gone_timeout_secs,
            ),
            (
                "miner.unreachable_timeout_secs",
                self.miner.unreachable_timeout_secs,
            ),
            (
                "framework.reconcile_interval_secs",
                self.framework.reconcile_interval_secs,
            ),
            (
                "maintenance.drain_lead_secs",
                self.maintenance.drain_lead_secs,
            ),
            ("maintenance.refuse_secs", self.maintenance.refuse_seconds),
        ];
        for (field, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError::Negative { field, value });
            }
        }
        let names = [
            ("framework.name", &self.framework.name),
            ("framework.role", &self.framework.role),
            ("framework.user", &self.framework.user),
            ("executor.command", &self.executor.command),
            ("containers.miner_image", &self.containers.miner_image),
            ("containers.proxy_image", &self.containers.proxy_image),
            ("containers.executor_path", &self.containers.executor_path),
        ];
        for (field, value) in names {
            if value.trim().is_empty() {
                return Err(ConfigError::Empty { field });
            }
        }
        if let Some(quota) = self.limits.quota_cpus {
            if !(quota.is_finite() && quota > 0.0) {
                return Err(ConfigError::NotPositive {
                    field: "limits.quota_cpus",
                    value: quota,
                });
            }
        }
        if self.backoff.max_secs < self.backoff.initial_secs {
            return Err(ConfigError::BackoffOrder {
                initial: self.backoff.initial_secs,
                max: self.backoff.max_secs,
            });
        }
        for url in &self.proxy.alert_urls {
            alerts::check_url(url).map_err(|e| ConfigError::AlertUrl(e.to_string()))?;
        }
        // The proxy's own ranges for its --alert-offline-secs and --alert-min-hash-rate: a
        // value it refuses would only show as a proxy task failing at start, again and again.
        let ranges = [
            (
                "proxy.alert_offline_secs",
                self.proxy.alert_offline_secs.map(|s| s as f64),
                7.0 * 86_400.0,
            ),
            (
                "proxy.alert_min_hash_rate",
                self.proxy.alert_min_hash_rate,
                1e30,
            ),
        ];
        for (field, value, max) in ranges {
            if let Some(value) = value {
                if !(value.is_finite() && (0.0..=max).contains(&value)) {
                    return Err(ConfigError::OutOfRange {
                        field,
                        value,
                        min: 0.0,
                        max,
                    });
                }
            }
        }
        for (field, port) in [
            ("proxy.stratum_port", self.proxy.stratum_port),
            ("proxy.http_port", self.proxy.http_port),
        ] {
            if let Some(port) = port.filter(|p| !(1..=65_535).contains(p)) {
                return Err(ConfigError::OutOfRange {
                    field,
                    value: port as f64,
                    min: 1.0,
                    max: 65_535.0,
                });
            }
        }
        // The proxy (with its executor) must fit in the quota, or it never starts.
        if let Some(quota) = self.limits.quota_cpus {
            let proxy = self.proxy.cpus + self.executor.cpus;
            if quota < proxy {
                return Err(ConfigError::OutOfRange {
                    field: "limits.quota_cpus",
                    value: quota,
                    min: proxy,
                    max: f64::INFINITY,
                });
            }
        }
        if let (Some(a), Some(b)) = (self.proxy.stratum_port, self.proxy.http_port) {
            if a == b {
                return Err(ConfigError::SamePorts(a));
            }
        }
        self.node.credentials()?;
        let volume = &self.proxy.volume;
        if volume.enabled {
            if self.framework.role.trim() == "*" {
                return Err(ConfigError::VolumeWithoutRole);
            }
            if !(volume.disk_mb.is_finite() && volume.disk_mb > 0.0) {
                return Err(ConfigError::NotPositive {
                    field: "proxy.volume.disk_mb",
                    value: volume.disk_mb,
                });
            }
            let path = std::path::Path::new(&volume.container_path);
            let inside = path
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if volume.container_path.is_empty() || !inside {
                return Err(ConfigError::VolumePath(volume.container_path.clone()));
            }
        }
        Ok(())
    }

    /// The `FrameworkInfo` to SUBSCRIBE with; `id` is the persisted framework
    /// id when failing over (always pass it once we have one).
    pub fn framework_info(&self, id: Option<&str>) -> FrameworkInfo {
        let capability = |t: framework_info::capability::Type| framework_info::Capability {
            r#type: Some(t as i32),
        };
        FrameworkInfo {
            user: self.framework.user.clone(),
            name: self.framework.name.clone(),
            id: id.map(|value| FrameworkId {
                value: value.to_owned(),
            }),
            failover_timeout: Some(self.framework.failover_timeout_secs),
            checkpoint: Some(self.framework.checkpoint),
            role: None,
            roles: vec![self.framework.role.clone()],
            principal: self.framework.principal.clone(),
            capabilities: [
                capability(framework_info::capability::Type::MultiRole),
                capability(framework_info::capability::Type::PartitionAware),
                capability(framework_info::capability::Type::TaskKillingState),
                // Reserved resources in the post-refinement format
                // (`Resource.reservations`), which is what we send.
                capability(framework_info::capability::Type::ReservationRefinement),
            ]
            .into_iter()
            // Oversubscribed slack, offered only to frameworks that ask.
            .chain(
                self.miner
                    .cpu_policy
                    .wants_revocable()
                    .then(|| capability(framework_info::capability::Type::RevocableResources)),
            )
            .collect(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults with the one setting that has none: how the proxy reaches the node.
    fn with_cookie() -> Config {
        let mut config = Config::default();
        config.node.rpc_cookie_file = Some("/var/lib/bitcoind/.cookie".into());
        config
    }

    #[test]
    fn defaults_are_valid_once_credentials_are_named() {
        assert_eq!(
            Config::default().validate(),
            Err(ConfigError::NoNodeCredentials)
        );
        with_cookie().validate().unwrap();
    }

    #[test]
    fn node_credentials_are_a_secret_or_a_cookie_file_never_both() {
        let mut node = NodeConfig {
            rpc_secret: Some("mesos-miner/node-rpc".into()),
            ..Default::default()
        };
        assert_eq!(
            node.credentials(),
            Ok(NodeCredentials::Secret("mesos-miner/node-rpc"))
        );
        node.rpc_cookie_file = Some("/data/.cookie".into());
        assert_eq!(node.credentials(), Err(ConfigError::TwoNodeCredentials));
        node.rpc_secret = None;
        assert_eq!(
            node.credentials(),
            Ok(NodeCredentials::CookieFile("/data/.cookie"))
        );
        node.rpc_cookie_file = Some("regtest/.cookie".into());
        assert_eq!(
            node.credentials(),
            Err(ConfigError::CookiePath("regtest/.cookie".into()))
        );
        node.rpc_cookie_file = None;
        node.rpc_secret = Some(" ".into());
        assert!(matches!(node.credentials(), Err(ConfigError::Empty { .. })));
    }

    #[test]
    fn backoff_order_and_the_proxys_alert_settings_are_checked_here() {
        let mut config = with_cookie();
        config.backoff.initial_secs = 60.0;
        config.backoff.max_secs = 30.0;
        assert_eq!(
            config.validate(),
            Err(ConfigError::BackoffOrder {
                initial: 60.0,
                max: 30.0
            })
        );
        let mut config = with_cookie();
        config.proxy.alert_urls = vec!["https://hooks.example/a".into(), "ftp://x/".into()];
        assert!(matches!(config.validate(), Err(ConfigError::AlertUrl(e)) if e.contains("ftp")));
        for (offline, rate, field) in [
            (Some(8 * 86_400), None, "proxy.alert_offline_secs"),
            (None, Some(-1.0), "proxy.alert_min_hash_rate"),
            (None, Some(f64::NAN), "proxy.alert_min_hash_rate"),
        ] {
            let mut config = with_cookie();
            config.proxy.alert_offline_secs = offline;
            config.proxy.alert_min_hash_rate = rate;
            assert!(
                matches!(config.validate(), Err(ConfigError::OutOfRange { field: f, .. }) if f == field),
                "{field}"
            );
        }
    }

    #[test]
    fn ports_past_65535_and_a_quota_below_the_proxy_are_refused() {
        let mut config = with_cookie();
        config.proxy.http_port = Some(70_000);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::OutOfRange {
                field: "proxy.http_port",
                ..
            })
        ));
        let mut config = with_cookie();
        config.limits.quota_cpus = Some(config.proxy.cpus / 2.0);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::OutOfRange {
                field: "limits.quota_cpus",
                ..
            })
        ));
    }

    #[test]
    fn file_keys_follow_the_flags_names_old_ones_still_read() {
        let new: Config = serde_json::from_str(
            r#"{"node": {"url": "http://n:1"}, "offers": {"refuse_secs": 5}, "maintenance": {"refuse_secs": 7}}"#,
        )
        .unwrap();
        let old: Config = serde_json::from_str(
            r#"{"node": {"rpc_url": "http://n:1"}, "offers": {"refuse_seconds": 5}, "maintenance": {"refuse_seconds": 7}}"#,
        )
        .unwrap();
        assert_eq!(new, old);
        assert_eq!(new.node.rpc_url, "http://n:1");
        assert_eq!(new.offers.refuse_seconds, 5.0);
        let shown = serde_json::to_value(&new).unwrap();
        assert_eq!(shown["node"]["url"], "http://n:1");
        assert_eq!(shown["maintenance"]["refuse_secs"], 7.0);
    }

    #[test]
    fn a_password_field_is_refused_not_ignored() {
        for node in [r#"{"rpc_password": "p"}"#, r#"{"rpc_user": "u"}"#] {
            let json = format!(r#"{{"node": {node}}}"#);
            let error = serde_json::from_str::<Config>(&json).unwrap_err();
            assert!(error.to_string().contains("unknown field"), "{error}");
        }
    }

    #[test]
    fn partial_json_keeps_defaults() {
        let config: Config = serde_json::from_str(
            r#"{"miner": {"min_cpus": 0.25}, "node": {"rpc_secret": "node-rpc"}}"#,
        )
        .unwrap();
        assert_eq!(config.miner.min_cpus, 0.25);
        assert_eq!(config.miner.mem_mb, MinerConfig::default().mem_mb);
        assert_eq!(
            config.node.credentials(),
            Ok(NodeCredentials::Secret("node-rpc"))
        );
        config.validate().unwrap();
    }

    #[test]
    fn example_config_is_valid() {
        // The file's tables are this configuration (its top-level keys are flags).
        let table: cli_config::toml::Table = include_str!("../../config-examples/scheduler.toml")
            .parse()
            .unwrap();
        let sections: cli_config::toml::Table =
            table.into_iter().filter(|(_, v)| v.is_table()).collect();
        let config: Config = cli_config::toml::Value::Table(sections).try_into().unwrap();
        config.validate().unwrap();
        assert_eq!(config.framework.role, "mining");
        assert_eq!(config.executor.uris.len(), 1);
        assert!(matches!(
            config.node.credentials(),
            Ok(NodeCredentials::CookieFile(_))
        ));
    }

    #[test]
    fn unknown_fields_rejected() {
        assert!(serde_json::from_str::<Config>(r#"{"minr": {}}"#).is_err());
    }

    #[test]
    fn validate_rejects_bad_values() {
        let mut config = with_cookie();
        config.framework.role = "*".into();
        assert_eq!(config.validate(), Err(ConfigError::VolumeWithoutRole));
        config.proxy.volume.enabled = false;
        config.validate().unwrap();
        for path in ["/data", "../up", "a/../../b", ""] {
            let mut config = with_cookie();
            config.proxy.volume.container_path = path.into();
            assert_eq!(
                config.validate(),
                Err(ConfigError::VolumePath(path.into())),
                "{path:?}"
            );
        }
        let mut config = with_cookie();
        config.proxy.volume.disk_mb = 0.0;
        assert!(config.validate().is_err());
        let mut config = with_cookie();
        config.miner.min_cpus = 0.0;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::NotPositive {
                field: "miner.min_cpus",
                ..
            })
        ));
        let mut config = with_cookie();
        config.proxy.mem_mb = f64::NAN;
        assert!(config.validate().is_err());
        let mut config = with_cookie();
        config.executor.command = " ".into();
        assert!(matches!(config.validate(), Err(ConfigError::Empty { .. })));
        let mut config = with_cookie();
        config.proxy.stratum_port = Some(3333);
        config.proxy.http_port = Some(3333);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::SamePorts(3333))
        ));
    }

    #[test]
    fn framework_info_carries_id_and_role() {
        let mut config = with_cookie();
        config.framework.role = "mining".into();
        let info = config.framework_info(Some("fw-1"));
        assert_eq!(info.id.unwrap().value, "fw-1");
        assert_eq!(info.roles, vec!["mining".to_string()]);
        assert_eq!(info.checkpoint, Some(true));
        assert!(config.framework_info(None).id.is_none());
    }

    #[test]
    fn revocable_resources_capability_follows_the_cpu_policy() {
        use crate::cpu_policy::CpuPolicy;
        let revocable = |config: &Config| {
            config
                .framework_info(None)
                .capabilities
                .iter()
                .any(|c| c.r#type() == framework_info::capability::Type::RevocableResources)
        };
        let mut config = with_cookie();
        assert!(
            revocable(&config),
            "both (the default) asks for revocable CPUs"
        );
        config.miner.cpu_policy = CpuPolicy::Regular;
        assert!(!revocable(&config));
        config.miner.cpu_policy = CpuPolicy::Revocable;
        assert!(revocable(&config));
    }

    #[test]
    fn limits_from_json_are_validated() {
        let config: Config = serde_json::from_str(
            r#"{"miner": {"cpu_policy": "regular"}, "node": {"rpc_secret": "node-rpc"},
                "limits": {"max_cpus": "25%", "quota_cpus": 4, "constraints": ["rack:LIKE:r[12]"]}}"#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.limits.max_cpus,
            Some(crate::limits::CpuLimit::Percent(25.0))
        );
        for bad in [
            r#"{"limits": {"max_cpus": "150%"}}"#,
            r#"{"limits": {"constraints": ["rack:NEAR:x"]}}"#,
            r#"{"miner": {"cpu_policy": "spare"}}"#,
        ] {
            assert!(serde_json::from_str::<Config>(bad).is_err(), "{bad}");
        }
        let mut config = with_cookie();
        config.limits.quota_cpus = Some(0.0);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::NotPositive {
                field: "limits.quota_cpus",
                ..
            })
        ));
    }
}
