//! Cross-process tests of the scheduler driver: a devcluster master and
//! agents on loopback (in this process), the driver speaking the v1 HTTP API
//! to it, and devcluster's test executor as the tasks' executor processes.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mesos::v1::scheduler::{event, Event};
use prost::Message as _;
use scheduler::status::StatusSnapshot;
use scheduler::tasks::TaskRole;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn miner_cpus(snapshot: &StatusSnapshot) -> BTreeMap<String, f64> {
    snapshot
        .tasks
        .iter()
        .filter(|t| t.kind == TaskRole::Miner)
        .map(|t| (t.agent.clone(), t.cpus))
        .collect()
}

fn proxy_id(snapshot: &StatusSnapshot) -> String {
    snapshot
        .tasks
        .iter()
        .find(|t| t.kind == TaskRole::Proxy)
        .map(|t| t.id.clone())
        .unwrap_or_default()
}

/// GET `path` from `addr`: the status code and the body.
fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path)
}

/// One `method` request for `path` without a body: the status code and the body.
fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    devcluster::testing::http_request(addr, method, path, "")
}

/// (a) proxy first, then one miner per agent with all its free CPUs; the
/// status endpoint shows them. Then (c): a restarted scheduler fails over to
/// the same framework and tasks, launching and killing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_then_miners_with_exact_shares_and_restart_fails_over() {
    let mut cluster = start_cluster(4, 2.5).await;
    let (proxy_agent, miners) = fill(&mut cluster).await;
    let state_dir = tempfile::tempdir().unwrap();
    let master = cluster.cluster.master_addr().to_string();
    let driver = spawn_driver(driver_config(vec![master.clone()], state_dir.path()));

    // The proxy alone until it runs (miners need it running).
    let first = wait_for(&driver.status, "a running proxy", |s| {
        s.tasks
            .iter()
            .any(|t| t.kind == TaskRole::Proxy && t.state == scheduler::tasks::TaskState::Running)
    })
    .await;
    let proxy = first
        .tasks
        .iter()
        .find(|t| t.kind == TaskRole::Proxy)
        .unwrap();
    assert_eq!(proxy.agent, proxy_agent);
    assert!(first.framework_id.is_some());

    let running = wait_for(&driver.status, "proxy and 3 miners", |s| {
        all_running(s, &miners)
    })
    .await;
    assert_eq!(miner_cpus(&running), miners, "{running:#?}");
    assert_eq!(running.agent_cpus[&proxy_agent], 0.5);
    let launched_proxy = proxy_id(&first);
    assert_eq!(proxy_id(&running), launched_proxy);
    // Order, from the persisted state: every miner was launched after the
    // proxy was RUNNING.
    let state = scheduler::StateStore::new(state_dir.path())
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(state.framework_id, running.framework_id);
    let proxy = state.book.proxy().unwrap();
    let proxy_running = proxy.running_since_ms.unwrap();
    assert!(proxy.launched_at_ms <= proxy_running);
    assert_eq!(state.book.miners().count(), 3);
    for miner in state.book.miners() {
        assert!(miner.launched_at_ms >= proxy_running, "{miner:?}");
        assert_eq!(
            miner.proxy_id.as_ref().map(|id| id.as_str()),
            Some(launched_proxy.as_str())
        );
    }

    // The status endpoint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(scheduler::status::serve(
        listener,
        driver.status.clone(),
        scheduler::status::DashboardConfig::default(),
    ));
    let (status, body) = tokio::task::spawn_blocking(move || http_get(addr, "/api/status"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["framework_id"], running.framework_id.clone().unwrap());
    assert_eq!(json["tasks"].as_array().unwrap().len(), 4);
    assert_eq!(json["agent_cpus"][&proxy_agent], 0.5);
    assert_eq!(json["total_hash_rate"], 0.0);
    assert!(!body.contains("PASSWORD"), "{body}");
    let (status, _) = tokio::task::spawn_blocking(move || http_get(addr, "/nope"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    // Read-only on every route, the metrics and the pages too.
    for path in ["/metrics", "/api/status", "/api/v1/cluster", "/", "/nope"] {
        for method in ["POST", "PUT", "DELETE"] {
            let (status, _) = tokio::task::spawn_blocking(move || http(addr, method, path))
                .await
                .unwrap();
            assert_eq!(status, 405, "{method} {path}");
        }
    }
    server.abort();

    // (c) Restart: drop the driver, start a new one on the same state dir.
    let framework_id = running.framework_id.clone();
    let ids = task_ids(&running);
    let pids = |cluster: &devcluster::Cluster| -> Vec<Option<u32>> {
        ids.iter()
            .map(|id| cluster.executor_pid(&format!("exec-{id}")))
            .collect()
    };
    let pids_before = pids(&cluster.cluster);
    assert!(pids_before.iter().all(Option::is_some), "{pids_before:?}");
    drop(driver);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Forget what we last heard of the tasks: only reconciliation can tell
    // the new driver that they run.
    let store = scheduler::StateStore::new(state_dir.path());
    let mut state = store.load().unwrap().unwrap();
    let records: Vec<_> = state.book.tasks().cloned().collect();
    for mut record in records {
        record.state = scheduler::tasks::TaskState::Staging;
        state.book.insert(record);
    }
    store.save(&state).unwrap();
    let driver = spawn_driver(driver_config(vec![master], state_dir.path()));
    let again = wait_for(&driver.status, "failed over, all running", |s| {
        all_running(s, &miners)
    })
    .await;
    assert_eq!(again.framework_id, framework_id);
    assert_eq!(task_ids(&again), ids);
    // Nothing launched or killed for a while (reconciliation answered).
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = driver.status.snapshot();
        assert_eq!(task_ids(&now), ids, "{now:#?}");
        assert_eq!(now.framework_id, framework_id);
    }
    // The very same executor processes: nothing was relaunched.
    assert_eq!(pids(&cluster.cluster), pids_before);
    assert!(!driver.handle.is_finished());
}

/// Fills `cluster` as [`fill`] does and runs a driver on it with a fresh
/// state dir, until its proxy and 3 miners run: the state dir, the driver,
/// the miners' expected CPUs per agent, and that first running status.
async fn running_driver(
    cluster: &mut TestCluster,
) -> (
    tempfile::TempDir,
    RunningDriver,
    BTreeMap<String, f64>,
    StatusSnapshot,
) {
    let (_, miners) = fill(cluster).await;
    let state_dir = tempfile::tempdir().unwrap();
    let master = cluster.cluster.master_addr().to_string();
    let driver = spawn_driver(driver_config(vec![master], state_dir.path()));
    let before = wait_for(&driver.status, "proxy and 3 miners", |s| {
        all_running(s, &miners)
    })
    .await;
    (state_dir, driver, miners, before)
}

/// (b) The proxy's executor dies: every miner is killed, then a new proxy
/// runs, then new miners with the same shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_death_kills_miners_then_all_come_back() {
    let mut cluster = start_cluster(4, 2.5).await;
    let (_state_dir, driver, miners, before) = running_driver(&mut cluster).await;
    let old_proxy = proxy_id(&before);
    let old_ids = task_ids(&before);

    cluster
        .cluster
        .kill_executor(&format!("exec-{old_proxy}"))
        .unwrap();
    // Every old task leaves the book (the proxy failed, the miners were
    // killed by us) before anything new runs on their agents.
    let after = wait_for(&driver.status, "a new proxy and 3 new miners", |s| {
        all_running(s, &miners) && task_ids(s).iter().all(|id| !old_ids.contains(id))
    })
    .await;
    assert_ne!(proxy_id(&after), old_proxy);
    for id in &old_ids {
        assert_eq!(cluster.cluster.executor_pid(&format!("exec-{id}")), None);
    }
    assert_eq!(miner_cpus(&after), miners, "{after:#?}");
    assert_eq!(after.framework_id, before.framework_id);
    assert!(!driver.handle.is_finished());
}

