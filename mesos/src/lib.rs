//! The Mesos v1 HTTP API as mesos-miner speaks it; shared by the scheduler,
//! the executor and devcluster.
//!
//! - [`v1`]: the protobuf messages (`mesos.v1`, `mesos.v1.scheduler`,
//!   `mesos.v1.executor`), generated from our subset of Mesos' .proto files in
//!   `proto/` with Mesos' own names, field numbers and enum values.
//! - [`recordio`]: the `<length>\n<bytes>` framing of event streams.
//! - [`client`]: async HTTP clients for `/api/v1/scheduler` (master) and
//!   `/api/v1/executor` (agent).
//!
//! Only `application/x-protobuf` is spoken; JSON is not supported.

#![forbid(unsafe_code)]

pub mod client;
pub mod recordio;
pub mod v1;

/// The content type of every call and event this crate sends or reads.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
