//! The dashboard over HTTP: the pages (from the `dashboard` crate) and the `/api/v1/...`
//! documents read from the pool and its [`crate::history::History`], with live updates as
//! Server-Sent Events. Read-only: nothing here changes the pool.

use std::sync::Arc;
use std::time::Duration;

use dashboard::api::{self, UiInfo};
use dashboard::http::{self as web, Body};
use hyper::{Method, Response, StatusCode};
use tokio::sync::mpsc;
use tracing::warn;

use crate::history::{History, HistoryError};
use crate::pool::{unix_now, Pool};

/// How often `/api/v1/events` sends the pool's numbers.
pub const POOL_EVENT_EVERY: Duration = Duration::from_secs(2);
/// How often it looks for new blocks and outcomes.
pub const BLOCK_CHECK_EVERY: Duration = Duration::from_millis(500);

/// What the dashboard routes read.
pub struct Dashboard {
    pool: Arc<Pool>,
    ui: UiInfo,
}

impl Dashboard {
    /// The dashboard of `pool`, linking blocks to `explorer_url` (`{hash}`, `{height}`).
    pub fn new(pool: Arc<Pool>, explorer_url: Option<String>) -> Self {
        let ui = UiInfo {
            served_by: "proxy".into(),
            cluster: false,
            explorer_url,
            network: Some(pool.config.network.to_string()),
        };
        Self { pool, ui }
    }
}

/// Decodes `%XX` escapes (and nothing else); `None` for a bad escape or bytes not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `range` of a query string (`1h` when absent); an error names the valid ones.
pub fn query_range(query: Option<&str>) -> Result<&'static str, String> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("range="));
    match value {
        None => Ok(api::RANGES[0].0),
        Some(v) => api::range(v).map(|(name, _, _)| name).ok_or_else(|| {
            let names: Vec<&str> = api::RANGES.iter().map(|r| r.0).collect();
            format!("range {v:?} is not one of {}", names.join(", "))
        }),
    }
}

/// Runs `read` on the history off the async threads (it may write a flush first).
async fn read<T: Send + 'static>(
    pool: &Pool,
    read: impl FnOnce(&History, u64) -> Result<T, HistoryError> + Send + 'static,
) -> Result<T, Response<Body>> {
    let Some(history) = pool.history().cloned() else {
        return Err(web::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this proxy keeps no history",
        ));
    };
    match tokio::task::spawn_blocking(move || read(&history, unix_now())).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            warn!(error = %e, "dashboard: history read failed");
            Err(web::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        }
        Err(e) => Err(web::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

fn connections(pool: &Pool) -> u64 {
    pool.stats
        .connections
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// The response to a dashboard route, or `None` when `path` is not one.
pub async fn handle(
    dashboard: &Arc<Dashboard>,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<Response<Body>> {
    let is_api = path.starts_with("/api/v1/");
    let asset = web::asset(path);
    if !is_api && asset.is_none() {
        return None;
    }
    if method != Method::GET {
        return Some(web::error(StatusCode::METHOD_NOT_ALLOWED, "GET only"));
    }
    if let Some(asset) = asset {
        return Some(asset);
    }
    let pool = &dashboard.pool;
    let range = match query_range(query) {
        Ok(range) => range,
        Err(e) => return Some(web::error(StatusCode::BAD_REQUEST, e)),
    };
    let answer = match path {
        "/api/v1/ui" => Ok(web::json(&dashboard.ui)),
        "/api/v1/pool" => {
            let connections = connections(pool);
            read(pool, move |h, now| h.pool(range, now, connections))
                .await
                .map(|v| web::json(&v))
        }
        "/api/v1/workers" => read(pool, |h, now| h.workers(now))
            .await
            .map(|v| web::json(&v)),
        "/api/v1/blocks" => read(pool, |h, now| h.blocks(now))
            .await
            .map(|v| web::json(&v)),
        "/api/v1/job/window" => Ok(web::json(&pool.job_view())),
        "/api/v1/events" => Ok(events(Arc::clone(dashboard))),
        "/api/v1/cluster" => Err(web::error(
            StatusCode::NOT_FOUND,
            "the cluster is the scheduler's (its --http address)",
        )),
        _ => match path.strip_prefix("/api/v1/worker/").map(percent_decode) {
            Some(Some(name)) if !name.is_empty() => {
                let shown = name.clone();
                match read(pool, move |h, now| h.worker_detail(&name, range, now)).await {
                    Ok(Some(detail)) => Ok(web::json(&detail)),
                    Ok(None) => Err(web::error(
                        StatusCode::NOT_FOUND,
                        format!("no worker {shown:?} in the history"),
                    )),
                    Err(e) => Err(e),
                }
            }
            Some(_) => Err(web::error(
                StatusCode::BAD_REQUEST,
                "a worker name (percent-encoded) after /api/v1/worker/",
            )),
            None => Err(web::error(StatusCode::NOT_FOUND, "no such endpoint")),
        },
    };
    Some(answer.unwrap_or_else(|e| e))
}

/// `/api/v1/events`: the pool's numbers every [`POOL_EVENT_EVERY`], the blocks whenever
/// they change; until the client goes.
fn events(dashboard: Arc<Dashboard>) -> Response<Body> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let pool = &dashboard.pool;
        let mut seen_blocks = None;
        let mut last_pool: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(BLOCK_CHECK_EVERY);
        loop {
            tick.tick().await;
            let version = pool.history().map(|h| h.blocks_version());
            if version != seen_blocks {
                seen_blocks = version;
                let newest = read(pool, |h, now| {
                    h.blocks(now).map(|mut v| {
                        v.blocks.truncate(api::events::BLOCKS_IN_EVENT);
                        v
                    })
                });
                if let Ok(blocks) = newest.await {
                    if tx
                        .send(web::sse_event(api::events::BLOCKS, &blocks))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            if last_pool.is_none_or(|t| t.elapsed() >= POOL_EVENT_EVERY) {
                last_pool = Some(tokio::time::Instant::now());
                let connections = connections(pool);
                let view = read(pool, move |h, now| {
                    h.pool("1h", now, connections).map(|mut v| {
                        v.chart.points.clear();
                        v
                    })
                })
                .await;
                let frame = match view {
                    Ok(view) => web::sse_event(api::events::POOL, &view),
                    Err(_) => web::sse_keepalive(),
                };
                if tx.send(frame).await.is_err() {
                    return;
                }
            }
        }
    });
    web::sse_response(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ranges_from_the_url() {
        assert_eq!(percent_decode("a.w%201").as_deref(), Some("a.w 1"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(query_range(None), Ok("1h"));
        assert_eq!(query_range(Some("x=1&range=7d")), Ok("7d"));
        let e = query_range(Some("range=2h")).unwrap_err();
        assert!(e.contains("2h") && e.contains("24h"), "{e}");
    }
}
