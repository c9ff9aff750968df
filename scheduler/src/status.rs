//! What the scheduler reports about itself: a snapshot the driver refreshes
//! after every event and tick, and a small HTTP server (hyper 1) answering
//! `GET /api/status` with it as JSON, and serving the dashboard: its pages,
//! `/api/v1/cluster` (the framework, agents, tasks and recent task events)
//! and, forwarded to the proxy task's HTTP address, the pool's `/api/v1/...`.
//!
//! The snapshot holds task ids, roles, agents, states and CPU shares (and
//! whether they are revocable), and the
//! latest hash-rate report of each task's executor. No secrets: task
//! environments and the configuration never get here. Read-only: nothing
//! served here changes the framework.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dashboard::api::{AgentView, ClusterTask, ClusterView, TaskEvent, UiInfo};
use dashboard::http::{self as web, Body};
use dashboard::metrics::{plain, Exposition};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::resources::{CPUS, MEM};
use crate::state::PersistedState;
use crate::tasks::{TaskRole, TaskState};

/// Task events kept for the dashboard, newest first.
pub const MAX_TASK_EVENTS: usize = 100;

/// How long a forwarded request may take to get its response's head from the proxy.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// A hash-rate report an executor sends as a framework MESSAGE.
pub use task_contract::HashRateReport;

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

/// What the dashboard's cluster page shows beside the snapshot.
#[derive(Debug, Clone, Default)]
struct ClusterExtra {
    master: Option<String>,
    /// Per agent id: hostname, the latest offer's CPUs and memory, when.
    offers: BTreeMap<String, (String, f64, f64, u64)>,
    /// Per live task id: hostname, memory, launch time (seconds).
    tasks: BTreeMap<String, (String, f64, u64)>,
    /// Used memory per agent.
    agent_mem: BTreeMap<String, f64>,
    /// `host:port` of the proxy's HTTP server.
    proxy_http: Option<String>,
    events: VecDeque<TaskEvent>,
}

#[derive(Debug, Default)]
struct Inner {
    snapshot: StatusSnapshot,
    extra: ClusterExtra,
}

