//! Client tests against tiny in-process hyper servers on 127.0.0.1 that play
//! master or agent: streamed SUBSCRIBE answers cut at awkward places,
//! redirects, error statuses.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;
use crate::recordio;
use crate::v1::{self, executor, scheduler};
use crate::ContentType;

type TestBody = BoxBody<Bytes, Infallible>;

/// What the test server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A response body fed chunk by chunk from the test; ends when the sender drops.
struct ChunkBody(mpsc::UnboundedReceiver<Bytes>);

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Serves `handler` on 127.0.0.1 (an ephemeral port) for the rest of the test,
/// recording every request in the returned log.
async fn serve<H, F>(handler: H) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>)
where
    H: Fn(Seen) -> F + Send + Sync + 'static,
    F: Future<Output = Response<TestBody>> + Send + 'static,
{
    serve_over(None, handler).await
}

/// [`serve`], with TLS when `tls` is given.
async fn serve_over<H, F>(
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: H,
) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>)
where
    H: Fn(Seen) -> F + Send + Sync + 'static,
    F: Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let handler = Arc::new(handler);
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            let log = server_log.clone();
            let service = service_fn(move |request: Request<Incoming>| {
                let handler = handler.clone();
                let log = log.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    let seen = Seen {
                        method: parts.method,
                        path: parts.uri.path().to_owned(),
                        headers: parts.headers,
                        body,
                    };
                    log.lock().unwrap().push(seen.clone());
                    Ok::<_, Infallible>(handler(seen).await)
                }
            });
            let tls = tls.clone();
            tokio::spawn(async move {
                let builder = http1::Builder::new();
                match tls {
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    Some(acceptor) => {
                        // A client refusing our certificate fails the handshake.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                }
            });
        }
    });
    (addr, log)
}

fn full(status: StatusCode, body: &'static str) -> Response<TestBody> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(body.as_bytes())).boxed())
        .unwrap()
}

/// A 200 streaming `stream` in pieces cut at `cuts`, with a pause between
/// pieces so they leave as separate HTTP chunks.
fn streaming(stream: Bytes, cuts: Vec<usize>, stream_id: Option<&str>) -> Response<TestBody> {
    streaming_as(ContentType::Protobuf, stream, cuts, stream_id)
}

/// [`streaming`], labelled as `kind`.
fn streaming_as(
    kind: ContentType,
    stream: Bytes,
    cuts: Vec<usize>,
    stream_id: Option<&str>,
) -> Response<TestBody> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut start = 0;
        for end in cuts.into_iter().chain([stream.len()]) {
            if end > start {
                let _ = sender.send(stream.slice(start..end));
                start = end;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", kind.mime());
    if let Some(stream_id) = stream_id {
        response = response.header(STREAM_ID_HEADER, stream_id);
    }
    response.body(ChunkBody(receiver).boxed()).unwrap()
}

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("test step timed out")
}

fn subscribe_call() -> scheduler::Call {
    scheduler::Call {
        r#type: Some(scheduler::call::Type::Subscribe as i32),
        subscribe: Some(scheduler::call::Subscribe {
            framework_info: v1::FrameworkInfo {
                user: "root".into(),
                name: "mesos-miner".into(),
                ..Default::default()
            },
            suppressed_roles: vec![],
        }),
        ..Default::default()
    }
}

fn decline_call() -> scheduler::Call {
    scheduler::Call {
        framework_id: Some(v1::FrameworkId {
            value: "fw-1".into(),
        }),
        r#type: Some(scheduler::call::Type::Decline as i32),
        decline: Some(scheduler::call::Decline {
            offer_ids: vec![v1::OfferId {
                value: "offer-1".into(),
            }],
            filters: Some(v1::Filters {
                refuse_seconds: Some(30.0),
            }),
        }),
        ..Default::default()
    }
}

