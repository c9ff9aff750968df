//! When to alert: state machines without I/O or clocks of their own. The caller passes `now`
//! (an [`Instant`]) to every call, so tests drive time by hand.
//!
//! - [`WorkerWatch`]: a worker is offline when its last accepted share is `offline_after`
//!   old; it is reported once, and once more when it comes back.
//! - [`RateWatch`]: the pool's hash rate, from cumulative accepted share difficulty sampled
//!   over a window, is low when it stays below a threshold for `low_for`; reported once, and
//!   once more when it recovers.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// One worker's change of state.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerChange {
    /// No share for `silent_for` (at least the threshold).
    Offline {
        /// The worker's name.
        worker: String,
        /// Time since its last accepted share.
        silent_for: Duration,
    },
    /// A share after being reported offline for `offline_for` (since its last share).
    Back {
        /// The worker's name.
        worker: String,
        /// Time from its previous accepted share to this one.
        offline_for: Duration,
    },
}

/// Last share per worker, and which ones were reported offline.
#[derive(Debug, Clone)]
pub struct WorkerWatch {
    offline_after: Duration,
    /// Worker -> (last accepted share, reported offline).
    workers: BTreeMap<String, (Instant, bool)>,
    /// Workers forgotten after being offline this long (bounds the table).
    forget_after: Duration,
}

impl WorkerWatch {
    /// Workers are offline after `offline_after` without a share; offline workers are
    /// forgotten after a week (a worker that returns then is new again).
    pub fn new(offline_after: Duration) -> Self {
        Self {
            offline_after,
            workers: BTreeMap::new(),
            forget_after: Duration::from_secs(7 * 86_400).max(offline_after.saturating_mul(2)),
        }
    }

    /// An accepted share from `worker`: `Back` if it had been reported offline.
    pub fn share(&mut self, worker: &str, now: Instant) -> Option<WorkerChange> {
        match self.workers.get_mut(worker) {
            Some((last, offline)) => {
                let was_offline = std::mem::replace(offline, false);
                let silent = now.saturating_duration_since(*last);
                *last = now;
                was_offline.then(|| WorkerChange::Back {
                    worker: worker.to_owned(),
                    offline_for: silent,
                })
            }
            None => {
                self.workers.insert(worker.to_owned(), (now, false));
                None
            }
        }
    }

    /// Workers that became offline since the last check (each reported once).
    pub fn check(&mut self, now: Instant) -> Vec<WorkerChange> {
        let mut changes = Vec::new();
        let forget_after = self.forget_after;
        self.workers.retain(|worker, (last, offline)| {
            let silent = now.saturating_duration_since(*last);
            if !*offline && silent >= self.offline_after {
                *offline = true;
                changes.push(WorkerChange::Offline {
                    worker: worker.clone(),
                    silent_for: silent,
                });
            }
            silent < forget_after
        });
        changes
    }

    /// Workers currently reported offline.
    pub fn offline(&self) -> usize {
        self.workers.values().filter(|(_, off)| *off).count()
    }
}

/// A change of the pool's hash-rate state.
#[derive(Debug, Clone, PartialEq)]
pub enum RateChange {
    /// Below the threshold for `below_for`.
    Low {
        /// The hash rate over the window, in hashes per second.
        hash_rate: f64,
        /// How long it has been below the threshold.
        below_for: Duration,
    },
    /// Back at or above it.
    Recovered {
        /// The hash rate over the window, in hashes per second.
        hash_rate: f64,
    },
}

/// Hash rate from cumulative share difficulty over a sliding window, against a threshold.
#[derive(Debug, Clone)]
pub struct RateWatch {
    threshold: f64,
    low_for: Duration,
    window: Duration,
    /// (time, cumulative accepted difficulty), oldest first, covering `window`.
    samples: VecDeque<(Instant, f64)>,
    below_since: Option<Instant>,
    reported: bool,
}

impl RateWatch {
    /// Low when the rate over `window` (hashes per second) stays under `threshold` for
    /// `low_for`. No verdict until a whole window has been sampled.
    pub fn new(threshold: f64, low_for: Duration, window: Duration) -> Self {
        Self {
            threshold,
            low_for,
            window,
            samples: VecDeque::new(),
            below_since: None,
            reported: false,
        }
    }

    /// The hash rate over the samples kept (None until they span a whole window).
    pub fn hash_rate(&self) -> Option<f64> {
        let (t0, d0) = *self.samples.front()?;
        let (t1, d1) = *self.samples.back()?;
        let span = t1.saturating_duration_since(t0);
        if span < self.window || span.is_zero() {
            return None;
        }
        Some((d1 - d0).max(0.0) * 4_294_967_296.0 / span.as_secs_f64())
    }

