//! Who may connect, per source: how many connections each source holds, its ban score and
//! whether it is banned. A source is an IPv4 address, or an IPv6 address cut to a prefix
//! (`/64` by default: one subscriber's allocation, so a host cannot dodge a ban or the
//! per-source cap by hopping addresses inside its own network). IPv4-mapped IPv6 addresses
//! count as their IPv4 address.
//!
//! The table holds only sources that are connected, banned or still have a score; idle
//! entries go when their last connection closes, and a sweep (at most once per decay step)
//! drops those whose score drained or ban ran out.

use super::ban::{BanPolicy, BanScore};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The source an address counts as: itself for IPv4, its first `v6_prefix` bits for IPv6.
pub fn source_of(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The source is banned.
    Banned,
    /// The source already holds its share of the connections.
    SourceFull,
}

#[derive(Debug, Default)]
struct SourceState {
    connections: usize,
    score: BanScore,
    banned_until: Option<Instant>,
}

impl SourceState {
    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|until| until > now)
    }

    fn removable(&self, decay: Duration, now: Instant) -> bool {
        self.connections == 0 && !self.banned(now) && self.score.points(decay, now) == 0
    }
}

#[derive(Debug)]
struct Table {
    sources: HashMap<IpAddr, SourceState>,
    swept_at: Instant,
}

/// The per-source table the accept loop and the sessions share.
#[derive(Debug)]
pub struct Limits {
    max_per_source: usize,
    v6_prefix: u8,
    policy: BanPolicy,
    table: Mutex<Table>,
}

/// A connection that was let in; gives its slot back when dropped.
#[derive(Debug)]
pub struct Admission {
    limits: Arc<Limits>,
    source: IpAddr,
}

impl Limits {
    /// A table allowing `max_per_source` connections per source.
    pub fn new(max_per_source: usize, v6_prefix: u8, policy: BanPolicy) -> Self {
        Self {
            max_per_source,
            v6_prefix,
            policy,
            table: Mutex::new(Table {
                sources: HashMap::new(),
                swept_at: Instant::now(),
            }),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a connection from `ip` in, unless its source is banned or full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<Admission, Refused> {
        let source = source_of(ip, self.v6_prefix);
        let mut table = self.table();
        let decay = self.policy.decay;
        if now.saturating_duration_since(table.swept_at) >= decay.max(Duration::from_secs(1)) {
            table.sources.retain(|_, s| !s.removable(decay, now));
            table.swept_at = now;
        }
        let state = table.sources.entry(source).or_default();
        if state.banned(now) {
            return Err(Refused::Banned);
        }
        state.banned_until = None;
        if state.connections >= self.max_per_source {
            return Err(Refused::SourceFull);
        }
        state.connections += 1;
        Ok(Admission {
            limits: Arc::clone(self),
            source,
        })
    }

    /// Charges `points` offences to `source`; true when the source is (now) banned.
    pub fn offend(&self, source: IpAddr, points: u32, now: Instant) -> bool {
        let mut table = self.table();
        let state = table.sources.entry(source).or_default();
        if state.banned(now) {
            return true;
        }
        if state.score.add(points, self.policy.decay, now) >= self.policy.threshold {
            state.score.clear();
            state.banned_until = Some(now + self.policy.ban_for);
            return true;
        }
        false
    }

    /// Whether `ip`'s source is banned at `now`.
    #[cfg(test)]
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        let source = source_of(ip, self.v6_prefix);
        self.table()
            .sources
            .get(&source)
            .is_some_and(|s| s.banned(now))
    }

    /// How many sources the table tracks.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.table().sources.len()
    }
}