fn scheduler_events() -> Vec<scheduler::Event> {
    use scheduler::event::Type;
    let cpus = v1::Resource {
        name: "cpus".into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value: 2.0 }),
        ..Default::default()
    };
    vec![
        scheduler::Event {
            r#type: Some(Type::Subscribed as i32),
            subscribed: Some(scheduler::event::Subscribed {
                framework_id: v1::FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Default::default()
        },
        scheduler::Event {
            r#type: Some(Type::Heartbeat as i32),
            ..Default::default()
        },
        scheduler::Event {
            r#type: Some(Type::Offers as i32),
            offers: Some(scheduler::event::Offers {
                offers: vec![v1::Offer {
                    id: v1::OfferId {
                        value: "offer-1".into(),
                    },
                    framework_id: v1::FrameworkId {
                        value: "fw-1".into(),
                    },
                    agent_id: v1::AgentId {
                        value: "agent-1".into(),
                    },
                    hostname: "node-a".into(),
                    resources: vec![cpus],
                    ..Default::default()
                }],
            }),
            ..Default::default()
        },
    ]
}

fn framed<M: prost::Message + serde::Serialize>(messages: &[M]) -> Bytes {
    framed_as(ContentType::Protobuf, messages)
}

/// Each message encoded as `kind`, in RecordIO records.
fn framed_as<M: prost::Message + serde::Serialize>(kind: ContentType, messages: &[M]) -> Bytes {
    let mut stream = BytesMut::new();
    for message in messages {
        recordio::encode(&kind.encode(message).unwrap(), &mut stream);
    }
    stream.freeze()
}

/// Cut points that split length lines, separate a length line from its
/// record, break records in the middle, and put the end of one record and
/// the start of the next in one chunk.
fn awkward_cuts(stream: &[u8]) -> Vec<usize> {
    let first_newline = stream.iter().position(|&byte| byte == b'\n').unwrap();
    let mut cuts = vec![1, first_newline, first_newline + 1, first_newline + 4];
    cuts.extend((first_newline + 20..stream.len()).step_by(17));
    cuts.push(stream.len() - 1);
    cuts.retain(|&cut| cut > 0 && cut < stream.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// A master that answers SUBSCRIBE with `events` and other calls with 202.
async fn fake_master(events: Vec<scheduler::Event>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let stream = framed(&events);
    serve(move |seen: Seen| {
        let stream = stream.clone();
        async move {
            let call = scheduler::Call::decode(seen.body.clone()).unwrap();
            if call.r#type() == scheduler::call::Type::Subscribe {
                let cuts = awkward_cuts(&stream);
                streaming(stream, cuts, Some("stream-42"))
            } else if seen.header(STREAM_ID_HEADER) == Some("stream-42") {
                full(StatusCode::ACCEPTED, "")
            } else {
                full(StatusCode::BAD_REQUEST, "missing Mesos-Stream-Id")
            }
        }
    })
    .await
}

#[tokio::test]
async fn scheduler_subscribe_streams_events_split_across_chunks() {
    let events = scheduler_events();
    let (addr, log) = fake_master(events.clone()).await;
    let config = ClientConfig {
        auth: Some(Auth::Basic {
            principal: "miner".into(),
            secret: "s3cret".into(),
        }),
        ..Default::default()
    };
    let client = SchedulerClient::new(&addr.to_string(), config).unwrap();

    let mut subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    assert_eq!(subscription.stream_id, "stream-42");
    let mut received = Vec::new();
    while let Some(event) = within(subscription.events.next()).await {
        received.push(event.unwrap());
    }
    assert_eq!(received, events);

    within(client.call(&subscription.stream_id, &decline_call()))
        .await
        .unwrap();

    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    for seen in log.iter() {
        assert_eq!(seen.method, Method::POST);
        assert_eq!(seen.path, SCHEDULER_API_PATH);
        assert_eq!(seen.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(seen.header("accept"), Some("application/x-protobuf"));
        assert_eq!(seen.header("authorization"), Some("Basic bWluZXI6czNjcmV0"));
    }
    assert_eq!(log[0].header(STREAM_ID_HEADER), None);
    assert_eq!(
        scheduler::Call::decode(log[0].body.clone()).unwrap(),
        subscribe_call()
    );
    assert_eq!(log[1].header(STREAM_ID_HEADER), Some("stream-42"));
    assert_eq!(
        scheduler::Call::decode(log[1].body.clone()).unwrap(),
        decline_call()
    );
}

#[tokio::test]
async fn scheduler_follows_redirect_to_the_leader() {
    let events = scheduler_events();
    let (leader, leader_log) = fake_master(events.clone()).await;
    let location = format!("//127.0.0.1:{}{SCHEDULER_API_PATH}", leader.port());
    let (follower, follower_log) = serve(move |_seen| {
        let location = location.clone();
        async move {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("Location", location)
                .body(Full::new(Bytes::new()).boxed())
                .unwrap()
        }
    })
    .await;

    let client =
        SchedulerClient::new(&format!("http://{follower}"), ClientConfig::default()).unwrap();
    let mut subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    let first = within(subscription.events.next()).await.unwrap().unwrap();
    assert_eq!(first, events[0]);
    assert_eq!(
        client.endpoint().to_string(),
        format!("http://{leader}{SCHEDULER_API_PATH}")
    );

    // Later calls go straight to the leader.
    within(client.call(&subscription.stream_id, &decline_call()))
        .await
        .unwrap();
    assert_eq!(follower_log.lock().unwrap().len(), 1);
    assert_eq!(leader_log.lock().unwrap().len(), 2);
}

/// A server answering every request with a 307 to `location`.
async fn redirector(location: String) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    serve(move |_seen| {
        let location = location.clone();
        async move {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("Location", location)
                .body(Full::new(Bytes::new()).boxed())
                .unwrap()
        }
    })
    .await
}

fn basic_auth() -> ClientConfig {
    ClientConfig {
        auth: Some(Auth::Basic {
            principal: "miner".into(),
            secret: "s3cret".into(),
        }),
        ..Default::default()
    }
}

const BASIC: &str = "Basic bWluZXI6czNjcmV0";

#[tokio::test]
async fn credentials_go_only_to_configured_masters() {
    let (leader, leader_log) = fake_master(scheduler_events()).await;
    let (follower, follower_log) =
        redirector(format!("//127.0.0.1:{}{SCHEDULER_API_PATH}", leader.port())).await;

    // Only the follower is configured: the leader (another origin) gets the
    // call but not the credentials, on the redirect and on later calls.
    let client = SchedulerClient::new(&follower.to_string(), basic_auth()).unwrap();
    let subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    within(client.call(&subscription.stream_id, &decline_call()))
        .await
        .unwrap();
    assert_eq!(
        follower_log.lock().unwrap()[0].header("authorization"),
        Some(BASIC)
    );
    {
        let log = leader_log.lock().unwrap();
        assert_eq!(log.len(), 2);
        assert!(log
            .iter()
            .all(|seen| seen.header("authorization").is_none()));
    }

    // Both configured: both get them.
    let masters = [follower.to_string(), leader.to_string()];
    let client = SchedulerClient::with_masters(&masters, basic_auth()).unwrap();
    let subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    within(client.call(&subscription.stream_id, &decline_call()))
        .await
        .unwrap();
    let log = leader_log.lock().unwrap();
    assert_eq!(log.len(), 4);
    assert!(log[2..]
        .iter()
        .all(|seen| seen.header("authorization") == Some(BASIC)));
}

#[tokio::test]
async fn same_origin_redirects_keep_the_credentials() {
    let (addr, log) = serve(|seen: Seen| async move {
        if seen.path == SCHEDULER_API_PATH {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("Location", "/master/api/v1/scheduler")
                .body(Full::new(Bytes::new()).boxed())
                .unwrap()
        } else {
            streaming(framed(&scheduler_events()), vec![], Some("s"))
        }
    })
    .await;
    let client = SchedulerClient::new(&addr.to_string(), basic_auth()).unwrap();
    within(client.subscribe(&subscribe_call())).await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].path, "/master/api/v1/scheduler");
    assert!(log
        .iter()
        .all(|seen| seen.header("authorization") == Some(BASIC)));
}

