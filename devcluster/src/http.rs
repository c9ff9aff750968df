//! The HTTP side: hyper 1 listeners for the master (`/api/v1/scheduler`,
//! `/devcluster/faults/...`) and for each agent (`/api/v1/executor`), request
//! decoding and status codes, and the endless RecordIO response body of a
//! SUBSCRIBE, which tells the cluster when the client went away.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mesos::client::{EXECUTOR_API_PATH, SCHEDULER_API_PATH, STREAM_ID_HEADER};
use mesos::PROTOBUF_CONTENT_TYPE;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::cluster::Inner;

/// Largest call body accepted.
const MAX_CALL_LEN: usize = 16 * 1024 * 1024;

pub(crate) type Body = Either<Full<Bytes>, EventBody>;

/// Who reads an event stream; told to the cluster when the body is dropped.
#[derive(Debug, Clone)]
pub(crate) enum StreamOwner {
    Scheduler {
        framework_id: String,
        stream_id: String,
    },
    Executor {
        agent: usize,
        framework_id: String,
        executor_id: String,
        stream_seq: u64,
    },
}

/// A SUBSCRIBE response body: RecordIO records pushed by the cluster through
/// a channel; ends when the cluster drops the sender.
pub(crate) struct EventBody {
    rx: mpsc::UnboundedReceiver<Bytes>,
    owner: Option<(Weak<Inner>, StreamOwner)>,
}

impl EventBody {
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<Bytes>,
        inner: Weak<Inner>,
        owner: StreamOwner,
    ) -> Self {
        Self {
            rx,
            owner: Some((inner, owner)),
        }
    }
}

impl Drop for EventBody {
    fn drop(&mut self) {
        if let Some((inner, owner)) = self.owner.take() {
            if let Some(inner) = inner.upgrade() {
                inner.stream_closed(owner);
            }
        }
    }
}

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
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
pub(crate) enum Reply {
    /// 202 Accepted.
    Accepted,
    /// 200 OK with a protobuf body.
    Ok(Bytes),
    /// 200 OK with an event stream (and the scheduler's stream id).
    Stream {
        body: EventBody,
        stream_id: Option<String>,
    },
}

pub(crate) fn text(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(message))));
    *response.status_mut() = status;
    response
}

fn reply(result: Result<Reply, HttpError>) -> Response<Body> {
    match result {
        Ok(Reply::Accepted) => text(StatusCode::ACCEPTED, String::new()),
        Ok(Reply::Ok(bytes)) => {
            let mut response = Response::new(Either::Left(Full::new(bytes)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static(PROTOBUF_CONTENT_TYPE),
            );
            response
        }
        Ok(Reply::Stream { body, stream_id }) => {
            let mut response = Response::new(Either::Right(body));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static(PROTOBUF_CONTENT_TYPE),
            );
            if let Some(id) = stream_id.and_then(|id| http::HeaderValue::from_str(&id).ok()) {
                headers.insert(STREAM_ID_HEADER, id);
            }
            response
        }
        Err(error) => {
            debug!(status = %error.status, message = %error.message, "refusing call");
            text(error.status, error.message)
        }
    }
}

/// Checks method and media types, reads and decodes the call.
async fn read_call<M: prost::Message + Default>(
    request: Request<Incoming>,
) -> Result<M, HttpError> {
    if request.method() != Method::POST {
        return Err(HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Expecting 'POST', received '{}'", request.method()),
        ));
    }
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if content_type.is_empty() {
        return Err(HttpError::bad_request(
            "Expecting 'Content-Type' to be present",
        ));
    }
    if !content_type.starts_with(PROTOBUF_CONTENT_TYPE) {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("devcluster only speaks {PROTOBUF_CONTENT_TYPE}, not {content_type}"),
        ));
    }
    let accept = request
        .headers()
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("*/*");
    if !(accept.contains(PROTOBUF_CONTENT_TYPE) || accept.contains("*/*")) {
        return Err(HttpError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!("devcluster only answers {PROTOBUF_CONTENT_TYPE}"),
        ));
    }
    let body = Limited::new(request.into_body(), MAX_CALL_LEN)
        .collect()
        .await
        .map_err(|error| HttpError::bad_request(format!("cannot read the body: {error}")))?
        .to_bytes();
    M::decode(body)
        .map_err(|error| HttpError::bad_request(format!("Failed to parse body into Call: {error}")))
}

async fn master_service(
    inner: Arc<Inner>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == SCHEDULER_API_PATH {
        let stream_id = request
            .headers()
            .get(STREAM_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let result = match read_call(request).await {
            Ok(call) => inner.scheduler_call(call, stream_id),
            Err(error) => Err(error),
        };
        return Ok(reply(result));
    }
    if let Some(fault) = path.strip_prefix("/devcluster/faults/") {
        if request.method() != Method::POST {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "POST only".into()));
        }
        return Ok(match inner.http_fault(fault) {
            Ok(()) => text(StatusCode::OK, String::new()),
            Err(error) => text(StatusCode::NOT_FOUND, error.to_string()),
        });
    }
    Ok(text(StatusCode::NOT_FOUND, format!("no endpoint {path}")))
}

async fn agent_service(
    inner: Arc<Inner>,
    agent: usize,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    if path != EXECUTOR_API_PATH {
        return Ok(text(StatusCode::NOT_FOUND, format!("no endpoint {path}")));
    }
    let result = match read_call(request).await {
        Ok(call) => inner.executor_call(agent, call),
        Err(error) => Err(error),
    };
    Ok(reply(result))
}

/// Which API a listener serves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Master,
    Agent(usize),
}

/// Accepts connections until the task is aborted; one task per connection.
pub(crate) async fn serve(listener: TcpListener, inner: Weak<Inner>, role: Role) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let inner = inner.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let inner = inner.clone();
                async move {
                    let Some(inner) = inner.upgrade() else {
                        return Ok(text(StatusCode::SERVICE_UNAVAILABLE, "shut down".into()));
                    };
                    match role {
                        Role::Master => master_service(inner, request).await,
                        Role::Agent(agent) => agent_service(inner, agent, request).await,
                    }
                }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}
