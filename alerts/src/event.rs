//! The alert event and its JSON body, the one format every webhook gets:
//!
//! ```json
//! {"kind":"block_found","time":"2026-12-02T06:01:02Z","time_unix":1796191262,
//!  "source":"proxy","summary":"block 812 found: accepted","details":{...}}
//! ```
//!
//! `kind` is one of [`Kind`]'s names; `details` is an object whose fields depend on the kind
//! (documented on each variant). `summary` is one human-readable line, for chat bridges.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The proxy found a block and the node answered `submitblock`: details `hash`,
    /// `height`, `outcome` (`accepted`, `duplicate`, `inconclusive` or `rejected`) and
    /// `reason` (the node's rejection reason, else null).
    BlockFound,
    /// A worker sent no accepted share for `offline_secs`: details `worker`,
    /// `last_share_secs_ago`, `offline_secs`.
    WorkerOffline,
    /// A worker reported offline sent a share again: details `worker`, `offline_for_secs`.
    WorkerBack,
    /// The pool's hash rate stayed below the threshold: details `hash_rate`, `threshold`,
    /// `below_for_secs`.
    HashRateLow,
    /// The hash rate is back at or above the threshold: details `hash_rate`, `threshold`.
    HashRateRecovered,
    /// The scheduler launched a new proxy task in place of an earlier one: details
    /// `task_id`, `previous_task_id`, `agent_id`.
    ProxyRelaunched,
}

impl Kind {
    /// The name in the JSON body.
    pub fn name(self) -> &'static str {
        match self {
            Kind::BlockFound => "block_found",
            Kind::WorkerOffline => "worker_offline",
            Kind::WorkerBack => "worker_back",
            Kind::HashRateLow => "hash_rate_low",
            Kind::HashRateRecovered => "hash_rate_recovered",
            Kind::ProxyRelaunched => "proxy_relaunched",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// What happened; its name is the JSON `kind`.
    pub kind: Kind,
    /// UTC, RFC 3339, seconds.
    pub time: String,
    /// Seconds since the Unix epoch.
    pub time_unix: u64,
    /// The program that sent it: `proxy` or `scheduler`.
    pub source: String,
    /// One line for people.
    pub summary: String,
    /// Kind-specific fields.
    pub details: serde_json::Value,
}

impl Event {
    /// An event that happened at `at`.
    pub fn at(
        at: SystemTime,
        kind: Kind,
        source: &str,
        summary: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        let time_unix = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self {
            kind,
            time: rfc3339(time_unix),
            time_unix,
            source: source.to_owned(),
            summary: summary.into(),
            details,
        }
    }

    /// An event that happens now.
    pub fn now(
        kind: Kind,
        source: &str,
        summary: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self::at(SystemTime::now(), kind, source, summary, details)
    }

    /// The POST body.
    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("an event serializes")
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (the proleptic Gregorian calendar, by
/// days since 1970-01-01 shifted to a March-based year).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
    }

    #[test]
    fn the_body_has_the_documented_fields() {
        let at = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let e = Event::at(
            at,
            Kind::BlockFound,
            "proxy",
            "block 5 found: accepted",
            serde_json::json!({"height": 5}),
        );
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["kind"], "block_found");
        assert_eq!(v["time"], "2001-09-09T01:46:40Z");
        assert_eq!(v["time_unix"], 1_000_000_000);
        assert_eq!(v["source"], "proxy");
        assert_eq!(v["summary"], "block 5 found: accepted");
        assert_eq!(v["details"]["height"], 5);
        for kind in [
            Kind::BlockFound,
            Kind::WorkerOffline,
            Kind::WorkerBack,
            Kind::HashRateLow,
            Kind::HashRateRecovered,
            Kind::ProxyRelaunched,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }
}
