//! What the scheduler reports about itself: a snapshot the driver refreshes
//! after every event and tick, and a small HTTP server (hyper 1) answering
//! `GET /api/status` with it as JSON.
//!
//! The snapshot holds task ids, roles, agents, states and CPU shares (and
//! whether they are revocable), and the
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
    /// Its CPUs are revocable (oversubscribed slack; it may be preempted).
    #[serde(default)]
    pub revocable: bool,
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
    /// Of those, the revocable CPUs our miners use, in all.
    #[serde(default)]
    pub revocable_cpus: f64,
    /// Sum of the latest hash rates reported by our tasks' executors (H/s).
    pub total_hash_rate: f64,
    /// The latest report per live task.
    pub hash_rates: BTreeMap<String, HashRateReport>,
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
                    revocable: task.revocable,
                })
                .collect();
            snapshot.revocable_cpus = snapshot
                .tasks
                .iter()
                .filter(|t| t.revocable)
                .fold(0.0, |sum, t| sum + t.cpus);
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
        (_, "/api/status") => respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            b"GET only\n".to_vec(),
        ),
        _ => respond(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
    };
    Ok(response)
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
        let mut slack = record("miner-a1-2", TaskRole::Miner, "a1", TaskState::Running);
        slack.revocable = true;
        slack.cpus = 0.5;
        state.book.insert(slack);
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
        assert_eq!(snapshot.agent_cpus["a1"], 2.5);
        assert_eq!(snapshot.revocable_cpus, 0.5);
        let revocable: Vec<&str> = snapshot
            .tasks
            .iter()
            .filter(|t| t.revocable)
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(revocable, ["miner-a1-2"]);
        assert_eq!(snapshot.total_hash_rate, 10.0);
        let json = serde_json::to_string(&snapshot).unwrap();
        assert!(json.contains("\"kind\":\"miner\""), "{json}");
        assert!(json.contains("\"revocable\":true"), "{json}");

        state.book.clear_tasks();
        status.update_from_state(&state, false);
        let total = status.snapshot().total_hash_rate;
        assert!(total == 0.0 && total.is_sign_positive(), "{total}");
    }
}