impl Admission {
    /// The source this connection counts against.
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// Charges `points` offences to this connection's source; true when it is banned.
    pub fn offend(&self, points: u32) -> bool {
        self.limits.offend(self.source, points, Instant::now())
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let now = Instant::now();
        let decay = self.limits.policy.decay;
        let mut table = self.limits.table();
        if let Some(state) = table.sources.get_mut(&self.source) {
            state.connections = state.connections.saturating_sub(1);
            if state.removable(decay, now) {
                table.sources.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limits(max_per_source: usize) -> Arc<Limits> {
        Arc::new(Limits::new(
            max_per_source,
            64,
            BanPolicy {
                threshold: 3,
                decay: Duration::from_secs(10),
                ban_for: Duration::from_secs(60),
            },
        ))
    }

    #[test]
    fn sources_are_v4_addresses_and_v6_prefixes() {
        assert_eq!(source_of(ip("192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(
            source_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 64),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            source_of(ip("2001:db8:1:2:aaaa::1"), 48),
            ip("2001:db8:1::")
        );
        assert_eq!(source_of(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(source_of(ip("2001:db8::1"), 0), ip("::"));
        assert_eq!(source_of(ip("2001:db8::1"), 200), ip("2001:db8::1"));
        assert_eq!(source_of(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
    }

    #[test]
    fn per_source_cap_covers_a_v6_prefix_and_frees_on_drop() {
        let l = limits(2);
        let now = Instant::now();
        let a = l.admit(ip("2001:db8::1"), now).unwrap();
        let _b = l.admit(ip("2001:db8::ffff:2"), now).unwrap();
        assert_eq!(
            l.admit(ip("2001:db8::3"), now).unwrap_err(),
            Refused::SourceFull
        );
        // Another /64 is another source.
        let _c = l.admit(ip("2001:db8:0:1::1"), now).unwrap();
        drop(a);
        l.admit(ip("2001:db8::3"), now).unwrap();
    }

    #[test]
    fn a_ban_covers_the_prefix_and_expires() {
        let l = limits(10);
        let now = Instant::now();
        let conn = l.admit(ip("2001:db8::1"), now).unwrap();
        assert!(!l.offend(conn.source(), 1, now));
        assert!(!l.offend(conn.source(), 1, now));
        assert!(l.offend(conn.source(), 1, now), "third offence bans");
        assert!(l.offend(conn.source(), 1, now), "still banned");
        for other in ["2001:db8::2", "2001:db8::1:2:3:4"] {
            assert_eq!(l.admit(ip(other), now).unwrap_err(), Refused::Banned);
        }
        assert!(l.admit(ip("2001:db8:0:1::1"), now).is_ok());
        assert!(l.admit(ip("192.0.2.1"), now).is_ok());
        let later = now + Duration::from_secs(61);
        assert!(!l.is_banned(ip("2001:db8::2"), later));
        // The ban cleared the score: it takes three offences again.
        let again = l.admit(ip("2001:db8::2"), later).unwrap();
        assert!(!l.offend(again.source(), 2, later));
        assert!(l.offend(again.source(), 1, later));
    }

    #[test]
    fn the_score_belongs_to_the_source_not_the_connection() {
        // Reconnecting does not wipe the score.
        let l = limits(10);
        let now = Instant::now();
        let first = l.admit(ip("192.0.2.9"), now).unwrap();
        assert!(!l.offend(first.source(), 2, now));
        drop(first);
        let second = l.admit(ip("192.0.2.9"), now).unwrap();
        assert!(l.offend(second.source(), 1, now));
    }

    #[test]
    fn idle_sources_leave_the_table() {
        let l = limits(10);
        let now = Instant::now();
        let clean = l.admit(ip("192.0.2.1"), now).unwrap();
        let scored = l.admit(ip("192.0.2.2"), now).unwrap();
        scored.offend(1);
        assert_eq!(l.tracked(), 2);
        drop(clean);
        drop(scored);
        // The clean source left at once; the scored one stays until its point drains.
        assert_eq!(l.tracked(), 1);
        let later = Instant::now() + Duration::from_secs(11);
        let _c = l.admit(ip("192.0.2.3"), later).unwrap();
        assert_eq!(l.tracked(), 1, "swept");
    }
}
