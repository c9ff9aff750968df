//! What the scheduler reports about itself: a snapshot the driver refreshes
//! after every event and tick, and a small HTTP server (hyper 1) answering
//! `GET /api/status` with it as JSON.
//!
//! The snapshot holds task ids, roles, agents, states and CPU shares, and the
//! latest hash-rate report of each task's executor. No secrets: task
//! environments and the configuration never get here.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::state::PersistedState;
use crate::tasks::{TaskRole, TaskState};

/// A hash-rate report an executor sends as a framework MESSAGE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashRateReport {
    /// The miner task it is about.
    pub task_id: String,
    /// Hashes per second.
    pub hash_rate: f64,
    /// Shares accepted by the proxy so far.
    #[serde(default)]
    pub accepted: u64,
    /// Shares rejected so far.
    #[serde(default)]
    pub rejected: u64,
}

/// One task in the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatusView {
    /// Task id.
    pub id: String,
    /// `proxy` or `miner`.
    pub kind: TaskRole,
    /// The agent it runs on.
    pub agent: String,
    /// Last known state.
    pub state: TaskState,
    /// Its CPU share.
    pub cpus: f64,
}

/// The `GET /api/status` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    /// Our framework id, once registered.
    pub framework_id: Option<String>,
    /// Subscribed to a master right now.
    pub connected: bool,
    /// SUBSCRIBED events received since the driver started.
    pub subscriptions: u64,
    /// Our live tasks, by id.
    pub tasks: Vec<TaskStatusView>,
    /// CPUs our tasks use, per agent id.
    pub agent_cpus: BTreeMap<String, f64>,
    /// Sum of the latest hash rates reported by our tasks' executors (H/s).
    pub total_hash_rate: f64,
    /// The latest report per live task.
    pub hash_rates: BTreeMap<String, HashRateReport>,
    /// Proxy tasks launched in place of an earlier one since the driver started.
    #[serde(default)]
    pub proxy_relaunches: u64,
    /// Alert webhook deliveries.
    #[serde(default)]
    pub alerts: AlertCounts,
}

/// Alert webhook delivery counters (see the `alerts` crate).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertCounts {
    /// Deliveries answered 2xx.
    pub sent: u64,
    /// Deliveries given up.
    pub failed: u64,
    /// Alerts dropped on a full queue.
    pub dropped: u64,
    /// POSTs retried.
    pub retries: u64,
}

/// The snapshot, shared between the driver and the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct StatusHandle {
    inner: Arc<Mutex<StatusSnapshot>>,
}

impl StatusHandle {
    /// A copy of the current snapshot.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn with<R>(&self, f: impl FnOnce(&mut StatusSnapshot) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Refreshes the task part from the state; drops reports of tasks gone.
    pub fn update_from_state(&self, state: &PersistedState, connected: bool) {
        self.with(|snapshot| {
            snapshot.framework_id = state.framework_id.clone();
            snapshot.connected = connected;
            snapshot.tasks = state
                .book
                .tasks()
                .map(|task| TaskStatusView {
                    id: task.id.clone(),
                    kind: task.role,
                    agent: task.agent_id.clone(),
                    state: task.state,
                    cpus: task.cpus,
                })
                .collect();
            snapshot.agent_cpus.clear();
            for task in &snapshot.tasks {
                *snapshot.agent_cpus.entry(task.agent.clone()).or_default() += task.cpus;
            }
            let live: std::collections::HashSet<&str> =
                snapshot.tasks.iter().map(|t| t.id.as_str()).collect();
            snapshot
                .hash_rates
                .retain(|task_id, _| live.contains(task_id.as_str()));
            snapshot.total_hash_rate = snapshot
                .hash_rates
                .values()
                .fold(0.0, |sum, r| sum + r.hash_rate);
        });
    }

    /// Counts a proxy relaunch.
    pub fn proxy_relaunched(&self) {
        self.with(|snapshot| snapshot.proxy_relaunches += 1);
    }

    /// Copies the alert sender's counters.
    pub fn record_alerts(&self, counters: &alerts::Counters) {
        use std::sync::atomic::Ordering::Relaxed;
        self.with(|snapshot| {
            snapshot.alerts = AlertCounts {
                sent: counters.sent.load(Relaxed),
                failed: counters.failed.load(Relaxed),
                dropped: counters.dropped.load(Relaxed),
                retries: counters.retries.load(Relaxed),
            }
        });
    }

    /// Counts a SUBSCRIBED.
    pub fn subscribed(&self) {
        self.with(|snapshot| snapshot.subscriptions += 1);
    }