#[tokio::test]
async fn a_refusal_after_withheld_credentials_says_so() {
    let (leader, _log) =
        serve(|_seen| async { full(StatusCode::UNAUTHORIZED, "who are you") }).await;
    let (follower, _follower_log) =
        redirector(format!("//127.0.0.1:{}{SCHEDULER_API_PATH}", leader.port())).await;
    let client = SchedulerClient::new(&follower.to_string(), basic_auth()).unwrap();
    let error = within(client.subscribe(&subscribe_call()))
        .await
        .unwrap_err();
    match &error {
        ClientError::Unauthorized(body) => {
            assert!(body.starts_with("who are you"), "{body}");
            assert!(body.contains("credentials were not sent"), "{body}");
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn a_gone_leader_falls_back_to_the_configured_masters() {
    // Two candidate leaders; the follower redirects to whichever leads now.
    let (first, first_log) = fake_master(scheduler_events()).await;
    let (second, second_log) = fake_master(scheduler_events()).await;
    let leading = Arc::new(Mutex::new(first));
    let follower_target = leading.clone();
    let (follower, follower_log) = serve(move |_seen| {
        let location = format!(
            "//127.0.0.1:{}{SCHEDULER_API_PATH}",
            follower_target.lock().unwrap().port()
        );
        async move {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("Location", location)
                .body(Full::new(Bytes::new()).boxed())
                .unwrap()
        }
    })
    .await;
    let client = SchedulerClient::new(&follower.to_string(), ClientConfig::default()).unwrap();
    drop(within(client.subscribe(&subscribe_call())).await.unwrap());
    assert_eq!(client.endpoint().port_u16(), Some(first.port()));

    // The leader moves and the old one goes dark: the remembered leader is
    // a closed port.
    *leading.lock().unwrap() = second;
    let dark = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dark_addr = dark.local_addr().unwrap();
    drop(dark);
    client.remember_leader(
        format!("http://{dark_addr}{SCHEDULER_API_PATH}")
            .parse()
            .unwrap(),
    );

    let subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    assert_eq!(subscription.stream_id, "stream-42");
    assert_eq!(client.endpoint().port_u16(), Some(second.port()));
    assert_eq!(follower_log.lock().unwrap().len(), 2);
    assert_eq!(first_log.lock().unwrap().len(), 1);
    assert_eq!(second_log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_leader_falls_back_too() {
    let (leader, leader_log) =
        serve(|_seen| async { full(StatusCode::SERVICE_UNAVAILABLE, "no longer leading") }).await;
    let (master, master_log) = fake_master(scheduler_events()).await;
    let client = SchedulerClient::new(&master.to_string(), ClientConfig::default()).unwrap();
    client.remember_leader(
        format!("http://{leader}{SCHEDULER_API_PATH}")
            .parse()
            .unwrap(),
    );
    within(client.subscribe(&subscribe_call())).await.unwrap();
    assert_eq!(leader_log.lock().unwrap().len(), 1);
    assert_eq!(master_log.lock().unwrap().len(), 1);
    assert_eq!(client.endpoint().port_u16(), Some(master.port()));

    // Refusals that another master would repeat are not retried elsewhere.
    let (refusing, _log) = serve(|_seen| async { full(StatusCode::FORBIDDEN, "no") }).await;
    client.remember_leader(
        format!("http://{refusing}{SCHEDULER_API_PATH}")
            .parse()
            .unwrap(),
    );
    let error = within(client.subscribe(&subscribe_call()))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Forbidden(_)), "{error}");
    assert_eq!(master_log.lock().unwrap().len(), 1);
}

#[test]
fn a_client_needs_a_master() {
    let none: [&str; 0] = [];
    assert!(matches!(
        SchedulerClient::with_masters(&none, ClientConfig::default()),
        Err(ClientError::InvalidEndpoint { .. })
    ));
}

#[tokio::test]
async fn redirect_loops_are_cut_short() {
    let (addr, log) = serve(|_seen| async {
        Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("Location", SCHEDULER_API_PATH)
            .body(Full::new(Bytes::new()).boxed())
            .unwrap()
    })
    .await;
    let config = ClientConfig {
        max_redirects: 2,
        ..Default::default()
    };
    let client = SchedulerClient::new(&addr.to_string(), config).unwrap();
    let error = within(client.subscribe(&subscribe_call()))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::TooManyRedirects(2)), "{error}");
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn error_statuses_carry_the_body_text() {
    let (addr, _log) = serve(|seen: Seen| async move {
        let call = scheduler::Call::decode(seen.body).unwrap();
        match call.r#type() {
            scheduler::call::Type::Subscribe => {
                full(StatusCode::INTERNAL_SERVER_ERROR, "master exploded\n")
            }
            scheduler::call::Type::Decline => full(StatusCode::BAD_REQUEST, "unknown offer"),
            _ => full(StatusCode::OK, "no stream id here"),
        }
    })
    .await;
    let client = SchedulerClient::new(&addr.to_string(), ClientConfig::default()).unwrap();

    let error = within(client.subscribe(&subscribe_call()))
        .await
        .unwrap_err();
    match &error {
        ClientError::ServerError { status, body } => {
            assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body, "master exploded");
        }
        other => panic!("expected a server error, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "server error (500 Internal Server Error): master exploded"
    );

    let error = within(client.call("stream-1", &decline_call()))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::BadRequest(body) if body == "unknown offer"),
        "{error}"
    );

    // A call answered 200 instead of 202.
    let revive = scheduler::Call {
        r#type: Some(scheduler::call::Type::Revive as i32),
        ..Default::default()
    };
    let error = within(client.call("stream-1", &revive)).await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::OK));
}

