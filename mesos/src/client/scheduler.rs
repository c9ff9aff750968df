//! The scheduler side of the API: SUBSCRIBE to the master (following the
//! redirect to the leader), then send calls tagged with the subscription's
//! `Mesos-Stream-Id` to that same master.

use std::sync::{Arc, Mutex, PoisonError};

use http::{StatusCode, Uri};
use tracing::info;

use super::transport::{endpoint_uri, Transport, STREAM_ID_HEADER};
use super::{ClientConfig, ClientError, EventStream};
use crate::v1::scheduler::{call, Call, Event};
use crate::ContentType;

/// Path of the scheduler API on a master.
pub const SCHEDULER_API_PATH: &str = "/api/v1/scheduler";

/// A live subscription: its id and its events.
#[derive(Debug)]
pub struct SchedulerSubscription {
    /// Value of the `Mesos-Stream-Id` header; every later call carries it.
    pub stream_id: String,
    /// Starts with SUBSCRIBED; ends when the master drops us.
    pub events: EventStream<Event>,
}

/// Client for a master's scheduler API. Cloning is cheap and clones share
/// the connection pool and the known leader.
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    transport: Transport,
    /// The master last known to lead; redirects update it.
    endpoint: Arc<Mutex<Uri>>,
}

impl SchedulerClient {
    /// A client for the master at `master` ("host:port", "http://host:port"
    /// or "https://host:port"), speaking `config.content_type`.
    pub fn new(master: &str, config: ClientConfig) -> Result<Self, ClientError> {
        let endpoint = endpoint_uri(master, SCHEDULER_API_PATH)?;
        Ok(Self {
            transport: Transport::new(config)?,
            endpoint: Arc::new(Mutex::new(endpoint)),
        })
    }

    /// What calls are sent as and events asked for.
    pub fn content_type(&self) -> ContentType {
        self.transport.content_type()
    }

    /// The scheduler API URI calls go to: the leader, once a redirect told us.
    pub fn endpoint(&self) -> Uri {
        self.endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends a SUBSCRIBE call and returns the stream id and event stream.
    pub async fn subscribe(&self, call: &Call) -> Result<SchedulerSubscription, ClientError> {
        if call.r#type() != call::Type::Subscribe || call.subscribe.is_none() {
            return Err(ClientError::InvalidCall(
                "subscribe() needs a SUBSCRIBE call with `subscribe` set".into(),
            ));
        }
        let (leader, response) = self
            .transport
            .post(&self.endpoint(), self.content_type().encode(call)?, None)
            .await?;
        self.remember_leader(leader.clone());
        if response.status() != StatusCode::OK {
            return Err(ClientError::UnexpectedStatus {
                status: response.status(),
                body: String::new(),
            });
        }
        let stream_id = response
            .headers()
            .get(STREAM_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .ok_or(ClientError::MissingStreamId)?
            .to_owned();
        info!(master = %leader, %stream_id, "subscribed to the master");
        let content_type = self.transport.answer_type(&response);
        let events = EventStream::new(
            response.into_body(),
            self.transport.config().max_event_len,
            content_type,
        );
        Ok(SchedulerSubscription { stream_id, events })
    }

    /// Sends any other call on behalf of the subscription `stream_id`;
    /// succeeds on `202 Accepted`.
    pub async fn call(&self, stream_id: &str, call: &Call) -> Result<(), ClientError> {
        if call.r#type() == call::Type::Subscribe {
            return Err(ClientError::InvalidCall(
                "SUBSCRIBE goes through subscribe()".into(),
            ));
        }
        let (leader, response) = self
            .transport
            .post(
                &self.endpoint(),
                self.content_type().encode(call)?,
                Some(stream_id),
            )
            .await?;
        self.remember_leader(leader);
        match response.status() {
            StatusCode::ACCEPTED => Ok(()),
            status => Err(ClientError::UnexpectedStatus {
                status,
                body: String::new(),
            }),
        }
    }

    fn remember_leader(&self, leader: Uri) {
        *self.endpoint.lock().unwrap_or_else(PoisonError::into_inner) = leader;
    }
}