/// (d) The master fails over: the driver resubscribes with its framework id
/// and keeps its tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_restart_resubscribes_and_keeps_tasks() {
    let mut cluster = start_cluster(4, 2.5).await;
    let (_state_dir, driver, miners, before) = running_driver(&mut cluster).await;
    let ids = task_ids(&before);

    cluster.cluster.restart_master();
    let after = wait_for(&driver.status, "resubscribed, all running", |s| {
        s.subscriptions > before.subscriptions && all_running(s, &miners)
    })
    .await;
    assert_eq!(after.framework_id, before.framework_id);
    assert_eq!(task_ids(&after), ids);
    // Dropped streams too.
    cluster.cluster.drop_scheduler_streams();
    let subscriptions = after.subscriptions;
    let after = wait_for(&driver.status, "resubscribed, all running", |s| {
        s.subscriptions > subscriptions && all_running(s, &miners)
    })
    .await;
    assert_eq!(after.framework_id, before.framework_id);
    assert_eq!(task_ids(&after), ids);
    assert!(!driver.handle.is_finished());
}

/// A bad master: every even connection gets a 500, every odd one a SUBSCRIBE
/// answer whose stream closes at once. Counts connections.
async fn bad_master() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ =
                    tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
                let response: &[u8] = if n.is_multiple_of(2) {
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nMesos-Stream-Id: bad\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                };
                let _ = stream.write_all(response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, hits)
}

