//! What a cluster looks like: addresses, agents and their resources, and the
//! timing knobs Mesos has (heartbeats, retries, grace periods).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Longest interval or delay accepted anywhere (about 31 years): beyond it
/// deadlines would overflow the clock; such values are configuration
/// errors, not panics.
pub const MAX_INTERVAL: Duration = Duration::from_secs(1_000_000_000);

/// `secs` seconds as a duration, if it is a number in `0..=MAX_INTERVAL`.
pub fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|duration| *duration <= MAX_INTERVAL)
}

/// Configuration of a [`crate::Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Address of the master's HTTP API (port 0 = any free port). Agents
    /// listen on the same IP, each on a free port.
    pub listen: SocketAddr,
    /// Number of agents.
    pub agents: usize,
    /// CPUs per agent.
    pub cpus: f64,
    /// Memory per agent, MB.
    pub mem_mb: f64,
    /// Disk per agent, MB (offered as `disk`, for persistent volumes).
    pub disk_mb: f64,
    /// Inclusive port range per agent.
    pub ports: (u64, u64),
    /// CPUs each agent offers as revocable on top of `cpus` (Mesos' fixed
    /// resource estimator, `--oversubscribed_resources=cpus:N`); 0 = none.
    pub revocable_cpus: f64,
    /// Attributes of agent `i` (Mesos' `--attributes` syntax,
    /// `rack:r1;zone:a`); agents beyond the list have none.
    pub agent_attributes: Vec<String>,
    /// Root of the executor sandboxes.
    pub work_dir: PathBuf,
    /// Interval of HEARTBEAT events to schedulers (Mesos: 15 s).
    pub heartbeat_interval: Duration,
    /// Interval of HEARTBEAT events to subscribed executors (Mesos: 30 s).
    pub executor_heartbeat_interval: Duration,
    /// How often resources are (re)offered (Mesos `--allocation_interval`: 1 s).
    pub allocation_interval: Duration,
    /// First retry of an unacknowledged status update; doubles up to
    /// `status_update_retry_max` (Mesos: 10 s and 10 min).
    pub status_update_retry: Duration,
    /// Longest interval between retries of an unacknowledged status update.
    pub status_update_retry_max: Duration,
    /// Executor shutdown grace period when ExecutorInfo has none (Mesos: 5 s).
    pub executor_shutdown_grace: Duration,
    /// Kill grace period when neither the KILL call nor the task has a kill
    /// policy (Mesos: 3 s).
    pub kill_grace: Duration,
    /// Time an executor has to subscribe after it was started (Mesos: 1 min).
    pub executor_registration_timeout: Duration,
    /// Time executors have to resubscribe once a restarted agent is back
    /// (Mesos `--executor_reregistration_timeout`: 2 s).
    pub executor_reregistration_timeout: Duration,
    /// `MESOS_RECOVERY_TIMEOUT` given to executors (Mesos: 15 min).
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX` given to executors (Mesos: 2 s).
    pub subscription_backoff_max: Duration,
    /// Hostname in offers and AgentInfo; the listen IP when `None`.
    pub hostname: Option<String>,
    /// The hostname of each agent in turn (Mesos' agent `--hostname`), which
    /// puts agents on different machines for maintenance (a machine is a
    /// hostname and an IP); agents beyond the list use `hostname`.
    pub agent_hostnames: Vec<String>,
    /// The `docker` CLI of the Docker containerizer (Mesos'
    /// `--containerizers=docker,mesos`); `None` = processes only.
    pub docker: Option<PathBuf>,
    /// Addresses the master answers on, as a Mesos HA cluster's masters:
    /// the first is `listen`, the others free ports of its IP. One leads;
    /// the others redirect scheduler calls to it (`307`, as Mesos does).
    pub masters: usize,
    /// When set, frameworks must authenticate as one of these principals
    /// (Mesos' `--authenticate_frameworks` with `--credentials`). Needed
    /// when `listen` is not a loopback address.
    pub credentials: Option<crate::auth::Credentials>,
    /// Serve `POST /devcluster/faults/...` (off by default; for tests). The
    /// in-process fault methods of [`crate::Cluster`] are always there.
    pub fault_endpoints: bool,
    /// The secret store REFERENCE secrets resolve from (JSON; see
    /// `secrets`); `None` = only VALUE secrets resolve.
    pub secrets: Option<PathBuf>,
    /// Agents on hosts of their own: agent `i` (for each entry in turn)
    /// listens inside a network namespace the caller made, its executors
    /// run there, and the master reaches it across the namespace's link,
    /// so cutting that link partitions it for real (see
    /// [`crate::Cluster`]'s agent pings). Agents beyond the list share the
    /// master's host.
    pub agent_hosts: Vec<AgentHost>,
    /// How long the master waits for an agent on a host of its own to
    /// answer a ping before it counts a timeout (Mesos
    /// `--agent_ping_timeout`: 15 s); pings go out at this interval.
    pub agent_ping_timeout: Duration,
    /// Ping timeouts in a row after which such an agent is unreachable
    /// (Mesos `--max_agent_ping_timeouts`: 5); its tasks are reported
    /// TASK_UNREACHABLE (TASK_LOST to frameworks that are not partition
    /// aware) until it answers again and re-registers with them.
    pub max_agent_ping_timeouts: u32,
}

/// Where an agent on a host of its own lives: a network namespace
/// (`ip netns add NAME`, so `/var/run/netns/NAME`) and its address there,
/// which the master's host can route to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentHost {
    /// The namespace's name (`/var/run/netns/<netns>`).
    pub netns: String,
    /// The agent's address inside it.
    pub ip: IpAddr,
}

impl ClusterConfig {
    /// The named intervals, each at most [`MAX_INTERVAL`].
    pub(crate) fn intervals(&self) -> [(&'static str, Duration); 12] {
        [
            ("heartbeat_interval", self.heartbeat_interval),
            (
                "executor_heartbeat_interval",
                self.executor_heartbeat_interval,
            ),
            ("allocation_interval", self.allocation_interval),
            ("status_update_retry", self.status_update_retry),
            ("status_update_retry_max", self.status_update_retry_max),
            ("executor_shutdown_grace", self.executor_shutdown_grace),
            ("kill_grace", self.kill_grace),
            (
                "executor_registration_timeout",
                self.executor_registration_timeout,
            ),
            (
                "executor_reregistration_timeout",
                self.executor_reregistration_timeout,
            ),
            ("recovery_timeout", self.recovery_timeout),
            ("subscription_backoff_max", self.subscription_backoff_max),
            ("agent_ping_timeout", self.agent_ping_timeout),
        ]
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5050)),
            agents: 1,
            cpus: machine_cpus(),
            mem_mb: machine_mem_mb(),
            disk_mb: 10240.0,
            ports: (31000, 32000),
            revocable_cpus: 0.0,
            agent_attributes: Vec::new(),
            work_dir: std::env::temp_dir().join("devcluster"),
            heartbeat_interval: Duration::from_secs(15),
            executor_heartbeat_interval: Duration::from_secs(30),
            allocation_interval: Duration::from_secs(1),
            status_update_retry: Duration::from_secs(10),
            status_update_retry_max: Duration::from_secs(600),
            executor_shutdown_grace: Duration::from_secs(5),
            kill_grace: Duration::from_secs(3),
            executor_registration_timeout: Duration::from_secs(60),
            executor_reregistration_timeout: Duration::from_secs(2),
            recovery_timeout: Duration::from_secs(15 * 60),
            subscription_backoff_max: Duration::from_secs(2),
            hostname: None,
            agent_hostnames: Vec::new(),
            docker: None,
            masters: 1,
            credentials: None,
            fault_endpoints: false,
            secrets: None,
            agent_hosts: Vec::new(),
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
        }
    }
}

/// CPUs of this machine.
pub fn machine_cpus() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// Memory of this machine in MB (`/proc/meminfo`), 1024 when unknown.
pub fn machine_mem_mb() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(1024.0, |kib| (kib / 1024) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_refuse_absurd_values() {
        assert_eq!(seconds(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(seconds(0.0), Some(Duration::ZERO));
        assert_eq!(seconds(1e9), Some(MAX_INTERVAL));
        for absurd in [1e300, 1e10, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(seconds(absurd), None, "{absurd}");
        }
    }

    #[test]
    fn the_machine_has_cpus_and_memory() {
        assert!(machine_mem_mb() > 0.0 && machine_cpus() >= 1.0);
    }
}