/// The snapshot, shared between the driver and the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct StatusHandle {
    inner: Arc<Mutex<Inner>>,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl StatusHandle {
    /// A copy of the current snapshot.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot
            .clone()
    }

    fn with<R>(&self, f: impl FnOnce(&mut StatusSnapshot) -> R) -> R {
        f(&mut self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot)
    }

    fn with_extra<R>(&self, f: impl FnOnce(&mut ClusterExtra) -> R) -> R {
        f(&mut self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extra)
    }

    /// The master being subscribed to.
    pub fn set_master(&self, master: &str) {
        self.with_extra(|extra| extra.master = Some(master.to_owned()));
    }

    /// Notes what each offer holds (the latest offer of an agent replaces its earlier one).
    pub fn record_offers(&self, offers: &[mesos::v1::Offer], now_secs: u64) {
        self.with_extra(|extra| {
            for offer in offers {
                let scalar = |name: &str| -> f64 {
                    offer
                        .resources
                        .iter()
                        .filter(|r| r.name == name)
                        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
                        .sum()
                };
                extra.offers.insert(
                    offer.agent_id.value.clone(),
                    (offer.hostname.clone(), scalar(CPUS), scalar(MEM), now_secs),
                );
            }
        });
    }

    /// Notes a task status update among the recent events.
    pub fn record_update(&self, status: &mesos::v1::TaskStatus, now_secs: u64) {
        let event = TaskEvent {
            time: now_secs,
            task_id: status.task_id.value.clone(),
            state: status
                .state()
                .as_str_name()
                .trim_start_matches("TASK_")
                .to_owned(),
            reason: status
                .reason
                .map(|_| status.reason().as_str_name().to_owned()),
            message: status.message.clone().filter(|m| !m.is_empty()),
        };
        self.with_extra(|extra| {
            extra.events.push_front(event);
            extra.events.truncate(MAX_TASK_EVENTS);
        });
    }

    /// `/api/v1/cluster`.
    pub fn cluster(&self, now_secs: u64) -> ClusterView {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (snapshot, extra) = (&inner.snapshot, &inner.extra);
        let mut agent_ids: Vec<&String> = extra.offers.keys().collect();
        agent_ids.extend(snapshot.agent_cpus.keys());
        agent_ids.sort();
        agent_ids.dedup();
        let agents = agent_ids
            .into_iter()
            .map(|id| {
                let offer = extra.offers.get(id);
                AgentView {
                    id: id.clone(),
                    hostname: offer.map(|o| o.0.clone()).unwrap_or_default(),
                    offered_cpus: offer.map_or(0.0, |o| o.1),
                    offered_mem_mb: offer.map_or(0.0, |o| o.2),
                    used_cpus: snapshot.agent_cpus.get(id).copied().unwrap_or(0.0),
                    used_mem_mb: extra.agent_mem.get(id).copied().unwrap_or(0.0),
                    last_offer: offer.map(|o| o.3),
                }
            })
            .collect();
        let tasks = snapshot
            .tasks
            .iter()
            .map(|task| {
                let report = snapshot.hash_rates.get(&task.id);
                let (hostname, mem_mb, launched_at) =
                    extra.tasks.get(&task.id).cloned().unwrap_or_default();
                ClusterTask {
                    id: task.id.clone(),
                    kind: match task.kind {
                        TaskRole::Proxy => "proxy",
                        TaskRole::Miner => "miner",
                    }
                    .into(),
                    agent: task.agent.clone(),
                    hostname,
                    state: serde_json::to_value(task.state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    cpus: task.cpus,
                    revocable: task.revocable,
                    mem_mb,
                    hash_rate: report.map(|r| r.hash_rate),
                    hash_rate_per_cpu: report
                        .filter(|_| task.cpus > 0.0)
                        .map(|r| r.hash_rate / task.cpus),
                    accepted: report.map(|r| r.accepted),
                    rejected: report.map(|r| r.rejected),
                    launched_at,
                }
            })
            .collect();
        ClusterView {
            now: now_secs,
            framework_id: snapshot.framework_id.clone(),
            master: extra.master.clone(),
            connected: snapshot.connected,
            subscriptions: snapshot.subscriptions,
            agents,
            tasks,
            revocable_cpus: snapshot.revocable_cpus,
            total_hash_rate: snapshot.total_hash_rate,
            events: extra.events.iter().cloned().collect(),
            proxy_http: extra.proxy_http.clone(),
        }
    }

    /// The proxy's HTTP `host:port`, once it is launched.
    pub fn proxy_http(&self) -> Option<String> {
        self.with_extra(|extra| extra.proxy_http.clone())
    }

    /// Refreshes the task part from the state; drops reports of tasks gone.
    pub fn update_from_state(&self, state: &PersistedState, connected: bool) {
        self.with_extra(|extra| {
            extra.tasks.clear();
            extra.agent_mem.clear();
            extra.proxy_http = None;
            for task in state.book.tasks() {
                extra.tasks.insert(
                    task.id.to_string(),
                    (
                        task.hostname.clone(),
                        task.mem_mb,
                        task.launched_at_ms / 1000,
                    ),
                );
                *extra
                    .agent_mem
                    .entry(task.agent_id.to_string())
                    .or_default() += task.mem_mb;
                if let Some(endpoint) = &task.endpoint {
                    if !task.state.is_gone() {
                        extra.proxy_http =
                            Some(format!("{}:{}", endpoint.host, endpoint.http_port));
                    }
                }
            }
        });
        self.with(|snapshot| {
            snapshot.framework_id = state.framework_id.clone();
            snapshot.connected = connected;
            snapshot.tasks = state
                .book
                .tasks()
                .map(|task| TaskStatusView {
                    id: task.id.to_string(),
                    kind: task.role,
                    agent: task.agent_id.to_string(),
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

/// What the dashboard server knows besides the status.
#[derive(Debug, Clone, Default)]
pub struct DashboardConfig {
    /// Block explorer link pattern for the Blocks page (`{hash}`, `{height}`).
    pub explorer_url: Option<String>,
}

/// Forwards `request` (a pool endpoint) to the proxy at `addr`, streaming the answer back
/// (the event stream too).
async fn forward(addr: &str, path_and_query: &str) -> Response<Body> {
    let connect = tokio::time::timeout(FORWARD_TIMEOUT, TcpStream::connect(addr)).await;
    let stream = match connect {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return web::error(
                StatusCode::BAD_GATEWAY,
                format!("the proxy's HTTP server at {addr}: {e}"),
            )
        }
        Err(_) => {
            return web::error(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the proxy at {addr}: timed out"),
            )
        }
    };
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake::<
            _,
            http_body_util::Empty<bytes::Bytes>,
        >(TokioIo::new(stream))
        .await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "forwarded connection ended");
            }
        });
        let request = Request::get(path_and_query)
            .header(hyper::header::HOST, addr)
            .body(http_body_util::Empty::new())
            .expect("a GET with a valid path");
        sender.send_request(request).await
    };
    match tokio::time::timeout(FORWARD_TIMEOUT, exchange).await {
        Ok(Ok(response)) => response.map(web::boxed),
        Ok(Err(e)) => web::error(StatusCode::BAD_GATEWAY, format!("the proxy at {addr}: {e}")),
        Err(_) => web::error(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the proxy at {addr}: timed out"),
        ),
    }
}

