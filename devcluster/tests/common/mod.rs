//! Shared helpers: a cluster on loopback with short timers, a subscribed
//! scheduler, waiting for events, and tasks for the test executor.

#![allow(dead_code)]

use std::time::Duration;

use devcluster::{Cluster, ClusterConfig};
use mesos::client::{ClientConfig, EventStream, SchedulerClient};
use mesos::v1::scheduler::{call, event, Call, Event};
use mesos::v1::{
    command_info, executor_info, AgentId, CommandInfo, DurationInfo, Environment, ExecutorId,
    ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Offer, OfferId, Resource, TaskId,
    TaskInfo, TaskState, TaskStatus,
};

pub const TEST_EXECUTOR: &str = env!("CARGO_BIN_EXE_devcluster-test-executor");

/// How long any expected event may take.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct Harness {
    pub cluster: Cluster,
    pub client: SchedulerClient,
    pub dir: tempfile::TempDir,
}

pub async fn start(agents: usize, cpus: f64, mem_mb: f64, ports: (u64, u64)) -> Harness {
    start_with(agents, cpus, mem_mb, ports, |_| {}).await
}

/// [`start`], with the configuration adjusted by `tweak`.
pub async fn start_with(
    agents: usize,
    cpus: f64,
    mem_mb: f64,
    ports: (u64, u64),
    tweak: impl FnOnce(&mut ClusterConfig),
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        agents,
        cpus,
        mem_mb,
        ports,
        work_dir: dir.path().to_path_buf(),
        heartbeat_interval: Duration::from_secs(1),
        allocation_interval: Duration::from_millis(200),
        status_update_retry: Duration::from_secs(1),
        executor_shutdown_grace: Duration::from_secs(1),
        ..ClusterConfig::default()
    };
    tweak(&mut config);
    let cluster = Cluster::start(config).await.unwrap();
    let client =
        SchedulerClient::new(&cluster.master_addr().to_string(), ClientConfig::default()).unwrap();
    Harness {
        cluster,
        client,
        dir,
    }
}

pub struct Sched {
    pub client: SchedulerClient,
    pub stream_id: String,
    pub framework_id: String,
    pub events: EventStream<Event>,
}

pub fn subscribe_call(id: Option<&str>, failover_timeout: f64) -> Call {
    let id = id.map(|value| FrameworkId {
        value: value.into(),
    });
    Call {
        framework_id: id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "nobody".into(),
                name: "devcluster-test".into(),
                id,
                failover_timeout: Some(failover_timeout),
                ..Default::default()
            },
            suppressed_roles: vec![],
        }),
        ..Default::default()
    }
}

