//! Per-connection variable difficulty: steer each miner's share rate toward one share per
//! target interval (default 10 s), so fast miners do not flood the proxy and slow (CPU) miners
//! still submit often enough to be paid and measured.
//!
//! [`Vardiff`] smooths the intervals between accepted shares with an exponentially weighted
//! moving average, and at most once per retarget interval proposes
//! `difficulty * target_interval / average_interval`, limited to a factor of
//! [`VardiffConfig::max_step`] per retarget and to `[min_difficulty, max_difficulty]`. Changes
//! within [`VardiffConfig::tolerance`] of the current difficulty are skipped, so a steady
//! miner is not resent `mining.set_difficulty` every interval. A silent miner's difficulty is
//! lowered too: the time since its last share counts as a lower bound on the interval.
//!
//! A miner whose start is far too easy does not wait for the timed retargets (each at most
//! [`VardiffConfig::max_step`] once per [`VardiffConfig::retarget_interval`]): once
//! [`VardiffConfig::fast_retarget_shares`] shares found at the difficulty in effect have come
//! in at least twice as fast as aimed, the difficulty jumps at once to what their work rate
//! calls for (at most [`MAX_FAST_STEP`] times higher per jump). Only shares judged at the
//! current difficulty count towards that estimate, in a window opened by the last change:
//! shares still in flight from before a change are not mistaken for a faster miner. The
//! server sends such a change at once, with the current job re-sent under an alias (see
//! [`crate::jobs`]), so a fast miner spends a fraction of a second, not minutes, at a
//! difficulty that the share rate limit below would refuse.
//!
//! Each connection's share rate is also capped ([`Vardiff::admit`]): a token bucket refilled at
//! [`VardiffConfig::max_share_rate`] shares a second (at least four times the rate vardiff
//! aims at, [`min_share_rate`], so it never fights vardiff: a policy below that is refused by
//! [`VardiffConfig::validate`]), holding [`SHARE_BURST_SECONDS`] of them. A
//! share over the limit is refused before it is credited or journaled, unless it is a block:
//! a flood costs the proxy at most the validation of what it sends, and an honest miner meets
//! the limit at most for the few shares before the fast retarget above. The limit is no
//! fairness device (the PPLNS window is measured in work, so trivial shares weigh what they
//! cost); it bounds the proxy's work per connection.
//!
//! The caller sends the new difficulty with the next job. Difficulties below 1 are normal.
//! Time is passed in (`Instant`s), so tests use synthetic timestamps.
//!
//! No difficulty is ever handed out above the network difficulty of the job being mined
//! ([`Vardiff::set_ceiling`], updated with each job): a share target harder than the block
//! target would only make the miner hold back shares that are blocks. On regtest the ceiling is
//! [`REGTEST_SHARE_CEILING`] instead ([`VardiffConfig::min_ceiling`]): its block target
//! `7fffff..` is met by every other hash, so capping at it would have each miner submit half its
//! hashes (millions of shares a second, each a block). Any share there is still a block, and a
//! CPU core finds several a second, so the chain grows as fast as the node takes blocks.
//!
//! The floor depends on the network ([`min_difficulty_for`], used by
//! [`VardiffConfig::for_network`]); it exists so one connection cannot make the proxy validate
//! an unbounded stream of trivial shares, and it is itself capped at the network difficulty:
//! * regtest: [`REGTEST_DIFFICULTY`], the regtest block difficulty (every share is a block);
//! * signet: 2^-16. Custom signets start at difficulty ~0.001 (`1e0377ae`) and test CPU miners
//!   of a few MH/s then still submit about once per 10 ms..1 s before vardiff raises them;
//! * testnet3 / testnet4: 2^-10 (2^22 hashes a share, about one a second for one CPU core):
//!   these chains fall back to difficulty-1 blocks, so CPU miners are useful there;
//! * mainnet: 1, the classic pool floor: a CPU can never find a mainnet block, and difficulty 1
//!   is already ~2^32 hashes a share, so the proxy's share rate stays bounded.

