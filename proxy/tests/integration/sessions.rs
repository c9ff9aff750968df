//! The real stratum server, in process on 127.0.0.1, against clients that hold sessions
//! without mining: silent sockets while jobs flow (handshake and idle deadlines), a client
//! that stops reading (write timeout), one IP opening every slot (per-IP cap), and the
//! per-connection bounds and ban score (workers, name length, one extranonce1 however often
//! it subscribes, unknown methods, failed authorizes, alternating valid and invalid shares). Deadlines are short so the tests take
//! seconds.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{
    error_code, find_nonce, push_job, regtest_address, submit_params, Client, Server, WAIT,
};
use bitcoin::hashes::Hash;
use bitcoin::{Amount, ScriptBuf, TxOut, WPubkeyHash};
use proxy::downstream::{ServerConfig, DEFAULT_MAX_PER_IP};
use proxy::jobs::Job;
use proxy::pool::Pool;
use serde_json::json;
use stratum::ShareTarget;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// Pushes a new job every `every` until aborted.
fn job_stream(pool: &Arc<Pool>, every: Duration) -> JoinHandle<()> {
    let pool = Arc::clone(pool);
    tokio::spawn(async move {
        loop {
            push_job(&pool, 1);
            tokio::time::sleep(every).await;
        }
    })
}

/// Adds and broadcasts a job whose coinbase pays 300 outputs: a ~20 KB `mining.notify`, so
/// a few hundred of them fill the socket buffers of a miner that does not read.
fn push_big_job(pool: &Pool) -> Arc<Job> {
    push_job_paying(pool, 300)
}

/// Adds and broadcasts a job whose coinbase pays `outputs` outputs (31 bytes each).
fn push_job_paying(pool: &Pool, outputs: u16) -> Arc<Job> {
    let t = Arc::new(crate::common::template(1));
    let outputs = (0..outputs)
        .map(|i| TxOut {
            value: Amount::from_sat(1_000_000),
            script_pubkey: ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(
                [i.to_be_bytes()[1]; 20],
            )),
        })
        .collect();
    crate::common::push_job_with_outputs(pool, t, outputs)
}

