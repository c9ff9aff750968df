//! mesos-miner's web dashboard, shared by the programs that serve it: the `/api/v1` documents
//! ([`api`]), the pages compiled into the binary ([`assets`]) and the HTTP plumbing both
//! servers use ([`http`]: response helpers, a streaming body for Server-Sent Events;
//! [`metrics`]: the Prometheus text both `/metrics` endpoints write).
//!
//! The proxy serves the pool pages on its own (`proxy --http`); the scheduler serves every
//! page, answers `/api/v1/cluster` itself and forwards the pool's endpoints to the proxy task.

pub mod api;
pub mod assets;
pub mod http;
pub mod metrics;
