//! Shared helpers for the driver's cross-process tests: a devcluster on
//! loopback with short timers, agents of chosen free CPUs (a "filler"
//! framework takes the rest), the scheduler's driver in a task, and waiting
//! on its status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use devcluster::{Cluster, ClusterConfig};
use mesos::client::{ClientConfig, SchedulerClient};
use mesos::v1::scheduler::{call, event, Call};
use mesos::v1::{
    executor_info, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Offer,
    Resource, TaskId, TaskInfo,
};
use scheduler::status::{StatusHandle, StatusSnapshot};
use scheduler::tasks::{TaskRole, TaskState};
use scheduler::{Config, Driver, DriverConfig, DriverError, Framework, StateStore};
use tokio::task::JoinHandle;

/// How long any expected state may take.
pub const PATIENCE: Duration = Duration::from_secs(40);

/// The test executor binary of devcluster: `$DEVCLUSTER_TEST_EXECUTOR` if
/// set, else next to this test's target dir (built by devcluster's tests or
/// `cargo build`), else built with cargo into a separate target dir (the main
/// one may be locked while tests run).
pub fn test_executor() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("DEVCLUSTER_TEST_EXECUTOR") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("current exe");
        // target/debug/deps/driver-xxxx -> target/debug
        let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
        let candidate = profile_dir.join("devcluster-test-executor");
        if candidate.is_file() {
            return candidate;
        }
        let target = profile_dir
            .parent()
            .expect("target root")
            .join("scheduler-test-executor");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "-p",
                "devcluster",
                "--bin",
                "devcluster-test-executor",
            ])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building devcluster-test-executor");
        let built = target.join("debug").join("devcluster-test-executor");
        assert!(built.is_file(), "{built:?}");
        built
    })
    .clone()
}

/// A devcluster and its work dir.
pub struct TestCluster {
    pub cluster: Cluster,
    /// Held so the work dir lives as long as the cluster (removed on drop).
    _work_dir: tempfile::TempDir,
    /// The filler framework's stream drainer.
    filler: Option<JoinHandle<()>>,
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(filler) = self.filler.take() {
            filler.abort();
        }
    }
}

/// A cluster of `agents` agents of `cpus` CPUs, 1024 MB and two ports each.
pub async fn start_cluster(agents: usize, cpus: f64) -> TestCluster {
    start_cluster_with(agents, cpus, |_| {}).await
}

/// [`start_cluster`], with the configuration adjusted by `tweak`.
pub async fn start_cluster_with(
    agents: usize,
    cpus: f64,
    tweak: impl FnOnce(&mut ClusterConfig),
) -> TestCluster {
    let work_dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        agents,
        cpus,
        mem_mb: 1024.0,
        ports: (31000, 31001),
        work_dir: work_dir.path().to_path_buf(),
        heartbeat_interval: Duration::from_secs(1),
        allocation_interval: Duration::from_millis(200),
        status_update_retry: Duration::from_secs(1),
        executor_shutdown_grace: Duration::from_secs(1),
        kill_grace: Duration::from_secs(1),
        ..ClusterConfig::default()
    };
    tweak(&mut config);
    let cluster = Cluster::start(config).await.unwrap();
    TestCluster {
        cluster,
        _work_dir: work_dir,
        filler: None,
    }
}

