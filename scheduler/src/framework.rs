//! The scheduler core: config + persisted state in, master events in,
//! decisions out. No I/O, no clock: the driver passes the time and does the
//! sending and the saving.
//!
//! Driver loop ([`crate::driver`] does it): load the [`PersistedState`], build a
//! [`Framework`], SUBSCRIBE with [`Framework::subscribe_call`], then for every
//! event call [`Framework::handle_event`]; if [`Framework::take_dirty`], save
//! the state; then send the decisions as calls in order. Call
//! [`Framework::tick`] every second or so (backoff expiry may need a REVIVE).
//! On a closed stream, resubscribe: SUBSCRIBED triggers reconciliation again.

use mesos::v1::scheduler::{call, event, Call, Event};
use mesos::v1::{Offer, TaskStatus};
use tracing::{info, warn};

use crate::config::Config;
use crate::decision::Decision;
use crate::error::EventError;
use crate::maintenance::{self, Maintenance};
use crate::plan::plan_offers;
use crate::state::PersistedState;
use crate::tasks::TaskState;

/// The scheduler's brain.
#[derive(Debug)]
pub struct Framework {
    config: Config,
    state: PersistedState,
    /// Whether offers are suppressed on the master, as far as we told it.
    suppressed: bool,
    /// The state changed since the last [`Framework::take_dirty`].
    dirty: bool,
    /// Subscribed now (SUBSCRIBED seen, no disconnect since).
    in_session: bool,
    /// When we last asked for reconciliation.
    last_reconcile_ms: u64,
    /// Maintenance windows and inverse offers the master announced.
    maintenance: Maintenance,
}

impl Framework {
    /// A framework resuming from `state` (default state on a first start).
    pub fn new(config: Config, state: PersistedState) -> Self {
        Self {
            config,
            state,
            suppressed: false,
            dirty: false,
            in_session: false,
            last_reconcile_ms: 0,
            maintenance: Maintenance::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state to persist.
    pub fn state(&self) -> &PersistedState {
        &self.state
    }

    /// Whether the state changed since the last call (then: save it).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The SUBSCRIBE call, with the persisted framework id when we have one.
    pub fn subscribe_call(&self) -> Call {
        let framework_id = self.state.framework_id.as_deref();
        Call {
            framework_id: framework_id.map(|value| mesos::v1::FrameworkId {
                value: value.to_owned(),
            }),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: self.config.framework_info(framework_id),
                suppressed_roles: Vec::new(),
            }),
            ..Default::default()
        }
    }

    /// The framework id for calls, once subscribed.
    pub fn framework_id(&self) -> Option<&str> {
        self.state.framework_id.as_deref()
    }

    /// Whether we have something to launch now: a proxy (backoff over), or
    /// miners (the proxy runs).
    pub fn wants_offers(&self, now_ms: u64) -> bool {
        let book = &self.state.book;
        match book.proxy() {
            None => book.proxy_backoff_ms(now_ms) == 0,
            Some(proxy) => proxy.state == TaskState::Running,
        }
    }

    /// SUPPRESS or REVIVE if our interest in offers changed.
    fn sync_interest(&mut self, now_ms: u64, decisions: &mut Vec<Decision>) {
        let wants = self.wants_offers(now_ms);
        if wants && self.suppressed {
            self.suppressed = false;
            decisions.push(Decision::Revive);
        } else if !wants && !self.suppressed {
            self.suppressed = true;
            decisions.push(Decision::Suppress);
        }
    }

