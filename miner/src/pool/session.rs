//! One stratum v1 connection to a pool: `mining.configure` (BIP310 version
//! rolling), `mining.subscribe`, `mining.authorize`, then (once subscribed)
//! `mining.suggest_difficulty` if there is a difficulty to suggest, then
//! notifications in and shares out until the connection ends or the pool asks
//! us to reconnect.
//!
//! What the pool's messages do to the work is plain functions without I/O
//! ([`configured_mask`], [`subscribed`], [`apply`] with the [`LiveJobs`]), so
//! that the fuzz target `miner_wire` drives the same code as a connection.

use super::client::ShareStats;
use super::work::{JobTag, PoolWork, Session};
use crate::search::{Found, SearchHandle};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;
use stratum::message::Response;
use stratum::methods::{Configure, Subscribe};
use stratum::{
    Authorize, ClientRequest, ConfigureResult, Id, Message, ServerMessage, StratumCodec, Submit,
    SubscribeResult,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

/// The version bits we ask to roll (BIP310's usual general-purpose range).
pub const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;
/// How long to wait for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A pool that sends nothing for this long is presumed gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Live job ids remembered for share submission.
const LIVE_JOBS: usize = 16;

/// Where and as whom to mine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The pool's host name or IP address.
    pub host: String,
    /// The pool's TCP port.
    pub port: u16,
    /// `<payout address>[.<worker>]` for our proxy; any worker name elsewhere.
    pub user: String,
    /// The `mining.authorize` password.
    pub password: String,
}

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The TCP connection to `host:port` failed or timed out: the address, and why.
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    /// The pool closed the connection.
    #[error("pool closed the connection")]
    Closed,
    /// No line from the pool for this long.
    #[error("pool sent nothing for {0:?}")]
    Idle(Duration),
    /// Reading or writing the stratum stream failed.
    #[error("stratum transport: {0}")]
    Transport(#[from] stratum::CodecError),
    /// `mining.subscribe` got an error or an unreadable result: its text.
    #[error("pool refused the subscription: {0}")]
    Subscribe(String),
    /// `mining.authorize` was refused or answered with an error: the worker, and why.
    #[error("pool refused worker {0:?}: {1}")]
    Unauthorized(String, String),
}

/// How a session ended without error.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// `client.reconnect`: go to this place (or the same one) after `wait`.
    Reconnect {
        /// The host and port named (port 0: the current one); `None`: the same place.
        to: Option<(String, u16)>,
        /// How long the pool asked us to wait (0 if it did not say).
        wait: Duration,
    },
    /// The client is shutting down.
    Shutdown,
}

/// What an outstanding request of ours was.
enum Pending {
    Configure,
    Subscribe,
    Authorize,
    SuggestDifficulty,
    Submit,
}