async fn handle(
    request: Request<Incoming>,
    status: StatusHandle,
    config: Arc<DashboardConfig>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path();
    if request.method() != Method::GET {
        // Read-only, every route: nothing here changes anything.
        return Ok(web::error(StatusCode::METHOD_NOT_ALLOWED, "GET only"));
    }
    let response = match path {
        "/api/status" => match serde_json::to_vec_pretty(&status.snapshot()) {
            Ok(json) => web::respond(StatusCode::OK, "application/json", json),
            Err(_) => web::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "status does not serialize",
            ),
        },
        "/metrics" => web::respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            render_metrics(&status.snapshot()).into_bytes(),
        ),
        "/api/v1/ui" => web::json(&UiInfo {
            served_by: "scheduler".into(),
            cluster: true,
            explorer_url: config.explorer_url.clone(),
            network: None,
        }),
        "/api/v1/cluster" => web::json(&status.cluster(unix_secs())),
        _ if path.starts_with("/api/v1/") => match status.proxy_http() {
            Some(addr) => {
                let target = request
                    .uri()
                    .path_and_query()
                    .map_or(path, |p| p.as_str())
                    .to_owned();
                forward(&addr, &target).await
            }
            None => web::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no proxy task is running yet",
            ),
        },
        _ => web::asset(path).unwrap_or_else(|| web::error(StatusCode::NOT_FOUND, "not found")),
    };
    Ok(response)
}

/// The Prometheus text exposition of `snapshot`: `scheduler_*` metrics.
pub fn render_metrics(snapshot: &StatusSnapshot) -> String {
    let mut metrics = Exposition::with_capacity(1024);
    metrics.metric(
        "scheduler_connected",
        "gauge",
        "1 while subscribed to a master.",
        &plain(u8::from(snapshot.connected).to_string()),
    );
    metrics.metric(
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
    metrics.metric(
        "scheduler_tasks",
        "gauge",
        "Our tasks, by role and state.",
        &samples,
    );
    let cpus: f64 = snapshot.agent_cpus.values().sum();
    metrics.metric(
        "scheduler_task_cpus",
        "gauge",
        "CPUs our tasks use.",
        &plain(cpus.to_string()),
    );
    metrics.metric(
        "scheduler_hash_rate",
        "gauge",
        "Sum of the hash rates the executors last reported (H/s).",
        &plain(snapshot.total_hash_rate.to_string()),
    );
    metrics.metric(
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
        metrics.metric(name, "counter", help, &plain(value.to_string()));
    }
    metrics.finish()
}

/// Serves `GET /api/status` and the dashboard on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, status: StatusHandle, config: DashboardConfig) {
    let config = Arc::new(config);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "status endpoint: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (status, config) = (status.clone(), Arc::clone(&config));
        tokio::spawn(async move {
            let service =
                service_fn(move |request| handle(request, status.clone(), Arc::clone(&config)));
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
                submitted: 1,
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

        // The cluster view: the offer's resources beside what our tasks use, the reports per
        // CPU, the task events newest first.
        let offer = mesos::v1::Offer {
            agent_id: mesos::v1::AgentId { value: "a1".into() },
            hostname: "host-1".into(),
            resources: vec![
                crate::resources::tests::scalar(CPUS, 3.0),
                crate::resources::tests::scalar(MEM, 1024.0),
            ],
            ..Default::default()
        };
        status.record_offers(&[offer], 100);
        status.set_master("http://m:5050");
        for (i, state) in [
            mesos::v1::TaskState::TaskStarting,
            mesos::v1::TaskState::TaskRunning,
        ]
        .into_iter()
        .enumerate()
        {
            let update = mesos::v1::TaskStatus {
                task_id: mesos::v1::TaskId {
                    value: "miner-a1-1".into(),
                },
                state: state as i32,
                ..Default::default()
            };
            status.record_update(&update, 100 + i as u64);
        }
        let cluster = status.cluster(200);
        assert_eq!(cluster.master.as_deref(), Some("http://m:5050"));
        assert_eq!(cluster.agents.len(), 1);
        let agent = &cluster.agents[0];
        assert_eq!((agent.offered_cpus, agent.offered_mem_mb), (3.0, 1024.0));
        assert_eq!((agent.used_cpus, agent.hostname.as_str()), (2.5, "host-1"));
        let miner = cluster.tasks.iter().find(|t| t.id == "miner-a1-1").unwrap();
        assert_eq!(
            (miner.kind.as_str(), miner.state.as_str()),
            ("miner", "RUNNING")
        );
        assert_eq!(miner.hash_rate_per_cpu, Some(10.0 / miner.cpus));
        let states: Vec<&str> = cluster.events.iter().map(|e| e.state.as_str()).collect();
        assert_eq!(states, ["RUNNING", "STARTING"]);

        state.book.clear_tasks();
        status.update_from_state(&state, false);
        let total = status.snapshot().total_hash_rate;
        assert!(total == 0.0 && total.is_sign_positive(), "{total}");
    }
}
