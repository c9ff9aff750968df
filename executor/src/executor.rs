//! The executor's runtime: the connection to the agent (subscribe, and
//! reconnect after a disconnection), the resend timer and the tasks'
//! programs, carrying out what the protocol state in [`crate::session`]
//! decides for each event.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use mesos::client::{ClientConfig, ClientError, EventStream, ExecutorClient};
use mesos::id;
use mesos::v1::executor::{call, Event};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::ExecutorConfig;
use crate::session::{Action, Session};
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

/// The session and the I/O it asks for: the agent client and the tasks' programs.
struct Executor {
    config: ExecutorConfig,
    client: ExecutorClient,
    events: mpsc::UnboundedSender<TaskEvent>,
    session: Session,
    /// The programs of tasks that have not ended.
    handles: HashMap<id::Task, TaskHandle>,
}

impl Executor {
    /// Carries out `actions` in order (a failed start adds its own).
    async fn perform(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Call(call) => {
                    if let Err(error) = self.client.call(&call).await {
                        match call.r#type() {
                            call::Type::Update => warn!(%error, "UPDATE not delivered; will retry"),
                            _ => warn!(%error, "MESSAGE not delivered"),
                        }
                    }
                }
                Action::Start(task) => {
                    let id = id::Task::from(&task.task_id);
                    let handle = match resolve(&task, |name| std::env::var(name).ok()) {
                        Ok(TaskKind::Miner(spec)) => spawn_miner(
                            id.clone(),
                            spec,
                            self.config.report_interval,
                            self.events.clone(),
                        ),
                        Ok(TaskKind::Proxy(spec)) => {
                            spawn_proxy(id.clone(), spec, self.events.clone())
                        }
                        Err(error) => {
                            queue.extend(self.session.start_failed(&id, error.to_string()));
                            continue;
                        }
                    };
                    self.handles.insert(id, handle);
                }
                Action::Kill { task_id, grace } => {
                    if let Some(handle) = self.handles.get_mut(&task_id) {
                        handle.kill(grace);
                    }
                }
            }
        }
        // An ended task's program is let go.
        let session = &self.session;
        self.handles.retain(|id, _| !session.is_terminal(id));
    }

    async fn on_task_event(&mut self, event: TaskEvent) {
        let actions = self.session.on_task_event(event);
        self.perform(actions).await;
    }

    /// Stops every task locally (no agent to tell) and waits up to `grace`.
    async fn stop_all(&mut self, events: &mut mpsc::UnboundedReceiver<TaskEvent>, grace: Duration) {
        let actions = self.session.stop_all(grace);
        self.perform(actions).await;
        let deadline = Instant::now() + grace + Duration::from_millis(500);
        while !self.session.all_terminal() {
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
            match self.client.subscribe(&self.session.subscribe_call()).await {
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
    let session = Session::new(
        config.executor_id.clone(),
        config.framework_id.clone(),
        config.shutdown_grace_period,
    );
    let mut executor = Executor {
        config,
        client,
        events: events_tx,
        session,
        handles: HashMap::new(),
    };
    let mut stream: Option<EventStream<Event>> = None;
    let mut disconnected_at = Instant::now();
    let mut resend = tokio::time::interval(RESEND_INTERVAL);
    resend.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resend.tick().await;
    loop {
        if executor.session.finished() {
            info!("all tasks ended and acknowledged: exiting");
            return Ok(());
        }
        let Some(agent_events) = stream.as_mut() else {
            let config = &executor.config;
            let limit = if !executor.session.ever_subscribed() || config.checkpoint {
                config.recovery_timeout
            } else {
                Duration::ZERO
            };
            if executor.session.ever_subscribed() && !config.checkpoint {
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
        let shutdown_deadline = executor.session.shutdown_deadline();
        let liveness = if executor.session.saw_heartbeat() {
            LIVENESS_TIMEOUT
        } else {
            NO_HEARTBEAT_TIMEOUT
        };
        tokio::select! {
            event = tokio::time::timeout(liveness, agent_events.next()) => match event {
                Ok(Some(Ok(event))) => {
                    let actions = executor.session.on_event(event, Instant::now());
                    executor.perform(actions).await;
                }
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
            _ = resend.tick() => {
                let actions = executor.session.resend();
                executor.perform(actions).await;
            }
            _ = tokio::time::sleep_until(shutdown_deadline.unwrap_or_else(Instant::now)),
                if shutdown_deadline.is_some() => {
                warn!("shutdown grace period over: exiting with updates unacknowledged");
                return Ok(());
            }
        }
        if stream.is_none() {
            executor.session.disconnected();
            disconnected_at = Instant::now();
        }
    }
}
