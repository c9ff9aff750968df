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

/// A label value as the format wants it: backslash, double quote and newline escaped.
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One sample per `(label value, value)`, labelled `{label="..."}` (the value escaped).
pub fn labelled<K: AsRef<str>, V: ToString>(
    label: &str,
    samples: impl IntoIterator<Item = (K, V)>,
) -> Vec<(String, String)> {
    samples
        .into_iter()
        .map(|(key, value)| {
            (
                format!("{{{label}=\"{}\"}}", escape_label(key.as_ref())),
                value.to_string(),
            )
        })
        .collect()
}

/// One sample without labels.
pub fn plain(value: String) -> Vec<(String, String)> {
    vec![(String::new(), value)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_what_the_format_requires() {
        assert_eq!(escape_label("plain-reason"), "plain-reason");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(
            labelled("reason", [("high-hash", 2), ("say \"x\"", 1)]),
            [
                ("{reason=\"high-hash\"}".to_owned(), "2".to_owned()),
                ("{reason=\"say \\\"x\\\"\"}".to_owned(), "1".to_owned()),
            ]
        );
    }

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
