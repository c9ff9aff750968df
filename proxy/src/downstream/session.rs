//! One miner's connection loop: newline-delimited JSON with a bounded line length, requests
//! handed to [`super::handle`], jobs pushed as they come from the node.
//!
//! Every input is bounded in time: the handshake (subscribe and authorize) must finish by a
//! deadline, the idle deadline moves only when the miner sends a request (never for the jobs
//! we send), and a write the miner does not read within the write timeout drops the
//! connection (and with it everything buffered for it). Bad input is charged to the source's
//! ban score ([`super::limits`]); the connection closes when that bans the source.

use super::limits::Admission;
use super::{handle, ready, resend_job, send_job, Miner, ServerConfig, SessionLimits};
use crate::pool::Pool;
use crate::shares;
use crate::vardiff::Vardiff;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stratum::ShareTarget;
use stratum::{ClientRequest, Line, Message, ParseError, Response, ServerMessage, StratumCodec};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};
use tokio_util::codec::Framed;
use tracing::{debug, warn};

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// The miner closed the connection.
    Closed,
    /// A line too long, or an I/O error: the stream cannot be trusted further.
    Broken,
    /// Not subscribed and authorized by the handshake deadline.
    Handshake,
    /// No request within the idle timeout.
    Idle,
    /// A write not taken within the write timeout.
    SlowReader,
    /// Its source's ban score reached the threshold.
    Banned,
    /// The server is shutting down (the miner was asked to reconnect).
    Shutdown,
    /// The job channel closed.
    NoJobs,
}

/// The framed connection, every write bounded by the write timeout.
pub(super) struct Conn {
    framed: Framed<TcpStream, StratumCodec>,
    write_timeout: Duration,
}

impl Conn {
    pub(super) async fn send(&mut self, message: impl Into<Message>) -> Result<(), Ended> {
        Self::bounded(self.write_timeout, self.framed.send(message.into())).await
    }

    /// Sends `before` (if any) and the shared, already serialized `line` with one flush: one
    /// write for a difficulty change and its job, and no serialization per connection.
    pub(super) async fn send_line(
        &mut self,
        before: Option<Message>,
        line: &Line,
    ) -> Result<(), Ended> {
        let framed = &mut self.framed;
        Self::bounded(self.write_timeout, async move {
            if let Some(message) = before {
                framed.feed(message).await?;
            }
            framed.send(line).await
        })
        .await
    }

    async fn bounded(
        limit: Duration,
        write: impl std::future::Future<Output = Result<(), stratum::CodecError>>,
    ) -> Result<(), Ended> {
        match tokio::time::timeout(limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ended::Broken),
            Err(_) => Err(Ended::SlowReader),
        }
    }
}

