//! The hash-rate report a miner task's executor sends to the scheduler as a
//! framework MESSAGE: encoded ([`HashRateReport::to_message`]) and decoded
//! ([`HashRateReport::from_message`]) only here, so both ends agree.

use serde::{Deserialize, Serialize};

/// A report that is not a [`HashRateReport`].
#[derive(Debug, thiserror::Error)]
#[error("not a hash-rate report: {0}")]
pub struct ReportError(#[from] serde_json::Error);

/// One miner task's hash rate and share counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashRateReport {
    /// The miner task it is about.
    pub task_id: String,
    /// Hashes per second over the last interval.
    pub hash_rate: f64,
    /// Shares the pool accepted so far.
    #[serde(default)]
    pub accepted: u64,
    /// Shares the pool rejected so far.
    #[serde(default)]
    pub rejected: u64,
    /// Shares submitted so far.
    #[serde(default)]
    pub submitted: u64,
}

impl HashRateReport {
    /// The MESSAGE data an executor sends.
    pub fn to_message(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a HashRateReport always serializes")
    }

    /// Reads a MESSAGE's data.
    pub fn from_message(data: &[u8]) -> Result<Self, ReportError> {
        let report: Self = serde_json::from_slice(data)?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_executor_sends_is_what_the_scheduler_reads() {
        let sent = HashRateReport {
            task_id: "miner-7".into(),
            hash_rate: 30.25e6,
            accepted: 12,
            rejected: 1,
            submitted: 14,
        };
        assert_eq!(
            HashRateReport::from_message(&sent.to_message()).unwrap(),
            sent
        );
    }

    #[test]
    fn counts_missing_from_an_older_executor_read_as_zero() {
        let read = HashRateReport::from_message(br#"{"task_id":"m","hash_rate":1.0}"#).unwrap();
        assert_eq!((read.accepted, read.rejected, read.submitted), (0, 0, 0));
    }

    #[test]
    fn anything_else_is_an_error() {
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"task_id":"m","hash_rate":"fast"}"#,
        ] {
            let error = HashRateReport::from_message(bad).unwrap_err();
            assert!(
                error.to_string().starts_with("not a hash-rate report"),
                "{error}"
            );
        }
    }
}
