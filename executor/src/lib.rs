//! mesos-miner's own Mesos v1 executor (see `/api/v1/executor`).
//!
//! The agent starts it with `MESOS_*` variables ([`config`]); it subscribes,
//! and for each LAUNCH runs either a miner in-process ([`miner::pool::PoolClient`])
//! or the `proxy` binary as a child process, as the scheduler's `TaskSpec` in
//! `TaskInfo.data` says ([`spec`]). Miners report their hash rate to the
//! scheduler as executor MESSAGEs ([`tasks::HashRateReport`]).

pub mod config;
pub mod executor;
pub mod session;
pub mod spec;
pub mod tasks;

pub use config::ExecutorConfig;
pub use executor::{run, ExecutorError};
pub use tasks::HashRateReport;
