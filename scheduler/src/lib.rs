//! mesos-miner's Mesos framework scheduler, as a pure library: no I/O except
//! the state file, no clock (callers pass milliseconds since the epoch).
//!
//! - [`config`]: what to run and how big (serde-deserializable).
//! - [`plan`]: offers -> launch / decline decisions (one proxy first, then one
//!   miner per offer taking all its CPUs).
//! - [`tasks`]: the task book and its state machine over `TaskStatus` updates
//!   (acknowledgements, kills, backoff, orphans, reconciliation).
//! - [`state`]: the framework id and task book persisted atomically.
//! - [`framework`]: ties them together per master event, with SUPPRESS/REVIVE.
//! - [`decision`]: the typed decisions and their `scheduler::Call`s.
//! - [`resources`]: carving tasks out of one offer's resources.
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
pub mod decision;
pub mod driver;
pub mod error;
pub mod framework;
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