#[tokio::test]
async fn subscribe_without_stream_id_fails() {
    let (addr, _log) =
        serve(|_seen| async { streaming(Bytes::from_static(b"2\n\x08\x08"), vec![], None) }).await;
    let client = SchedulerClient::new(&addr.to_string(), ClientConfig::default()).unwrap();
    let error = within(client.subscribe(&subscribe_call()))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::MissingStreamId), "{error}");
}

#[tokio::test]
async fn truncated_stream_reports_the_cut() {
    let mut stream = framed(&scheduler_events()[..1]).to_vec();
    stream.extend_from_slice(b"10\nabc");
    let stream = Bytes::from(stream);
    let (addr, _log) = serve(move |_seen| {
        let stream = stream.clone();
        async move { streaming(stream, vec![5], Some("s")) }
    })
    .await;
    let client = SchedulerClient::new(&addr.to_string(), ClientConfig::default()).unwrap();
    let mut subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    assert!(within(subscription.events.next()).await.unwrap().is_ok());
    let error = within(subscription.events.next())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::RecordIo(recordio::RecordIoError::Truncated { buffered: 3 })
        ),
        "{error}"
    );
    assert!(within(subscription.events.next()).await.is_none());
}

#[tokio::test]
async fn calls_of_the_wrong_kind_are_refused_locally() {
    let client = SchedulerClient::new("127.0.0.1:9", ClientConfig::default()).unwrap();
    assert!(matches!(
        client.subscribe(&decline_call()).await,
        Err(ClientError::InvalidCall(_))
    ));
    assert!(matches!(
        client.call("s", &subscribe_call()).await,
        Err(ClientError::InvalidCall(_))
    ));
}

