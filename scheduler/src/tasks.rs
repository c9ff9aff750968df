//! The task book: our proxy and miner tasks and their states, driven by
//! `TaskStatus` updates.
//!
//! - Every status with a uuid gets an ACKNOWLEDGE.
//! - Terminal states (as in Mesos: FINISHED, FAILED, KILLED, ERROR, LOST,
//!   DROPPED, GONE, GONE_BY_OPERATOR) remove the task. UNKNOWN (the master has
//!   never heard of it) does too. UNREACHABLE keeps it: the agent may return.
//! - The proxy ending kills every miner (they point at it); the planner then
//!   relaunches the proxy, then miners once it runs.
//! - A miner's end by revocation (its revocable CPUs taken back, see
//!   [`crate::cpu_policy::is_revocation`]) is expected: no backoff.
//! - Unexpected ends (not killed by us) start an exponential backoff: per
//!   agent for miners, global for the proxy; a task that ran at least
//!   `reset_after_secs` first resets its count.
//! - A non-terminal status for a task the book does not hold (an orphan, e.g.
//!   reported by reconciliation) gets a KILL.
//!
//! Times are milliseconds since the Unix epoch, passed in by the caller.
//! The book, with its id counters, is serialized as part of the persisted
//! state.

use mesos::id;
use std::collections::BTreeMap;

use mesos::v1::TaskStatus;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::config::BackoffConfig;
use crate::decision::Decision;
use crate::volume::Home;

/// Mesos' `TaskState`, as we persist it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Launched; not yet on the agent (also: ACCEPT sent, no status yet).
    Staging,
    /// The executor is starting it.
    Starting,
    /// Running.
    Running,
    /// Being killed.
    Killing,
    /// Ended normally (terminal).
    Finished,
    /// Ended with an error (terminal).
    Failed,
    /// Killed (terminal).
    Killed,
    /// Invalid task description (terminal).
    Error,
    /// Lost (terminal).
    Lost,
    /// Never started: the launch failed on the way (terminal).
    Dropped,
    /// The agent is partitioned away; it may come back.
    Unreachable,
    /// The agent is gone for good (terminal).
    Gone,
    /// An operator says the agent is gone (terminal).
    GoneByOperator,
    /// The master does not know the task.
    Unknown,
}

impl TaskState {
    /// From the wire value; values we do not know read as `Unknown`.
    pub fn from_proto(value: i32) -> Self {
        use mesos::v1::TaskState as P;
        match P::try_from(value) {
            Ok(P::TaskStaging) => Self::Staging,
            Ok(P::TaskStarting) => Self::Starting,
            Ok(P::TaskRunning) => Self::Running,
            Ok(P::TaskKilling) => Self::Killing,
            Ok(P::TaskFinished) => Self::Finished,
            Ok(P::TaskFailed) => Self::Failed,
            Ok(P::TaskKilled) => Self::Killed,
            Ok(P::TaskError) => Self::Error,
            Ok(P::TaskLost) => Self::Lost,
            Ok(P::TaskDropped) => Self::Dropped,
            Ok(P::TaskUnreachable) => Self::Unreachable,
            Ok(P::TaskGone) => Self::Gone,
            Ok(P::TaskGoneByOperator) => Self::GoneByOperator,
            Ok(P::TaskUnknown) | Err(_) => Self::Unknown,
        }
    }

    /// Terminal as Mesos defines it (`protobuf::isTerminalState`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Finished
                | Self::Failed
                | Self::Killed
                | Self::Error
                | Self::Lost
                | Self::Dropped
                | Self::Gone
                | Self::GoneByOperator
        )
    }

    /// Whether the task is over as far as we are concerned: terminal, or
    /// unknown to the master.
    pub fn is_gone(self) -> bool {
        self.is_terminal() || self == Self::Unknown
    }
}

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskRole {
    /// The stratum proxy in front of the node.
    Proxy,
    /// A miner pointed at the proxy.
    Miner,
}

/// Where miners reach the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyEndpoint {
    /// The agent's hostname.
    pub host: String,
    /// The stratum port.
    pub stratum_port: u64,
    /// The HTTP (status) port.
    pub http_port: u64,
}