/// Runs one connection until it ends. Shares arrive on `shares`; `search`
/// is restarted whenever the work changes under it; `suggest` is sent as
/// `mining.suggest_difficulty` once the pool answered the subscription.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    endpoint: &Endpoint,
    suggest: Option<f64>,
    work: &PoolWork,
    search: &SearchHandle,
    shares: &mut mpsc::Receiver<Found<JobTag>>,
    stats: &ShareStats,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<SessionEnd, SessionError> {
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| SessionError::Connect(addr.clone(), "timed out".into()))?
        .map_err(|e| SessionError::Connect(addr.clone(), e.to_string()))?;
    stream.set_nodelay(true).ok();
    let mut framed = Framed::new(stream, StratumCodec::default());
    info!(pool = %addr, "connected");

    let mut next_id = 1i64;
    let mut pending: HashMap<i64, Pending> = HashMap::new();
    let mut send = |req: ClientRequest, kind: Pending, pending: &mut HashMap<i64, Pending>| {
        let id = next_id;
        next_id += 1;
        pending.insert(id, kind);
        req.into_request(Id::Num(id))
    };
    let configure = send(
        ClientRequest::Configure(Configure::version_rolling(VERSION_ROLLING_MASK, 2)),
        Pending::Configure,
        &mut pending,
    );
    let subscribe = send(
        ClientRequest::Subscribe(Subscribe {
            user_agent: Some(concat!("mesos-miner/", env!("CARGO_PKG_VERSION")).into()),
            session_id: None,
        }),
        Pending::Subscribe,
        &mut pending,
    );
    let authorize = send(
        ClientRequest::Authorize(Authorize {
            username: endpoint.user.clone(),
            password: Some(endpoint.password.clone()),
        }),
        Pending::Authorize,
        &mut pending,
    );
    for req in [configure, subscribe, authorize] {
        framed.send(req).await?;
    }

    let mut version_mask = 0u32;
    let mut subscribed = false;
    let mut live = LiveJobs::default();
    let result = loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break Ok(SessionEnd::Shutdown);
                }
            }
            found = shares.recv() => {
                let Some(found) = found else { break Ok(SessionEnd::Shutdown) };
                let tag = &found.tag;
                if tag.epoch != work.epoch() || !live.contains(&tag.job_id) {
                    stats.stale();
                    debug!(job = %tag.job_id, "dropping a share for work the pool no longer has");
                    continue;
                }
                // Never a version outside what the pool granted: the job's
                // mask, and the current one (a `set_version_mask` may narrow it).
                let mask_now = work.version_mask();
                let version_bits = match tag.version_bits_for(found.version) {
                    Ok(bits) if bits.unwrap_or(0) & !mask_now == 0 => bits,
                    Ok(bits) => {
                        warn!(bits = format_args!("{:08x}", bits.unwrap_or(0)), mask = format_args!("{mask_now:08x}"), "dropping a share whose version bits the pool no longer allows");
                        stats.stale();
                        continue;
                    }
                    Err(version) => {
                        warn!(version = format_args!("{version:08x}"), mask = format_args!("{:08x}", tag.version_mask), "dropping a hit with a version outside the mask");
                        stats.stale();
                        continue;
                    }
                };
                let submit = Submit {
                    worker: endpoint.user.clone(),
                    job_id: tag.job_id.clone(),
                    extranonce2: tag.extranonce2.clone(),
                    ntime: tag.ntime,
                    nonce: found.hit.nonce,
                    version_bits,
                };
                let req = send(ClientRequest::Submit(submit), Pending::Submit, &mut pending);
                framed.send(req).await?;
                stats.submitted();
            }
            line = tokio::time::timeout(IDLE_TIMEOUT, framed.next()) => {
                let message = match line {
                    Err(_) => break Err(SessionError::Idle(IDLE_TIMEOUT)),
                    Ok(None) => break Err(SessionError::Closed),
                    Ok(Some(Err(e))) => break Err(e.into()),
                    Ok(Some(Ok(Err(bad)))) => {
                        warn!(error = %bad, "ignoring a malformed line from the pool");
                        continue;
                    }
                    Ok(Some(Ok(Ok(message)))) => message,
                };
                match message {
                    Message::Response(resp) => {
                        let Some(kind) = resp.id.as_ref().and_then(|id| match id {
                            Id::Num(n) => pending.remove(n),
                            Id::Str(_) => None,
                        }) else {
                            debug!(?resp, "response to no request of ours");
                            continue;
                        };
                        match kind {
                            Pending::Configure => {
                                version_mask = configured_mask(&resp);
                                if subscribed {
                                    work.set_version_mask(version_mask);
                                }
                            }
                            Pending::Subscribe => {
                                self::subscribed(&resp, version_mask, work, search, &mut live)?;
                                subscribed = true;
                                if let Some(d) = suggest {
                                    info!(difficulty = d, "suggesting a share difficulty");
                                    let req = send(ClientRequest::SuggestDifficulty(d), Pending::SuggestDifficulty, &mut pending);
                                    framed.send(req).await?;
                                }
                            }
                            Pending::SuggestDifficulty => match &resp.error {
                                None => debug!(result = %resp.result, "suggested difficulty answered"),
                                Some(e) => info!(error = %e, "the pool refused the suggested difficulty"),
                            },
                            Pending::Authorize => match resp.bool_result() {
                                Ok(true) => info!(worker = %endpoint.user, "authorized"),
                                Ok(false) => break Err(SessionError::Unauthorized(
                                    endpoint.user.clone(), "refused".into())),
                                Err(e) => break Err(SessionError::Unauthorized(
                                    endpoint.user.clone(), e.to_string())),
                            },
                            Pending::Submit => match resp.bool_result() {
                                Ok(true) => stats.accepted(),
                                Ok(false) => stats.rejected("rejected"),
                                Err(e) => stats.rejected(&e.to_string()),
                            },
                        }
                    }
                    Message::Notification(n) => {
                        match ServerMessage::from_notification(&n) {
                            Ok(msg) => {
                                if let Some(end) = apply(msg, work, search, &mut live) {
                                    break Ok(end);
                                }
                            }
                            Err(e) => warn!(method = %n.method, error = %e, "ignoring a pool message"),
                        }
                    }
                    Message::Request(req) => {
                        // `client.*` calls may come as requests; answer them.
                        let reply = match req.method.as_str() {
                            "client.get_version" => Response::ok(
                                req.id.clone(),
                                Value::from(concat!("mesos-miner/", env!("CARGO_PKG_VERSION"))),
                            ),
                            _ => match ServerMessage::parse(&req.method, &req.params) {
                                Ok(msg) => {
                                    let end = apply(msg, work, search, &mut live);
                                    framed.send(Response::ok(req.id.clone(), Value::Bool(true))).await?;
                                    if let Some(end) = end {
                                        break Ok(end);
                                    }
                                    continue;
                                }
                                Err(e) => Response::err(Some(req.id.clone()), e.to_stratum()),
                            },
                        };
                        framed.send(reply).await?;
                    }
                }
            }
        }
    };
    work.clear();
    search.restart();
    result
}

