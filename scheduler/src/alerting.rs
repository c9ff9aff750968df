//! The scheduler's alerts: a proxy task launched in place of an earlier one (the proxy died,
//! was lost or was replaced while unreachable). Detected from the decisions about to be sent,
//! without I/O: proxy task ids are `proxy-<n>` with `n` counting up in the persisted state, so
//! any launch of `proxy-<n>` with `n > 1` replaces `proxy-<n-1>`, across scheduler restarts too.

use alerts::{Event, Kind};
use serde_json::json;

use crate::decision::Decision;

/// A proxy launched in place of another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRelaunch {
    /// The new proxy task.
    pub task_id: String,
    /// The one it replaces.
    pub previous_task_id: String,
    /// Where the new one goes.
    pub agent_id: String,
}

/// The proxy relaunches among `decisions`.
pub fn proxy_relaunches(decisions: &[Decision]) -> Vec<ProxyRelaunch> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Launch { tasks, .. } => Some(tasks),
            _ => None,
        })
        .flatten()
        .filter_map(|task| {
            let id = &task.task_id.value;
            let n: u64 = id.strip_prefix("proxy-")?.parse().ok()?;
            (n > 1).then(|| ProxyRelaunch {
                task_id: id.clone(),
                previous_task_id: format!("proxy-{}", n - 1),
                agent_id: task.agent_id.value.clone(),
            })
        })
        .collect()
}

impl ProxyRelaunch {
    /// The `proxy_relaunched` alert.
    pub fn event(&self) -> Event {
        Event::now(
            Kind::ProxyRelaunched,
            "scheduler",
            format!(
                "proxy relaunched: {} replaces {} (agent {})",
                self.task_id, self.previous_task_id, self.agent_id
            ),
            json!({
                "task_id": self.task_id,
                "previous_task_id": self.previous_task_id,
                "agent_id": self.agent_id,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos::v1::{AgentId, TaskId, TaskInfo};

    fn launch(ids: &[&str]) -> Decision {
        Decision::Launch {
            offer_id: "o".into(),
            operations: vec![],
            tasks: ids
                .iter()
                .map(|id| TaskInfo {
                    task_id: TaskId {
                        value: (*id).into(),
                    },
                    agent_id: AgentId { value: "a1".into() },
                    ..TaskInfo::default()
                })
                .collect(),
            refuse_seconds: 5.0,
        }
    }

    #[test]
    fn only_later_proxies_are_relaunches() {
        assert!(proxy_relaunches(&[launch(&["proxy-1"])]).is_empty());
        assert!(proxy_relaunches(&[launch(&["miner-a1-3"]), Decision::Suppress]).is_empty());
        let found = proxy_relaunches(&[Decision::Revive, launch(&["proxy-12", "miner-a1-9"])]);
        assert_eq!(
            found,
            vec![ProxyRelaunch {
                task_id: "proxy-12".into(),
                previous_task_id: "proxy-11".into(),
                agent_id: "a1".into()
            }]
        );
        let e = found[0].event();
        assert_eq!(e.kind, Kind::ProxyRelaunched);
        assert_eq!(e.details["previous_task_id"], "proxy-11");
        assert_eq!(e.source, "scheduler");
    }
}