    /// Records the latest report of a task we hold.
    pub fn record_report(&self, report: HashRateReport) {
        self.with(|snapshot| {
            if !snapshot.tasks.iter().any(|t| t.id == report.task_id) {
                debug!(task = %report.task_id, "hash-rate report for a task we do not hold");
                return;
            }
            snapshot.hash_rates.insert(report.task_id.clone(), report);
            snapshot.total_hash_rate = snapshot
                .hash_rates
                .values()
                .fold(0.0, |sum, r| sum + r.hash_rate);
        });
    }
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

async fn handle(
    request: Request<Incoming>,
    status: StatusHandle,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/api/status") => match serde_json::to_vec_pretty(&status.snapshot()) {
            Ok(json) => respond(StatusCode::OK, "application/json", json),
            Err(_) => respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                b"status does not serialize\n".to_vec(),
            ),
        },
        (&Method::GET, "/metrics") => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            render_metrics(&status.snapshot()).into_bytes(),
        ),
        (_, "/api/status") => respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            b"GET only\n".to_vec(),
        ),
        _ => respond(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
    };
    Ok(response)
}

/// The Prometheus text exposition of `snapshot`: `scheduler_*` metrics.
pub fn render_metrics(snapshot: &StatusSnapshot) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(1024);
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let plain = |v: String| vec![(String::new(), v)];
    metric(
        "scheduler_connected",
        "gauge",
        "1 while subscribed to a master.",
        &plain(u8::from(snapshot.connected).to_string()),
    );
    metric(
        "scheduler_subscriptions_total",
        "counter",
        "SUBSCRIBED events received.",
        &plain(snapshot.subscriptions.to_string()),
    );
    let mut tasks: BTreeMap<(String, String), u64> = BTreeMap::new();
    for t in &snapshot.tasks {
        let role = serde_json::to_value(t.kind).ok();
        let state = serde_json::to_value(t.state).ok();
        let name = |v: Option<serde_json::Value>| {
            v.and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        *tasks.entry((name(role), name(state))).or_default() += 1;
    }
    let samples: Vec<_> = tasks
        .iter()
        .map(|((role, state), n)| {
            (
                format!("{{role=\"{role}\",state=\"{state}\"}}"),
                n.to_string(),
            )
        })
        .collect();
    metric(
        "scheduler_tasks",
        "gauge",
        "Our tasks, by role and state.",
        &samples,
    );
    let cpus: f64 = snapshot.agent_cpus.values().sum();
    metric(
        "scheduler_task_cpus",
        "gauge",
        "CPUs our tasks use.",
        &plain(cpus.to_string()),
    );
    metric(
        "scheduler_hash_rate",
        "gauge",
        "Sum of the hash rates the executors last reported (H/s).",
        &plain(snapshot.total_hash_rate.to_string()),
    );
    metric(
        "scheduler_proxy_relaunches_total",
        "counter",
        "Proxy tasks launched in place of an earlier one.",
        &plain(snapshot.proxy_relaunches.to_string()),
    );
    let a = &snapshot.alerts;
    for (name, help, value) in [
        (
            "scheduler_alerts_sent_total",
            "Alert webhook deliveries answered 2xx.",
            a.sent,
        ),
        (
            "scheduler_alerts_failed_total",
            "Alert webhook deliveries given up.",
            a.failed,
        ),
        (
            "scheduler_alerts_dropped_total",
            "Alerts dropped because a webhook's queue was full.",
            a.dropped,
        ),
        (
            "scheduler_alert_retries_total",
            "Alert webhook POSTs retried.",
            a.retries,
        ),
    ] {
        metric(name, "counter", help, &plain(value.to_string()));
    }
    out
}

/// Serves `GET /api/status` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, status: StatusHandle) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "status endpoint: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let status = status.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, status.clone()));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, %error, "status connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::tests::record;

    #[test]
    fn snapshot_sums_cpus_and_hash_rates_of_live_tasks() {
        let status = StatusHandle::default();
        let mut state = PersistedState {
            framework_id: Some("fw".into()),
            ..Default::default()
        };
        state
            .book
            .insert(record("proxy-1", TaskRole::Proxy, "a1", TaskState::Running));
        state.book.insert(record(
            "miner-a1-1",
            TaskRole::Miner,
            "a1",
            TaskState::Running,
        ));
        status.update_from_state(&state, true);
        for (task_id, hash_rate) in [("miner-a1-1", 10.0), ("miner-zz-1", 5.0)] {
            status.record_report(HashRateReport {
                task_id: task_id.into(),
                hash_rate,
                accepted: 1,
                rejected: 0,
            });
        }
        let snapshot = status.snapshot();
        assert_eq!(snapshot.framework_id.as_deref(), Some("fw"));
        assert_eq!(snapshot.agent_cpus["a1"], 2.0);
        assert_eq!(snapshot.total_hash_rate, 10.0);
        let json = serde_json::to_string(&snapshot).unwrap();
        assert!(json.contains("\"kind\":\"miner\""), "{json}");

        state.book.clear_tasks();
        status.update_from_state(&state, false);
        let total = status.snapshot().total_hash_rate;
        assert!(total == 0.0 && total.is_sign_positive(), "{total}");
    }
}
