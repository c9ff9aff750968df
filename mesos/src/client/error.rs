//! Everything that can go wrong talking to a master or an agent, with the
//! HTTP status codes Mesos uses mapped to their own variants.

use std::time::Duration;

use http::StatusCode;

use crate::recordio::RecordIoError;
use crate::CodecError;

/// An error from a Mesos HTTP call or event stream. Status variants carry the
/// response body, where Mesos explains what it did not like.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The master or agent address cannot be used.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The address as given (or as redirected to).
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The call is not of the kind the method sends.
    #[error("invalid call: {0}")]
    InvalidCall(String),
    /// 400: Mesos rejected the call as malformed or invalid.
    #[error("bad request (400): {0}")]
    BadRequest(String),
    /// 401: authentication is required or failed.
    #[error("unauthorized (401): {0}")]
    Unauthorized(String),
    /// 403: the principal may not do this.
    #[error("forbidden (403): {0}")]
    Forbidden(String),
    /// 404: no such endpoint, or (for calls) the framework is not subscribed.
    #[error("not found (404): {0}")]
    NotFound(String),
    /// 5xx: the master or agent failed (503 also while no master leads).
    #[error("server error ({status}): {body}")]
    ServerError {
        /// The HTTP status.
        status: StatusCode,
        /// The response body.
        body: String,
    },
    /// Any other status than the one the call expects.
    #[error("unexpected HTTP status {status}: {body}")]
    UnexpectedStatus {
        /// The HTTP status.
        status: StatusCode,
        /// The response body.
        body: String,
    },
    /// A redirect whose `Location` is missing or unusable.
    #[error("redirect with unusable Location {0:?}")]
    BadRedirect(String),
    /// A redirect from `https` to `http`: refused, as it would send the
    /// call (and credentials) in the clear.
    #[error("refusing the redirect from {from} to {to}: a downgrade from https to http")]
    InsecureRedirect {
        /// The URI that answered with the redirect.
        from: String,
        /// Where it pointed.
        to: String,
    },
    /// Redirects kept coming (masters disagreeing about the leader).
    #[error("gave up after {0} redirects")]
    TooManyRedirects(usize),
    /// An event holds a value that cannot be used (an absurd interval).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// The SUBSCRIBE answer lacked the `Mesos-Stream-Id` header.
    #[error("SUBSCRIBE response has no usable Mesos-Stream-Id header")]
    MissingStreamId,
    /// No response headers within the configured time.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// Connecting or sending failed.
    #[error("HTTP request failed: {0}")]
    Request(#[from] hyper_util::client::legacy::Error),
    /// Reading the response body failed (includes a dropped connection).
    #[error("reading the response failed: {0}")]
    Body(#[from] hyper::Error),
    /// The event stream's framing is broken.
    #[error(transparent)]
    RecordIo(#[from] RecordIoError),
    /// An event record is not a valid protobuf message.
    #[error("undecodable event: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A JSON event record is not a valid event, or a call could not be
    /// written as JSON (an enum field holding an unknown number).
    #[error("bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The TLS settings cannot be used (unreadable CA file, no certificate in
    /// it, or `https://` without the crate's `tls` feature).
    #[error("TLS: {0}")]
    Tls(String),
}

impl From<CodecError> for ClientError {
    fn from(error: CodecError) -> Self {
        match error {
            CodecError::Protobuf(error) => Self::Decode(error),
            CodecError::Json(error) => Self::Json(error),
        }
    }
}

impl ClientError {
    /// The error for a response with a status the caller did not expect.
    pub fn from_status(status: StatusCode, body: String) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::BadRequest(body),
            StatusCode::UNAUTHORIZED => Self::Unauthorized(body),
            StatusCode::FORBIDDEN => Self::Forbidden(body),
            StatusCode::NOT_FOUND => Self::NotFound(body),
            status if status.is_server_error() => Self::ServerError { status, body },
            status => Self::UnexpectedStatus { status, body },
        }
    }

    /// The HTTP status behind this error, if it came from one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::BadRequest(_) => Some(StatusCode::BAD_REQUEST),
            Self::Unauthorized(_) => Some(StatusCode::UNAUTHORIZED),
            Self::Forbidden(_) => Some(StatusCode::FORBIDDEN),
            Self::NotFound(_) => Some(StatusCode::NOT_FOUND),
            Self::ServerError { status, .. } | Self::UnexpectedStatus { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_their_variants() {
        let body = || "why".to_owned();
        assert!(matches!(
            ClientError::from_status(StatusCode::BAD_REQUEST, body()),
            ClientError::BadRequest(b) if b == "why"
        ));
        assert!(matches!(
            ClientError::from_status(StatusCode::UNAUTHORIZED, body()),
            ClientError::Unauthorized(_)
        ));
        assert!(matches!(
            ClientError::from_status(StatusCode::FORBIDDEN, body()),
            ClientError::Forbidden(_)
        ));
        assert!(matches!(
            ClientError::from_status(StatusCode::NOT_FOUND, body()),
            ClientError::NotFound(_)
        ));
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let error = ClientError::from_status(status, body());
            assert!(matches!(error, ClientError::ServerError { .. }));
            assert_eq!(error.status(), Some(status));
        }
        let error = ClientError::from_status(StatusCode::OK, body());
        assert!(matches!(error, ClientError::UnexpectedStatus { .. }));
        assert_eq!(error.to_string(), "unexpected HTTP status 200 OK: why");
        assert_eq!(
            ClientError::from_status(StatusCode::FORBIDDEN, body()).to_string(),
            "forbidden (403): why"
        );
    }
}