/// (e) A master answering 500 or closing the stream: backoff and
/// resubscribe, no panic; with a good master next in the list, the driver
/// moves on to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_master_backs_off_then_next_master_works() {
    let (bad, hits) = bad_master().await;
    let state_dir = tempfile::tempdir().unwrap();
    let driver = spawn_driver(driver_config(vec![bad.to_string()], state_dir.path()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n = hits.load(Ordering::SeqCst);
    // 100 ms doubling to 1 s with jitter: a handful of attempts, not a hot loop.
    assert!((3..=25).contains(&n), "{n} attempts in 3 s");
    assert!(!driver.handle.is_finished(), "driver stopped");
    let snapshot = driver.status.snapshot();
    assert!(!snapshot.connected && snapshot.framework_id.is_none());
    drop(driver);

    let cluster = start_cluster(1, 1.0).await;
    let good = cluster.cluster.master_addr().to_string();
    let driver = spawn_driver(driver_config(vec![bad.to_string(), good], state_dir.path()));
    let snapshot = wait_for(&driver.status, "subscribed to the good master", |s| {
        s.connected && s.framework_id.is_some()
    })
    .await;
    assert!(snapshot.framework_id.is_some());
    assert!(!driver.handle.is_finished());
}

fn subscribed_event(framework_id: &str) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: mesos::v1::FrameworkId {
                value: framework_id.into(),
            },
            heartbeat_interval_seconds: Some(0.1),
            master_info: None,
        }),
        ..Default::default()
    }
}

/// A master that answers SUBSCRIBE with `events` (SUBSCRIBED promising
/// heartbeats every 0.1 s first) and then stays silent, and every other call
/// with 202. Records the SUBSCRIBE bodies.
async fn scripted_master(
    events: Vec<Event>,
) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let subscribes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let counter = subscribes.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let counter = counter.clone();
            let events = events.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = vec![0u8; 64 * 1024];
                // Headers are enough to tell SUBSCRIBE (no stream id) apart.
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse().ok())
                    .unwrap_or(0);
                let header_len = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                while request.len() < header_len + length {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                if head.contains("mesos-stream-id") {
                    let _ = stream
                        .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                }
                counter.lock().unwrap().push(request[header_len..].to_vec());
                let mut record = Vec::new();
                for event in &events {
                    let bytes = event.encode_to_vec();
                    record.extend_from_slice(format!("{}\n", bytes.len()).as_bytes());
                    record.extend_from_slice(&bytes);
                }
                let mut response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                     Mesos-Stream-Id: silent\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                    record.len()
                )
                .into_bytes();
                response.extend_from_slice(&record);
                response.extend_from_slice(b"\r\n");
                let _ = stream.write_all(&response).await;
                // Keep the connection open, silent.
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    (addr, subscribes)
}

/// The heartbeat watchdog: SUBSCRIBED, then silence for longer than 3
/// heartbeat intervals + the margin (1 s here): the driver drops the
/// connection and resubscribes with the framework id it saved. (SUBSCRIBE
/// bodies are recorded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_master_is_dropped_and_resubscribed() {
    let (addr, subscribes) = scripted_master(vec![subscribed_event("fw-silent")]).await;
    let state_dir = tempfile::tempdir().unwrap();
    let driver = spawn_driver(driver_config(vec![addr.to_string()], state_dir.path()));
    wait_for(&driver.status, "SUBSCRIBED", |s| s.subscriptions >= 1).await;
    assert_eq!(
        driver.status.snapshot().framework_id.as_deref(),
        Some("fw-silent")
    );
    let saved = scheduler::StateStore::new(state_dir.path())
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(saved.framework_id.as_deref(), Some("fw-silent"));
    // Not before the watchdog's 1.3 s.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(subscribes.lock().unwrap().len(), 1);
    wait_for(&driver.status, "a resubscription", |s| s.subscriptions >= 2).await;
    let bodies = subscribes.lock().unwrap().clone();
    assert!(bodies.len() >= 2);
    let has_id = |body: &[u8]| body.windows(9).any(|w| w == b"fw-silent");
    assert!(!has_id(&bodies[0]) && has_id(&bodies[1]));
    assert!(!driver.handle.is_finished());
}

