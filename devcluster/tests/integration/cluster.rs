//! Cross-process tests: a devcluster on loopback, a scheduler speaking to it
//! with `mesos::client::SchedulerClient` over real HTTP, and executors
//! (`devcluster-test-executor`) started as OS processes.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use devcluster::resources::{ports, scalar};
use mesos::v1::scheduler::{call, event};
use mesos::v1::{task_status, ExecutorId, TaskState};
use prost::Message as _;

const SCHEDULER: &str = "/api/v1/scheduler";

/// Sends raw bytes as one HTTP request and returns the status line.
fn raw_post(addr: std::net::SocketAddr, path: &str, headers: &str, body: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{headers}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn subscribe_heartbeats_offers_and_refusals() {
    let harness = start(2, 2.0, 512.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    assert!(!sched.framework_id.is_empty());

    let mut offers = Vec::new();
    while offers.len() < 2 {
        offers.extend(sched.offers().await);
    }
    let agents = harness.cluster.agents();
    for offer in &offers {
        assert_eq!(offer.framework_id.value, sched.framework_id);
        assert!(agents.iter().any(|agent| agent.id == offer.agent_id.value));
        assert_eq!(offer.hostname, "127.0.0.1");
        assert_eq!(scalar(&offer.resources, "cpus"), 2.0);
        assert_eq!(scalar(&offer.resources, "mem"), 512.0);
        assert_eq!(ports(&offer.resources), vec![(31000, 31009)]);
        assert!(offer
            .resources
            .iter()
            .all(|resource| resource.role.as_deref() == Some("*")));
    }
    assert_ne!(offers[0].agent_id, offers[1].agent_id);
    sched
        .expect("HEARTBEAT", |event| {
            event.r#type() == event::Type::Heartbeat
        })
        .await;

    // Wrong stream id: 400. Unknown framework: 404.
    let mut revive = sched.base(call::Type::Revive);
    let error = sched
        .client
        .call("not-the-stream", &revive)
        .await
        .unwrap_err();
    assert_eq!(
        error.status(),
        Some(http::StatusCode::BAD_REQUEST),
        "{error}"
    );
    revive.framework_id.as_mut().unwrap().value = "no-such-framework".into();
    let error = sched
        .client
        .call(&sched.stream_id, &revive)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::NOT_FOUND), "{error}");

    // Missing stream id and a malformed body: 400.
    let master = harness.cluster.master_addr();
    let body = sched.base(call::Type::Revive).encode_to_vec();
    let protobuf = "Content-Type: application/x-protobuf\r\n";
    let line = tokio::task::spawn_blocking(move || raw_post(master, SCHEDULER, protobuf, &body))
        .await
        .unwrap();
    assert!(line.contains(" 400 "), "{line}");
    let line =
        tokio::task::spawn_blocking(move || raw_post(master, SCHEDULER, protobuf, b"\xff\xff\xff"))
            .await
            .unwrap();
    assert!(line.contains(" 400 "), "{line}");
}

