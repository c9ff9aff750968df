//! The HTTP driver: runs a [`Framework`] against a Mesos master through
//! `mesos::client::SchedulerClient`.
//!
//! One session: SUBSCRIBE (the `FrameworkInfo` from the configuration, with
//! the persisted framework id when there is one, so a restarted scheduler
//! fails over) → SUBSCRIBED (the framework id is saved atomically, then the
//! framework reconciles: explicit, then implicit) → events: OFFERS, RESCIND,
//! UPDATE (acknowledged), MESSAGE (hash-rate reports from executors, JSON
//! [`HashRateReport`], the latest kept per task for the status endpoint),
//! FAILURE, HEARTBEAT, and ERROR, which aborts the driver. After every event
//! and every tick (about once a second) the state is saved if it changed,
//! then the resulting calls are sent in order with the `Mesos-Stream-Id`.
//!
//! A session ends when the stream closes or fails, a call cannot be
//! delivered, or no event (not even a HEARTBEAT) arrived for
//! `heartbeat_misses` heartbeat intervals plus a margin (a partition). The
//! driver then resubscribes, keeping the framework id, after an exponential
//! backoff with jitter (capped), moving to the next master URL whenever a
//! session never got SUBSCRIBED.
//!
//! Calls carry task environments with secrets: only task ids and call kinds
//! are logged, never calls or `TaskInfo`s.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesos::client::{ClientConfig, ClientError, SchedulerClient};
use mesos::v1::scheduler::{event, Event};
use rand::Rng as _;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::decision::Decision;
use crate::error::DriverError;
use crate::framework::Framework;
use crate::state::StateStore;
use crate::status::{HashRateReport, StatusHandle};

/// How the driver talks to masters and how patient it is.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Master URLs (`host:port` or `http://host:port`), tried in turn.
    pub masters: Vec<String>,
    /// Client settings (authentication, timeouts).
    pub client: ClientConfig,
    /// Directory of the persisted state.
    pub state_dir: PathBuf,
    /// First resubscription delay.
    pub backoff_initial: Duration,
    /// Longest resubscription delay.
    pub backoff_max: Duration,
    /// Missed heartbeat intervals before the connection is dropped.
    pub heartbeat_misses: u32,
    /// Added to the heartbeat timeout (and used alone until SUBSCRIBED
    /// tells the interval, on top of `default_heartbeat`).
    pub heartbeat_margin: Duration,
    /// Heartbeat interval assumed until SUBSCRIBED tells it (Mesos: 15 s).
    pub default_heartbeat: Duration,
    /// Interval of [`Framework::tick`].
    pub tick_interval: Duration,
}

impl DriverConfig {
    /// Defaults for `masters` and `state_dir`.
    pub fn new(masters: Vec<String>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            masters,
            client: ClientConfig::default(),
            state_dir: state_dir.into(),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            heartbeat_misses: 3,
            heartbeat_margin: Duration::from_secs(5),
            default_heartbeat: Duration::from_secs(15),
            tick_interval: Duration::from_secs(1),
        }
    }
}

/// How a session ended (other than by an abort).
#[derive(Debug)]
enum SessionEnd {
    /// The master closed the event stream.
    Closed,
    /// No event for too long.
    Silent(Duration),
    /// Subscribing, reading the stream or sending a call failed.
    Failed(ClientError),
}

/// The delay before resubscription attempt `attempt` (0-based): exponential
/// from `initial`, capped at `max`, with jitter (between half and all of it).
pub fn backoff_delay(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32 << attempt.min(20));
    let capped = exp.min(max);
    let millis = capped.as_millis() as u64;
    if millis < 2 {
        return capped;
    }
    Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A short, secret-free description of a decision for logs.
fn describe(decision: &Decision) -> String {
    match decision {
        Decision::Launch {
            offer_id,
            operations,
            tasks,
            ..
        } => {
            let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.value.as_str()).collect();
            let ops: Vec<&str> = operations
                .iter()
                .map(|o| o.r#type().as_str_name())
                .collect();
            format!("ACCEPT {offer_id} {ops:?} LAUNCH {ids:?}")
        }
        Decision::Decline { offer_ids, .. } => format!("DECLINE {} offer(s)", offer_ids.len()),
        Decision::Kill { task_id, .. } => format!("KILL {task_id}"),
        Decision::Acknowledge { task_id, .. } => format!("ACKNOWLEDGE {task_id}"),
        Decision::AcknowledgeOperation { operation_id, .. } => {
            format!("ACKNOWLEDGE_OPERATION_STATUS {operation_id}")
        }
        Decision::Reconcile { tasks } if tasks.is_empty() => "RECONCILE (implicit)".into(),
        Decision::Reconcile { tasks } => format!("RECONCILE {} task(s)", tasks.len()),
        Decision::AcceptInverseOffers {
            inverse_offer_ids, ..
        } => format!("ACCEPT_INVERSE_OFFERS {}", inverse_offer_ids.join(", ")),
        Decision::Suppress => "SUPPRESS".into(),
        Decision::Revive => "REVIVE".into(),
    }
}

