//! How far `miner run` goes along with what a pool asks, as plain decisions
//! without I/O: the difficulty it suggests (`mining.suggest_difficulty`, from
//! its measured hash rate), and where and when it reconnects on
//! `client.reconnect` (never with our credentials to another host unless the
//! user allowed it; never after a wait longer than [`MAX_RECONNECT_WAIT`]).

use super::session::Endpoint;
use super::work::MIN_SHARE_DIFFICULTY;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Hashes per share at difficulty 1.
const HASHES_PER_DIFFICULTY: f64 = 4_294_967_296.0;
/// The longest `client.reconnect` wait obeyed.
pub const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(120);

/// `--suggest-difficulty`: what to send as `mining.suggest_difficulty` after
/// subscribing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Suggest {
    /// From the measured hash rate, aimed at one share per share interval.
    #[default]
    Auto,
    /// This difficulty.
    Fixed(f64),
    /// Nothing: mine at whatever the pool sets.
    Off,
}

impl FromStr for Suggest {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            _ => match s.parse::<f64>() {
                Ok(d) if d.is_finite() && d >= MIN_SHARE_DIFFICULTY => Ok(Self::Fixed(d)),
                Ok(d) if d.is_finite() && d > 0.0 => Err(format!(
                    "{d} is below the easiest share target the miner takes \
                     ({MIN_SHARE_DIFFICULTY})"
                )),
                _ => Err(format!(
                    "expected auto, off or a positive difficulty, got {s:?}"
                )),
            },
        }
    }
}

impl fmt::Display for Suggest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(d) => write!(f, "{d}"),
            Self::Off => f.write_str("off"),
        }
    }
}

/// The trust `miner run` puts in its pools.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolPolicy {
    /// What to send as `mining.suggest_difficulty`.
    pub suggest: Suggest,
    /// The time between shares [`Suggest::Auto`] aims at.
    pub share_interval: Duration,
    /// Follow `client.reconnect` to another host (taking our worker name and
    /// password there).
    pub allow_reconnect_elsewhere: bool,
}

impl Default for PoolPolicy {
    fn default() -> Self {
        Self {
            suggest: Suggest::Auto,
            share_interval: Duration::from_secs(5),
            allow_reconnect_elsewhere: false,
        }
    }
}

impl PoolPolicy {
    /// The difficulty to suggest at `hash_rate` (hashes a second; `None`
    /// while unknown), if any: `hash_rate × share_interval / 2^32` for
    /// [`Suggest::Auto`], never below [`MIN_SHARE_DIFFICULTY`].
    pub fn suggestion(&self, hash_rate: Option<f64>) -> Option<f64> {
        match self.suggest {
            Suggest::Off => None,
            // The flag's parser refuses less than the floor; a library caller is floored.
            Suggest::Fixed(d) => Some(d.max(MIN_SHARE_DIFFICULTY)),
            Suggest::Auto => {
                let rate = hash_rate.filter(|r| r.is_finite() && *r > 0.0)?;
                let d = rate * self.share_interval.as_secs_f64() / HASHES_PER_DIFFICULTY;
                Some(round_difficulty(d).max(MIN_SHARE_DIFFICULTY))
            }
        }
    }

    /// Where to go on `client.reconnect` from `current` to `to` (host and
    /// port, 0 for the same port; `None`: the same place), and how long to
    /// wait first (the pool's wait, at most [`MAX_RECONNECT_WAIT`]). Another
    /// host is refused unless allowed: the miner reconnects to `current`.
    pub fn reconnect(
        &self,
        current: &Endpoint,
        to: Option<(String, u16)>,
        wait: Duration,
    ) -> Reconnect {
        let wait = wait.min(MAX_RECONNECT_WAIT);
        let Some((host, port)) = to else {
            return Reconnect::Follow(current.clone(), wait);
        };
        let port = if port == 0 { current.port } else { port };
        let same_host = host.eq_ignore_ascii_case(&current.host);
        if !same_host && !self.allow_reconnect_elsewhere {
            return Reconnect::Refused {
                host,
                port,
                stay: current.clone(),
                wait,
            };
        }
        Reconnect::Follow(
            Endpoint {
                host,
                port,
                ..current.clone()
            },
            wait,
        )
    }
}

/// What to do on `client.reconnect`.
#[derive(Clone, Debug, PartialEq)]
pub enum Reconnect {
    /// Connect to this endpoint after the wait.
    Follow(Endpoint, Duration),
    /// The pool named another host (`host:port`), which was not allowed:
    /// reconnect to `stay` after the wait instead.
    Refused {
        /// The host the pool named.
        host: String,
        /// The port the pool named (the current one if it sent 0).
        port: u16,
        /// The current endpoint, reconnected to instead.
        stay: Endpoint,
        /// The wait before reconnecting, at most [`MAX_RECONNECT_WAIT`].
        wait: Duration,
    },
}

