//! Observability over HTTP (hyper 1): `GET /metrics` in the Prometheus text exposition format
//! and `GET /api/stats` as JSON, both read from the pool's [`Stats`] counters, and the
//! dashboard's pages and `/api/v1/...` ([`crate::api`]).
//!
//! The server is bounded like the stratum side ([`HttpConfig`]): connections in all and per
//! source (IPv4 address or IPv6 /64, counted by [`crate::downstream`]'s table), a deadline for
//! each request's header, a header size limit, and a lifetime per connection after which it is
//! shut down gracefully.
//!
//! The hash rate is estimated from the accepted share difficulty over a sliding window:
//! `difficulty_sum * 2^32 / seconds`. The server samples the cumulative difficulty on a timer
//! (and on every request), keeping just enough samples to cover the window.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashboard::http::{self as web, Body};
use dashboard::metrics::{labelled, plain, Exposition};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

use crate::api::Dashboard;
use crate::downstream::{BanPolicy, Limits};
use crate::pool::{Pool, Stats};

/// The reasons `downstream` rejects shares with; always exported, zero or not.
pub const REJECT_REASONS: &[&str] = &[
    "duplicate",
    "low-difficulty",
    "malformed",
    "not-subscribed",
    "stale",
    "unauthorized",
];

/// The default hash-rate window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);

/// The server's limits.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The hash-rate window.
    pub window: Duration,
    /// Connections at once, in all; more are closed at once.
    pub max_connections: usize,
    /// Connections at once from one source (IPv4 address, or IPv6 /64).
    pub max_per_ip: usize,
    /// A request's header must arrive within this long (from the connection's start, or the
    /// end of the previous response): slow or silent clients are closed.
    pub header_read_timeout: Duration,
    /// The most bytes buffered for a request's header (at least 8192, hyper's floor); a larger
    /// header is answered 431 and the connection closed.
    pub max_header_bytes: usize,
    /// A connection is shut down gracefully (after the response in flight) once this old
    /// (an event stream too: the page reconnects).
    pub max_connection_age: Duration,
    /// The dashboard's block explorer link pattern (`{hash}`, `{height}`).
    pub explorer_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            max_connections: 64,
            max_per_ip: 8,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connection_age: Duration::from_secs(300),
            explorer_url: None,
        }
    }
}

/// `GET /api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StatsReport {
    /// Connected miners (stratum connections).
    pub workers: u64,
    /// Hashes per second estimated from the accepted share difficulty over the window.
    pub hash_rate: f64,
    /// The window the hash rate covers, in seconds.
    pub hash_rate_window_seconds: f64,
    /// Shares accepted (and journaled) since the proxy started.
    pub shares_accepted: u64,
    /// Rejected shares by reason.
    pub shares_rejected: BTreeMap<String, u64>,
    /// Sum of the difficulties of the accepted shares.
    pub accepted_difficulty: f64,
    /// Blocks found since the proxy started, whatever the node answered.
    pub blocks_found: u64,
    /// Found blocks the node took as new and valid (`null`, or inconclusive then in the
    /// best chain).
    pub blocks_accepted: u64,
    /// `submitblock` answered `duplicate` (already known, valid).
    #[serde(default)]
    pub blocks_duplicate: u64,
    /// `submitblock` answered `inconclusive` / `duplicate-inconclusive`.
    #[serde(default)]
    pub blocks_inconclusive: u64,
    /// Inconclusive blocks that did not make the best chain.
    #[serde(default)]
    pub blocks_stale: u64,
    /// Blocks the node rejected, by its reason.
    #[serde(default)]
    pub blocks_rejected: BTreeMap<String, u64>,
    /// `submitblock` attempts retried after a transport error.
    #[serde(default)]
    pub block_submit_retries: u64,
    /// Alert webhook deliveries (zero when alerts are off).
    #[serde(default)]
    pub alerts: crate::alerting::AlertStats,
}

/// Sliding-window hash-rate estimate from samples of the cumulative accepted difficulty.
#[derive(Debug)]
pub struct HashRateMeter {
    window: Duration,
    samples: VecDeque<(Instant, f64)>,
}

impl HashRateMeter {
    /// A meter whose first sample is `(now, total)`.
    pub fn new(window: Duration, now: Instant, total: f64) -> Self {
        Self {
            window: window.max(Duration::from_millis(1)),
            samples: VecDeque::from([(now, total)]),
        }
    }

