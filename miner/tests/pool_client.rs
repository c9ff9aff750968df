//! `miner run`'s stratum client against a scripted pool on loopback that
//! checks every submitted share itself (coinbase, merkle root, BIP310 version,
//! target): shares are valid, a clean job switches the miner, a dead first
//! pool fails over to the next, a pool's absurd difficulty is floored, and a
//! pool starting at difficulty 16384 (public-pool's default) is sent
//! `mining.suggest_difficulty` from the miner's hash rate, on every connection;
//! `client.reconnect` to another host takes the credentials there only when allowed.

use bitcoin::block::Version;
use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget};
use futures_util::{SinkExt, StreamExt};
use miner::pool::session::Endpoint;
use miner::pool::work::MIN_SHARE_DIFFICULTY;
use miner::pool::{PoolClient, PoolConfig, PoolPolicy, Suggest};
use miner::{Engine, ShareTarget};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use stratum::{ClientRequest, Message, Notify, Reconnect, Response, ServerMessage, StratumCodec};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

const EXTRANONCE1: [u8; 4] = [0xf0, 0x00, 0x00, 0x0d];
const MASK: u32 = 0x1fff_e000;
const DIFFICULTY: f64 = 1e-4;

fn notify(job_id: &str, seed: u8) -> Notify {
    Notify {
        job_id: job_id.into(),
        prevhash: BlockHash::from_byte_array([seed; 32]),
        coinb1: vec![0x01, 0x00, 0x00, 0x00, seed],
        coinb2: vec![0xff, 0xff, 0xff, 0xff, 0x00],
        merkle_branch: vec![[seed ^ 0x55; 32], [0x33; 32]],
        version: Version::from_consensus(0x2000_0000),
        nbits: CompactTarget::from_consensus(0x207f_ffff),
        ntime: 1_700_000_000 + u32::from(seed),
        clean_jobs: true,
    }
}

/// A share as the pool saw it: job id, whether it checked out, and whether
/// it also meets the miner's floor ([`MIN_SHARE_DIFFICULTY`]).
#[derive(Debug)]
struct Share {
    job_id: String,
    valid: bool,
    meets_floor: bool,
}

/// Serves one miner: handshake, then `jobs` one after another, each switched
/// to once `per_job` valid shares arrived for the previous one.
async fn pool(
    listener: TcpListener,
    jobs: Vec<Notify>,
    per_job: usize,
    out: mpsc::UnboundedSender<Share>,
) {
    scripted(listener, jobs, per_job, DIFFICULTY, out).await
}

/// [`pool`] at share `difficulty`.
async fn scripted(
    listener: TcpListener,
    jobs: Vec<Notify>,
    per_job: usize,
    difficulty: f64,
    out: mpsc::UnboundedSender<Share>,
) {
    let (stream, _) = listener.accept().await.unwrap();
    let mut conn = Framed::new(stream, StratumCodec::default());
    let by_id: HashMap<String, Notify> =
        jobs.iter().map(|n| (n.job_id.clone(), n.clone())).collect();
    let target = ShareTarget::from_difficulty(difficulty).unwrap();
    let floor = ShareTarget::from_difficulty(MIN_SHARE_DIFFICULTY).unwrap();
    let mut current = 0;
    let mut valid_for_current = 0;
    while let Some(Ok(Ok(Message::Request(req)))) = conn.next().await {
        let call = ClientRequest::from_request(&req).expect("the miner sends valid calls");
        let result: Value = match call {
            ClientRequest::Configure(_) => {
                json!({"version-rolling": true, "version-rolling.mask": format!("{MASK:08x}")})
            }
            ClientRequest::Subscribe(_) => {
                json!([[["mining.notify", "1"]], hex::encode(EXTRANONCE1), 4])
            }
            ClientRequest::Authorize(a) => {
                assert_eq!(a.username, "bcrt1qtest.rig");
                conn.send(Response::ok(req.id.clone(), json!(true)))
                    .await
                    .unwrap();
                conn.send(ServerMessage::SetDifficulty(difficulty).into_notification())
                    .await
                    .unwrap();
                conn.send(ServerMessage::Notify(jobs[0].clone()).into_notification())
                    .await
                    .unwrap();
                continue;
            }
            ClientRequest::Submit(s) => {
                let job = &by_id[&s.job_id];
                s.check_extranonce2_size(4).unwrap();
                let coinbase = job.coinbase(&EXTRANONCE1, &s.extranonce2);
                // Version-rolled hits carry bits inside the mask, nothing else.
                if let Some(bits) = s.version_bits {
                    assert_eq!(bits & !MASK, 0, "version bits {bits:08x} outside the mask");
                }
                let version = s.header_version(job.version, MASK);
                let header = job.header(job.merkle_root(&coinbase), version, s.ntime, s.nonce);
                let hash = miner::sha256::sha256d(&serialize(&header));
                let valid = target.is_met_by(&hash) && s.ntime == job.ntime;
                out.send(Share {
                    job_id: s.job_id.clone(),
                    valid,
                    meets_floor: floor.is_met_by(&hash),
                })
                .unwrap();
                if valid && s.job_id == jobs[current].job_id {
                    valid_for_current += 1;
                    if valid_for_current == per_job && current + 1 < jobs.len() {
                        current += 1;
                        valid_for_current = 0;
                        conn.send(ServerMessage::Notify(jobs[current].clone()).into_notification())
                            .await
                            .unwrap();
                    }
                }
                json!(valid)
            }
            // Acknowledged, not honoured: this pool keeps its difficulty.
            ClientRequest::SuggestDifficulty(_) => json!(true),
            other => panic!("unexpected call {other:?}"),
        };
        conn.send(Response::ok(req.id.clone(), result))
            .await
            .unwrap();
    }
}

