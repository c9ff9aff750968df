//! Command tasks run as under Mesos' command executor: real processes in
//! their sandboxes, their exit status in the terminal update with Mesos'
//! message, kills with the kill policy's grace.

use std::time::{Duration, Instant};

use crate::common::*;
use mesos::v1::{CommandInfo, DurationInfo, Environment, KillPolicy, TaskState};

fn shell(value: &str) -> CommandInfo {
    CommandInfo {
        value: Some(value.into()),
        ..Default::default()
    }
}

/// The next update of `task_id`, acknowledged.
async fn acked_update(sched: &mut Sched, task_id: &str) -> mesos::v1::TaskStatus {
    let status = sched.update(task_id).await;
    sched.acknowledge(&status).await;
    status
}

#[tokio::test]
async fn shell_and_argv_commands_finish_and_fail_with_mesos_messages() {
    let harness = start(1, 2.0, 1024.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let offers = sched.offers().await;
    let offer = &offers[0];
    let mut env_check =
        shell("test \"$GREETING\" = hi && test \"$(pwd)\" = \"$MESOS_SANDBOX\" && echo out > file");
    env_check.environment = Some(Environment::from_pairs([("GREETING", "hi")]));
    let argv = CommandInfo {
        shell: Some(false),
        value: Some("/bin/sh".into()),
        arguments: vec!["sh".into(), "-c".into(), "exit 7".into()],
        ..Default::default()
    };
    sched
        .launch(
            vec![offer.id.clone()],
            vec![
                command_task(offer, "env", env_check),
                command_task(offer, "argv", argv),
            ],
        )
        .await;
    for (task, state, message) in [
        (
            "env",
            TaskState::TaskFinished,
            "Command exited with status 0",
        ),
        (
            "argv",
            TaskState::TaskFailed,
            "Command exited with status 7",
        ),
    ] {
        let mut states = Vec::new();
        let last = loop {
            let status = acked_update(&mut sched, task).await;
            states.push(status.state());
            if status.state().is_terminal() {
                break status;
            }
        };
        assert_eq!(
            states,
            [TaskState::TaskStarting, TaskState::TaskRunning, state],
            "{task}"
        );
        assert_eq!(last.message.as_deref(), Some(message), "{task}");
        // The executor is the task's: its id is the task id.
        assert_eq!(last.executor_id.unwrap().value, task);
    }
    // The command ran in its sandbox.
    let written: Vec<_> = walk(harness.dir.path())
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|name| name == "file"))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0]
        .to_string_lossy()
        .contains("/executors/env/runs/"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                todo.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}

#[tokio::test]
async fn kill_sends_sigterm_then_sigkill_after_the_grace() {
    let harness = start(1, 2.0, 1024.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let offers = sched.offers().await;
    let offer = &offers[0];
    let grace = |secs: i64| {
        Some(KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: secs * 1_000_000_000,
            }),
        })
    };
    let mut polite = command_task(offer, "polite", shell("exec sleep 600"));
    polite.kill_policy = grace(30);
    // Ignores SIGTERM: only the SIGKILL after the grace ends it.
    let mut stubborn = command_task(
        offer,
        "stubborn",
        shell("trap '' TERM; while true; do sleep 0.1; done"),
    );
    stubborn.kill_policy = grace(30);
    sched
        .launch(vec![offer.id.clone()], vec![polite, stubborn])
        .await;
    for task in ["polite", "stubborn"] {
        loop {
            if acked_update(&mut sched, task).await.state() == TaskState::TaskRunning {
                break;
            }
        }
    }
    let agent = offer.agent_id.clone();
    sched.kill("polite", &agent, None).await;
    let killed = acked_update(&mut sched, "polite").await;
    assert_eq!(killed.state(), TaskState::TaskKilled);
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal Terminated")
    );
    // The KILL's own policy (2 s) overrides the task's (30 s).
    let asked = Instant::now();
    sched
        .kill("stubborn", &agent, Some(Duration::from_secs(2)))
        .await;
    let killed = acked_update(&mut sched, "stubborn").await;
    let took = asked.elapsed();
    assert_eq!(killed.state(), TaskState::TaskKilled);
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal Killed")
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(20),
        "SIGKILL after the 2 s grace, not the task's 30 s: {took:?}"
    );
}

#[tokio::test]
async fn a_command_without_a_value_is_a_task_error() {
    let harness = start(1, 2.0, 1024.0, (31000, 31009)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let offers = sched.offers().await;
    let offer = &offers[0];
    sched
        .launch(
            vec![offer.id.clone()],
            vec![command_task(offer, "empty", CommandInfo::default())],
        )
        .await;
    let status = sched.update("empty").await;
    assert_eq!(status.state(), TaskState::TaskError);
    assert_eq!(
        status.message.as_deref(),
        Some("The task's CommandInfo has no value to run")
    );
}