fn filler_task(offer: &Offer, n: usize, cpus: f64, take_ports: bool) -> TaskInfo {
    let mut resources = vec![
        Resource::scalar("cpus", cpus),
        Resource::scalar("mem", 16.0),
    ];
    if take_ports {
        resources.push(Resource::ranges("ports", &[(31000, 31001)]));
    }
    let executor = test_executor().display().to_string();
    TaskInfo {
        name: format!("filler {n}"),
        task_id: TaskId {
            value: format!("filler-{n}"),
        },
        agent_id: offer.agent_id.clone(),
        resources,
        executor: Some(ExecutorInfo {
            r#type: Some(executor_info::Type::Custom as i32),
            executor_id: ExecutorId {
                value: format!("filler-exec-{n}"),
            },
            command: Some(CommandInfo {
                shell: Some(false),
                value: Some(executor.clone()),
                arguments: vec![executor],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The heterogeneous layout of the tests, on a cluster of 4 agents of 2.5
/// CPUs: a "filler" framework leaves free, in agent order, 0.5 CPU with the
/// ports (only the proxy fits there: it needs two ports and takes 0.5), then
/// 1, 2 and 0.5 CPUs without ports (only miners fit). Returns the miner
/// agents' ids with their free CPUs, and the proxy agent's id.
pub async fn fill(cluster: &mut TestCluster) -> (String, BTreeMap<String, f64>) {
    // (CPUs the filler takes, whether it takes the ports)
    let plan = [(2.0, false), (1.5, true), (0.5, true), (2.0, true)];
    let agents: Vec<String> = cluster.cluster.agents().into_iter().map(|a| a.id).collect();
    assert_eq!(agents.len(), plan.len());
    let client = SchedulerClient::new(
        &cluster.cluster.master_addr().to_string(),
        ClientConfig::default(),
    )
    .unwrap();
    let subscribe = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "nobody".into(),
                name: "filler".into(),
                failover_timeout: Some(3600.0),
                ..Default::default()
            },
            suppressed_roles: vec![],
        }),
        ..Default::default()
    };
    let mut subscription = client.subscribe(&subscribe).await.unwrap();
    let stream_id = subscription.stream_id.clone();
    let mut framework_id = None;
    let mut launched = 0;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while launched < agents.len() {
        let event = tokio::time::timeout_at(deadline, subscription.events.next())
            .await
            .expect("filler offers in time")
            .expect("filler stream open")
            .unwrap();
        match event.r#type() {
            event::Type::Subscribed => {
                framework_id = Some(event.subscribed.unwrap().framework_id);
            }
            event::Type::Offers => {
                for offer in event.offers.unwrap().offers {
                    let index = agents
                        .iter()
                        .position(|a| *a == offer.agent_id.value)
                        .unwrap();
                    let (cpus, ports) = plan[index];
                    let call = Call {
                        framework_id: framework_id.clone(),
                        r#type: Some(call::Type::Accept as i32),
                        accept: Some(call::Accept {
                            offer_ids: vec![offer.id.clone()],
                            operations: vec![mesos::v1::offer::Operation {
                                r#type: Some(mesos::v1::offer::operation::Type::Launch as i32),
                                launch: Some(mesos::v1::offer::operation::Launch {
                                    task_infos: vec![filler_task(&offer, index, cpus, ports)],
                                }),
                                ..Default::default()
                            }],
                            filters: Some(mesos::v1::Filters {
                                refuse_seconds: Some(3600.0),
                            }),
                        }),
                        ..Default::default()
                    };
                    client.call(&stream_id, &call).await.unwrap();
                    launched += 1;
                }
            }
            _ => {}
        }
    }
    let suppress = Call {
        framework_id: framework_id.clone(),
        r#type: Some(call::Type::Suppress as i32),
        suppress: Some(call::Suppress { roles: vec![] }),
        ..Default::default()
    };
    client.call(&stream_id, &suppress).await.unwrap();
    // Drain the filler's stream, acknowledging its updates.
    let framework_id: Option<FrameworkId> = framework_id;
    cluster.filler = Some(tokio::spawn(async move {
        while let Some(Ok(event)) = subscription.events.next().await {
            if event.r#type() != event::Type::Update {
                continue;
            }
            let status = event.update.unwrap().status;
            let (Some(agent_id), Some(uuid)) = (status.agent_id, status.uuid) else {
                continue;
            };
            let ack = Call {
                framework_id: framework_id.clone(),
                r#type: Some(call::Type::Acknowledge as i32),
                acknowledge: Some(call::Acknowledge {
                    agent_id,
                    task_id: status.task_id,
                    uuid,
                }),
                ..Default::default()
            };
            let _ = client.call(&stream_id, &ack).await;
        }
    }));
    let miners = [(1, 1.0), (2, 2.0), (3, 0.5)]
        .into_iter()
        .map(|(index, cpus)| (agents[index].clone(), cpus))
        .collect();
    (agents[0].clone(), miners)
}

