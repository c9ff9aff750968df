//! The [`Cluster`] handle: binds the masters' and the agents' listeners,
//! runs the one ticker task that drives time-based work, and offers the
//! fault injection used by tests (also reachable over HTTP as
//! `POST /devcluster/faults/...`), including moving the leadership between
//! master addresses and taking one off the network.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::ClusterConfig;
use crate::error::Error;
use crate::faults;
use crate::http::{self, Role};
use crate::runtime::Inner;
use crate::state::{ExecKey, State};

/// How often time-driven work runs.
const TICK: Duration = Duration::from_millis(50);

/// What tests may want to know about an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSummary {
    /// The AgentID.
    pub id: String,
    /// Its executor API (`MESOS_AGENT_ENDPOINT`).
    pub endpoint: SocketAddr,
    /// Whether it is still part of the cluster.
    pub alive: bool,
}

/// A running cluster. Dropping it stops the listeners and kills every
/// executor process.
pub struct Cluster {
    inner: Arc<Inner>,
    /// The listener task of each master address; `None` once stopped.
    master_handles: Mutex<Vec<Option<JoinHandle<()>>>>,
    handles: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("masters", &self.inner.masters().addrs)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Binds the master and the agents and starts serving; must be called
    /// inside a tokio runtime.
    pub async fn start(config: ClusterConfig) -> Result<Self, Error> {
        if config.ports.0 > config.ports.1 {
            return Err(Error::InvalidConfig(format!(
                "empty port range {}-{}",
                config.ports.0, config.ports.1
            )));
        }
        if config.ports.1 > u64::from(u16::MAX) {
            return Err(Error::InvalidConfig(format!(
                "port range {}-{} goes past 65535",
                config.ports.0, config.ports.1
            )));
        }
        if config.agent_hosts.len() > config.agents {
            return Err(Error::InvalidConfig(format!(
                "hosts for {} agents, but {} agents",
                config.agent_hosts.len(),
                config.agents
            )));
        }
        if !config.agent_hosts.is_empty()
            && (config.agent_ping_timeout.is_zero() || config.max_agent_ping_timeouts == 0)
        {
            return Err(Error::InvalidConfig(
                "agents on hosts of their own need a positive ping timeout and at least one \
                 ping timeout before they are unreachable"
                    .into(),
            ));
        }
        if config.agent_hostnames.len() > config.agents {
            return Err(Error::InvalidConfig(format!(
                "hostnames for {} agents, but {} agents",
                config.agent_hostnames.len(),
                config.agents
            )));
        }
        for (name, value) in [("cpus", config.cpus), ("mem_mb", config.mem_mb)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::InvalidConfig(format!(
                    "{name} {value} must be a number, 0 or more"
                )));
            }
        }
        if config.agents == 0 {
            return Err(Error::InvalidConfig(
                "agents must be at least 1: a cluster without agents runs nothing".into(),
            ));
        }
        if !config.listen.ip().is_loopback() && config.credentials.is_none() {
            return Err(Error::InvalidConfig(format!(
                "{} is not a loopback address: frameworks must authenticate there \
                 (credentials, Mesos' --authenticate_frameworks)",
                config.listen.ip()
            )));
        }
        if !(config.revocable_cpus.is_finite() && config.revocable_cpus >= 0.0) {
            return Err(Error::InvalidConfig(format!(
                "revocable_cpus {} must be a number of CPUs, 0 or more",
                config.revocable_cpus
            )));
        }
        let attributes = config
            .agent_attributes
            .iter()
            .map(|text| crate::oversubscription::parse_attributes(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Error::InvalidConfig(format!("agent attributes: {error}")))?;
        if attributes.len() > config.agents {
            return Err(Error::InvalidConfig(format!(
                "attributes for {} agents, but {} agents",
                attributes.len(),
                config.agents
            )));
        }
        if config.masters == 0 {
            return Err(Error::InvalidConfig("at least one master is needed".into()));
        }
        if let Some((name, value)) = config
            .intervals()
            .into_iter()
            .find(|(_, value)| *value > crate::config::MAX_INTERVAL)
        {
            return Err(Error::InvalidConfig(format!(
                "{name} of {value:?} is beyond {:?}",
                crate::config::MAX_INTERVAL
            )));
        }
        if config.heartbeat_interval.is_zero() || config.status_update_retry.is_zero() {
            return Err(Error::InvalidConfig(
                "heartbeat and retry intervals must be positive".into(),
            ));
        }
        std::fs::create_dir_all(&config.work_dir).map_err(|source| Error::WorkDir {
            path: config.work_dir.clone(),
            source,
        })?;
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })
        };
        let mut master_listeners = Vec::with_capacity(config.masters);
        for index in 0..config.masters {
            let addr = if index == 0 {
                config.listen
            } else {
                SocketAddr::new(config.listen.ip(), 0)
            };
            let listener = bind(addr).await?;
            let local = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            master_listeners.push((listener, local));
        }
        let master_addrs: Vec<SocketAddr> =
            master_listeners.iter().map(|(_, addr)| *addr).collect();
        let master_addr = master_addrs[0];
        let secrets = match &config.secrets {
            Some(path) => crate::secrets::SecretStore::load(path)?,
            None => Default::default(),
        };
        let mut agent_listeners = Vec::with_capacity(config.agents);
        for index in 0..config.agents {
            let listener = match config.agent_hosts.get(index) {
                Some(host) => {
                    let addr = SocketAddr::new(host.ip, 0);
                    crate::hosts::bind_in(&host.netns, addr)
                        .and_then(TcpListener::from_std)
                        .map_err(|source| Error::Bind { addr, source })?
                }
                None => bind(SocketAddr::new(config.listen.ip(), 0)).await?,
            };
            let addr = listener.local_addr().map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
            agent_listeners.push((listener, addr));
        }
        let agent_addrs: Vec<SocketAddr> = agent_listeners.iter().map(|(_, addr)| *addr).collect();
        let mut state = State::new(config.clone(), master_addr, &agent_addrs, attributes);
        state.secrets = secrets;
        let inner = Arc::new_cyclic(|me: &Weak<Inner>| {
            Inner::new(
                me,
                state,
                master_addrs.clone(),
                config.credentials.clone(),
                config.fault_endpoints,
            )
        });
        let master_handles = master_listeners
            .into_iter()
            .enumerate()
            .map(|(index, (listener, _))| {
                Some(tokio::spawn(http::serve(
                    listener,
                    Arc::downgrade(&inner),
                    Role::Master(index),
                )))
            })
            .collect();
        let mut handles = Vec::new();
        for (index, (listener, _)) in agent_listeners.into_iter().enumerate() {
            handles.push(tokio::spawn(http::serve(
                listener,
                Arc::downgrade(&inner),
                Role::Agent(index),
            )));
        }
        for (index, addr) in agent_addrs
            .iter()
            .enumerate()
            .take(config.agent_hosts.len())
        {
            handles.push(tokio::spawn(crate::hosts::ping(
                Arc::downgrade(&inner),
                index,
                *addr,
                config.agent_ping_timeout,
                config.max_agent_ping_timeouts,
            )));
        }
        let weak = Arc::downgrade(&inner);
        handles.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                inner.lock().tick();
            }
        }));
        info!(master = %master_addr, masters = ?master_addrs, agents = config.agents, "devcluster started");
        Ok(Self {
            inner,
            master_handles: Mutex::new(master_handles),
            handles,
        })
    }

    /// The leading master's address (scheduler API at `/api/v1/scheduler`).
    pub fn master_addr(&self) -> SocketAddr {
        let masters = self.inner.masters();
        masters.addrs[masters.leader]
    }

    /// Every master address, in order (`ClusterConfig::masters` of them);
    /// the first leads until [`Cluster::move_leader`].
    pub fn master_addrs(&self) -> Vec<SocketAddr> {
        self.inner.masters().addrs.clone()
    }

    /// Fault: the master at address `index` is elected leader (a master
    /// failover, as [`Cluster::restart_master`]): streams close, offers and
    /// filters are forgotten, and the other addresses redirect to it.
    pub fn move_leader(&self, index: usize) -> Result<(), Error> {
        let addr = {
            let mut masters = self.inner.masters();
            let addr = *masters
                .addrs
                .get(index)
                .ok_or(Error::UnknownMaster(index))?;
            masters.leader = index;
            masters.up[index] = true;
            addr
        };
        info!(master = %addr, "fault: leadership moves");
        let mut state = self.inner.lock();
        state.master_addr = addr;
        faults::restart_master(&mut state);
        Ok(())
    }

    /// Fault: the master at address `index` goes dark: its port is closed
    /// and its connections (event streams included) are cut. While the
    /// leader is dark the other addresses answer `503`.
    pub fn stop_master(&self, index: usize) -> Result<(), Error> {
        let handle = {
            let mut handles = self
                .master_handles
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            handles
                .get_mut(index)
                .ok_or(Error::UnknownMaster(index))?
                .take()
        };
        if let Some(handle) = handle {
            info!(master = %self.inner.masters().addrs[index], "fault: a master goes dark");
            handle.abort();
        }
        self.inner.masters().up[index] = false;
        Ok(())
    }

    /// The agents, in order.
    pub fn agents(&self) -> Vec<AgentSummary> {
        self.inner
            .lock()
            .agents
            .iter()
            .map(|agent| AgentSummary {
                id: agent.id.clone(),
                endpoint: agent.addr,
                alive: agent.alive,
            })
            .collect()
    }

    /// Process id of a running executor.
    pub fn executor_pid(&self, executor_id: &str) -> Option<u32> {
        self.inner.lock().agents.iter().find_map(|agent| {
            agent
                .executors
                .values()
                .find(|exec| exec.executor_id == executor_id)
                .and_then(|exec| exec.pid)
        })
    }

    /// Sandbox directory of a running executor.
    pub fn executor_sandbox(&self, executor_id: &str) -> Option<std::path::PathBuf> {
        self.inner.lock().agents.iter().find_map(|agent| {
            agent
                .executors
                .values()
                .find(|exec| exec.executor_id == executor_id)
                .map(|exec| exec.sandbox.clone())
        })
    }

    /// Fault: closes every scheduler's event stream (frameworks stay, their
    /// failover timers start).
    pub fn drop_scheduler_streams(&self) {
        faults::drop_scheduler_streams(&mut self.inner.lock());
    }

    /// Fault: the master fails over: streams close, offers and filters are
    /// forgotten, agents and tasks stay; frameworks must resubscribe (with
    /// their id) within their failover timeout.
    pub fn restart_master(&self) {
        faults::restart_master(&mut self.inner.lock());
    }

    /// Fault: an agent disappears: its offers are rescinded, its executors
    /// killed, its tasks reported TASK_LOST (TASK_UNREACHABLE to
    /// partition-aware frameworks) and FAILURE sent.
    pub fn lose_agent(&self, agent_id: &str) -> Result<(), Error> {
        faults::lose_agent(&mut self.inner.lock(), agent_id)
    }

    /// Fault: an agent restarts: its executor API is down for `downtime`
    /// (503), its executor streams close and its offers are rescinded.
    /// Executors keep running; those that resubscribe within the
    /// reregistration timeout after it is back keep their tasks (with
    /// their unacknowledged updates), the others are killed.
    pub fn restart_agent(&self, agent_id: &str, downtime: Duration) -> Result<(), Error> {
        faults::restart_agent(&mut self.inner.lock(), agent_id, downtime)
    }

    /// Fault: the QoS controller's KILL of every executor on revocable resources of
    /// `agent_id` (every agent when `None`), and no slack offered there
    /// until [`Cluster::qos_restore`]; returns the executors killed.
    pub fn qos_revoke(&self, agent_id: Option<&str>) -> Result<usize, Error> {
        crate::oversubscription::revoke(&mut self.inner.lock(), agent_id)
    }

    /// Offers the slack of `agent_id` (every agent when `None`) again.
    pub fn qos_restore(&self, agent_id: Option<&str>) -> Result<(), Error> {
        crate::oversubscription::restore(&mut self.inner.lock(), agent_id)
    }

    /// Fault: a network partition between the master and `agent_id` (its tasks run on,
    /// reported unreachable; see [`crate::partition`]).
    pub fn partition_agent(&self, agent_id: &str) -> Result<(), Error> {
        crate::partition::partition(&mut self.inner.lock(), agent_id)
    }

    /// Heals [`Cluster::partition_agent`]: the agent re-registers with its tasks.
    pub fn heal_agent(&self, agent_id: &str) -> Result<(), Error> {
        crate::partition::heal(&mut self.inner.lock(), agent_id)
    }

    /// Fault: SIGKILL to the process of every executor with this id.
    pub fn kill_executor(&self, executor_id: &str) -> Result<(), Error> {
        faults::kill_executor(&mut self.inner.lock(), executor_id)
    }

    /// Stops every executor as an agent that shuts down does (a `SHUTDOWN` event, then
    /// SIGTERM and SIGKILL after the executor's grace period), so that their tasks get their
    /// kill grace (a proxy answers the blocks it is submitting), and waits up to `timeout`
    /// for them to exit. Returns how many had not; dropping the cluster kills those.
    pub async fn shutdown(&self, timeout: Duration) -> usize {
        {
            let mut state = self.inner.lock();
            for index in 0..state.agents.len() {
                let keys: Vec<ExecKey> = state.agents[index].executors.keys().cloned().collect();
                for key in keys {
                    state.shutdown_executor(index, &key, true);
                }
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = self.executor_count();
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Executors alive on all agents.
    fn executor_count(&self) -> usize {
        let state = self.inner.lock();
        state.agents.iter().map(|agent| agent.executors.len()).sum()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let master_handles = self
            .master_handles
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for handle in master_handles.iter().flatten().chain(&self.handles) {
            handle.abort();
        }
        let mut state = self.inner.lock();
        let mut containers = Vec::new();
        for agent in &mut state.agents {
            for (_, exec) in agent.executors.drain() {
                let _ = exec.signals.send(libc::SIGKILL);
                containers.extend(exec.docker);
            }
        }
        // Killing `docker run` does not stop its container: remove them now,
        // the runtime may not get to deliver the signals.
        if let Some(cli) = &state.config.docker {
            crate::launcher::remove_containers(cli, &containers);
        }
        for framework in state.frameworks.values_mut() {
            framework.stream = None;
        }
    }
}