use std::time::{Duration, Instant};

use bitcoin::Network;

use crate::invalid_config::{require, InvalidConfig};

/// The regtest block difficulty (target `7fffff00...`), the easiest share worth sending.
pub const REGTEST_DIFFICULTY: f64 = 4.656_542_373_906_925e-10;

/// The highest share difficulty handed out on regtest (2^22 hashes a share; see the module
/// docs).
pub const REGTEST_SHARE_CEILING: f64 = 1.0 / 1024.0;

/// The signet share difficulty floor (see the module docs).
pub const SIGNET_MIN_DIFFICULTY: f64 = 1.0 / 65_536.0;
/// The testnet3 / testnet4 share difficulty floor (see the module docs).
pub const TESTNET_MIN_DIFFICULTY: f64 = 1.0 / 1024.0;
/// The mainnet share difficulty floor (see the module docs).
pub const MAINNET_MIN_DIFFICULTY: f64 = 1.0;

/// Default [`VardiffConfig::max_share_rate`]: 200 times vardiff's default aim of one share
/// per 10 s.
pub const DEFAULT_MAX_SHARE_RATE: f64 = 20.0;
/// Default [`VardiffConfig::fast_retarget_shares`].
pub const DEFAULT_FAST_RETARGET_SHARES: u32 = 16;
/// The largest factor one fast retarget raises the difficulty by (see the module docs).
pub const MAX_FAST_STEP: f64 = 4096.0;

/// A connection may send this many seconds' worth of shares at once before the rate limit
/// applies.
pub const SHARE_BURST_SECONDS: f64 = 5.0;

/// The lowest [`VardiffConfig::max_share_rate`] for vardiff aiming at a share every
/// `target_interval`: four times that rate, so the limit never fights vardiff.
pub fn min_share_rate(target_interval: Duration) -> f64 {
    4.0 / target_interval.as_secs_f64()
}

/// The lowest share difficulty worth handing out on `network` (see the module docs).
pub fn min_difficulty_for(network: Network) -> f64 {
    match network {
        Network::Bitcoin => MAINNET_MIN_DIFFICULTY,
        Network::Testnet | Network::Testnet4 => TESTNET_MIN_DIFFICULTY,
        Network::Signet => SIGNET_MIN_DIFFICULTY,
        // Regtest, and any network added later: the easiest difficulty there is.
        _ => REGTEST_DIFFICULTY,
    }
}

/// Retargeting policy.
#[derive(Debug, Clone, PartialEq)]
pub struct VardiffConfig {
    /// Desired time between shares.
    pub target_interval: Duration,
    /// Minimum time between two retargets.
    pub retarget_interval: Duration,
    /// Lowest difficulty handed out.
    pub min_difficulty: f64,
    /// Highest difficulty handed out.
    pub max_difficulty: f64,
    /// Weight of the newest interval in the moving average (0 < alpha <= 1).
    pub alpha: f64,
    /// Relative change below which the difficulty is left alone (e.g. 0.3 = ±30 %).
    pub tolerance: f64,
    /// Largest factor the difficulty may move by in one retarget.
    pub max_step: f64,
    /// Starting difficulty for a new connection.
    pub initial_difficulty: f64,
    /// The ceiling is never below this, whatever the network difficulty (regtest's
    /// [`REGTEST_SHARE_CEILING`]; 0 elsewhere: see the module docs).
    pub min_ceiling: f64,
    /// Most shares a second one connection may have accepted, blocks aside (see the module
    /// docs); at least four times `1 / target_interval`.
    pub max_share_rate: f64,
    /// Shares at the current difficulty after which a miner found at least twice too fast is
    /// retargeted at once (see the module docs); 0 turns that off.
    pub fast_retarget_shares: u32,
}

