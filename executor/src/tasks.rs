//! The two kinds of task: a miner run in-process with [`PoolClient`], and the
//! proxy run as a child process. Each runs on its own tokio task, reports
//! its states and hash rates on a channel, and stops when told to.
//!
//! The proxy child leads its own process group (so a kill reaches whatever
//! it starts, and a signal to the executor's group does not stop it behind
//! the executor's back), and on Linux it dies with the executor
//! (`PR_SET_PDEATHSIG`): an executor killed alone (the OOM killer) must not
//! leave a proxy holding its port and journal lock.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use mesos::v1::TaskState;
use miner::pool::session::Endpoint;
use miner::pool::{PoolClient, PoolConfig};
use miner::Engine;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::DEFAULT_GRACE_PERIOD;
use crate::spec::{env, MinerSpec, ProxySpec};
use mesos::id;

/// What a running task tells the executor.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskEvent {
    /// A new state to report in an UPDATE.
    Status {
        /// The task.
        task_id: id::Task,
        /// Its state.
        state: TaskState,
        /// Human-readable detail.
        message: String,
    },
    /// Data for an executor MESSAGE to the scheduler.
    Message(Vec<u8>),
}

/// The hash-rate report a miner task sends as an executor MESSAGE.
pub use task_contract::HashRateReport;

/// Stops a running task.
#[derive(Debug)]
pub struct TaskHandle {
    kill: Option<oneshot::Sender<Duration>>,
}

impl TaskHandle {
    /// Asks the task to stop within `grace`; it then reports TASK_KILLED.
    /// Only the first call has an effect.
    pub fn kill(&mut self, grace: Duration) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(grace);
        }
    }
}

fn status(task_id: &id::Task, state: TaskState, message: impl Into<String>) -> TaskEvent {
    TaskEvent::Status {
        task_id: task_id.clone(),
        state,
        message: message.into(),
    }
}

/// Starts mining for `task_id`; reports TASK_RUNNING (or TASK_FAILED), a
/// [`HashRateReport`] every `report_interval`, TASK_KILLED once killed.
pub fn spawn_miner(
    task_id: id::Task,
    spec: MinerSpec,
    report_interval: Duration,
    events: mpsc::UnboundedSender<TaskEvent>,
) -> TaskHandle {
    let (kill, kill_rx) = oneshot::channel();
    tokio::spawn(run_miner(task_id, spec, report_interval, events, kill_rx));
    TaskHandle { kill: Some(kill) }
}

async fn run_miner(
    task_id: id::Task,
    spec: MinerSpec,
    report_interval: Duration,
    events: mpsc::UnboundedSender<TaskEvent>,
    mut kill: oneshot::Receiver<Duration>,
) {
    let engine = Engine::best();
    let config = PoolConfig {
        pools: vec![Endpoint {
            host: spec.host.clone(),
            port: spec.port,
            user: spec.user.clone(),
            password: spec.password.clone(),
        }],
        engine,
        threads: Some(spec.threads),
        backoff_min: Duration::from_millis(500),
        backoff_max: Duration::from_secs(30),
        policy: Default::default(),
    };
    let client = match PoolClient::start(config) {
        Ok(client) => client,
        Err(error) => {
            warn!(task = %task_id, %error, "miner failed to start");
            let _ = events.send(status(
                &task_id,
                TaskState::TaskFailed,
                format!("miner failed to start: {error}"),
            ));
            return;
        }
    };
    info!(task = %task_id, pool = %format!("{}:{}", spec.host, spec.port), threads = spec.threads, engine = engine.name(), "mining");
    let _ = events.send(status(
        &task_id,
        TaskState::TaskRunning,
        format!(
            "mining at {}:{} with {} thread(s), engine {}",
            spec.host,
            spec.port,
            spec.threads,
            engine.name()
        ),
    ));
    let mut ticker = tokio::time::interval(report_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut last = (client.search.hashes(), Instant::now());
    let grace = loop {
        tokio::select! {
            grace = &mut kill => break grace.unwrap_or(DEFAULT_GRACE_PERIOD),
            _ = ticker.tick() => {
                let now = (client.search.hashes(), Instant::now());
                let elapsed = (now.1 - last.1).as_secs_f64();
                let hash_rate = if elapsed > 0.0 {
                    now.0.saturating_sub(last.0) as f64 / elapsed
                } else {
                    0.0
                };
                last = now;
                let (submitted, accepted, rejected, _) = client.stats.snapshot();
                let report = HashRateReport {
                    task_id: task_id.to_string(),
                    hash_rate,
                    accepted,
                    rejected,
                    submitted,
                };
                info!(task = %task_id, hash_rate, accepted, rejected, "hash rate");
                let _ = events.send(TaskEvent::Message(report.to_message()));
            }
        }
    };
    info!(task = %task_id, ?grace, "stopping the miner");
    let stopped = tokio::time::timeout(grace, client.stop()).await.is_ok();
    let message = if stopped {
        "miner stopped".to_owned()
    } else {
        format!("miner did not stop within {grace:?}; abandoned")
    };
    let _ = events.send(status(&task_id, TaskState::TaskKilled, message));
}

/// The proxy binary: `$MESOS_MINER_PROXY_BIN`, else `proxy` next to this
/// executor, else `proxy` on the PATH.
pub fn proxy_binary(lookup: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(path) = lookup(env::PROXY_BIN).filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("proxy")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("proxy"))
}

