//! The HTTP side: hyper 1 listeners for the master (`/api/v1/scheduler`, `/master/state`;
//! `/devcluster/faults/...` and the maintenance endpoints
//! `/maintenance/schedule`, `/machine/down`, `/machine/up` when enabled) and for each agent
//! (`/api/v1/executor`, `/slave(1)/state`), request decoding and status codes, framework
//! authentication (see [`crate::auth`]), redirects from masters that do not
//! lead, and the endless RecordIO response body of a SUBSCRIBE, which tells
//! the cluster when the client went away.
//!
//! Like Mesos, both APIs speak protobuf and JSON: a call is decoded by its
//! `Content-Type`, and the answer is written in the type its `Accept` asks
//! for (a missing `Accept` or `*/*` means the call's own type). The cluster
//! itself only ever sees and writes protobuf: JSON answers are transcoded
//! here, record by record.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll};

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
use mesos::v1::{executor, scheduler};
use mesos::{recordio, CodecError, ContentType, WireMessage};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::reply::{HttpError, Reply, StreamOwner};
use crate::runtime::{Inner, Leading};

/// Largest call body accepted.
const MAX_CALL_LEN: usize = 16 * 1024 * 1024;

type Body = Either<Full<Bytes>, EventBody>;

/// Rewrites one protobuf message (an event record's payload, or a call's
/// answer) as JSON.
type ToJson = fn(Bytes) -> Result<Bytes, CodecError>;

fn to_json<M: WireMessage>(protobuf: Bytes) -> Result<Bytes, CodecError> {
    let message: M = ContentType::Protobuf.decode(protobuf)?;
    ContentType::Json.encode(&message)
}

/// The message types of one API, for writing its answers as JSON.
#[derive(Clone, Copy)]
struct Api {
    event: ToJson,
    /// The body of a `200 OK` answer to a call other than SUBSCRIBE.
    response: Option<ToJson>,
}

const SCHEDULER_API: Api = Api {
    event: to_json::<scheduler::Event>,
    response: Some(to_json::<scheduler::Response>),
};

const EXECUTOR_API: Api = Api {
    event: to_json::<executor::Event>,
    response: None,
};

/// A SUBSCRIBE response body: RecordIO records pushed by the cluster through
/// a channel (protobuf, one record per message); ends when the cluster drops
/// the sender. Transcoded to JSON records when the subscriber asked for JSON.
struct EventBody {
    rx: mpsc::UnboundedReceiver<Bytes>,
    owner: Option<(Weak<Inner>, StreamOwner)>,
    json: Option<JsonRecords>,
}

/// Turns protobuf RecordIO records into JSON ones.
struct JsonRecords {
    decoder: recordio::Decoder,
    to_json: ToJson,
}

impl JsonRecords {
    /// The JSON records of the complete protobuf records in `chunk` (and
    /// any earlier partial one); empty while a record is incomplete.
    fn transcode(&mut self, chunk: &[u8]) -> Bytes {
        self.decoder.feed(chunk);
        let mut out = bytes::BytesMut::new();
        loop {
            match self.decoder.next_record() {
                Ok(Some(record)) => match (self.to_json)(record) {
                    Ok(json) => recordio::encode(&json, &mut out),
                    Err(error) => warn!(%error, "event not writable as JSON; dropped"),
                },
                Ok(None) => break,
                Err(error) => {
                    // Our own framing: cannot happen.
                    warn!(%error, "broken event framing");
                    break;
                }
            }
        }
        out.freeze()
    }
}

impl EventBody {
    fn new(rx: mpsc::UnboundedReceiver<Bytes>, inner: Weak<Inner>, owner: StreamOwner) -> Self {
        Self {
            rx,
            owner: Some((inner, owner)),
            json: None,
        }
    }

    /// Writes the events as JSON records from now on.
    fn as_json(&mut self, to_json: ToJson) {
        self.json = Some(JsonRecords {
            decoder: recordio::Decoder::default(),
            to_json,
        });
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
        let this = self.get_mut();
        loop {
            let Some(chunk) = ready!(this.rx.poll_recv(cx)) else {
                return Poll::Ready(None);
            };
            let chunk = match &mut this.json {
                None => chunk,
                Some(json) => json.transcode(&chunk),
            };
            if !chunk.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
        }
    }
}

/// A `200` with a JSON document.
fn json_response(body: String) -> Response<Body> {
    let mut response = text(StatusCode::OK, body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn text(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(message))));
    *response.status_mut() = status;
    response
}

