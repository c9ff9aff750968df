//! Shared helpers: a cluster on loopback with short timers, a subscribed
//! scheduler, waiting for events, and tasks for the test executor.

use std::time::Duration;

use devcluster::{Cluster, ClusterConfig};
use mesos::client::{ClientConfig, SchedulerClient};
use mesos::v1::scheduler::Call;
use mesos::v1::{
    command_info, executor_info, CommandInfo, DurationInfo, Environment, ExecutorId, ExecutorInfo,
    FrameworkId, FrameworkInfo, KillPolicy, Offer, Resource, TaskId, TaskInfo, TaskState,
    TaskStatus,
};

pub const TEST_EXECUTOR: &str = env!("CARGO_BIN_EXE_devcluster-test-executor");

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

#[allow(unused_imports)] // not every test binary waits by hand
pub use devcluster::testing::{TestFramework as Sched, PATIENCE};

/// SUBSCRIBE as the devcluster test framework (`id` to fail over).
pub fn subscribe_call(id: Option<&str>, failover_timeout: f64) -> Call {
    devcluster::testing::subscribe_call(framework_info(id, failover_timeout))
}

fn framework_info(id: Option<&str>, failover_timeout: f64) -> FrameworkInfo {
    FrameworkInfo {
        user: "nobody".into(),
        name: "devcluster-test".into(),
        id: id.map(|value| FrameworkId {
            value: value.into(),
        }),
        failover_timeout: Some(failover_timeout),
        ..Default::default()
    }
}

/// Subscribes and waits for SUBSCRIBED.
pub async fn subscribe(client: &SchedulerClient, id: Option<&str>, failover_timeout: f64) -> Sched {
    Sched::subscribe(client, framework_info(id, failover_timeout)).await
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

/// One HTTP/1.0 request to the master (an operator endpoint): status code
/// and body.
pub fn operator(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    devcluster::testing::http_request(addr, method, path, body)
}

/// A command task (no ExecutorInfo: Mesos' command executor runs it) of
/// 0.1 cpus and 16 MB.
pub fn command_task(offer: &Offer, task_id: &str, command: CommandInfo) -> TaskInfo {
    TaskInfo {
        name: format!("command {task_id}"),
        task_id: TaskId {
            value: task_id.into(),
        },
        agent_id: offer.agent_id.clone(),
        resources: vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 16.0)],
        command: Some(command),
        ..Default::default()
    }
}

/// A partition-aware framework that fails over within a minute.
pub fn partition_aware_framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "nobody".into(),
        name: "partition-aware".into(),
        failover_timeout: Some(60.0),
        capabilities: vec![mesos::v1::framework_info::Capability {
            r#type: Some(mesos::v1::framework_info::capability::Type::PartitionAware as i32),
        }],
        ..Default::default()
    }
}

/// Kills `task_id` and acknowledges its updates until TASK_KILLED (TASK_KILLING before it).
pub async fn kill_until_killed(sched: &mut Sched, task_id: &str, agent_id: &mesos::v1::AgentId) {
    sched.kill(task_id, agent_id, None).await;
    loop {
        let status = sched.update(task_id).await;
        if status.uuid.is_some() {
            sched.acknowledge(&status).await;
        }
        if status.state() == TaskState::TaskKilled {
            break;
        }
        assert_eq!(status.state(), TaskState::TaskKilling, "{status:?}");
    }
}