/// SUBSCRIBED for executor `exec-1` of a mesos-miner framework on `node-a`.
fn executor_subscribed() -> executor::Event {
    executor::Event {
        r#type: Some(executor::event::Type::Subscribed as i32),
        subscribed: Some(executor::event::Subscribed {
            executor_info: v1::ExecutorInfo {
                r#type: Some(v1::executor_info::Type::Custom as i32),
                executor_id: v1::ExecutorId {
                    value: "exec-1".into(),
                },
                ..Default::default()
            },
            framework_info: v1::FrameworkInfo {
                user: "root".into(),
                name: "mesos-miner".into(),
                ..Default::default()
            },
            agent_info: v1::AgentInfo {
                hostname: "node-a".into(),
                ..Default::default()
            },
            container_id: None,
        }),
        ..Default::default()
    }
}

fn executor_call(kind: executor::call::Type) -> executor::Call {
    executor::Call {
        executor_id: v1::ExecutorId {
            value: "exec-1".into(),
        },
        framework_id: v1::FrameworkId {
            value: "fw-1".into(),
        },
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

#[tokio::test]
async fn executor_subscribes_and_sends_updates() {
    use executor::event::Type;
    let events = vec![
        executor_subscribed(),
        executor::Event {
            r#type: Some(Type::Kill as i32),
            kill: Some(executor::event::Kill {
                task_id: v1::TaskId {
                    value: "task-1".into(),
                },
                kill_policy: None,
            }),
            ..Default::default()
        },
    ];
    let stream = framed(&events);
    let (addr, log) = serve(move |seen: Seen| {
        let stream = stream.clone();
        async move {
            let call = executor::Call::decode(seen.body).unwrap();
            match call.r#type() {
                executor::call::Type::Subscribe => {
                    let cuts = awkward_cuts(&stream);
                    streaming(stream, cuts, None)
                }
                _ => full(StatusCode::ACCEPTED, ""),
            }
        }
    })
    .await;

    let client = ExecutorClient::new(&addr.to_string(), ClientConfig::default()).unwrap();
    let mut stream = within(client.subscribe(&executor_call(executor::call::Type::Subscribe)))
        .await
        .unwrap();
    let mut received = Vec::new();
    while let Some(event) = within(stream.next()).await {
        received.push(event.unwrap());
    }
    assert_eq!(received, events);

    let mut update = executor_call(executor::call::Type::Update);
    update.update = Some(executor::call::Update {
        status: v1::TaskStatus {
            task_id: v1::TaskId {
                value: "task-1".into(),
            },
            state: v1::TaskState::TaskKilled as i32,
            source: Some(v1::task_status::Source::Executor as i32),
            uuid: Some(Bytes::from_static(&[9; 16])),
            ..Default::default()
        },
    });
    within(client.call(&update)).await.unwrap();

    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|seen| seen.path == EXECUTOR_API_PATH));
    assert_eq!(executor::Call::decode(log[1].body.clone()).unwrap(), update);
}

