//! The unit tests' cluster: a [`State`] with agents at made-up addresses, a
//! frozen clock the test moves, a work dir that does not exist (the core
//! must not touch it), and a scheduler and executors that make calls and
//! read what the state sends them from its channels. No runtime, no
//! listener, no process: what the state asks of the system is in its
//! effects, which the tests take and look at.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use mesos::recordio;
use mesos::v1::scheduler::{call, Call, Event};
use mesos::v1::{
    executor, offer, AgentId, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    Offer, OfferId, Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;

use crate::config::ClusterConfig;
use crate::effect::{Effect, Launch};
use crate::reply::Reply;
use crate::state::State;

/// A state with `agents` agents of 4 CPUs, 4096 MB and ports 31000-31009.
pub(crate) fn state(agents: usize) -> State {
    state_with(agents, |_| {})
}

/// [`state`], with the configuration adjusted by `tweak`.
pub(crate) fn state_with(agents: usize, tweak: impl FnOnce(&mut ClusterConfig)) -> State {
    let mut config = ClusterConfig {
        agents,
        cpus: 4.0,
        mem_mb: 4096.0,
        disk_mb: 1024.0,
        ports: (31000, 31009),
        work_dir: "/nonexistent/devcluster-unit".into(),
        ..ClusterConfig::default()
    };
    tweak(&mut config);
    let addrs: Vec<SocketAddr> = (0..agents)
        .map(|index| SocketAddr::from(([127, 0, 0, 1], 5051 + index as u16)))
        .collect();
    let mut state = State::new(
        config,
        SocketAddr::from(([127, 0, 0, 1], 5050)),
        &addrs,
        Vec::new(),
    );
    state.clock.freeze();
    state
}

/// Moves the clock on and runs the time-driven work.
pub(crate) fn advance(state: &mut State, by: Duration) {
    state.clock.advance(by);
    state.tick();
}

/// Reads the RecordIO protobuf records of a stream.
pub(crate) struct Records<M> {
    events: mpsc::UnboundedReceiver<Bytes>,
    decoder: recordio::Decoder,
    /// Read but not yet handed out.
    backlog: Vec<M>,
}

impl<M: prost::Message + Default> Records<M> {
    fn new(reply: Reply) -> Self {
        let Reply::Stream { events, .. } = reply else {
            panic!("not a stream: {reply:?}");
        };
        Self {
            events,
            decoder: recordio::Decoder::default(),
            backlog: Vec::new(),
        }
    }

    /// Everything sent so far.
    pub fn drain(&mut self) -> Vec<M> {
        while let Ok(chunk) = self.events.try_recv() {
            self.decoder.feed(&chunk);
        }
        let mut out = std::mem::take(&mut self.backlog);
        while let Some(record) = self.decoder.next_record().expect("our framing") {
            out.push(M::decode(record).expect("a message"));
        }
        out
    }

    /// Whether the state closed the stream.
    pub fn closed(&mut self) -> bool {
        matches!(
            self.events.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        )
    }
}

/// A subscribed scheduler.
pub(crate) struct Sched {
    pub id: FrameworkId,
    /// Its `Mesos-Stream-Id`, which its calls carry.
    pub stream_id: String,
    pub events: Records<Event>,
}

/// Subscribes a framework with `info` (its name "unit" if empty).
pub(crate) fn subscribe(state: &mut State, mut info: FrameworkInfo) -> Sched {
    if info.name.is_empty() {
        info.name = "unit".into();
        info.user = "unit".into();
    }
    let call = Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    };
    let reply = state.scheduler_call(call, None).expect("subscribed");
    let Reply::Stream {
        stream_id: Some(stream_id),
        ..
    } = &reply
    else {
        panic!("not a scheduler stream: {reply:?}");
    };
    let stream_id = stream_id.clone();
    let mut events = Records::<Event>::new(reply);
    let mut sent = events.drain();
    assert!(!sent.is_empty(), "SUBSCRIBED first");
    let id = sent
        .remove(0)
        .subscribed
        .expect("SUBSCRIBED first")
        .framework_id;
    events.backlog = sent;
    Sched {
        id,
        stream_id,
        events,
    }
}

impl Sched {
    /// A call of this framework.
    pub fn call(&self, r#type: call::Type) -> Call {
        Call {
            framework_id: Some(self.id.clone()),
            r#type: Some(r#type as i32),
            ..Default::default()
        }
    }

    /// Makes `call` on its stream.
    pub fn send(&self, state: &mut State, call: Call) -> Result<Reply, crate::reply::HttpError> {
        state.scheduler_call(call, Some(self.stream_id.clone()))
    }

    /// The offers sent so far.
    pub fn offers(&mut self) -> Vec<Offer> {
        self.events
            .drain()
            .into_iter()
            .filter_map(|event| event.offers)
            .flat_map(|offers| offers.offers)
            .collect()
    }