/// One task we launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Its task id.
    pub id: id::Task,
    /// Proxy or miner.
    pub role: TaskRole,
    /// The agent it was launched on.
    pub agent_id: id::Agent,
    /// That agent's hostname.
    pub hostname: String,
    /// Last known state.
    pub state: TaskState,
    /// CPUs of the task.
    pub cpus: f64,
    /// Memory of the task, MB.
    pub mem_mb: f64,
    /// The proxy's address (proxy only).
    pub endpoint: Option<ProxyEndpoint>,
    /// The proxy task a miner mines through (miners only).
    pub proxy_id: Option<id::Task>,
    /// We asked for it to be killed: its end is not a failure.
    pub kill_requested: bool,
    /// When it was launched.
    pub launched_at_ms: u64,
    /// When it was first seen RUNNING.
    pub running_since_ms: Option<u64>,
    /// Since when it is UNREACHABLE, if it is.
    #[serde(default)]
    pub unreachable_since_ms: Option<u64>,
    /// Its CPUs are revocable (a miner on oversubscribed slack).
    #[serde(default)]
    pub revocable: bool,
}

/// Exponential backoff state for one relaunch key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// Failures in a row.
    pub failures: u32,
    /// No relaunch before this time.
    pub not_before_ms: u64,
}

impl Backoff {
    /// Records a failure at `now_ms` of a task that ran for `ran_ms`.
    pub fn record_failure(&mut self, now_ms: u64, ran_ms: Option<u64>, config: &BackoffConfig) {
        if ran_ms.is_some_and(|ran| ran as f64 >= config.reset_after_secs * 1000.0) {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        let exponent = (self.failures - 1).min(62) as i32;
        let delay_secs = (config.initial_secs * 2f64.powi(exponent)).min(config.max_secs);
        self.not_before_ms = now_ms.saturating_add((delay_secs * 1000.0) as u64);
    }

    /// Milliseconds left before a relaunch is allowed (0 = allowed now).
    pub fn remaining_ms(&self, now_ms: u64) -> u64 {
        self.not_before_ms.saturating_sub(now_ms)
    }
}

/// All our live (non-terminal) tasks, id counters and backoffs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskBook {
    tasks: BTreeMap<id::Task, TaskRecord>,
    next_proxy: u64,
    next_miner: u64,
    proxy_backoff: Backoff,
    miner_backoff: BTreeMap<id::Agent, Backoff>,
    /// The proxy's reservation and persistent volume.
    home: Home,
    /// The agents our offers showed (attributes, CPUs), for the limits.
    cluster: crate::limits::ClusterView,
}