/// MESSAGE events with hash-rate reports feed the status (unreadable ones
/// are skipped); ERROR aborts the driver with an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_feed_the_status_and_error_aborts() {
    use scheduler::tasks::{TaskRecord, TaskState};
    // A remembered miner, so that its report counts.
    let state_dir = tempfile::tempdir().unwrap();
    let mut state = scheduler::PersistedState {
        framework_id: Some("fw-msg".into()),
        ..Default::default()
    };
    state.book.insert(TaskRecord {
        id: "miner-a-1".into(),
        role: TaskRole::Miner,
        agent_id: "a".into(),
        hostname: "a.example".into(),
        state: TaskState::Running,
        cpus: 1.0,
        mem_mb: 32.0,
        endpoint: None,
        proxy_id: Some("proxy-1".into()),
        kill_requested: false,
        launched_at_ms: 0,
        running_since_ms: Some(0),
        unreachable_since_ms: None,
        revocable: false,
    });
    scheduler::StateStore::new(state_dir.path())
        .save(&state)
        .unwrap();
    let message = |data: &[u8]| Event {
        r#type: Some(event::Type::Message as i32),
        message: Some(event::Message {
            agent_id: mesos::v1::AgentId { value: "a".into() },
            executor_id: mesos::v1::ExecutorId {
                value: "exec-miner-a-1".into(),
            },
            data: bytes::Bytes::copy_from_slice(data),
        }),
        ..Default::default()
    };
    let events = vec![
        subscribed_event("fw-msg"),
        message(b"not json"),
        message(br#"{"task_id": "miner-a-1", "hash_rate": 1234.5, "accepted": 3, "rejected": 1}"#),
        message(br#"{"task_id": "miner-zz-9", "hash_rate": 99.0, "accepted": 0, "rejected": 0}"#),
    ];
    let (addr, _) = scripted_master(events).await;
    let driver = spawn_driver(driver_config(vec![addr.to_string()], state_dir.path()));
    let snapshot = wait_for(&driver.status, "the hash-rate report", |s| {
        s.total_hash_rate > 0.0
    })
    .await;
    assert_eq!(snapshot.total_hash_rate, 1234.5);
    assert_eq!(snapshot.hash_rates["miner-a-1"].accepted, 3);
    assert_eq!(snapshot.hash_rates.len(), 1);
    drop(driver);

    let error = Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: "framework removed".into(),
        }),
        ..Default::default()
    };
    let (addr, subscribes) = scripted_master(vec![subscribed_event("fw-msg"), error]).await;
    let mut driver = spawn_driver(driver_config(vec![addr.to_string()], state_dir.path()));
    let result = tokio::time::timeout(PATIENCE, &mut driver.handle)
        .await
        .expect("driver aborts")
        .expect("no panic");
    assert!(
        matches!(&result, Err(scheduler::DriverError::Aborted(_))),
        "{result:?}"
    );
    assert_eq!(subscribes.lock().unwrap().len(), 1, "no resubscription");
}

/// How long a state may take in the agent-loss tests: they start four
/// executor processes and relaunch some, on a loaded 2-core machine.
const LOSS_PATIENCE: Duration = Duration::from_secs(120);

/// [`spawn_driver`] with a scheduler configuration of the test's own.
fn spawn_driver_with(driver: scheduler::DriverConfig, config: scheduler::Config) -> RunningDriver {
    let state = scheduler::StateStore::new(&driver.state_dir)
        .load()
        .unwrap()
        .unwrap_or_default();
    let framework = scheduler::Framework::new(config, state);
    let driver = scheduler::Driver::new(driver, framework).unwrap();
    let status = driver.status();
    let handle = tokio::spawn(driver.run());
    RunningDriver { status, handle }
}

/// [`wait_within`] [`LOSS_PATIENCE`].
async fn wait_long(
    status: &scheduler::status::StatusHandle,
    what: &str,
    ok: impl Fn(&StatusSnapshot) -> bool,
) -> StatusSnapshot {
    wait_within(status, what, LOSS_PATIENCE, ok).await
}

