//! mesos-miner's Mesos framework scheduler. The first group of modules makes
//! every decision without network I/O and without a clock (callers pass
//! milliseconds since the epoch); `state` only reads and writes its file. The
//! second group does the network I/O.
//!
//! - [`config`]: what to run and how big (serde-deserializable).
//! - [`plan`]: offers -> launch / decline decisions (one proxy first, then one
//!   miner per offer taking all its CPUs).
//! - [`tasks`]: the task book and its state machine over `TaskStatus` updates
//!   (acknowledgements, kills, backoff, orphans, reconciliation).
//! - [`state`]: the framework id and task book persisted atomically.
//! - [`framework`]: ties them together per master event, with SUPPRESS/REVIVE.
//! - [`decision`]: the typed decisions and their `scheduler::Call`s.
//! - [`maintenance`]: inverse offers and unavailability: draining miners
//!   before a window, moving the proxy, accepting inverse offers.
//! - [`resources`]: carving tasks out of one offer's resources.
//! - [`cpu_policy`]: regular and/or revocable CPUs for miners, and
//!   revocations told apart from failures.
//! - [`limits`]: the operator's limits (most CPUs, quota, Marathon-style
//!   placement constraints) and the cluster as offers show it.
//! - [`volume`]: the proxy's reservation and persistent volume (what is ours
//!   in an offer, RESERVE / CREATE, leftovers destroyed and unreserved).
//!
//! - [`driver`]: the async HTTP driver on top of
//!   `mesos::client::SchedulerClient` (subscribe, save, send calls, tick,
//!   heartbeat watchdog, resubscribe with backoff and failover).
//! - [`status`]: the status snapshot and its `GET /api/status` HTTP server.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alerting;
pub mod config;
pub mod cpu_policy;
pub mod decision;
pub mod driver;
pub mod error;
pub mod framework;
pub mod limits;
pub mod maintenance;
pub mod plan;
pub mod resources;
pub mod state;
pub mod status;
pub mod tasks;
pub mod volume;

pub use config::Config;
pub use decision::Decision;
pub use driver::{Driver, DriverConfig};
pub use error::{ConfigError, DriverError, EventError, StateError};
pub use framework::Framework;
pub use state::{PersistedState, StateStore};