/// What a call body holds, decoded by the request's `Content-Type`.
fn decode_call<M: crate::WireMessage>(seen: &Seen) -> M {
    let kind = seen
        .header("content-type")
        .and_then(ContentType::from_mime)
        .expect("a known Content-Type");
    kind.decode(seen.body.clone()).unwrap()
}

#[tokio::test]
async fn scheduler_speaks_json() {
    let events = scheduler_events();
    let stream = framed_as(ContentType::Json, &events);
    // Mesos' JSON records start with `{`: check the fake really sends JSON.
    assert!(stream.windows(3).any(|window| window == b"\n{\""));
    let (addr, log) = serve(move |seen: Seen| {
        let stream = stream.clone();
        async move {
            let call: scheduler::Call = decode_call(&seen);
            if call.r#type() == scheduler::call::Type::Subscribe {
                let cuts = awkward_cuts(&stream);
                streaming_as(ContentType::Json, stream, cuts, Some("stream-7"))
            } else {
                full(StatusCode::ACCEPTED, "")
            }
        }
    })
    .await;
    let config = ClientConfig::default().with_content_type(ContentType::Json);
    let client = SchedulerClient::new(&addr.to_string(), config).unwrap();
    assert_eq!(client.content_type(), ContentType::Json);

    let mut subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    assert_eq!(subscription.events.content_type(), ContentType::Json);
    let mut received = Vec::new();
    while let Some(event) = within(subscription.events.next()).await {
        received.push(event.unwrap());
    }
    assert_eq!(received, events);
    within(client.call(&subscription.stream_id, &decline_call()))
        .await
        .unwrap();

    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    for seen in log.iter() {
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(seen.header("accept"), Some("application/json"));
    }
    let subscribe: serde_json::Value = serde_json::from_slice(&log[0].body).unwrap();
    assert_eq!(
        subscribe,
        serde_json::json!({
            "type": "SUBSCRIBE",
            "subscribe": {"framework_info": {"user": "root", "name": "mesos-miner"}}
        })
    );
    let decline: serde_json::Value = serde_json::from_slice(&log[1].body).unwrap();
    assert_eq!(decline["type"], "DECLINE");
    assert_eq!(
        decline["decline"],
        serde_json::json!({
            "offer_ids": [{"value": "offer-1"}],
            "filters": {"refuse_seconds": 30.0}
        })
    );
    assert_eq!(decode_call::<scheduler::Call>(&log[1]), decline_call());
}

