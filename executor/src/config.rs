//! What the agent tells the executor through its environment.

use std::time::Duration;

use mesos::duration::{parse_duration, DurationError};
use mesos::id;

/// `MESOS_FRAMEWORK_ID`.
pub const FRAMEWORK_ID: &str = "MESOS_FRAMEWORK_ID";
/// `MESOS_EXECUTOR_ID`.
pub const EXECUTOR_ID: &str = "MESOS_EXECUTOR_ID";
/// `MESOS_AGENT_ENDPOINT` (`host:port`).
pub const AGENT_ENDPOINT: &str = "MESOS_AGENT_ENDPOINT";
/// `MESOS_CHECKPOINT` ("1" when the framework checkpoints).
pub const CHECKPOINT: &str = "MESOS_CHECKPOINT";
/// `MESOS_RECOVERY_TIMEOUT`.
pub const RECOVERY_TIMEOUT: &str = "MESOS_RECOVERY_TIMEOUT";
/// `MESOS_SUBSCRIPTION_BACKOFF_MAX`.
pub const SUBSCRIPTION_BACKOFF_MAX: &str = "MESOS_SUBSCRIPTION_BACKOFF_MAX";
/// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
pub const SHUTDOWN_GRACE_PERIOD: &str = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD";
/// Ours: how often a miner task reports its hash rate (a Mesos duration;
/// 5 s by default).
pub const REPORT_INTERVAL: &str = "MESOS_MINER_REPORT_INTERVAL";

/// Mesos' default recovery timeout.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Mesos' default subscription backoff maximum.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Grace period when neither a kill policy nor the agent gives one.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(5);
/// Default hash-rate report interval.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// The environment is missing something or holds something unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is not set (is this process started by a Mesos agent?)")]
    Missing(&'static str),
    /// A duration variable does not parse.
    #[error("{name}: {source}")]
    Duration {
        /// The variable.
        name: &'static str,
        /// Why it does not parse.
        source: DurationError,
    },
}

/// The executor's settings, from `MESOS_*` variables.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    /// The framework this executor belongs to.
    pub framework_id: id::Framework,
    /// This executor's id.
    pub executor_id: id::Executor,
    /// The agent's `host:port`.
    pub agent_endpoint: String,
    /// Whether the framework checkpoints (then the agent may restart and the
    /// executor reconnects within `recovery_timeout`).
    pub checkpoint: bool,
    /// How long to keep trying to reconnect to a restarting agent.
    pub recovery_timeout: Duration,
    /// Largest wait between subscription attempts.
    pub subscription_backoff_max: Duration,
    /// Time the agent gives us between SHUTDOWN and killing us.
    pub shutdown_grace_period: Duration,
    /// How often miner tasks report their hash rate.
    pub report_interval: Duration,
}

impl ExecutorConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let duration = |name: &'static str, default: Duration| match lookup(name) {
            Some(value) if !value.trim().is_empty() => {
                parse_duration(&value).map_err(|source| ConfigError::Duration { name, source })
            }
            _ => Ok(default),
        };
        Ok(Self {
            framework_id: required(FRAMEWORK_ID)?.into(),
            executor_id: required(EXECUTOR_ID)?.into(),
            agent_endpoint: required(AGENT_ENDPOINT)?,
            checkpoint: lookup(CHECKPOINT)
                .is_some_and(|value| matches!(value.trim(), "1" | "true")),
            recovery_timeout: duration(RECOVERY_TIMEOUT, DEFAULT_RECOVERY_TIMEOUT)?,
            subscription_backoff_max: duration(SUBSCRIPTION_BACKOFF_MAX, DEFAULT_BACKOFF_MAX)?,
            shutdown_grace_period: duration(SHUTDOWN_GRACE_PERIOD, DEFAULT_GRACE_PERIOD)?,
            report_interval: duration(REPORT_INTERVAL, DEFAULT_REPORT_INTERVAL)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_agent_variables() {
        let config = ExecutorConfig::from_lookup(lookup(&[
            (FRAMEWORK_ID, "fw"),
            (EXECUTOR_ID, "exec-1"),
            (AGENT_ENDPOINT, "127.0.0.1:5051"),
            (CHECKPOINT, "1"),
            (RECOVERY_TIMEOUT, "15mins"),
            (SUBSCRIPTION_BACKOFF_MAX, "2secs"),
            (SHUTDOWN_GRACE_PERIOD, "500ms"),
        ]))
        .unwrap();
        assert_eq!(config.framework_id, "fw");
        assert_eq!(config.executor_id, "exec-1");
        assert_eq!(config.agent_endpoint, "127.0.0.1:5051");
        assert!(config.checkpoint);
        assert_eq!(config.recovery_timeout, Duration::from_secs(900));
        assert_eq!(config.subscription_backoff_max, Duration::from_secs(2));
        assert_eq!(config.shutdown_grace_period, Duration::from_millis(500));
        assert_eq!(config.report_interval, DEFAULT_REPORT_INTERVAL);
    }

    #[test]
    fn defaults_and_errors() {
        let base = [
            (FRAMEWORK_ID, "fw"),
            (EXECUTOR_ID, "e"),
            (AGENT_ENDPOINT, "h:1"),
        ];
        let config = ExecutorConfig::from_lookup(lookup(&base)).unwrap();
        assert!(!config.checkpoint);
        assert_eq!(config.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
        assert_eq!(config.shutdown_grace_period, DEFAULT_GRACE_PERIOD);
        assert!(matches!(
            ExecutorConfig::from_lookup(lookup(&base[1..])),
            Err(ConfigError::Missing(FRAMEWORK_ID))
        ));
        let mut bad = base.to_vec();
        bad.push((RECOVERY_TIMEOUT, "soon"));
        let error = ExecutorConfig::from_lookup(lookup(&bad)).unwrap_err();
        assert!(error.to_string().starts_with(RECOVERY_TIMEOUT), "{error}");
    }
}
