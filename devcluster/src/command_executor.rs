//! Mesos' command executor, as devcluster plays it: a task with a
//! `CommandInfo` and no `ExecutorInfo` gets a per-task executor whose
//! `ExecutorInfo` is built as Mesos' agent builds it (the task's id as
//! executor id, "Command Executor (Task: ...) (Command: ...)" as name, the
//! small overcommitted allowance of 0.1 cpus and 32 MB), and the agent runs
//! the command itself: `sh -c value` (shell) or `value` with `arguments`
//! (argv), in the sandbox, with the task's environment. Its states are the
//! command executor's: TASK_STARTING, TASK_RUNNING once the command runs,
//! then TASK_FINISHED / TASK_FAILED / TASK_KILLED with "Command exited with
//! status N" or "Command terminated with signal ...". A kill sends SIGTERM
//! (TASK_KILLING first to frameworks with that capability) and SIGKILL once
//! the kill policy's grace period is over.
//!
//! The pure parts (the ExecutorInfo, the argv, the terminal state and its
//! message) are functions here; the process itself is started and watched
//! by `agent`.

use std::os::unix::process::ExitStatusExt as _;
use std::time::Duration;

use mesos::v1::{
    container_info, framework_info, task_status, CommandInfo, ExecutorId, ExecutorInfo,
    FrameworkId, Resource, TaskInfo, TaskState,
};

use crate::state::{make_status, task_key, ExecKey, ExecShutdown, State};

/// The command executor's program, as Mesos names it.
const MESOS_EXECUTOR: &str = "mesos-executor";
/// The Docker containerizer's command executor.
const MESOS_DOCKER_EXECUTOR: &str = "mesos-docker-executor";
/// Mesos' `DEFAULT_EXECUTOR_CPUS`: the allowance given to a command executor.
const EXECUTOR_CPUS: f64 = 0.1;
/// Mesos' `DEFAULT_EXECUTOR_MEM` in MB.
const EXECUTOR_MEM_MB: f64 = 32.0;
/// How much of the command the executor's name quotes before "...".
const NAME_COMMAND_LEN: usize = 15;

/// The command, shortened as Mesos shortens it in the executor's name.
fn quoted(text: &str) -> String {
    if text.chars().count() > NAME_COMMAND_LEN {
        let head: String = text.chars().take(NAME_COMMAND_LEN - 3).collect();
        format!("{head}...")
    } else {
        text.to_owned()
    }
}

/// "Command Executor (Task: ID) (Command: sh -c '...')" or
/// "(Command: [value, arg, ...])".
fn executor_name(task_id: &str, command: &CommandInfo) -> String {
    let value = command.value.as_deref();
    let what = if command.shell.unwrap_or(true) {
        match value {
            Some(value) => format!("(Command: sh -c '{}')", quoted(value)),
            None => "(Command: NO COMMAND)".to_owned(),
        }
    } else {
        match value {
            Some(value) => {
                let mut args = vec![value.to_owned()];
                args.extend(command.arguments.iter().cloned());
                format!("(Command: [{}])", quoted(&args.join(", ")))
            }
            None => "(Command: NO EXECUTABLE)".to_owned(),
        }
    };
    format!("Command Executor (Task: {task_id}) {what}")
}

/// The ExecutorInfo Mesos' agent makes for a command task of `framework_id`.
/// Its resources are the allowance Mesos gives (and does not account for);
/// its command names the executor program, not the task's command.
pub(crate) fn executor_info(framework_id: &str, task: &TaskInfo) -> ExecutorInfo {
    let task_id = &task.task_id.value;
    let command = task.command.clone().unwrap_or_default();
    let docker = task
        .container
        .as_ref()
        .is_some_and(|container| container.r#type() == container_info::Type::Docker);
    let program = if docker {
        MESOS_DOCKER_EXECUTOR
    } else {
        MESOS_EXECUTOR
    };
    let allocation_info = task
        .resources
        .iter()
        .find_map(|resource| resource.allocation_info.clone());
    let allowance = [("cpus", EXECUTOR_CPUS), ("mem", EXECUTOR_MEM_MB)].map(|(name, value)| {
        let mut resource = Resource::scalar(name, value);
        resource.allocation_info = allocation_info.clone();
        resource
    });
    ExecutorInfo {
        r#type: Some(mesos::v1::executor_info::Type::Custom as i32),
        executor_id: ExecutorId {
            value: task_id.clone(),
        },
        framework_id: Some(FrameworkId {
            value: framework_id.to_owned(),
        }),
        name: Some(executor_name(task_id, &command)),
        command: Some(CommandInfo {
            uris: command.uris.clone(),
            environment: command.environment.clone(),
            user: command.user.clone(),
            shell: Some(false),
            value: Some(program.to_owned()),
            arguments: vec![program.to_owned()],
        }),
        container: task.container.clone(),
        resources: allowance.to_vec(),
        shutdown_grace_period: task
            .kill_policy
            .as_ref()
            .and_then(|policy| policy.grace_period),
        ..Default::default()
    }
}

/// What runs for a command: program, argv\[0\] and the other arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Argv {
    pub program: String,
    pub argv0: String,
    pub args: Vec<String>,
}