/// The scheduler configuration of the tests: the test executor, small
/// sizes, short refusals and backoffs.
pub fn scheduler_config() -> Config {
    let mut config = Config::default();
    config.executor.command = test_executor().display().to_string();
    config.executor.cpus = 0.0;
    config.executor.mem_mb = 0.0;
    config.executor.kill_grace_period_secs = 1.0;
    config.proxy.cpus = 0.5;
    config.proxy.mem_mb = 64.0;
    config.miner.mem_mb = 32.0;
    config.offers.refuse_seconds = 1.0;
    config.backoff.initial_secs = 0.5;
    config.backoff.max_secs = 2.0;
    config.framework.user = "nobody".into();
    config.framework.failover_timeout_secs = 3600.0;
    // The test executor runs no proxy; the path only has to be a valid one.
    config.node.rpc_cookie_file = Some("/nonexistent/regtest/.cookie".into());
    config.validate().unwrap();
    config
}

/// Driver settings of the tests: fast backoff, 1 s heartbeats assumed.
pub fn driver_config(masters: Vec<String>, state_dir: &Path) -> DriverConfig {
    let mut config = DriverConfig::new(masters, state_dir);
    config.backoff_initial = Duration::from_millis(100);
    config.backoff_max = Duration::from_secs(1);
    config.default_heartbeat = Duration::from_secs(1);
    config.heartbeat_margin = Duration::from_secs(1);
    config.tick_interval = Duration::from_millis(200);
    config
}

/// A running driver.
pub struct RunningDriver {
    pub status: StatusHandle,
    pub handle: JoinHandle<Result<(), DriverError>>,
}

impl Drop for RunningDriver {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Starts a driver from the state in `state_dir`.
pub fn spawn_driver(config: DriverConfig) -> RunningDriver {
    let state = StateStore::new(&config.state_dir)
        .load()
        .unwrap()
        .unwrap_or_default();
    let framework = Framework::new(scheduler_config(), state);
    let driver = Driver::new(config, framework).unwrap();
    let status = driver.status();
    let handle = tokio::spawn(driver.run());
    RunningDriver { status, handle }
}

/// Polls the status until `ok` holds.
pub async fn wait_for(
    status: &StatusHandle,
    what: &str,
    ok: impl Fn(&StatusSnapshot) -> bool,
) -> StatusSnapshot {
    wait_within(status, what, PATIENCE, ok).await
}

/// Polls the status until `ok` holds, for up to `patience`.
pub async fn wait_within(
    status: &StatusHandle,
    what: &str,
    patience: Duration,
    ok: impl Fn(&StatusSnapshot) -> bool,
) -> StatusSnapshot {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let snapshot = status.snapshot();
        if ok(&snapshot) {
            return snapshot;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} in time; last status: {snapshot:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The proxy RUNNING and one RUNNING miner on each of `miners`' agents.
pub fn all_running(snapshot: &StatusSnapshot, miners: &BTreeMap<String, f64>) -> bool {
    let running = |t: &&scheduler::status::TaskStatusView| t.state == TaskState::Running;
    let proxies = snapshot
        .tasks
        .iter()
        .filter(|t| t.kind == TaskRole::Proxy)
        .filter(running)
        .count();
    let miner_agents: Vec<&str> = snapshot
        .tasks
        .iter()
        .filter(|t| t.kind == TaskRole::Miner)
        .filter(running)
        .map(|t| t.agent.as_str())
        .collect();
    snapshot.connected
        && proxies == 1
        && snapshot.tasks.len() == 1 + miners.len()
        && miners
            .keys()
            .all(|agent| miner_agents.contains(&agent.as_str()))
}

/// Task ids, sorted.
pub fn task_ids(snapshot: &StatusSnapshot) -> Vec<String> {
    let mut ids: Vec<String> = snapshot.tasks.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    ids
}