/// Variables the proxy needs that the task did not set: its listen address
/// from the task's port. Values are never logged (the environment holds the
/// node RPC password).
pub fn proxy_env(
    spec: &ProxySpec,
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, String)> {
    let mut vars = Vec::new();
    if lookup(env::PROXY_LISTEN).is_none() {
        if let Some(port) = spec.stratum_port {
            vars.push((env::PROXY_LISTEN, format!("0.0.0.0:{port}")));
        }
    }
    vars
}

/// Starts the proxy for `task_id` as a child with the executor's environment
/// (the task's variables) plus [`proxy_env`]; reports TASK_RUNNING, then
/// TASK_FINISHED / TASK_FAILED when it exits, or TASK_KILLED once killed.
pub fn spawn_proxy(
    task_id: id::Task,
    spec: ProxySpec,
    events: mpsc::UnboundedSender<TaskEvent>,
) -> TaskHandle {
    let (kill, kill_rx) = oneshot::channel();
    tokio::spawn(run_proxy(task_id, spec, events, kill_rx));
    TaskHandle { kill: Some(kill) }
}

async fn run_proxy(
    task_id: id::Task,
    spec: ProxySpec,
    events: mpsc::UnboundedSender<TaskEvent>,
    kill: oneshot::Receiver<Duration>,
) {
    let lookup = |name: &str| std::env::var(name).ok();
    let binary = proxy_binary(lookup);
    let mut command = Command::new(&binary);
    command
        .envs(proxy_env(&spec, lookup))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    tie_to_this_process(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            warn!(task = %task_id, binary = %binary.display(), %error, "cannot start the proxy");
            let _ = events.send(status(
                &task_id,
                TaskState::TaskFailed,
                format!("cannot start proxy {}: {error}", binary.display()),
            ));
            return;
        }
    };
    let pid = child.id().unwrap_or_default();
    info!(task = %task_id, binary = %binary.display(), pid, "proxy started");
    let _ = events.send(status(
        &task_id,
        TaskState::TaskRunning,
        format!("proxy {} running as pid {pid}", binary.display()),
    ));
    tokio::select! {
        exit = child.wait() => {
            let event = match exit {
                Ok(exit) if exit.success() => {
                    info!(task = %task_id, %exit, "proxy finished");
                    status(&task_id, TaskState::TaskFinished, format!("proxy exited: {exit}"))
                }
                Ok(exit) => {
                    warn!(task = %task_id, %exit, "proxy failed");
                    status(&task_id, TaskState::TaskFailed, format!("proxy exited: {exit}"))
                }
                Err(error) => status(
                    &task_id,
                    TaskState::TaskFailed,
                    format!("waiting for the proxy failed: {error}"),
                ),
            };
            let _ = events.send(event);
        }
        grace = kill => {
            let grace = grace.unwrap_or(DEFAULT_GRACE_PERIOD);
            let message = match terminate(&mut child, grace).await {
                Ok(exit) => format!("proxy killed: {exit}"),
                Err(error) => format!("proxy kill failed: {error}"),
            };
            info!(task = %task_id, %message, "proxy stopped");
            let _ = events.send(status(&task_id, TaskState::TaskKilled, message));
        }
    }
}

