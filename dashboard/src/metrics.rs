//! The Prometheus text exposition (format 0.0.4) both servers' `/metrics` write: one
//! `# HELP` / `# TYPE` header per metric, then its samples.

use std::fmt::Write as _;

/// A `/metrics` document being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty document with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            out: String::with_capacity(capacity),
        }
    }

    /// One metric of `kind` (`counter`, `gauge`) with its samples, each `(labels, value)`
    /// where `labels` is empty or `{key="value",...}`.
    pub fn metric(&mut self, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(self.out, "{name}{labels} {value}");
        }
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// One sample without labels.
pub fn plain(value: String) -> Vec<(String, String)> {
    vec![(String::new(), value)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_then_samples() {
        let mut metrics = Exposition::default();
        metrics.metric("a_total", "counter", "As.", &plain("3".into()));
        metrics.metric(
            "b",
            "gauge",
            "Bs by kind.",
            &[("{kind=\"x\"}".into(), "1.5".into())],
        );
        assert_eq!(
            metrics.finish(),
            "# HELP a_total As.\n# TYPE a_total counter\na_total 3\n\
             # HELP b Bs by kind.\n# TYPE b gauge\nb{kind=\"x\"} 1.5\n"
        );
    }
}