#[tokio::test]
async fn decline_filters_suppress_and_revive() {
    let harness = start(1, 1.0, 256.0, (31000, 31001)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let is_offers = |event: &mesos::v1::scheduler::Event| event.r#type() == event::Type::Offers;

    let offer = sched.offers().await.remove(0);
    sched.decline(vec![offer.id.clone()], 1.5).await;
    sched
        .expect_none(Duration::from_millis(800), is_offers)
        .await;
    let again = sched.offers().await.remove(0);
    assert_ne!(again.id, offer.id);
    assert_eq!(scalar(&again.resources, "cpus"), 1.0);

    // Declining a used offer again is ignored.
    sched.decline(vec![offer.id.clone()], 1.0).await;

    sched.decline(vec![again.id.clone()], 3600.0).await;
    sched
        .expect_none(Duration::from_millis(1200), is_offers)
        .await;
    sched.send(sched.base(call::Type::Revive)).await;
    let revived = sched.offers().await.remove(0);

    sched.send(sched.base(call::Type::Suppress)).await;
    sched.decline(vec![revived.id.clone()], 0.0).await;
    sched
        .expect_none(Duration::from_millis(1200), is_offers)
        .await;
    sched.send(sched.base(call::Type::Revive)).await;
    sched.offers().await;
}

#[tokio::test]
async fn launch_acknowledge_message_kill_and_reoffer() {
    let harness = start(1, 2.0, 512.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let offers = sched.offers().await;
    let offer = offers[0].clone();

    // Too big: TASK_ERROR from the master, no uuid.
    let mut greedy = test_task(&offer, "greedy", "e-greedy", &[]);
    greedy.resources[0] = mesos::v1::Resource::scalar("cpus", 64.0);
    let task = test_task(&offer, "t1", "e1", &[]);
    sched
        .launch_with(vec![offer.id.clone()], vec![greedy, task.clone()], 3600.0)
        .await;
    let error = sched.update("greedy").await;
    assert_eq!(error.state(), TaskState::TaskError);
    assert_eq!(error.reason(), task_status::Reason::TaskInvalid);
    assert!(error.uuid.is_none());

    let running = sched.update("t1").await;
    assert_eq!(running.state(), TaskState::TaskRunning);
    assert_eq!(running.source(), task_status::Source::Executor);
    assert_eq!(running.uuid.as_ref().map(Bytes::len), Some(16));
    assert_eq!(running.agent_id.as_ref(), Some(&offer.agent_id));
    assert_eq!(running.executor_id, Some(ExecutorId { value: "e1".into() }));

    // The sandbox has the executor's output files.
    let sandbox = harness.cluster.executor_sandbox("e1").unwrap();
    assert!(sandbox.starts_with(harness.dir.path()));
    assert!(sandbox.join("stdout").exists());
    let stderr = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
    assert!(stderr.contains("test executor e1"), "{stderr}");

    // Unacknowledged: sent again (retry interval 1 s), same uuid.
    let retried = sched.update("t1").await;
    assert_eq!(retried.uuid, running.uuid);
    sched.acknowledge(&running).await;

    // A used offer: the launch is refused with TASK_LOST.
    sched
        .launch(
            vec![offer.id.clone()],
            vec![test_task(&offer, "t2", "e2", &[])],
        )
        .await;
    let lost = sched.update("t2").await;
    assert_eq!(lost.state(), TaskState::TaskLost);
    assert_eq!(lost.reason(), task_status::Reason::InvalidOffers);

    // MESSAGE round trip through the executor.
    let mut message = sched.base(call::Type::Message);
    message.message = Some(call::Message {
        agent_id: offer.agent_id.clone(),
        executor_id: ExecutorId { value: "e1".into() },
        data: Bytes::from_static(b"ping"),
    });
    sched.send(message).await;
    let echoed = sched
        .expect("MESSAGE", |event| event.r#type() == event::Type::Message)
        .await
        .message
        .unwrap();
    assert_eq!(&echoed.data[..], b"ping");
    assert_eq!(echoed.executor_id.value, "e1");

    sched.kill("t1", &offer.agent_id, None).await;
    let killed = sched.update("t1").await;
    assert_eq!(killed.state(), TaskState::TaskKilled);
    assert_eq!(killed.source(), task_status::Source::Executor);
    sched.acknowledge(&killed).await;

    // The task's resources come back at once; the executor's when it has
    // exited (FAILURE), and past the ACCEPT's filter only after REVIVE.
    let mut offered = 0.0;
    let mut failure = None;
    while failure.is_none() || offered < 2.0 - 1e-9 {
        let event = sched
            .expect("OFFERS or FAILURE", |event| {
                matches!(event.r#type(), event::Type::Offers | event::Type::Failure)
            })
            .await;
        if let Some(offers) = event.offers {
            offered += offers
                .offers
                .iter()
                .map(|offer| scalar(&offer.resources, "cpus"))
                .sum::<f64>();
        } else {
            failure = event.failure;
            sched.send(sched.base(call::Type::Revive)).await;
        }
    }
    assert!((offered - 2.0).abs() < 1e-9, "{offered}");
    let failure = failure.unwrap();
    assert_eq!(failure.executor_id, Some(ExecutorId { value: "e1".into() }));
    assert_eq!(failure.status, Some(0));
}

#[tokio::test]
async fn reconcile_then_executor_sigkill_fails_the_task() {
    let harness = start(1, 2.0, 512.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let running = run_task(&mut sched, "t1", "e1", true).await;

    sched.reconcile(&["t1", "ghost"]).await;
    let known = sched.update("t1").await;
    assert_eq!(known.state(), TaskState::TaskRunning);
    assert_eq!(known.reason(), task_status::Reason::Reconciliation);
    assert!(known.uuid.is_none());
    let ghost = sched.update("ghost").await;
    assert_eq!(ghost.state(), TaskState::TaskLost);
    sched.reconcile(&[]).await;
    let implicit = sched.update("t1").await;
    assert_eq!(implicit.state(), TaskState::TaskRunning);
    assert!(implicit.uuid.is_none());

    assert!(harness.cluster.executor_pid("e1").is_some());
    harness.cluster.kill_executor("e1").unwrap();
    let failed = sched.update("t1").await;
    assert_eq!(failed.state(), TaskState::TaskFailed);
    assert_eq!(failed.reason(), task_status::Reason::ExecutorTerminated);
    assert_eq!(failed.source(), task_status::Source::Agent);
    assert!(failed.uuid.is_some());
    assert_eq!(failed.agent_id, running.agent_id);
    sched.acknowledge(&failed).await;
    let failure = sched
        .expect("FAILURE", |event| event.r#type() == event::Type::Failure)
        .await
        .failure
        .unwrap();
    assert_eq!(failure.executor_id, Some(ExecutorId { value: "e1".into() }));
    assert_ne!(failure.status, Some(0));

    // Terminal and acknowledged: the master forgot it.
    sched.reconcile(&["t1"]).await;
    assert_eq!(sched.update("t1").await.state(), TaskState::TaskLost);
}

#[tokio::test]
async fn kill_escalates_when_the_executor_ignores_it() {
    let harness = start(1, 2.0, 512.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let offer = sched.offers().await.remove(0);
    let task = test_task(
        &offer,
        "stubborn",
        "e1",
        &[("TEST_EXECUTOR_IGNORE_KILL", "1")],
    );
    sched.launch(vec![offer.id.clone()], vec![task]).await;
    let running = sched.update("stubborn").await;
    sched.acknowledge(&running).await;
    sched.kill("stubborn", &offer.agent_id, None).await;
    let killed = sched.update("stubborn").await;
    assert_eq!(killed.state(), TaskState::TaskKilled);
    assert_eq!(killed.source(), task_status::Source::Agent);
    assert!(harness.cluster.executor_pid("e1").is_none());
}

#[tokio::test]
async fn shutdown_reaches_the_executor() {
    let harness = start(1, 2.0, 512.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let running = run_task(&mut sched, "t1", "e1", true).await;
    let mut shutdown = sched.base(call::Type::Shutdown);
    shutdown.shutdown = Some(call::Shutdown {
        executor_id: ExecutorId { value: "e1".into() },
        agent_id: running.agent_id.clone().unwrap(),
    });
    sched.send(shutdown).await;
    let killed = sched.update("t1").await;
    assert_eq!(killed.state(), TaskState::TaskKilled);
    assert_eq!(killed.source(), task_status::Source::Executor);
    sched.acknowledge(&killed).await;
    let failure = sched
        .expect("FAILURE", |event| event.r#type() == event::Type::Failure)
        .await
        .failure
        .unwrap();
    assert_eq!(failure.status, Some(0));
    assert!(harness.cluster.executor_pid("e1").is_none());
}

#[tokio::test]
async fn shell_executor_environment_and_registration_timeout() {
    let harness = start_with(1, 2.0, 512.0, (31000, 31009), |config| {
        config.executor_registration_timeout = Duration::from_secs(2);
    })
    .await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let offer = sched.offers().await.remove(0);
    let mut task = test_task(&offer, "sh", "sh-exec", &[("FOO", "bar baz")]);
    let command = task.executor.as_mut().unwrap().command.as_mut().unwrap();
    command.shell = None;
    command.arguments.clear();
    command.value = Some("env > env.txt; pwd > pwd.txt; exec sleep 60".into());
    sched.launch(vec![offer.id.clone()], vec![task]).await;

    let deadline = tokio::time::Instant::now() + PATIENCE;
    let sandbox = loop {
        if let Some(sandbox) = harness.cluster.executor_sandbox("sh-exec") {
            if sandbox.join("pwd.txt").exists() {
                break sandbox;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no env.txt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let env = std::fs::read_to_string(sandbox.join("env.txt")).unwrap();
    let agent = &harness.cluster.agents()[0];
    let sandbox_text = sandbox.to_string_lossy();
    for expected in [
        format!("MESOS_FRAMEWORK_ID={}", sched.framework_id),
        "MESOS_EXECUTOR_ID=sh-exec".to_owned(),
        format!("MESOS_AGENT_ENDPOINT={}", agent.endpoint),
        format!("MESOS_DIRECTORY={sandbox_text}"),
        format!("MESOS_SANDBOX={sandbox_text}"),
        "MESOS_CHECKPOINT=0".to_owned(),
        "MESOS_RECOVERY_TIMEOUT=15mins".to_owned(),
        "MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs".to_owned(),
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=1secs".to_owned(),
        "FOO=bar baz".to_owned(),
    ] {
        assert!(
            env.lines().any(|line| line == expected),
            "{expected} not in {env}"
        );
    }
    let pwd = std::fs::read_to_string(sandbox.join("pwd.txt")).unwrap();
    assert_eq!(
        std::fs::canonicalize(pwd.trim()).unwrap(),
        std::fs::canonicalize(&sandbox).unwrap()
    );

    // It never subscribes: killed after the registration timeout.
    let failed = sched.update("sh").await;
    assert_eq!(failed.state(), TaskState::TaskFailed);
    assert_eq!(
        failed.reason(),
        task_status::Reason::ExecutorRegistrationTimeout
    );
}

#[tokio::test]
async fn failover_reattaches_and_timeout_removes() {
    let harness = start(1, 2.0, 512.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 3600.0).await;
    let framework_id = sched.framework_id.clone();
    let running = run_task(&mut sched, "t1", "e1", false).await;

    harness.cluster.drop_scheduler_streams();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, sched.events.next()).await {}
    let old_stream = sched.stream_id.clone();

    let mut sched = subscribe(&harness.client, Some(&framework_id), 3600.0).await;
    assert_eq!(sched.framework_id, framework_id);
    assert_ne!(sched.stream_id, old_stream);
    // The unacknowledged RUNNING comes again.
    let resent = sched.update("t1").await;
    assert_eq!(resent.uuid, running.uuid);
    sched.acknowledge(&resent).await;
    let error = sched
        .client
        .call(&old_stream, &sched.base(call::Type::Revive))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::BAD_REQUEST));

    // A master failover: the stream ends, the task survives.
    harness.cluster.restart_master();
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, sched.events.next()).await {}
    let mut sched = subscribe(&harness.client, Some(&framework_id), 3600.0).await;
    sched.reconcile(&[]).await;
    let status = sched.update("t1").await;
    assert_eq!(status.state(), TaskState::TaskRunning);

    // A second framework whose failover timeout runs out loses its tasks.
    sched.send(sched.base(call::Type::Teardown)).await;
    let mut short = subscribe(&harness.client, None, 0.5).await;
    let short_id = short.framework_id.clone();
    run_task(&mut short, "s1", "short-exec", true).await;
    harness.cluster.drop_scheduler_streams();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut gone = harness
        .client
        .subscribe(&subscribe_call(Some(&short_id), 0.5))
        .await
        .unwrap();
    let error = gone.events.next().await.unwrap().unwrap();
    assert_eq!(error.r#type(), event::Type::Error);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while harness.cluster.executor_pid("short-exec").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "executor not killed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_closed_connection_starts_the_failover_timer() {
    let harness = start(1, 1.0, 256.0, (31000, 31001)).await;
    let sched = subscribe(&harness.client, None, 0.2).await;
    let framework_id = sched.framework_id.clone();
    drop(sched);
    // Noticed at the latest by the next heartbeat (1 s), then 0.2 s later
    // the framework is gone: resubscribing gets ERROR.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut subscription = harness
            .client
            .subscribe(&subscribe_call(Some(&framework_id), 0.2))
            .await
            .unwrap();
        let first = subscription.events.next().await.unwrap().unwrap();
        if first.r#type() == event::Type::Error {
            break;
        }
        // Still known: we just reattached; let go again and retry.
        assert_eq!(first.r#type(), event::Type::Subscribed);
        drop(subscription);
        assert!(tokio::time::Instant::now() < deadline, "never removed");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

#[tokio::test]
async fn lost_agent_rescinds_offers_and_loses_tasks() {
    let harness = start(1, 2.0, 512.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let offer = sched.offers().await.remove(0);
    sched
        .launch(
            vec![offer.id.clone()],
            vec![test_task(&offer, "t1", "e1", &[])],
        )
        .await;
    // The rest of the agent is offered again at once (the launch had no filter).
    let rest = sched.offers().await.remove(0);
    let running = sched.update("t1").await;
    assert_eq!(running.state(), TaskState::TaskRunning);
    let agent_id = running.agent_id.clone().unwrap();
    harness.cluster.lose_agent(&agent_id.value).unwrap();

    let rescind = sched
        .expect("RESCIND", |event| event.r#type() == event::Type::Rescind)
        .await;
    assert_eq!(rescind.rescind.unwrap().offer_id, rest.id);
    let lost = sched.update("t1").await;
    assert_eq!(lost.state(), TaskState::TaskLost);
    assert_eq!(lost.reason(), task_status::Reason::AgentRemoved);
    let failure = sched
        .expect("FAILURE", |event| event.r#type() == event::Type::Failure)
        .await
        .failure
        .unwrap();
    assert_eq!(failure.agent_id, Some(agent_id));
    assert!(harness.cluster.agents().iter().all(|agent| !agent.alive));
}

#[tokio::test]
async fn the_binary_serves_the_scheduler_api() {
    use tokio::io::AsyncBufReadExt as _;

    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_devcluster"))
        .args(["--listen", "127.0.0.1:0"])
        .args(["--agents", "2", "--cpus", "1.5", "--mem-mb", "300"])
        .args(["--ports", "31000-31004", "--fault-endpoints", "--work-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("devcluster printed its address")
        .unwrap()
        .unwrap();
    let master: std::net::SocketAddr = first
        .strip_prefix("master listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();
    let client = mesos::client::SchedulerClient::new(
        &master.to_string(),
        mesos::client::ClientConfig::default(),
    )
    .unwrap();
    let subscription = client.subscribe(&subscribe_call(None, 0.0)).await.unwrap();
    let mut sched = Sched {
        client: client.clone(),
        stream_id: subscription.stream_id,
        framework_id: String::new(),
        events: subscription.events,
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut offers = Vec::new();
    while offers.len() < 2 {
        offers.extend(sched.offers().await);
    }
    for offer in &offers {
        assert_eq!(scalar(&offer.resources, "cpus"), 1.5);
        assert_eq!(scalar(&offer.resources, "mem"), 300.0);
        assert_eq!(ports(&offer.resources), vec![(31000, 31004)]);
    }
    // Fault injection over HTTP: the scheduler's stream ends.
    let line = tokio::task::spawn_blocking(move || {
        raw_post(master, "/devcluster/faults/drop-scheduler-streams", "", b"")
    })
    .await
    .unwrap();
    assert!(line.contains(" 200 "), "{line}");
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, sched.events.next()).await {}
    assert!(tokio::time::Instant::now() < deadline, "stream not dropped");
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
