//! The executor proper: subscribe to the agent, run what LAUNCH asks for,
//! report every state change in an UPDATE until it is acknowledged, KILL and
//! SHUTDOWN within their grace periods, and reconnect after a disconnection.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use mesos::client::{ClientConfig, ClientError, EventStream, ExecutorClient};
use mesos::v1::executor::{call, event, Call, Event};
use mesos::v1::{
    task_status, AgentId, DurationInfo, ExecutorId, FrameworkId, KillPolicy, TaskId, TaskInfo,
    TaskState, TaskStatus,
};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::ExecutorConfig;
use crate::spec::{resolve, TaskKind};
use crate::tasks::{spawn_miner, spawn_proxy, TaskEvent, TaskHandle};

/// Unacknowledged updates are sent again this often.
pub const RESEND_INTERVAL: Duration = Duration::from_secs(10);
/// No event for this long, once the agent has shown it sends HEARTBEATs
/// (Mesos: every 30 s): the connection is dead.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(120);
/// Before any HEARTBEAT: an agent that never sends them is not presumed dead.
const NO_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// First wait between subscription attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);

/// Why the executor stopped other than by SHUTDOWN or running out of tasks.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The agent endpoint is unusable.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The agent could not be reached in time.
    #[error("could not (re)subscribe to the agent within {limit:?}: {last_error}")]
    GaveUp {
        /// How long we tried.
        limit: Duration,
        /// The last failure.
        last_error: String,
    },
    /// The connection broke and the framework does not checkpoint.
    #[error("disconnected from the agent and the framework does not checkpoint")]
    Disconnected,
}

struct TaskEntry {
    info: TaskInfo,
    handle: Option<TaskHandle>,
    terminal: bool,
    killing: bool,
    acknowledged_any: bool,
}

/// One executor's state.
struct Executor {
    config: ExecutorConfig,
    client: ExecutorClient,
    events: mpsc::UnboundedSender<TaskEvent>,
    tasks: HashMap<String, TaskEntry>,
    /// Sent (or to send) and not yet acknowledged, oldest first.
    pending: Vec<TaskStatus>,
    agent_id: Option<AgentId>,
    connected: bool,
    ever_subscribed: bool,
    saw_heartbeat: bool,
    launched_any: bool,
    shutdown_deadline: Option<Instant>,
}

fn grace_of(policy: Option<&KillPolicy>) -> Option<Duration> {
    policy
        .and_then(|policy| policy.grace_period.as_ref())
        .map(DurationInfo::to_duration)
}

impl Executor {
    fn base(&self, kind: call::Type) -> Call {
        Call {
            executor_id: ExecutorId {
                value: self.config.executor_id.clone(),
            },
            framework_id: FrameworkId {
                value: self.config.framework_id.clone(),
            },
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    fn subscribe_call(&self) -> Call {
        let mut call = self.base(call::Type::Subscribe);
        call.subscribe = Some(call::Subscribe {
            unacknowledged_tasks: self
                .tasks
                .values()
                .filter(|task| !task.acknowledged_any)
                .map(|task| task.info.clone())
                .collect(),
            unacknowledged_updates: self
                .pending
                .iter()
                .map(|status| call::Update {
                    status: status.clone(),
                })
                .collect(),
        });
        call
    }

    /// Done: SHUTDOWN or at least one launch, every task terminal, every
    /// update acknowledged.
    fn finished(&self) -> bool {
        (self.shutdown_deadline.is_some() || self.launched_any)
            && self.tasks.values().all(|task| task.terminal)
            && self.pending.is_empty()
    }

    async fn update(&mut self, task_id: &str, state: TaskState, message: String) {
        let uuid: [u8; 16] = rand::random();
        let status = TaskStatus {
            task_id: TaskId {
                value: task_id.to_owned(),
            },
            state: state as i32,
            message: Some(message),
            source: Some(task_status::Source::Executor as i32),
            uuid: Some(Bytes::copy_from_slice(&uuid)),
            executor_id: Some(ExecutorId {
                value: self.config.executor_id.clone(),
            }),
            agent_id: self.agent_id.clone(),
            timestamp: Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |elapsed| elapsed.as_secs_f64()),
            ),
            ..Default::default()
        };
        info!(task = %task_id, state = ?state, message = status.message(), "update");
        if state.is_terminal() {
            if let Some(task) = self.tasks.get_mut(task_id) {
                task.terminal = true;
                task.handle = None;
            }
        }
        self.pending.push(status.clone());
        if self.connected {
            self.send_update(status).await;
        }
    }

    async fn send_update(&self, status: TaskStatus) {
        let mut call = self.base(call::Type::Update);
        call.update = Some(call::Update { status });
        if let Err(error) = self.client.call(&call).await {
            warn!(%error, "UPDATE not delivered; will retry");
        }
    }

    async fn resend(&self) {
        if !self.connected {
            return;
        }
        for status in &self.pending {
            debug!(task = %status.task_id.value, state = ?status.state(), "resending unacknowledged update");
            self.send_update(status.clone()).await;
        }
    }

