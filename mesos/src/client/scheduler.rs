//! The scheduler side of the API: SUBSCRIBE to a master (following the
//! redirect to the leader), then send calls tagged with the subscription's
//! `Mesos-Stream-Id` to that same master.
//!
//! The leader a redirect named is remembered for the calls and tried first
//! by the next SUBSCRIBE, but only as a guess: when it cannot be reached (or
//! answers 5xx), SUBSCRIBE falls back to the configured masters in order and
//! follows whatever redirect they give, as Mesos' high-availability guide
//! asks of schedulers after a leader change.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{StatusCode, Uri};
use tracing::{info, warn};

use super::transport::{endpoint_uri, read_response_body, Transport, STREAM_ID_HEADER};
use super::{ClientConfig, ClientError, EventStream};
use crate::v1::scheduler::event::Subscribed;
use crate::v1::scheduler::{call, Call, Event, Response};
use crate::ContentType;

/// Path of the scheduler API on a master.
pub const SCHEDULER_API_PATH: &str = "/api/v1/scheduler";

/// Longest `heartbeat_interval_seconds` taken from a master (Mesos sends
/// 15 s): anything longer would switch off the detection of a dead
/// connection, and is refused as invalid.
pub const MAX_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The heartbeat interval SUBSCRIBED announces: `None` when it names none,
/// an error when it is not a positive number of seconds up to
/// [`MAX_HEARTBEAT_INTERVAL`] (NaN, infinite, 1e300, ...).
pub fn heartbeat_interval(subscribed: &Subscribed) -> Result<Option<Duration>, ClientError> {
    let Some(seconds) = subscribed.heartbeat_interval_seconds else {
        return Ok(None);
    };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|interval| !interval.is_zero() && *interval <= MAX_HEARTBEAT_INTERVAL)
        .map(Some)
        .ok_or_else(|| {
            ClientError::InvalidEvent(format!(
                "SUBSCRIBED.heartbeat_interval_seconds {seconds} is not in (0, {}]",
                MAX_HEARTBEAT_INTERVAL.as_secs()
            ))
        })
}

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
    /// The configured masters' scheduler API URIs, in order (at least one).
    masters: Arc<[Uri]>,
    /// The master a redirect last named as the leader, if any.
    leader: Arc<Mutex<Option<Uri>>>,
}

impl SchedulerClient {
    /// A client for the master at `master` ("host:port", "http://host:port"
    /// or "https://host:port"), speaking `config.content_type`.
    pub fn new(master: &str, config: ClientConfig) -> Result<Self, ClientError> {
        Self::with_masters(&[master], config)
    }

    /// A client for a cluster of masters, tried in this order when the
    /// leader is not known (or has gone). Credentials are sent to these
    /// masters only, never to another host a redirect names.
    pub fn with_masters<S: AsRef<str>>(
        masters: &[S],
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        let masters = masters
            .iter()
            .map(|master| endpoint_uri(master.as_ref(), SCHEDULER_API_PATH))
            .collect::<Result<Vec<_>, _>>()?;
        if masters.is_empty() {
            return Err(ClientError::InvalidEndpoint {
                endpoint: String::new(),
                reason: "no master given".into(),
            });
        }
        Ok(Self {
            transport: Transport::new(config, &masters)?,
            masters: masters.into(),
            leader: Arc::new(Mutex::new(None)),
        })
    }

    /// What calls are sent as and events asked for.
    pub fn content_type(&self) -> ContentType {
        self.transport.content_type()
    }

    /// The configured masters' scheduler API URIs.
    pub fn masters(&self) -> &[Uri] {
        &self.masters
    }

    /// The scheduler API URI calls go to: the leader, once a redirect told
    /// us, else the first configured master.
    pub fn endpoint(&self) -> Uri {
        self.leader().unwrap_or_else(|| self.masters[0].clone())
    }