/// The tasks of `role` on `agent` in `state`.
fn tasks_on<'a>(
    snapshot: &'a StatusSnapshot,
    role: TaskRole,
    agent: &'a str,
    state: scheduler::tasks::TaskState,
) -> impl Iterator<Item = &'a scheduler::status::TaskStatusView> + 'a {
    snapshot
        .tasks
        .iter()
        .filter(move |t| t.kind == role && t.agent == agent && t.state == state)
}

/// A RUNNING proxy, and a RUNNING miner on each of `agents`.
fn proxy_and_miners_running(snapshot: &StatusSnapshot, agents: &[String]) -> bool {
    use scheduler::tasks::TaskState::Running;
    snapshot.connected
        && snapshot
            .tasks
            .iter()
            .any(|t| t.kind == TaskRole::Proxy && t.state == Running)
        && agents
            .iter()
            .all(|agent| tasks_on(snapshot, TaskRole::Miner, agent, Running).count() == 1)
}

fn running_proxy(snapshot: &StatusSnapshot) -> &scheduler::status::TaskStatusView {
    snapshot
        .tasks
        .iter()
        .find(|t| t.kind == TaskRole::Proxy && t.state == scheduler::tasks::TaskState::Running)
        .expect("a running proxy")
}

/// A running cluster of three agents with the scheduler on it: the cluster, the scheduler's
/// state dir, the driver, the agents' ids, and the status once the proxy and 3 miners run.
type LossSetup = (
    TestCluster,
    tempfile::TempDir,
    RunningDriver,
    Vec<String>,
    StatusSnapshot,
);

/// Three agents of 2 CPUs, each with the two ports a proxy needs, and the
/// driver on them (speaking `content_type`, the proxy replaced after 2 s
/// UNREACHABLE); waits until the proxy and a miner per agent run.
async fn loss_setup(content_type: mesos::ContentType) -> LossSetup {
    loss_setup_with(content_type, |_| {}).await
}

/// [`loss_setup`] on a cluster configured by `tweak`.
async fn loss_setup_with(
    content_type: mesos::ContentType,
    tweak: impl FnOnce(&mut devcluster::ClusterConfig),
) -> LossSetup {
    let cluster = start_cluster_with(3, 2.0, tweak).await;
    let agents: Vec<String> = cluster.cluster.agents().into_iter().map(|a| a.id).collect();
    let state_dir = tempfile::tempdir().unwrap();
    let mut driver = driver_config(
        vec![cluster.cluster.master_addr().to_string()],
        state_dir.path(),
    );
    driver.client = mesos::client::ClientConfig::default().with_content_type(content_type);
    let mut config = scheduler_config();
    config.proxy.unreachable_timeout_secs = 2.0;
    // The proxy's volume is on the lost agent: give up on it soon.
    config.proxy.volume.agent_gone_timeout_secs = 2.0;
    config.validate().unwrap();
    let driver = spawn_driver_with(driver, config);
    let before = wait_long(&driver.status, "the proxy and 3 miners", |s| {
        proxy_and_miners_running(s, &agents)
    })
    .await;
    (cluster, state_dir, driver, agents, before)
}

