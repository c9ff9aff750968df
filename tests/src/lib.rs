//! The harness of the workspace's cross-process tests (in `tests/tests/`): real programs, real
//! sockets, nothing mocked. The launcher they share with `mesos-miner local` (Core, nodes,
//! keys, programs, the stack, containers) is the `mesos-miner` library, re-exported here;
//! what only tests need is here:
//!
//! * [`mining`]: the proxy and miners as processes, their stats and journal.
//! * [`browser`]: headless Chromium: a page's DOM after it ran, screenshots.
//! * [`procfs`]: a process's CPU time and memory, for the load benchmarks.
//! * [`tasks`]: the scheduler's running tasks and their agents.

pub use mesos_miner::{bins, bitcoin_core, containers, node, prerequisites, stack, wallet};

pub mod browser;
pub mod mining;
pub mod procfs;
pub mod tasks;