/// Subscribes and waits for SUBSCRIBED.
pub async fn subscribe(client: &SchedulerClient, id: Option<&str>, failover_timeout: f64) -> Sched {
    let mut subscription = client
        .subscribe(&subscribe_call(id, failover_timeout))
        .await
        .unwrap();
    let first = tokio::time::timeout(PATIENCE, subscription.events.next())
        .await
        .expect("SUBSCRIBED in time")
        .expect("stream open")
        .unwrap();
    assert_eq!(first.r#type(), event::Type::Subscribed, "{first:?}");
    let subscribed = first.subscribed.unwrap();
    Sched {
        client: client.clone(),
        stream_id: subscription.stream_id,
        framework_id: subscribed.framework_id.value,
        events: subscription.events,
    }
}

impl Sched {
    pub fn base(&self, kind: call::Type) -> Call {
        Call {
            framework_id: Some(FrameworkId {
                value: self.framework_id.clone(),
            }),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    pub async fn send(&self, call: Call) {
        self.client.call(&self.stream_id, &call).await.unwrap();
    }

    /// The next event `matches` accepts, skipping others.
    pub async fn expect(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} in time"))
                .unwrap_or_else(|| panic!("stream ended before {what}"))
                .unwrap();
            if matches(&event) {
                return event;
            }
        }
    }

    /// Asserts no event `matches` accepts arrives within `window`.
    pub async fn expect_none(&mut self, window: Duration, matches: impl Fn(&Event) -> bool) {
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(event) = tokio::time::timeout_at(deadline, self.events.next()).await {
            let event = event.expect("stream open").unwrap();
            assert!(!matches(&event), "unexpected event {event:?}");
        }
    }

    pub async fn offers(&mut self) -> Vec<Offer> {
        self.expect("OFFERS", |event| event.r#type() == event::Type::Offers)
            .await
            .offers
            .unwrap()
            .offers
    }

    /// The next UPDATE for `task_id`.
    pub async fn update(&mut self, task_id: &str) -> TaskStatus {
        let task_id = task_id.to_owned();
        self.expect(&format!("UPDATE for {task_id}"), move |event| {
            event.r#type() == event::Type::Update
                && event.update.as_ref().unwrap().status.task_id.value == task_id
        })
        .await
        .update
        .unwrap()
        .status
    }

    pub async fn acknowledge(&self, status: &TaskStatus) {
        let mut call = self.base(call::Type::Acknowledge);
        call.acknowledge = Some(call::Acknowledge {
            agent_id: status.agent_id.clone().unwrap(),
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().unwrap(),
        });
        self.send(call).await;
    }

    pub async fn decline(&self, offer_ids: Vec<OfferId>, refuse_seconds: f64) {
        let mut call = self.base(call::Type::Decline);
        call.decline = Some(call::Decline {
            offer_ids,
            filters: Some(mesos::v1::Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        });
        self.send(call).await;
    }

    pub async fn launch(&self, offer_ids: Vec<OfferId>, tasks: Vec<TaskInfo>) {
        self.launch_with(offer_ids, tasks, 0.0).await;
    }

    /// ACCEPT with one LAUNCH; unused resources are refused for `refuse_seconds`.
    pub async fn launch_with(
        &self,
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        refuse_seconds: f64,
    ) {
        let mut call = self.base(call::Type::Accept);
        call.accept = Some(call::Accept {
            offer_ids,
            operations: vec![mesos::v1::offer::Operation {
                r#type: Some(mesos::v1::offer::operation::Type::Launch as i32),
                launch: Some(mesos::v1::offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: Some(mesos::v1::Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        });
        self.send(call).await;
    }

    pub async fn kill(&self, task_id: &str, agent_id: &AgentId) {
        let mut call = self.base(call::Type::Kill);
        call.kill = Some(call::Kill {
            task_id: TaskId {
                value: task_id.into(),
            },
            agent_id: Some(agent_id.clone()),
            kill_policy: None,
        });
        self.send(call).await;
    }

    pub async fn reconcile(&self, tasks: &[&str]) {
        let mut call = self.base(call::Type::Reconcile);
        call.reconcile = Some(call::Reconcile {
            tasks: tasks
                .iter()
                .map(|task| call::reconcile::Task {
                    task_id: TaskId {
                        value: (*task).into(),
                    },
                    agent_id: None,
                })
                .collect(),
        });
        self.send(call).await;
    }
}

pub fn state(status: &TaskStatus) -> TaskState {
    status.state()
}

/// A task run by the test executor with `executor_id`, using 0.5 cpus,
/// 64 MB and the offer's first port.
pub fn test_task(
    offer: &Offer,
    task_id: &str,
    executor_id: &str,
    env: &[(&str, &str)],
) -> TaskInfo {
    let first_port = devcluster::resources::ports(&offer.resources)[0].0;
    TaskInfo {
        name: format!("test {task_id}"),
        task_id: TaskId {
            value: task_id.into(),
        },
        agent_id: offer.agent_id.clone(),
        resources: vec![
            Resource::scalar("cpus", 0.5),
            Resource::scalar("mem", 64.0),
            Resource::ranges("ports", &[(first_port, first_port)]),
        ],
        executor: Some(ExecutorInfo {
            r#type: Some(executor_info::Type::Custom as i32),
            executor_id: ExecutorId {
                value: executor_id.into(),
            },
            command: Some(CommandInfo {
                environment: Some(Environment::from_pairs(env.iter().copied())),
                shell: Some(false),
                value: Some(TEST_EXECUTOR.into()),
                arguments: vec![TEST_EXECUTOR.into()],
                uris: Vec::<command_info::Uri>::new(),
                user: None,
            }),
            resources: vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 32.0)],
            shutdown_grace_period: Some(DurationInfo {
                nanoseconds: 1_000_000_000,
            }),
            ..Default::default()
        }),
        kill_policy: Some(KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: 500_000_000,
            }),
        }),
        ..Default::default()
    }
}

/// Launches one test task on the first offer and waits until it runs
/// (RUNNING acknowledged unless `ack` is false). Returns its RUNNING status.
pub async fn run_task(
    sched: &mut Sched,
    task_id: &str,
    executor_id: &str,
    ack: bool,
) -> TaskStatus {
    let offers = sched.offers().await;
    let offer = &offers[0];
    sched
        .launch(
            vec![offer.id.clone()],
            vec![test_task(offer, task_id, executor_id, &[])],
        )
        .await;
    let running = sched.update(task_id).await;
    assert_eq!(running.state(), TaskState::TaskRunning, "{running:?}");
    if ack {
        sched.acknowledge(&running).await;
    }
    running
}
