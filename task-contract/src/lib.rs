//! The contract between the scheduler and the tasks it launches, in one leaf
//! crate both sides depend on (neither depends on the other):
//!
//! - [`spec`]: the [`TaskSpec`] the scheduler puts in `TaskInfo.data`, the
//!   role label, and where the node's secret appears in the proxy's sandbox;
//! - [`env`]: the environment variables tasks receive (the `proxy` and
//!   `miner` CLIs read the same names through clap's `env`);
//! - [`report`]: the [`HashRateReport`] an executor sends back as a framework
//!   MESSAGE, encoded and decoded here only.

pub mod env;
pub mod report;
pub mod spec;

pub use report::{HashRateReport, ReportError};
pub use spec::{TaskSpec, ROLE_LABEL, SECRET_PATH};
