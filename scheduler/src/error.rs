//! Error types of the scheduler library: invalid configuration and
//! persisted-state I/O. Planning and task bookkeeping never fail; they turn
//! odd input into declines, kills or log lines instead.

use std::path::PathBuf;

use thiserror::Error;

/// A configuration value the scheduler cannot work with.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    /// A size or delay that must be > 0 is not.
    #[error("{field} must be a positive number, got {value}")]
    NotPositive {
        /// Dotted field name.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A size or delay that must be >= 0 is not.
    #[error("{field} must not be negative, got {value}")]
    Negative {
        /// Dotted field name.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A name that must be set is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// Dotted field name.
        field: &'static str,
    },
    /// The proxy's persistent volume needs resources reserved for a role,
    /// and Mesos reserves for no one under "*".
    #[error(
        "proxy.volume.enabled needs framework.role other than \"*\" (Mesos reserves only \
         for a role); set a role, or proxy.volume.enabled = false to keep the journal in \
         the sandbox (lost on every relaunch)"
    )]
    VolumeWithoutRole,
    /// The volume's container path is absolute or leaves the sandbox.
    #[error("proxy.volume.container_path {0:?} must be a relative path inside the sandbox")]
    VolumePath(String),
    /// Neither `node.rpc_secret` nor `node.rpc_cookie_file` is set.
    #[error(
        "the node's credentials: set node.rpc_secret (a Mesos secret holding user:password) \
         or node.rpc_cookie_file (the node's cookie file on the agents); a password is never \
         put in a task, where Mesos' state and docker inspect would show it"
    )]
    NoNodeCredentials,
    /// Both `node.rpc_secret` and `node.rpc_cookie_file` are set.
    #[error("set one of node.rpc_secret and node.rpc_cookie_file, not both")]
    TwoNodeCredentials,
    /// `node.rpc_cookie_file` is not an absolute path.
    #[error("node.rpc_cookie_file {0:?} must be an absolute path on the agents")]
    CookiePath(String),
    /// `backoff.max_secs` is below `backoff.initial_secs`.
    #[error("backoff.max_secs ({max}) must be at least backoff.initial_secs ({initial})")]
    BackoffOrder {
        /// `backoff.initial_secs`.
        initial: f64,
        /// `backoff.max_secs`.
        max: f64,
    },
    /// A value outside the range the task that takes it accepts.
    #[error("{field} must be from {min} to {max}, got {value}")]
    OutOfRange {
        /// Dotted field name.
        field: &'static str,
        /// The offending value.
        value: f64,
        /// The smallest allowed.
        min: f64,
        /// The largest allowed.
        max: f64,
    },
    /// A `proxy.alert_urls` entry is not an http(s) URL.
    #[error("proxy.alert_urls: {0}")]
    AlertUrl(String),
    /// The proxy's stratum and HTTP ports are the same fixed port.
    #[error("proxy.stratum_port and proxy.http_port are both {0}")]
    SamePorts(u64),
    /// `--cpu-policy` / `miner.cpu_policy` names no policy.
    #[error("cpu policy {0:?} is not one of regular|revocable|both")]
    CpuPolicy(String),
    /// `--max-cpus` / `limits.max_cpus` is neither CPUs nor a percentage.
    #[error(
        "max cpus {0:?} must be a number of CPUs (> 0, e.g. 8 or 2.5) or a percentage \
         of the cluster's CPUs (e.g. 25%, more than 0 and at most 100)"
    )]
    MaxCpus(String),
    /// A `--constraint` / `limits.constraints` entry cannot be used.
    #[error("constraint {text:?}: {why}")]
    Constraint {
        /// The constraint as given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Loading or saving the persisted state failed.
#[derive(Debug, Error)]
pub enum StateError {
    /// Reading, writing, syncing or renaming a file failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not valid state JSON.
    #[error("state file {path} is corrupt: {source}")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The state file was written by a newer, incompatible version.
    #[error("state file {path} has version {found}, this scheduler reads version {expected}")]
    Version {
        /// The state file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The version we read and write.
        expected: u32,
    },
}

/// An event that ends the scheduler's session with the master.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EventError {
    /// The master sent ERROR (e.g. the framework was removed): abort.
    #[error("master error: {0}")]
    Master(String),
}

/// Why the driver stopped (it resubscribes on everything else).
#[derive(Debug, Error)]
pub enum DriverError {
    /// No master URL to talk to.
    #[error("no master given")]
    NoMasters,
    /// A master URL is not usable.
    #[error("master {master}: {source}")]
    Master {
        /// The URL as given.
        master: String,
        /// Why.
        #[source]
        source: mesos::client::ClientError,
    },
    /// The master sent ERROR: the framework was removed or refused.
    #[error(transparent)]
    Aborted(#[from] EventError),
    /// The state could not be saved: continuing could duplicate or orphan tasks.
    #[error(transparent)]
    State(#[from] StateError),
}
