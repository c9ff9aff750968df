//! The pool proxy: sits between a node and stratum v1 miners, turning the node's block
//! templates into stratum jobs and the miners' shares into blocks.
//!
//! Data flows one way, node -> proxy -> miners. The pure logic (no sockets):
//! * [`upstream`]: the node's JSON-RPC client (templates, block submission, chain state).
//! * [`budget`]: the room a template leaves for the coinbase (weight, sigops, notify line).
//! * [`coinbase`]: the coinbase transaction split as `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`.
//! * [`jobs`]: stratum jobs from templates (merkle branch, notify, header and block assembly)
//!   and the book of live jobs.
//! * [`shares`]: `mining.submit` validation against a job and a session.
//! * [`payouts`]: PPLNS split of the coinbase value into outputs.
//! * [`vardiff`]: per-connection share difficulty retargeting.
//! * [`invalid_config`]: the error for a setting of these that cannot work.
//!
//! The runtime:
//! * [`journal`]: found blocks and accepted shares, durably, before anyone is told.
//! * [`pool`]: shared state and the node loop (templates -> jobs; found blocks -> node).
//! * [`downstream`]: the stratum v1 server miners connect to.
//! * [`http`]: `GET /metrics` (Prometheus) and `GET /api/stats` (JSON) from the pool's counters.

pub mod alerting;
pub mod api;
pub mod budget;
pub mod coinbase;
pub mod downstream;
pub mod history;
pub mod http;
pub mod invalid_config;
pub mod jobs;
pub mod journal;
pub mod payouts;
pub mod pool;
pub mod shares;
pub mod upstream;
pub mod vardiff;
