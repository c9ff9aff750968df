//! The executor's side of the v1 executor protocol, without I/O: which tasks
//! it knows and in what state, the updates not yet acknowledged, what the
//! next SUBSCRIBE carries, and what KILL and SHUTDOWN ask for. Each input (an
//! agent event, a task's news, the resend timer, a lost connection) returns
//! the [`Action`]s to take, which [`crate::executor`] carries out: calls to
//! send, programs to start, tasks to stop.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use mesos::id;
use mesos::v1::executor::{call, event, Call, Event};
use mesos::v1::{task_status, AgentId, DurationInfo, KillPolicy, TaskInfo, TaskState, TaskStatus};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::tasks::TaskEvent;

/// What the runtime is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this call (UPDATE or MESSAGE) to the agent.
    Call(Box<Call>),
    /// Start the task's program; report a failure to start with
    /// [`Session::start_failed`].
    Start(Box<TaskInfo>),
    /// Ask the task's program to stop within `grace`.
    Kill {
        /// The task.
        task_id: id::Task,
        /// How long it has before it is killed outright.
        grace: Duration,
    },
}

#[derive(Debug)]
struct TaskEntry {
    info: TaskInfo,
    terminal: bool,
    killing: bool,
    acknowledged_any: bool,
}

/// The protocol state of one executor.
#[derive(Debug)]
pub struct Session {
    executor_id: id::Executor,
    framework_id: id::Framework,
    /// SHUTDOWN's grace period, and a KILL's when the task names none.
    shutdown_grace: Duration,
    tasks: HashMap<id::Task, TaskEntry>,
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

impl Session {
    /// A session of executor `executor_id` of `framework_id`, not yet subscribed.
    pub fn new(
        executor_id: id::Executor,
        framework_id: id::Framework,
        shutdown_grace: Duration,
    ) -> Self {
        Self {
            executor_id,
            framework_id,
            shutdown_grace,
            tasks: HashMap::new(),
            pending: Vec::new(),
            agent_id: None,
            connected: false,
            ever_subscribed: false,
            saw_heartbeat: false,
            launched_any: false,
            shutdown_deadline: None,
        }
    }