/// `sh -c value` when `shell` (the default), else `value` exec'd with
/// `arguments` (whose first is argv\[0\], as in Mesos; `value` when none).
pub(crate) fn argv(command: &CommandInfo) -> Result<Argv, String> {
    let value = command
        .value
        .clone()
        .filter(|value| !value.is_empty())
        .ok_or("the task's CommandInfo has no value to run")?;
    if command.shell.unwrap_or(true) {
        return Ok(Argv {
            program: "/bin/sh".into(),
            argv0: "sh".into(),
            args: vec!["-c".into(), value],
        });
    }
    let (argv0, args) = match command.arguments.split_first() {
        Some((argv0, rest)) => (argv0.clone(), rest.to_vec()),
        None => (value.clone(), Vec::new()),
    };
    Ok(Argv {
        program: value,
        argv0,
        args,
    })
}

/// `strsignal(3)`'s text for the signals a task usually dies of.
fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGHUP => "Hangup".into(),
        libc::SIGINT => "Interrupt".into(),
        libc::SIGQUIT => "Quit".into(),
        libc::SIGILL => "Illegal instruction".into(),
        libc::SIGABRT => "Aborted".into(),
        libc::SIGBUS => "Bus error".into(),
        libc::SIGFPE => "Floating point exception".into(),
        libc::SIGKILL => "Killed".into(),
        libc::SIGSEGV => "Segmentation fault".into(),
        libc::SIGPIPE => "Broken pipe".into(),
        libc::SIGALRM => "Alarm clock".into(),
        libc::SIGTERM => "Terminated".into(),
        libc::SIGUSR1 => "User defined signal 1".into(),
        libc::SIGUSR2 => "User defined signal 2".into(),
        other => format!("Unknown signal {other}"),
    }
}

/// The terminal update of a command that ended with wait status `raw`:
/// TASK_KILLED when a kill was asked for, else TASK_FINISHED on exit 0,
/// else TASK_FAILED; with Mesos' message ("Command " + `WSTRINGIFY`).
pub(crate) fn terminal(raw: i32, killed: bool) -> (TaskState, String) {
    let status = std::process::ExitStatus::from_raw(raw);
    let state = if killed {
        TaskState::TaskKilled
    } else if status.code() == Some(0) {
        TaskState::TaskFinished
    } else {
        TaskState::TaskFailed
    };
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("terminated with signal {}", signal_name(signal)),
        (None, None) => "ended with an unknown wait status".to_owned(),
    };
    (state, format!("Command {how}"))
}

/// When the command executor escalates a kill: SIGTERM now, SIGKILL after
/// the grace period (the KILL call's policy, else the task's, else the
/// default), never less than no time at all.
pub(crate) fn kill_grace(
    call_policy: Option<&mesos::v1::KillPolicy>,
    task_policy: Option<&mesos::v1::KillPolicy>,
    default: Duration,
) -> Duration {
    call_policy
        .or(task_policy)
        .and_then(|policy| policy.grace_period.as_ref())
        .map_or(default, |grace| {
            Duration::from_nanos(u64::try_from(grace.nanoseconds).unwrap_or(0))
        })
}

impl State {
    /// The command executor's TASK_RUNNING once the command is started.
    pub(crate) fn command_started(&mut self, key: &ExecKey, task_id: &str) {
        let mut status = make_status(
            task_id,
            TaskState::TaskRunning,
            task_status::Source::Executor,
            None,
            "",
        );
        status.message = None;
        self.enqueue_update(&task_key(&key.0, task_id), status, false);
    }

    /// Kills a command task as its executor would: TASK_KILLING (if the
    /// framework understands it), SIGTERM now, SIGKILL after `grace`.
    pub(crate) fn kill_command_task(
        &mut self,
        agent: usize,
        key: &ExecKey,
        task_id: &str,
        grace: Duration,
    ) {
        let killing_capable = self.frameworks.get(&key.0).is_some_and(|framework| {
            framework.has_capability(framework_info::capability::Type::TaskKillingState)
        });
        let Some(exec) = self.agents[agent].executors.get_mut(key) else {
            return;
        };
        if exec.shutdown.is_some() {
            return;
        }
        let now = self.clock.now();
        exec.shutdown = Some(ExecShutdown {
            term_at: now,
            kill_at: now + grace,
            termed: false,
            killed: false,
        });
        if killing_capable {
            let status = make_status(
                task_id,
                TaskState::TaskKilling,
                task_status::Source::Executor,
                None,
                "",
            );
            self.enqueue_update(&task_key(&key.0, task_id), status, false);
        }
        self.escalate_shutdowns(now);
    }
}

