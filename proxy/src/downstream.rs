//! The stratum v1 server the miners connect to: one task per connection ([`session`]: the
//! line loop, its deadlines and write timeout), the handshake (configure/subscribe/authorize),
//! jobs pushed as they come from the node, share submission with the standard error codes,
//! per-connection vardiff, and limits: connections in all and per source, what a source may
//! hold and when it is banned ([`limits`], with the scoring in [`ban`]). None of them can
//! stall the other sessions.

mod ban;
mod limits;
mod session;

pub use ban::BanPolicy;
pub use limits::source_of;

pub(crate) use limits::Limits;

use crate::invalid_config::{require, InvalidConfig};
use crate::pool::{worker_script, Pool};
use crate::shares::{self, ShareError};
use crate::vardiff::{Vardiff, VardiffConfig};
use bitcoin::ScriptBuf;
use serde_json::Value;
use session::{Conn, Ended};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stratum::ShareTarget;
use stratum::{
    ClientRequest, ConfigureResult, ErrorCode, Id, Response, ServerMessage, StratumError,
    SubscribeResult,
};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

/// The version bits miners may roll (BIP310/BIP320 general-purpose bits).
pub const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;

/// Default [`ServerConfig::max_per_ip`].
pub const DEFAULT_MAX_PER_IP: usize = 32;

/// Server limits and policy.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The longest line either way (a `mining.notify` paying hundreds of outputs needs more
    /// than 16 KiB).
    pub max_line_len: usize,
    /// Connections at once, in all.
    pub max_connections: usize,
    /// Connections at once from one source (an IPv4 address, or an IPv6 prefix of
    /// [`ServerConfig::ipv6_prefix`] bits).
    pub max_per_ip: usize,
    /// Subscribe and authorize within this long of connecting.
    pub handshake_timeout: Duration,
    /// Close a connection that sends no request for this long (the jobs we send do not count).
    pub idle_timeout: Duration,
    /// Drop a connection that takes longer than this to accept one write.
    pub write_timeout: Duration,
    /// Worker names one connection may authorize.
    pub max_workers: usize,
    /// The longest worker name, in bytes.
    pub max_worker_name_len: usize,
    /// The ban score (in offences: invalid shares, bad lines, unknown methods, failed
    /// authorizes) at which a source is banned...
    pub ban_after_invalid: u32,
    /// ...which drains one point per this long (valid shares do not lower it)...
    pub ban_decay: Duration,
    /// ...and the ban lasts this long.
    pub ban_for: Duration,
    /// IPv6 addresses count by this prefix for bans and [`ServerConfig::max_per_ip`].
    pub ipv6_prefix: u8,
    /// Each connection's share difficulty retargeting.
    pub vardiff: VardiffConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_line_len: stratum::DEFAULT_MAX_LINE_LEN,
            max_connections: 50_000,
            max_per_ip: DEFAULT_MAX_PER_IP,
            handshake_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(15),
            max_workers: 16,
            max_worker_name_len: 128,
            ban_after_invalid: 100,
            ban_decay: Duration::from_secs(10),
            ban_for: Duration::from_secs(600),
            ipv6_prefix: 64,
            vardiff: VardiffConfig::default(),
        }
    }
}

/// The shortest [`ServerConfig::max_line_len`]: a `mining.notify` for an empty template.
pub const MIN_LINE_LEN: usize = 1024;

impl ServerConfig {
    /// The ban policy these settings make.
    pub fn ban_policy(&self) -> BanPolicy {
        BanPolicy {
            threshold: self.ban_after_invalid,
            decay: self.ban_decay,
            ban_for: self.ban_for,
        }
    }

    /// Checks every setting (vardiff's included): nothing is clamped later, so a value
    /// that cannot work is an error here ([`serve`] refuses to start with one).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let positive = "must be more than 0";
        require(
            self.max_line_len >= MIN_LINE_LEN,
            "max_line_len",
            &format!("must be at least {MIN_LINE_LEN} bytes"),
        )?;
        require(self.max_connections > 0, "max_connections", positive)?;
        require(self.max_per_ip > 0, "max_per_ip", positive)?;
        require(
            !self.handshake_timeout.is_zero(),
            "handshake_timeout",
            positive,
        )?;
        require(!self.idle_timeout.is_zero(), "idle_timeout", positive)?;
        require(!self.write_timeout.is_zero(), "write_timeout", positive)?;
        require(self.max_workers > 0, "max_workers", positive)?;
        require(
            self.max_worker_name_len > 0,
            "max_worker_name_len",
            positive,
        )?;
        require(self.ban_after_invalid > 0, "ban_after_invalid", positive)?;
        require(!self.ban_decay.is_zero(), "ban_decay", positive)?;
        require(!self.ban_for.is_zero(), "ban_for", positive)?;
        require(
            (1..=128).contains(&self.ipv6_prefix),
            "ipv6_prefix",
            "must be from 1 to 128 bits",
        )?;
        self.vardiff.validate()
    }
}