/// The driver: a framework, its state store, and the masters.
#[derive(Debug)]
pub struct Driver {
    config: DriverConfig,
    framework: Framework,
    store: StateStore,
    status: StatusHandle,
    clients: Vec<(String, SchedulerClient)>,
    alerts: alerts::Sender,
}

impl Driver {
    /// A driver for `framework` (built from the state in
    /// `config.state_dir`). Fails on an empty or unusable master list.
    pub fn new(config: DriverConfig, framework: Framework) -> Result<Self, DriverError> {
        if config.masters.is_empty() {
            return Err(DriverError::NoMasters);
        }
        // One client per configured master, trying that master first and then the others:
        // each knows every configured master, so credentials follow a redirect to any of them
        // (and to no other host).
        let clients = config
            .masters
            .iter()
            .enumerate()
            .map(|(i, master)| {
                let mut order = config.masters.clone();
                order.rotate_left(i);
                SchedulerClient::with_masters(&order, config.client.clone())
                    .map(|client| (master.clone(), client))
                    .map_err(|source| DriverError::Master {
                        master: master.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let status = StatusHandle::default();
        status.update_from_state(framework.state(), false);
        Ok(Self {
            store: StateStore::new(&config.state_dir),
            config,
            framework,
            status,
            clients,
            alerts: alerts::Sender::disabled(),
        })
    }

    /// Sends alerts (a relaunched proxy) through `sender`.
    pub fn with_alerts(mut self, sender: alerts::Sender) -> Self {
        self.alerts = sender;
        self
    }

    /// The status snapshot the driver keeps up to date (for the HTTP endpoint).
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// Runs until the master aborts the framework (ERROR) or the state cannot
    /// be saved; every other failure leads to a resubscription. Dropping the
    /// future leaves the framework registered, so a new driver fails over.
    pub async fn run(mut self) -> Result<(), DriverError> {
        let mut attempt: u32 = 0;
        let mut master = 0;
        loop {
            let (url, client) = self.clients[master].clone();
            let mut subscribed = false;
            let end = self.session(&url, &client, &mut subscribed).await?;
            self.framework.disconnected();
            self.status.update_from_state(self.framework.state(), false);
            if subscribed {
                attempt = 0;
            } else {
                master = (master + 1) % self.clients.len();
            }
            let delay = backoff_delay(
                attempt,
                self.config.backoff_initial,
                self.config.backoff_max,
            );
            attempt = attempt.saturating_add(1);
            match &end {
                SessionEnd::Failed(error) => {
                    warn!(master = %url, %error, ?delay, "session failed; resubscribing")
                }
                SessionEnd::Closed => {
                    warn!(master = %url, ?delay, "event stream closed; resubscribing")
                }
                SessionEnd::Silent(after) => {
                    warn!(master = %url, ?after, ?delay, "no heartbeat: dropping the connection; resubscribing")
                }
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// One subscription, until it ends. `Err` only to abort the driver.
    async fn session(
        &mut self,
        url: &str,
        client: &SchedulerClient,
        subscribed: &mut bool,
    ) -> Result<SessionEnd, DriverError> {
        info!(master = %url, framework_id = ?self.framework.framework_id(), "subscribing");
        self.status.set_master(url);
        let subscription = match client.subscribe(&self.framework.subscribe_call()).await {
            Ok(subscription) => subscription,
            Err(error) => return Ok(SessionEnd::Failed(error)),
        };
        let stream_id = subscription.stream_id;
        let mut events = subscription.events;
        let mut silence = self.config.default_heartbeat * self.config.heartbeat_misses.max(1)
            + self.config.heartbeat_margin;
        let mut deadline = Instant::now() + silence;
        let mut ticker = tokio::time::interval(self.config.tick_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let decisions = tokio::select! {
                // Queued events first: a slow call must not look like silence.
                biased;
                next = events.next() => {
                    let event = match next {
                        None => return Ok(SessionEnd::Closed),
                        Some(Err(error)) => return Ok(SessionEnd::Failed(error)),
                        Some(Ok(event)) => event,
                    };
                    if event.r#type() == event::Type::Subscribed {
                        *subscribed = true;
                        self.status.subscribed();
                        match event.subscribed.as_ref().map(mesos::client::heartbeat_interval) {
                            Some(Ok(Some(interval))) => {
                                silence = interval
                                    .saturating_mul(self.config.heartbeat_misses.max(1))
                                    .saturating_add(self.config.heartbeat_margin);
                            }
                            Some(Err(error)) => {
                                warn!(%error, ?silence, "keeping the default heartbeat timeout")
                            }
                            _ => {}
                        }
                    }
                    deadline = Instant::now() + silence;
                    self.on_event(&event)?
                }
                _ = ticker.tick() => self.framework.tick(now_ms()),
                _ = tokio::time::sleep_until(deadline) => return Ok(SessionEnd::Silent(silence)),
            };
            if self.framework.take_dirty() {
                self.store.save(self.framework.state())?;
            }
            self.status
                .update_from_state(self.framework.state(), *subscribed);
            for relaunch in crate::alerting::proxy_relaunches(&decisions) {
                info!(task = %relaunch.task_id, previous = %relaunch.previous_task_id, "proxy relaunched");
                self.status.proxy_relaunched();
                self.alerts.send(relaunch.event());
            }
            self.status.record_alerts(self.alerts.counters());
            if let Err(error) = self.send(client, &stream_id, decisions).await {
                return Ok(SessionEnd::Failed(error));
            }
        }
    }

    /// One event into the framework; MESSAGE into the status.
    fn on_event(&mut self, event: &Event) -> Result<Vec<Decision>, DriverError> {
        match event.r#type() {
            event::Type::Heartbeat => debug!("heartbeat"),
            event::Type::Message => {
                if let Some(message) = &event.message {
                    match HashRateReport::from_message(&message.data) {
                        Ok(report) => {
                            debug!(task = %report.task_id, hash_rate = report.hash_rate, "hash-rate report");
                            self.status.record_report(report);
                        }
                        Err(error) => warn!(
                            executor = %message.executor_id.value,
                            %error,
                            "unreadable executor message"
                        ),
                    }
                }
            }
            event::Type::Offers => {
                if let Some(offers) = &event.offers {
                    self.status.record_offers(&offers.offers, now_ms() / 1000);
                }
            }
            event::Type::Update => {
                if let Some(update) = &event.update {
                    self.status.record_update(&update.status, now_ms() / 1000);
                }
            }
            event::Type::Rescind => {
                if let Some(rescind) = &event.rescind {
                    debug!(offer = %rescind.offer_id.value, "offer rescinded");
                }
            }
            kind => debug!(?kind, "event"),
        }
        Ok(self.framework.handle_event(event, now_ms())?)
    }

    /// Sends the calls in order. A 400 (the master refused one call) is
    /// logged and skipped; anything else ends the session.
    async fn send(
        &self,
        client: &SchedulerClient,
        stream_id: &str,
        decisions: Vec<Decision>,
    ) -> Result<(), ClientError> {
        if decisions.is_empty() {
            return Ok(());
        }
        let Some(framework_id) = self.framework.framework_id().map(str::to_owned) else {
            warn!(calls = decisions.len(), "calls before SUBSCRIBED: dropped");
            return Ok(());
        };
        for decision in decisions {
            let what = describe(&decision);
            debug!(call = %what, "sending");
            match client
                .call(stream_id, &decision.into_call(&framework_id))
                .await
            {
                Ok(()) => {}
                Err(ClientError::BadRequest(message)) => {
                    warn!(call = %what, %message, "call refused by the master")
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempt in 0..40 {
            let delay = backoff_delay(attempt, initial, max);
            let full = (initial * (1 << attempt.min(10))).min(max);
            assert!(delay <= full && delay >= full / 2, "{attempt}: {delay:?}");
        }
    }

    #[test]
    fn decisions_are_described_without_secrets() {
        let task = mesos::v1::TaskInfo {
            task_id: mesos::v1::TaskId {
                value: "proxy-1".into(),
            },
            name: "hunter2".into(),
            ..Default::default()
        };
        let text = describe(&Decision::Launch {
            offer_id: "o1".into(),
            operations: Vec::new(),
            tasks: vec![task],
            refuse_seconds: 1.0,
        });
        assert!(text.contains("proxy-1") && !text.contains("hunter2"));
    }

    #[test]
    fn no_masters_is_an_error() {
        let framework = Framework::new(Default::default(), Default::default());
        assert!(matches!(
            Driver::new(DriverConfig::new(vec![], "/nonexistent"), framework),
            Err(DriverError::NoMasters)
        ));
    }
}
