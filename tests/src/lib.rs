//! Support for the workspace's cross-process tests (in `tests/tests/`): real programs, real
//! sockets, nothing mocked.
//!
//! * [`bitcoin_core`]: Bitcoin Core's `bitcoind` and `bitcoin-cli`, built once and cached.
//! * [`node`]: Core nodes on regtest or a custom signet, one per test.
//! * [`wallet`]: the tests' own keys, coins and signed segwit/taproot spends.
//! * [`bins`]: the workspace's own programs, to run as processes.
//! * [`mining`]: the proxy and miners as processes, their stats and journal.
//! * [`stack`]: devcluster + scheduler for a node: the Mesos side of the full stack.
//! * [`containers`]: a Docker engine, the workspace's images, and containers.
//! * [`browser`]: headless Chromium: a page's DOM after it ran, screenshots.
//! * [`prerequisites`]: the machine's packages the builds need, from `prerequisites.txt`.

pub mod bins;
pub mod bitcoin_core;
pub mod browser;
pub mod containers;
pub mod mining;
pub mod node;
pub mod prerequisites;
pub mod stack;
pub mod wallet;
