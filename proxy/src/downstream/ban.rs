//! Ban scoring, without I/O. Every offence of a source (an invalid share, a line that is not
//! JSON, a request that does not parse or names an unknown method, a failed or refused
//! `mining.authorize`, ...) adds a point to that source's [`BanScore`]. The score drains one
//! point per [`BanPolicy::decay`] and nothing else lowers it: valid shares do not, so a peer
//! alternating good and bad input still climbs. A score reaching [`BanPolicy::threshold`]
//! bans the source for [`BanPolicy::ban_for`].

use std::time::{Duration, Instant};

/// When a source is banned, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// The score (in offences) at which the source is banned (at least 1).
    pub threshold: u32,
    /// One point drains from the score per this much time.
    pub decay: Duration,
    /// How long a ban lasts.
    pub ban_for: Duration,
}

/// A leaky bucket of offence points: `add` fills it, time drains it.
#[derive(Debug, Clone, Default)]
pub struct BanScore {
    points: u32,
    /// When the last whole point drained (or the first point was added).
    since: Option<Instant>,
}

impl BanScore {
    /// The points left at `now` after draining one per `decay`.
    pub fn points(&self, decay: Duration, now: Instant) -> u32 {
        let mut copy = self.clone();
        copy.drain(decay, now);
        copy.points
    }

    /// Adds `points` at `now` (after draining); returns the new score.
    pub fn add(&mut self, points: u32, decay: Duration, now: Instant) -> u32 {
        self.drain(decay, now);
        if self.points == 0 {
            self.since = Some(now);
        }
        self.points = self.points.saturating_add(points);
        self.points
    }

    /// Empties the bucket.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn drain(&mut self, decay: Duration, now: Instant) {
        let Some(since) = self.since else {
            return;
        };
        let decay = decay.max(Duration::from_nanos(1));
        let steps = now.saturating_duration_since(since).as_nanos() / decay.as_nanos();
        if steps >= u128::from(self.points) {
            self.clear();
        } else {
            // steps < points <= u32::MAX.
            let steps = steps as u32;
            self.points -= steps;
            self.since = Some(since + decay * steps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECAY: Duration = Duration::from_secs(10);

    #[test]
    fn points_drain_one_per_decay_and_only_with_time() {
        let t0 = Instant::now();
        let mut s = BanScore::default();
        assert_eq!(s.points(DECAY, t0), 0);
        for i in 1..=5 {
            assert_eq!(s.add(1, DECAY, t0), i);
        }
        assert_eq!(s.points(DECAY, t0 + Duration::from_secs(9)), 5);
        assert_eq!(s.points(DECAY, t0 + Duration::from_secs(10)), 4);
        assert_eq!(s.points(DECAY, t0 + Duration::from_secs(39)), 2);
        assert_eq!(s.points(DECAY, t0 + Duration::from_secs(50)), 0);
        assert_eq!(s.points(DECAY, t0 + Duration::from_secs(5000)), 0);
        // Partial drains keep the remainder: 25 s drains 2, the next 5 s a third.
        assert_eq!(s.add(0, DECAY, t0 + Duration::from_secs(25)), 3);
        assert_eq!(s.points(DECAY, t0 + Duration::from_secs(30)), 2);
        // An emptied bucket starts its clock again at the next offence.
        let later = t0 + Duration::from_secs(1000);
        assert_eq!(s.add(2, DECAY, later), 2);
        assert_eq!(s.points(DECAY, later + Duration::from_secs(10)), 1);
    }

    #[test]
    fn offences_faster_than_the_decay_accumulate() {
        // One offence a second against a 10 s decay: the score climbs by 0.9 a second, which a
        // counter reset by valid shares in between would never do.
        let t0 = Instant::now();
        let mut s = BanScore::default();
        let mut score = 0;
        for i in 0..100u64 {
            score = s.add(1, DECAY, t0 + Duration::from_secs(i));
        }
        assert_eq!(score, 91);
        // And one every 10 s stays at 1.
        let mut s = BanScore::default();
        for i in 0..100u64 {
            score = s.add(1, DECAY, t0 + Duration::from_secs(10 * i));
        }
        assert_eq!(score, 1);
    }

    #[test]
    fn huge_weights_and_zero_decay_do_not_overflow() {
        let t0 = Instant::now();
        let mut s = BanScore::default();
        assert_eq!(s.add(u32::MAX, DECAY, t0), u32::MAX);
        assert_eq!(s.add(5, DECAY, t0), u32::MAX);
        // A zero decay drains a point a nanosecond.
        let mut z = BanScore::default();
        z.add(3, Duration::ZERO, t0);
        assert_eq!(z.points(Duration::ZERO, t0 + Duration::from_nanos(2)), 1);
        assert_eq!(z.points(Duration::ZERO, t0 + Duration::from_nanos(3)), 0);
    }
}