/// Waits until the server holds `n` sessions.
async fn connections_become(pool: &Pool, n: u64) {
    let deadline = Instant::now() + WAIT;
    while pool.stats.connections.load(Ordering::Relaxed) != n {
        assert!(
            Instant::now() < deadline,
            "{} connections, expected {n}",
            pool.stats.connections.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Subscribes and authorizes `worker`; panics unless both succeed.
async fn handshake(c: &mut Client, worker: &str) -> Vec<u8> {
    let en1 = c.subscribe().await;
    let r = c
        .call("mining.authorize", json!([worker, "x"]))
        .await
        .expect("authorize answered");
    assert_eq!(r["result"], json!(true), "{r}");
    en1
}

/// How long until the server closes `c` (reading and discarding what it sends).
async fn time_to_close(c: &mut Client, since: Instant) -> Duration {
    assert!(c.closed_within(WAIT).await, "connection left open");
    since.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_are_closed_on_time_while_jobs_flow() {
    let handshake_timeout = Duration::from_millis(500);
    let idle_timeout = Duration::from_millis(900);
    let server = Server::start(ServerConfig {
        handshake_timeout,
        idle_timeout,
        ..ServerConfig::default()
    })
    .await;
    // A job every 50 ms: neither deadline may move for them.
    let jobs = job_stream(&server.pool, Duration::from_millis(50));
    let worker = regtest_address(1);
    let slack = Duration::from_millis(700);

    // Connects and never says anything: closed at the handshake deadline.
    let silent = tokio::spawn({
        let mut c = server.client().await;
        let since = Instant::now();
        async move { time_to_close(&mut c, since).await }
    });
    // Busy but never authorizes: its requests move the idle deadline, not the handshake's.
    let unauthorized = tokio::spawn({
        let mut c = server.client().await;
        let since = Instant::now();
        async move {
            c.subscribe().await;
            while c
                .call("mining.extranonce.subscribe", json!([]))
                .await
                .is_some()
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
                assert!(since.elapsed() < WAIT, "never closed");
            }
            since.elapsed()
        }
    });
    // Completes the handshake, gets jobs, then is silent: closed at the idle deadline.
    let idle = tokio::spawn({
        let mut c = server.client().await;
        let worker = worker.clone();
        async move {
            handshake(&mut c, &worker).await;
            let since = Instant::now();
            c.notification("mining.notify").await;
            time_to_close(&mut c, since).await
        }
    });
    // Completes the handshake and keeps sending requests: open well past both deadlines.
    let active = tokio::spawn({
        let mut c = server.client().await;
        let worker = worker.clone();
        async move {
            handshake(&mut c, &worker).await;
            let since = Instant::now();
            while since.elapsed() < idle_timeout * 3 {
                let r = c.call("mining.suggest_difficulty", json!([0.5])).await;
                assert!(
                    r.is_some(),
                    "active miner closed after {:?}",
                    since.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            c.notification("mining.notify").await;
        }
    });

    let silent = silent.await.unwrap();
    assert!(
        silent >= handshake_timeout - Duration::from_millis(50)
            && silent < handshake_timeout + slack,
        "silent socket closed after {silent:?}"
    );
    let unauthorized = unauthorized.await.unwrap();
    assert!(
        unauthorized >= handshake_timeout - Duration::from_millis(50)
            && unauthorized < handshake_timeout + slack,
        "unauthorized socket closed after {unauthorized:?}"
    );
    let idle = idle.await.unwrap();
    assert!(
        idle >= idle_timeout - Duration::from_millis(50) && idle < idle_timeout + slack,
        "idle miner closed after {idle:?}"
    );
    active.await.unwrap();
    jobs.abort();
    server.stop().await;
}

/// A miner that subscribes and authorizes, then never reads again, with a small receive
/// buffer so the server's writes back up quickly.
async fn stop_reading_after_handshake(server: SocketAddr, worker: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 30)), 0))
        .unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let hello = format!(
        "{}\n{}\n",
        json!({"id": 1, "method": "mining.subscribe", "params": []}),
        json!({"id": 2, "method": "mining.authorize", "params": [worker, "x"]}),
    );
    stream.write_all(hello.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_others_are_unaffected() {
    let write_timeout = Duration::from_millis(300);
    let server = Server::start(ServerConfig {
        write_timeout,
        ..ServerConfig::default()
    })
    .await;
    let worker = regtest_address(2);
    push_job(&server.pool, 1);

    // The miner that keeps reading records every job id it is sent.
    let mut good = server.client_from(31).await;
    handshake(&mut good, &worker).await;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = tokio::spawn({
        let seen = Arc::clone(&seen);
        async move {
            while let Ok(Some(msg)) = good.next_line_within(WAIT).await {
                if msg["method"] == "mining.notify" {
                    let id = msg["params"][0].as_str().unwrap().to_owned();
                    seen.lock().unwrap().push(id);
                }
            }
        }
    });
    let mut slow = stop_reading_after_handshake(server.addr, &worker).await;
    connections_become(&server.pool, 2).await;

    // Jobs until the server has given up on the slow reader.
    let started = Instant::now();
    while server.pool.stats.connections.load(Ordering::Relaxed) == 2 {
        assert!(
            started.elapsed() < WAIT,
            "a miner that stopped reading was never dropped"
        );
        for _ in 0..20 {
            push_big_job(&server.pool);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dropped_after = started.elapsed();

    // The reading miner is still served, and promptly.
    let last = push_job(&server.pool, 1);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !seen.lock().unwrap().iter().any(|id| id == last.id()) {
        assert!(
            Instant::now() < deadline,
            "the reading miner did not get the latest job"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.pool.stats.connections.load(Ordering::Relaxed), 1);
    assert!(!reader.is_finished(), "the reading miner was disconnected");

    // The slow reader's socket was closed: what was in flight drains, then EOF (or a reset).
    let mut buf = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "slow reader's socket not closed");
    println!("slow reader dropped after {dropped_after:?} of jobs");
    assert!(dropped_after < Duration::from_secs(5), "{dropped_after:?}");
    reader.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ip_cannot_take_all_slots() {
    // A few more slots than one IP may hold: with no per-IP cap the flood below takes them all.
    let server = Server::start(ServerConfig {
        max_connections: DEFAULT_MAX_PER_IP + 4,
        ..ServerConfig::default()
    })
    .await;
    let mut flood = Vec::new();
    for _ in 0..DEFAULT_MAX_PER_IP + 4 {
        flood.push(server.client_from(40).await);
    }
    let mut answered = 0;
    for c in &mut flood {
        if c.call("mining.subscribe", json!([])).await.is_some() {
            answered += 1;
        }
    }
    assert_eq!(answered, DEFAULT_MAX_PER_IP, "sessions held by one IP");
    // Another IP still gets in, and more than one connection's worth.
    for _ in 0..3 {
        let mut other = server.client_from(41).await;
        other.subscribe().await;
        flood.push(other);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_per_connection_and_name_length_are_bounded() {
    let server = Server::start(ServerConfig {
        max_workers: 4,
        max_worker_name_len: 70,
        ..ServerConfig::default()
    })
    .await;
    let address = regtest_address(3);
    let mut c = server.client().await;
    c.subscribe().await;
    // The same name again and again is one worker.
    for _ in 0..10 {
        let r = c
            .call("mining.authorize", json!([address, "x"]))
            .await
            .unwrap();
        assert_eq!(r["result"], json!(true), "{r}");
    }
    for i in 1..4 {
        let r = c
            .call("mining.authorize", json!([format!("{address}.r{i}"), "x"]))
            .await
            .unwrap();
        assert_eq!(r["result"], json!(true), "{r}");
    }
    let r = c
        .call("mining.authorize", json!([format!("{address}.r4"), "x"]))
        .await
        .unwrap();
    assert_eq!(error_code(&r), Some(24), "a fifth worker: {r}");
    // A fresh connection: a name over the limit, even with a valid address in front.
    let mut d = server.client().await;
    d.subscribe().await;
    let long = format!("{address}.{}", "r".repeat(70 - address.len()));
    let r = d
        .call("mining.authorize", json!([long, "x"]))
        .await
        .unwrap();
    assert_eq!(error_code(&r), Some(24), "a {}-byte name: {r}", long.len());
    let fits = &long[..70];
    let r = d
        .call("mining.authorize", json!([fits, "x"]))
        .await
        .unwrap();
    assert_eq!(r["result"], json!(true), "a 70-byte name: {r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_again_keeps_the_extranonce1() {
    let server = Server::start(ServerConfig::default()).await;
    let mut c = server.client().await;
    let first = c.subscribe().await;
    for _ in 0..20 {
        assert_eq!(c.subscribe().await, first);
    }
    // Another connection still gets its own.
    assert_ne!(server.client().await.subscribe().await, first);
    server.stop().await;
}

/// Waits until a new connection from `127.0.0.<last>` is refused unanswered.
async fn banned(server: &Server, last: u8) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = server.client_from(last).await;
        if again.call("mining.subscribe", json!([])).await.is_none() {
            return;
        }
        assert!(Instant::now() < deadline, "127.0.0.{last} never banned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_and_failed_authorizes_count_towards_the_ban() {
    let server = Server::start(ServerConfig {
        ban_after_invalid: 10,
        ..ServerConfig::default()
    })
    .await;
    let mut control = server.client_from(52).await;
    control.subscribe().await;

    let mut c = server.client_from(50).await;
    c.subscribe().await;
    for i in 0..9 {
        let r = c.call("mining.no_such_method", json!([i])).await.unwrap();
        assert_eq!(error_code(&r), Some(20), "{r}");
    }
    // The tenth offence closes the connection (its answer may or may not arrive first).
    let _ = c.call("mining.no_such_method", json!([9])).await;
    assert!(
        c.closed_within(WAIT).await,
        "unknown-method flood not closed"
    );
    banned(&server, 50).await;

    let mut d = server.client_from(51).await;
    d.subscribe().await;
    for i in 0..9 {
        let r = d
            .call(
                "mining.authorize",
                json!([format!("not-an-address-{i}"), "x"]),
            )
            .await
            .unwrap();
        assert_eq!(error_code(&r), Some(24), "{r}");
    }
    let _ = d.call("mining.authorize", json!(["nope", "x"])).await;
    assert!(
        d.closed_within(WAIT).await,
        "failed-authorize flood not closed"
    );
    banned(&server, 51).await;

    control.subscribe().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_shares_do_not_reset_the_ban_score() {
    let server = Server::start(ServerConfig {
        ban_after_invalid: 10,
        // No drain while the (debug-build) nonce searches run.
        ban_decay: Duration::from_secs(3600),
        ..ServerConfig::default()
    })
    .await;
    let job = push_job(&server.pool, 1);
    let worker = regtest_address(4);
    let difficulty = 1.0 / f64::from(1u32 << 20);
    let target = ShareTarget::from_difficulty(difficulty).unwrap();
    let ntime = job.template().curtime;
    let mut c = server.client_from(60).await;
    let en1 = c.handshake(&worker, difficulty).await;
    c.notification("mining.notify").await;

    // valid, invalid, valid, invalid, ...: a counter that valid shares lower never gets past 1.
    let mut invalid_sent = 0;
    for i in 0..40u32 {
        let en2 = i.to_be_bytes();
        let nonce = find_nonce(&job, &en1, &en2, ntime, target, true);
        let valid = submit_params(&worker, job.id(), &en2, ntime, nonce);
        let Some(r) = c.call("mining.submit", valid).await else {
            break;
        };
        assert_eq!(r["result"], json!(true), "{r}");
        // A job id never handed out: invalid, and not merely stale.
        let invalid = submit_params(&worker, "ffff", &en2, ntime, nonce);
        invalid_sent += 1;
        let Some(r) = c.call("mining.submit", invalid).await else {
            break;
        };
        assert_eq!(error_code(&r), Some(21), "{r}");
    }
    assert_eq!(
        invalid_sent, 10,
        "closed after this many invalid shares, valid ones in between"
    );
    assert!(c.closed_within(WAIT).await);
    banned(&server, 60).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_hashing_does_not_hold_the_job_book_lock() {
    let server = Server::start(ServerConfig {
        ban_after_invalid: u32::MAX,
        ..ServerConfig::default()
    })
    .await;
    // A ~28 KB coinbase: hashing each share takes a while in a debug build.
    let job = push_job_paying(&server.pool, 900);
    let worker = regtest_address(5);
    let mut c = server.client().await;
    handshake(&mut c, &worker).await;
    c.notification("mining.notify").await;

    // Another thread samples the book's lock the whole time the shares are validated.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let (pool, stop) = (Arc::clone(&server.pool), Arc::clone(&stop));
        move || {
            let (mut tries, mut busy) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                tries += 1;
                if pool.jobs.try_lock().is_err() {
                    busy += 1;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            (tries, busy)
        }
    });
    let mut flood = String::new();
    let n = 300u32;
    for i in 0..n {
        // Well-formed, for the live job: each is hashed (and then too weak).
        let params = submit_params(&worker, job.id(), &i.to_be_bytes(), 1_700_000_600, i);
        flood += &json!({"id": 100 + i, "method": "mining.submit", "params": params}).to_string();
        flood.push('\n');
    }
    let started = Instant::now();
    c.send_raw(flood.as_bytes()).await.unwrap();
    let last = c.response(u64::from(99 + n)).await.expect("all answered");
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (tries, busy) = sampler.join().unwrap();
    assert_eq!(error_code(&last), Some(23), "{last}");
    let share = busy as f64 / tries as f64;
    println!("{n} shares in {took:?}: the lock was busy at {busy} of {tries} samples");
    assert!(tries > 100, "{tries} samples");
    assert!(
        share < 0.2,
        "the job book was locked at {:.0} % of the samples while shares were hashed",
        share * 100.0
    );
    server.stop().await;
}

#[tokio::test]
async fn the_server_refuses_to_start_on_a_setting_that_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::common::test_pool(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let config = ServerConfig {
        max_workers: 0,
        ..ServerConfig::default()
    };
    let refused = tokio::time::timeout(
        WAIT,
        proxy::downstream::serve(listener, pool, config, stopped),
    )
    .await
    .expect("an answer at once, not a server");
    assert_eq!(refused.unwrap_err().field, "max_workers");
}
