//! Reconnection against a scripted agent on loopback, which can check the
//! SUBSCRIBE call byte by byte: the executor resubscribes with what is
//! unacknowledged when the framework checkpoints, and gives up at once when
//! it does not. (tests/executor.rs restarts a devcluster agent under it.)

use std::time::Duration;

use executor::{ExecutorConfig, ExecutorError};
use mesos::v1::executor::{call, event, Call, Event};
use mesos::v1::{AgentId, AgentInfo, ExecutorInfo, FrameworkInfo, TaskId, TaskInfo, TaskState};
use prost::Message as _;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(20);

/// A call the executor made; SUBSCRIBE comes with the sender of its stream
/// (dropping it closes the stream).
struct Received {
    call: Call,
    stream: Option<mpsc::UnboundedSender<Event>>,
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut content_length = 0usize;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line == "\r\n" && !first {
            break;
        }
        first = false;
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn serve(stream: TcpStream, calls: mpsc::UnboundedSender<Received>) {
    let mut reader = BufReader::new(stream);
    while let Some(body) = read_request(&mut reader).await {
        let call = Call::decode(body.as_slice()).expect("a protobuf Call");
        if call.r#type() != call::Type::Subscribe {
            let _ = calls.send(Received { call, stream: None });
            let answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
            if reader.get_mut().write_all(answer).await.is_err() {
                return;
            }
            continue;
        }
        let (events_tx, mut events) = mpsc::unbounded_channel::<Event>();
        let _ = calls.send(Received {
            call,
            stream: Some(events_tx),
        });
        let mut stream = reader.into_inner();
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        while let Some(event) = events.recv().await {
            let bytes = event.encode_to_vec();
            let mut record = format!("{}\n", bytes.len()).into_bytes();
            record.extend_from_slice(&bytes);
            let mut chunk = format!("{:x}\r\n", record.len()).into_bytes();
            chunk.extend_from_slice(&record);
            chunk.extend_from_slice(b"\r\n");
            if stream.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        return;
    }
}

async fn agent() -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (calls_tx, calls) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, calls_tx.clone()));
        }
    });
    (address, calls)
}

async fn next(calls: &mut mpsc::UnboundedReceiver<Received>, kind: call::Type) -> Received {
    let received = tokio::time::timeout(PATIENCE, calls.recv())
        .await
        .unwrap_or_else(|_| panic!("no {kind:?} in time"))
        .expect("agent running");
    assert_eq!(received.call.r#type(), kind, "{:?}", received.call);
    received
}

fn config(agent: String, checkpoint: bool) -> ExecutorConfig {
    ExecutorConfig {
        framework_id: "fw".into(),
        executor_id: "exec-miner-r".into(),
        agent_endpoint: agent,
        checkpoint,
        recovery_timeout: Duration::from_secs(10),
        subscription_backoff_max: Duration::from_millis(300),
        shutdown_grace_period: Duration::from_secs(2),
        report_interval: Duration::from_secs(5),
    }
}

fn subscribed() -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo::default(),
            framework_info: FrameworkInfo::default(),
            agent_info: AgentInfo {
                id: Some(AgentId {
                    value: "agent-1".into(),
                }),
                ..Default::default()
            },
            container_id: None,
        }),
        ..Default::default()
    }
}

