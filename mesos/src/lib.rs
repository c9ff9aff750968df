//! The Mesos v1 HTTP API as mesos-miner speaks it; shared by the scheduler,
//! the executor and devcluster.
//!
//! - [`v1`]: the protobuf messages (`mesos.v1`, `mesos.v1.scheduler`,
//!   `mesos.v1.executor`), generated from our subset of Mesos' .proto files in
//!   `proto/` with Mesos' own names, field numbers and enum values.
//! - [`recordio`]: the `<length>\n<bytes>` framing of event streams.
//! - [`scalar`]: fixed-point scalar resources (thousandths) and port ranges, with one rule
//!   for values that are no amount.
//! - [`id`]: typed framework, agent, task, executor and offer ids, and their conversions
//!   to and from the messages.
//! - [`duration`]: Mesos' duration strings ("15mins", "500ms"), formatted and
//!   parsed, and `DurationInfo` as a `std::time::Duration`.
//! - [`ContentType`]: the two encodings of calls and events,
//!   `application/x-protobuf` (the default) and `application/json` (Mesos'
//!   JSON mapping, generated serde impls on every [`v1`] message).
//! - [`client`]: async HTTP clients for `/api/v1/scheduler` (master) and
//!   `/api/v1/executor` (agent), over `http://` or (feature `tls`, on by
//!   default) `https://`.

#![forbid(unsafe_code)]

pub mod client;
mod content_type;
pub mod duration;
pub mod id;
pub mod recordio;
pub mod scalar;
#[allow(missing_docs)] // generated from the .proto files, whose comments say what each field is
pub mod v1;

pub use content_type::{
    CodecError, ContentType, UnknownContentType, WireMessage, JSON_CONTENT_TYPE,
    PROTOBUF_CONTENT_TYPE,
};