#[tokio::test]
async fn events_are_read_in_the_type_the_server_names() {
    // Asked for JSON, answered protobuf (labelled so): still readable.
    let events = scheduler_events();
    let stream = framed(&events);
    let (addr, _log) = serve(move |_seen| {
        let stream = stream.clone();
        async move { streaming(stream, vec![], Some("s")) }
    })
    .await;
    let config = ClientConfig::default().with_content_type(ContentType::Json);
    let client = SchedulerClient::new(&addr.to_string(), config).unwrap();
    let mut subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    assert_eq!(subscription.events.content_type(), ContentType::Protobuf);
    let first = within(subscription.events.next()).await.unwrap().unwrap();
    assert_eq!(first, events[0]);
}

#[tokio::test]
async fn undecodable_json_event_ends_the_stream() {
    let mut stream = BytesMut::new();
    recordio::encode(br#"{"type":"HEARTBEAT"}"#, &mut stream);
    recordio::encode(br#"{"type":"#, &mut stream);
    let stream = stream.freeze();
    let (addr, _log) = serve(move |_seen| {
        let stream = stream.clone();
        async move { streaming_as(ContentType::Json, stream, vec![], Some("s")) }
    })
    .await;
    let config = ClientConfig::default().with_content_type(ContentType::Json);
    let client = SchedulerClient::new(&addr.to_string(), config).unwrap();
    let mut subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
    let heartbeat = within(subscription.events.next()).await.unwrap().unwrap();
    assert_eq!(heartbeat.r#type(), scheduler::event::Type::Heartbeat);
    let error = within(subscription.events.next())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, ClientError::Json(_)), "{error}");
    assert!(within(subscription.events.next()).await.is_none());
}

#[tokio::test]
async fn executor_speaks_json() {
    use executor::event::Type;
    let events = vec![
        executor_subscribed(),
        executor::Event {
            r#type: Some(Type::Message as i32),
            message: Some(executor::event::Message {
                data: Bytes::from_static(b"\x00binary\xff"),
            }),
            ..Default::default()
        },
    ];
    let stream = framed_as(ContentType::Json, &events);
    let (addr, log) = serve(move |seen: Seen| {
        let stream = stream.clone();
        async move {
            let call: executor::Call = decode_call(&seen);
            match call.r#type() {
                executor::call::Type::Subscribe => {
                    streaming_as(ContentType::Json, stream, vec![7], None)
                }
                _ => full(StatusCode::ACCEPTED, ""),
            }
        }
    })
    .await;
    let config = ClientConfig::default().with_content_type(ContentType::Json);
    let client = ExecutorClient::new(&addr.to_string(), config).unwrap();
    let mut stream = within(client.subscribe(&executor_call(executor::call::Type::Subscribe)))
        .await
        .unwrap();
    let mut received = Vec::new();
    while let Some(event) = within(stream.next()).await {
        received.push(event.unwrap());
    }
    assert_eq!(received, events);

    let mut message = executor_call(executor::call::Type::Message);
    message.message = Some(executor::call::Message {
        data: Bytes::from_static(b"hi"),
    });
    within(client.call(&message)).await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log[1].header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&log[1].body).unwrap();
    assert_eq!(body["type"], "MESSAGE");
    assert_eq!(body["message"]["data"], "aGk=");
    assert_eq!(decode_call::<executor::Call>(&log[1]), message);
}

/// `https://` against a server with a certificate made for the test.
#[cfg(feature = "tls")]
mod tls {
    use std::io::Write as _;

    use super::*;

    /// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1,
    /// and that certificate as a PEM file.
    fn self_signed() -> (tokio_rustls::TlsAcceptor, tempfile::NamedTempFile) {
        let certified = tls_config::testing::self_signed();
        let mut pem = tempfile::NamedTempFile::new().unwrap();
        pem.write_all(certified.pem.as_bytes()).unwrap();
        (
            tokio_rustls::TlsAcceptor::from(Arc::new(certified.server)),
            pem,
        )
    }

