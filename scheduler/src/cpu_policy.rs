//! Which CPUs miners run on: regular ones, revocable ones (an agent's
//! oversubscribed slack, `Resource.revocable` set), or both, and how a
//! revocation is told apart from a failure.
//!
//! Mining is best-effort work, so by default ([`CpuPolicy::Both`]) miners
//! take every CPU offered of either kind. A miner task holds one kind only
//! (Mesos refuses a task whose resources of one name mix revocable and
//! regular), so an offer with both kinds may start two miners: one per
//! [`CpuKind`]. The proxy always runs on regular resources.
//!
//! When the agent's QoS controller takes revocable resources back, Mesos
//! kills the executor and reports its tasks TASK_GONE (TASK_LOST to
//! frameworks that are not partition-aware) with `REASON_CONTAINER_PREEMPTED`
//! (formerly `REASON_EXECUTOR_PREEMPTED`, the same tag 17): [`is_revocation`].
//! Such an end is not a failure: no backoff, and the capacity is mined
//! again when it is offered again.

use std::fmt;
use std::str::FromStr;

use mesos::v1::{task_status, TaskStatus};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The kinds of CPUs miners may take (`--cpu-policy`, `miner.cpu_policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuPolicy {
    /// Regular CPUs only (revocable ones declined).
    Regular,
    /// Revocable CPUs only (miners never take regular CPUs).
    Revocable,
    /// Both, in separate miner tasks.
    #[default]
    Both,
}

/// One kind of CPUs a miner task holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuKind {
    /// Regular (non-revocable) CPUs.
    Regular,
    /// Revocable CPUs: the task may be preempted.
    Revocable,
}

impl CpuPolicy {
    /// The kinds a miner may take, regular first.
    pub fn kinds(self) -> &'static [CpuKind] {
        match self {
            Self::Regular => &[CpuKind::Regular],
            Self::Revocable => &[CpuKind::Revocable],
            Self::Both => &[CpuKind::Regular, CpuKind::Revocable],
        }
    }

    /// Whether revocable CPUs are used at all (the framework then subscribes
    /// with REVOCABLE_RESOURCES).
    pub fn wants_revocable(self) -> bool {
        self != Self::Regular
    }

    /// Its name in the config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Regular => "regular",
            Self::Revocable => "revocable",
            Self::Both => "both",
        }
    }
}

impl fmt::Display for CpuPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CpuPolicy {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Regular, Self::Revocable, Self::Both]
            .into_iter()
            .find(|policy| policy.name() == text.trim())
            .ok_or_else(|| ConfigError::CpuPolicy(text.to_owned()))
    }
}

/// Whether `status` ends a task because its revocable resources were taken
/// back (the QoS controller's kill), which is not a failure.
pub fn is_revocation(status: &TaskStatus) -> bool {
    status.reason == Some(task_status::Reason::ContainerPreempted as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos::v1::TaskId;

    #[test]
    fn policies_parse_and_list_their_kinds() {
        assert_eq!("both".parse::<CpuPolicy>().unwrap(), CpuPolicy::Both);
        assert_eq!(CpuPolicy::default(), CpuPolicy::Both);
        assert_eq!(
            CpuPolicy::Both.kinds(),
            [CpuKind::Regular, CpuKind::Revocable]
        );
        assert_eq!(CpuPolicy::Revocable.kinds(), [CpuKind::Revocable]);
        assert!(!CpuPolicy::Regular.wants_revocable());
        let error = "spare".parse::<CpuPolicy>().unwrap_err().to_string();
        assert!(
            error.contains("spare") && error.contains("regular|revocable|both"),
            "{error}"
        );
        let json: CpuPolicy = serde_json::from_str("\"revocable\"").unwrap();
        assert_eq!(json, CpuPolicy::Revocable);
    }

    #[test]
    fn only_preemption_is_a_revocation() {
        let mut status = TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: mesos::v1::TaskState::TaskGone as i32,
            reason: Some(task_status::Reason::ContainerPreempted as i32),
            ..Default::default()
        };
        assert!(is_revocation(&status));
        status.reason = Some(task_status::Reason::ExecutorTerminated as i32);
        assert!(!is_revocation(&status));
        status.reason = None;
        assert!(!is_revocation(&status));
    }
}
