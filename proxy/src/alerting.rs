//! The proxy's alerts: found blocks with their `submitblock` outcome, workers that stop
//! sending shares, and the pool's hash rate staying low, sent through the shared
//! [`alerts::Sender`] (bounded, never blocking share handling or block submission).
//!
//! Detection is [`alerts::detect`]'s pure state machines; this module feeds them (shares
//! from `downstream`, outcomes from `pool`, a periodic [`run`] for the clocks) and turns their
//! changes into [`Event`]s.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alerts::detect::{RateChange, RateWatch, WorkerChange, WorkerWatch};
use alerts::{Counters, Event, Kind, Sender};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::pool::Pool;
use crate::upstream::SubmitBlockOutcome;

/// What `source` says in the proxy's alerts.
const SOURCE: &str = "proxy";

/// When to alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingConfig {
    /// A worker is offline after this long without an accepted share (None: never).
    pub offline_after: Option<Duration>,
    /// Alert when the hash rate (over `window`) stays below this many hashes per second...
    pub min_hash_rate: Option<f64>,
    /// ... for this long.
    pub low_for: Duration,
    /// The hash-rate window.
    pub window: Duration,
    /// How often the clocks are checked.
    pub check_every: Duration,
}

/// The proxy's alert state.
#[derive(Debug)]
pub struct Alerting {
    sender: Sender,
    config: AlertingConfig,
    workers: Mutex<WorkerWatch>,
    rate: Mutex<Option<RateWatch>>,
}

/// Delivery counters, for `/api/stats` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertStats {
    /// Deliveries answered 2xx (one per event and URL).
    pub sent: u64,
    /// Deliveries given up on (retries exhausted or a final error answer).
    pub failed: u64,
    /// Deliveries dropped because the URL's queue was full.
    pub dropped: u64,
    /// Delivery attempts after the first.
    pub retries: u64,
    /// Workers currently reported offline.
    pub workers_offline: u64,
}

impl Alerting {
    /// Alert state sending through `sender`, with no worker or hash-rate history yet.
    pub fn new(sender: Sender, config: AlertingConfig) -> Self {
        let offline = config.offline_after.unwrap_or(Duration::MAX);
        let rate = config
            .min_hash_rate
            .map(|t| RateWatch::new(t, config.low_for, config.window));
        Self {
            sender,
            workers: Mutex::new(WorkerWatch::new(offline)),
            rate: Mutex::new(rate),
            config,
        }
    }

    /// An accepted share of `worker` (`address.worker`).
    pub fn share(&self, worker: &str) {
        if self.config.offline_after.is_none() {
            return;
        }
        let change = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .share(worker, Instant::now());
        if let Some(change) = change {
            self.sender.send(worker_event(change));
        }
    }

    /// The node's answer to a found block.
    pub fn block(&self, hash: &str, height: u32, outcome: &SubmitBlockOutcome) {
        self.sender.send(block_event(hash, height, outcome));
    }

    /// The clocks: offline workers, the hash rate (from the cumulative accepted difficulty).
    pub fn check(&self, difficulty_total: f64, now: Instant) {
        if self.config.offline_after.is_some() {
            let changes = self
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .check(now);
            for change in changes {
                self.sender.send(worker_event(change));
            }
        }
        let threshold = self.config.min_hash_rate.unwrap_or_default();
        let change = self
            .rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(|r| r.sample(difficulty_total, now));
        if let Some(change) = change {
            self.sender.send(rate_event(change, threshold));
        }
    }

    /// Delivery counters and offline workers.
    pub fn stats(&self) -> AlertStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c: &Counters = self.sender.counters();
        AlertStats {
            sent: c.sent.load(Relaxed),
            failed: c.failed.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            retries: c.retries.load(Relaxed),
            workers_offline: self
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .offline() as u64,
        }
    }
}