/// `d` to three significant digits (a readable suggestion; the pool rounds anyway).
fn round_difficulty(d: f64) -> f64 {
    let scale = 10f64.powi(2 - d.log10().floor() as i32);
    let rounded = (d * scale).round() / scale;
    if rounded.is_finite() && rounded > 0.0 {
        rounded
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            host: "pool.example".into(),
            port: 3333,
            user: "bc1qsecret.rig".into(),
            password: "hunter2".into(),
        }
    }

    #[test]
    fn suggest_flag_values() {
        assert_eq!("auto".parse(), Ok(Suggest::Auto));
        assert_eq!("off".parse(), Ok(Suggest::Off));
        assert_eq!("0.1".parse(), Ok(Suggest::Fixed(0.1)));
        assert_eq!("16384".parse(), Ok(Suggest::Fixed(16384.0)));
        for bad in ["0", "-1", "nan", "inf", "", "fast"] {
            assert!(bad.parse::<Suggest>().is_err(), "{bad:?}");
        }
        // Below the miner's own floor: an error, not a quiet raise.
        let e = "1e-6".parse::<Suggest>().unwrap_err();
        assert!(
            e.contains("below") && e.contains("0.0000152587890625"),
            "{e}"
        );
        assert_eq!(
            MIN_SHARE_DIFFICULTY.to_string().parse(),
            Ok(Suggest::Fixed(MIN_SHARE_DIFFICULTY))
        );
        assert_eq!(Suggest::Fixed(0.5).to_string(), "0.5");
    }

    #[test]
    fn auto_aims_at_one_share_per_interval() {
        let policy = PoolPolicy::default();
        // 20 MH/s, 5 s a share: 1e8 hashes, difficulty 1e8 / 2^32 = 0.0233.
        let d = policy.suggestion(Some(20e6)).unwrap();
        assert_eq!(d, 0.0233);
        let expected = 20e6 * 5.0 / HASHES_PER_DIFFICULTY;
        assert!((d - expected).abs() / expected < 0.005, "{d} vs {expected}");
        // Ten times the rate, ten times the difficulty.
        let d10 = policy.suggestion(Some(200e6)).unwrap();
        assert!((d10 / d - 10.0).abs() < 0.05, "{d10}");
        // A longer interval, a higher difficulty.
        let slow = PoolPolicy {
            share_interval: Duration::from_secs(50),
            ..PoolPolicy::default()
        };
        assert!((slow.suggestion(Some(20e6)).unwrap() / d - 10.0).abs() < 0.05);
        // A slow CPU is floored; an unknown rate suggests nothing.
        assert_eq!(policy.suggestion(Some(1.0)), Some(MIN_SHARE_DIFFICULTY));
        assert_eq!(policy.suggestion(None), None);
        assert_eq!(policy.suggestion(Some(f64::NAN)), None);
        assert_eq!(policy.suggestion(Some(0.0)), None);
    }

    #[test]
    fn fixed_and_off_suggestions() {
        let fixed = PoolPolicy {
            suggest: Suggest::Fixed(0.1),
            ..PoolPolicy::default()
        };
        assert_eq!(fixed.suggestion(None), Some(0.1));
        assert_eq!(fixed.suggestion(Some(1e12)), Some(0.1));
        let tiny = PoolPolicy {
            suggest: Suggest::Fixed(1e-12),
            ..PoolPolicy::default()
        };
        assert_eq!(tiny.suggestion(None), Some(MIN_SHARE_DIFFICULTY));
        let off = PoolPolicy {
            suggest: Suggest::Off,
            ..PoolPolicy::default()
        };
        assert_eq!(off.suggestion(Some(20e6)), None);
    }

    #[test]
    fn reconnect_elsewhere_is_refused_unless_allowed() {
        let here = endpoint();
        let policy = PoolPolicy::default();
        let second = Duration::from_secs(1);
        // The same place, or the same host on another port: followed.
        assert_eq!(
            policy.reconnect(&here, None, second),
            Reconnect::Follow(here.clone(), second)
        );
        let Reconnect::Follow(to, _) =
            policy.reconnect(&here, Some(("POOL.example".into(), 4444)), second)
        else {
            panic!("same host refused")
        };
        assert_eq!((to.port, to.user.as_str()), (4444, "bc1qsecret.rig"));
        // Another host: our credentials stay here.
        assert_eq!(
            policy.reconnect(&here, Some(("evil.example".into(), 0)), second),
            Reconnect::Refused {
                host: "evil.example".into(),
                port: 3333,
                stay: here.clone(),
                wait: second
            }
        );
        let trusting = PoolPolicy {
            allow_reconnect_elsewhere: true,
            ..PoolPolicy::default()
        };
        let Reconnect::Follow(to, _) =
            trusting.reconnect(&here, Some(("other.example".into(), 0)), second)
        else {
            panic!("allowed reconnect refused")
        };
        assert_eq!((to.host.as_str(), to.port), ("other.example", 3333));
        assert_eq!(to.password, "hunter2");
    }

    #[test]
    fn reconnect_waits_are_bounded() {
        let here = endpoint();
        let policy = PoolPolicy::default();
        let forever = Duration::from_secs(u64::MAX);
        assert_eq!(
            policy.reconnect(&here, None, forever),
            Reconnect::Follow(here.clone(), MAX_RECONNECT_WAIT)
        );
        let Reconnect::Refused { wait, .. } =
            policy.reconnect(&here, Some(("elsewhere".into(), 1)), forever)
        else {
            panic!("followed")
        };
        assert_eq!(wait, MAX_RECONNECT_WAIT);
    }

    #[test]
    fn difficulties_round_to_three_digits() {
        assert_eq!(round_difficulty(0.023_283_064), 0.0233);
        assert_eq!(round_difficulty(16_384.0), 16_400.0);
        assert_eq!(round_difficulty(1.0), 1.0);
        assert_eq!(round_difficulty(MIN_SHARE_DIFFICULTY), 0.0000153);
    }
}
