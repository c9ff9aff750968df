//! mesos-miner's hashing core: Bitcoin header double-SHA256 nonce search with
//! run-time selected SIMD/SHA engines, parallel search across cores, and the
//! hash-rate benchmark, and the stratum v1 pool client (`miner run`).

pub mod bench;
pub mod cycles;
pub mod engine;
pub mod pool;
pub mod search;
pub mod sha256;
/// Share and block targets, shared with the proxy through `stratum`.
pub use stratum::target;

pub use engine::{Engine, Hit, Job, Mode, RolledJob};
pub use search::{Found, Outcome, SearchHandle, Searcher, Work, WorkSource};
pub use target::ShareTarget;
