//! The stratum v1 server the miners connect to: one task per connection,
//! newline-delimited JSON with a bounded line length, the handshake
//! (configure/subscribe/authorize), jobs pushed as they come from the node,
//! share submission with the standard error codes, per-connection vardiff,
//! and limits (connections in all and per IP, idle timeout, a ban after
//! repeated invalid shares) that none of which can stall the other sessions.

use crate::pool::{worker_script, Pool};
use crate::shares::{self, ShareError};
use crate::vardiff::{Vardiff, VardiffConfig};
use bitcoin::ScriptBuf;
use futures_util::{SinkExt, StreamExt};
use miner::ShareTarget;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stratum::{
    ClientRequest, ConfigureResult, ErrorCode, Id, Message, Response, ServerMessage, StratumCodec,
    StratumError, SubscribeResult,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch, Semaphore};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

/// The version bits miners may roll (BIP310/BIP320 general-purpose bits).
pub const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;

/// Server limits and policy.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub max_line_len: usize,
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub idle_timeout: Duration,
    /// Invalid shares that get a connection closed and its IP banned...
    pub ban_after_invalid: u32,
    /// ...for this long.
    pub ban_for: Duration,
    pub vardiff: VardiffConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            // Both ways: a mining.notify paying hundreds of outputs needs more than 16 KiB.
            max_line_len: stratum::DEFAULT_MAX_LINE_LEN,
            max_connections: 50_000,
            max_per_ip: 50_000,
            idle_timeout: Duration::from_secs(600),
            ban_after_invalid: 100,
            ban_for: Duration::from_secs(600),
            vardiff: VardiffConfig::default(),
        }
    }
}

#[derive(Default)]
struct Gate {
    per_ip: HashMap<IpAddr, usize>,
    banned: HashMap<IpAddr, Instant>,
}

/// Accepts miners until `shutdown` turns true, then asks every miner to reconnect.
pub async fn serve(
    listener: TcpListener,
    pool: Arc<Pool>,
    config: ServerConfig,
    shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let gate = Arc::new(Mutex::new(Gate::default()));
    let config = Arc::new(config);
    let mut stop = shutdown.clone();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "connection limit reached");
            continue;
        };
        {
            let mut g = gate.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            g.banned.retain(|_, until| *until > now);
            if g.banned.contains_key(&peer.ip()) {
                continue;
            }
            let n = g.per_ip.entry(peer.ip()).or_default();
            if *n >= config.max_per_ip {
                continue;
            }
            *n += 1;
        }
        let (pool, config, gate, shutdown) = (
            Arc::clone(&pool),
            Arc::clone(&config),
            Arc::clone(&gate),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            pool.stats
                .connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let banned = session(stream, peer, &pool, &config, shutdown).await;
            pool.stats
                .connections
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let mut g = gate.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = g.per_ip.get_mut(&peer.ip()) {
                *n -= 1;
                if *n == 0 {
                    g.per_ip.remove(&peer.ip());
                }
            }
            if banned {
                warn!(%peer, "banned after repeated invalid shares");
                g.banned.insert(peer.ip(), Instant::now() + config.ban_for);
            }
            drop(permit);
        });
    }
}

/// One miner's connection state.
struct Miner {
    session: shares::Session,
    scripts: HashMap<String, ScriptBuf>,
    vardiff: Vardiff,
    /// Difficulty to announce before the next job.
    pending_difficulty: Option<f64>,
    invalid: u32,
}