/// The HTTP answer to a call of `api`, written as `answer`.
fn reply(
    inner: &Arc<Inner>,
    result: Result<Reply, HttpError>,
    api: Api,
    answer: ContentType,
) -> Response<Body> {
    let content_type = http::HeaderValue::from_static(answer.mime());
    match result {
        Ok(Reply::Accepted) => text(StatusCode::ACCEPTED, String::new()),
        Ok(Reply::Ok(bytes)) => {
            let bytes = match (answer, api.response) {
                (ContentType::Json, Some(to_json)) => match to_json(bytes) {
                    Ok(json) => json,
                    Err(error) => {
                        return text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("cannot write the answer as JSON: {error}"),
                        )
                    }
                },
                _ => bytes,
            };
            let mut response = Response::new(Either::Left(Full::new(bytes)));
            response.headers_mut().insert(CONTENT_TYPE, content_type);
            response
        }
        Ok(Reply::Stream {
            events,
            owner,
            stream_id,
        }) => {
            let mut body = EventBody::new(events, Arc::downgrade(inner), owner);
            if answer == ContentType::Json {
                body.as_json(api.event);
            }
            let mut response = Response::new(Either::Right(body));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, content_type);
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

/// Checks method and media types, reads and decodes the call. Returns it
/// with the type to answer in.
async fn read_call<M: WireMessage>(
    request: Request<Incoming>,
) -> Result<(M, ContentType), HttpError> {
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
    let Some(call_type) = ContentType::from_mime(content_type) else {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Expecting 'Content-Type' of {} or {}, not {content_type}",
                ContentType::Json.mime(),
                ContentType::Protobuf.mime()
            ),
        ));
    };
    let accept = request
        .headers()
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok());
    let Some(answer_type) = ContentType::from_accept(accept, call_type) else {
        return Err(HttpError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Expecting 'Accept' to allow {} or {}",
                ContentType::Json.mime(),
                ContentType::Protobuf.mime()
            ),
        ));
    };
    let body = Limited::new(request.into_body(), MAX_CALL_LEN)
        .collect()
        .await
        .map_err(|error| HttpError::bad_request(format!("cannot read the body: {error}")))?
        .to_bytes();
    let call = call_type.decode(body).map_err(|error| {
        HttpError::bad_request(format!("Failed to parse body into Call: {error}"))
    })?;
    Ok((call, answer_type))
}

/// How a master that does not lead answers a scheduler call, as Mesos'
/// masters do: `307` to the leader (a scheme-relative `Location`), or `503`
/// while none leads.
fn not_leading(leading: Leading) -> Option<Response<Body>> {
    match leading {
        Leading::Yes => None,
        Leading::Elsewhere(leader) => {
            let mut response = text(StatusCode::TEMPORARY_REDIRECT, String::new());
            let location = format!("//{leader}{SCHEDULER_API_PATH}");
            if let Ok(value) = http::HeaderValue::from_str(&location) {
                response.headers_mut().insert(http::header::LOCATION, value);
            }
            Some(response)
        }
        Leading::Nobody => Some(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "No leader elected".into(),
        )),
    }
}

/// The principal the request authenticates as (`None` when the cluster
/// does not authenticate), or why it does not.
fn authenticate(
    inner: &Inner,
    request: &Request<Incoming>,
) -> Result<Option<String>, crate::auth::AuthError> {
    let Some(credentials) = &inner.credentials else {
        return Ok(None);
    };
    let authorization = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    credentials.authenticate(authorization).map(Some)
}