    /// Sends a SUBSCRIBE call and returns the stream id and event stream.
    /// Tries the remembered leader, then each configured master, moving on
    /// when one cannot be reached or fails (5xx, redirect loops); other
    /// refusals (400, 401, 403, ...) are returned at once.
    pub async fn subscribe(&self, call: &Call) -> Result<SchedulerSubscription, ClientError> {
        if call.r#type() != call::Type::Subscribe || call.subscribe.is_none() {
            return Err(ClientError::InvalidCall(
                "subscribe() needs a SUBSCRIBE call with `subscribe` set".into(),
            ));
        }
        let body = self.content_type().encode(call)?;
        let mut candidates: Vec<Uri> = self.leader().into_iter().collect();
        for master in self.masters.iter() {
            if !candidates.contains(master) {
                candidates.push(master.clone());
            }
        }
        let mut last_error = None;
        for candidate in candidates {
            match self.subscribe_at(&candidate, body.clone()).await {
                Ok(subscription) => return Ok(subscription),
                Err(error) if is_unreachable(&error) => {
                    warn!(master = %candidate, %error, "master unusable; trying the next one");
                    self.forget_leader(&candidate);
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.expect("at least one master is configured"))
    }

    async fn subscribe_at(
        &self,
        endpoint: &Uri,
        body: Bytes,
    ) -> Result<SchedulerSubscription, ClientError> {
        let (leader, response) = self.transport.post(endpoint, body, None).await?;
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
        match self.post_call(stream_id, call).await?.status() {
            StatusCode::ACCEPTED => Ok(()),
            status => Err(ClientError::UnexpectedStatus {
                status,
                body: String::new(),
            }),
        }
    }

    /// Sends a call that the master answers with a body: `200 OK` and a
    /// `scheduler::Response` (RECONCILE_OPERATIONS), in the content type in use.
    pub async fn call_for_response(
        &self,
        stream_id: &str,
        call: &Call,
    ) -> Result<Response, ClientError> {
        let response = self.post_call(stream_id, call).await?;
        match response.status() {
            StatusCode::OK => {
                let body = read_response_body(response).await?;
                Ok(self.content_type().decode(body)?)
            }
            status => Err(ClientError::UnexpectedStatus {
                status,
                body: String::new(),
            }),
        }
    }

    /// POSTs `call` on behalf of `stream_id` to the leader, remembering it.
    async fn post_call(
        &self,
        stream_id: &str,
        call: &Call,
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        let (leader, response) = self
            .transport
            .post(
                &self.endpoint(),
                self.content_type().encode(call)?,
                Some(stream_id),
            )
            .await?;
        self.remember_leader(leader);
        Ok(response)
    }

    fn leader(&self) -> Option<Uri> {
        self.leader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn remember_leader(&self, leader: Uri) {
        *self.leader.lock().unwrap_or_else(PoisonError::into_inner) = Some(leader);
    }

    /// Forgets the leader if it is `gone`.
    fn forget_leader(&self, gone: &Uri) {
        let mut leader = self.leader.lock().unwrap_or_else(PoisonError::into_inner);
        if leader.as_ref() == Some(gone) {
            *leader = None;
        }
    }
}

/// Whether SUBSCRIBE should move on to the next master after `error`: the
/// master is not there, too slow, failing, or not agreeing on a leader.
fn is_unreachable(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Request(_)
            | ClientError::Timeout(_)
            | ClientError::ServerError { .. }
            | ClientError::TooManyRedirects(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribed(seconds: Option<f64>) -> Subscribed {
        Subscribed {
            heartbeat_interval_seconds: seconds,
            ..Default::default()
        }
    }

    #[test]
    fn heartbeat_intervals_are_checked() {
        assert_eq!(heartbeat_interval(&subscribed(None)).unwrap(), None);
        assert_eq!(
            heartbeat_interval(&subscribed(Some(15.0))).unwrap(),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            heartbeat_interval(&subscribed(Some(86_400.0))).unwrap(),
            Some(MAX_HEARTBEAT_INTERVAL)
        );
        for absurd in [1e300, 86_401.0, 0.0, -15.0, f64::NAN, f64::INFINITY] {
            let error = heartbeat_interval(&subscribed(Some(absurd))).unwrap_err();
            assert!(
                matches!(error, ClientError::InvalidEvent(_)),
                "{absurd}: {error}"
            );
        }
    }
}
