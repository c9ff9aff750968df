//! Durations as Mesos writes them: the strings agents put in executor
//! environment variables (a decimal number followed by a unit, e.g.
//! "15mins", "2secs", "500ms", "1.5hrs"), one formatter and one parser that
//! read each other's output, and `DurationInfo` as a `std::time::Duration`.

use std::time::Duration;

/// A duration string Mesos would not have written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    /// The string as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses a Mesos duration: `<number><unit>` with unit one of `ns`, `us`,
/// `ms`, `secs`, `mins`, `hrs`, `days`, `weeks` (singular forms and `s`,
/// `m`, `h`, `d`, `w` accepted too). Surrounding whitespace is ignored.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let error = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| error("missing unit"))?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(error("missing number"));
    }
    let value: f64 = number.parse().map_err(|_| error("bad number"))?;
    let nanos_per_unit: f64 = match unit.trim() {
        "ns" | "nanosecs" => 1.0,
        "us" | "microsecs" => 1e3,
        "ms" | "millisecs" => 1e6,
        "s" | "sec" | "secs" => 1e9,
        "m" | "min" | "mins" => 60e9,
        "h" | "hr" | "hrs" => 3600e9,
        "d" | "day" | "days" => 86_400e9,
        "w" | "week" | "weeks" => 604_800e9,
        _ => return Err(error("unknown unit")),
    };
    let nanos = value * nanos_per_unit;
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(error("out of range"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Formats a duration the way Mesos prints it in executor environment
/// variables: whole minutes as "Nmins", whole seconds as "Nsecs", anything
/// else in milliseconds ("1500ms"; precision below a millisecond is dropped).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let secs = millis / 1000;
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}mins", secs / 60)
    } else {
        format!("{secs}secs")
    }
}

impl crate::v1::DurationInfo {
    /// As a `Duration`; a negative `DurationInfo` (which Mesos rejects) reads as zero.
    pub fn to_duration(&self) -> Duration {
        Duration::from_nanos(self.nanoseconds.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::DurationInfo;

    #[test]
    fn mesos_spellings() {
        assert_eq!(parse_duration("15mins"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2secs"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1.5hrs"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("3days"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse_duration("1weeks"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration(" 5secs\n"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0secs"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "secs",
            "15",
            "15 parsecs",
            "-1secs",
            "1.2.3secs",
            "1e3ms",
            "abc",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
        let error = parse_duration("15").unwrap_err();
        assert_eq!(error.to_string(), "invalid duration \"15\": missing unit");
    }

    #[test]
    fn formatted_like_mesos() {
        assert_eq!(format_duration(Duration::from_secs(900)), "15mins");
        assert_eq!(format_duration(Duration::from_secs(2)), "2secs");
        assert_eq!(format_duration(Duration::from_secs(90)), "90secs");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0secs");
    }

    #[test]
    fn what_is_formatted_parses_back() {
        let mut millis = 1u64;
        while millis < 40 * 86_400_000 {
            // Up to the parser's range (u64 nanoseconds, about 584 years).
            for ms in [millis, millis * 1000, millis * 60_000].map(|ms| ms % (1 << 43)) {
                let duration = Duration::from_millis(ms);
                assert_eq!(
                    parse_duration(&format_duration(duration)),
                    Ok(duration),
                    "{ms} ms"
                );
            }
            millis = millis * 7 + 3;
        }
    }

    #[test]
    fn duration_info_both_ways() {
        let duration = Duration::from_millis(2500);
        assert_eq!(DurationInfo::from(duration).to_duration(), duration);
        assert_eq!(
            DurationInfo { nanoseconds: -5 }.to_duration(),
            Duration::ZERO
        );
        let huge = DurationInfo::from(Duration::from_secs(u64::MAX));
        assert_eq!(huge.nanoseconds, i64::MAX);
    }
}