    /// One event from the master. `Err` only for ERROR (abort the driver).
    pub fn handle_event(
        &mut self,
        event: &Event,
        now_ms: u64,
    ) -> Result<Vec<Decision>, EventError> {
        use event::Type;
        let decisions = match event.r#type() {
            Type::Subscribed => match &event.subscribed {
                Some(subscribed) => self.on_subscribed(&subscribed.framework_id.value, now_ms),
                None => Vec::new(),
            },
            Type::Offers => match &event.offers {
                Some(offers) => self.on_offers(&offers.offers, now_ms),
                None => Vec::new(),
            },
            Type::Update => match &event.update {
                Some(update) => self.on_update(&update.status, now_ms),
                None => Vec::new(),
            },
            Type::Failure => {
                if let Some(failure) = &event.failure {
                    warn!(
                        agent = ?failure.agent_id.as_ref().map(|a| &a.value),
                        executor = ?failure.executor_id.as_ref().map(|e| &e.value),
                        status = ?failure.status,
                        "agent or executor failure (task updates follow)"
                    );
                }
                Vec::new()
            }
            Type::Error => {
                let message = event
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default();
                return Err(EventError::Master(message));
            }
            Type::InverseOffers => match &event.inverse_offers {
                Some(inverse) => self.on_inverse_offers(&inverse.inverse_offers, now_ms),
                None => Vec::new(),
            },
            Type::RescindInverseOffer => {
                if let Some(rescind) = &event.rescind_inverse_offer {
                    self.maintenance.rescind(&rescind.inverse_offer_id.value);
                }
                Vec::new()
            }
            Type::UpdateOperationStatus => match &event.update_operation_status {
                Some(update) => on_operation_status(&update.status),
                None => Vec::new(),
            },
            // Offers are answered right away: nothing to forget on RESCIND.
            Type::Rescind | Type::Message | Type::Heartbeat | Type::Unknown => Vec::new(),
        };
        Ok(decisions)
    }

    /// SUBSCRIBED: remember the id, reconcile, set our offer interest.
    pub fn on_subscribed(&mut self, framework_id: &str, now_ms: u64) -> Vec<Decision> {
        match self.state.framework_id.as_deref() {
            Some(old) if old != framework_id => {
                // The master forgot us (failover timeout expired): our old
                // tasks were killed with the old framework.
                warn!(
                    old,
                    new = framework_id,
                    "new framework id: forgetting old tasks"
                );
                self.state.book.clear_tasks();
            }
            Some(_) => info!(framework_id, "failed over"),
            None => info!(framework_id, "registered"),
        }
        if self.state.framework_id.as_deref() != Some(framework_id) {
            self.state.framework_id = Some(framework_id.to_owned());
            self.dirty = true;
        }
        // A fresh subscription starts unsuppressed.
        self.suppressed = false;
        self.in_session = true;
        self.last_reconcile_ms = now_ms;
        let mut decisions = self.state.book.reconcile_decisions();
        self.sync_interest(now_ms, &mut decisions);
        decisions
    }

    /// OFFERS: launches and declines, then SUPPRESS if nothing more is wanted.
    /// Offers of agents going into maintenance are declined (see
    /// [`crate::maintenance`]).
    pub fn on_offers(&mut self, offers: &[Offer], now_ms: u64) -> Vec<Decision> {
        for offer in offers {
            self.maintenance.note_offer(offer);
        }
        let mut decisions = self.drain(now_ms);
        let (usable, screened) = maintenance::screen_offers(
            &self.config.maintenance,
            &self.maintenance,
            &self.state.book,
            offers,
            now_ms,
        );
        let planned = plan_offers(&self.config, &mut self.state.book, &usable, now_ms);
        if planned.iter().any(|d| matches!(d, Decision::Launch { .. })) {
            self.dirty = true;
        }
        decisions.extend(planned);
        if !screened.is_empty() {
            // While the proxy moves, its successor wants these soon.
            let moving = self
                .state
                .book
                .proxy()
                .is_some_and(|proxy| proxy.kill_requested);
            let refuse_seconds = if moving {
                self.config.offers.refuse_seconds.min(1.0)
            } else {
                self.config.offers.refuse_seconds
            };
            decisions.push(Decision::Decline {
                offer_ids: screened,
                refuse_seconds,
            });
        }
        self.sync_interest(now_ms, &mut decisions);
        decisions
    }

    /// INVERSE_OFFERS: the agents' windows, then whatever draining is due.
    pub fn on_inverse_offers(
        &mut self,
        inverse_offers: &[mesos::v1::InverseOffer],
        now_ms: u64,
    ) -> Vec<Decision> {
        for inverse_offer in inverse_offers {
            self.maintenance.note_inverse_offer(inverse_offer);
        }
        let mut decisions = self.drain(now_ms);
        self.sync_interest(now_ms, &mut decisions);
        decisions
    }

    /// Maintenance's kills, proxy move and inverse-offer acceptances.
    fn drain(&mut self, now_ms: u64) -> Vec<Decision> {
        let home_before = self.state.book.home().clone();
        let decisions = maintenance::drain(
            &self.config.maintenance,
            &mut self.maintenance,
            &mut self.state.book,
            now_ms,
        );
        if !decisions.is_empty() || *self.state.book.home() != home_before {
            self.dirty = true;
        }
        decisions
    }

    /// UPDATE: the task book's kills and acknowledgement, then REVIVE or
    /// SUPPRESS as the new state needs.
    pub fn on_update(&mut self, status: &TaskStatus, now_ms: u64) -> Vec<Decision> {
        let mut decisions = self
            .state
            .book
            .apply_status(status, now_ms, &self.config.backoff);
        self.dirty = true;
        // A drained agent's inverse offers can be accepted now.
        decisions.extend(self.drain(now_ms));
        self.sync_interest(now_ms, &mut decisions);
        decisions
    }

    /// While a proxy is wanted and its home agent does not offer: after
    /// `proxy.volume.agent_gone_timeout_secs`, forget the home (its volume
    /// and reservation are given back if the agent returns) and start the
    /// proxy fresh wherever offers allow.
    fn check_home(&mut self, now_ms: u64) -> Vec<Decision> {
        let volume = &self.config.proxy.volume;
        let book = &mut self.state.book;
        if !volume.enabled || book.home().site.is_none() {
            return Vec::new();
        }
        if book.proxy().is_some() {
            if book.home_mut().waiting_since_ms.take().is_some() {
                self.dirty = true;
            }
            return Vec::new();
        }
        let home = book.home_mut();
        let since = match home.waiting_since_ms {
            Some(since) => since,
            None => {
                home.waiting_since_ms = Some(now_ms);
                self.dirty = true;
                now_ms
            }
        };
        let timeout_ms = (volume.agent_gone_timeout_secs * 1000.0) as u64;
        if timeout_ms == 0 || now_ms.saturating_sub(since) < timeout_ms {
            return Vec::new();
        }
        if let Some(site) = home.abandon() {
            warn!(
                agent = %site.agent_id,
                persistence_id = %site.persistence_id,
                waited_secs = now_ms.saturating_sub(since) / 1000,
                "the proxy's agent has not offered its volume in time: starting the proxy fresh \
                 elsewhere (its unsubmitted blocks and PPLNS window stay on that volume, which is \
                 destroyed and unreserved if the agent comes back)"
            );
        }
        self.dirty = true;
        // Other agents' offers were declined while we waited.
        self.suppressed = false;
        vec![Decision::Revive]
    }

    /// The event stream closed: no calls until the next SUBSCRIBED.
    pub fn disconnected(&mut self) {
        self.in_session = false;
    }

    /// Periodic, while subscribed: replace a proxy unreachable for too long,
    /// forget miners unreachable for too long,
    /// reconcile every `reconcile_interval_secs`, and REVIVE once a backoff
    /// that kept us suppressed is over.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Decision> {
        let mut decisions = Vec::new();
        if !self.in_session {
            return decisions;
        }
        let timeout_secs = self.config.proxy.unreachable_timeout_secs;
        if timeout_secs > 0.0 {
            let replaced = self
                .state
                .book
                .replace_unreachable_proxy(now_ms, (timeout_secs * 1000.0) as u64);
            if !replaced.is_empty() {
                self.dirty = true;
                decisions.extend(replaced);
            }
        }
        let miner_timeout_secs = self.config.miner.unreachable_timeout_secs;
        if miner_timeout_secs > 0.0 {
            let forgotten = self
                .state
                .book
                .forget_unreachable_miners(now_ms, (miner_timeout_secs * 1000.0) as u64);
            if !forgotten.is_empty() {
                self.dirty = true;
                decisions.extend(forgotten);
            }
        }
        decisions.extend(self.drain(now_ms));
        decisions.extend(self.check_home(now_ms));
        let interval_ms = (self.config.framework.reconcile_interval_secs * 1000.0) as u64;
        if interval_ms > 0 && now_ms.saturating_sub(self.last_reconcile_ms) >= interval_ms {
            self.last_reconcile_ms = now_ms;
            decisions.extend(self.state.book.explicit_reconcile());
        }
        self.sync_interest(now_ms, &mut decisions);
        decisions
    }
}