    async fn on_task_event(&mut self, event: TaskEvent) {
        match event {
            TaskEvent::Status {
                task_id,
                state,
                message,
            } => {
                let already_terminal = self.tasks.get(&task_id).is_some_and(|task| task.terminal);
                if !already_terminal {
                    self.update(&task_id, state, message).await;
                }
            }
            TaskEvent::Message(data) => {
                if !self.connected {
                    return;
                }
                let mut call = self.base(call::Type::Message);
                call.message = Some(call::Message { data: data.into() });
                if let Err(error) = self.client.call(&call).await {
                    warn!(%error, "MESSAGE not delivered");
                }
            }
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event.r#type() {
            event::Type::Subscribed => {
                let subscribed = event.subscribed.unwrap_or_default();
                self.agent_id = subscribed.agent_info.id.clone().or(self.agent_id.take());
                self.connected = true;
                self.ever_subscribed = true;
                info!(
                    executor = %self.config.executor_id,
                    agent = ?self.agent_id.as_ref().map(|id| &id.value),
                    "subscribed"
                );
            }
            event::Type::Launch => {
                if let Some(launch) = event.launch {
                    self.launch(launch.task).await;
                }
            }
            event::Type::LaunchGroup => {
                let tasks = event
                    .launch_group
                    .map(|group| group.task_group.tasks)
                    .unwrap_or_default();
                for task in tasks {
                    let id = task.task_id.value.clone();
                    self.track(task, None, true);
                    self.update(
                        &id,
                        TaskState::TaskFailed,
                        "task groups are not supported by this executor".into(),
                    )
                    .await;
                }
            }
            event::Type::Kill => {
                if let Some(kill) = event.kill {
                    self.kill(&kill.task_id.value, kill.kill_policy.as_ref());
                }
            }
            event::Type::Acknowledged => {
                if let Some(ack) = event.acknowledged {
                    let before = self.pending.len();
                    self.pending
                        .retain(|status| status.uuid.as_ref() != Some(&ack.uuid));
                    debug!(task = %ack.task_id.value, removed = before - self.pending.len(), "acknowledged");
                    if let Some(task) = self.tasks.get_mut(&ack.task_id.value) {
                        task.acknowledged_any = true;
                    }
                }
            }
            event::Type::Message => {
                let len = event.message.map_or(0, |message| message.data.len());
                info!(bytes = len, "message from the scheduler (ignored)");
            }
            event::Type::Shutdown => self.shutdown(),
            event::Type::Error => {
                let message = event.error.map(|error| error.message).unwrap_or_default();
                error!(%message, "error from the agent");
            }
            event::Type::Heartbeat => {
                debug!("heartbeat");
                self.saw_heartbeat = true;
            }
            event::Type::Unknown => debug!("unknown event"),
        }
    }

    fn track(&mut self, info: TaskInfo, handle: Option<TaskHandle>, terminal: bool) {
        self.launched_any = true;
        self.tasks.insert(
            info.task_id.value.clone(),
            TaskEntry {
                info,
                handle,
                terminal,
                killing: false,
                acknowledged_any: false,
            },
        );
    }

    async fn launch(&mut self, task: TaskInfo) {
        let id = task.task_id.value.clone();
        if self.tasks.contains_key(&id) {
            warn!(task = %id, "LAUNCH of a task already known: ignored");
            return;
        }
        info!(task = %id, name = %task.name, "launch");
        if self.shutdown_deadline.is_some() {
            self.track(task, None, false);
            self.update(
                &id,
                TaskState::TaskFailed,
                "executor is shutting down".into(),
            )
            .await;
            return;
        }
        self.track(task.clone(), None, false);
        self.update(&id, TaskState::TaskStarting, "starting".into())
            .await;
        let handle = match resolve(&task, |name| std::env::var(name).ok()) {
            Ok(TaskKind::Miner(spec)) => spawn_miner(
                id.clone(),
                spec,
                self.config.report_interval,
                self.events.clone(),
            ),
            Ok(TaskKind::Proxy(spec)) => spawn_proxy(id.clone(), spec, self.events.clone()),
            Err(error) => {
                self.update(&id, TaskState::TaskFailed, error.to_string())
                    .await;
                return;
            }
        };
        if let Some(entry) = self.tasks.get_mut(&id) {
            entry.handle = Some(handle);
        }
    }

    fn kill(&mut self, task_id: &str, policy: Option<&KillPolicy>) {
        let default_grace = self.config.shutdown_grace_period;
        let Some(task) = self.tasks.get_mut(task_id) else {
            warn!(task = %task_id, "KILL for an unknown task: ignored");
            return;
        };
        if task.terminal || task.killing {
            debug!(task = %task_id, "KILL for a task already ending");
            return;
        }
        let grace = grace_of(policy)
            .or_else(|| grace_of(task.info.kill_policy.as_ref()))
            .unwrap_or(default_grace);
        info!(task = %task_id, ?grace, "kill");
        task.killing = true;
        if let Some(handle) = task.handle.as_mut() {
            handle.kill(grace);
        }
    }