/// Accepts miners until `shutdown` turns true, then asks every miner to reconnect; refuses
/// to start on settings that [`ServerConfig::validate`] rejects.
pub async fn serve(
    listener: TcpListener,
    pool: Arc<Pool>,
    config: ServerConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(), InvalidConfig> {
    config.validate()?;
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let limits = Arc::new(Limits::new(
        config.max_per_ip,
        config.ipv6_prefix,
        config.ban_policy(),
    ));
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
            _ = stop.changed() => return Ok(()),
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "connection limit reached");
            continue;
        };
        let admission = match limits.admit(peer.ip(), Instant::now()) {
            Ok(admission) => admission,
            Err(refused) => {
                debug!(%peer, ?refused, "connection refused");
                continue;
            }
        };
        let (pool, config, shutdown) = (Arc::clone(&pool), Arc::clone(&config), shutdown.clone());
        tokio::spawn(async move {
            pool.stats.connections.fetch_add(1, Ordering::Relaxed);
            session::run(stream, peer, &pool, &config, &admission, shutdown).await;
            pool.stats.connections.fetch_sub(1, Ordering::Relaxed);
            drop(admission);
            drop(permit);
        });
    }
}

/// What one connection may hold.
struct SessionLimits {
    max_workers: usize,
    max_worker_name_len: usize,
}

/// One miner's connection state.
struct Miner {
    session: shares::Session,
    scripts: HashMap<String, ScriptBuf>,
    vardiff: Vardiff,
    /// Difficulty to announce before the next job.
    pending_difficulty: Option<f64>,
    /// Aliases this connection was sent jobs under ([`resend_job`]).
    aliases: u32,
    /// Offences not yet charged to the source's ban score (see [`charge`]).
    invalid: u32,
    limits: SessionLimits,
}

/// Subscribed and authorized: jobs can be sent.
fn ready(m: &Miner) -> bool {
    m.session.extranonce1.is_some() && !m.session.authorized.is_empty()
}

/// Announces a pending difficulty change, then the job.
async fn send_job(
    conn: &mut Conn,
    m: &mut Miner,
    job: &crate::jobs::Job,
    force_clean: bool,
) -> Result<(), Ended> {
    let now = Instant::now();
    if let Some(d) = m.vardiff.set_ceiling(job.network_difficulty(), now) {
        m.pending_difficulty = Some(d);
    }
    if let Some(d) = m.vardiff.retarget(now) {
        m.pending_difficulty = Some(d);
    }
    let difficulty = m.pending_difficulty.take().map(|d| announce(m, d));
    // Shares for this job are judged at the difficulty announced before it.
    m.session.job_sent(job.id());
    conn.send_line(difficulty, job.notify_line(force_clean))
        .await
}

/// Puts a pending difficulty change into effect at once instead of with the next job (which
/// may be half a minute away): `mining.set_difficulty`, then `job` again under a new alias
/// (`<id>.<n>`, see [`crate::jobs`]), so shares for the alias are judged at the new difficulty
/// while those in flight for the job's own id keep the one they were found at.
async fn resend_job(conn: &mut Conn, m: &mut Miner, job: &crate::jobs::Job) -> Result<(), Ended> {
    let Some(d) = m.pending_difficulty.take() else {
        return Ok(());
    };
    let difficulty = announce(m, d);
    m.aliases = m.aliases.wrapping_add(1);
    let alias = format!("{}.{:x}", job.id(), m.aliases);
    m.session.job_sent(&alias);
    conn.send_line(Some(difficulty), &job.notify_line_as(&alias))
        .await
}

