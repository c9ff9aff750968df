//! Mesos' fixed-point scalars and port ranges, one rule for the whole workspace. Mesos keeps
//! scalar resources to three decimal places; here they are integer thousandths, so sums and
//! differences are exact. A value that is no amount (NaN, infinite, negative, or too large for
//! thousandths in an `i64`) is none. Inclusive ranges are kept sorted and merged.

/// Thousandths of `value`, rounded; `None` when it is no amount.
pub fn to_milli(value: f64) -> Option<i64> {
    let milli = (value * 1000.0).round();
    (value.is_finite() && value >= 0.0 && milli < i64::MAX as f64).then_some(milli as i64)
}

/// [`to_milli`], counting what is no amount as nothing (0).
pub fn milli_or_zero(value: f64) -> i64 {
    to_milli(value).unwrap_or(0)
}

/// A scalar from its thousandths.
pub fn from_milli(milli: i64) -> f64 {
    milli as f64 / 1000.0
}

/// Sorts and merges overlapping or adjacent inclusive ranges, dropping empty ones
/// (`begin > end`).
pub fn normalize_ranges(ranges: &mut Vec<(u64, u64)>) {
    ranges.retain(|(begin, end)| begin <= end);
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for &(begin, end) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if begin <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((begin, end)),
        }
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousandths_add_up_exactly_and_round_trip() {
        assert_eq!(to_milli(0.1), Some(100));
        assert_eq!(to_milli(0.1).unwrap() + to_milli(0.2).unwrap(), 300);
        assert_eq!(to_milli(0.0004), Some(0));
        assert_eq!(to_milli(0.0005), Some(1));
        for value in [0.0, 0.5, 1.25, 4096.0, 123_456.789] {
            assert_eq!(from_milli(to_milli(value).unwrap()), value);
        }
    }

    #[test]
    fn what_is_no_amount_is_none() {
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            -0.001,
            1e300,
        ] {
            assert_eq!(to_milli(bad), None, "{bad}");
            assert_eq!(milli_or_zero(bad), 0, "{bad}");
        }
        assert_eq!(to_milli(-0.0), Some(0));
    }

    #[test]
    fn ranges_merge_when_they_overlap_or_touch() {
        let mut ranges = vec![
            (31005, 31010),
            (31000, 31004),
            (31020, 31030),
            (31025, 31040),
            (9, 1),
        ];
        normalize_ranges(&mut ranges);
        assert_eq!(ranges, vec![(31000, 31010), (31020, 31040)]);
        let mut edge = vec![(u64::MAX - 1, u64::MAX), (0, 0), (1, 1)];
        normalize_ranges(&mut edge);
        assert_eq!(edge, vec![(0, 1), (u64::MAX - 1, u64::MAX)]);
    }
}