/// `block_found`.
pub fn block_event(hash: &str, height: u32, outcome: &SubmitBlockOutcome) -> Event {
    let reason = match outcome {
        SubmitBlockOutcome::Rejected { reason } => Some(reason.as_str()),
        _ => None,
    };
    let summary = match reason {
        Some(r) => format!("block {height} found: rejected by the node ({r})"),
        None => format!("block {height} found: {}", outcome.kind()),
    };
    Event::now(
        Kind::BlockFound,
        SOURCE,
        summary,
        json!({
            "hash": hash,
            "height": height,
            "outcome": if reason.is_some() { "rejected" } else { outcome.kind() },
            "reason": reason,
        }),
    )
}

/// `worker_offline` or `worker_back`.
pub fn worker_event(change: WorkerChange) -> Event {
    match change {
        WorkerChange::Offline { worker, silent_for } => Event::now(
            Kind::WorkerOffline,
            SOURCE,
            format!(
                "worker {worker} offline: no share for {} s",
                silent_for.as_secs()
            ),
            json!({
                "worker": worker,
                "last_share_secs_ago": silent_for.as_secs_f64(),
            }),
        ),
        WorkerChange::Back {
            worker,
            offline_for,
        } => Event::now(
            Kind::WorkerBack,
            SOURCE,
            format!("worker {worker} back after {} s", offline_for.as_secs()),
            json!({ "worker": worker, "offline_for_secs": offline_for.as_secs_f64() }),
        ),
    }
}

/// `hash_rate_low` or `hash_rate_recovered`.
pub fn rate_event(change: RateChange, threshold: f64) -> Event {
    match change {
        RateChange::Low {
            hash_rate,
            below_for,
        } => Event::now(
            Kind::HashRateLow,
            SOURCE,
            format!(
                "pool hash rate {hash_rate:.0} H/s below {threshold:.0} H/s for {} s",
                below_for.as_secs()
            ),
            json!({
                "hash_rate": hash_rate,
                "threshold": threshold,
                "below_for_secs": below_for.as_secs_f64(),
            }),
        ),
        RateChange::Recovered { hash_rate } => Event::now(
            Kind::HashRateRecovered,
            SOURCE,
            format!("pool hash rate back at {hash_rate:.0} H/s (threshold {threshold:.0} H/s)"),
            json!({ "hash_rate": hash_rate, "threshold": threshold }),
        ),
    }
}

/// Checks the pool's alert clocks every `check_every` while the pool lives.
pub async fn run(pool: Arc<Pool>) {
    let Some(alerting) = pool.alerting() else {
        return;
    };
    let mut ticker = tokio::time::interval(alerting.config.check_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        alerting.check(pool.stats.accepted_difficulty(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_events_carry_the_outcome_and_reason() {
        let e = block_event("00ab", 812, &SubmitBlockOutcome::Accepted);
        assert_eq!(e.kind, Kind::BlockFound);
        assert_eq!(e.details["outcome"], "accepted");
        assert_eq!(e.details["reason"], serde_json::Value::Null);
        assert_eq!(e.details["height"], 812);
        assert_eq!(e.summary, "block 812 found: accepted");
        let r = block_event(
            "00ab",
            9,
            &SubmitBlockOutcome::Rejected {
                reason: "high-hash".into(),
            },
        );
        assert_eq!(r.details["outcome"], "rejected");
        assert_eq!(r.details["reason"], "high-hash");
        assert!(r.summary.contains("high-hash"), "{}", r.summary);
    }

    #[tokio::test]
    async fn disabled_detection_keeps_no_state() {
        let a = Alerting::new(
            Sender::disabled(),
            AlertingConfig {
                offline_after: None,
                min_hash_rate: None,
                low_for: Duration::from_secs(1),
                window: Duration::from_secs(1),
                check_every: Duration::from_secs(1),
            },
        );
        a.share("w");
        a.check(1.0, Instant::now() + Duration::from_secs(3600));
        assert_eq!(a.stats(), AlertStats::default());
    }
}