/// Losing the agent of a miner: the scheduler (partition-aware) sees the
/// miner UNREACHABLE and keeps it only as such; nothing runs or is launched
/// on the lost agent, and the proxy and the other miners keep running,
/// untouched (same tasks, same executor processes). The driver speaks JSON
/// to the master here, to cover that path end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_miner_agent_leaves_the_rest_running() {
    use scheduler::tasks::TaskState::{Running, Unreachable};
    let (cluster, _state_dir, driver, agents, before) = loss_setup(mesos::ContentType::Json).await;
    let proxy = running_proxy(&before).clone();
    let lost = agents
        .iter()
        .find(|agent| **agent != proxy.agent)
        .unwrap()
        .clone();
    let survivors: Vec<String> = agents.iter().filter(|a| **a != lost).cloned().collect();
    let lost_miner = tasks_on(&before, TaskRole::Miner, &lost, Running)
        .next()
        .unwrap()
        .id
        .clone();
    let surviving_ids: Vec<String> = task_ids(&before)
        .into_iter()
        .filter(|id| *id != lost_miner)
        .collect();
    let pids = |cluster: &devcluster::Cluster| -> Vec<Option<u32>> {
        surviving_ids
            .iter()
            .map(|id| cluster.executor_pid(&format!("exec-{id}")))
            .collect()
    };
    let pids_before = pids(&cluster.cluster);
    assert!(pids_before.iter().all(Option::is_some), "{pids_before:?}");

    cluster.cluster.lose_agent(&lost).unwrap();
    let after = wait_long(&driver.status, "the lost miner UNREACHABLE", |s| {
        s.tasks
            .iter()
            .any(|t| t.id == lost_miner && t.state == Unreachable)
    })
    .await;
    assert!(after.connected);
    assert_eq!(
        cluster.cluster.executor_pid(&format!("exec-{lost_miner}")),
        None
    );
    // Settle, then check that nothing else moved.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = driver.status.snapshot();
    let mut ids = surviving_ids.clone();
    ids.push(lost_miner.clone());
    ids.sort();
    assert_eq!(task_ids(&after), ids, "{after:#?}");
    // On the lost agent: only the UNREACHABLE record, nothing running.
    let on_lost: Vec<_> = after.tasks.iter().filter(|t| t.agent == lost).collect();
    assert_eq!(on_lost.len(), 1, "{after:#?}");
    assert_eq!(
        (on_lost[0].id.as_str(), on_lost[0].state),
        (lost_miner.as_str(), Unreachable)
    );
    // The proxy and the other miners: the same tasks, RUNNING, in the same
    // processes.
    assert_eq!(running_proxy(&after).id, proxy.id);
    for agent in &survivors {
        let miners: Vec<_> = tasks_on(&after, TaskRole::Miner, agent, Running).collect();
        assert_eq!(miners.len(), 1, "{after:#?}");
        assert!(surviving_ids.contains(&miners[0].id));
    }
    assert_eq!(pids(&cluster.cluster), pids_before);
    assert!(!cluster
        .cluster
        .agents()
        .iter()
        .any(|agent| agent.id == lost && agent.alive));
    assert!(!driver.handle.is_finished());
}

/// Losing the agent of the proxy: the proxy goes UNREACHABLE; after the
/// configured 2 s the scheduler gives up on it and on every miner, launches
/// a new proxy on a surviving agent, and then miners on both surviving
/// agents, pointed at the new proxy. What was on the lost agent is only
/// kept as UNREACHABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_proxy_agent_relaunches_proxy_and_miners_elsewhere() {
    use scheduler::tasks::TaskState::{Running, Unreachable};
    let (cluster, state_dir, driver, agents, before) =
        loss_setup(mesos::ContentType::Protobuf).await;
    let old_proxy = running_proxy(&before).clone();
    let lost = old_proxy.agent.clone();
    let survivors: Vec<String> = agents.iter().filter(|a| **a != lost).cloned().collect();
    let old_ids = task_ids(&before);

    cluster.cluster.lose_agent(&lost).unwrap();
    wait_long(&driver.status, "the proxy UNREACHABLE", |s| {
        s.tasks
            .iter()
            .any(|t| t.id == old_proxy.id && t.state == Unreachable)
    })
    .await;
    let after = wait_long(
        &driver.status,
        "a new proxy and new miners on the surviving agents",
        |s| {
            proxy_and_miners_running(s, &survivors)
                && running_proxy(s).id != old_proxy.id
                && s.tasks
                    .iter()
                    .filter(|t| t.state == Running)
                    .all(|t| !old_ids.contains(&t.id))
        },
    )
    .await;
    let new_proxy = running_proxy(&after).clone();
    assert!(survivors.contains(&new_proxy.agent), "{after:#?}");
    // Nothing runs on the lost agent; whatever is recorded there is the old
    // tasks, UNREACHABLE.
    for task in after.tasks.iter().filter(|t| t.agent == lost) {
        assert!(old_ids.contains(&task.id), "{after:#?}");
        assert_eq!(task.state, Unreachable, "{after:#?}");
    }
    // The old miners on the surviving agents were killed: their executors
    // are gone.
    for id in &old_ids {
        assert_eq!(cluster.cluster.executor_pid(&format!("exec-{id}")), None);
    }
    // The new miners use the new proxy (from the persisted state).
    let saved = scheduler::StateStore::new(state_dir.path())
        .load()
        .unwrap()
        .unwrap();
    let running_miners: Vec<_> = saved.book.miners().filter(|m| m.state == Running).collect();
    assert_eq!(running_miners.len(), survivors.len(), "{saved:#?}");
    for miner in running_miners {
        assert_eq!(
            miner.proxy_id.as_ref().map(|id| id.as_str()),
            Some(new_proxy.id.as_str())
        );
        assert!(miner.launched_at_ms >= saved.book.proxy().unwrap().launched_at_ms);
    }
    assert_eq!(after.framework_id, before.framework_id);
    assert!(!driver.handle.is_finished());
}

