//! The real stratum server, in process on 127.0.0.1, against misbehaving clients: oversized
//! lines, invalid JSON, floods of invalid shares (ban per IP), half-open connections, and the
//! share error codes (20..25) end to end. The deadlines and limits against slow or silent
//! clients (handshake, idle, write timeout, per-IP cap) are in `sessions.rs`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::{
    error_code, find_nonce, push_job, regtest_address, submit_params, Server, WAIT,
};
use proxy::downstream::ServerConfig;
use proxy::vardiff::VardiffConfig;
use serde_json::json;
use stratum::ShareTarget;

fn small_lines() -> ServerConfig {
    ServerConfig {
        max_line_len: 1024,
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_line_closes_only_that_connection() {
    let server = Server::start(small_lines()).await;
    let mut control = server.client().await;
    control.subscribe().await;

    // Without a newline: the server must not buffer without bound.
    let mut flood = server.client().await;
    let _ = flood.send_raw(&vec![b'a'; 8 * 1024]).await;
    assert!(flood.closed_within(WAIT).await, "oversized line not closed");

    // With a newline, just over the limit.
    let mut long = server.client().await;
    let line = format!(
        "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"{}\"]}}\n",
        "x".repeat(1100)
    );
    let _ = long.send_raw(line.as_bytes()).await;
    assert!(long.closed_within(WAIT).await, "long line not closed");

    // The other miner is unaffected, and the IP is not banned for it.
    control.subscribe().await;
    let r = control
        .call("mining.suggest_difficulty", json!([0.5]))
        .await
        .unwrap();
    assert_eq!(error_code(&r), None);
    server.client().await.subscribe().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_gets_error_20_and_the_connection_stays_usable() {
    let server = Server::start(ServerConfig::default()).await;
    let mut c = server.client().await;
    for garbage in [
        &b"this is not json\n"[..],
        b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":\n",
        b"[1,2,3]\n",
        b"\xff\xfe\x00garbage\n",
    ] {
        c.send_raw(garbage).await.unwrap();
        let r = c.next_line().await.expect("connection open");
        assert_eq!(error_code(&r), Some(20), "for {garbage:?}: {r}");
    }
    // A valid request afterwards works.
    let en1 = c.subscribe().await;
    assert!(!en1.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_share_flood_closes_and_bans_the_ip_only() {
    let server = Server::start(ServerConfig::default()).await;
    let worker = regtest_address(1);
    let mut control = server.client_from(3).await;
    control.subscribe().await;

    let mut bad = server.client_from(2).await;
    bad.subscribe().await;
    let r = bad
        .call("mining.authorize", json!([worker, "x"]))
        .await
        .unwrap();
    assert_eq!(r["result"], json!(true));
    let mut flood = String::new();
    for i in 0..200u32 {
        let params = submit_params(&worker, "ffff", &[0, 0, 0, 0], 1_700_000_600, i);
        flood += &json!({"id": 1000 + i, "method": "mining.submit", "params": params}).to_string();
        flood.push('\n');
    }
    // The server may close before reading everything: write errors are expected.
    let _ = bad.send_raw(flood.as_bytes()).await;
    assert!(bad.closed_within(WAIT).await, "flooder not disconnected");
    let stale = server.pool.stats.rejected.lock().unwrap()["stale"];
    assert!((100..200).contains(&stale), "{stale} stale rejections");

    // 127.0.0.2 is now refused: accepted and closed at once, never answered. The ban is
    // recorded just after the flooder's socket closes, so allow a moment.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = server.client_from(2).await;
        if again.call("mining.subscribe", json!([])).await.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "127.0.0.2 never banned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Everyone else is still served: the connected control client and a new IP.
    control.subscribe().await;
    server.client_from(4).await.subscribe().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_submit_flood_also_bans() {
    let server = Server::start(ServerConfig {
        ban_after_invalid: 20,
        ..ServerConfig::default()
    })
    .await;
    let mut control = server.client_from(11).await;
    control.subscribe().await;
    let mut bad = server.client_from(10).await;
    bad.subscribe().await;
    let mut flood = String::new();
    for i in 0..40u32 {
        // An odd-length extranonce2: fails parsing, code 20.
        let params = json!(["w", "0", "abc", "6553f100", "00000000"]);
        flood += &json!({"id": i, "method": "mining.submit", "params": params}).to_string();
        flood.push('\n');
    }
    let _ = bad.send_raw(flood.as_bytes()).await;
    let r = bad.next_line().await.expect("an answer");
    assert_eq!(error_code(&r), Some(20), "{r}");
    assert!(
        bad.closed_within(WAIT).await,
        "malformed flood not disconnected"
    );
    let malformed = server.pool.stats.rejected.lock().unwrap()["malformed"];
    assert_eq!(malformed, 20);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = server.client_from(10).await;
        if again.call("mining.subscribe", json!([])).await.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "127.0.0.10 never banned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    control.subscribe().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_do_not_stall_new_miners() {
    let server = Server::start(ServerConfig {
        max_per_ip: 500,
        ..ServerConfig::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(server.client_from(5).await);
    }
    let started = Instant::now();
    let mut miner = server.client().await;
    miner.subscribe().await;
    let r = miner
        .call("mining.authorize", json!([regtest_address(2), "x"]))
        .await
        .unwrap();
    assert_eq!(r["result"], json!(true));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "new miner waited {:?}",
        started.elapsed()
    );
    // The idle ones are still open under the default (long) handshake and idle timeouts.
    assert!(!idle[0].closed_within(Duration::from_millis(100)).await);
    drop(idle);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_silent_connections() {
    let server = Server::start(ServerConfig {
        idle_timeout: Duration::from_millis(300),
        max_per_ip: 100,
        ..ServerConfig::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(server.client_from(6).await);
    }
    for c in &mut idle {
        assert!(c.closed_within(WAIT).await, "idle connection left open");
    }
    // The sessions are gone from the counters too.
    let deadline = Instant::now() + WAIT;
    while server.pool.stats.connections.load(Ordering::Relaxed) != 0 {
        assert!(Instant::now() < deadline, "connections gauge not back to 0");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the server still takes new miners.
    server.client().await.subscribe().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_results_and_error_codes() {
    let server = Server::start(ServerConfig {
        vardiff: VardiffConfig::default(),
        ..ServerConfig::default()
    })
    .await;
    let job = push_job(&server.pool, 1);
    let worker = format!("{}.rig", regtest_address(3));
    let ntime = job.template().curtime;
    let en2 = [0u8, 0, 0, 1];
    let mut c = server.client().await;

    // Before subscribe: 25.
    let r = c
        .call(
            "mining.submit",
            submit_params(&worker, job.id(), &en2, ntime, 0),
        )
        .await
        .unwrap();
    assert_eq!(error_code(&r), Some(25), "{r}");

    let en1 = c.subscribe().await;
    let difficulty = 1.0 / (1u64 << 20) as f64;
    let r = c
        .call("mining.suggest_difficulty", json!([difficulty]))
        .await
        .unwrap();
    assert_eq!(error_code(&r), None);
    let r = c
        .call("mining.authorize", json!([worker, "x"]))
        .await
        .unwrap();
    assert_eq!(r["result"], json!(true), "{r}");
    let announced = c.notification("mining.set_difficulty").await[0]
        .as_f64()
        .unwrap();
    assert_eq!(announced, difficulty);
    let notify = c.notification("mining.notify").await;
    assert_eq!(notify[0], json!(job.id()));
    let target = ShareTarget::from_difficulty(difficulty).unwrap();

    // A worker not authorized on this connection: 24.
    let other = regtest_address(4);
    let r = c
        .call(
            "mining.submit",
            submit_params(&other, job.id(), &en2, ntime, 0),
        )
        .await
        .unwrap();
    assert_eq!(error_code(&r), Some(24), "{r}");

    // A valid share: true; the same again: 22.
    let nonce = find_nonce(&job, &en1, &en2, ntime, target, true);
    let valid = submit_params(&worker, job.id(), &en2, ntime, nonce);
    let r = c.call("mining.submit", valid.clone()).await.unwrap();
    assert_eq!(r["result"], json!(true), "{r}");
    assert_eq!(server.pool.stats.accepted.load(Ordering::Relaxed), 1);
    let r = c.call("mining.submit", valid).await.unwrap();
    assert_eq!(error_code(&r), Some(22), "{r}");

    // Below the session difficulty: 23.
    let weak = find_nonce(&job, &en1, &en2, ntime, target, false);
    let r = c
        .call(
            "mining.submit",
            submit_params(&worker, job.id(), &en2, ntime, weak),
        )
        .await
        .unwrap();
    assert_eq!(error_code(&r), Some(23), "{r}");

    // A new block: the old job goes stale, and a share for it (otherwise valid) gets 21.
    let en2b = [0u8, 0, 0, 2];
    let old_nonce = find_nonce(&job, &en1, &en2b, ntime, target, true);
    let newer = push_job(&server.pool, 2);
    let notify = c.notification("mining.notify").await;
    assert_eq!(notify[0], json!(newer.id()));
    assert_eq!(notify[8], json!(true), "clean_jobs on a new block");
    let r = c
        .call(
            "mining.submit",
            submit_params(&worker, job.id(), &en2b, ntime, old_nonce),
        )
        .await
        .unwrap();
    assert_eq!(error_code(&r), Some(21), "{r}");
    // An id that never existed: 21 too.
    let r = c
        .call(
            "mining.submit",
            submit_params(&worker, "nonexistent", &en2b, ntime, old_nonce),
        )
        .await
        .unwrap();
    assert_eq!(error_code(&r), Some(21), "{r}");

    // And the new job accepts shares.
    let nonce = find_nonce(&newer, &en1, &en2b, ntime, target, true);
    let r = c
        .call(
            "mining.submit",
            submit_params(&worker, newer.id(), &en2b, ntime, nonce),
        )
        .await
        .unwrap();
    assert_eq!(r["result"], json!(true), "{r}");

    let rejected = server.pool.stats.rejected.lock().unwrap().clone();
    assert_eq!(rejected.get("duplicate"), Some(&1));
    assert_eq!(rejected.get("low-difficulty"), Some(&1));
    assert_eq!(rejected.get("stale"), Some(&2));
    assert_eq!(rejected.get("unauthorized"), Some(&1));
    assert_eq!(rejected.get("not-subscribed"), Some(&1));
    assert_eq!(server.pool.stats.accepted.load(Ordering::Relaxed), 2);
    assert_eq!(server.pool.stats.blocks_found.load(Ordering::Relaxed), 0);
    server.stop().await;
}
