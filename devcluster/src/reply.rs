//! What the master and the agents answer to a call, before HTTP: a status
//! code and message for a refused call ([`HttpError`]), `202`, `200` with a
//! body, or `200` with an event stream whose records the state pushes into a
//! channel ([`Reply::Stream`]); and who reads a stream ([`StreamOwner`]), so
//! the state hears when it closes. [`crate::http`] writes these as responses.

use bytes::Bytes;
use http::StatusCode;
use tokio::sync::mpsc;

/// Who reads an event stream; told to the state when the stream closes.
#[derive(Debug, Clone)]
pub(crate) enum StreamOwner {
    Scheduler {
        framework_id: String,
        stream_id: String,
    },
    Executor {
        agent: usize,
        framework_id: mesos::id::Framework,
        executor_id: mesos::id::Executor,
        stream_seq: u64,
    },
}

/// An error answer: status and a text body, as Mesos gives them.
#[derive(Debug)]
pub(crate) struct HttpError {
    pub status: StatusCode,
    pub message: String,
}

impl HttpError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// A successful answer to a call.
#[derive(Debug)]
pub(crate) enum Reply {
    /// 202 Accepted.
    Accepted,
    /// 200 OK with a protobuf body (written as JSON when asked for).
    Ok(Bytes),
    /// 200 OK with an event stream: RecordIO records (protobuf, one per
    /// message) arrive on `events` until the state drops the sender.
    Stream {
        events: mpsc::UnboundedReceiver<Bytes>,
        owner: StreamOwner,
        /// The scheduler's `Mesos-Stream-Id`.
        stream_id: Option<String>,
    },
}