/// The `401` for a request that did not authenticate, with the challenge.
fn unauthorized(error: crate::auth::AuthError) -> Response<Body> {
    debug!(%error, "refusing an unauthenticated request");
    let mut response = text(StatusCode::UNAUTHORIZED, error.to_string());
    let challenge = format!("Basic realm=\"{}\"", crate::auth::REALM);
    if let Ok(value) = http::HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Refuses a SUBSCRIBE whose `FrameworkInfo.principal` is not the one the
/// request authenticated as.
fn check_principal(call: &scheduler::Call, principal: Option<&str>) -> Result<(), HttpError> {
    let claimed = call
        .subscribe
        .as_ref()
        .and_then(|subscribe| subscribe.framework_info.principal.as_deref());
    match (principal, claimed) {
        (Some(principal), Some(claimed)) if principal != claimed => {
            Err(HttpError::bad_request(format!(
                "Authenticated principal '{principal}' does not match principal \
                 '{claimed}' set in `FrameworkInfo`"
            )))
        }
        _ => Ok(()),
    }
}

async fn master_service(
    inner: Arc<Inner>,
    index: usize,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == SCHEDULER_API_PATH {
        let principal = match authenticate(&inner, &request) {
            Ok(principal) => principal,
            Err(error) => return Ok(unauthorized(error)),
        };
        if let Some(response) = not_leading(inner.leading(index)) {
            return Ok(response);
        }
        let stream_id = request
            .headers()
            .get(STREAM_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let (result, answer) = match read_call::<scheduler::Call>(request).await {
            Ok((call, answer)) => {
                let result = check_principal(&call, principal.as_deref())
                    .and_then(|()| inner.scheduler_call(call, stream_id));
                (result, answer)
            }
            Err(error) => (Err(error), ContentType::Protobuf),
        };
        return Ok(reply(&inner, result, SCHEDULER_API, answer));
    }
    if let Some(fault) = path
        .strip_prefix("/devcluster/faults/")
        .filter(|_| inner.fault_endpoints)
    {
        if let Err(error) = authenticate(&inner, &request) {
            return Ok(unauthorized(error));
        }
        if request.method() != Method::POST {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "POST only".into()));
        }
        return Ok(match inner.http_fault(fault) {
            Ok(()) => text(StatusCode::OK, String::new()),
            Err(error @ crate::Error::InvalidFault(_)) => {
                text(StatusCode::BAD_REQUEST, error.to_string())
            }
            Err(error) => text(StatusCode::NOT_FOUND, error.to_string()),
        });
    }
    if matches!(path.as_str(), "/master/state" | "/state") {
        if let Err(error) = authenticate(&inner, &request) {
            return Ok(unauthorized(error));
        }
        if request.method() != Method::GET {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "GET only".into()));
        }
        if let Some(response) = not_leading(inner.leading(index)) {
            return Ok(response);
        }
        let body = crate::master_state::master_state(&inner.lock()).to_string();
        return Ok(json_response(body));
    }
    if MAINTENANCE_PATHS.contains(&path.as_str()) && inner.fault_endpoints {
        if let Err(error) = authenticate(&inner, &request) {
            return Ok(unauthorized(error));
        }
        if let Some(response) = not_leading(inner.leading(index)) {
            return Ok(response);
        }
        return Ok(maintenance_service(&inner, request).await);
    }
    Ok(text(StatusCode::NOT_FOUND, format!("no endpoint {path}")))
}

/// The maintenance operator endpoints (see [`crate::maintenance`]), served
/// with the fault endpoints.
const MAINTENANCE_PATHS: [&str; 3] = ["/maintenance/schedule", "/machine/down", "/machine/up"];

async fn maintenance_service(inner: &Inner, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if !(method == Method::POST || (method == Method::GET && path == "/maintenance/schedule")) {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Expecting 'POST', received '{method}'"),
        );
    }
    let body = match Limited::new(request.into_body(), MAX_CALL_LEN)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {error}"),
            )
        }
    };
    let result = {
        let mut state = inner.lock();
        let result = match (method, path.as_str()) {
            (Method::GET, _) => state.get_schedule(),
            (_, "/maintenance/schedule") => state.post_schedule(&body),
            (_, "/machine/down") => state.post_machine_down(&body),
            _ => state.post_machine_up(&body),
        };
        if state.allocation_needed {
            state.allocate();
        }
        result
    };
    match result {
        Ok(json) if json.is_empty() => text(StatusCode::OK, json),
        Ok(json) => {
            let mut response = text(StatusCode::OK, json);
            response.headers_mut().insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(message) => text(StatusCode::BAD_REQUEST, message),
    }
}

async fn agent_service(
    inner: Arc<Inner>,
    agent: usize,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    if matches!(path.as_str(), "/slave(1)/state" | "/state") {
        if request.method() != Method::GET {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "GET only".into()));
        }
        let body = crate::master_state::agent_state(&inner.lock(), agent).to_string();
        return Ok(json_response(body));
    }
    if path != EXECUTOR_API_PATH {
        return Ok(text(StatusCode::NOT_FOUND, format!("no endpoint {path}")));
    }
    let (result, answer) = match read_call(request).await {
        Ok((call, answer)) => (inner.executor_call(agent, call), answer),
        Err(error) => (Err(error), ContentType::Protobuf),
    };
    Ok(reply(&inner, result, EXECUTOR_API, answer))
}