/// UPDATE_OPERATION_STATUS of one of our RESERVE / CREATE / DESTROY /
/// UNRESERVE operations: said in the log (what went wrong, if it did), and
/// acknowledged when it carries a uuid, or the agent resends it for ever.
/// Nothing else waits on it: a proxy launched on a volume that was not made
/// fails on its own and is relaunched, and offers show what exists.
fn on_operation_status(status: &mesos::v1::OperationStatus) -> Vec<Decision> {
    use mesos::v1::OperationState;
    let id = status
        .operation_id
        .as_ref()
        .map_or("", |id| id.value.as_str());
    let message = status.message.as_deref().unwrap_or("");
    match status.state() {
        OperationState::OperationFinished | OperationState::OperationPending => {
            info!(operation = id, state = ?status.state(), "offer operation")
        }
        state => warn!(
            operation = id,
            ?state,
            message,
            "offer operation did not finish"
        ),
    }
    match (&status.uuid, &status.agent_id) {
        (Some(uuid), Some(agent)) => vec![Decision::AcknowledgeOperation {
            agent_id: agent.into(),
            operation_id: id.to_owned(),
            uuid: uuid.value.clone(),
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation_event(state: mesos::v1::OperationState, uuid: Option<&[u8]>) -> Event {
        Event {
            r#type: Some(mesos::v1::scheduler::event::Type::UpdateOperationStatus as i32),
            update_operation_status: Some(mesos::v1::scheduler::event::UpdateOperationStatus {
                status: mesos::v1::OperationStatus {
                    operation_id: Some(mesos::v1::OperationId {
                        value: "o1/0".into(),
                    }),
                    state: state as i32,
                    uuid: uuid.map(|bytes| mesos::v1::Uuid {
                        value: bytes::Bytes::copy_from_slice(bytes),
                    }),
                    agent_id: Some(mesos::v1::AgentId { value: "a1".into() }),
                    ..Default::default()
                },
            }),
            ..Default::default()
        }
    }

    #[test]
    fn operation_statuses_with_a_uuid_are_acknowledged() {
        use mesos::v1::OperationState;
        let mut framework = Framework::new(
            crate::plan::tests::config(),
            crate::state::PersistedState::default(),
        );
        let decisions = framework
            .handle_event(
                &operation_event(OperationState::OperationFinished, Some(&[3; 16])),
                0,
            )
            .unwrap();
        assert_eq!(
            decisions,
            vec![Decision::AcknowledgeOperation {
                agent_id: "a1".into(),
                operation_id: "o1/0".into(),
                uuid: bytes::Bytes::from_static(&[3; 16]),
            }]
        );
        // The master's OPERATION_ERROR for a dropped operation has nothing to acknowledge.
        let decisions = framework
            .handle_event(&operation_event(OperationState::OperationError, None), 0)
            .unwrap();
        assert!(decisions.is_empty(), "{decisions:?}");
    }
    use crate::plan::tests::{config, offer};
    use crate::state::StateStore;
    use crate::tasks::tests::status;
    use crate::tasks::TaskRole;
    use mesos::v1::scheduler::event;
    use mesos::v1::TaskState as P;

    fn launched(decisions: &[Decision]) -> Vec<String> {
        decisions
            .iter()
            .flat_map(|d| match d {
                Decision::Launch { tasks, .. } => {
                    tasks.iter().map(|t| t.task_id.value.clone()).collect()
                }
                _ => Vec::new(),
            })
            .collect()
    }

    fn killed(decisions: &[Decision]) -> Vec<mesos::id::Task> {
        decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Kill { task_id, .. } => Some(task_id.clone()),
                _ => None,
            })
            .collect()
    }

    fn subscribed(id: &str) -> Event {
        Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: mesos::v1::FrameworkId { value: id.into() },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Default::default()
        }
    }

    /// Subscribes, launches and runs the proxy on agent p, and one miner on a1.
    fn running_cluster() -> Framework {
        let mut fw = Framework::new(config(), PersistedState::default());
        let d = fw.handle_event(&subscribed("fw-1"), 0).unwrap();
        assert_eq!(d, vec![Decision::Reconcile { tasks: vec![] }]);
        let d = fw.on_offers(&[offer("o1", "p", 1.0, 512.0, &[(31000, 31001)])], 1);
        assert_eq!(launched(&d), vec!["proxy-1"]);
        assert_eq!(d.last(), Some(&Decision::Suppress), "waiting for the proxy");
        let d = fw.on_update(&status("proxy-1", "p", P::TaskRunning), 2);
        assert!(d.contains(&Decision::Revive));
        let d = fw.on_offers(&[offer("o2", "a1", 2.0, 512.0, &[])], 3);
        assert_eq!(launched(&d), vec!["miner-a1-1"]);
        fw.on_update(&status("miner-a1-1", "a1", P::TaskRunning), 4);
        fw
    }

    #[test]
    fn subscribe_call_uses_persisted_id() {
        let fw = Framework::new(config(), PersistedState::default());
        assert!(fw
            .subscribe_call()
            .subscribe
            .unwrap()
            .framework_info
            .id
            .is_none());
        let state = PersistedState {
            framework_id: Some("fw-9".into()),
            ..Default::default()
        };
        let call = Framework::new(config(), state).subscribe_call();
        assert_eq!(call.r#type(), call::Type::Subscribe);
        assert_eq!(call.framework_id.unwrap().value, "fw-9");
        assert_eq!(
            call.subscribe.unwrap().framework_info.id.unwrap().value,
            "fw-9"
        );
    }

    #[test]
    fn proxy_death_kills_miners_then_relaunches_proxy_then_miners() {
        let mut fw = running_cluster();
        let d = fw.on_update(&status("proxy-1", "p", P::TaskFailed), 10_000);
        assert_eq!(killed(&d), vec!["miner-a1-1"]);
        assert!(d.contains(&Decision::Suppress), "proxy backoff");
        assert!(fw.tick(10_500).is_empty());
        assert_eq!(fw.tick(11_000), vec![Decision::Revive]);

        // Offers: a new proxy (new id), no miner yet.
        let d = fw.on_offers(
            &[
                offer("o3", "a1", 2.0, 512.0, &[(31000, 31001)]),
                offer("o4", "a2", 2.0, 512.0, &[]),
            ],
            11_100,
        );
        assert_eq!(launched(&d), vec!["proxy-2"]);
        fw.on_update(&status("miner-a1-1", "a1", P::TaskKilled), 11_200);
        let d = fw.on_update(&status("proxy-2", "a1", P::TaskRunning), 11_300);
        assert!(d.contains(&Decision::Revive));
        let d = fw.on_offers(&[offer("o5", "a2", 2.0, 512.0, &[])], 11_400);
        assert_eq!(launched(&d), vec!["miner-a2-2"]);
        let miner = fw.state().book.get("miner-a2-2").unwrap();
        assert_eq!(
            miner.proxy_id.as_ref().map(|id| id.as_str()),
            Some("proxy-2")
        );
    }

    #[test]
    fn restart_from_persisted_state_relaunches_nothing_live() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        let mut fw = running_cluster();
        assert!(fw.take_dirty());
        store.save(fw.state()).unwrap();
        drop(fw);

        let state = store.load().unwrap().unwrap();
        let mut fw = Framework::new(config(), state);
        assert_eq!(
            fw.subscribe_call()
                .subscribe
                .unwrap()
                .framework_info
                .id
                .unwrap()
                .value,
            "fw-1"
        );
        let d = fw.handle_event(&subscribed("fw-1"), 100_000).unwrap();
        assert_eq!(
            d,
            vec![
                Decision::Reconcile {
                    tasks: vec![
                        ("miner-a1-1".into(), Some("a1".into())),
                        ("proxy-1".into(), Some("p".into())),
                    ]
                },
                Decision::Reconcile { tasks: vec![] },
            ]
        );
        // Reconciliation answers: both live, nothing killed or relaunched.
        for (task, agent) in [("proxy-1", "p"), ("miner-a1-1", "a1")] {
            let d = fw.on_update(&status(task, agent, P::TaskRunning), 100_001);
            assert!(killed(&d).is_empty());
        }
        // An orphan (not in our state) is killed.
        let d = fw.on_update(&status("miner-zz-77", "zz", P::TaskRunning), 100_002);
        assert_eq!(killed(&d), vec!["miner-zz-77"]);
        // New offers: no second proxy; ids continue from the counters.
        let d = fw.on_offers(&[offer("o9", "a3", 1.0, 512.0, &[(31000, 31001)])], 100_003);
        assert_eq!(launched(&d), vec!["miner-a3-2"]);
        assert_eq!(
            fw.state()
                .book
                .tasks()
                .filter(|t| t.role == TaskRole::Proxy)
                .count(),
            1
        );
    }

    #[test]
    fn new_framework_id_forgets_old_tasks() {
        let mut fw = running_cluster();
        fw.take_dirty();
        let d = fw.handle_event(&subscribed("fw-2"), 50).unwrap();
        assert!(fw.take_dirty());
        assert_eq!(fw.framework_id(), Some("fw-2"));
        assert_eq!(fw.state().book.tasks().count(), 0);
        assert_eq!(d, vec![Decision::Reconcile { tasks: vec![] }]);
        let d = fw.on_offers(&[offer("o", "a1", 1.0, 512.0, &[(31000, 31001)])], 60);
        assert_eq!(launched(&d), vec!["proxy-2"]);
    }

    #[test]
    fn error_event_aborts_and_others_are_quiet() {
        let mut fw = Framework::new(config(), PersistedState::default());
        let error = Event {
            r#type: Some(event::Type::Error as i32),
            error: Some(event::Error {
                message: "framework removed".into(),
            }),
            ..Default::default()
        };
        assert!(
            matches!(fw.handle_event(&error, 0), Err(EventError::Master(m)) if m == "framework removed")
        );
        let heartbeat = Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Default::default()
        };
        assert!(fw.handle_event(&heartbeat, 0).unwrap().is_empty());
    }

    #[test]
    fn unreachable_proxy_replaced_after_timeout_and_periodic_reconcile() {
        let mut fw = running_cluster();
        let d = fw.on_update(&status("proxy-1", "p", P::TaskUnreachable), 1_000);
        assert_eq!(d.last(), Some(&Decision::Suppress));
        assert!(!fw.wants_offers(1_000));
        // Default timeout: 300 s.
        assert!(fw.tick(200_000).is_empty());
        let d = fw.tick(301_000);
        assert_eq!(killed(&d), vec!["proxy-1", "miner-a1-1"]);
        assert!(d.contains(&Decision::Reconcile {
            tasks: vec![
                ("miner-a1-1".into(), Some("a1".into())),
                ("proxy-1".into(), Some("p".into())),
            ]
        }));
        assert_eq!(d.last(), Some(&Decision::Revive));
        let d = fw.on_offers(&[offer("o", "a2", 1.0, 512.0, &[(31000, 31001)])], 302_000);
        assert_eq!(launched(&d), vec!["proxy-2"]);
        // The old proxy returns: killed again, and it does not count.
        let d = fw.on_update(&status("proxy-1", "p", P::TaskRunning), 303_000);
        assert_eq!(killed(&d), vec!["proxy-1"]);
        assert_eq!(fw.state().book.proxy().unwrap().id, "proxy-2");

        // No calls while disconnected.
        fw.disconnected();
        assert!(fw.tick(10_000_000).is_empty());
    }

    #[test]
    fn wants_offers_follows_proxy_state() {
        let mut fw = Framework::new(config(), PersistedState::default());
        assert!(fw.wants_offers(0));
        fw.on_offers(&[offer("o1", "p", 1.0, 512.0, &[(31000, 31001)])], 1);
        assert!(!fw.wants_offers(1));
        fw.on_update(&status("proxy-1", "p", P::TaskUnreachable), 2);
        assert!(!fw.wants_offers(2));
        fw.on_update(&status("proxy-1", "p", P::TaskRunning), 3);
        assert!(fw.wants_offers(3));
    }
}