impl Default for VardiffConfig {
    fn default() -> Self {
        Self {
            target_interval: Duration::from_secs(10),
            retarget_interval: Duration::from_secs(30),
            min_difficulty: REGTEST_DIFFICULTY,
            max_difficulty: 1e15,
            alpha: 0.25,
            tolerance: 0.3,
            max_step: 4.0,
            initial_difficulty: 1.0 / 1024.0,
            min_ceiling: 0.0,
            max_share_rate: DEFAULT_MAX_SHARE_RATE,
            fast_retarget_shares: DEFAULT_FAST_RETARGET_SHARES,
        }
    }
}

impl VardiffConfig {
    /// Checks the policy: every number finite and in its range (see each field), so that
    /// nothing is clamped silently later.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let positive = |d: f64| d.is_finite() && d > 0.0;
        require(
            !self.target_interval.is_zero(),
            "vardiff.target_interval",
            "must be more than 0",
        )?;
        require(
            !self.retarget_interval.is_zero(),
            "vardiff.retarget_interval",
            "must be more than 0",
        )?;
        require(
            positive(self.min_difficulty),
            "vardiff.min_difficulty",
            "must be a finite number above 0",
        )?;
        if !(positive(self.max_difficulty) && self.max_difficulty >= self.min_difficulty) {
            return Err(InvalidConfig::new(
                "vardiff.max_difficulty",
                format!(
                    "must be finite and at least min_difficulty ({})",
                    self.min_difficulty
                ),
            ));
        }
        if !(positive(self.initial_difficulty)
            && (self.min_difficulty..=self.max_difficulty).contains(&self.initial_difficulty))
        {
            return Err(InvalidConfig::new(
                "vardiff.initial_difficulty",
                format!(
                    "{} is not from {} to {}",
                    self.initial_difficulty, self.min_difficulty, self.max_difficulty
                ),
            ));
        }
        require(
            self.alpha > 0.0 && self.alpha <= 1.0,
            "vardiff.alpha",
            "must be above 0 and at most 1",
        )?;
        require(
            self.tolerance.is_finite() && self.tolerance >= 0.0,
            "vardiff.tolerance",
            "must be a finite number, at least 0",
        )?;
        require(
            self.max_step.is_finite() && self.max_step > 1.0,
            "vardiff.max_step",
            "must be a finite number above 1",
        )?;
        require(
            self.min_ceiling.is_finite() && self.min_ceiling >= 0.0,
            "vardiff.min_ceiling",
            "must be a finite number, at least 0",
        )?;
        let floor = min_share_rate(self.target_interval);
        if !(self.max_share_rate.is_finite() && self.max_share_rate >= floor) {
            return Err(InvalidConfig::new(
                "vardiff.max_share_rate",
                format!(
                    "{} is not a finite number of at least {floor}, four times the rate \
                     target_interval aims at",
                    self.max_share_rate
                ),
            ));
        }
        Ok(())
    }

    /// The defaults with the floor of `network` ([`min_difficulty_for`]), starting there
    /// when the default start is below it.
    pub fn for_network(network: Network) -> Self {
        let defaults = Self::default();
        let floor = min_difficulty_for(network);
        Self {
            min_difficulty: floor,
            initial_difficulty: defaults.initial_difficulty.max(floor),
            min_ceiling: if network == Network::Regtest {
                REGTEST_SHARE_CEILING
            } else {
                0.0
            },
            ..defaults
        }
    }
}

/// One connection's vardiff state.
#[derive(Debug, Clone)]
pub struct Vardiff {
    config: VardiffConfig,
    /// The network difficulty of the current job, when known: nothing above it is handed out.
    ceiling: f64,
    difficulty: f64,
    /// Smoothed seconds between shares at the current difficulty.
    average: Option<f64>,
    last_share: Option<Instant>,
    last_retarget: Instant,
    /// Shares the rate limit still admits, as of `tokens_at`.
    tokens: f64,
    tokens_at: Instant,
    /// Shares found at the current difficulty since it was set (at `changed_at`).
    fast_shares: u32,
    changed_at: Instant,
}