    fn base(&self, kind: call::Type) -> Call {
        Call {
            executor_id: self.executor_id.to_proto(),
            framework_id: self.framework_id.to_proto(),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// The SUBSCRIBE call, with the tasks and updates the agent has not
    /// acknowledged (what it needs to recover them after a reconnection).
    pub fn subscribe_call(&self) -> Call {
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
    pub fn finished(&self) -> bool {
        (self.shutdown_deadline.is_some() || self.launched_any)
            && self.all_terminal()
            && self.pending.is_empty()
    }

    /// Every task known has ended.
    pub fn all_terminal(&self) -> bool {
        self.tasks.values().all(|task| task.terminal)
    }

    /// Whether the task has ended (unknown tasks have not started).
    pub fn is_terminal(&self, task_id: &id::Task) -> bool {
        self.tasks.get(task_id).is_some_and(|task| task.terminal)
    }

    /// Subscribed at least once.
    pub fn ever_subscribed(&self) -> bool {
        self.ever_subscribed
    }

    /// The agent has sent a HEARTBEAT, so silence means a dead connection.
    pub fn saw_heartbeat(&self) -> bool {
        self.saw_heartbeat
    }

    /// When SHUTDOWN's grace period ends, once one came.
    pub fn shutdown_deadline(&self) -> Option<Instant> {
        self.shutdown_deadline
    }

    /// The event stream ended: updates wait for the next subscription.
    pub fn disconnected(&mut self) {
        self.connected = false;
    }

    /// A new state of `task_id`, kept until acknowledged and sent if connected.
    fn update(&mut self, task_id: &id::Task, state: TaskState, message: String) -> Vec<Action> {
        let uuid: [u8; 16] = rand::random();
        let status = TaskStatus {
            task_id: task_id.to_proto(),
            state: state as i32,
            message: Some(message),
            source: Some(task_status::Source::Executor as i32),
            uuid: Some(Bytes::copy_from_slice(&uuid)),
            executor_id: Some(self.executor_id.to_proto()),
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
            }
        }
        self.pending.push(status.clone());
        if self.connected {
            vec![self.update_call(status)]
        } else {
            Vec::new()
        }
    }

    fn update_call(&self, status: TaskStatus) -> Action {
        let mut call = self.base(call::Type::Update);
        call.update = Some(call::Update { status });
        Action::Call(Box::new(call))
    }

    /// The resend timer: every unacknowledged update again, if connected.
    pub fn resend(&self) -> Vec<Action> {
        if !self.connected {
            return Vec::new();
        }
        self.pending
            .iter()
            .map(|status| {
                debug!(task = %status.task_id.value, state = ?status.state(), "resending unacknowledged update");
                self.update_call(status.clone())
            })
            .collect()
    }

    /// News from a task's program: a state to report, or data for a MESSAGE.
    pub fn on_task_event(&mut self, event: TaskEvent) -> Vec<Action> {
        match event {
            TaskEvent::Status {
                task_id,
                state,
                message,
            } => {
                if self.is_terminal(&task_id) {
                    return Vec::new();
                }
                self.update(&task_id, state, message)
            }
            TaskEvent::Message(data) => {
                if !self.connected {
                    return Vec::new();
                }
                let mut call = self.base(call::Type::Message);
                call.message = Some(call::Message { data: data.into() });
                vec![Action::Call(Box::new(call))]
            }
        }
    }

    /// The program of `task_id` could not be started.
    pub fn start_failed(&mut self, task_id: &id::Task, error: String) -> Vec<Action> {
        self.update(task_id, TaskState::TaskFailed, error)
    }

    /// One event from the agent, at `now`.
    pub fn on_event(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event.r#type() {
            event::Type::Subscribed => {
                let subscribed = event.subscribed.unwrap_or_default();
                self.agent_id = subscribed.agent_info.id.clone().or(self.agent_id.take());
                self.connected = true;
                self.ever_subscribed = true;
                info!(
                    executor = %self.executor_id,
                    agent = ?self.agent_id.as_ref().map(|id| &id.value),
                    "subscribed"
                );
                Vec::new()
            }
            event::Type::Launch => match event.launch {
                Some(launch) => self.launch(launch.task),
                None => Vec::new(),
            },
            event::Type::LaunchGroup => {
                let tasks = event
                    .launch_group
                    .map(|group| group.task_group.tasks)
                    .unwrap_or_default();
                let mut actions = Vec::new();
                for task in tasks {
                    let id = id::Task::from(&task.task_id);
                    self.track(task, true);
                    actions.extend(self.update(
                        &id,
                        TaskState::TaskFailed,
                        "task groups are not supported by this executor".into(),
                    ));
                }
                actions
            }
            event::Type::Kill => match event.kill {
                Some(kill) => self.kill(&id::Task::from(&kill.task_id), kill.kill_policy.as_ref()),
                None => Vec::new(),
            },
            event::Type::Acknowledged => {
                if let Some(ack) = event.acknowledged {
                    let before = self.pending.len();
                    self.pending
                        .retain(|status| status.uuid.as_ref() != Some(&ack.uuid));
                    debug!(task = %ack.task_id.value, removed = before - self.pending.len(), "acknowledged");
                    if let Some(task) = self.tasks.get_mut(ack.task_id.value.as_str()) {
                        task.acknowledged_any = true;
                    }
                }
                Vec::new()
            }
            event::Type::Message => {
                let len = event.message.map_or(0, |message| message.data.len());
                info!(bytes = len, "message from the scheduler (ignored)");
                Vec::new()
            }
            event::Type::Shutdown => self.shutdown(now),
            event::Type::Error => {
                let message = event.error.map(|error| error.message).unwrap_or_default();
                error!(%message, "error from the agent");
                Vec::new()
            }
            event::Type::Heartbeat => {
                debug!("heartbeat");
                self.saw_heartbeat = true;
                Vec::new()
            }
            event::Type::Unknown => {
                debug!("unknown event");
                Vec::new()
            }
        }
    }

    fn track(&mut self, info: TaskInfo, terminal: bool) {
        self.launched_any = true;
        self.tasks.insert(
            id::Task::from(&info.task_id),
            TaskEntry {
                info,
                terminal,
                killing: false,
                acknowledged_any: false,
            },
        );
    }

    fn launch(&mut self, task: TaskInfo) -> Vec<Action> {
        let id = id::Task::from(&task.task_id);
        if self.tasks.contains_key(&id) {
            warn!(task = %id, "LAUNCH of a task already known: ignored");
            return Vec::new();
        }
        info!(task = %id, name = %task.name, "launch");
        if self.shutdown_deadline.is_some() {
            self.track(task, false);
            return self.update(
                &id,
                TaskState::TaskFailed,
                "executor is shutting down".into(),
            );
        }
        self.track(task.clone(), false);
        let mut actions = self.update(&id, TaskState::TaskStarting, "starting".into());
        actions.push(Action::Start(Box::new(task)));
        actions
    }

    fn kill(&mut self, task_id: &id::Task, policy: Option<&KillPolicy>) -> Vec<Action> {
        let default_grace = self.shutdown_grace;
        let Some(task) = self.tasks.get_mut(task_id) else {
            warn!(task = %task_id, "KILL for an unknown task: ignored");
            return Vec::new();
        };
        if task.terminal || task.killing {
            debug!(task = %task_id, "KILL for a task already ending");
            return Vec::new();
        }
        let grace = grace_of(policy)
            .or_else(|| grace_of(task.info.kill_policy.as_ref()))
            .unwrap_or(default_grace);
        info!(task = %task_id, ?grace, "kill");
        task.killing = true;
        vec![Action::Kill {
            task_id: task_id.clone(),
            grace,
        }]
    }

    fn shutdown(&mut self, now: Instant) -> Vec<Action> {
        let grace = self.shutdown_grace;
        info!(?grace, "shutdown");
        self.shutdown_deadline = Some(now + grace);
        // Leave a quarter of the grace period to deliver the terminal updates.
        let task_grace = grace.mul_f64(0.75);
        let mut actions = Vec::new();
        for (task_id, task) in &mut self.tasks {
            if !task.terminal && !task.killing {
                task.killing = true;
                actions.push(Action::Kill {
                    task_id: task_id.clone(),
                    grace: task_grace,
                });
            }
        }
        actions
    }

    /// The agent is lost: every task that has not ended is to stop within
    /// `grace`, with no one to tell.
    pub fn stop_all(&mut self, grace: Duration) -> Vec<Action> {
        self.connected = false;
        self.tasks
            .iter()
            .filter(|(_, task)| !task.terminal)
            .map(|(task_id, _)| Action::Kill {
                task_id: task_id.clone(),
                grace,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos::v1::executor::event::{Acknowledged, Kill, Launch, Subscribed};
    use mesos::v1::{AgentInfo, FrameworkInfo, TaskId};

    const GRACE: Duration = Duration::from_secs(4);

    fn subscribed() -> Event {
        Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(Subscribed {
                executor_info: Default::default(),
                framework_info: FrameworkInfo::default(),
                agent_info: AgentInfo {
                    id: Some(AgentId { value: "a1".into() }),
                    ..Default::default()
                },
                container_id: None,
            }),
            ..Default::default()
        }
    }

    fn task(id: &str, grace: Option<Duration>) -> TaskInfo {
        TaskInfo {
            task_id: TaskId { value: id.into() },
            kill_policy: grace.map(|grace| KillPolicy {
                grace_period: Some(grace.into()),
            }),
            ..Default::default()
        }
    }

    fn launch(id: &str, grace: Option<Duration>) -> Event {
        Event {
            r#type: Some(event::Type::Launch as i32),
            launch: Some(Launch {
                task: task(id, grace),
            }),
            ..Default::default()
        }
    }

    fn kill(id: &str, grace: Option<Duration>) -> Event {
        Event {
            r#type: Some(event::Type::Kill as i32),
            kill: Some(Kill {
                task_id: TaskId { value: id.into() },
                kill_policy: grace.map(|grace| KillPolicy {
                    grace_period: Some(grace.into()),
                }),
            }),
            ..Default::default()
        }
    }

    fn simple(kind: event::Type) -> Event {
        Event {
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// The (task, state) of each UPDATE among `actions`.
    fn updates(actions: &[Action]) -> Vec<(String, TaskState)> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Call(call) => call.update.as_ref(),
                _ => None,
            })
            .map(|update| (update.status.task_id.value.clone(), update.status.state()))
            .collect()
    }

    fn status(id: &str, state: TaskState) -> TaskEvent {
        TaskEvent::Status {
            task_id: id.into(),
            state,
            message: String::new(),
        }
    }

    fn ack(session: &Session, id: &str) -> Event {
        let uuid = session
            .pending
            .iter()
            .rev()
            .find(|status| status.task_id.value == id)
            .and_then(|status| status.uuid.clone())
            .unwrap();
        Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(Acknowledged {
                task_id: TaskId { value: id.into() },
                uuid,
            }),
            ..Default::default()
        }
    }

    fn connected() -> Session {
        let mut session = Session::new("exec-1".into(), "fw-1".into(), GRACE);
        assert!(session.on_event(subscribed(), Instant::now()).is_empty());
        session
    }

    #[test]
    fn a_launch_is_reported_starting_then_started() {
        let mut session = connected();
        let actions = session.on_event(launch("t1", None), Instant::now());
        assert_eq!(updates(&actions), [("t1".into(), TaskState::TaskStarting)]);
        assert!(matches!(actions.last(), Some(Action::Start(task)) if task.task_id.value == "t1"));
        let Action::Call(call) = &actions[0] else {
            panic!("{actions:?}")
        };
        let status = &call.update.as_ref().unwrap().status;
        assert_eq!(status.agent_id.as_ref().unwrap().value, "a1");
        assert_eq!(status.uuid.as_ref().unwrap().len(), 16);
        // The same launch again is ignored.
        assert!(session
            .on_event(launch("t1", None), Instant::now())
            .is_empty());
        // A program that cannot start fails the task.
        let actions = session.start_failed(&"t1".into(), "no such spec".into());
        assert_eq!(updates(&actions), [("t1".into(), TaskState::TaskFailed)]);
        assert!(session.is_terminal(&"t1".into()));
    }

    #[test]
    fn updates_wait_for_their_acknowledgement_and_ride_in_the_next_subscribe() {
        let mut session = Session::new("exec-1".into(), "fw-1".into(), GRACE);
        // Not subscribed yet: kept, not sent.
        let actions = session.on_event(launch("t1", None), Instant::now());
        assert!(updates(&actions).is_empty(), "{actions:?}");
        assert!(
            session.resend().is_empty(),
            "nothing is sent while disconnected"
        );
        let subscribe = session.subscribe_call().subscribe.unwrap();
        assert_eq!(subscribe.unacknowledged_updates.len(), 1);
        assert_eq!(subscribe.unacknowledged_tasks.len(), 1);
        session.on_event(subscribed(), Instant::now());
        assert_eq!(
            updates(&session.resend()),
            [("t1".into(), TaskState::TaskStarting)]
        );
        let acked = ack(&session, "t1");
        session.on_event(acked, Instant::now());
        assert!(session.resend().is_empty());
        let subscribe = session.subscribe_call().subscribe.unwrap();
        assert!(subscribe.unacknowledged_updates.is_empty());
        assert!(
            subscribe.unacknowledged_tasks.is_empty(),
            "an acknowledged task is the agent's"
        );
        // Running, then finished: the executor is done once that is acknowledged too.
        session.on_task_event(status("t1", TaskState::TaskRunning));
        session.on_task_event(status("t1", TaskState::TaskFinished));
        // News after the end is not reported.
        assert!(session
            .on_task_event(status("t1", TaskState::TaskFailed))
            .is_empty());
        assert!(!session.finished());
        while let Some(uuid) = session.pending.first().and_then(|s| s.uuid.clone()) {
            session.on_event(
                Event {
                    r#type: Some(event::Type::Acknowledged as i32),
                    acknowledged: Some(Acknowledged {
                        task_id: TaskId { value: "t1".into() },
                        uuid,
                    }),
                    ..Default::default()
                },
                Instant::now(),
            );
        }
        assert!(session.finished());
    }

    #[test]
    fn kill_grace_comes_from_the_kill_then_the_task_then_the_executor() {
        let mut session = connected();
        session.on_event(launch("t1", Some(Duration::from_secs(2))), Instant::now());
        session.on_event(launch("t2", None), Instant::now());
        session.on_event(launch("t3", Some(Duration::from_secs(2))), Instant::now());
        let kills = |actions: Vec<Action>| -> Vec<(id::Task, Duration)> {
            actions
                .into_iter()
                .filter_map(|action| match action {
                    Action::Kill { task_id, grace } => Some((task_id, grace)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            kills(session.on_event(kill("t1", None), Instant::now())),
            [("t1".into(), Duration::from_secs(2))]
        );
        assert_eq!(
            kills(session.on_event(kill("t2", None), Instant::now())),
            [("t2".into(), GRACE)]
        );
        assert_eq!(
            kills(session.on_event(kill("t3", Some(Duration::from_secs(1))), Instant::now())),
            [("t3".into(), Duration::from_secs(1))]
        );
        // Already being killed, or unknown: nothing more.
        assert!(session
            .on_event(kill("t1", None), Instant::now())
            .is_empty());
        assert!(session
            .on_event(kill("nope", None), Instant::now())
            .is_empty());
    }

    #[test]
    fn shutdown_kills_what_runs_and_refuses_later_launches() {
        let mut session = connected();
        session.on_event(launch("t1", None), Instant::now());
        session.on_event(launch("t2", None), Instant::now());
        session.on_event(kill("t2", None), Instant::now());
        let now = Instant::now();
        let actions = session.on_event(simple(event::Type::Shutdown), now);
        assert_eq!(session.shutdown_deadline(), Some(now + GRACE));
        assert_eq!(
            actions,
            [Action::Kill {
                task_id: "t1".into(),
                grace: GRACE.mul_f64(0.75),
            }],
            "t2 is already being killed"
        );
        let actions = session.on_event(launch("t3", None), Instant::now());
        assert_eq!(updates(&actions), [("t3".into(), TaskState::TaskFailed)]);
        assert!(!actions.iter().any(|a| matches!(a, Action::Start(_))));
    }

    #[test]
    fn task_groups_fail_and_messages_go_out_only_while_connected() {
        let mut session = connected();
        let group = Event {
            r#type: Some(event::Type::LaunchGroup as i32),
            launch_group: Some(event::LaunchGroup {
                task_group: mesos::v1::TaskGroupInfo {
                    tasks: vec![task("g1", None), task("g2", None)],
                },
            }),
            ..Default::default()
        };
        assert_eq!(
            updates(&session.on_event(group, Instant::now())),
            [
                ("g1".into(), TaskState::TaskFailed),
                ("g2".into(), TaskState::TaskFailed)
            ]
        );
        let report = session.on_task_event(TaskEvent::Message(b"rate".to_vec()));
        assert!(matches!(&report[..], [Action::Call(call)] if call.message.is_some()));
        session.disconnected();
        assert!(session
            .on_task_event(TaskEvent::Message(b"rate".to_vec()))
            .is_empty());
        // The agent is lost: whatever has not ended is stopped.
        session.on_event(launch("t1", None), Instant::now());
        assert_eq!(
            session.stop_all(GRACE),
            [Action::Kill {
                task_id: "t1".into(),
                grace: GRACE,
            }]
        );
    }
}
