//! The cluster's whole state behind one mutex: frameworks and their event
//! streams, agents and their executors, offers, tasks with their status
//! update queues. Nothing here does I/O or awaits: what must touch the
//! system is queued as an [`Effect`] (see [`crate::effect`]) for the runtime
//! to carry out once the lock is released. Time comes from the state's
//! [`Clock`] (frozen and moved by unit tests), and time-driven work
//! (heartbeats, filters, update retries, grace periods, failover timeouts)
//! is done by [`State::tick`], which one task calls for the whole cluster:
//! no task or thread per agent.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mesos::id;
use mesos::recordio;
use mesos::v1::scheduler::{event, Event};
use mesos::v1::{
    executor, task_status, AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkInfo, Offer,
    OfferId, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::config::ClusterConfig;
use crate::effect::Effect;
use crate::reply::StreamOwner;
use crate::resources::Bundle;
use crate::secrets::SecretStore;

/// `(framework id, task id)`.
pub(crate) type TaskKey = (id::Framework, id::Task);
/// `(framework id, executor id)`.
pub(crate) type ExecKey = (id::Framework, id::Executor);

/// The key of `task` of `framework`.
pub(crate) fn task_key(framework: &str, task: &str) -> TaskKey {
    (framework.into(), task.into())
}

/// The key of `executor` of `framework`.
pub(crate) fn exec_key(framework: &str, executor: &str) -> ExecKey {
    (framework.into(), executor.into())
}

/// A scheduler's open SUBSCRIBE stream.
#[derive(Debug)]
pub(crate) struct SchedStream {
    pub id: String,
    pub tx: mpsc::UnboundedSender<Bytes>,
}

/// Resources a framework refused on one agent, until `until`.
#[derive(Debug)]
pub(crate) struct Filter {
    pub agent: usize,
    pub res: Bundle,
    pub until: Instant,
}

#[derive(Debug)]
pub(crate) struct Framework {
    pub id: id::Framework,
    pub info: FrameworkInfo,
    pub stream: Option<SchedStream>,
    /// Since when no scheduler is subscribed (failover timer).
    pub disconnected_at: Option<Instant>,
    pub suppressed: bool,
    pub filters: Vec<Filter>,
    pub next_heartbeat: Instant,
}

impl Framework {
    pub fn has_capability(&self, capability: mesos::v1::framework_info::capability::Type) -> bool {
        self.info
            .capabilities
            .iter()
            .any(|c| c.r#type() == capability)
    }

    pub fn partition_aware(&self) -> bool {
        self.has_capability(mesos::v1::framework_info::capability::Type::PartitionAware)
    }

    /// The roles it is subscribed with (`roles` for MULTI_ROLE frameworks,
    /// else `role`).
    pub fn roles(&self) -> Vec<String> {
        if self.has_capability(mesos::v1::framework_info::capability::Type::MultiRole) {
            self.info.roles.clone()
        } else {
            vec![self.info.role.clone().unwrap_or_else(|| "*".into())]
        }
    }

    /// The role offers are allocated to, for MULTI_ROLE frameworks.
    pub fn allocation_role(&self) -> Option<String> {
        self.has_capability(mesos::v1::framework_info::capability::Type::MultiRole)
            .then(|| {
                self.info
                    .roles
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "*".into())
            })
    }

    pub fn failover_timeout(&self) -> Duration {
        let secs = self.info.failover_timeout.unwrap_or(0.0);
        if secs.is_finite() && secs > 0.0 {
            Duration::from_secs_f64(secs.min(1e9))
        } else {
            Duration::ZERO
        }
    }
}

/// Terminating an executor: SIGTERM at `term_at`, SIGKILL at `kill_at`.
#[derive(Debug)]
pub(crate) struct ExecShutdown {
    pub term_at: Instant,
    pub kill_at: Instant,
    pub termed: bool,
    pub killed: bool,
}

#[derive(Debug)]
pub(crate) struct ExecRec {
    pub framework_id: id::Framework,
    pub executor_id: id::Executor,
    pub info: ExecutorInfo,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    /// Signals for the process monitor to deliver.
    pub signals: mpsc::UnboundedSender<i32>,
    pub stream: Option<mpsc::UnboundedSender<Bytes>>,
    pub stream_seq: u64,
    pub next_heartbeat: Instant,
    /// Tasks waiting for the executor to subscribe.
    pub pending_launch: Vec<TaskInfo>,
    pub started_at: Instant,
    pub subscribed_once: bool,
    pub shutdown: Option<ExecShutdown>,
    /// Why the agent is terminating the executor, for its tasks' updates.
    pub termination_reason: Option<task_status::Reason>,
    pub res: Bundle,
    /// After an agent restart: the executor must resubscribe by then or be
    /// killed (Mesos' `--executor_reregistration_timeout`).
    pub reregister_by: Option<Instant>,
    /// The Docker container it runs in (`mesos-<container id>`), if any.
    pub docker: Option<String>,
    /// Set for a command task: the agent is its executor (Mesos' docker
    /// executor), so there is no subscription and the task's states follow
    /// the container's.
    pub command_task: Option<String>,
}

impl ExecRec {
    pub fn send(&self, event: &executor::Event) -> bool {
        match &self.stream {
            Some(tx) => tx.send(recordio::encode_message(event)).is_ok(),
            None => false,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: String,
    pub addr: SocketAddr,
    pub hostname: String,
    /// Everything it has, as reserved and made into volumes by operations.
    pub total: Bundle,
    pub alive: bool,
    /// Restarting (a fault): its executor API answers 503 until then, and it
    /// makes no offers.
    pub down_until: Option<Instant>,
    pub executors: HashMap<ExecKey, ExecRec>,
    /// Its oversubscribed slack (revocable CPUs).
    pub slack: crate::oversubscription::Slack,
    /// Its attributes, in its AgentInfo and offers.
    pub attributes: Vec<mesos::v1::Attribute>,
    /// Fault: cut off from the master (see [`crate::partition`]): it runs on, but makes no
    /// offers, and no update or kill crosses.
    pub partitioned: bool,
}

impl Agent {
    /// Up and serving its executor API (not removed, not restarting).
    pub fn serving(&self, now: Instant) -> bool {
        self.alive && self.down_until.is_none_or(|until| now >= until)
    }

    pub fn info(&self) -> AgentInfo {
        AgentInfo {
            hostname: self.hostname.clone(),
            port: Some(i32::from(self.addr.port())),
            resources: self.total.to_resources(None),
            attributes: self.attributes.clone(),
            id: Some(AgentId {
                value: self.id.clone(),
            }),
            ..Default::default()
        }
    }
}

#[derive(Debug)]
pub(crate) struct OfferRec {
    pub framework_id: id::Framework,
    pub agent: usize,
    pub res: Bundle,
}

/// A status update waiting for the scheduler's acknowledgement.
#[derive(Debug, Clone)]
pub(crate) struct PendingUpdate {
    pub status: TaskStatus,
    /// Acknowledgements of executor updates are passed on to the executor.
    pub from_executor: bool,
}

#[derive(Debug)]
pub(crate) struct TaskRec {
    pub agent: usize,
    pub executor_id: id::Executor,
    pub res: Bundle,
    pub state: TaskState,
    pub latest: TaskStatus,
    pub kill_policy: Option<mesos::v1::KillPolicy>,
    /// When a KILL was asked for: the deadline for a terminal update.
    pub kill_deadline: Option<Instant>,
    pub kill_requested: bool,
    pub updates: VecDeque<PendingUpdate>,
    /// The last few acknowledged uuids, to recognise an executor's retries.
    pub acked: VecDeque<Bytes>,
    pub next_retry: Instant,
    pub backoff: Duration,
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// 16 random bytes: a status update uuid.
pub(crate) fn random_uuid_bytes() -> Bytes {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Bytes::copy_from_slice(&bytes)
}

/// A random UUID in its text form.
pub(crate) fn random_uuid() -> String {
    let bytes = random_uuid_bytes();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A status the master or agent makes up (no executor involved).
pub(crate) fn make_status(
    task_id: &str,
    state: TaskState,
    source: task_status::Source,
    reason: Option<task_status::Reason>,
    message: &str,
) -> TaskStatus {
    TaskStatus {
        task_id: TaskId {
            value: task_id.into(),
        },
        state: state as i32,
        message: Some(message.into()),
        source: Some(source as i32),
        reason: reason.map(|reason| reason as i32),
        timestamp: Some(now_secs()),
        ..Default::default()
    }
}

/// The state's time: the real clock, or one a test sets and moves.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    fixed: Option<Instant>,
}

impl Clock {
    pub fn now(&self) -> Instant {
        self.fixed.unwrap_or_else(Instant::now)
    }

    /// Stops the clock at the present (a test's).
    #[cfg(test)]
    pub fn freeze(&mut self) {
        self.fixed = Some(Instant::now());
    }

    /// Moves a frozen clock on.
    #[cfg(test)]
    pub fn advance(&mut self, by: Duration) {
        let now = self.fixed.expect("a frozen clock");
        self.fixed = Some(now + by);
    }
}

pub(crate) struct State {
    pub config: ClusterConfig,
    pub clock: Clock,
    /// What the runtime is to do once the lock is released.
    effects: Vec<Effect>,
    pub master_id: String,
    pub master_addr: SocketAddr,
    seq: u64,
    pub frameworks: BTreeMap<id::Framework, Framework>,
    pub removed_frameworks: HashSet<id::Framework>,
    pub agents: Vec<Agent>,
    pub offers: HashMap<String, OfferRec>,
    pub tasks: HashMap<TaskKey, TaskRec>,
    pub next_allocation: Instant,
    pub allocation_needed: bool,
    pub stream_seq: u64,
    /// Where REFERENCE secrets resolve from.
    pub secrets: SecretStore,
    /// The maintenance schedule and DOWN machines.
    pub maintenance: crate::maintenance::Maintenance,
    pub inverse_offers: crate::maintenance::InverseOffers,
    /// Operations with feedback whose status awaits an acknowledgement.
    pub operations: HashMap<crate::operations::OperationKey, crate::operations::OperationRec>,
}

impl State {
    /// A cluster of one agent per address in `agent_addrs` (the `index`th
    /// with `attributes[index]`), each with the resources `config` gives.
    pub fn new(
        config: ClusterConfig,
        master_addr: SocketAddr,
        agent_addrs: &[SocketAddr],
        attributes: Vec<Vec<mesos::v1::Attribute>>,
    ) -> Self {
        let mut state = Self {
            config,
            clock: Clock::default(),
            effects: Vec::new(),
            master_id: random_uuid(),
            master_addr,
            seq: 0,
            frameworks: BTreeMap::new(),
            removed_frameworks: HashSet::new(),
            agents: Vec::new(),
            offers: HashMap::new(),
            tasks: HashMap::new(),
            next_allocation: Instant::now(),
            allocation_needed: true,
            stream_seq: 0,
            secrets: SecretStore::default(),
            maintenance: Default::default(),
            inverse_offers: Default::default(),
            operations: HashMap::new(),
        };
        let hostname = state.hostname();
        let config = &state.config;
        let total = Bundle::from(
            crate::resources::Res::new(
                config.cpus,
                config.mem_mb,
                vec![(config.ports.0, config.ports.1)],
            )
            .with_disk(config.disk_mb),
        );
        let mut attributes = attributes.into_iter();
        let agents = agent_addrs
            .iter()
            .enumerate()
            .map(|(index, addr)| Agent {
                id: format!("{}-S{index}", state.master_id),
                addr: *addr,
                hostname: config
                    .agent_hostnames
                    .get(index)
                    .cloned()
                    .or_else(|| {
                        config
                            .agent_hosts
                            .get(index)
                            .map(|host| host.ip.to_string())
                    })
                    .unwrap_or_else(|| hostname.clone()),
                total: total.clone(),
                alive: true,
                down_until: None,
                executors: Default::default(),
                slack: crate::oversubscription::Slack::cpus(config.revocable_cpus),
                attributes: attributes.next().unwrap_or_default(),
                partitioned: false,
            })
            .collect();
        state.agents = agents;
        state
    }

    /// Queues `effect` for the runtime.
    pub fn effect(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// What the runtime is to do, in order; called as the lock is released.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// An event stream's reader is gone: a scheduler disconnects (if it is
    /// still its current stream), an executor's stream is forgotten.
    pub fn stream_closed(&mut self, owner: StreamOwner) {
        match owner {
            StreamOwner::Scheduler {
                framework_id,
                stream_id,
            } => {
                let current = self
                    .frameworks
                    .get(framework_id.as_str())
                    .and_then(|framework| framework.stream.as_ref())
                    .is_some_and(|stream| stream.id == stream_id);
                if current {
                    self.disconnect_framework(&framework_id);
                }
            }
            StreamOwner::Executor {
                agent,
                framework_id,
                executor_id,
                stream_seq,
            } => {
                if let Some(exec) = self.agents[agent]
                    .executors
                    .get_mut(&(framework_id, executor_id))
                {
                    if exec.stream_seq == stream_seq {
                        exec.stream = None;
                    }
                }
            }
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn hostname(&self) -> String {
        self.config
            .hostname
            .clone()
            .unwrap_or_else(|| self.master_addr.ip().to_string())
    }

    /// Sends an event to a framework's scheduler, if one is subscribed.
    pub fn send(&self, framework_id: &str, event: &Event) -> bool {
        let Some(stream) = self
            .frameworks
            .get(framework_id)
            .and_then(|framework| framework.stream.as_ref())
        else {
            return false;
        };
        stream.tx.send(recordio::encode_message(event)).is_ok()
    }

    pub fn send_update(&self, framework_id: &str, status: TaskStatus) -> bool {
        self.send(
            framework_id,
            &Event {
                r#type: Some(event::Type::Update as i32),
                update: Some(event::Update { status }),
                ..Default::default()
            },
        )
    }

    /// The agent index for an agent id, if it is alive.
    pub fn agent_index(&self, agent_id: &str) -> Option<usize> {
        self.agents
            .iter()
            .position(|agent| agent.id == agent_id && agent.alive)
    }

    /// Resources of each agent taken by live tasks, executors and offers.
    fn used_per_agent(&self) -> Vec<Bundle> {
        let mut used = vec![Bundle::default(); self.agents.len()];
        for task in self.tasks.values() {
            if !task.state.is_terminal() && task.state != TaskState::TaskUnreachable {
                used[task.agent].add(&task.res);
            }
        }
        for (index, agent) in self.agents.iter().enumerate() {
            for exec in agent.executors.values() {
                used[index].add(&exec.res);
            }
        }
        for offer in self.offers.values() {
            used[offer.agent].add(&offer.res);
        }
        used
    }

    /// Offers every agent's unused resources to a framework that wants them.
    pub fn allocate(&mut self) {
        self.allocation_needed = false;
        let now = self.clock.now();
        for framework in self.frameworks.values_mut() {
            framework.filters.retain(|filter| filter.until > now);
        }
        let used = self.used_per_agent();
        let mut batches: BTreeMap<id::Framework, Vec<Offer>> = BTreeMap::new();
        // Rotate the starting framework so several share the agents.
        let eligible: Vec<id::Framework> = self
            .frameworks
            .values()
            .filter(|framework| framework.stream.is_some() && !framework.suppressed)
            .map(|framework| framework.id.clone())
            .collect();
        if eligible.is_empty() {
            return;
        }
        let now = self.clock.now();
        for (index, used) in used.iter().enumerate() {
            if !self.agents[index].serving(now) || self.agents[index].partitioned {
                continue;
            }
            let mut free = self.agents[index].total.clone();
            free.add(&self.agents[index].slack.bundle());
            free.subtract(used);
            if free.is_empty() {
                continue;
            }
            let start = index % eligible.len();
            // Each framework sees the unreserved part and what is reserved
            // for its roles.
            let chosen = (0..eligible.len())
                .map(|offset| &eligible[(start + offset) % eligible.len()])
                .find_map(|framework_id| {
                    let framework = &self.frameworks[framework_id];
                    let offered = crate::oversubscription::offerable(
                        framework,
                        free.for_roles(&framework.roles()),
                    );
                    let filtered = framework
                        .filters
                        .iter()
                        .any(|filter| filter.agent == index && filter.res.contains(&offered));
                    (!offered.is_empty() && !filtered).then(|| (framework_id.clone(), offered))
                });
            let Some((framework_id, free)) = chosen else {
                continue;
            };
            let seq = self.next_seq();
            let offer_id = format!("{}-O{seq}", self.master_id);
            let framework = &self.frameworks[&framework_id];
            let agent = &self.agents[index];
            let allocation_role = framework.allocation_role();
            let offer = Offer {
                id: OfferId {
                    value: offer_id.clone(),
                },
                framework_id: framework_id.to_proto(),
                agent_id: AgentId {
                    value: agent.id.clone(),
                },
                hostname: agent.hostname.clone(),
                url: Some(mesos::v1::Url {
                    scheme: "http".into(),
                    address: mesos::v1::Address {
                        hostname: Some(agent.hostname.clone()),
                        ip: Some(agent.addr.ip().to_string()),
                        port: i32::from(agent.addr.port()),
                    },
                    path: Some("/slave(1)".into()),
                    ..Default::default()
                }),
                resources: free.to_resources(allocation_role.as_deref()),
                attributes: agent.attributes.clone(),
                executor_ids: agent
                    .executors
                    .values()
                    .filter(|exec| exec.framework_id == framework_id)
                    .map(|exec| ExecutorId {
                        value: exec.executor_id.to_string(),
                    })
                    .collect(),
                allocation_info: allocation_role
                    .map(|role| mesos::v1::resource::AllocationInfo { role: Some(role) }),
                // A draining agent's offers tell when it goes away.
                unavailability: self.agent_unavailability(index),
                ..Default::default()
            };
            debug!(%offer_id, agent = %agent.id, framework = %framework_id, "offering");
            self.offers.insert(
                offer_id,
                OfferRec {
                    framework_id: framework_id.as_str().into(),
                    agent: index,
                    res: free,
                },
            );
            batches.entry(framework_id).or_default().push(offer);
        }
        for (framework_id, offers) in batches {
            let sent = self.send(
                &framework_id,
                &Event {
                    r#type: Some(event::Type::Offers as i32),
                    offers: Some(event::Offers { offers }),
                    ..Default::default()
                },
            );
            if !sent {
                self.offers
                    .retain(|_, offer| offer.framework_id != framework_id);
            }
        }
    }

    /// Removes a framework's offers; with `rescind`, tells the scheduler.
    pub fn remove_offers(&mut self, framework_id: &str, rescind: bool) {
        let ids: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, offer)| offer.framework_id == framework_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.offers.remove(&id);
            if rescind {
                self.send_rescind(framework_id, &id);
            }
        }
        self.allocation_needed = true;
    }

    pub fn send_rescind(&self, framework_id: &str, offer_id: &str) {
        self.send(
            framework_id,
            &Event {
                r#type: Some(event::Type::Rescind as i32),
                rescind: Some(event::Rescind {
                    offer_id: OfferId {
                        value: offer_id.into(),
                    },
                }),
                ..Default::default()
            },
        );
    }

    /// Records a status for a task and queues it for the scheduler, which
    /// must acknowledge it (it gets a uuid if it has none).
    pub fn enqueue_update(&mut self, key: &TaskKey, mut status: TaskStatus, from_executor: bool) {
        let retry = self.config.status_update_retry;
        let now = self.clock.now();
        let Some(task) = self.tasks.get_mut(key) else {
            return;
        };
        let agent = &self.agents[task.agent];
        status.agent_id = Some(AgentId {
            value: agent.id.clone(),
        });
        status.executor_id = Some(task.executor_id.to_proto());
        if status.container_status.is_none() {
            let exec_key = (key.0.clone(), task.executor_id.clone());
            status.container_status =
                agent
                    .executors
                    .get(&exec_key)
                    .map(|exec| mesos::v1::ContainerStatus {
                        container_id: Some(mesos::v1::ContainerId {
                            value: exec.container_id.clone(),
                            parent: None,
                        }),
                        executor_pid: exec.pid,
                        ..Default::default()
                    });
        }
        if status.timestamp.is_none() {
            status.timestamp = Some(now_secs());
        }
        if status.uuid.as_ref().is_none_or(|uuid| uuid.is_empty()) {
            status.uuid = Some(random_uuid_bytes());
        }
        let state = status.state();
        let was_live = !task.state.is_terminal();
        task.state = state;
        task.latest = status.clone();
        if state.is_terminal() && was_live {
            self.allocation_needed = true;
        }
        task.updates.push_back(PendingUpdate {
            status,
            from_executor,
        });
        if task.updates.len() == 1 {
            task.backoff = retry;
            task.next_retry = now + retry;
            let head = task.updates[0].status.clone();
            self.send_update(&key.0, head);
        }
    }

    /// Sends again every unacknowledged update at the head of its queue.
    pub fn resend_pending(&mut self, framework_id: &str) {
        let retry = self.config.status_update_retry;
        let now = self.clock.now();
        let mut heads = Vec::new();
        for ((fw, _), task) in self.tasks.iter_mut() {
            if fw == framework_id {
                if let Some(head) = task.updates.front() {
                    heads.push(head.status.clone());
                    task.backoff = retry;
                    task.next_retry = now + retry;
                }
            }
        }
        for status in heads {
            self.send_update(framework_id, status);
        }
    }

    /// Time-driven work; called every few milliseconds by the cluster.
    pub fn tick(&mut self) {
        let now = self.clock.now();
        self.heartbeats(now);
        self.expire_failovers(now);
        self.retry_updates(now);
        self.retry_operation_updates(now);
        self.enforce_kill_deadlines(now);
        self.escalate_shutdowns(now);
        self.expire_registrations(now);
        self.expire_reregistrations(now);
        self.send_inverse_offers(now);
        if self.allocation_needed || now >= self.next_allocation {
            self.next_allocation = now + self.config.allocation_interval;
            self.allocate();
        }
    }

    fn heartbeats(&mut self, now: Instant) {
        let executor_interval = self.config.executor_heartbeat_interval;
        for agent in &mut self.agents {
            for exec in agent.executors.values_mut() {
                if exec.stream.is_some() && exec.next_heartbeat <= now {
                    exec.next_heartbeat = now + executor_interval;
                    exec.send(&executor::Event {
                        r#type: Some(executor::event::Type::Heartbeat as i32),
                        ..Default::default()
                    });
                }
            }
        }
        let interval = self.config.heartbeat_interval;
        let due: Vec<id::Framework> = self
            .frameworks
            .values_mut()
            .filter(|framework| framework.stream.is_some() && framework.next_heartbeat <= now)
            .map(|framework| {
                framework.next_heartbeat = now + interval;
                framework.id.clone()
            })
            .collect();
        for framework_id in due {
            self.send(
                &framework_id,
                &Event {
                    r#type: Some(event::Type::Heartbeat as i32),
                    ..Default::default()
                },
            );
        }
    }

    fn expire_failovers(&mut self, now: Instant) {
        let expired: Vec<id::Framework> = self
            .frameworks
            .values()
            .filter(|framework| {
                framework.stream.is_none()
                    && framework
                        .disconnected_at
                        .is_some_and(|since| now >= since + framework.failover_timeout())
            })
            .map(|framework| framework.id.clone())
            .collect();
        for framework_id in expired {
            info!(framework = %framework_id, "failover timeout expired; removing the framework");
            self.remove_framework(&framework_id);
        }
    }

    fn retry_updates(&mut self, now: Instant) {
        let max = self.config.status_update_retry_max;
        let mut due = Vec::new();
        for ((framework_id, _), task) in self.tasks.iter_mut() {
            if let Some(head) = task.updates.front() {
                if task.next_retry <= now {
                    task.backoff = (task.backoff * 2).min(max);
                    task.next_retry = now + task.backoff;
                    due.push((framework_id.clone(), head.status.clone()));
                }
            }
        }
        for (framework_id, status) in due {
            debug!(framework = %framework_id, task = %status.task_id.value, "retrying status update");
            self.send_update(&framework_id, status);
        }
    }

    fn enforce_kill_deadlines(&mut self, now: Instant) {
        let mut overdue = Vec::new();
        for ((framework_id, _), task) in self.tasks.iter_mut() {
            if task.kill_deadline.is_some_and(|deadline| deadline <= now) {
                task.kill_deadline = None;
                if !task.state.is_terminal() {
                    overdue.push((task.agent, (framework_id.clone(), task.executor_id.clone())));
                }
            }
        }
        for (agent, key) in overdue {
            info!(executor = %key.1, "task not killed within its grace period; killing the executor");
            self.shutdown_executor(agent, &key, false);
        }
    }

    pub(crate) fn escalate_shutdowns(&mut self, now: Instant) {
        for agent in &mut self.agents {
            for exec in agent.executors.values_mut() {
                let Some(shutdown) = exec.shutdown.as_mut() else {
                    continue;
                };
                if !shutdown.termed && now >= shutdown.term_at {
                    shutdown.termed = true;
                    let _ = exec.signals.send(libc::SIGTERM);
                }
                if !shutdown.killed && now >= shutdown.kill_at {
                    shutdown.killed = true;
                    let _ = exec.signals.send(libc::SIGKILL);
                }
            }
        }
    }

    fn expire_registrations(&mut self, now: Instant) {
        let timeout = self.config.executor_registration_timeout;
        let mut expired = Vec::new();
        for (index, agent) in self.agents.iter().enumerate() {
            for (key, exec) in &agent.executors {
                if !exec.subscribed_once
                    && exec.shutdown.is_none()
                    && now >= exec.started_at + timeout
                {
                    expired.push((index, key.clone()));
                }
            }
        }
        for (agent, key) in expired {
            info!(executor = %key.1, "executor did not subscribe in time");
            if let Some(exec) = self.agents[agent].executors.get_mut(&key) {
                exec.termination_reason = Some(task_status::Reason::ExecutorRegistrationTimeout);
            }
            self.shutdown_executor(agent, &key, false);
        }
    }

    /// Executors that did not resubscribe after an agent restart in time
    /// are killed; their tasks fail.
    fn expire_reregistrations(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (index, agent) in self.agents.iter_mut().enumerate() {
            if agent.down_until.is_some_and(|until| now >= until) {
                agent.down_until = None;
                info!(agent = %agent.id, "agent is back after its restart");
                self.allocation_needed = true;
            }
            for (key, exec) in &agent.executors {
                if exec.reregister_by.is_some_and(|by| now >= by) && exec.shutdown.is_none() {
                    expired.push((index, key.clone()));
                }
            }
        }
        for (agent, key) in expired {
            info!(executor = %key.1, "executor did not resubscribe after the agent restart");
            if let Some(exec) = self.agents[agent].executors.get_mut(&key) {
                exec.reregister_by = None;
                exec.termination_reason = Some(task_status::Reason::ExecutorReregistrationTimeout);
            }
            self.shutdown_executor(agent, &key, false);
        }
    }

    /// Starts terminating an executor: SHUTDOWN event (when `graceful` and
    /// subscribed), SIGTERM after the grace period, SIGKILL after that.
    pub fn shutdown_executor(&mut self, agent: usize, key: &ExecKey, graceful: bool) {
        let default_grace = self.config.executor_shutdown_grace;
        let now = self.clock.now();
        let Some(exec) = self.agents[agent].executors.get_mut(key) else {
            return;
        };
        if exec.shutdown.is_some() {
            return;
        }
        let grace = exec
            .info
            .shutdown_grace_period
            .as_ref()
            .map_or(default_grace, |grace| {
                Duration::from_nanos(grace.nanoseconds.max(0) as u64)
            });
        let shutdown_sent = graceful
            && exec.send(&executor::Event {
                r#type: Some(executor::event::Type::Shutdown as i32),
                ..Default::default()
            });
        let term_at = if shutdown_sent { now + grace } else { now };
        exec.shutdown = Some(ExecShutdown {
            term_at,
            kill_at: term_at + grace.max(Duration::from_secs(1)),
            termed: false,
            killed: false,
        });
        self.escalate_shutdowns(now);
    }

    /// Forgets a framework: its offers, tasks and executors (killed).
    pub fn remove_framework(&mut self, framework_id: &str) {
        self.remove_offers(framework_id, false);
        self.forget_inverse_offers(framework_id);
        let Some(framework) = self.frameworks.remove(framework_id) else {
            return;
        };
        drop(framework.stream);
        self.removed_frameworks.insert(framework_id.into());
        self.tasks.retain(|(fw, _), _| fw != framework_id);
        self.operations.retain(|(fw, _), _| fw != framework_id);
        for index in 0..self.agents.len() {
            let keys: Vec<ExecKey> = self.agents[index]
                .executors
                .keys()
                .filter(|(fw, _)| fw == framework_id)
                .cloned()
                .collect();
            for key in keys {
                self.shutdown_executor(index, &key, true);
            }
        }
        self.allocation_needed = true;
    }

    /// The scheduler's stream is gone: start the failover timer.
    pub fn disconnect_framework(&mut self, framework_id: &str) {
        let now = self.clock.now();
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if framework.stream.take().is_none() {
            return;
        }
        info!(framework = %framework_id, "scheduler disconnected");
        framework.disconnected_at = Some(now);
        self.remove_offers(framework_id, false);
        self.forget_inverse_offers(framework_id);
    }
}
