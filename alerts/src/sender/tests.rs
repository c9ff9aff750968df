//! Delivery against a local HTTP receiver that answers a scripted status per request.

use super::*;
use crate::Kind;
use std::sync::Mutex;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// Requests received (bodies) and the statuses to answer, in order (then 200).
#[derive(Default)]
struct Script {
    statuses: Mutex<Vec<u16>>,
    bodies: Mutex<Vec<String>>,
    /// Seconds to wait before answering.
    hang: Mutex<f64>,
}

async fn receiver(statuses: &[u16]) -> (String, Arc<Script>) {
    receiver_with(statuses, None).await
}

/// [`receiver`] over TLS with `tls` when given (its URL is then `https://`).
async fn receiver_with(
    statuses: &[u16],
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (String, Arc<Script>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}/hook", listener.local_addr().unwrap());
    let script = Arc::new(Script::default());
    *script.statuses.lock().unwrap() = statuses.iter().rev().copied().collect();
    let s = Arc::clone(&script);
    tokio::spawn(async move {
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            let (s, tls) = (Arc::clone(&s), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(conn) = acceptor.accept(conn).await {
                            answer(conn, s).await;
                        }
                    }
                    None => answer(conn, s).await,
                }
            });
        }
    });
    (url, script)
}

/// Reads one request from `conn`, records its body and answers the script's next status.
async fn answer<C: AsyncRead + AsyncWrite + Unpin>(mut conn: C, s: Arc<Script>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, length) = loop {
        let n = conn.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            break (end + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    s.bodies.lock().unwrap().push(body);
    let hang = *s.hang.lock().unwrap();
    tokio::time::sleep(Duration::from_secs_f64(hang)).await;
    let status = s.statuses.lock().unwrap().pop().unwrap_or(200);
    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = conn.write_all(reply.as_bytes()).await;
}

fn config(urls: Vec<String>, retries: u32) -> SenderConfig {
    SenderConfig {
        urls,
        timeout: Duration::from_millis(500),
        retries,
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        queue: 4,
        ca_file: None,
    }
}

fn event(n: u64) -> Event {
    Event::now(
        Kind::BlockFound,
        "test",
        format!("block {n}"),
        serde_json::json!({ "height": n }),
    )
}

async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_delivered() {
    let (url, script) = receiver(&[500, 503]).await;
    let sender = Sender::start(&config(vec![url], 5)).unwrap();
    sender.send(event(7));
    let c = sender.counters();
    until("delivery", || c.sent.load(Ordering::Relaxed) == 1).await;
    assert_eq!(c.retries.load(Ordering::Relaxed), 2);
    assert_eq!(c.failed.load(Ordering::Relaxed), 0);
    let bodies = script.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3, "two failures and the success");
    let v: serde_json::Value = serde_json::from_str(&bodies[2]).unwrap();
    assert_eq!(v["kind"], "block_found");
    assert_eq!(v["details"]["height"], 7);
}