fn config(ports: &[u16]) -> PoolConfig {
    PoolConfig {
        pools: ports
            .iter()
            .map(|&port| Endpoint {
                host: "127.0.0.1".into(),
                port,
                user: "bcrt1qtest.rig".into(),
                password: "x".into(),
            })
            .collect(),
        engine: Engine::best(),
        threads: Some(1),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        policy: PoolPolicy::default(),
    }
}

async fn collect(rx: &mut mpsc::UnboundedReceiver<Share>, job: &str, n: usize) -> Vec<Share> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while seen
            .iter()
            .filter(|s: &&Share| s.job_id == job && s.valid)
            .count()
            < n
        {
            seen.push(rx.recv().await.expect("pool ended early"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {n} valid shares for job {job}; got {seen:?}"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_are_valid_and_clean_jobs_switch_work() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(pool(listener, vec![notify("a", 1), notify("b", 2)], 5, tx));

    let client = PoolClient::start(config(&[port])).unwrap();
    let first = collect(&mut rx, "a", 5).await;
    assert!(first.iter().all(|s| s.valid), "invalid share: {first:?}");
    let second = collect(&mut rx, "b", 5).await;
    assert!(second.iter().all(|s| s.valid), "invalid share: {second:?}");
    // After the clean job, shares for "a" stop (a few may have been in flight).
    let late_a = second.iter().filter(|s| s.job_id == "a").count();
    assert!(late_a <= 3, "{late_a} shares for the abandoned job");
    // The client counts a share once the pool's answer is back.
    let mut counts = client.stats.snapshot();
    for _ in 0..100 {
        if counts.1 >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        counts = client.stats.snapshot();
    }
    let (submitted, accepted, rejected, _) = counts;
    assert!(
        submitted >= 10 && accepted >= 10 && rejected == 0,
        "{counts:?}"
    );
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_pool_fails_over_to_the_next() {
    // A port with nothing listening: bind, note it, close.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(pool(listener, vec![notify("only", 3)], usize::MAX, tx));

    let client = PoolClient::start(config(&[dead_port, port])).unwrap();
    let shares = collect(&mut rx, "only", 3).await;
    assert!(shares.iter().all(|s| s.valid), "{shares:?}");
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_difficulty_of_1e_300_is_mined_at_the_floor() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(scripted(
        listener,
        vec![notify("flood", 4)],
        usize::MAX,
        1e-300,
        tx,
    ));

    let client = PoolClient::start(config(&[port])).unwrap();
    let shares = collect(&mut rx, "flood", 20).await;
    assert!(shares.iter().all(|s| s.valid), "{shares:?}");
    // At 1e-300 every hash would be a share: only those meeting the floor are sent.
    let below: Vec<&Share> = shares.iter().filter(|s| !s.meets_floor).collect();
    assert!(below.is_empty(), "shares below the floor: {below:?}");
    client.stop().await;
}

/// What the honouring pool saw.
#[derive(Debug)]
enum Seen {
    /// `mining.suggest_difficulty` on connection `conn`, and whether the
    /// subscription was already answered there.
    Suggested {
        conn: usize,
        difficulty: f64,
        after_subscribe: bool,
    },
    /// A share on connection `conn`, valid at the difficulty then set.
    Share { conn: usize, valid: bool },
}

/// A pool like public-pool: every connection starts at difficulty 16384 and
/// takes the miner's `mining.suggest_difficulty` (answering with
/// `set_difficulty`, no new job). After `per_conn` valid shares it sends
/// `client.reconnect` to the same place and serves the next connection.
async fn honouring_pool(listener: TcpListener, per_conn: usize, out: mpsc::UnboundedSender<Seen>) {
    let job = notify("pp", 9);
    for conn in 1.. {
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn_io = Framed::new(stream, StratumCodec::default());
        let mut difficulty = 16384.0;
        let mut subscribed = false;
        let mut valid_shares = 0;
        while let Some(Ok(Ok(Message::Request(req)))) = conn_io.next().await {
            let call = ClientRequest::from_request(&req).expect("the miner sends valid calls");
            let result: Value = match call {
                ClientRequest::Configure(_) => json!({"version-rolling": false}),
                ClientRequest::Subscribe(_) => {
                    subscribed = true;
                    json!([[["mining.notify", "1"]], hex::encode(EXTRANONCE1), 4])
                }
                ClientRequest::Authorize(_) => {
                    conn_io
                        .send(Response::ok(req.id.clone(), json!(true)))
                        .await
                        .unwrap();
                    conn_io
                        .send(ServerMessage::SetDifficulty(difficulty).into_notification())
                        .await
                        .unwrap();
                    conn_io
                        .send(ServerMessage::Notify(job.clone()).into_notification())
                        .await
                        .unwrap();
                    continue;
                }
                ClientRequest::SuggestDifficulty(d) => {
                    out.send(Seen::Suggested {
                        conn,
                        difficulty: d,
                        after_subscribe: subscribed,
                    })
                    .unwrap();
                    difficulty = d;
                    conn_io
                        .send(Response::ok(req.id.clone(), json!(true)))
                        .await
                        .unwrap();
                    conn_io
                        .send(ServerMessage::SetDifficulty(d).into_notification())
                        .await
                        .unwrap();
                    continue;
                }
                ClientRequest::Submit(s) => {
                    let coinbase = job.coinbase(&EXTRANONCE1, &s.extranonce2);
                    let header =
                        job.header(job.merkle_root(&coinbase), job.version, s.ntime, s.nonce);
                    let hash = miner::sha256::sha256d(&serialize(&header));
                    let target = ShareTarget::from_difficulty(difficulty).unwrap();
                    let valid = s.job_id == job.job_id && target.is_met_by(&hash);
                    out.send(Seen::Share { conn, valid }).unwrap();
                    valid_shares += usize::from(valid);
                    conn_io
                        .send(Response::ok(req.id.clone(), json!(valid)))
                        .await
                        .unwrap();
                    if valid_shares == per_conn {
                        let again = ServerMessage::Reconnect(Reconnect::default());
                        conn_io.send(again.into_notification()).await.unwrap();
                    }
                    continue;
                }
                other => panic!("unexpected call {other:?}"),
            };
            conn_io
                .send(Response::ok(req.id.clone(), result))
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_starting_at_16384_is_suggested_a_difficulty_from_the_hash_rate_on_every_connection()
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(honouring_pool(listener, 3, tx));

    // One share every 0.2 s at the measured rate: a few seconds of test.
    let interval = Duration::from_millis(200);
    let mut config = config(&[port]);
    config.policy = PoolPolicy {
        suggest: Suggest::Auto,
        share_interval: interval,
        ..PoolPolicy::default()
    };
    let client = PoolClient::start(config).unwrap();
    let began = (client.search.hashes(), std::time::Instant::now());
    let mut suggested = Vec::new();
    let mut valid = [0usize; 3];
    tokio::time::timeout(Duration::from_secs(90), async {
        while valid[2] < 3 {
            match rx.recv().await.expect("pool ended") {
                Seen::Suggested {
                    conn,
                    difficulty,
                    after_subscribe,
                } => {
                    assert!(after_subscribe, "suggested before subscribing");
                    suggested.push((conn, difficulty));
                }
                Seen::Share { conn, valid: ok } => {
                    assert!(ok, "invalid share on connection {conn}");
                    // Shares at 16384 are out of reach: these are at the suggestion.
                    assert!(
                        suggested.iter().any(|&(c, _)| c == conn),
                        "share before suggestion"
                    );
                    valid[conn] += 1;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("suggested {suggested:?}, valid shares {valid:?}"));
    let rate = (client.search.hashes() - began.0) as f64 / began.1.elapsed().as_secs_f64();
    client.stop().await;

    // Once per connection, the reconnect included.
    assert_eq!(
        suggested.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1, 2],
        "{suggested:?}"
    );
    // From the hash rate: rate × interval / 2^32 (within what CPU contention
    // between the calibration and the mining can skew), or the floor.
    let expected = (rate * interval.as_secs_f64() / 4_294_967_296.0).max(MIN_SHARE_DIFFICULTY);
    for (conn, d) in suggested {
        assert!(
            d >= MIN_SHARE_DIFFICULTY && d / expected < 5.0 && expected / d < 5.0,
            "connection {conn}: suggested {d}, expected about {expected} at {rate:.0} H/s"
        );
    }
}

/// Answers the handshake of every miner that connects, reporting each
/// `mining.authorize` (the credentials) as `(name, user, password)`; the first
/// connection is then sent `client.reconnect` to `to`.
async fn redirecting_pool(
    name: &'static str,
    listener: TcpListener,
    to: Option<(String, u16)>,
    out: mpsc::UnboundedSender<(&'static str, String, Option<String>)>,
) {
    let mut redirect = to;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn = Framed::new(stream, StratumCodec::default());
        while let Some(Ok(Ok(Message::Request(req)))) = conn.next().await {
            let call = ClientRequest::from_request(&req).expect("the miner sends valid calls");
            let result = match call {
                ClientRequest::Configure(_) => json!({"version-rolling": false}),
                ClientRequest::Subscribe(_) => {
                    json!([[["mining.notify", "1"]], hex::encode(EXTRANONCE1), 4])
                }
                ClientRequest::Authorize(a) => {
                    let _ = out.send((name, a.username, a.password));
                    json!(true)
                }
                _ => json!(true),
            };
            conn.send(Response::ok(req.id.clone(), result))
                .await
                .unwrap();
            if let (Some((host, port)), true) = (&redirect, req.method == "mining.authorize") {
                let reconnect = ServerMessage::Reconnect(Reconnect {
                    host: Some(host.clone()),
                    port: Some(*port),
                    wait_secs: Some(0),
                });
                conn.send(reconnect.into_notification()).await.unwrap();
                redirect = None;
            }
        }
    }
}

/// Pool "a" on 127.0.0.1 sends the miner to pool "b" on 127.0.0.2, once;
/// returns the authorizations seen, by either pool, in order.
async fn reconnect_elsewhere(allow: bool) -> Vec<(&'static str, String, Option<String>)> {
    let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let (a_port, b_port) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(redirecting_pool(
        "a",
        a,
        Some(("127.0.0.2".into(), b_port)),
        tx.clone(),
    ));
    tokio::spawn(redirecting_pool("b", b, None, tx));
    let mut config = config(&[a_port]);
    config.policy = PoolPolicy {
        suggest: Suggest::Off,
        allow_reconnect_elsewhere: allow,
        ..PoolPolicy::default()
    };
    let client = PoolClient::start(config).unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while seen.len() < 2 {
            seen.push(rx.recv().await.unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("authorizations: {seen:?}"));
    // Then it stays where it is: no more connections.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(more) = rx.try_recv() {
        seen.push(more);
    }
    client.stop().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_to_another_host_keeps_the_credentials_unless_allowed() {
    let auth = |pool| (pool, "bcrt1qtest.rig".to_string(), Some("x".to_string()));
    // Not allowed: the miner reconnects to "a"; "b" never sees the worker.
    assert_eq!(reconnect_elsewhere(false).await, vec![auth("a"), auth("a")]);
    // Allowed: the miner follows, credentials and all.
    assert_eq!(reconnect_elsewhere(true).await, vec![auth("a"), auth("b")]);
}
