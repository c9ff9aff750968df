//! What the generator prints and measures itself by: nearest-rank quantiles of a sample
//! ([`quantile`], [`Latency`]) and its own CPU time ([`cpu_seconds`]). Every report is one
//! JSON line on stdout.

use serde_json::{json, Value};

/// The `q` quantile (0..=1) of an ascending sample, by nearest rank; NaN when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q.clamp(0.0, 1.0)).round() as usize;
    sorted[idx]
}

/// p50, p99 and max of a sample of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// The summary of `sample` (any order).
    pub fn of(sample: &[f64]) -> Self {
        let mut sorted = sample.to_vec();
        sorted.sort_by(f64::total_cmp);
        Self {
            count: sorted.len(),
            p50: quantile(&sorted, 0.5),
            p99: quantile(&sorted, 0.99),
            max: quantile(&sorted, 1.0),
        }
    }

    /// As JSON: `p50_ms`, `p99_ms`, `max_ms`, rounded to 0.1 ms (null when there is no sample).
    pub fn to_json(self) -> Value {
        let ms = |v: f64| {
            if v.is_finite() {
                json!((v * 10.0).round() / 10.0)
            } else {
                Value::Null
            }
        };
        json!({"p50_ms": ms(self.p50), "p99_ms": ms(self.p99), "max_ms": ms(self.max)})
    }
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let sample: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(quantile(&sample, 0.0), 1.0);
        assert_eq!(quantile(&sample, 1.0), 200.0);
        // (200 - 1) * 0.99 = 197.01 -> index 197, the 198th value.
        assert_eq!(quantile(&sample, 0.99), 198.0);
        assert!(quantile(&[], 0.5).is_nan());
        let l = Latency::of(&[5.0, 1.0, 3.0]);
        assert_eq!((l.count, l.p50, l.max), (3, 3.0, 5.0));
        assert_eq!(l.to_json()["p99_ms"], json!(5.0));
        assert_eq!(Latency::of(&[]).to_json()["p50_ms"], Value::Null);
        assert!(cpu_seconds() >= 0.0);
    }
}
