//! Support for the workspace's cross-process tests (in `tests/tests/`): real programs, real
//! sockets, nothing mocked.
//!
//! * [`regtest`]: a pair of connected regtest nodes, fetched and cached on first use.
//! * [`bins`]: the workspace's own programs, to run as processes.
//! * [`stack`]: devcluster + scheduler for a node: the Mesos side of the full stack.
//! * [`containers`]: a Docker engine, the workspace's images, and containers.

pub mod bins;
pub mod containers;
pub mod regtest;
pub mod stack;
