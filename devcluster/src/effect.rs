//! What the state asks the runtime to do: the [`Effect`]s that touch the
//! operating system (sandboxes, processes, containers, directories). State
//! methods decide, record and queue them (see `State::effects`); the
//! runtime ([`crate::runtime`]) takes the queue when it releases the
//! state's lock and carries it out with [`crate::launcher`], reporting
//! back through state methods (`executor_spawned`, `executor_launch_failed`,
//! `executor_exited`, `command_task_running`). So nothing under the lock
//! blocks, and the master and agent semantics are tested without processes.
//!
//! Events to schedulers and executors, and signals to an executor's
//! process, are not effects: they go into per-stream and per-executor
//! channels, which the runtime drains (an HTTP response body, an
//! executor's monitor), and which tests read directly.

use std::path::PathBuf;

use mesos::v1::command_info::Uri;
use tokio::sync::mpsc;

use crate::command_executor::Argv;
use crate::docker::Mount;
use crate::state::ExecKey;

/// One thing for the runtime to do, after the state's lock is released.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Start an executor, or a command task's container.
    Launch(Box<Launch>),
    /// Make persistent volumes appear in a running process executor's
    /// sandbox (a task that brings new ones).
    LinkVolumes {
        sandbox: PathBuf,
        mounts: Vec<Mount>,
    },
    /// Create a directory and its parents: a new persistent volume.
    CreateDir(PathBuf),
    /// Remove a directory and all it holds: a destroyed volume, or the
    /// secret files of an executor that ended.
    RemoveDir(PathBuf),
    /// Move a directory: an agent's volumes, when its machine comes back
    /// from maintenance under a new agent id.
    MoveDir { from: PathBuf, to: PathBuf },
}

/// Everything needed to start one executor, decided under the lock.
#[derive(Debug)]
pub(crate) struct Launch {
    pub agent: usize,
    pub key: ExecKey,
    pub container_id: String,
    /// Created first; the executor's working directory, with its `stdout`
    /// and `stderr`.
    pub sandbox: PathBuf,
    /// Local files copied into the sandbox.
    pub fetch: Vec<Uri>,
    /// Resolved file secrets, written before the executor starts.
    pub secret_files: Vec<SecretFile>,
    /// Persistent volumes and secret files the executor sees.
    pub mounts: Vec<Mount>,
    pub program: Program,
    /// How the log and a launch failure name the program.
    pub label: String,
    /// The signals the state sends the executor (SIGTERM, SIGKILL), for its
    /// monitor to deliver.
    pub signals: mpsc::UnboundedReceiver<i32>,
}

/// How an executor runs.
#[derive(Debug)]
pub(crate) enum Program {
    /// An OS process in its own process group, volumes linked into the
    /// sandbox.
    Process {
        argv: Argv,
        env: Vec<(String, String)>,
        /// The network namespace of an agent on a host of its own, which
        /// the process runs in (`ip netns exec`).
        netns: Option<String>,
    },
    /// `docker run` through `cli` (with `args` and `env`) for the container
    /// `name`; the sandbox and volumes are opened to the image's user.
    Docker {
        cli: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        name: String,
        /// A command task's container: its TASK_RUNNING waits for
        /// `docker inspect` to say it runs.
        command_task: bool,
    },
}

/// The local path a fetched URI names (a path or `file://` URL); an error for any other,
/// since devcluster fetches local files only. Checked when a launch is decided, and again
/// where the file is copied.
pub(crate) fn local_source(uri: &Uri) -> Result<&str, String> {
    let source = uri.value.strip_prefix("file://").unwrap_or(&uri.value);
    if source.starts_with('/') {
        Ok(source)
    } else {
        Err(format!(
            "cannot fetch {:?}: devcluster fetches local files only",
            uri.value
        ))
    }
}

/// A resolved file secret: the `index`th file in `dir` (see
/// `secrets::write_secret_file`: mode 0400, or 0444 for a container whose
/// user may not be ours, in a 0700 directory).
#[derive(Debug)]
pub(crate) struct SecretFile {
    pub dir: PathBuf,
    pub index: usize,
    pub value: Vec<u8>,
    pub world_readable: bool,
}
