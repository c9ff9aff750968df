//! Support for the workspace's cross-process tests (in `tests/tests/`): real programs, real
//! sockets, nothing mocked.
//!
//! * [`regtest`]: a pair of connected regtest nodes, fetched and cached on first use.

pub mod regtest;
