//! The executor binary under a real (in-process) devcluster: a test scheduler
//! launches miner and proxy tasks on it and watches their updates.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use bitcoin::block::Version;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget};
use devcluster::testing::TestFramework;
use devcluster::{Cluster, ClusterConfig};
use executor::HashRateReport;
use futures_util::{SinkExt, StreamExt};
use mesos::client::{ClientConfig, SchedulerClient};
use mesos::v1::scheduler::{call, event};
use mesos::v1::{
    executor_info, AgentId, CommandInfo, Environment, ExecutorId, ExecutorInfo, FrameworkInfo,
    Offer, Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};
use serde_json::{json, Value};
use stratum::{ClientRequest, Message, Notify, Response, ServerMessage, StratumCodec};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::Framed;

const EXECUTOR: &str = env!("CARGO_BIN_EXE_executor");
const KILL_GRACE: Duration = Duration::from_secs(3);
const PAYOUT: &str = "bcrt1qexecutortest";

fn notify() -> Notify {
    Notify {
        job_id: "job-1".into(),
        prevhash: BlockHash::from_byte_array([7; 32]),
        coinb1: vec![0x01, 0x00, 0x00, 0x00, 0x07],
        coinb2: vec![0xff, 0xff, 0xff, 0xff, 0x00],
        merkle_branch: vec![[0x33; 32]],
        version: Version::from_consensus(0x2000_0000),
        nbits: CompactTarget::from_consensus(0x207f_ffff),
        ntime: 1_700_000_000,
        clean_jobs: true,
    }
}

