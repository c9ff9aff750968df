//! Async HTTP clients for the Mesos v1 API: [`SchedulerClient`] for a
//! master's `/api/v1/scheduler`, [`ExecutorClient`] for an agent's
//! `/api/v1/executor`.
//!
//! Calls are POSTs encoded in [`ClientConfig::content_type`]: protobuf
//! (`application/x-protobuf`, the default) or JSON (`application/json`), sent
//! as `Content-Type` and `Accept`. SUBSCRIBE answers with an endless
//! RecordIO-framed body, read as an [`EventStream`]; every other call must be
//! answered `202 Accepted`. Redirects (`307`) to the leading master are
//! followed, except from `https` to `http`. HTTP basic or bearer
//! authentication is optional, and only sent to the configured endpoints
//! ([`SchedulerClient::with_masters`] names every master of a cluster).
//! A remembered leader that has gone is left for the configured masters.
//!
//! `https://` endpoints need the `tls` feature (on by default): rustls with
//! the Mozilla roots of `webpki-roots` (no system certificate store needed,
//! so it works in FROM-scratch images), plus the CA certificates of
//! [`ClientConfig::ca_file`] for private clusters.
//!
//! Liveness is the caller's job: after SUBSCRIBED, treat a few
//! `heartbeat_interval_seconds` without any event as a dead connection
//! (wrap [`EventStream::next`] in `tokio::time::timeout`) and resubscribe.
//!
//! ```no_run
//! use mesos::client::{ClientConfig, SchedulerClient};
//! use mesos::v1::{scheduler, FrameworkInfo};
//!
//! # async fn run() -> Result<(), mesos::client::ClientError> {
//! let client = SchedulerClient::new("127.0.0.1:5050", ClientConfig::default())?;
//! let subscribe = scheduler::Call {
//!     r#type: Some(scheduler::call::Type::Subscribe as i32),
//!     subscribe: Some(scheduler::call::Subscribe {
//!         framework_info: FrameworkInfo {
//!             user: "root".into(),
//!             name: "mesos-miner".into(),
//!             ..Default::default()
//!         },
//!         suppressed_roles: vec![],
//!     }),
//!     ..Default::default()
//! };
//! let mut subscription = client.subscribe(&subscribe).await?;
//! while let Some(event) = subscription.events.next().await {
//!     let event = event?;
//!     // ... answer OFFERS with client.call(&subscription.stream_id, &accept) ...
//! #   let _ = event;
//! }
//! // The stream ended: resubscribe with backoff.
//! # Ok(())
//! # }
//! ```

mod error;
mod event_stream;
mod executor;
mod scheduler;
#[cfg(feature = "tls")]
mod tls;
mod transport;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use error::ClientError;
pub use event_stream::EventStream;
pub use executor::{ExecutorClient, AGENT_ENDPOINT_ENV, EXECUTOR_API_PATH};
pub use scheduler::{
    heartbeat_interval, SchedulerClient, SchedulerSubscription, MAX_HEARTBEAT_INTERVAL,
    SCHEDULER_API_PATH,
};
pub use transport::STREAM_ID_HEADER;

use crate::recordio::DEFAULT_MAX_RECORD_LEN;
use crate::ContentType;

/// Credentials sent in the `Authorization` header of every request to a
/// configured endpoint (never to another host a redirect names).
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP basic authentication with a Mesos principal and its secret.
    Basic {
        /// The principal (also `FrameworkInfo.principal`).
        principal: String,
        /// Its secret.
        secret: String,
    },
    /// A bearer token, as agents hand executors in
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`.
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { principal, .. } => f
                .debug_struct("Basic")
                .field("principal", principal)
                .field("secret", &"<redacted>")
                .finish(),
            Self::Bearer(_) => f.debug_tuple("Bearer").field(&"<redacted>").finish(),
        }
    }
}

/// Settings shared by both clients.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent with every request to a configured endpoint when set.
    pub auth: Option<Auth>,
    /// Redirects followed per call before giving up.
    pub max_redirects: usize,
    /// Limit for establishing a TCP connection.
    pub connect_timeout: Duration,
    /// Limit for the response headers to arrive (not for the event stream).
    pub request_timeout: Duration,
    /// Largest event accepted on a stream.
    pub max_event_len: usize,
    /// Encoding of calls and of the events asked for (protobuf by default).
    /// Events are decoded in the type the server's answer names.
    pub content_type: ContentType,
    /// A PEM file of CA certificates trusted for `https://` besides the
    /// built-in roots: for masters and agents with private certificates.
    /// Needs the `tls` feature.
    pub ca_file: Option<PathBuf>,
}

impl ClientConfig {
    /// This configuration speaking `content_type`.
    pub fn with_content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }

    /// This configuration also trusting the CA certificates in `ca_file`.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            auth: None,
            max_redirects: 4,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_event_len: DEFAULT_MAX_RECORD_LEN,
            content_type: ContentType::default(),
            ca_file: None,
        }
    }
}