    /// Records the cumulative difficulty `total` at `now`, drops the samples the window no
    /// longer needs, and returns the hash rate since the oldest kept sample.
    pub fn sample(&mut self, now: Instant, total: f64) -> f64 {
        self.samples.push_back((now, total));
        // Keep one sample at or before the window's start as the anchor.
        while self.samples.len() > 2
            && now.saturating_duration_since(self.samples[1].0) >= self.window
        {
            self.samples.pop_front();
        }
        let (since, base) = self.samples[0];
        let seconds = now.saturating_duration_since(since).as_secs_f64();
        if seconds <= 0.0 {
            return 0.0;
        }
        ((total - base).max(0.0) * 4_294_967_296.0 / seconds).max(0.0)
    }
}

/// What the handlers share.
struct State {
    pool: Arc<Pool>,
    meter: Mutex<HashRateMeter>,
    dashboard: Arc<Dashboard>,
}

impl State {
    fn report(&self) -> StatsReport {
        let stats = &self.pool.stats;
        let accepted_difficulty = stats.accepted_difficulty();
        let (hash_rate, window) = {
            let mut meter = self.meter.lock().unwrap_or_else(|e| e.into_inner());
            (
                meter.sample(Instant::now(), accepted_difficulty),
                meter.window,
            )
        };
        StatsReport {
            workers: stats.connections.load(Ordering::Relaxed),
            hash_rate,
            hash_rate_window_seconds: window.as_secs_f64(),
            shares_accepted: stats.accepted.load(Ordering::Relaxed),
            shares_rejected: rejected(stats),
            accepted_difficulty,
            blocks_found: stats.blocks_found.load(Ordering::Relaxed),
            blocks_accepted: stats.blocks_accepted.load(Ordering::Relaxed),
            blocks_duplicate: stats.blocks_duplicate.load(Ordering::Relaxed),
            blocks_inconclusive: stats.blocks_inconclusive.load(Ordering::Relaxed),
            blocks_stale: stats.blocks_stale.load(Ordering::Relaxed),
            blocks_rejected: stats
                .blocks_rejected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            block_submit_retries: stats.submit_retries.load(Ordering::Relaxed),
            alerts: self.pool.alerting().map(|a| a.stats()).unwrap_or_default(),
        }
    }
}

/// Rejections by reason, every known reason included.
fn rejected(stats: &Stats) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = REJECT_REASONS
        .iter()
        .map(|r| ((*r).to_owned(), 0))
        .collect();
    let counted = stats.rejected.lock().unwrap_or_else(|e| e.into_inner());
    for (reason, n) in counted.iter() {
        *out.entry((*reason).to_owned()).or_default() += n;
    }
    out
}

/// The Prometheus text exposition (format 0.0.4) of `report`.
pub fn render_metrics(report: &StatsReport) -> String {
    let mut metrics = Exposition::with_capacity(2048);
    metrics.metric(
        "proxy_shares_accepted_total",
        "counter",
        "Shares accepted.",
        &plain(report.shares_accepted.to_string()),
    );
    metrics.metric(
        "proxy_shares_rejected_total",
        "counter",
        "Shares rejected, by reason.",
        &labelled("reason", &report.shares_rejected),
    );
    metrics.metric(
        "proxy_accepted_share_difficulty_total",
        "counter",
        "Sum of the difficulties of the accepted shares.",
        &plain(float(report.accepted_difficulty)),
    );
    metrics.metric(
        "proxy_blocks_found_total",
        "counter",
        "Shares that were blocks.",
        &plain(report.blocks_found.to_string()),
    );
    metrics.metric(
        "proxy_blocks_accepted_total",
        "counter",
        "Found blocks the node accepted.",
        &plain(report.blocks_accepted.to_string()),
    );
    metrics.metric(
        "proxy_blocks_duplicate_total",
        "counter",
        "Found blocks the node already had (submitblock: duplicate).",
        &plain(report.blocks_duplicate.to_string()),
    );
    metrics.metric(
        "proxy_blocks_inconclusive_total",
        "counter",
        "Found blocks stored but not validated on the best chain (submitblock: inconclusive).",
        &plain(report.blocks_inconclusive.to_string()),
    );
    metrics.metric(
        "proxy_blocks_stale_total",
        "counter",
        "Inconclusive blocks that did not make it into the best chain.",
        &plain(report.blocks_stale.to_string()),
    );
    metrics.metric(
        "proxy_blocks_rejected_total",
        "counter",
        "Found blocks the node rejected, by its reason.",
        &labelled("reason", &report.blocks_rejected),
    );
    metrics.metric(
        "proxy_block_submit_retries_total",
        "counter",
        "submitblock attempts retried after a transport error.",
        &plain(report.block_submit_retries.to_string()),
    );
    metrics.metric(
        "proxy_connections",
        "gauge",
        "Connected stratum miners.",
        &plain(report.workers.to_string()),
    );
    metrics.metric(
        "proxy_hash_rate",
        "gauge",
        "Hashes per second estimated from accepted share difficulty over the window.",
        &plain(float(report.hash_rate)),
    );
    let alerts = &report.alerts;
    for (name, help, value) in [
        (
            "proxy_alerts_sent_total",
            "Alert webhook deliveries answered 2xx.",
            alerts.sent,
        ),
        (
            "proxy_alerts_failed_total",
            "Alert webhook deliveries given up (retries exhausted or a final error).",
            alerts.failed,
        ),
        (
            "proxy_alerts_dropped_total",
            "Alerts dropped because a webhook's queue was full.",
            alerts.dropped,
        ),
        (
            "proxy_alert_retries_total",
            "Alert webhook POSTs retried.",
            alerts.retries,
        ),
    ] {
        metrics.metric(name, "counter", help, &plain(value.to_string()));
    }
    metrics.metric(
        "proxy_workers_offline",
        "gauge",
        "Workers reported offline (no accepted share for --alert-offline-secs).",
        &plain(alerts.workers_offline.to_string()),
    );
    metrics.finish()
}

