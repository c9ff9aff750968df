//! `miner run`: the stratum v1 client that mines for one or more pools.
//!
//! * [`work`] turns the pool's latest `mining.notify` into search jobs, rolling
//!   extranonce2 (and BIP310 version bits when negotiated) as nonce spaces run out.
//! * [`session`] speaks stratum v1 over one TCP connection: configure,
//!   subscribe, authorize, then notifications in and shares out.
//! * [`policy`] decides how far to go along with the pool: the difficulty to
//!   suggest, and whether and when to follow `client.reconnect`.
//! * [`client`] runs the search threads and the sessions, failing over between
//!   pools with exponential backoff and jitter, and keeps the share counters.

pub mod client;
pub mod policy;
pub mod session;
pub mod work;

pub use client::{run, PoolClient, PoolConfig, ShareStats};
pub use policy::{PoolPolicy, Suggest};
pub use work::{JobTag, PoolWork};