/// A miner task against a pool nobody listens on.
async fn launch() -> Event {
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let spec = json!({"role": "miner", "pool_host": "127.0.0.1", "pool_port": port, "cpus": 0.5});
    Event {
        r#type: Some(event::Type::Launch as i32),
        launch: Some(event::Launch {
            task: TaskInfo {
                name: "miner".into(),
                task_id: TaskId {
                    value: "miner-r".into(),
                },
                data: Some(serde_json::to_vec(&spec).unwrap().into()),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

fn state_of(received: &Received) -> TaskState {
    received.call.update.as_ref().unwrap().status.state()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribes_with_unacknowledged_updates_when_checkpointing() {
    let (address, mut calls) = agent().await;
    let executor = tokio::spawn(executor::run(config(address, true)));

    let first = next(&mut calls, call::Type::Subscribe).await;
    let subscribe = first.call.subscribe.as_ref().unwrap();
    assert!(subscribe.unacknowledged_updates.is_empty());
    assert_eq!(first.call.executor_id.value, "exec-miner-r");
    assert_eq!(first.call.framework_id.value, "fw");
    let stream = first.stream.unwrap();
    stream.send(subscribed()).unwrap();
    stream.send(launch().await).unwrap();
    let starting = next(&mut calls, call::Type::Update).await;
    assert_eq!(state_of(&starting), TaskState::TaskStarting);
    let running = next(&mut calls, call::Type::Update).await;
    assert_eq!(state_of(&running), TaskState::TaskRunning);
    let running_status = &running.call.update.as_ref().unwrap().status;
    assert_eq!(running_status.agent_id.as_ref().unwrap().value, "agent-1");

    // The agent goes away before acknowledging anything.
    drop(stream);
    let second = next(&mut calls, call::Type::Subscribe).await;
    let subscribe = second.call.subscribe.as_ref().unwrap();
    let uuids: Vec<_> = subscribe
        .unacknowledged_updates
        .iter()
        .map(|update| update.status.uuid.clone().unwrap())
        .collect();
    let expected: Vec<_> = [&starting, &running]
        .iter()
        .map(|r| r.call.update.as_ref().unwrap().status.uuid.clone().unwrap())
        .collect();
    assert_eq!(uuids, expected);
    assert_eq!(subscribe.unacknowledged_tasks.len(), 1);
    assert_eq!(subscribe.unacknowledged_tasks[0].task_id.value, "miner-r");

    // Acknowledge both, then SHUTDOWN: TASK_KILLED, acknowledged, exit.
    let stream = second.stream.unwrap();
    stream.send(subscribed()).unwrap();
    for received in [&starting, &running] {
        let status = &received.call.update.as_ref().unwrap().status;
        stream
            .send(Event {
                r#type: Some(event::Type::Acknowledged as i32),
                acknowledged: Some(event::Acknowledged {
                    task_id: status.task_id.clone(),
                    uuid: status.uuid.clone().unwrap(),
                }),
                ..Default::default()
            })
            .unwrap();
    }
    stream
        .send(Event {
            r#type: Some(event::Type::Shutdown as i32),
            ..Default::default()
        })
        .unwrap();
    let killed = loop {
        let update = next(&mut calls, call::Type::Update).await;
        if state_of(&update) == TaskState::TaskKilled {
            break update;
        }
    };
    let status = killed.call.update.unwrap().status;
    stream
        .send(Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: status.task_id,
                uuid: status.uuid.unwrap(),
            }),
            ..Default::default()
        })
        .unwrap();
    let outcome = tokio::time::timeout(PATIENCE, executor)
        .await
        .expect("the executor exits")
        .unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_at_once_without_checkpointing() {
    let (address, mut calls) = agent().await;
    let executor = tokio::spawn(executor::run(config(address, false)));
    let first = next(&mut calls, call::Type::Subscribe).await;
    let stream = first.stream.unwrap();
    stream.send(subscribed()).unwrap();
    stream.send(launch().await).unwrap();
    next(&mut calls, call::Type::Update).await;
    next(&mut calls, call::Type::Update).await;
    drop(stream);
    let outcome = tokio::time::timeout(PATIENCE, executor)
        .await
        .expect("the executor gives up")
        .unwrap();
    assert!(
        matches!(outcome, Err(ExecutorError::Disconnected)),
        "{outcome:?}"
    );
    // It did not try to subscribe again.
    while let Ok(received) = calls.try_recv() {
        assert_ne!(received.call.r#type(), call::Type::Subscribe);
    }
}