/// The job ids shares may still be submitted for: the last [`LIVE_JOBS`]
/// since the last clean job.
#[derive(Debug, Default)]
pub struct LiveJobs {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl LiveJobs {
    /// Whether shares may still be submitted for `job_id`.
    pub fn contains(&self, job_id: &str) -> bool {
        self.set.contains(job_id)
    }

    /// The number of live job ids.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no job id is live.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn clear(&mut self) {
        self.order.clear();
        self.set.clear();
    }

    /// A new job: the oldest one is forgotten once there are [`LIVE_JOBS`].
    fn push(&mut self, job_id: &str) {
        if self.set.contains(job_id) {
            return;
        }
        if self.order.len() == LIVE_JOBS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(job_id.to_owned());
        self.set.insert(job_id.to_owned());
    }
}

/// The pool's answer to `mining.subscribe`: a new session of work with the
/// mask `mining.configure` granted, or the error that ends the connection.
pub fn subscribed(
    resp: &Response,
    version_mask: u32,
    work: &PoolWork,
    search: &SearchHandle,
    live: &mut LiveJobs,
) -> Result<(), SessionError> {
    let sub = subscription(resp)?;
    info!(
        extranonce1 = %hex::encode(&sub.extranonce1),
        extranonce2_size = sub.extranonce2_size,
        version_mask = format_args!("{version_mask:08x}"),
        "subscribed"
    );
    work.set_session(Session {
        extranonce1: sub.extranonce1,
        extranonce2_size: sub.extranonce2_size,
        version_mask,
    });
    info!(mode = %work.mode(), "search mode");
    live.clear();
    search.restart();
    Ok(())
}

/// Applies a pool message to the work; returns how to end the session, if it says so.
pub fn apply(
    msg: ServerMessage,
    work: &PoolWork,
    search: &SearchHandle,
    live: &mut LiveJobs,
) -> Option<SessionEnd> {
    match msg {
        ServerMessage::Notify(notify) => {
            debug!(job = %notify.job_id, clean = notify.clean_jobs, "new job");
            if notify.clean_jobs {
                live.clear();
            }
            live.push(&notify.job_id);
            work.set_notify(notify);
            search.restart();
        }
        ServerMessage::SetDifficulty(d) => {
            let mined = work.set_difficulty(d);
            if mined == d {
                info!(difficulty = d, "share difficulty");
            } else {
                warn!(
                    asked = d,
                    mined, "the pool's share difficulty is below the floor: mining at the floor"
                );
            }
            // The current notify's next jobs get the new target at once.
            search.restart();
        }
        ServerMessage::SetExtranonce(x) => {
            work.set_extranonce(x.extranonce1, x.extranonce2_size);
            live.clear();
            search.restart();
        }
        ServerMessage::SetVersionMask(mask) => work.set_version_mask(mask),
        ServerMessage::Reconnect(r) => {
            let to = r.host.map(|h| (h, r.port.unwrap_or(0)));
            return Some(SessionEnd::Reconnect {
                to,
                wait: Duration::from_secs(r.wait_secs.unwrap_or(0)),
            });
        }
        ServerMessage::ShowMessage(text) => info!(message = %text, "pool says"),
    }
    None
}

/// The mask the pool granted in its `mining.configure` answer (0 if none),
/// within the bits we asked for.
pub fn configured_mask(resp: &Response) -> u32 {
    if resp.error.is_some() {
        return 0;
    }
    match ConfigureResult::from_value(&resp.result) {
        Ok(r) if r.version_rolling == Some(true) => {
            r.version_rolling_mask.unwrap_or(0) & VERSION_ROLLING_MASK
        }
        _ => 0,
    }
}

fn subscription(resp: &Response) -> Result<SubscribeResult, SessionError> {
    if let Some(e) = &resp.error {
        return Err(SessionError::Subscribe(e.to_string()));
    }
    SubscribeResult::from_value(&resp.result).map_err(|e| SessionError::Subscribe(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_jobs_keep_the_last_sixteen_once_each() {
        let mut live = LiveJobs::default();
        for i in 0..40 {
            live.push(&format!("j{i}"));
            live.push(&format!("j{i}"));
        }
        assert_eq!(live.len(), LIVE_JOBS);
        assert!(!live.contains("j23") && live.contains("j24") && live.contains("j39"));
        // A repeated id does not push out an older one.
        live.push("j39");
        assert!(live.contains("j24"));
        live.clear();
        assert!(live.is_empty() && !live.contains("j39"));
    }

    #[test]
    fn configured_masks_stay_inside_what_we_asked_for() {
        let granted = |mask: &str| {
            let result = serde_json::json!({"version-rolling": true, "version-rolling.mask": mask});
            configured_mask(&Response::ok(Id::Num(1), result))
        };
        assert_eq!(granted("ffffffff"), VERSION_ROLLING_MASK);
        assert_eq!(granted("00006000"), 0x6000);
        assert_eq!(granted("e0000000"), 0);
        let refused = serde_json::json!({"version-rolling": false});
        assert_eq!(configured_mask(&Response::ok(Id::Num(1), refused)), 0);
    }
}