/// A float in the exposition format (`+Inf`, `NaN` spelled as Prometheus expects).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path();
    let response = match (request.method(), path) {
        (&Method::GET, "/metrics") => web::respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            render_metrics(&state.report()),
        ),
        (&Method::GET, "/api/stats") => web::json(&state.report()),
        (_, "/metrics" | "/api/stats") => web::error(StatusCode::METHOD_NOT_ALLOWED, "GET only"),
        (method, _) => {
            match crate::api::handle(&state.dashboard, method, path, request.uri().query()).await {
                Some(response) => response,
                None => web::error(StatusCode::NOT_FOUND, "not found"),
            }
        }
    };
    Ok(response)
}

/// Serves `/metrics`, `/api/stats` and the dashboard on `listener` until `shutdown` turns
/// true, with the default limits. The hash rate covers the last `window`.
pub async fn serve(
    listener: TcpListener,
    pool: Arc<Pool>,
    window: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let config = HttpConfig {
        window,
        ..HttpConfig::default()
    };
    serve_with(listener, pool, config, shutdown).await
}

/// [`serve`] with the limits in `config`.
pub async fn serve_with(
    listener: TcpListener,
    pool: Arc<Pool>,
    config: HttpConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let window = config.window;
    let dashboard = Arc::new(Dashboard::new(
        Arc::clone(&pool),
        config.explorer_url.clone(),
    ));
    let state = Arc::new(State {
        dashboard,
        meter: Mutex::new(HashRateMeter::new(
            window,
            Instant::now(),
            pool.stats.accepted_difficulty(),
        )),
        pool,
    });
    let slots = Arc::new(Semaphore::new(config.max_connections));
    // The stratum side's per-source table; nothing is ever charged to a score here.
    let sources = Arc::new(Limits::new(
        config.max_per_ip,
        64,
        BanPolicy {
            threshold: u32::MAX,
            decay: Duration::from_secs(1),
            ban_for: Duration::ZERO,
        },
    ));
    let config = Arc::new(config);
    // Sample often enough that the window's anchor is never much older than the window.
    let mut tick = tokio::time::interval((window / 10).max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "http: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = tick.tick() => {
                let total = state.pool.stats.accepted_difficulty();
                state
                    .meter
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .sample(Instant::now(), total);
                continue;
            }
            _ = shutdown.changed() => return,
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "http: connection limit reached");
            continue;
        };
        let admission = match sources.admit(peer.ip(), Instant::now()) {
            Ok(admission) => admission,
            Err(refused) => {
                debug!(%peer, ?refused, "http: connection refused");
                continue;
            }
        };
        let (state, config) = (Arc::clone(&state), Arc::clone(&config));
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, Arc::clone(&state)));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(config.header_read_timeout)
                .max_buf_size(config.max_header_bytes.max(8192))
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = tokio::time::sleep(config.max_connection_age) => {
                    conn.as_mut().graceful_shutdown();
                    // The response in flight gets one more header deadline to go out.
                    match tokio::time::timeout(config.header_read_timeout, conn.as_mut()).await {
                        Ok(ended) => ended,
                        Err(_) => Ok(()),
                    }
                }
            };
            if let Err(e) = ended {
                debug!(%peer, error = %e, "http connection ended");
            }
            drop(admission);
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_rate_over_the_window() {
        let t0 = Instant::now();
        let mut m = HashRateMeter::new(Duration::from_secs(60), t0, 0.0);
        assert_eq!(m.sample(t0, 0.0), 0.0);
        // Difficulty 1 every 10 s = 2^32 / 10 H/s.
        let mut rate = 0.0;
        for i in 1..=30u64 {
            rate = m.sample(t0 + Duration::from_secs(10 * i), i as f64);
        }
        assert!((rate - 4_294_967_296.0 / 10.0).abs() < 1.0, "{rate}");
        // Old samples are dropped: at most the window plus one anchor.
        assert!(m.samples.len() <= 8, "{}", m.samples.len());
        // The rate falls once shares stop.
        let idle = m.sample(t0 + Duration::from_secs(300 + 600), 30.0);
        assert_eq!(idle, 0.0);
    }

    #[test]
    fn metrics_text_format() {
        let report = StatsReport {
            workers: 3,
            hash_rate: 1.5e6,
            hash_rate_window_seconds: 600.0,
            shares_accepted: 10,
            shares_rejected: BTreeMap::from([("stale".into(), 2), ("we\"ird".into(), 1)]),
            accepted_difficulty: 0.25,
            blocks_found: 6,
            blocks_accepted: 1,
            blocks_duplicate: 2,
            blocks_inconclusive: 1,
            blocks_stale: 1,
            blocks_rejected: BTreeMap::from([("high-hash".into(), 2), ("bad-cb-height".into(), 1)]),
            block_submit_retries: 4,
            alerts: crate::alerting::AlertStats {
                sent: 7,
                failed: 1,
                dropped: 2,
                retries: 3,
                workers_offline: 1,
            },
        };
        let text = render_metrics(&report);
        assert!(text.contains("proxy_alerts_sent_total 7\n"));
        assert!(text.contains("proxy_alerts_failed_total 1\n"));
        assert!(text.contains("proxy_alerts_dropped_total 2\n"));
        assert!(text.contains("proxy_alert_retries_total 3\n"));
        assert!(text.contains("# TYPE proxy_workers_offline gauge\nproxy_workers_offline 1\n"));
        assert!(text.contains(
            "# TYPE proxy_shares_accepted_total counter\nproxy_shares_accepted_total 10\n"
        ));
        assert!(text.contains("proxy_shares_rejected_total{reason=\"stale\"} 2\n"));
        assert!(text.contains("proxy_shares_rejected_total{reason=\"we\\\"ird\"} 1\n"));
        assert!(text.contains("proxy_accepted_share_difficulty_total 0.25\n"));
        assert!(text.contains("# TYPE proxy_connections gauge\nproxy_connections 3\n"));
        assert!(text.contains("proxy_hash_rate 1500000\n"));
        assert!(text.contains("proxy_blocks_found_total 6\n"));
        assert!(text.contains("proxy_blocks_accepted_total 1\n"));
        assert!(text.contains("proxy_blocks_duplicate_total 2\n"));
        assert!(text.contains("proxy_blocks_inconclusive_total 1\n"));
        assert!(text.contains("proxy_blocks_stale_total 1\n"));
        assert!(text.contains("proxy_blocks_rejected_total{reason=\"high-hash\"} 2\n"));
        assert!(text.contains("proxy_blocks_rejected_total{reason=\"bad-cb-height\"} 1\n"));
        assert!(text.contains("proxy_block_submit_retries_total 4\n"));
        // The JSON report keeps its old members and reads reports without the new ones.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["blocks_rejected"]["high-hash"], 2);
        let mut old = json.clone();
        for k in [
            "blocks_duplicate",
            "blocks_inconclusive",
            "blocks_stale",
            "blocks_rejected",
        ] {
            old.as_object_mut().unwrap().remove(k);
        }
        let back: StatsReport = serde_json::from_value(old).unwrap();
        assert_eq!(back.blocks_accepted, 1);
        assert_eq!(float(f64::INFINITY), "+Inf");
        // Every sample line is `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("proxy_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