#[tokio::test]
async fn client_errors_are_final_and_retries_run_out() {
    let (url, script) = receiver(&[404, 500, 500, 500]).await;
    let sender = Sender::start(&config(vec![url], 2)).unwrap();
    let c = sender.counters();
    sender.send(event(1));
    until("a final 404", || c.failed.load(Ordering::Relaxed) == 1).await;
    assert_eq!(c.retries.load(Ordering::Relaxed), 0);
    sender.send(event(2));
    until("retries exhausted", || {
        c.failed.load(Ordering::Relaxed) == 2
    })
    .await;
    assert_eq!(c.retries.load(Ordering::Relaxed), 2);
    assert_eq!(script.bodies.lock().unwrap().len(), 4);
    assert_eq!(c.sent.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_dead_endpoint_fails_and_a_full_queue_drops_without_blocking() {
    // Nothing listens here.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let (slow, script) = receiver(&[]).await;
    *script.hang.lock().unwrap() = 0.3;
    let sender = Sender::start(&config(vec![dead, slow], 0)).unwrap();
    let c = sender.counters();
    let started = Instant::now();
    for n in 0..20 {
        sender.send(event(n));
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "send blocked for {:?}",
        started.elapsed()
    );
    let dropped = c.dropped.load(Ordering::Relaxed);
    // Each URL's queue holds 4 (its task may have taken one more): at least 15 of each 20 drop.
    assert!((30..=32).contains(&dropped), "dropped {dropped}");
    until("the slow URL's queue drained", || {
        c.sent.load(Ordering::Relaxed) + c.failed.load(Ordering::Relaxed) == 40 - dropped
    })
    .await;
    assert!(c.failed.load(Ordering::Relaxed) >= 4, "the dead URL fails");
    assert!(c.sent.load(Ordering::Relaxed) >= 4, "the slow URL delivers");
}

#[tokio::test]
async fn https_webhooks_are_posted_to_a_receiver_the_ca_file_vouches_for() {
    use std::io::Write as _;
    let certified = tls_config::testing::self_signed();
    let mut ca = tempfile::NamedTempFile::new().unwrap();
    ca.write_all(certified.pem.as_bytes()).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(certified.server));
    let (url, script) = receiver_with(&[], Some(acceptor.clone())).await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let trusting = Sender::start(&SenderConfig {
        ca_file: Some(ca.path().to_owned()),
        ..config(vec![url.clone()], 0)
    })
    .unwrap();
    trusting.send(event(1));
    until("the POST over TLS", || {
        trusting.counters().sent.load(Ordering::Relaxed) == 1
    })
    .await;
    let bodies = script.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(body["details"]["height"], 1);
    // Without the CA file the self-signed receiver is not trusted: the POST fails, and
    // nothing reaches it.
    let (url, script) = receiver_with(&[], Some(acceptor)).await;
    let doubting = Sender::start(&config(vec![url], 0)).unwrap();
    doubting.send(event(2));
    until("the refused certificate", || {
        doubting.counters().failed.load(Ordering::Relaxed) == 1
    })
    .await;
    assert!(script.bodies.lock().unwrap().is_empty());
    // A CA file that is not one is an error naming the flag.
    let mut junk = tempfile::NamedTempFile::new().unwrap();
    junk.write_all(b"junk").unwrap();
    let error = Sender::start(&SenderConfig {
        ca_file: Some(junk.path().to_owned()),
        ..config(vec!["https://127.0.0.1:1/".into()], 0)
    })
    .unwrap_err()
    .to_string();
    assert!(error.contains("--alert-ca-file"), "{error}");
}

#[test]
fn only_http_and_https_urls_are_taken() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    for url in ["not a url", "ftp://x/", "file:///etc/passwd"] {
        let e = Sender::start(&config(vec![url.into()], 0)).unwrap_err();
        assert!(e.to_string().contains("--alert-url"), "{e}");
    }
    assert!(!Sender::disabled().enabled());
    Sender::disabled().send(event(0));
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_retried_then_given_up() {
    // The receiver takes 1.5 s to answer; each POST may take 0.5 s.
    let (url, script) = receiver(&[]).await;
    *script.hang.lock().unwrap() = 1.5;
    let sender = Sender::start(&config(vec![url], 2)).unwrap();
    let c = sender.counters();
    let started = Instant::now();
    sender.send(event(3));
    until("the timeouts to use up the retries", || {
        c.failed.load(Ordering::Relaxed) == 1
    })
    .await;
    let took = started.elapsed();
    // Three tries cut off at the timeout, with the backoff between them: well under the
    // 4.5 s the receiver would have taken to answer them all.
    assert_eq!(c.retries.load(Ordering::Relaxed), 2);
    assert_eq!(c.sent.load(Ordering::Relaxed), 0);
    assert_eq!(script.bodies.lock().unwrap().len(), 3);
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(3000),
        "{took:?}"
    );
}
