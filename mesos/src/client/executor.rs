//! The executor side of the API: SUBSCRIBE to the local agent at
//! `MESOS_AGENT_ENDPOINT` and send UPDATE / MESSAGE / HEARTBEAT calls.

use http::{StatusCode, Uri};
use tracing::info;

use super::transport::{endpoint_uri, Transport};
use super::{ClientConfig, ClientError, EventStream};
use crate::v1::executor::{call, Call, Event};
use crate::ContentType;

/// Path of the executor API on an agent.
pub const EXECUTOR_API_PATH: &str = "/api/v1/executor";

/// Environment variable in which the agent passes its `host:port`.
pub const AGENT_ENDPOINT_ENV: &str = "MESOS_AGENT_ENDPOINT";

/// Client for an agent's executor API; cheap to clone.
#[derive(Debug, Clone)]
pub struct ExecutorClient {
    transport: Transport,
    endpoint: Uri,
}

impl ExecutorClient {
    /// A client for the agent at `agent_endpoint` (`host:port`, as in
    /// `MESOS_AGENT_ENDPOINT`, or a full `http(s)://` URI), speaking
    /// `config.content_type`.
    pub fn new(agent_endpoint: &str, config: ClientConfig) -> Result<Self, ClientError> {
        let endpoint = endpoint_uri(agent_endpoint, EXECUTOR_API_PATH)?;
        Ok(Self {
            transport: Transport::new(config, std::slice::from_ref(&endpoint))?,
            endpoint,
        })
    }

    /// What calls are sent as and events asked for.
    pub fn content_type(&self) -> ContentType {
        self.transport.content_type()
    }

    /// A client for the agent named by `MESOS_AGENT_ENDPOINT`.
    pub fn from_env(config: ClientConfig) -> Result<Self, ClientError> {
        let endpoint =
            std::env::var(AGENT_ENDPOINT_ENV).map_err(|error| ClientError::InvalidEndpoint {
                endpoint: format!("${AGENT_ENDPOINT_ENV}"),
                reason: error.to_string(),
            })?;
        Self::new(&endpoint, config)
    }

    /// The executor API URI.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    /// Sends a SUBSCRIBE call; the stream starts with SUBSCRIBED.
    pub async fn subscribe(&self, call: &Call) -> Result<EventStream<Event>, ClientError> {
        if call.r#type() != call::Type::Subscribe {
            return Err(ClientError::InvalidCall(
                "subscribe() needs a SUBSCRIBE call".into(),
            ));
        }
        let (_, response) = self
            .transport
            .post(&self.endpoint, self.content_type().encode(call)?, None)
            .await?;
        if response.status() != StatusCode::OK {
            return Err(ClientError::UnexpectedStatus {
                status: response.status(),
                body: String::new(),
            });
        }
        info!(agent = %self.endpoint, "subscribed to the agent");
        let content_type = self.transport.answer_type(&response);
        Ok(EventStream::new(
            response.into_body(),
            self.transport.config().max_event_len,
            content_type,
        ))
    }

    /// Sends any other call; succeeds on `202 Accepted`.
    pub async fn call(&self, call: &Call) -> Result<(), ClientError> {
        if call.r#type() == call::Type::Subscribe {
            return Err(ClientError::InvalidCall(
                "SUBSCRIBE goes through subscribe()".into(),
            ));
        }
        let (_, response) = self
            .transport
            .post(&self.endpoint, self.content_type().encode(call)?, None)
            .await?;
        match response.status() {
            StatusCode::ACCEPTED => Ok(()),
            status => Err(ClientError::UnexpectedStatus {
                status,
                body: String::new(),
            }),
        }
    }
}