    /// The status updates sent so far.
    pub fn updates(&mut self) -> Vec<TaskStatus> {
        self.events
            .drain()
            .into_iter()
            .filter_map(|event| event.update)
            .map(|update| update.status)
            .collect()
    }

    /// Accepts `offer` with LAUNCH of `tasks`.
    pub fn launch(&self, state: &mut State, offer: &Offer, tasks: Vec<TaskInfo>) {
        let mut call = self.call(call::Type::Accept);
        call.accept = Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: None,
        });
        self.send(state, call).expect("accepted");
    }

    /// Acknowledges `status`.
    pub fn acknowledge(&self, state: &mut State, status: &TaskStatus) {
        let mut call = self.call(call::Type::Acknowledge);
        call.acknowledge = Some(call::Acknowledge {
            agent_id: status.agent_id.clone().expect("an agent"),
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().expect("a uuid"),
        });
        self.send(state, call).expect("acknowledged");
    }
}

/// `cpus` and `mem` scalars.
pub(crate) fn resources(cpus: f64, mem: f64) -> Vec<Resource> {
    let scalar = |name: &str, value: f64| Resource {
        name: name.into(),
        r#type: mesos::v1::value::Type::Scalar as i32,
        scalar: Some(mesos::v1::value::Scalar { value }),
        ..Default::default()
    };
    vec![scalar("cpus", cpus), scalar("mem", mem)]
}

/// A task `id` on `offer`'s agent run by the CUSTOM executor `exec`.
pub(crate) fn task(id: &str, offer: &Offer, cpus: f64, exec: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources: resources(cpus, 64.0),
        executor: Some(ExecutorInfo {
            executor_id: ExecutorId { value: exec.into() },
            command: Some(CommandInfo {
                value: Some("/usr/bin/unit-executor".into()),
                ..Default::default()
            }),
            resources: resources(0.1, 32.0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The launches among the state's queued effects (taking them all).
pub(crate) fn launches(state: &mut State) -> Vec<Launch> {
    state
        .take_effects()
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Launch(launch) => Some(*launch),
            _ => None,
        })
        .collect()
}

/// An executor of `framework` subscribed to agent `agent`.
pub(crate) fn executor_subscribe(
    state: &mut State,
    agent: usize,
    framework: &FrameworkId,
    executor_id: &str,
    unacknowledged: Vec<TaskStatus>,
) -> Records<executor::Event> {
    let call = executor::Call {
        framework_id: framework.clone(),
        executor_id: ExecutorId {
            value: executor_id.into(),
        },
        r#type: Some(executor::call::Type::Subscribe as i32),
        subscribe: Some(executor::call::Subscribe {
            unacknowledged_tasks: Vec::new(),
            unacknowledged_updates: unacknowledged
                .into_iter()
                .map(|status| executor::call::Update { status })
                .collect(),
        }),
        ..Default::default()
    };
    Records::new(
        state
            .executor_call(agent, call)
            .expect("executor subscribed"),
    )
}

/// An executor's status update for `task` in `task_state`, sent.
pub(crate) fn executor_update(
    state: &mut State,
    agent: usize,
    framework: &FrameworkId,
    executor_id: &str,
    task: &str,
    task_state: TaskState,
) -> TaskStatus {
    let status = executor_status(state, agent, executor_id, task, task_state);
    let call = executor::Call {
        framework_id: framework.clone(),
        executor_id: ExecutorId {
            value: executor_id.into(),
        },
        r#type: Some(executor::call::Type::Update as i32),
        update: Some(executor::call::Update {
            status: status.clone(),
        }),
        ..Default::default()
    };
    state.executor_call(agent, call).expect("update taken");
    status
}

/// A status update an executor makes for `task` (with a new uuid).
pub(crate) fn executor_status(
    state: &State,
    agent: usize,
    executor_id: &str,
    task: &str,
    task_state: TaskState,
) -> TaskStatus {
    TaskStatus {
        task_id: TaskId { value: task.into() },
        state: task_state as i32,
        source: Some(mesos::v1::task_status::Source::Executor as i32),
        uuid: Some(crate::state::random_uuid_bytes()),
        agent_id: Some(AgentId {
            value: state.agents[agent].id.clone(),
        }),
        executor_id: Some(ExecutorId {
            value: executor_id.into(),
        }),
        timestamp: Some(crate::state::now_secs()),
        ..Default::default()
    }
}

/// An offer id that was never made.
pub(crate) fn stale_offer(offer: &Offer) -> Offer {
    Offer {
        id: OfferId {
            value: format!("{}-stale", offer.id.value),
        },
        ..offer.clone()
    }
}