impl Vardiff {
    /// State for a connection that starts at `now`.
    pub fn new(config: VardiffConfig, now: Instant) -> Self {
        let difficulty = clamp(config.initial_difficulty, &config, f64::INFINITY);
        Self {
            config,
            ceiling: f64::INFINITY,
            difficulty,
            average: None,
            last_share: None,
            last_retarget: now,
            tokens: 0.0,
            tokens_at: now,
            fast_shares: 0,
            changed_at: now,
        }
        .with_full_bucket()
    }

    fn with_full_bucket(mut self) -> Self {
        self.tokens = self.burst();
        self
    }

    /// The share rate limit: [`VardiffConfig::max_share_rate`] (at least four times the rate
    /// vardiff aims at: [`VardiffConfig::validate`]).
    pub fn share_rate_limit(&self) -> f64 {
        self.config.max_share_rate
    }

    fn burst(&self) -> f64 {
        (self.share_rate_limit() * SHARE_BURST_SECONDS).max(1.0)
    }

    /// Whether a share (not a block: blocks are always taken) arriving at `now` is within the
    /// connection's rate limit; takes it from the bucket when it is.
    pub fn admit(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.tokens_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.share_rate_limit()).min(self.burst());
        self.tokens_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The policy.
    pub fn config(&self) -> &VardiffConfig {
        &self.config
    }

    /// The difficulty in effect.
    pub fn difficulty(&self) -> f64 {
        self.difficulty
    }

    /// The smoothed share interval, once there is one.
    pub fn average_interval(&self) -> Option<Duration> {
        self.average.map(Duration::from_secs_f64)
    }

    /// Sets the difficulty directly (e.g. `mining.suggest_difficulty`), within the bounds;
    /// returns what was set.
    pub fn set_difficulty(&mut self, difficulty: f64, now: Instant) -> f64 {
        if difficulty.is_finite() && difficulty > 0.0 {
            self.change_to(clamp(difficulty, &self.config, self.ceiling), now);
        }
        self.difficulty
    }

    /// Caps every difficulty handed out at `network_difficulty` (the current job's; call it
    /// with every job). Returns the lowered difficulty when the one in effect was above it.
    pub fn set_ceiling(&mut self, network_difficulty: f64, now: Instant) -> Option<f64> {
        if !(network_difficulty.is_finite() && network_difficulty > 0.0) {
            return None;
        }
        self.ceiling = network_difficulty.max(self.config.min_ceiling);
        let capped = clamp(self.difficulty, &self.config, self.ceiling);
        if capped < self.difficulty {
            self.change_to(capped, now);
            Some(capped)
        } else {
            None
        }
    }

    /// Records a valid share at `now`, judged at `difficulty` (its job's: an older job's
    /// share may have another than the one in effect); returns a new difficulty when it is
    /// time to retarget and the change is worth making.
    pub fn on_share(&mut self, now: Instant, difficulty: f64) -> Option<f64> {
        let since = self.last_share.unwrap_or(self.last_retarget);
        let interval = now.saturating_duration_since(since).as_secs_f64();
        self.average = Some(match self.average {
            None => interval,
            Some(avg) => self.config.alpha * interval + (1.0 - self.config.alpha) * avg,
        });
        self.last_share = Some(now);
        if (difficulty / self.difficulty - 1.0).abs() < 1e-9 {
            self.fast_shares += 1;
        }
        self.fast_retarget(now).or_else(|| self.retarget(now))
    }