/// Task ids may not contain '/' or whitespace; keep agent ids readable.
fn id_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl TaskBook {
    /// All tasks, by id.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.values()
    }

    /// One task.
    pub fn get(&self, id: &str) -> Option<&TaskRecord> {
        self.tasks.get(id)
    }

    /// The proxy task we are not killing, if any.
    pub fn proxy(&self) -> Option<&TaskRecord> {
        self.tasks
            .values()
            .find(|t| t.role == TaskRole::Proxy && !t.kill_requested)
    }

    /// The proxy, if it is RUNNING.
    pub fn running_proxy(&self) -> Option<&TaskRecord> {
        self.proxy().filter(|t| t.state == TaskState::Running)
    }

    /// Miner tasks (including those being killed).
    pub fn miners(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.values().filter(|t| t.role == TaskRole::Miner)
    }

    /// A fresh proxy task id (`proxy-<n>`).
    pub fn next_proxy_id(&mut self) -> id::Task {
        self.next_proxy += 1;
        id::Task::new(format!("proxy-{}", self.next_proxy))
    }

    /// A fresh miner task id (`miner-<agent>-<n>`).
    pub fn next_miner_id(&mut self, agent_id: &str) -> id::Task {
        self.next_miner += 1;
        id::Task::new(format!("miner-{}-{}", id_safe(agent_id), self.next_miner))
    }

    /// The proxy's reservation and volume.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The agents seen in offers.
    pub fn cluster(&self) -> &crate::limits::ClusterView {
        &self.cluster
    }

    /// Notes an offer's agent in the cluster view.
    pub fn observe_offer(&mut self, offer: &mesos::v1::Offer, executor_cpus: f64) {
        self.cluster
            .observe(offer, self.tasks.values(), executor_cpus);
    }

    /// The proxy's reservation and volume, to change.
    pub fn home_mut(&mut self) -> &mut Home {
        &mut self.home
    }

    /// Adds a just-launched task.
    pub fn insert(&mut self, record: TaskRecord) {
        self.tasks.insert(record.id.clone(), record);
    }

    /// Forgets every task (the master tore our framework down); counters and
    /// backoffs stay.
    pub fn clear_tasks(&mut self) {
        self.tasks.clear();
    }

    /// Milliseconds before the proxy may be relaunched.
    pub fn proxy_backoff_ms(&self, now_ms: u64) -> u64 {
        self.proxy_backoff.remaining_ms(now_ms)
    }

    /// Milliseconds before a miner may be launched on `agent_id`.
    pub fn miner_backoff_ms(&self, agent_id: &str, now_ms: u64) -> u64 {
        self.miner_backoff
            .get(agent_id)
            .map_or(0, |b| b.remaining_ms(now_ms))
    }

    /// The backoff of miners on `agent_id`, if any failed there.
    pub fn miner_backoff(&self, agent_id: &str) -> Option<&Backoff> {
        self.miner_backoff.get(agent_id)
    }

    /// RECONCILE requests after a (re)subscribe: explicit for every task we
    /// hold (if any), then implicit.
    pub fn reconcile_decisions(&self) -> Vec<Decision> {
        let mut decisions = Vec::with_capacity(2);
        decisions.extend(self.explicit_reconcile());
        decisions.push(Decision::Reconcile { tasks: Vec::new() });
        decisions
    }

    /// An explicit RECONCILE of every task we hold (with its agent), if any.
    pub fn explicit_reconcile(&self) -> Option<Decision> {
        (!self.tasks.is_empty()).then(|| Decision::Reconcile {
            tasks: self
                .tasks
                .values()
                .map(|t| (t.id.clone(), Some(t.agent_id.clone())))
                .collect(),
        })
    }

    /// Kills every miner not already being killed.
    /// Asks for one task to be killed (not a failure when it ends); `None`
    /// when unknown or asked already.
    pub fn kill(&mut self, id: &str) -> Option<Decision> {
        let task = self.tasks.get_mut(id).filter(|t| !t.kill_requested)?;
        task.kill_requested = true;
        Some(Decision::Kill {
            task_id: task.id.clone(),
            agent_id: Some(task.agent_id.clone()),
        })
    }

    fn kill_all_miners(&mut self, decisions: &mut Vec<Decision>) {
        for miner in self
            .tasks
            .values_mut()
            .filter(|t| t.role == TaskRole::Miner && !t.kill_requested)
        {
            miner.kill_requested = true;
            decisions.push(Decision::Kill {
                task_id: miner.id.clone(),
                agent_id: Some(miner.agent_id.clone()),
            });
        }
    }

    /// Gives up on a proxy UNREACHABLE for `timeout_ms` or more: kills it
    /// and every miner, so that the planner launches a new proxy. Should the
    /// old one come back, its status gets it killed again.
    pub fn replace_unreachable_proxy(&mut self, now_ms: u64, timeout_ms: u64) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let Some(proxy) = self.tasks.values_mut().find(|t| {
            t.role == TaskRole::Proxy
                && !t.kill_requested
                && t.state == TaskState::Unreachable
                && t.unreachable_since_ms
                    .is_some_and(|since| now_ms.saturating_sub(since) >= timeout_ms)
        }) else {
            return decisions;
        };
        warn!(task = %proxy.id, "proxy unreachable for too long: replacing it");
        proxy.kill_requested = true;
        decisions.push(Decision::Kill {
            task_id: proxy.id.clone(),
            agent_id: Some(proxy.agent_id.clone()),
        });
        self.kill_all_miners(&mut decisions);
        decisions
    }

    /// Gives up on miners UNREACHABLE for `timeout_ms` or more: KILL (in
    /// case they come back) and forget them, so that no record of a lost
    /// agent stays forever. A forgotten miner that reappears is an orphan,
    /// and is killed again.
    pub fn forget_unreachable_miners(&mut self, now_ms: u64, timeout_ms: u64) -> Vec<Decision> {
        let stale: Vec<id::Task> = self
            .tasks
            .values()
            .filter(|t| {
                t.role == TaskRole::Miner
                    && t.state == TaskState::Unreachable
                    && t.unreachable_since_ms
                        .is_some_and(|since| now_ms.saturating_sub(since) >= timeout_ms)
            })
            .map(|t| t.id.clone())
            .collect();
        let mut decisions = Vec::new();
        for id in stale {
            let Some(miner) = self.tasks.remove(&id) else {
                continue;
            };
            warn!(task = %miner.id, agent = %miner.agent_id, "miner unreachable for too long: forgetting it");
            decisions.push(Decision::Kill {
                task_id: miner.id,
                agent_id: Some(miner.agent_id),
            });
        }
        decisions
    }

    /// Bookkeeping for a task that reached `state` (gone): failures start a
    /// backoff, and an unexpected proxy end takes the miners down.
    fn task_ended(
        &mut self,
        record: TaskRecord,
        state: TaskState,
        revoked: bool,
        now_ms: u64,
        backoff: &BackoffConfig,
        decisions: &mut Vec<Decision>,
    ) {
        let ran_ms = record.running_since_ms.map(|t| now_ms.saturating_sub(t));
        // Tasks we killed ourselves end as expected: no backoff, and a proxy
        // we killed already took its miners down.
        let expected = record.kill_requested;
        info!(task = %record.id, ?state, from = ?record.state, expected, "task ended");
        if expected {
            return;
        }
        if revoked && record.role == TaskRole::Miner {
            info!(
                task = %record.id,
                agent = %record.agent_id,
                revocable = record.revocable,
                "miner's CPUs revoked: not a failure, mined again when offered again"
            );
            return;
        }
        match record.role {
            TaskRole::Proxy => {
                self.proxy_backoff.record_failure(now_ms, ran_ms, backoff);
                self.kill_all_miners(decisions);
            }
            TaskRole::Miner => self
                .miner_backoff
                .entry(record.agent_id)
                .or_default()
                .record_failure(now_ms, ran_ms, backoff),
        }
    }

    /// Applies one status update; returns the kills and acknowledgement to
    /// send.
    pub fn apply_status(
        &mut self,
        status: &TaskStatus,
        now_ms: u64,
        backoff: &BackoffConfig,
    ) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let task_id = id::Task::from(&status.task_id);
        let agent_id = status.agent_id.as_ref().map(id::Agent::from);
        let state = TaskState::from_proto(status.state);

        if !self.tasks.contains_key(&task_id) {
            if state.is_gone() {
                debug!(task = %task_id, ?state, "status for a task we no longer hold");
            } else {
                warn!(task = %task_id, ?state, "orphan task: killing it");
                decisions.push(Decision::Kill {
                    task_id: task_id.clone(),
                    agent_id: agent_id.clone(),
                });
            }
        } else if state.is_gone() {
            if let Some(record) = self.tasks.remove(&task_id) {
                let revoked = crate::cpu_policy::is_revocation(status);
                self.task_ended(record, state, revoked, now_ms, backoff, &mut decisions);
            }
        } else if let Some(record) = self.tasks.get_mut(&task_id) {
            if record.state != state {
                debug!(task = %task_id, from = ?record.state, to = ?state, "task state");
            }
            record.state = state;
            if state == TaskState::Running && record.running_since_ms.is_none() {
                record.running_since_ms = Some(now_ms);
            }
            if state == TaskState::Unreachable {
                record.unreachable_since_ms.get_or_insert(now_ms);
            } else {
                record.unreachable_since_ms = None;
            }
            if record.kill_requested && state != TaskState::Killing {
                // Still alive (e.g. reported by reconciliation after a
                // restart): ask again; kills are idempotent.
                decisions.push(Decision::Kill {
                    task_id: task_id.clone(),
                    agent_id: Some(record.agent_id.clone()),
                });
            }
        }

        if let Some(uuid) = status.uuid.as_ref().filter(|u| !u.is_empty()) {
            match agent_id {
                Some(agent_id) => decisions.push(Decision::Acknowledge {
                    agent_id,
                    task_id,
                    uuid: uuid.clone(),
                }),
                None => {
                    warn!(task = %task_id, "status has a uuid but no agent id: cannot acknowledge")
                }
            }
        }
        decisions
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::Bytes;
    use mesos::v1::{AgentId, TaskId};

    pub(crate) fn status(task: &str, agent: &str, state: mesos::v1::TaskState) -> TaskStatus {
        TaskStatus {
            task_id: TaskId { value: task.into() },
            agent_id: Some(AgentId {
                value: agent.into(),
            }),
            state: state as i32,
            uuid: Some(Bytes::from_static(b"0123456789abcdef")),
            ..Default::default()
        }
    }

    pub(crate) fn record(id: &str, role: TaskRole, agent: &str, state: TaskState) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            role,
            agent_id: agent.into(),
            hostname: format!("{agent}.example"),
            state,
            cpus: 1.0,
            mem_mb: 64.0,
            endpoint: (role == TaskRole::Proxy).then(|| ProxyEndpoint {
                host: format!("{agent}.example"),
                stratum_port: 31000,
                http_port: 31001,
            }),
            proxy_id: (role == TaskRole::Miner).then(|| "proxy-1".into()),
            kill_requested: false,
            launched_at_ms: 0,
            running_since_ms: None,
            unreachable_since_ms: None,
            revocable: false,
        }
    }

    #[test]
    fn persisted_records_keep_ids_as_bare_strings() {
        let miner = record("miner-a1-1", TaskRole::Miner, "a1", TaskState::Running);
        let json = serde_json::to_value(&miner).unwrap();
        assert_eq!(json["id"], "miner-a1-1");
        assert_eq!(json["agent_id"], "a1");
        assert_eq!(json["proxy_id"], "proxy-1");
        let back: TaskRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, miner);
    }

    fn kills(decisions: &[Decision]) -> Vec<id::Task> {
        decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Kill { task_id, .. } => Some(task_id.clone()),
                _ => None,
            })
            .collect()
    }

    use mesos::v1::TaskState as P;

    #[test]
    fn every_proto_state_maps_and_terminals_match_mesos() {
        let all = [
            (P::TaskStaging, TaskState::Staging, false),
            (P::TaskStarting, TaskState::Starting, false),
            (P::TaskRunning, TaskState::Running, false),
            (P::TaskKilling, TaskState::Killing, false),
            (P::TaskFinished, TaskState::Finished, true),
            (P::TaskFailed, TaskState::Failed, true),
            (P::TaskKilled, TaskState::Killed, true),
            (P::TaskError, TaskState::Error, true),
            (P::TaskLost, TaskState::Lost, true),
            (P::TaskDropped, TaskState::Dropped, true),
            (P::TaskUnreachable, TaskState::Unreachable, false),
            (P::TaskGone, TaskState::Gone, true),
            (P::TaskGoneByOperator, TaskState::GoneByOperator, true),
            (P::TaskUnknown, TaskState::Unknown, false),
        ];
        for (proto, ours, terminal) in all {
            assert_eq!(TaskState::from_proto(proto as i32), ours);
            assert_eq!(ours.is_terminal(), terminal, "{ours:?}");
        }
        assert_eq!(TaskState::from_proto(99), TaskState::Unknown);
        assert!(TaskState::Unknown.is_gone());
        assert!(!TaskState::Unreachable.is_gone());
    }

    #[test]
    fn a_revoked_miner_is_no_failure_but_a_failed_one_is() {
        let backoff = BackoffConfig::default();
        let mut book = TaskBook::default();
        let mut slack = record("miner-a1-1", TaskRole::Miner, "a1", TaskState::Running);
        slack.revocable = true;
        book.insert(slack);
        book.insert(record(
            "miner-a1-2",
            TaskRole::Miner,
            "a1",
            TaskState::Running,
        ));
        let mut revoked = status("miner-a1-1", "a1", P::TaskGone);
        revoked.reason = Some(mesos::v1::task_status::Reason::ContainerPreempted as i32);
        let decisions = book.apply_status(&revoked, 1000, &backoff);
        assert!(kills(&decisions).is_empty());
        assert!(book.get("miner-a1-1").is_none());
        assert_eq!(book.miner_backoff_ms("a1", 1000), 0, "no backoff");
        assert!(book.miner_backoff("a1").is_none());
        // TASK_LOST with the reason (a framework that is not partition-aware).
        let mut lost = record("miner-a1-3", TaskRole::Miner, "a1", TaskState::Running);
        lost.revocable = true;
        book.insert(lost);
        let mut revoked = status("miner-a1-3", "a1", P::TaskLost);
        revoked.reason = Some(mesos::v1::task_status::Reason::ContainerPreempted as i32);
        book.apply_status(&revoked, 1000, &backoff);
        assert_eq!(book.miner_backoff_ms("a1", 1000), 0);
        // The same end for another reason is a failure.
        let mut failed = status("miner-a1-2", "a1", P::TaskFailed);
        failed.reason = Some(mesos::v1::task_status::Reason::ExecutorTerminated as i32);
        book.apply_status(&failed, 1000, &backoff);
        assert!(book.miner_backoff_ms("a1", 1000) > 0);
    }

    #[test]
    fn statuses_with_uuid_are_acknowledged() {
        let mut book = TaskBook::default();
        book.insert(record("proxy-1", TaskRole::Proxy, "a1", TaskState::Staging));
        let decisions = book.apply_status(
            &status("proxy-1", "a1", P::TaskRunning),
            1000,
            &BackoffConfig::default(),
        );
        assert_eq!(
            decisions,
            vec![Decision::Acknowledge {
                agent_id: "a1".into(),
                task_id: "proxy-1".into(),
                uuid: Bytes::from_static(b"0123456789abcdef"),
            }]
        );
        assert_eq!(book.running_proxy().unwrap().running_since_ms, Some(1000));

        let mut no_uuid = status("proxy-1", "a1", P::TaskRunning);
        no_uuid.uuid = None;
        assert!(book
            .apply_status(&no_uuid, 2000, &BackoffConfig::default())
            .is_empty());
    }

    #[test]
    fn proxy_death_kills_all_miners() {
        let mut book = TaskBook::default();
        book.insert(record("proxy-1", TaskRole::Proxy, "a1", TaskState::Running));
        book.insert(record(
            "miner-a1-1",
            TaskRole::Miner,
            "a1",
            TaskState::Running,
        ));
        book.insert(record(
            "miner-a2-2",
            TaskRole::Miner,
            "a2",
            TaskState::Starting,
        ));
        let decisions = book.apply_status(
            &status("proxy-1", "a1", P::TaskFailed),
            5000,
            &BackoffConfig::default(),
        );
        assert_eq!(kills(&decisions), vec!["miner-a1-1", "miner-a2-2"]);
        assert!(book.proxy().is_none());
        assert!(book.miners().all(|m| m.kill_requested));
        assert_eq!(book.proxy_backoff_ms(5000), 1000);

        // Their KILLED statuses are expected: no miner backoff.
        book.apply_status(
            &status("miner-a1-1", "a1", P::TaskKilled),
            5100,
            &BackoffConfig::default(),
        );
        assert_eq!(book.miner_backoff_ms("a1", 5100), 0);
        assert_eq!(book.miners().count(), 1);
    }

    #[test]
    fn miner_failures_back_off_exponentially_per_agent_capped() {
        let config = BackoffConfig {
            initial_secs: 1.0,
            max_secs: 8.0,
            reset_after_secs: 600.0,
        };
        let mut book = TaskBook::default();
        let mut now = 10_000;
        let mut delays = Vec::new();
        for n in 0..6 {
            let id = format!("miner-a1-{n}");
            book.insert(record(&id, TaskRole::Miner, "a1", TaskState::Running));
            book.apply_status(&status(&id, "a1", P::TaskFailed), now, &config);
            delays.push(book.miner_backoff_ms("a1", now));
            now += 100;
        }
        assert_eq!(delays, vec![1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(book.miner_backoff_ms("a2", now), 0);
        assert_eq!(book.miner_backoff("a1").unwrap().failures, 6);

        // A miner that ran long enough resets the count.
        let mut long = record("miner-a1-9", TaskRole::Miner, "a1", TaskState::Running);
        long.running_since_ms = Some(now);
        book.insert(long);
        now += 700_000;
        book.apply_status(&status("miner-a1-9", "a1", P::TaskFailed), now, &config);
        assert_eq!(book.miner_backoff_ms("a1", now), 1000);
    }

    #[test]
    fn unreachable_is_kept_and_may_return() {
        let mut book = TaskBook::default();
        book.insert(record(
            "miner-a1-1",
            TaskRole::Miner,
            "a1",
            TaskState::Running,
        ));
        let config = BackoffConfig::default();
        book.apply_status(&status("miner-a1-1", "a1", P::TaskUnreachable), 1, &config);
        assert_eq!(
            book.get("miner-a1-1").unwrap().state,
            TaskState::Unreachable
        );
        book.apply_status(&status("miner-a1-1", "a1", P::TaskRunning), 2, &config);
        assert_eq!(book.get("miner-a1-1").unwrap().state, TaskState::Running);
        book.apply_status(&status("miner-a1-1", "a1", P::TaskUnknown), 3, &config);
        assert!(book.get("miner-a1-1").is_none());
    }

    #[test]
    fn long_unreachable_miners_are_killed_and_forgotten() {
        let mut book = TaskBook::default();
        let config = BackoffConfig::default();
        for (id, agent) in [("miner-a1-1", "a1"), ("miner-a2-2", "a2")] {
            book.insert(record(id, TaskRole::Miner, agent, TaskState::Running));
        }
        book.apply_status(
            &status("miner-a1-1", "a1", P::TaskUnreachable),
            1_000,
            &config,
        );
        assert!(book.forget_unreachable_miners(5_000, 10_000).is_empty());
        let decisions = book.forget_unreachable_miners(11_000, 10_000);
        assert_eq!(kills(&decisions), vec!["miner-a1-1"]);
        assert!(book.get("miner-a1-1").is_none());
        assert_eq!(book.get("miner-a2-2").unwrap().state, TaskState::Running);
        // Should it come back, it is an orphan: killed again.
        let decisions =
            book.apply_status(&status("miner-a1-1", "a1", P::TaskRunning), 12_000, &config);
        assert_eq!(kills(&decisions), vec!["miner-a1-1"]);
    }

    #[test]
    fn orphans_are_killed_but_ended_unknowns_ignored() {
        let mut book = TaskBook::default();
        let config = BackoffConfig::default();
        let decisions = book.apply_status(&status("miner-x-7", "ax", P::TaskRunning), 1, &config);
        assert_eq!(kills(&decisions), vec!["miner-x-7"]);
        let decisions = book.apply_status(&status("miner-x-7", "ax", P::TaskKilled), 2, &config);
        assert!(kills(&decisions).is_empty());
        assert_eq!(decisions.len(), 1, "still acknowledged");
    }

    #[test]
    fn kill_requested_task_still_running_is_killed_again() {
        let mut book = TaskBook::default();
        let mut miner = record("miner-a1-1", TaskRole::Miner, "a1", TaskState::Running);
        miner.kill_requested = true;
        book.insert(miner);
        let config = BackoffConfig::default();
        let decisions = book.apply_status(&status("miner-a1-1", "a1", P::TaskRunning), 1, &config);
        assert_eq!(kills(&decisions), vec!["miner-a1-1"]);
        let decisions = book.apply_status(&status("miner-a1-1", "a1", P::TaskKilling), 2, &config);
        assert!(kills(&decisions).is_empty());
    }

    #[test]
    fn reconcile_explicit_then_implicit() {
        let mut book = TaskBook::default();
        assert_eq!(
            book.reconcile_decisions(),
            vec![Decision::Reconcile { tasks: vec![] }]
        );
        book.insert(record("proxy-1", TaskRole::Proxy, "a1", TaskState::Running));
        assert_eq!(
            book.reconcile_decisions(),
            vec![
                Decision::Reconcile {
                    tasks: vec![("proxy-1".into(), Some("a1".into()))]
                },
                Decision::Reconcile { tasks: vec![] },
            ]
        );
    }

    #[test]
    fn ids_are_unique_and_safe() {
        let mut book = TaskBook::default();
        assert_eq!(book.next_proxy_id(), "proxy-1");
        assert_eq!(book.next_proxy_id(), "proxy-2");
        assert_eq!(book.next_miner_id("a b/c"), "miner-a_b_c-1");
        assert_eq!(book.next_miner_id("S0"), "miner-S0-2");
    }
}
