//! Errors of the devcluster library.

use std::net::SocketAddr;

/// Why a cluster could not start or a fault could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot describe a cluster.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Creating the work directory failed.
    #[error("cannot create work directory {path}: {source}")]
    WorkDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No live agent has this id.
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
    /// The fault injection API has no such fault.
    #[error("unknown fault {0:?}")]
    UnknownFault(String),
    /// A fault's parameters cannot be used (a delay beyond the clock).
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    /// No master has this index.
    #[error("no master {0}")]
    UnknownMaster(usize),
    /// No running executor has this id.
    #[error("unknown executor {0:?}")]
    UnknownExecutor(String),
}
