//! A tiny CUSTOM executor for devcluster's tests: subscribes to
//! `MESOS_AGENT_ENDPOINT`, answers LAUNCH with TASK_RUNNING, KILL with
//! TASK_KILLED (then exits once no task is left), SHUTDOWN with TASK_KILLED
//! for every task and exit, and echoes MESSAGE data back.
//!
//! `TEST_EXECUTOR_IGNORE_KILL=1` makes it ignore KILL and SHUTDOWN, to test
//! the agent's grace periods.

use std::collections::BTreeSet;

use bytes::Bytes;
use mesos::client::{ClientConfig, ExecutorClient};
use mesos::v1::executor::{call, event, Call};
use mesos::v1::{task_status, ExecutorId, FrameworkId, TaskId, TaskState, TaskStatus};

fn call_base(framework_id: &str, executor_id: &str, kind: call::Type) -> Call {
    Call {
        executor_id: ExecutorId {
            value: executor_id.into(),
        },
        framework_id: FrameworkId {
            value: framework_id.into(),
        },
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

async fn update(
    client: &ExecutorClient,
    framework_id: &str,
    executor_id: &str,
    task_id: &TaskId,
    state: TaskState,
) -> Result<(), mesos::client::ClientError> {
    let uuid: [u8; 16] = rand::random();
    let mut call = call_base(framework_id, executor_id, call::Type::Update);
    call.update = Some(call::Update {
        status: TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            source: Some(task_status::Source::Executor as i32),
            uuid: Some(Bytes::copy_from_slice(&uuid)),
            executor_id: Some(ExecutorId {
                value: executor_id.into(),
            }),
            timestamp: Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |elapsed| elapsed.as_secs_f64()),
            ),
            ..Default::default()
        },
    });
    client.call(&call).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let framework_id = std::env::var("MESOS_FRAMEWORK_ID")?;
    let executor_id = std::env::var("MESOS_EXECUTOR_ID")?;
    let ignore_kill = std::env::var("TEST_EXECUTOR_IGNORE_KILL").is_ok_and(|v| v == "1");
    eprintln!(
        "test executor {executor_id} of {framework_id}, sandbox {:?}",
        std::env::var("MESOS_SANDBOX")
    );
    let client = ExecutorClient::from_env(ClientConfig::default())?;
    let mut subscribe = call_base(&framework_id, &executor_id, call::Type::Subscribe);
    subscribe.subscribe = Some(call::Subscribe::default());
    let mut events = client.subscribe(&subscribe).await?;
    let mut tasks = BTreeSet::new();
    while let Some(event) = events.next().await {
        let event = event?;
        match event.r#type() {
            event::Type::Launch => {
                let Some(launch) = event.launch else { continue };
                let task_id = launch.task.task_id;
                update(
                    &client,
                    &framework_id,
                    &executor_id,
                    &task_id,
                    TaskState::TaskRunning,
                )
                .await?;
                tasks.insert(task_id.value);
            }
            event::Type::Kill if !ignore_kill => {
                let Some(kill) = event.kill else { continue };
                update(
                    &client,
                    &framework_id,
                    &executor_id,
                    &kill.task_id,
                    TaskState::TaskKilled,
                )
                .await?;
                tasks.remove(&kill.task_id.value);
                if tasks.is_empty() {
                    return Ok(());
                }
            }
            event::Type::Shutdown if !ignore_kill => {
                for task in std::mem::take(&mut tasks) {
                    let task_id = TaskId { value: task };
                    update(
                        &client,
                        &framework_id,
                        &executor_id,
                        &task_id,
                        TaskState::TaskKilled,
                    )
                    .await?;
                }
                return Ok(());
            }
            event::Type::Message => {
                let Some(message) = event.message else {
                    continue;
                };
                let mut call = call_base(&framework_id, &executor_id, call::Type::Message);
                call.message = Some(call::Message { data: message.data });
                client.call(&call).await?;
            }
            other => eprintln!("event {other:?}"),
        }
    }
    eprintln!("the agent closed the stream");
    Ok(())
}