    /// The jump for a miner found far too fast (see the module docs).
    fn fast_retarget(&mut self, now: Instant) -> Option<f64> {
        let wanted = self.config.fast_retarget_shares;
        if wanted == 0 || self.fast_shares < wanted {
            return None;
        }
        let elapsed = now
            .saturating_duration_since(self.changed_at)
            .as_secs_f64()
            .max(1e-3);
        let aimed = self.config.target_interval.as_secs_f64();
        // Difficulty-1 shares a second times the seconds aimed at between shares.
        let proposed = f64::from(self.fast_shares) * self.difficulty / elapsed * aimed;
        if proposed < 2.0 * self.difficulty {
            // Not far off: start a new window so the estimate stays recent.
            self.fast_shares = 0;
            self.changed_at = now;
            return None;
        }
        let proposed = clamp(
            proposed.min(self.difficulty * MAX_FAST_STEP),
            &self.config,
            self.ceiling,
        );
        if proposed <= self.difficulty {
            return None;
        }
        tracing::debug!(
            from = self.difficulty,
            to = proposed,
            shares = self.fast_shares,
            elapsed,
            "vardiff fast retarget"
        );
        self.change_to(proposed, now);
        Some(proposed)
    }

    /// Checks whether a retarget is due without a share (call it on a timer, e.g. with each
    /// new job); lowers the difficulty of a miner that has gone quiet.
    pub fn retarget(&mut self, now: Instant) -> Option<f64> {
        if now.saturating_duration_since(self.last_retarget) < self.config.retarget_interval {
            return None;
        }
        let quiet = now
            .saturating_duration_since(self.last_share.unwrap_or(self.last_retarget))
            .as_secs_f64();
        // Silence is at least as long as the interval being waited for.
        let estimate = match self.average {
            Some(avg) => avg.max(quiet),
            None => quiet,
        };
        self.last_retarget = now;
        if estimate <= 0.0 {
            return None;
        }
        let target = self.config.target_interval.as_secs_f64();
        let ratio = (target / estimate).clamp(1.0 / self.config.max_step, self.config.max_step);
        let proposed = clamp(self.difficulty * ratio, &self.config, self.ceiling);
        if (proposed / self.difficulty - 1.0).abs() <= self.config.tolerance {
            return None;
        }
        tracing::debug!(
            from = self.difficulty,
            to = proposed,
            interval = estimate,
            "vardiff retarget"
        );
        self.change_to(proposed, now);
        Some(proposed)
    }

    fn change_to(&mut self, difficulty: f64, now: Instant) {
        // Shares at the new difficulty come `new / old` times less often.
        if let Some(avg) = self.average.as_mut() {
            *avg *= difficulty / self.difficulty;
        }
        self.difficulty = difficulty;
        self.last_retarget = now;
        self.fast_shares = 0;
        self.changed_at = now;
    }
}