/// The signal a proxy child gets when the executor dies.
pub const PARENT_DEATH_SIGNAL: libc::c_int = libc::SIGKILL;

/// Makes `command`'s child lead its own process group and, on Linux, get
/// [`PARENT_DEATH_SIGNAL`] when this process dies. The death signal is
/// armed in the child between fork and exec; if this process died before
/// that, the child exits at once instead (the spawn fails).
///
/// Linux sends the signal when the *thread* that forked exits; the proxy is
/// spawned from a tokio worker thread, which lives as long as the runtime.
#[allow(unsafe_code)] // pre_exec with prctl(2) and getppid(2), thin libc calls
pub fn tie_to_this_process(command: &mut Command) {
    command.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: prctl(2) and getppid(2) are,
        // and building an io::Error from a raw errno does not allocate.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl: then no signal
                // comes, and we were reparented.
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
}

/// Sends `signal` to the process group `child` leads (see
/// [`tie_to_this_process`]), or to `child` alone if it leads none.
#[allow(unsafe_code)] // kill(2), a thin libc call
fn signal_child(child: &Child, signal: libc::c_int) {
    let Some(pid) = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) else {
        return;
    };
    // SAFETY: kill(2) only sends a signal; it touches no memory of ours.
    // `pid` is our own child, not yet reaped (Child::id is None once it has
    // been), so neither it nor the group it leads can have been reused.
    let result = unsafe { libc::kill(-pid, signal) };
    if result != 0 {
        // SAFETY: as above.
        let result = unsafe { libc::kill(pid, signal) };
        if result != 0 {
            warn!(pid, signal, error = %std::io::Error::last_os_error(), "signal failed");
        }
    }
}

/// SIGTERM, then SIGKILL if `child` has not exited after `grace`; to its
/// whole process group when it leads one.
pub async fn terminate(child: &mut Child, grace: Duration) -> std::io::Result<ExitStatus> {
    signal_child(child, libc::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(exit) => exit,
        Err(_) => {
            warn!(?grace, "child ignored SIGTERM: SIGKILL");
            signal_child(child, libc::SIGKILL);
            child.start_kill()?;
            child.wait().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_listen_comes_from_the_task_port_unless_set() {
        let spec = ProxySpec {
            stratum_port: Some(31000),
        };
        assert_eq!(
            proxy_env(&spec, |_| None),
            vec![(env::PROXY_LISTEN, "0.0.0.0:31000".to_owned())]
        );
        let set = |name: &str| (name == env::PROXY_LISTEN).then(|| "127.0.0.1:1".to_owned());
        assert!(proxy_env(&spec, set).is_empty());
        assert_eq!(
            proxy_binary(|name| (name == env::PROXY_BIN).then(|| "/x/proxy".to_owned())),
            PathBuf::from("/x/proxy")
        );
    }

    #[tokio::test]
    async fn terminate_escalates_to_sigkill() {
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30"])
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let exit = terminate(&mut child, Duration::from_millis(300))
            .await
            .unwrap();
        assert!(!exit.success());
        assert!(started.elapsed() < Duration::from_secs(5));

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let exit = terminate(&mut child, Duration::from_secs(5)).await.unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit.signal(), Some(libc::SIGTERM));
    }
}