/// Makes `d` the session's share difficulty; the `mining.set_difficulty` saying so.
fn announce(m: &mut Miner, d: f64) -> stratum::Message {
    if let Ok(target) = ShareTarget::from_difficulty(d) {
        m.session.target = target;
    }
    ServerMessage::SetDifficulty(d).into_notification().into()
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
            // One extranonce1 per connection: subscribing again does not draw (and so cannot
            // cycle through) the pool's extranonce1 space.
            let extranonce1 = m
                .session
                .extranonce1
                .clone()
                .unwrap_or_else(|| pool.next_extranonce1());
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
        ClientRequest::Authorize(a) => {
            if m.session.authorized.contains(&a.username) {
                return Response::ok(id, Value::Bool(true));
            }
            let refused = if a.username.len() > m.limits.max_worker_name_len {
                Some(format!(
                    "worker name longer than {} bytes",
                    m.limits.max_worker_name_len
                ))
            } else if m.session.authorized.len() >= m.limits.max_workers {
                Some(format!(
                    "at most {} workers per connection",
                    m.limits.max_workers
                ))
            } else {
                None
            };
            let checked = match refused {
                Some(why) => Err(why),
                None => worker_script(pool, &a.username).map_err(|e| e.to_string()),
            };
            match checked {
                Ok(script) => {
                    info!(worker = %a.username, "authorized");
                    m.scripts.insert(a.username.clone(), script);
                    m.session.authorized.push(a.username);
                    Response::ok(id, Value::Bool(true))
                }
                Err(why) => {
                    // A failed authorize counts towards the ban like an invalid share.
                    m.invalid += 1;
                    Response::err(
                        Some(id),
                        StratumError::new(ErrorCode::UnauthorizedWorker, why),
                    )
                }
            }
        }
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
                // A snapshot of the book: the hashing runs without the pool's lock.
                let book = pool.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone();
                shares::validate(&book, &m.session, &submit)
            };
            if let Ok(share) = &checked {
                // Valid work, credited or not, tells vardiff how fast the miner is.
                if let Some(d) = m.vardiff.on_share(Instant::now(), share.target_difficulty) {
                    m.pending_difficulty = Some(d);
                }
            }
            match checked {
                // Over the connection's share rate: not credited, unless it is a block. Not
                // towards the ban: a miner whose difficulty is still rising gets here (for
                // the few shares until vardiff's fast retarget reaches it).
                Ok(share) if !share.is_block && !m.vardiff.admit(Instant::now()) => {
                    pool.stats.reject("rate-limited");
                    pool.note_reject(Some(&submit.worker), "rate-limited");
                    let limit = m.vardiff.share_rate_limit();
                    Response::err(Some(id), ShareError::RateLimited { limit }.to_stratum())
                }
                Ok(share) => {
                    let script = m.scripts[&submit.worker].clone();
                    // A block is submitted even when the journal fails; the share is then
                    // not acknowledged (fail closed).
                    let recorded = pool.record_share(&script, share.credit).await;
                    if recorded.is_ok() {
                        pool.note_share(&submit.worker, share.target_difficulty, share.difficulty);
                    }
                    if share.is_block {
                        pool.note_block(&share.job, &share.hash.to_string(), &submit.worker);
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
                    if let Some(alerting) = pool.alerting() {
                        alerting.share(&submit.worker);
                    }
                    Response::ok(id, Value::Bool(true))
                }
                Err(e) => {
                    pool.stats.reject(reason(&e));
                    // Per worker only for names this connection authorized.
                    let worker = m
                        .scripts
                        .contains_key(&submit.worker)
                        .then_some(submit.worker.as_str());
                    pool.note_reject(worker, reason(&e));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_every_bad_setting_is_named() {
        ServerConfig::default().validate().unwrap();
        VardiffConfig::for_network(bitcoin::Network::Bitcoin)
            .validate()
            .unwrap();
        type Change = fn(&mut ServerConfig);
        let bad: [(&str, Change); 28] = [
            ("max_line_len", |c| c.max_line_len = 100),
            ("max_connections", |c| c.max_connections = 0),
            ("max_per_ip", |c| c.max_per_ip = 0),
            ("handshake_timeout", |c| {
                c.handshake_timeout = Duration::ZERO
            }),
            ("idle_timeout", |c| c.idle_timeout = Duration::ZERO),
            ("write_timeout", |c| c.write_timeout = Duration::ZERO),
            ("max_workers", |c| c.max_workers = 0),
            ("max_worker_name_len", |c| c.max_worker_name_len = 0),
            ("ban_after_invalid", |c| c.ban_after_invalid = 0),
            ("ban_decay", |c| c.ban_decay = Duration::ZERO),
            ("ban_for", |c| c.ban_for = Duration::ZERO),
            ("ipv6_prefix", |c| c.ipv6_prefix = 0),
            ("ipv6_prefix", |c| c.ipv6_prefix = 129),
            ("vardiff.target_interval", |c| {
                c.vardiff.target_interval = Duration::ZERO
            }),
            ("vardiff.retarget_interval", |c| {
                c.vardiff.retarget_interval = Duration::ZERO
            }),
            ("vardiff.min_difficulty", |c| c.vardiff.min_difficulty = 0.0),
            ("vardiff.max_difficulty", |c| {
                c.vardiff.max_difficulty = f64::INFINITY
            }),
            ("vardiff.max_difficulty", |c| {
                c.vardiff.max_difficulty = 1e-12
            }),
            ("vardiff.initial_difficulty", |c| {
                c.vardiff.initial_difficulty = f64::NAN
            }),
            ("vardiff.initial_difficulty", |c| {
                c.vardiff.initial_difficulty = 1e-20
            }),
            ("vardiff.initial_difficulty", |c| {
                c.vardiff.initial_difficulty = 1e16
            }),
            ("vardiff.alpha", |c| c.vardiff.alpha = 0.0),
            ("vardiff.alpha", |c| c.vardiff.alpha = f64::NAN),
            ("vardiff.tolerance", |c| c.vardiff.tolerance = -1.0),
            ("vardiff.max_step", |c| c.vardiff.max_step = 1.0),
            ("vardiff.min_ceiling", |c| c.vardiff.min_ceiling = f64::NAN),
            ("vardiff.max_share_rate", |c| {
                c.vardiff.max_share_rate = f64::NAN
            }),
            ("vardiff.max_share_rate", |c| c.vardiff.max_share_rate = 0.0),
        ];
        let all = bad.into_iter().map(|(field, change)| {
            let mut config = ServerConfig::default();
            change(&mut config);
            (field, config)
        });
        for (field, config) in all {
            let e = config.validate().expect_err(field);
            assert_eq!(e.field, field, "{e}");
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