/// A scripted stratum pool: every connection gets subscribe/authorize answers,
/// set_difficulty(1e-4) and one job; every submit is accepted and the worker
/// name reported on `shares`.
async fn pool(listener: TcpListener, shares: mpsc::UnboundedSender<String>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let shares = shares.clone();
        tokio::spawn(async move {
            let mut conn = Framed::new(stream, StratumCodec::default());
            while let Some(Ok(Ok(Message::Request(req)))) = conn.next().await {
                let Ok(call) = ClientRequest::from_request(&req) else {
                    return;
                };
                let result: Value = match call {
                    ClientRequest::Configure(_) => json!({"version-rolling": false}),
                    ClientRequest::Subscribe(_) => {
                        json!([[["mining.notify", "1"]], "f000000d", 4])
                    }
                    ClientRequest::Authorize(_) => {
                        let _ = conn.send(Response::ok(req.id.clone(), json!(true))).await;
                        let _ = conn
                            .send(ServerMessage::SetDifficulty(1e-4).into_notification())
                            .await;
                        let _ = conn
                            .send(ServerMessage::Notify(notify()).into_notification())
                            .await;
                        continue;
                    }
                    ClientRequest::Submit(submit) => {
                        let _ = shares.send(submit.worker.clone());
                        json!(true)
                    }
                    _ => json!(null),
                };
                if conn
                    .send(Response::ok(req.id.clone(), result))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

/// The cluster, its work dir, and a subscribed test framework (which the
/// test scheduler derefs to).
struct Sched {
    dir: tempfile::TempDir,
    cluster: Cluster,
    framework: TestFramework,
}

impl std::ops::Deref for Sched {
    type Target = TestFramework;
    fn deref(&self) -> &TestFramework {
        &self.framework
    }
}

impl std::ops::DerefMut for Sched {
    fn deref_mut(&mut self) -> &mut TestFramework {
        &mut self.framework
    }
}

async fn start() -> Sched {
    start_with(false).await
}

/// A cluster and a subscribed test framework (`checkpoint` as in FrameworkInfo).
async fn start_with(checkpoint: bool) -> Sched {
    let dir = tempfile::tempdir().unwrap();
    let config = ClusterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        agents: 1,
        cpus: 2.0,
        mem_mb: 1024.0,
        ports: (41000, 41010),
        work_dir: dir.path().to_path_buf(),
        heartbeat_interval: Duration::from_secs(1),
        allocation_interval: Duration::from_millis(200),
        status_update_retry: Duration::from_secs(1),
        executor_shutdown_grace: Duration::from_secs(5),
        ..ClusterConfig::default()
    };
    let cluster = Cluster::start(config).await.unwrap();
    let client =
        SchedulerClient::new(&cluster.master_addr().to_string(), ClientConfig::default()).unwrap();
    let info = FrameworkInfo {
        user: "nobody".into(),
        name: "executor-test".into(),
        failover_timeout: Some(60.0),
        checkpoint: Some(checkpoint),
        ..Default::default()
    };
    let framework = TestFramework::subscribe(&client, info).await;
    Sched {
        dir,
        cluster,
        framework,
    }
}

impl Sched {
    /// The next UPDATE for `task_id`, acknowledged.
    async fn update(&mut self, task_id: &str) -> TaskStatus {
        let status = self.framework.update(task_id).await;
        self.acknowledge(&status).await;
        status
    }

    /// Launches one task on the next offer; the agent it goes to.
    async fn launch(&mut self, task_id: &str, data: Value, env: &[(&str, &str)]) -> AgentId {
        let offer: Offer = self.offers().await.remove(0);
        let task = task_info(&offer, task_id, data, env);
        self.framework
            .launch(vec![offer.id.clone()], vec![task])
            .await;
        offer.agent_id
    }
}

fn task_info(offer: &Offer, task_id: &str, data: Value, env: &[(&str, &str)]) -> TaskInfo {
    TaskInfo {
        name: format!("executor test {task_id}"),
        task_id: TaskId {
            value: task_id.into(),
        },
        agent_id: offer.agent_id.clone(),
        resources: vec![Resource::scalar("cpus", 1.0), Resource::scalar("mem", 64.0)],
        executor: Some(ExecutorInfo {
            r#type: Some(executor_info::Type::Custom as i32),
            executor_id: ExecutorId {
                value: format!("exec-{task_id}"),
            },
            command: Some(CommandInfo {
                environment: Some(Environment::from_pairs(env.iter().copied())),
                shell: Some(false),
                value: Some(EXECUTOR.into()),
                arguments: vec![EXECUTOR.into()],
                uris: vec![],
                user: None,
            }),
            resources: vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 32.0)],
            ..Default::default()
        }),
        data: Some(serde_json::to_vec(&data).unwrap().into()),
        ..Default::default()
    }
}

fn miner_spec(port: u16) -> Value {
    json!({"role": "miner", "pool_host": "127.0.0.1", "pool_port": port, "cpus": 1.0})
}

async fn expect_state(sched: &mut Sched, task_id: &str, state: TaskState) -> TaskStatus {
    let status = sched.update(task_id).await;
    assert_eq!(status.state(), state, "{status:?}");
    assert_eq!(status.uuid.as_ref().map(|uuid| uuid.len()), Some(16));
    assert_eq!(
        status.source(),
        mesos::v1::task_status::Source::Executor,
        "{status:?}"
    );
    status
}

/// KILL with a grace period; TASK_KILLED must come within it (plus slack).
async fn kill_and_expect_killed(sched: &mut Sched, task_id: &str, agent_id: &AgentId) {
    let started = Instant::now();
    sched.kill(task_id, agent_id, Some(KILL_GRACE)).await;
    let killed = expect_state(sched, task_id, TaskState::TaskKilled).await;
    assert!(
        started.elapsed() < KILL_GRACE + Duration::from_secs(2),
        "killed after {:?}: {killed:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_task_mines_reports_and_is_killed() {
    let task_id = "miner-1";
    let RunningMiner {
        mut sched,
        agent_id,
        running,
        mut shares,
    } = running_miner(task_id, false).await;
    assert!(
        running.message().contains("mining at 127.0.0.1"),
        "{running:?}"
    );

    let worker = tokio::time::timeout(Duration::from_secs(60), shares.recv())
        .await
        .expect("a share in time")
        .expect("pool running");
    assert_eq!(worker, format!("{PAYOUT}.{task_id}"));

    // Hash-rate MESSAGEs: one with a positive rate and an accepted share.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no report with accepted shares");
        let event = sched
            .expect("MESSAGE", |event| event.r#type() == event::Type::Message)
            .await;
        let message = event.message.unwrap();
        assert_eq!(message.executor_id.value, format!("exec-{task_id}"));
        let report: HashRateReport = serde_json::from_slice(&message.data).unwrap();
        assert_eq!(report.task_id, task_id);
        assert_eq!(report.rejected, 0);
        if report.hash_rate > 0.0 && report.accepted > 0 {
            break;
        }
    }

    kill_and_expect_killed(&mut sched, task_id, &agent_id).await;
    expect_executor_exit(&mut sched, task_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_with_unreachable_pool_runs_and_is_killable() {
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);

    let mut sched = start().await;
    let task_id = "miner-dead-pool";
    let agent_id = sched.launch(task_id, miner_spec(port), &[]).await;
    expect_state(&mut sched, task_id, TaskState::TaskStarting).await;
    expect_state(&mut sched, task_id, TaskState::TaskRunning).await;
    // Let it fail to connect a few times.
    tokio::time::sleep(Duration::from_secs(2)).await;
    kill_and_expect_killed(&mut sched, task_id, &agent_id).await;
    expect_executor_exit(&mut sched, task_id).await;
    assert!(sandbox_logs(sched.dir.path()).contains("pool session ended"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_exit_status_fails_the_task() {
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("fake-proxy");
    // Exits 9 if the executor did not hand over the node password under the
    // proxy's own variable name, 3 otherwise.
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$PROXY_RPC_PASSWORD\" = \"s3cret-pa55\" ] || exit 9\n\
         [ \"$PROXY_LISTEN\" = \"0.0.0.0:41000\" ] || exit 8\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut sched = start().await;
    let task_id = "proxy-1";
    sched
        .launch(
            task_id,
            json!({"role": "proxy", "stratum_port": 41000, "http_port": 41001}),
            &[
                ("MESOS_MINER_PROXY_BIN", script.to_str().unwrap()),
                (executor::spec::env::NODE_RPC_PASSWORD, "s3cret-pa55"),
            ],
        )
        .await;
    expect_state(&mut sched, task_id, TaskState::TaskStarting).await;
    let mut status = sched.update(task_id).await;
    if status.state() == TaskState::TaskRunning {
        status = sched.update(task_id).await;
    }
    assert_eq!(status.state(), TaskState::TaskFailed, "{status:?}");
    assert!(
        status.message().contains("exit status: 3"),
        "{:?}",
        status.message()
    );

    expect_executor_exit(&mut sched, task_id).await;

    // The password never shows up in the executor's log.
    let logs = sandbox_logs(sched.dir.path());
    assert!(logs.contains("proxy failed"), "{logs}");
    assert!(!logs.contains("s3cret-pa55"), "{logs}");
}

/// The executor exits (status 0) once its task ended and was acknowledged.
async fn expect_executor_exit(sched: &mut Sched, task_id: &str) {
    let executor_id = format!("exec-{task_id}");
    let failure = sched
        .expect("FAILURE (executor exit)", |event| {
            event.r#type() == event::Type::Failure
                && event
                    .failure
                    .as_ref()
                    .unwrap()
                    .executor_id
                    .as_ref()
                    .is_some_and(|id| id.value == executor_id)
        })
        .await
        .failure
        .unwrap();
    assert_eq!(failure.status, Some(0), "{failure:?}");
}

/// Every sandbox `stderr` under `dir`, concatenated.
fn sandbox_logs(dir: &std::path::Path) -> String {
    let mut logs = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|name| name == "stderr") {
                logs.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    logs
}

/// A proxy that runs until signalled; returns its script's directory.
fn sleeping_proxy() -> tempfile::TempDir {
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("fake-proxy");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    scripts
}

/// Launches the sleeping proxy; returns its agent and TASK_RUNNING status.
async fn launch_sleeping_proxy(
    sched: &mut Sched,
    task_id: &str,
    script: &std::path::Path,
) -> (AgentId, TaskStatus) {
    let agent_id = sched
        .launch(
            task_id,
            json!({"role": "proxy", "stratum_port": 41000, "http_port": 41001}),
            &[(
                "MESOS_MINER_PROXY_BIN",
                script.join("fake-proxy").to_str().unwrap(),
            )],
        )
        .await;
    expect_state(sched, task_id, TaskState::TaskStarting).await;
    let running = expect_state(sched, task_id, TaskState::TaskRunning).await;
    (agent_id, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_is_terminated_on_shutdown() {
    let scripts = sleeping_proxy();
    let mut sched = start().await;
    let task_id = "proxy-3";
    let (agent_id, _) = launch_sleeping_proxy(&mut sched, task_id, scripts.path()).await;
    let mut shutdown = sched.base(call::Type::Shutdown);
    shutdown.shutdown = Some(call::Shutdown {
        executor_id: ExecutorId {
            value: format!("exec-{task_id}"),
        },
        agent_id,
    });
    sched.send(shutdown).await;
    let killed = expect_state(&mut sched, task_id, TaskState::TaskKilled).await;
    assert!(killed.message().contains("signal: 15"), "{killed:?}");
    expect_executor_exit(&mut sched, task_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_is_terminated_on_kill() {
    let scripts = sleeping_proxy();
    let mut sched = start().await;
    let task_id = "proxy-2";
    let (agent_id, _) = launch_sleeping_proxy(&mut sched, task_id, scripts.path()).await;
    kill_and_expect_killed(&mut sched, task_id, &agent_id).await;
    expect_executor_exit(&mut sched, task_id).await;
}

/// State, parent and process group of `pid` from `/proc/PID/stat`; `None`
/// once it is gone.
#[cfg(target_os = "linux")]
fn proc_stat(pid: u32) -> Option<(char, u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID PGRP ...": COMM may hold anything, even ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_dies_when_only_the_executor_is_killed() {
    let scripts = sleeping_proxy();
    let mut sched = start().await;
    let task_id = "proxy-4";
    let (_, running) = launch_sleeping_proxy(&mut sched, task_id, scripts.path()).await;
    let proxy: u32 = running
        .message()
        .rsplit_once("pid ")
        .and_then(|(_, pid)| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {running:?}"));
    let executor = sched
        .cluster
        .executor_pid(&format!("exec-{task_id}"))
        .expect("the executor runs");
    let (state, parent, group) = proc_stat(proxy).expect("the proxy runs");
    assert_ne!(state, 'Z');
    assert_eq!(parent, executor, "the proxy is the executor's child");
    assert_eq!(group, proxy, "the proxy leads its own process group");

    // As the OOM killer would: SIGKILL to the executor process alone.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &executor.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match proc_stat(proxy) {
            None => break,
            // Dead, waiting for its new parent to reap it.
            Some(('Z' | 'X', _, _)) => break,
            Some(_) => assert!(
                Instant::now() < deadline,
                "the proxy (pid {proxy}) outlived its executor"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_task_spec_fails_the_task() {
    let mut sched = start().await;
    let task_id = "mystery-1";
    sched.launch(task_id, json!({"role": "dancer"}), &[]).await;
    expect_state(&mut sched, task_id, TaskState::TaskStarting).await;
    let failed = expect_state(&mut sched, task_id, TaskState::TaskFailed).await;
    assert!(
        failed.message().contains("not a valid TaskSpec"),
        "{failed:?}"
    );
    expect_executor_exit(&mut sched, task_id).await;
}

/// The next hash-rate MESSAGE from the task's executor.
async fn next_report(sched: &mut Sched, task_id: &str) -> HashRateReport {
    let event = sched
        .expect("MESSAGE", |event| {
            event.r#type() == event::Type::Message
                || (event.r#type() == event::Type::Update
                    && event.update.as_ref().unwrap().status.state() != TaskState::TaskRunning)
        })
        .await;
    assert_eq!(
        event.r#type(),
        event::Type::Message,
        "the task changed state: {event:?}"
    );
    let report: HashRateReport = serde_json::from_slice(&event.message.unwrap().data).unwrap();
    assert_eq!(report.task_id, task_id);
    report
}

/// A miner task RUNNING against the scripted pool.
struct RunningMiner {
    sched: Sched,
    agent_id: AgentId,
    /// Its TASK_RUNNING update.
    running: TaskStatus,
    /// Worker names of the shares the pool accepted.
    shares: mpsc::UnboundedReceiver<String>,
}

/// A scripted pool, a cluster with a framework (`checkpoint` as given), and
/// a RUNNING miner task reporting every second.
async fn running_miner(task_id: &str, checkpoint: bool) -> RunningMiner {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (shares_tx, shares) = mpsc::unbounded_channel();
    tokio::spawn(pool(listener, shares_tx));
    let mut sched = start_with(checkpoint).await;
    let agent_id = sched
        .launch(
            task_id,
            miner_spec(port),
            &[
                ("MINER_PAYOUT_ADDRESS", PAYOUT),
                ("MESOS_MINER_REPORT_INTERVAL", "1secs"),
            ],
        )
        .await;
    expect_state(&mut sched, task_id, TaskState::TaskStarting).await;
    let running = expect_state(&mut sched, task_id, TaskState::TaskRunning).await;
    RunningMiner {
        sched,
        agent_id,
        running,
        shares,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpointed_miner_survives_an_agent_restart() {
    let task_id = "miner-r";
    let RunningMiner {
        mut sched,
        agent_id,
        ..
    } = running_miner(task_id, true).await;
    next_report(&mut sched, task_id).await;
    let executor_id = format!("exec-{task_id}");
    let pid = sched
        .cluster
        .executor_pid(&executor_id)
        .expect("executor runs");

    let downtime = Duration::from_secs(3);
    sched
        .cluster
        .restart_agent(&agent_id.value, downtime)
        .unwrap();
    let restarted = Instant::now();
    // Reports resume once the executor has resubscribed: they travel over
    // the agent's executor API, which is down until then.
    loop {
        let report = next_report(&mut sched, task_id).await;
        if restarted.elapsed() > downtime {
            assert!(report.hash_rate > 0.0, "{report:?}");
            break;
        }
    }
    // Past the reregistration timeout: the same executor process, still
    // mining, and it still answers a KILL.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sched.cluster.executor_pid(&executor_id), Some(pid));
    assert!(next_report(&mut sched, task_id).await.hash_rate > 0.0);
    kill_and_expect_killed(&mut sched, task_id, &agent_id).await;
    expect_executor_exit(&mut sched, task_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_without_checkpointing_ends_its_task_when_the_agent_restarts() {
    let task_id = "miner-nc";
    let RunningMiner {
        mut sched,
        agent_id,
        ..
    } = running_miner(task_id, false).await;
    sched
        .cluster
        .restart_agent(&agent_id.value, Duration::from_secs(1))
        .unwrap();
    let status = sched.update(task_id).await;
    assert_eq!(status.state(), TaskState::TaskFailed, "{status:?}");
    assert!(sched
        .cluster
        .executor_pid(&format!("exec-{task_id}"))
        .is_none());
}

/// A benchmark, not a check (run it alone on a quiet machine):
/// `cargo test --release -p executor --test executor -- --ignored --nocapture`.
/// A miner task with 1, then 2 CPUs mines a fixed job from the scripted pool;
/// its executor's hash-rate reports (after two to warm up) are averaged and
/// set against `miner bench`'s measurement on as many threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn executor_hash_rate_against_miner_bench() {
    for cpus in [1.0f64, 2.0] {
        let threads = cpus as usize;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (shares_tx, _) = mpsc::unbounded_channel();
        tokio::spawn(pool(listener, shares_tx));
        let mut sched = start().await;
        let task_id = format!("miner-bench-{threads}");
        let spec =
            json!({"role": "miner", "pool_host": "127.0.0.1", "pool_port": port, "cpus": cpus});
        let agent_id = sched
            .launch(
                &task_id,
                spec,
                &[
                    ("MINER_PAYOUT_ADDRESS", PAYOUT),
                    ("MESOS_MINER_REPORT_INTERVAL", "2secs"),
                ],
            )
            .await;
        expect_state(&mut sched, &task_id, TaskState::TaskStarting).await;
        expect_state(&mut sched, &task_id, TaskState::TaskRunning).await;
        let mut rates = Vec::new();
        for n in 0..7 {
            let report = next_report(&mut sched, &task_id).await;
            if n >= 2 {
                rates.push(report.hash_rate);
            }
        }
        kill_and_expect_killed(&mut sched, &task_id, &agent_id).await;
        expect_executor_exit(&mut sched, &task_id).await;
        drop(sched);
        let in_executor = rates.iter().sum::<f64>() / rates.len() as f64;
        let bench = tokio::task::spawn_blocking(move || {
            // The scripted pool grants no version rolling: the task mines nonce-only.
            miner::bench::measure(
                miner::Engine::best(),
                miner::Mode::NonceOnly,
                threads,
                Duration::from_secs(10),
                |_, _| {},
            )
            .unwrap()
            .hash_rate
        })
        .await
        .unwrap();
        println!(
            "{{\"threads\":{threads},\"executor_hash_rate\":{in_executor:.4e},\"bench_hash_rate\":{bench:.4e},\"ratio\":{:.4}}}",
            in_executor / bench
        );
        assert!(in_executor > 0.0 && bench > 0.0);
    }
}
