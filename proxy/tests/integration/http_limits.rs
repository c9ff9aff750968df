//! The HTTP server's limits, in process on 127.0.0.x: a header that does not arrive in time
//! (silent or slowloris clients), too many connections in all or from one IP, an oversized
//! header, and connections past their age are all closed, while a plain request is served.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Server, WAIT};
use proxy::downstream::ServerConfig;
use proxy::http::{self, HttpConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

struct Http {
    addr: SocketAddr,
    _stop: watch::Sender<bool>,
    _server: Server,
}

async fn start(config: HttpConfig) -> Http {
    let server = Server::start(ServerConfig::default()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(http::serve_with(
        listener,
        Arc::clone(&server.pool),
        config,
        stopped,
    ));
    Http {
        addr,
        _stop: stop,
        _server: server,
    }
}

async fn connect_from(addr: SocketAddr, last: u8) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
            0,
        ))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// Everything the server sends until it closes; `None` if it is still open after `limit`.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&all).into_owned())
}

/// One `GET /api/stats` with `Connection: close`; the status code (`None` if closed unanswered).
async fn get_status(addr: SocketAddr, last: u8) -> Option<u16> {
    let mut s = connect_from(addr, last).await;
    let head = "GET /api/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if s.write_all(head.as_bytes()).await.is_err() {
        return None;
    }
    let text = read_to_close(&mut s, WAIT).await.expect("answer or close");
    text.split(' ').nth(1).and_then(|code| code.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_headers_are_cut_off() {
    let timeout = Duration::from_millis(400);
    let h = start(HttpConfig {
        header_read_timeout: timeout,
        ..HttpConfig::default()
    })
    .await;
    let started = Instant::now();
    let mut silent = connect_from(h.addr, 80).await;
    let mut slow = connect_from(h.addr, 80).await;
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    for (name, stream) in [("silent", &mut silent), ("partial header", &mut slow)] {
        let answer = read_to_close(stream, WAIT).await;
        assert!(answer.is_some(), "{name} connection left open");
        let after = started.elapsed();
        assert!(
            after >= timeout - Duration::from_millis(50) && after < timeout * 5,
            "{name} closed after {after:?}"
        );
    }
    assert_eq!(get_status(h.addr, 80).await, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_in_all_and_per_ip() {
    let h = start(HttpConfig {
        max_connections: 4,
        max_per_ip: 2,
        ..HttpConfig::default()
    })
    .await;
    let mut held = vec![
        connect_from(h.addr, 81).await,
        connect_from(h.addr, 81).await,
    ];
    // A third from the same IP is closed at once.
    let mut third = connect_from(h.addr, 81).await;
    assert!(
        read_to_close(&mut third, Duration::from_secs(2))
            .await
            .is_some(),
        "a third connection from one IP was kept"
    );
    // Another IP is served, up to the total.
    held.push(connect_from(h.addr, 82).await);
    assert_eq!(get_status(h.addr, 82).await, Some(200));
    // That request's slot comes back once the server has closed its side; until then a second
    // connection from .82 is over the per-IP cap and closed (and the fifth below would fit).
    let deadline = Instant::now() + WAIT;
    loop {
        let mut fourth = connect_from(h.addr, 82).await;
        if read_to_close(&mut fourth, Duration::from_millis(300))
            .await
            .is_none()
        {
            held.push(fourth);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot of a finished request never came back"
        );
    }
    let mut fifth = connect_from(h.addr, 83).await;
    assert!(
        read_to_close(&mut fifth, Duration::from_secs(2))
            .await
            .is_some(),
        "a fifth connection was kept"
    );
    // A slot given back is a slot for someone else.
    drop(held.remove(0));
    let deadline = Instant::now() + WAIT;
    while get_status(h.addr, 83).await != Some(200) {
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_header_is_refused() {
    let h = start(HttpConfig {
        max_header_bytes: 8192,
        ..HttpConfig::default()
    })
    .await;
    let mut s = connect_from(h.addr, 84).await;
    let head = format!(
        "GET /api/stats HTTP/1.1\r\nHost: t\r\nX-Filler: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(32 * 1024)
    );
    // The server may close before reading it all.
    let _ = s.write_all(head.as_bytes()).await;
    let answer = read_to_close(&mut s, WAIT).await.expect("closed");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert_eq!(get_status(h.addr, 84).await, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_are_closed_at_their_age() {
    let age = Duration::from_millis(600);
    let h = start(HttpConfig {
        max_connection_age: age,
        header_read_timeout: Duration::from_secs(30),
        ..HttpConfig::default()
    })
    .await;
    let started = Instant::now();
    let mut s = connect_from(h.addr, 85).await;
    s.write_all(b"GET /api/stats HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut s, WAIT)
        .await
        .expect("keep-alive connection left open past its age");
    let after = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        after >= age - Duration::from_millis(50) && after < age * 5,
        "closed after {after:?}"
    );
}
