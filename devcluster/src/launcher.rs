//! Carries out the state's [`Effect`]s, outside its lock: makes sandboxes,
//! fetches files, writes secret files, links or opens up persistent
//! volumes, and starts executors as process groups of ours or through the
//! `docker` CLI (`docker run`, `kill`, `inspect`, `rm -f`). One tokio task
//! per executor waits for its exit and delivers the signals the state sends
//! it; what happens is reported back to the state (`executor_spawned`,
//! `executor_launch_failed`, `command_task_running`, `executor_exited`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::docker::Mount;
use crate::effect::{Effect, Launch, Program};
use crate::runtime::Inner;
use crate::state::ExecKey;

/// Carries out `effects` in order.
pub(crate) fn run(inner: &Arc<Inner>, effects: Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::Launch(launch) => {
                let (agent, key, container_id) = (
                    launch.agent,
                    launch.key.clone(),
                    launch.container_id.clone(),
                );
                match start(inner, *launch) {
                    Ok(pid) => inner
                        .lock()
                        .executor_spawned(agent, &key, &container_id, pid),
                    Err(message) => {
                        warn!(executor = %key.1, %message, "cannot start the executor");
                        inner
                            .lock()
                            .executor_launch_failed(agent, &key, &container_id, &message)
                    }
                }
            }
            Effect::LinkVolumes { sandbox, mounts } => {
                if let Err(message) = link_volumes(&sandbox, &mounts) {
                    warn!(%message, "cannot link the task's volumes");
                }
            }
            Effect::CreateDir(dir) => {
                if let Err(error) = std::fs::create_dir_all(&dir) {
                    warn!(dir = %dir.display(), %error, "cannot create the directory");
                }
            }
            Effect::RemoveDir(dir) => {
                if dir.exists() {
                    if let Err(error) = std::fs::remove_dir_all(&dir) {
                        warn!(dir = %dir.display(), %error, "cannot remove the directory");
                    }
                }
            }
            Effect::MoveDir { from, to } => {
                if from.exists() {
                    if let Err(error) = std::fs::rename(&from, &to) {
                        warn!(from = %from.display(), to = %to.display(), %error, "cannot move the directory");
                    }
                }
            }
        }
    }
}

/// Starts one executor; its process id (of `docker run`'s CLI process for
/// a container).
fn start(inner: &Arc<Inner>, launch: Launch) -> Result<Option<u32>, String> {
    let Launch {
        agent,
        key,
        container_id,
        sandbox,
        fetch: uris,
        secret_files,
        mounts,
        program,
        label,
        signals,
    } = launch;
    std::fs::create_dir_all(&sandbox)
        .map_err(|error| format!("cannot create sandbox {}: {error}", sandbox.display()))?;
    fetch(&uris, &sandbox)?;
    for file in &secret_files {
        crate::secrets::write_secret_file(&file.dir, file.index, &file.value, file.world_readable)?;
    }
    let (mut cmd, runs) = match program {
        Program::Docker {
            cli,
            args,
            env,
            name,
            command_task,
        } => {
            // The image's user may not be ours: let it write the sandbox.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&sandbox, std::fs::Permissions::from_mode(0o777))
                .map_err(|error| format!("cannot open up the sandbox: {error}"))?;
            for mount in mounts.iter().filter(|mount| mount.host.is_dir()) {
                std::fs::set_permissions(&mount.host, std::fs::Permissions::from_mode(0o777))
                    .map_err(|error| format!("cannot open up the volume: {error}"))?;
            }
            let mut cmd = std::process::Command::new(&cli);
            cmd.args(&args).envs(env);
            (
                cmd,
                Runs::Docker {
                    cli,
                    name,
                    command_task,
                },
            )
        }
        Program::Process { argv, env, netns } => {
            link_volumes(&sandbox, &mounts)?;
            let mut cmd = match netns {
                // `ip` enters the namespace and execs the program: the
                // same process (and group), in the agent's network.
                Some(netns) => {
                    let mut cmd = std::process::Command::new("ip");
                    cmd.args(["netns", "exec", &netns, &argv.program]);
                    cmd
                }
                None => {
                    let mut cmd = std::process::Command::new(&argv.program);
                    std::os::unix::process::CommandExt::arg0(&mut cmd, &argv.argv0);
                    cmd
                }
            };
            cmd.args(&argv.args).envs(env);
            (cmd, Runs::Process)
        }
    };
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.current_dir(&sandbox).stdin(Stdio::null());
    let stdout = std::fs::File::create(sandbox.join("stdout"))
        .map_err(|error| format!("cannot create stdout: {error}"))?;
    let stderr = std::fs::File::create(sandbox.join("stderr"))
        .map_err(|error| format!("cannot create stderr: {error}"))?;
    cmd.stdout(stdout).stderr(stderr);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let _runtime = inner.runtime.enter();
    let child = cmd
        .spawn()
        .map_err(|error| format!("cannot start {label}: {error}"))?;
    let pid = child.id();
    info!(executor = %key.1, ?pid, sandbox = %sandbox.display(), "executor started");
    if let Runs::Docker {
        cli,
        name,
        command_task: true,
    } = &runs
    {
        inner.runtime.spawn(watch_command_task(
            Arc::downgrade(inner),
            agent,
            key.clone(),
            container_id.clone(),
            cli.clone(),
            name.clone(),
        ));
    }
    inner.runtime.spawn(monitor(
        Arc::downgrade(inner),
        agent,
        key,
        container_id,
        child,
        runs,
        signals,
    ));
    Ok(pid)
}