    /// A sample of the cumulative accepted difficulty; a change when the state flips.
    pub fn sample(&mut self, difficulty_total: f64, now: Instant) -> Option<RateChange> {
        self.samples.push_back((now, difficulty_total));
        // Keep the newest sample at least a window old as the start.
        while self.samples.len() > 2
            && now.saturating_duration_since(self.samples[1].0) >= self.window
        {
            self.samples.pop_front();
        }
        let rate = self.hash_rate()?;
        if rate < self.threshold {
            let since = *self.below_since.get_or_insert(now);
            let below_for = now.saturating_duration_since(since);
            if !self.reported && below_for >= self.low_for {
                self.reported = true;
                return Some(RateChange::Low {
                    hash_rate: rate,
                    below_for,
                });
            }
            None
        } else {
            self.below_since = None;
            if std::mem::replace(&mut self.reported, false) {
                return Some(RateChange::Recovered { hash_rate: rate });
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_silent_worker_is_offline_once_and_back_once() {
        let t0 = Instant::now();
        let mut w = WorkerWatch::new(60 * S);
        assert_eq!(w.share("a.1", t0), None);
        assert_eq!(w.share("b.1", t0 + 30 * S), None);
        assert!(w.check(t0 + 59 * S).is_empty(), "not yet");
        assert_eq!(
            w.check(t0 + 60 * S),
            vec![WorkerChange::Offline {
                worker: "a.1".into(),
                silent_for: 60 * S
            }]
        );
        assert!(w.check(t0 + 61 * S).is_empty(), "reported once");
        assert_eq!(w.offline(), 1);
        // b keeps mining.
        assert_eq!(w.share("b.1", t0 + 80 * S), None);
        assert!(w.check(t0 + 100 * S).is_empty());
        assert_eq!(
            w.share("a.1", t0 + 120 * S),
            Some(WorkerChange::Back {
                worker: "a.1".into(),
                offline_for: 120 * S
            })
        );
        assert_eq!(w.offline(), 0);
        assert_eq!(w.share("a.1", t0 + 121 * S), None, "back once");
        // b is offline at 80 + 60.
        assert_eq!(w.check(t0 + 140 * S).len(), 1);
    }

    #[test]
    fn offline_workers_are_forgotten_after_a_week() {
        let t0 = Instant::now();
        let mut w = WorkerWatch::new(60 * S);
        w.share("a", t0);
        assert_eq!(w.check(t0 + 60 * S).len(), 1);
        w.check(t0 + 7 * 86_400 * S);
        assert_eq!(w.offline(), 0);
        assert_eq!(
            w.share("a", t0 + 8 * 86_400 * S),
            None,
            "new again, not back"
        );
    }

    /// Difficulty per second for a hash rate: rate / 2^32.
    fn d(rate: f64, secs: u64) -> f64 {
        rate * secs as f64 / 4_294_967_296.0
    }

    #[test]
    fn the_rate_is_low_after_staying_below_the_threshold_and_recovers() {
        let t0 = Instant::now();
        let window = 60 * S;
        let mut r = RateWatch::new(1.1e9, 120 * S, window);
        let mut total = 0.0;
        // 2 GH/s for five minutes: fine; no verdict before one window.
        for s in (0..=300).step_by(10) {
            if s > 0 {
                total += d(2e9, 10);
            }
            assert_eq!(r.sample(total, t0 + s * S), None, "at {s}");
            if s >= 60 {
                let rate = r.hash_rate().unwrap();
                assert!((rate - 2e9).abs() < 1e3, "{rate}");
            } else {
                assert_eq!(r.hash_rate(), None);
            }
        }
        // Then nothing: below once the window's mean drops under 1.1 GH/s (at 330 s, three of
        // its six intervals empty), reported 120 s after that.
        let mut low = None;
        for s in (310..=600).step_by(10) {
            if let Some(change) = r.sample(total, t0 + s * S) {
                assert!(low.is_none(), "reported twice");
                low = Some((s, change));
            }
        }
        let (at, change) = low.expect("reported low");
        assert_eq!(at, 330 + 120, "{change:?}");
        assert_eq!(
            change,
            RateChange::Low {
                hash_rate: 0.0,
                below_for: 120 * S
            }
        );
        // Mining again: recovered once the window's mean is back over the threshold.
        let mut back = None;
        for s in (610..=700).step_by(10) {
            total += d(3e9, 10);
            if let Some(change) = r.sample(total, t0 + s * S) {
                assert!(back.is_none());
                back = Some((s, change));
            }
        }
        let (_, change) = back.expect("recovered");
        assert!(matches!(change, RateChange::Recovered { hash_rate } if hash_rate >= 1.1e9));
    }

    #[test]
    fn a_dip_shorter_than_the_hold_time_is_not_reported() {
        let t0 = Instant::now();
        let mut r = RateWatch::new(1e9, 120 * S, 10 * S);
        let mut total = 0.0;
        let mut changes = Vec::new();
        for s in (0..=600).step_by(10) {
            // 2 GH/s except 60 s of nothing in the middle.
            if s > 0 && !(300..360).contains(&s) {
                total += d(2e9, 10);
            }
            changes.extend(r.sample(total, t0 + s * S));
        }
        assert!(changes.is_empty(), "{changes:?}");
    }
}