/// Serves one connection; returns whether its IP should be banned.
async fn session(
    stream: TcpStream,
    peer: SocketAddr,
    pool: &Arc<Pool>,
    config: &ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> bool {
    stream.set_nodelay(true).ok();
    let mut conn = Framed::new(stream, StratumCodec::new(config.max_line_len));
    let mut jobs = pool.jobs_tx.subscribe();
    let now = Instant::now();
    let vardiff = Vardiff::new(config.vardiff.clone(), now);
    let mut m = Miner {
        session: shares::Session {
            extranonce1: None,
            extranonce2_size: pool.config.coinbase.extranonce2_size,
            authorized: Vec::new(),
            version_mask: 0,
            target: ShareTarget::from_difficulty(vardiff.difficulty())
                .expect("vardiff difficulties are positive"),
            job_targets: Default::default(),
        },
        scripts: HashMap::new(),
        pending_difficulty: Some(vardiff.difficulty()),
        vardiff,
        invalid: 0,
    };
    debug!(%peer, "miner connected");
    loop {
        let event = tokio::select! {
            line = tokio::time::timeout(config.idle_timeout, conn.next()) => line,
            job = jobs.recv() => {
                match job {
                    Ok(job) => {
                        if ready(&m) && send_job(&mut conn, &mut m, &job, false).await.is_err() {
                            return false;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(job) = pool.latest_job() {
                            if ready(&m) && send_job(&mut conn, &mut m, &job, true).await.is_err() {
                                return false;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return false,
                }
                continue;
            }
            _ = shutdown.changed() => {
                let bye = ServerMessage::Reconnect(Default::default()).into_notification();
                let _ = conn.send(bye).await;
                return false;
            }
        };
        let message = match event {
            Err(_) => {
                debug!(%peer, "idle timeout");
                return false;
            }
            Ok(None) => return false,
            Ok(Some(Err(e))) => {
                // Line too long or I/O error: the stream cannot be trusted further.
                debug!(%peer, error = %e, "closing connection");
                return false;
            }
            Ok(Some(Ok(Err(bad)))) => {
                let reply = Response::err(None, bad.to_stratum());
                if conn.send(reply).await.is_err() {
                    return false;
                }
                m.invalid += 1;
                if m.invalid >= config.ban_after_invalid {
                    return true;
                }
                continue;
            }
            Ok(Some(Ok(Ok(message)))) => message,
        };
        let Message::Request(req) = message else {
            continue;
        };
        let id = req.id.clone();
        let call = match ClientRequest::from_request(&req) {
            Ok(call) => call,
            Err(e) => {
                if conn
                    .send(Response::err(Some(id), e.to_stratum()))
                    .await
                    .is_err()
                {
                    return false;
                }
                // A submit whose fields do not parse is an invalid share like any other:
                // counted, and toward the ban.
                if req.method == stratum::methods::names::SUBMIT {
                    pool.stats.reject("malformed");
                    m.invalid += 1;
                    if m.invalid >= config.ban_after_invalid {
                        return true;
                    }
                }
                continue;
            }
        };
        let was_ready = ready(&m);
        let reply = handle(call, id, pool, &mut m).await;
        if conn.send(reply).await.is_err() {
            return false;
        }
        if m.invalid >= config.ban_after_invalid {
            return true;
        }
        if !was_ready && ready(&m) {
            if let Some(job) = pool.latest_job() {
                if send_job(&mut conn, &mut m, &job, true).await.is_err() {
                    return false;
                }
            }
        }
    }
}

/// Subscribed and authorized: jobs can be sent.
fn ready(m: &Miner) -> bool {
    m.session.extranonce1.is_some() && !m.session.authorized.is_empty()
}

/// Announces a pending difficulty change, then the job.
async fn send_job(
    conn: &mut Framed<TcpStream, StratumCodec>,
    m: &mut Miner,
    job: &crate::jobs::Job,
    force_clean: bool,
) -> Result<(), stratum::CodecError> {
    let now = Instant::now();
    if let Some(d) = m.vardiff.set_ceiling(job.network_difficulty(), now) {
        m.pending_difficulty = Some(d);
    }
    if let Some(d) = m.vardiff.retarget(now) {
        m.pending_difficulty = Some(d);
    }
    if let Some(d) = m.pending_difficulty.take() {
        if let Ok(target) = ShareTarget::from_difficulty(d) {
            m.session.target = target;
        }
        conn.send(ServerMessage::SetDifficulty(d).into_notification())
            .await?;
    }
    // Shares for this job are judged at the difficulty announced before it.
    m.session.job_sent(job.id());
    let mut notify = job.notify();
    notify.clean_jobs |= force_clean;
    conn.send(ServerMessage::Notify(notify).into_notification())
        .await
}

async fn handle(call: ClientRequest, id: Id, pool: &Arc<Pool>, m: &mut Miner) -> Response {
    match call {
        ClientRequest::Configure(c) => {
            let mask = c
                .version_rolling
                .map(|v| v.mask & VERSION_ROLLING_MASK)
                .unwrap_or(0);
            m.session.version_mask = mask;
            Response::ok(id, ConfigureResult::version_rolling(mask).to_value())
        }
        ClientRequest::Subscribe(_) => {
            let extranonce1 = pool.next_extranonce1();
            m.session.extranonce1 = Some(extranonce1.clone());
            let sub = SubscribeResult {
                subscriptions: vec![
                    ("mining.set_difficulty".into(), hex::encode(&extranonce1)),
                    ("mining.notify".into(), hex::encode(&extranonce1)),
                ],
                extranonce1,
                extranonce2_size: m.session.extranonce2_size,
            };
            Response::ok(id, sub.to_value())
        }
        ClientRequest::Authorize(a) => match worker_script(pool, &a.username) {
            Ok(script) => {
                info!(worker = %a.username, "authorized");
                m.scripts.insert(a.username.clone(), script);
                m.session.authorized.push(a.username);
                Response::ok(id, Value::Bool(true))
            }
            Err(e) => Response::err(
                Some(id),
                StratumError::new(ErrorCode::UnauthorizedWorker, e.to_string()),
            ),
        },
        ClientRequest::SuggestDifficulty(d) => {
            let now = Instant::now();
            // Capped at the network difficulty (of the latest job, and of every job sent).
            if let Some(job) = pool.latest_job() {
                m.vardiff.set_ceiling(job.network_difficulty(), now);
            }
            let d = m.vardiff.set_difficulty(d, now);
            m.pending_difficulty = Some(d);
            Response::ok(id, Value::Bool(true))
        }
        ClientRequest::ExtranonceSubscribe => Response::ok(id, Value::Bool(true)),
        ClientRequest::Submit(submit) => {
            let checked = {
                let book = pool.jobs.lock().unwrap_or_else(|e| e.into_inner());
                shares::validate(&book, &m.session, &submit)
            };
            match checked {
                // Over the connection's share rate: not credited, unless it is a block. Not
                // towards the ban: a miner whose difficulty is still rising gets here.
                Ok(share) if !share.is_block && !m.vardiff.admit(Instant::now()) => {
                    pool.stats.reject("rate-limited");
                    let limit = m.vardiff.share_rate_limit();
                    Response::err(Some(id), ShareError::RateLimited { limit }.to_stratum())
                }
                Ok(share) => {
                    let script = m.scripts[&submit.worker].clone();
                    // A block is submitted even when the journal fails; the share is then
                    // not acknowledged (fail closed).
                    let recorded = pool.record_share(&script, share.credit).await;
                    if share.is_block {
                        let extranonce1 = m.session.extranonce1.clone().unwrap_or_default();
                        match share
                            .job
                            .block_hex(&share.header, &extranonce1, &submit.extranonce2)
                        {
                            Ok(hex) => {
                                pool.found_block(
                                    share.hash.to_string(),
                                    share.job.template().height,
                                    hex,
                                )
                                .await
                            }
                            Err(e) => warn!(error = %e, "cannot assemble a found block"),
                        }
                    }
                    if let Err(e) = recorded {
                        return Response::err(
                            Some(id),
                            StratumError::new(
                                ErrorCode::Other,
                                format!("the pool cannot record shares now: {e}"),
                            ),
                        );
                    }
                    if let Some(d) = m.vardiff.on_share(Instant::now()) {
                        m.pending_difficulty = Some(d);
                    }
                    m.invalid = m.invalid.saturating_sub(1);
                    Response::ok(id, Value::Bool(true))
                }
                Err(e) => {
                    pool.stats.reject(reason(&e));
                    // A stale share (for a job we handed out and retired) is the network's
                    // latency, not misbehaviour: a fast miner has dozens in flight whenever a
                    // block makes a new job (on regtest, many times a second). It does not
                    // count towards the ban; a share for a job never handed out does.
                    if e != ShareError::Stale {
                        m.invalid += 1;
                    }
                    Response::err(Some(id), e.to_stratum())
                }
            }
        }
    }
}

fn reason(e: &ShareError) -> &'static str {
    match e.code() {
        ErrorCode::JobNotFound => "stale",
        ErrorCode::DuplicateShare => "duplicate",
        ErrorCode::LowDifficulty => "low-difficulty",
        ErrorCode::UnauthorizedWorker => "unauthorized",
        ErrorCode::NotSubscribed => "not-subscribed",
        _ => "malformed",
    }
}