/// `d` within the configured bounds, both capped at `ceiling` (the network difficulty).
fn clamp(d: f64, config: &VardiffConfig, ceiling: f64) -> f64 {
    let max = config.max_difficulty.min(ceiling);
    d.clamp(config.min_difficulty.min(max), max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratum::ShareTarget;

    /// Simulates a miner whose share rate is `hashrate_factor / difficulty` shares per second
    /// (deterministic, evenly spaced), for `secs` seconds; returns the final difficulty.
    fn simulate(v: &mut Vardiff, start: Instant, shares_per_sec_at_diff1: f64, secs: u64) -> f64 {
        let mut t = 0.0f64;
        while t < secs as f64 {
            t += v.difficulty() / shares_per_sec_at_diff1;
            let d = v.difficulty();
            v.on_share(start + Duration::from_secs_f64(t), d);
        }
        v.difficulty()
    }

    #[test]
    fn converges_up_for_a_fast_miner() {
        let start = Instant::now();
        let mut v = Vardiff::new(VardiffConfig::default(), start);
        // 2 shares/s at difficulty 1 -> equilibrium difficulty 20 for one share per 10 s.
        let d = simulate(&mut v, start, 2.0, 3600);
        assert!((d / 20.0 - 1.0).abs() < 0.35, "difficulty {d}");
        let avg = v.average_interval().unwrap().as_secs_f64();
        assert!((avg - 10.0).abs() < 4.0, "interval {avg}");
    }

    #[test]
    fn converges_below_one_for_a_cpu_miner() {
        let start = Instant::now();
        let config = VardiffConfig {
            initial_difficulty: 1.0,
            ..VardiffConfig::default()
        };
        let mut v = Vardiff::new(config, start);
        // A 4 MH/s CPU: 4e6 / 2^32 shares per second at difficulty 1.
        let rate = 4e6 / 4_294_967_296.0;
        let d = simulate(&mut v, start, rate, 24 * 3600);
        let equilibrium = rate * 10.0;
        assert!(d < 1.0);
        assert!((d / equilibrium - 1.0).abs() < 0.35, "{d} vs {equilibrium}");
        // And it is a valid share target.
        assert!(ShareTarget::from_difficulty(d).is_ok());
    }

    #[test]
    fn retargets_are_rate_limited_bounded_and_stepped() {
        let start = Instant::now();
        let config = VardiffConfig {
            initial_difficulty: 1.0,
            max_difficulty: 8.0,
            // The timed path alone (the fast one is tested below).
            fast_retarget_shares: 0,
            ..VardiffConfig::default()
        };
        let mut v = Vardiff::new(config.clone(), start);
        // Shares every 0.1 s: no change before the retarget interval.
        for i in 1..290 {
            assert_eq!(
                v.on_share(start + Duration::from_millis(100 * i), 1.0),
                None
            );
        }
        // At 30 s: one step of at most 4x.
        let d = v.on_share(start + Duration::from_secs(30), 1.0).unwrap();
        assert_eq!(d, 4.0);
        // The next step is capped by max_difficulty.
        let mut now = start + Duration::from_secs(30);
        let mut changed = None;
        while changed.is_none() {
            now += Duration::from_millis(100);
            changed = v.on_share(now, 4.0);
        }
        assert_eq!(changed, Some(8.0));
        assert!(now - start >= Duration::from_secs(60));
    }

    #[test]
    fn a_miner_far_too_fast_is_retargeted_at_once_without_overshoot() {
        let start = Instant::now();
        let config = VardiffConfig {
            initial_difficulty: 1.0 / 65_536.0,
            target_interval: Duration::from_secs(5),
            ..VardiffConfig::for_network(Network::Signet)
        };
        let mut v = Vardiff::new(config, start);
        let d0 = v.difficulty();
        // 40 difficulty-1 shares a second (~170 GH/s): 2.6 million a second at d0, and the
        // equilibrium is 200. Each jump waits for 16 shares at the new difficulty.
        let rate = 40.0;
        let (mut t, mut jumps) = (0.0f64, Vec::new());
        while v.difficulty() < 100.0 {
            t += v.difficulty() / rate;
            let d = v.difficulty();
            if let Some(new) = v.on_share(start + Duration::from_secs_f64(t), d) {
                jumps.push((t, new));
                // Shares found before the change still arrive at the old difficulty: they
                // are valid, but do not count towards the next estimate.
                for i in 1..=50 {
                    let late = start + Duration::from_secs_f64(t + 1e-6 * f64::from(i));
                    assert_eq!(v.on_share(late, d), None, "in flight after {jumps:?}");
                }
            }
            assert!(
                t < 30.0,
                "still at {} after {t} s: {jumps:?}",
                v.difficulty()
            );
        }
        // Two jumps of at most MAX_FAST_STEP, well within the first timed retarget (30 s),
        // landing near the equilibrium.
        assert!(jumps.len() <= 3, "{jumps:?}");
        assert!(jumps[0].1 <= d0 * MAX_FAST_STEP, "{jumps:?}");
        let d = v.difficulty();
        assert!((100.0..=400.0).contains(&d), "{d} after {jumps:?}");
        // Then steady: shares at the aim move nothing.
        let mut now = start + Duration::from_secs_f64(t);
        for _ in 0..20 {
            now += Duration::from_secs(5);
            assert!(v.on_share(now, d).is_none_or(|n| (n / d - 1.0).abs() < 1.0));
        }
        // The fast path only raises: a miner slower than aimed is left to the timed path.
        let mut slow = Vardiff::new(VardiffConfig::default(), start);
        let d1 = slow.difficulty();
        for i in 1..=40 {
            let d = slow.difficulty();
            if let Some(n) = slow.on_share(start + Duration::from_secs(20 * i), d) {
                assert!(n < d, "{n} after {d}");
            }
        }
        assert!(slow.difficulty() < d1);
    }

    #[test]
    fn steady_miner_is_left_alone_and_silent_miner_is_lowered() {
        let start = Instant::now();
        let mut v = Vardiff::new(VardiffConfig::default(), start);
        let d0 = v.difficulty();
        for i in 1..=30 {
            // 9..11 s jitter around the target.
            let t = 10 * i + if i % 2 == 0 { 1 } else { 0 };
            assert_eq!(
                v.on_share(start + Duration::from_secs(t), d0),
                None,
                "share {i}"
            );
        }
        assert_eq!(v.difficulty(), d0);
        // Then silence: after 5 minutes with no share the difficulty drops.
        let later = start + Duration::from_secs(300 + 300);
        let lowered = v.retarget(later).unwrap();
        assert!(lowered < d0);
        // Never below the minimum.
        let mut now = later;
        for _ in 0..200 {
            now += Duration::from_secs(600);
            v.retarget(now);
        }
        assert_eq!(v.difficulty(), REGTEST_DIFFICULTY);
    }

    #[test]
    fn suggested_difficulty_is_clamped() {
        let start = Instant::now();
        let mut v = Vardiff::new(VardiffConfig::default(), start);
        assert_eq!(v.set_difficulty(1e-20, start), REGTEST_DIFFICULTY);
        assert_eq!(v.set_difficulty(1e30, start), 1e15);
        assert_eq!(v.set_difficulty(f64::NAN, start), 1e15);
        assert_eq!(v.set_difficulty(0.5, start), 0.5);
    }

    #[test]
    fn regtest_is_capped_above_its_block_difficulty() {
        let start = Instant::now();
        let config = VardiffConfig {
            initial_difficulty: 1e6,
            ..VardiffConfig::for_network(Network::Regtest)
        };
        let mut v = Vardiff::new(config, start);
        assert_eq!(
            v.set_ceiling(REGTEST_DIFFICULTY, start),
            Some(REGTEST_SHARE_CEILING)
        );
        assert_eq!(v.set_difficulty(1e-4, start), 1e-4);
        let mut signet = Vardiff::new(
            VardiffConfig {
                initial_difficulty: 0.01,
                ..VardiffConfig::for_network(Network::Signet)
            },
            start,
        );
        assert_eq!(signet.set_ceiling(0.001, start), Some(0.001));
    }

    #[test]
    fn never_above_the_network_difficulty() {
        let start = Instant::now();
        let config = VardiffConfig {
            initial_difficulty: 100.0,
            ..VardiffConfig::for_network(Network::Bitcoin)
        };
        let mut v = Vardiff::new(config, start);
        assert_eq!(v.difficulty(), 100.0);
        // A job at network difficulty 10 lowers the difficulty in effect...
        assert_eq!(v.set_ceiling(10.0, start), Some(10.0));
        assert_eq!(v.set_ceiling(10.0, start), None);
        // ... a suggestion above it is capped ...
        assert_eq!(v.set_difficulty(1e6, start), 10.0);
        // ... and so is vardiff for a very fast miner.
        let d = simulate(&mut v, start, 1e6, 600);
        assert_eq!(d, 10.0);
        // The floor (1 on mainnet) yields to a network difficulty below it.
        assert_eq!(v.set_ceiling(0.5, start), Some(0.5));
        assert_eq!(v.set_difficulty(1e-9, start), 0.5);
    }

    #[test]
    fn floors_per_network() {
        assert_eq!(min_difficulty_for(Network::Regtest), REGTEST_DIFFICULTY);
        assert_eq!(min_difficulty_for(Network::Signet), SIGNET_MIN_DIFFICULTY);
        assert_eq!(min_difficulty_for(Network::Testnet), TESTNET_MIN_DIFFICULTY);
        assert_eq!(
            min_difficulty_for(Network::Testnet4),
            TESTNET_MIN_DIFFICULTY
        );
        assert_eq!(min_difficulty_for(Network::Bitcoin), MAINNET_MIN_DIFFICULTY);
        assert_eq!(VardiffConfig::default().min_difficulty, REGTEST_DIFFICULTY);
        let start = Instant::now();
        let mut v = Vardiff::new(VardiffConfig::for_network(Network::Testnet4), start);
        assert_eq!(v.set_difficulty(1e-9, start), TESTNET_MIN_DIFFICULTY);
        // Each floor is a valid share target.
        for n in [
            Network::Regtest,
            Network::Signet,
            Network::Testnet,
            Network::Bitcoin,
        ] {
            assert!(ShareTarget::from_difficulty(min_difficulty_for(n)).is_ok());
        }
    }

    #[test]
    fn suggestions_are_bounded_by_the_network_floor_and_the_ceiling() {
        let start = Instant::now();
        let mut v = Vardiff::new(VardiffConfig::for_network(Network::Signet), start);
        // No suggestion takes a signet connection below its floor (it used to reach the
        // regtest difficulty on every network) ...
        assert_eq!(
            v.set_difficulty(REGTEST_DIFFICULTY, start),
            SIGNET_MIN_DIFFICULTY
        );
        assert_eq!(v.set_difficulty(1e-300, start), SIGNET_MIN_DIFFICULTY);
        // ... nor above the network difficulty of the job.
        v.set_ceiling(0.001, start);
        assert_eq!(v.set_difficulty(1.0, start), 0.001);
        assert_eq!(v.set_difficulty(0.0005, start), 0.0005);
    }

    #[test]
    fn the_share_rate_is_limited_per_connection() {
        let start = Instant::now();
        let config = VardiffConfig {
            max_share_rate: 10.0,
            target_interval: Duration::from_secs(10),
            ..VardiffConfig::for_network(Network::Signet)
        };
        let mut v = Vardiff::new(config.clone(), start);
        assert_eq!(v.share_rate_limit(), 10.0);
        // A burst of five seconds' worth, then one more share every 0.1 s.
        let burst = (0..1000).take_while(|_| v.admit(start)).count();
        assert_eq!(burst, 50);
        assert!(!v.admit(start + Duration::from_millis(50)));
        assert!(v.admit(start + Duration::from_millis(100)));
        // A flood of 1000 shares a second for a minute: 10 a second get through.
        let mut admitted = 0;
        for i in 1..=60_000u64 {
            if v.admit(start + Duration::from_millis(100 + i)) {
                admitted += 1;
            }
        }
        assert!((599..=601).contains(&admitted), "{admitted}");
        // A quiet connection fills its bucket again, up to the burst.
        let later = start + Duration::from_secs(3600);
        assert_eq!((0..1000).take_while(|_| v.admit(later)).count(), 50);
        // The limit may not fight vardiff's own aim (here 20 shares a second): below four
        // times it, the policy is refused rather than quietly raised.
        let fast = VardiffConfig {
            target_interval: Duration::from_millis(50),
            ..config
        };
        assert_eq!(min_share_rate(fast.target_interval), 80.0);
        let e = fast.validate().unwrap_err();
        assert_eq!(e.field, "vardiff.max_share_rate", "{e}");
        VardiffConfig {
            max_share_rate: 80.0,
            ..fast
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn regtest_difficulty_constant_matches_the_target() {
        let regtest =
            ShareTarget::from_compact(bitcoin::CompactTarget::from_consensus(0x207f_ffff));
        assert!((regtest.difficulty() / REGTEST_DIFFICULTY - 1.0).abs() < 1e-12);
    }
}