/// Which API a listener serves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    /// The master at this address index.
    Master(usize),
    Agent(usize),
}

/// Accepts connections until the task is aborted; one task per connection,
/// all of them cut when this one is aborted.
pub(crate) async fn serve(listener: TcpListener, inner: Weak<Inner>, role: Role) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
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
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let inner = inner.clone();
                async move {
                    let Some(inner) = inner.upgrade() else {
                        return Ok(text(StatusCode::SERVICE_UNAVAILABLE, "shut down".into()));
                    };
                    match role {
                        Role::Master(index) => master_service(inner, index, request).await,
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

#[cfg(test)]
mod tests {
    //! Both encodings against a running cluster: the mesos client in JSON,
    //! and raw requests checking what goes over the wire.

    use std::time::Duration;

    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use mesos::client::{ClientConfig, SchedulerClient};
    use mesos::v1::scheduler::{call, event, Call, Event};
    use mesos::v1::FrameworkInfo;

    use super::*;
    use crate::{Cluster, ClusterConfig};

    const PATIENCE: Duration = Duration::from_secs(60);

    async fn cluster(dir: &std::path::Path) -> Cluster {
        Cluster::start(ClusterConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            agents: 1,
            cpus: 2.0,
            mem_mb: 1024.0,
            ports: (31000, 31009),
            work_dir: dir.to_path_buf(),
            heartbeat_interval: Duration::from_secs(1),
            allocation_interval: Duration::from_millis(100),
            ..ClusterConfig::default()
        })
        .await
        .unwrap()
    }

    fn subscribe_call() -> Call {
        Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "nobody".into(),
                    name: "json-test".into(),
                    ..Default::default()
                },
                suppressed_roles: vec![],
            }),
            ..Default::default()
        }
    }

    /// POSTs `body` with the given headers; `None` leaves a header out.
    async fn post(
        url: String,
        content_type: &str,
        accept: Option<&str>,
        stream_id: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Response<Incoming> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut request = Request::post(url).header(CONTENT_TYPE, content_type);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(stream_id) = stream_id {
            request = request.header(STREAM_ID_HEADER, stream_id);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        tokio::time::timeout(PATIENCE, client.request(request))
            .await
            .expect("answer in time")
            .unwrap()
    }

    async fn text_of(response: Response<Incoming>) -> String {
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&body).into_owned()
    }

    /// The first RecordIO record of a streamed answer.
    async fn first_record(response: &mut Response<Incoming>) -> Bytes {
        let mut decoder = recordio::Decoder::default();
        loop {
            if let Some(record) = decoder.next_record().unwrap() {
                return record;
            }
            let frame = tokio::time::timeout(PATIENCE, response.body_mut().frame())
                .await
                .expect("a record in time")
                .expect("stream open")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                decoder.feed(&data);
            }
        }
    }

    fn media_type<B>(response: &Response<B>) -> &str {
        response.headers()[CONTENT_TYPE].to_str().unwrap()
    }

    async fn next_event(events: &mut mesos::client::EventStream<Event>) -> Event {
        tokio::time::timeout(PATIENCE, events.next())
            .await
            .expect("an event in time")
            .expect("stream open")
            .unwrap()
    }

    #[tokio::test]
    async fn scheduler_client_in_json() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster(dir.path()).await;
        let config = ClientConfig::default().with_content_type(ContentType::Json);
        let client = SchedulerClient::new(&cluster.master_addr().to_string(), config).unwrap();
        let mut subscription = client.subscribe(&subscribe_call()).await.unwrap();
        assert_eq!(subscription.events.content_type(), ContentType::Json);

        let subscribed = next_event(&mut subscription.events).await;
        assert_eq!(subscribed.r#type(), event::Type::Subscribed);
        let framework_id = subscribed.subscribed.unwrap().framework_id;
        let offers = loop {
            let event = next_event(&mut subscription.events).await;
            if event.r#type() == event::Type::Offers {
                break event.offers.unwrap().offers;
            }
        };
        let ports = crate::resources::ports(&offers[0].resources);
        assert_eq!(ports, [(31000, 31009)]);

        // A JSON DECLINE is accepted and understood: the declined offer does
        // not come back within its filter.
        let decline = Call {
            framework_id: Some(framework_id),
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: offers.iter().map(|offer| offer.id.clone()).collect(),
                filters: Some(mesos::v1::Filters {
                    refuse_seconds: Some(3600.0),
                }),
            }),
            ..Default::default()
        };
        client
            .call(&subscription.stream_id, &decline)
            .await
            .unwrap();
        let offered_again = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                let event = next_event(&mut subscription.events).await;
                if event.r#type() == event::Type::Offers {
                    return event;
                }
            }
        })
        .await;
        assert!(
            offered_again.is_err(),
            "declined offers came back: {offered_again:?}"
        );
    }

    #[tokio::test]
    async fn scheduler_api_answers_in_the_accepted_type() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster(dir.path()).await;
        let url = format!("http://{}{SCHEDULER_API_PATH}", cluster.master_addr());
        let json_subscribe = br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"nobody","name":"curl"}}}"#;

        // JSON in, JSON out (no Accept: the call's own type).
        let mut response = post(
            url.clone(),
            "application/json",
            None,
            None,
            &json_subscribe[..],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(media_type(&response), "application/json");
        let stream_id = response.headers()[STREAM_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let record = first_record(&mut response).await;
        let text = String::from_utf8_lossy(&record).into_owned();
        assert!(
            text.starts_with(r#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":""#),
            "{text}"
        );
        let subscribed: Event = ContentType::Json.decode(record).unwrap();
        let subscribed = subscribed.subscribed.unwrap();
        assert_eq!(subscribed.heartbeat_interval_seconds, Some(1.0));
        let framework_id = subscribed.framework_id.value;

        // A call with a `200 OK` body answers in JSON too.
        let reconcile = format!(
            r#"{{"framework_id":{{"value":"{framework_id}"}},"type":"RECONCILE_OPERATIONS","reconcile_operations":{{}}}}"#
        );
        let answer = post(
            url.clone(),
            "application/json",
            Some("application/json"),
            Some(&stream_id),
            reconcile,
        )
        .await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(media_type(&answer), "application/json");
        let text = text_of(answer).await;
        assert!(
            text.starts_with(r#"{"type":"RECONCILE_OPERATIONS""#),
            "{text}"
        );
        drop(response);

        // JSON in, protobuf out.
        let mut response = post(
            url.clone(),
            "application/json; charset=utf-8",
            Some("application/x-protobuf"),
            None,
            &json_subscribe[..],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(media_type(&response), "application/x-protobuf");
        let record = first_record(&mut response).await;
        let event: Event = ContentType::Protobuf.decode(record).unwrap();
        assert_eq!(event.r#type(), event::Type::Subscribed);
        drop(response);

        // Protobuf in, JSON out.
        let protobuf_subscribe = ContentType::Protobuf.encode(&subscribe_call()).unwrap();
        let mut response = post(
            url.clone(),
            "application/x-protobuf",
            Some("application/json"),
            None,
            protobuf_subscribe,
        )
        .await;
        assert_eq!(media_type(&response), "application/json");
        let record = first_record(&mut response).await;
        let event: Event = ContentType::Json.decode(record).unwrap();
        assert_eq!(event.r#type(), event::Type::Subscribed);
        drop(response);

        // Refusals: unknown media type, nothing acceptable, bad JSON.
        let answer = post(url.clone(), "text/plain", None, None, "hi").await;
        assert_eq!(answer.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let answer = post(
            url.clone(),
            "application/json",
            Some("text/html"),
            None,
            &json_subscribe[..],
        )
        .await;
        assert_eq!(answer.status(), StatusCode::NOT_ACCEPTABLE);
        let answer = post(url, "application/json", None, None, r#"{"type":"#).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        assert!(text_of(answer)
            .await
            .contains("Failed to parse body into Call"));
    }

    #[tokio::test]
    async fn executor_api_reads_json_calls() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster(dir.path()).await;
        let agent = &cluster.agents()[0];
        let url = format!("http://{}{EXECUTOR_API_PATH}", agent.endpoint);

        let answer = post(url.clone(), "application/json", None, None, "[]").await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        assert!(text_of(answer)
            .await
            .contains("Failed to parse body into Call"));

        // A well-formed JSON call reaches the agent, which knows no such
        // executor.
        let subscribe = r#"{"type":"SUBSCRIBE","framework_id":{"value":"fw-x"},"executor_id":{"value":"exec-x"},"subscribe":{}}"#;
        let answer = post(url, "application/json", None, None, subscribe).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            text_of(answer).await,
            "Executor exec-x of framework fw-x cannot be found"
        );
    }
}