    async fn tls_master(
        acceptor: tokio_rustls::TlsAcceptor,
        kind: ContentType,
    ) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
        let stream = framed_as(kind, &scheduler_events());
        serve_over(Some(acceptor), move |seen: Seen| {
            let stream = stream.clone();
            async move {
                let call: scheduler::Call = decode_call(&seen);
                if call.r#type() == scheduler::call::Type::Subscribe {
                    let cuts = awkward_cuts(&stream);
                    streaming_as(kind, stream, cuts, Some("tls-stream"))
                } else {
                    full(StatusCode::ACCEPTED, "")
                }
            }
        })
        .await
    }

    #[tokio::test]
    async fn https_with_a_private_ca_file() {
        let (acceptor, pem) = self_signed();
        for kind in ContentType::ALL {
            let (addr, log) = tls_master(acceptor.clone(), kind).await;
            let config = ClientConfig::default()
                .with_content_type(kind)
                .with_ca_file(pem.path());
            let client = SchedulerClient::new(&format!("https://{addr}"), config).unwrap();
            assert_eq!(client.endpoint().scheme_str(), Some("https"));

            let mut subscription = within(client.subscribe(&subscribe_call())).await.unwrap();
            assert_eq!(subscription.stream_id, "tls-stream");
            let mut received = Vec::new();
            while let Some(event) = within(subscription.events.next()).await {
                received.push(event.unwrap());
            }
            assert_eq!(received, scheduler_events(), "{kind}");
            within(client.call(&subscription.stream_id, &decline_call()))
                .await
                .unwrap();
            assert_eq!(log.lock().unwrap().len(), 2);
        }
    }

    #[tokio::test]
    async fn https_refuses_an_untrusted_certificate() {
        let (acceptor, _pem) = self_signed();
        let (addr, log) = tls_master(acceptor, ContentType::Protobuf).await;
        // The built-in roots do not know the test's certificate.
        let client =
            SchedulerClient::new(&format!("https://{addr}"), ClientConfig::default()).unwrap();
        let error = within(client.subscribe(&subscribe_call()))
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::Request(_)), "{error}");
        let chain = format!("{:?}", std::error::Error::source(&error));
        assert!(chain.contains("UnknownIssuer"), "{chain}");
        assert!(log.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn https_to_http_redirects_are_refused() {
        let (acceptor, pem) = self_signed();
        let (plain, plain_log) = fake_master(scheduler_events()).await;
        let location = format!("http://127.0.0.1:{}{SCHEDULER_API_PATH}", plain.port());
        let (secure, secure_log) = serve_over(Some(acceptor), move |_seen| {
            let location = location.clone();
            async move {
                Response::builder()
                    .status(StatusCode::TEMPORARY_REDIRECT)
                    .header("Location", location)
                    .body(Full::new(Bytes::new()).boxed())
                    .unwrap()
            }
        })
        .await;
        // Even with the http master configured: no credentials, no call,
        // in the clear.
        let masters = [format!("https://{secure}"), format!("http://{plain}")];
        let client =
            SchedulerClient::with_masters(&masters[..1], basic_auth().with_ca_file(pem.path()))
                .unwrap();
        let error = within(client.subscribe(&subscribe_call()))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ClientError::InsecureRedirect { to, .. } if to.starts_with("http://")),
            "{error}"
        );
        let client =
            SchedulerClient::with_masters(&masters, basic_auth().with_ca_file(pem.path())).unwrap();
        let error = within(client.subscribe(&subscribe_call()))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::InsecureRedirect { .. }),
            "{error}"
        );
        assert_eq!(secure_log.lock().unwrap().len(), 2);
        assert!(plain_log.lock().unwrap().is_empty());
    }

    #[test]
    fn unusable_ca_files_are_reported() {
        let mut empty = tempfile::NamedTempFile::new().unwrap();
        empty.write_all(b"not a certificate\n").unwrap();
        for path in [
            empty.path().to_owned(),
            std::path::PathBuf::from("/nonexistent/ca.pem"),
        ] {
            let config = ClientConfig::default().with_ca_file(&path);
            let error = SchedulerClient::new("https://127.0.0.1:1", config).unwrap_err();
            assert!(matches!(error, ClientError::Tls(_)), "{error}");
        }
    }
}
