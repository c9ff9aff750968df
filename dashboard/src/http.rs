//! What both dashboard servers answer with: one response body type (whole bodies, streamed
//! Server-Sent Events, or a forwarded response), the JSON and static-asset responses, and the
//! SSE framing.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use hyper::{header, Response, StatusCode};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::assets;

/// Any error a body may end with (a forwarded response's transport error).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of both servers.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// Any body, boxed (e.g. a forwarded `hyper::body::Incoming`).
pub fn boxed<B>(body: B) -> Body
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A response of `status` with `content_type`.
pub fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// A plain-text error.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let mut text = message.into();
    text.push('\n');
    respond(status, "text/plain; charset=utf-8", text)
}

/// `value` as JSON, uncached.
pub fn json<T: Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = respond(StatusCode::OK, "application/json", body);
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("does not serialize: {e}"),
        ),
    }
}

/// The page or asset at `path`, if it is one.
pub fn asset(path: &str) -> Option<Response<Body>> {
    let (content_type, bytes) = assets::get(path)?;
    Some(respond(
        StatusCode::OK,
        content_type,
        Bytes::from_static(bytes),
    ))
}

/// One Server-Sent Event: `event: <event>` and its data (one line of JSON).
pub fn sse_event<T: Serialize>(event: &str, data: &T) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// A comment line: keeps idle connections (and proxies between) open.
pub fn sse_keepalive() -> Bytes {
    Bytes::from_static(b": keepalive\n\n")
}

/// A `text/event-stream` response whose events come from `events`; it ends when the sender
/// is dropped. The sender sees the client leave as a failed send.
pub fn sse_response(events: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut response = Response::new(Body::new(EventBody(events)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// A body streaming what a channel receives.
struct EventBody(mpsc::Receiver<Bytes>);

impl HttpBody for EventBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_stream_until_the_sender_goes() {
        let (tx, rx) = mpsc::channel(4);
        let response = sse_response(rx);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        tx.send(sse_event("pool", &serde_json::json!({"a": 1})))
            .await
            .unwrap();
        drop(tx);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"event: pool\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn pages_and_assets_are_served_and_others_not() {
        for path in ["/", "/index.html", "/assets/app.js", "/assets/style.css"] {
            let response = asset(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert!(asset("/assets/../Cargo.toml").is_none());
        assert!(asset("/api/v1/pool").is_none());
    }
}