    fn shutdown(&mut self) {
        let grace = self.config.shutdown_grace_period;
        info!(?grace, "shutdown");
        self.shutdown_deadline = Some(Instant::now() + grace);
        // Leave a quarter of the grace period to deliver the terminal updates.
        let task_grace = grace.mul_f64(0.75);
        for task in self.tasks.values_mut() {
            if !task.terminal && !task.killing {
                task.killing = true;
                if let Some(handle) = task.handle.as_mut() {
                    handle.kill(task_grace);
                }
            }
        }
    }

    /// Stops every task locally (no agent to tell) and waits up to `grace`.
    async fn stop_all(&mut self, events: &mut mpsc::UnboundedReceiver<TaskEvent>, grace: Duration) {
        self.connected = false;
        for task in self.tasks.values_mut() {
            if let Some(handle) = task.handle.as_mut() {
                handle.kill(grace);
            }
        }
        let deadline = Instant::now() + grace + Duration::from_millis(500);
        while !self.tasks.values().all(|task| task.terminal) {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => self.on_task_event(event).await,
                _ => break,
            }
        }
    }

    /// Subscribes, retrying with backoff for up to `limit` since `since`.
    async fn connect(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<TaskEvent>,
        since: Instant,
        limit: Duration,
    ) -> Result<EventStream<Event>, ExecutorError> {
        let mut backoff = BACKOFF_MIN.min(self.config.subscription_backoff_max);
        loop {
            // Whatever happened meanwhile goes into the SUBSCRIBE call.
            while let Ok(event) = events.try_recv() {
                self.on_task_event(event).await;
            }
            match self.client.subscribe(&self.subscribe_call()).await {
                Ok(stream) => return Ok(stream),
                Err(error) => {
                    if since.elapsed() >= limit {
                        return Err(ExecutorError::GaveUp {
                            limit,
                            last_error: error.to_string(),
                        });
                    }
                    warn!(%error, ?backoff, "SUBSCRIBE failed; retrying");
                }
            }
            let wait = backoff.mul_f64(rand::thread_rng().gen_range(0.5..1.0));
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.config.subscription_backoff_max);
        }
    }
}

/// Runs the executor until SHUTDOWN (or until its tasks have ended and their
/// last updates are acknowledged). An error means the agent was lost.
pub async fn run(config: ExecutorConfig) -> Result<(), ExecutorError> {
    let client = ExecutorClient::new(
        &config.agent_endpoint,
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            ..ClientConfig::default()
        },
    )?;
    info!(
        executor = %config.executor_id,
        framework = %config.framework_id,
        agent = %config.agent_endpoint,
        checkpoint = config.checkpoint,
        "executor starting"
    );
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut executor = Executor {
        config,
        client,
        events: events_tx,
        tasks: HashMap::new(),
        pending: Vec::new(),
        agent_id: None,
        connected: false,
        ever_subscribed: false,
        saw_heartbeat: false,
        launched_any: false,
        shutdown_deadline: None,
    };
    let mut stream: Option<EventStream<Event>> = None;
    let mut disconnected_at = Instant::now();
    let mut resend = tokio::time::interval(RESEND_INTERVAL);
    resend.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resend.tick().await;
    loop {
        if executor.finished() {
            info!("all tasks ended and acknowledged: exiting");
            return Ok(());
        }
        let Some(agent_events) = stream.as_mut() else {
            let config = &executor.config;
            let limit = if !executor.ever_subscribed || config.checkpoint {
                config.recovery_timeout
            } else {
                Duration::ZERO
            };
            if executor.ever_subscribed && !config.checkpoint {
                let grace = config.shutdown_grace_period;
                executor.stop_all(&mut events, grace).await;
                return Err(ExecutorError::Disconnected);
            }
            match executor.connect(&mut events, disconnected_at, limit).await {
                Ok(subscribed) => stream = Some(subscribed),
                Err(error) => {
                    let grace = executor.config.shutdown_grace_period;
                    executor.stop_all(&mut events, grace).await;
                    return Err(error);
                }
            }
            continue;
        };
        let shutdown_deadline = executor.shutdown_deadline;
        let liveness = if executor.saw_heartbeat {
            LIVENESS_TIMEOUT
        } else {
            NO_HEARTBEAT_TIMEOUT
        };
        tokio::select! {
            event = tokio::time::timeout(liveness, agent_events.next()) => match event {
                Ok(Some(Ok(event))) => executor.on_event(event).await,
                Ok(Some(Err(error))) => {
                    warn!(%error, "event stream failed");
                    stream = None;
                }
                Ok(None) => {
                    warn!("the agent closed the event stream");
                    stream = None;
                }
                Err(_) => {
                    warn!(timeout = ?liveness, "no event from the agent: reconnecting");
                    stream = None;
                }
            },
            Some(event) = events.recv() => executor.on_task_event(event).await,
            _ = resend.tick() => executor.resend().await,
            _ = tokio::time::sleep_until(shutdown_deadline.unwrap_or_else(Instant::now)),
                if shutdown_deadline.is_some() => {
                warn!("shutdown grace period over: exiting with updates unacknowledged");
                return Ok(());
            }
        }
        if stream.is_none() {
            executor.connected = false;
            disconnected_at = Instant::now();
        }
    }
}
