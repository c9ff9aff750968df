//! Support for the workspace's cross-process tests (in `tests/tests/`): real programs, real
//! sockets, nothing mocked.
//!
//! * [`regtest`]: a pair of connected regtest nodes, fetched and cached on first use.
//! * [`bins`]: the workspace's own programs, to run as processes.

pub mod bins;
pub mod regtest;