/// Sends `signal` to the process group led by `pid` (executors run in their
/// own group, so shells and their children go too).
#[allow(unsafe_code)] // kill(2), a thin libc call
fn signal_group(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The
    // process has not been reaped yet (the caller still waits on it), so the
    // id still names our child's group and cannot have been reused.
    let result = unsafe { libc::kill(-pid, signal) };
    if result != 0 {
        // The group may be gone already; the leader alone, then.
        // SAFETY: as above.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Where an executor runs: a process group of ours, or a Docker container
/// (whose `docker run` process is the child we wait for).
enum Runs {
    Process,
    Docker {
        cli: PathBuf,
        name: String,
        command_task: bool,
    },
}

/// Waits for an executor process to exit, delivering signals meanwhile.
async fn monitor(
    inner: Weak<Inner>,
    agent: usize,
    key: ExecKey,
    container_id: String,
    mut child: tokio::process::Child,
    runs: Runs,
    mut signals: mpsc::UnboundedReceiver<i32>,
) {
    let pid = child.id();
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            Some(signal) = signals.recv() => match &runs {
                Runs::Process => {
                    if let Some(pid) = pid {
                        debug!(pid, signal, "signalling executor");
                        signal_group(pid, signal);
                    }
                }
                Runs::Docker { cli, name, .. } => docker_signal(cli, name, signal).await,
            }
        }
    };
    let raw = match &status {
        Ok(status) => std::os::unix::process::ExitStatusExt::into_raw(*status),
        Err(_) => -1,
    };
    info!(executor = %key.1, ?status, "executor process exited");
    if let Some(inner) = inner.upgrade() {
        inner
            .lock()
            .executor_exited(agent, &key, &container_id, raw);
    }
}

/// Reports a command task's container as running once `docker inspect`
/// says so.
async fn watch_command_task(
    inner: Weak<Inner>,
    agent: usize,
    key: ExecKey,
    container_id: String,
    cli: PathBuf,
    name: String,
) {
    let Some(pid) = docker_wait_running(&cli, &name, Duration::from_secs(120)).await else {
        return;
    };
    if let Some(inner) = inner.upgrade() {
        inner
            .lock()
            .command_task_running(agent, &key, &container_id, pid);
    }
}

/// Copies local `uris` (paths or file://) into the sandbox.
fn fetch(uris: &[mesos::v1::command_info::Uri], sandbox: &Path) -> Result<(), String> {
    for uri in uris {
        let source = crate::effect::local_source(uri)?;
        let name = uri.output_file.clone().unwrap_or_else(|| {
            Path::new(source)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "fetched".into())
        });
        let target = sandbox.join(name);
        std::fs::copy(source, &target)
            .map_err(|error| format!("cannot fetch {source}: {error}"))?;
        if uri.executable.unwrap_or(false) {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755));
        }
    }
    Ok(())
}

/// Makes each persistent volume appear at its `container_path` in the
/// sandbox of a process executor: a symlink to the volume's directory (what
/// Mesos' `filesystem/posix` isolator does; Docker mounts it instead).
fn link_volumes(sandbox: &Path, mounts: &[Mount]) -> Result<(), String> {
    for mount in mounts {
        let link = sandbox.join(&mount.container_path);
        if std::fs::read_link(&link).is_ok_and(|target| target == mount.host) {
            continue;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        std::os::unix::fs::symlink(&mount.host, &link).map_err(|error| {
            format!(
                "cannot link volume {} at {}: {error}",
                mount.host.display(),
                link.display()
            )
        })?;
    }
    Ok(())
}

/// Delivers `signal` to the container's main process.
async fn docker_signal(cli: &Path, name: &str, signal: i32) {
    let status = tokio::process::Command::new(cli)
        .args([
            "kill",
            &format!("--signal={}", crate::docker::signal_name(signal)),
            name,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    tracing::debug!(container = name, signal, ?status, "docker kill");
}

/// Waits until the container runs; its main process id, or `None` if it
/// ended (or never started) within `timeout`.
async fn docker_wait_running(cli: &Path, name: &str, timeout: Duration) -> Option<u32> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let output = tokio::process::Command::new(cli)
            .args([
                "inspect",
                "--format",
                "{{.State.Running}} {{.State.Pid}}",
                name,
            ])
            .stderr(std::process::Stdio::null())
            .output()
            .await
            .ok()?;
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            let mut words = text.split_whitespace();
            if words.next() == Some("true") {
                return words.next().and_then(|pid| pid.parse().ok());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Removes containers, whatever state they are in (blocking; for shutdown).
pub(crate) fn remove_containers(cli: &Path, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let status = std::process::Command::new(cli)
        .args(["rm", "-f"])
        .args(names)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    tracing::info!(?names, ?status, "removed containers");
}