/// A network partition cuts the proxy's agent off (devcluster's `partition-agent`: its
/// processes run on). The proxy goes UNREACHABLE and is replaced after the configured 2 s, with
/// miners on the other agents; the old proxy keeps running behind the cut. When the partition
/// heals the agent re-registers and reports the old proxy RUNNING: the scheduler kills it, so
/// one proxy is left, the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_partition_brings_back_the_old_proxy_and_it_is_killed() {
    let setup = loss_setup(mesos::ContentType::Protobuf).await;
    let cluster = &setup.0.cluster;
    partition_the_proxy_then_heal(
        &setup,
        |agent| cluster.partition_agent(agent).unwrap(),
        |agent| cluster.heal_agent(agent).unwrap(),
    )
    .await;
}

/// The same across a real network: each agent on a host of its own (a network namespace on
/// a bridge), its executors in it, and the proxy's host's link cut. The master sees the agent
/// miss its pings and the rest follows as above; restoring the link heals it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_partition_of_the_proxys_host_replaces_the_proxy_and_kills_the_old_one_after() {
    let hosts = devcluster::netns::TestHosts::make(3).expect("test hosts (root and iproute2)");
    let setup = loss_setup_with(mesos::ContentType::Protobuf, |config| {
        config.agent_hosts = hosts.agent_hosts();
        config.agent_ping_timeout = Duration::from_millis(300);
        config.max_agent_ping_timeouts = 3;
    })
    .await;
    let agents = setup.3.clone();
    let host_of = |agent: &str| agents.iter().position(|a| a == agent).unwrap();
    partition_the_proxy_then_heal(
        &setup,
        |agent| hosts.cut(host_of(agent)).unwrap(),
        |agent| hosts.restore(host_of(agent)).unwrap(),
    )
    .await;
}

/// Cuts the proxy's agent off with `cut`, checks the proxy is replaced while the old one runs
/// on, heals with `heal` and checks the old proxy is killed.
async fn partition_the_proxy_then_heal(
    (cluster, _state_dir, driver, agents, before): &LossSetup,
    cut: impl Fn(&str),
    heal: impl Fn(&str),
) {
    use scheduler::tasks::TaskState::{Running, Unreachable};
    let old_proxy = running_proxy(before).clone();
    let cut_agent = old_proxy.agent.clone();
    let survivors: Vec<String> = agents
        .iter()
        .filter(|a| **a != cut_agent)
        .cloned()
        .collect();
    let old_executor = format!("exec-{}", old_proxy.id);
    let old_pid = cluster.cluster.executor_pid(&old_executor);
    assert!(old_pid.is_some(), "the old proxy's executor runs");

    cut(&cut_agent);
    wait_long(&driver.status, "the proxy UNREACHABLE", |s| {
        s.tasks
            .iter()
            .any(|t| t.id == old_proxy.id && t.state == Unreachable)
    })
    .await;
    let replaced = wait_long(&driver.status, "a new proxy on a surviving agent", |s| {
        proxy_and_miners_running(s, &survivors) && running_proxy(s).id != old_proxy.id
    })
    .await;
    let new_proxy = running_proxy(&replaced).clone();
    // Behind the partition the old proxy still runs: the cut is in the network, not a crash.
    assert_eq!(cluster.cluster.executor_pid(&old_executor), old_pid);

    heal(&cut_agent);
    wait_long(&driver.status, "the old proxy's executor gone", |_| {
        cluster.cluster.executor_pid(&old_executor).is_none()
    })
    .await;
    let after = wait_long(&driver.status, "one proxy running, the new one", |s| {
        s.tasks
            .iter()
            .filter(|t| t.kind == TaskRole::Proxy && t.state == Running)
            .map(|t| t.id.as_str())
            .eq([new_proxy.id.as_str()])
    })
    .await;
    assert!(
        after
            .tasks
            .iter()
            .all(|t| t.id != old_proxy.id || t.state != Running),
        "{after:#?}"
    );
    assert!(!driver.handle.is_finished());
}
