//! `/metrics`, `/api/stats` and the dashboard's `/api/v1` in process: a miner connects to the
//! real stratum server, gets one share accepted and two rejected, and the HTTP endpoint reports
//! exactly that.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{
    error_code, find_nonce, push_job, regtest_address, submit_params, Server, WAIT,
};
use proxy::downstream::ServerConfig;
use proxy::http::{self, StatsReport};
use serde_json::json;
use stratum::ShareTarget;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One HTTP/1.1 request; returns the status code and the body.
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut raw))
        .await
        .expect("http answer in time")
        .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// The value of an unlabelled or labelled sample line in the exposition text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_stats_reflect_the_pool() {
    let server = Server::start(ServerConfig::default()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let http_task = tokio::spawn(http::serve(
        listener,
        Arc::clone(&server.pool),
        Duration::from_secs(60),
        stopped,
    ));

    // Nothing yet.
    let (status, body) = request(http_addr, "GET", "/api/stats").await;
    assert_eq!(status, 200);
    let empty: StatsReport = serde_json::from_str(&body).unwrap();
    assert_eq!(empty.workers, 0);
    assert_eq!(empty.shares_accepted, 0);
    assert_eq!(empty.hash_rate, 0.0);
    assert!(empty.shares_rejected.values().all(|n| *n == 0));
    assert!(empty.shares_rejected.contains_key("stale"));

    // The dashboard's history, as the proxy keeps it.
    let history_dir = tempfile::tempdir().unwrap();
    let history = proxy::history::History::open(
        &history_dir.path().join("history.redb"),
        proxy::history::HistoryConfig::default(),
        proxy::pool::unix_now(),
    )
    .unwrap();
    server.pool.set_history(Arc::new(history));

    // One miner: one accepted share, a duplicate and a stale one.
    let job = push_job(&server.pool, 1);
    let worker = regtest_address(5);
    let difficulty = 1.0 / f64::from(1u32 << 20);
    let mut c = server.client().await;
    let en1 = c.handshake(&worker, difficulty).await;
    c.notification("mining.notify").await;
    let ntime = job.template().curtime;
    let en2 = [0u8, 0, 0, 9];
    let target = ShareTarget::from_difficulty(difficulty).unwrap();
    let nonce = find_nonce(&job, &en1, &en2, ntime, target, true);
    let share = submit_params(&worker, job.id(), &en2, ntime, nonce);
    let r = c.call("mining.submit", share.clone()).await.unwrap();
    assert_eq!(r["result"], json!(true), "{r}");
    let r = c.call("mining.submit", share).await.unwrap();
    assert_eq!(error_code(&r), Some(22));
    let r = c
        .call(
            "mining.submit",
            submit_params(&worker, "gone", &en2, ntime, nonce),
        )
        .await
        .unwrap();
    assert_eq!(error_code(&r), Some(21));

    let (status, body) = request(http_addr, "GET", "/api/stats").await;
    assert_eq!(status, 200);
    let stats: StatsReport = serde_json::from_str(&body).unwrap();
    assert_eq!(stats.workers, 1);
    assert_eq!(stats.shares_accepted, 1);
    assert_eq!(stats.shares_rejected["duplicate"], 1);
    assert_eq!(stats.shares_rejected["stale"], 1);
    assert_eq!(stats.shares_rejected["low-difficulty"], 0);
    assert_eq!(stats.accepted_difficulty, difficulty);
    assert_eq!(stats.blocks_found, 0);
    assert_eq!(stats.blocks_accepted, 0);
    // difficulty * 2^32 over at most the time this test has run.
    assert!(stats.hash_rate > 0.0, "{stats:?}");
    assert!(stats.hash_rate <= difficulty * 4_294_967_296.0 / 0.001);
    // The JSON has exactly the documented field names.
    let raw: serde_json::Value = serde_json::from_str(&body).unwrap();
    for key in [
        "workers",
        "hash_rate",
        "shares_accepted",
        "shares_rejected",
        "blocks_found",
        "blocks_accepted",
    ] {
        assert!(raw.get(key).is_some(), "{key} missing from {raw}");
    }

    // The dashboard's documents say the same, per worker too.
    let (status, body) = request(http_addr, "GET", "/api/v1/pool?range=24h").await;
    assert_eq!(status, 200, "{body}");
    let pool: dashboard::api::PoolView = serde_json::from_str(&body).unwrap();
    assert_eq!(pool.accepted, 1);
    assert_eq!((pool.rejected["duplicate"], pool.rejected["stale"]), (1, 1));
    assert_eq!(
        (pool.workers, pool.workers_online, pool.connections),
        (1, 1, 1)
    );
    assert_eq!(pool.chart.bucket_secs, 60);
    assert_eq!(
        pool.chart.points.iter().map(|p| p.work).sum::<f64>(),
        difficulty
    );
    let (status, body) = request(http_addr, "GET", "/api/v1/workers").await;
    assert_eq!(status, 200, "{body}");
    let workers: dashboard::api::WorkersView = serde_json::from_str(&body).unwrap();
    assert_eq!(workers.workers.len(), 1);
    let w = &workers.workers[0];
    assert_eq!(
        (w.name.as_str(), w.accepted, w.online),
        (worker.as_str(), 1, true)
    );
    assert_eq!((w.rejected["duplicate"], w.rejected["stale"]), (1, 1));
    let (status, body) = request(http_addr, "GET", &format!("/api/v1/worker/{worker}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(http_addr, "GET", "/api/v1/job/window").await;
    assert_eq!(status, 200, "{body}");
    let window: dashboard::api::JobView = serde_json::from_str(&body).unwrap();
    assert!(window.ready);
    assert_eq!(window.height, job.template().height);
    assert_eq!(
        window.window.iter().map(|p| p.sats).sum::<u64>(),
        job.template().coinbasevalue.to_sat()
    );
    let (status, body) = request(http_addr, "GET", "/api/v1/blocks").await;
    assert_eq!((status, body.as_str()), (200, r#"{"total":0,"blocks":[]}"#));
    for (path, code) in [
        ("/api/v1/pool?range=2h", 400),
        ("/api/v1/worker/nobody", 404),
        ("/api/v1/cluster", 404),
        ("/api/v1/nothing", 404),
    ] {
        assert_eq!(request(http_addr, "GET", path).await.0, code, "{path}");
    }
    assert_eq!(request(http_addr, "POST", "/api/v1/pool").await.0, 405);
    let (status, page) = request(http_addr, "GET", "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("/assets/app.js"), "{page}");
    // The event stream starts with the blocks, then the pool's numbers.
    let mut events = TcpStream::connect(http_addr).await.unwrap();
    events
        .write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    // (The body is chunked: a whole event is its `data:` line and the blank line after it.)
    while !seen
        .split("event: pool\ndata: ")
        .nth(1)
        .is_some_and(|rest| rest.contains("\n\n"))
    {
        let n = tokio::time::timeout(WAIT, events.read(&mut buf))
            .await
            .expect("events in time")
            .unwrap();
        assert!(n > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(seen.contains("event: blocks\ndata: {\"total\":0"), "{seen}");

    let (status, text) = request(http_addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(sample(&text, "proxy_shares_accepted_total"), 1.0);
    assert_eq!(
        sample(&text, "proxy_shares_rejected_total{reason=\"duplicate\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "proxy_shares_rejected_total{reason=\"stale\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "proxy_shares_rejected_total{reason=\"unauthorized\"}"
        ),
        0.0
    );
    assert_eq!(sample(&text, "proxy_blocks_found_total"), 0.0);
    assert_eq!(sample(&text, "proxy_blocks_accepted_total"), 0.0);
    assert_eq!(sample(&text, "proxy_connections"), 1.0);
    assert_eq!(
        sample(&text, "proxy_accepted_share_difficulty_total"),
        difficulty
    );
    assert!(text.contains("# TYPE proxy_connections gauge"));
    assert!(text.contains("# TYPE proxy_shares_rejected_total counter"));

    // Other paths and methods.
    assert_eq!(request(http_addr, "GET", "/nope").await.0, 404);
    assert_eq!(request(http_addr, "POST", "/metrics").await.0, 405);

    // The miner leaves: the gauge follows.
    drop(c);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, text) = request(http_addr, "GET", "/metrics").await;
        if sample(&text, "proxy_connections") == 0.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "gauge stuck");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let _ = stop.send(true);
    tokio::time::timeout(WAIT, http_task)
        .await
        .unwrap()
        .unwrap();
    server.stop().await;
}
