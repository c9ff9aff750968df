//! The whole system on one machine, as `mesos-miner local` runs it and the cross-process
//! tests (in `tests/`) start it: real programs, real sockets, nothing mocked.
//!
//! * [`bitcoin_core`]: Bitcoin Core's `bitcoind` and `bitcoin-cli`, built once and cached.
//! * [`node`]: Core nodes on regtest or a custom signet.
//! * [`wallet`]: keys of our own on those chains (payouts), coins and signed segwit/taproot
//!   spends.
//! * [`bins`]: the workspace's own programs, to run as processes.
//! * [`stack`]: devcluster + scheduler for a node: the Mesos side of the full stack.
//! * [`containers`]: a Docker engine, the workspace's images, and containers.
//! * [`prerequisites`]: the machine's packages the builds need, from `prerequisites.txt`.

pub mod bins;
pub mod bitcoin_core;
pub mod containers;
pub mod node;
pub mod prerequisites;
pub mod stack;
pub mod wallet;