#[cfg(test)]
mod tests {
    use mesos::v1::{DurationInfo, KillPolicy, TaskId};

    use super::*;

    fn task(command: CommandInfo) -> TaskInfo {
        TaskInfo {
            name: "t".into(),
            task_id: TaskId {
                value: "task-1".into(),
            },
            command: Some(command),
            resources: vec![Resource::scalar("cpus", 1.0)],
            ..Default::default()
        }
    }

    fn shell(value: &str) -> CommandInfo {
        CommandInfo {
            value: Some(value.into()),
            ..Default::default()
        }
    }

    #[test]
    fn executor_info_is_the_one_mesos_builds() {
        let mut command = shell("echo hello; sleep 1000");
        command.environment = Some(mesos::v1::Environment {
            variables: vec![mesos::v1::environment::Variable {
                name: "A".into(),
                value: Some("1".into()),
                ..Default::default()
            }],
        });
        let info = executor_info("fw", &task(command.clone()));
        assert_eq!(info.executor_id.value, "task-1");
        assert_eq!(info.framework_id.unwrap().value, "fw");
        assert_eq!(
            info.name.as_deref(),
            Some("Command Executor (Task: task-1) (Command: sh -c 'echo hello; ...')")
        );
        let exec_command = info.command.unwrap();
        assert_eq!(exec_command.value.as_deref(), Some("mesos-executor"));
        assert_eq!(exec_command.shell, Some(false));
        assert_eq!(exec_command.environment, command.environment);
        let cpus = crate::resources::scalar(&info.resources, "cpus");
        let mem = crate::resources::scalar(&info.resources, "mem");
        assert_eq!((cpus, mem), (0.1, 32.0));

        let short = executor_info("fw", &task(shell("true")));
        assert_eq!(
            short.name.as_deref(),
            Some("Command Executor (Task: task-1) (Command: sh -c 'true')")
        );
        let argv_task = task(CommandInfo {
            shell: Some(false),
            value: Some("/bin/echo".into()),
            arguments: vec!["echo".into(), "hi".into()],
            ..Default::default()
        });
        assert_eq!(
            executor_info("fw", &argv_task).name.as_deref(),
            Some("Command Executor (Task: task-1) (Command: [/bin/echo, e...])")
        );
    }

    #[test]
    fn argv_of_shell_and_plain_commands() {
        assert_eq!(
            argv(&shell("exit 3")).unwrap(),
            Argv {
                program: "/bin/sh".into(),
                argv0: "sh".into(),
                args: vec!["-c".into(), "exit 3".into()],
            }
        );
        let plain = CommandInfo {
            shell: Some(false),
            value: Some("/bin/echo".into()),
            arguments: vec!["echo".into(), "a b".into()],
            ..Default::default()
        };
        assert_eq!(
            argv(&plain).unwrap(),
            Argv {
                program: "/bin/echo".into(),
                argv0: "echo".into(),
                args: vec!["a b".into()],
            }
        );
        let bare = CommandInfo {
            shell: Some(false),
            value: Some("/bin/true".into()),
            ..Default::default()
        };
        assert_eq!(argv(&bare).unwrap().argv0, "/bin/true");
        assert!(argv(&CommandInfo::default()).is_err());
        assert!(argv(&shell("")).is_err());
    }

    #[test]
    fn terminal_states_and_messages() {
        // Wait statuses: exit code in the second byte, signal in the low bits.
        assert_eq!(
            terminal(0, false),
            (
                TaskState::TaskFinished,
                "Command exited with status 0".into()
            )
        );
        assert_eq!(
            terminal(3 << 8, false),
            (TaskState::TaskFailed, "Command exited with status 3".into())
        );
        assert_eq!(
            terminal(libc::SIGKILL, false),
            (
                TaskState::TaskFailed,
                "Command terminated with signal Killed".into()
            )
        );
        assert_eq!(
            terminal(libc::SIGTERM, true),
            (
                TaskState::TaskKilled,
                "Command terminated with signal Terminated".into()
            )
        );
        // A kill that the command answers by exiting cleanly is still a kill.
        assert_eq!(terminal(0, true).0, TaskState::TaskKilled);
        assert_eq!(
            terminal(64, false).1,
            "Command terminated with signal Unknown signal 64"
        );
    }

    #[test]
    fn kill_grace_prefers_the_call_then_the_task() {
        let policy = |secs: i64| KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: secs * 1_000_000_000,
            }),
        };
        let default = Duration::from_secs(3);
        assert_eq!(kill_grace(None, None, default), default);
        assert_eq!(
            kill_grace(None, Some(&policy(7)), default),
            Duration::from_secs(7)
        );
        assert_eq!(
            kill_grace(Some(&policy(1)), Some(&policy(7)), default),
            Duration::from_secs(1)
        );
        assert_eq!(kill_grace(Some(&policy(-5)), None, default), Duration::ZERO);
    }
}