/// Serves one connection until it ends.
pub(super) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    pool: &Arc<Pool>,
    config: &ServerConfig,
    admission: &Admission,
    mut shutdown: watch::Receiver<bool>,
) -> Ended {
    stream.set_nodelay(true).ok();
    let mut conn = Conn {
        framed: Framed::new(stream, StratumCodec::new(config.max_line_len)),
        write_timeout: config.write_timeout,
    };
    let mut jobs = pool.jobs_tx.subscribe();
    let vardiff = Vardiff::new(config.vardiff.clone(), Instant::now());
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
        aliases: 0,
        vardiff,
        invalid: 0,
        limits: SessionLimits {
            max_workers: config.max_workers,
            max_worker_name_len: config.max_worker_name_len,
        },
    };
    debug!(%peer, "miner connected");
    let opened = tokio::time::Instant::now();
    let handshake_by = opened + config.handshake_timeout;
    let mut idle_by = opened + config.idle_timeout;
    // One timer for both deadlines, moved only by the miner's requests (not by our jobs).
    let deadline = tokio::time::sleep_until(idle_by.min(handshake_by));
    tokio::pin!(deadline);
    let ended = loop {
        let item = tokio::select! {
            item = conn.framed.next() => item,
            job = jobs.recv() => {
                let sent = match job {
                    Ok(job) if ready(&m) => send_job(&mut conn, &mut m, &job, false).await,
                    Ok(_) => Ok(()),
                    Err(broadcast::error::RecvError::Lagged(_)) => match pool.latest_job() {
                        Some(job) if ready(&m) => send_job(&mut conn, &mut m, &job, true).await,
                        _ => Ok(()),
                    },
                    Err(broadcast::error::RecvError::Closed) => Err(Ended::NoJobs),
                };
                match sent {
                    Ok(()) => continue,
                    Err(ended) => break ended,
                }
            }
            () = &mut deadline => {
                break if ready(&m) || tokio::time::Instant::now() < handshake_by {
                    Ended::Idle
                } else {
                    Ended::Handshake
                };
            }
            _ = shutdown.changed() => {
                let bye = ServerMessage::Reconnect(Default::default()).into_notification();
                let _ = conn.send(bye).await;
                break Ended::Shutdown;
            }
        };
        let message = match item {
            None => break Ended::Closed,
            Some(Err(e)) => {
                debug!(%peer, error = %e, "unreadable stream");
                break Ended::Broken;
            }
            Some(Ok(message)) => message,
        };
        let was_request = matches!(message, Ok(Message::Request(_)));
        let handled = on_message(&mut conn, pool, &mut m, message).await;
        // Charged even when the answer could not be written.
        if charge(&mut m, admission) {
            break Ended::Banned;
        }
        if let Err(ended) = handled {
            break ended;
        }
        if was_request {
            idle_by = tokio::time::Instant::now() + config.idle_timeout;
        }
        let by = if ready(&m) {
            idle_by
        } else {
            idle_by.min(handshake_by)
        };
        deadline.as_mut().reset(by);
    };
    match ended {
        Ended::Banned => {
            warn!(%peer, source = %admission.source(), "banned after repeated bad input")
        }
        Ended::Closed => debug!(%peer, "miner disconnected"),
        other => debug!(%peer, reason = ?other, "closing connection"),
    }
    ended
}

/// Charges the session's pending offences to its source; true when that banned it.
fn charge(m: &mut Miner, admission: &Admission) -> bool {
    let points = std::mem::take(&mut m.invalid);
    points > 0 && admission.offend(points)
}

/// Handles one line from the miner.
async fn on_message(
    conn: &mut Conn,
    pool: &Arc<Pool>,
    m: &mut Miner,
    message: Result<Message, ParseError>,
) -> Result<(), Ended> {
    let req = match message {
        Err(bad) => {
            m.invalid += 1;
            return conn.send(Response::err(None, bad.to_stratum())).await;
        }
        // Miners have nothing to notify us of, nor requests of ours to answer.
        Ok(Message::Notification(_) | Message::Response(_)) => {
            m.invalid += 1;
            return Ok(());
        }
        Ok(Message::Request(req)) => req,
    };
    let id = req.id.clone();
    let call = match ClientRequest::from_request(&req) {
        Ok(call) => call,
        Err(e) => {
            // Unknown methods and bad params count towards the ban. A submit whose fields do
            // not parse is an invalid share like any other: counted as one too.
            if req.method == stratum::methods::names::SUBMIT {
                pool.stats.reject("malformed");
            }
            m.invalid += 1;
            return conn.send(Response::err(Some(id), e.to_stratum())).await;
        }
    };
    let was_ready = ready(m);
    let reply = handle(call, id, pool, m).await;
    conn.send(reply).await?;
    if !was_ready && ready(m) {
        if let Some(job) = pool.latest_job() {
            send_job(conn, m, &job, true).await?;
        }
    } else if ready(m) && m.pending_difficulty.is_some() {
        // A difficulty changed by vardiff or `mining.suggest_difficulty` applies at once.
        if let Some(job) = pool.latest_job() {
            resend_job(conn, m, &job).await?;
        }
    }
    Ok(())
}
