//! Limits a cluster operator sets on mining, and what the scheduler knows of
//! the cluster to apply them.
//!
//! - [`CpuLimit`] (`--max-cpus`, `limits.max_cpus`): the most CPUs all miner
//!   tasks together may hold (regular and revocable), as a number (`8`) or
//!   a percentage of the cluster's regular CPUs (`25%`).
//! - `--quota-cpus` (`limits.quota_cpus`): the role's CPU quota, enforced by
//!   the scheduler, since devcluster has no quota: regular CPUs of all our
//!   tasks and executors, the proxy included, stay within it, and offers
//!   that would take us above it are declined. As in Mesos, revocable
//!   resources do not count against quota.
//! - [`Constraint`] (`--constraint`, `limits.constraints`): Marathon-style
//!   `field:OPERATOR[:value]` on an agent attribute or `hostname`, with
//!   LIKE / UNLIKE (the value a regular expression the whole value must
//!   match / must not match), CLUSTER (all tasks on agents with this value,
//!   or the value our tasks already have) and UNIQUE (one miner per value).
//!   LIKE, UNLIKE and CLUSTER place every task; UNIQUE counts miners.
//!
//! The cluster's CPUs are what the scheduler has seen ([`ClusterView`]): for
//! each agent, the most regular CPUs it offered plus what our tasks held
//! there. CPUs other frameworks hold on agents are not seen, so a
//! percentage is of the part of the cluster offered to us.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use mesos::v1::{value, Attribute, Offer};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::resources::CPUS;
use crate::tasks::{TaskRecord, TaskRole};
use mesos::scalar::milli_or_zero;

/// The operator's limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most CPUs mining takes; `None` = every CPU offered.
    pub max_cpus: Option<CpuLimit>,
    /// The role's CPU quota (regular CPUs of all our tasks); `None` = none.
    pub quota_cpus: Option<f64>,
    /// Placement constraints on agents.
    pub constraints: Vec<Constraint>,
}

/// `--max-cpus`: CPUs, or a share of the cluster's regular CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CpuLimit {
    /// At most this many CPUs.
    Cpus(f64),
    /// At most this percentage (0 < p <= 100) of the cluster's CPUs.
    Percent(f64),
}

impl CpuLimit {
    /// The limit in thousandths of a CPU, for a cluster of `cluster_millis`.
    pub fn millis(self, cluster_millis: i64) -> i64 {
        match self {
            Self::Cpus(cpus) => milli_or_zero(cpus),
            Self::Percent(percent) => (cluster_millis as f64 * percent / 100.0).floor() as i64,
        }
    }
}

impl FromStr for CpuLimit {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::MaxCpus(text.to_owned());
        let trimmed = text.trim();
        match trimmed.strip_suffix('%') {
            Some(number) => {
                let percent: f64 = number.trim().parse().map_err(|_| bad())?;
                if percent.is_finite() && percent > 0.0 && percent <= 100.0 {
                    Ok(Self::Percent(percent))
                } else {
                    Err(bad())
                }
            }
            None => {
                let cpus: f64 = trimmed.parse().map_err(|_| bad())?;
                if cpus.is_finite() && milli_or_zero(cpus) > 0 {
                    Ok(Self::Cpus(cpus))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl fmt::Display for CpuLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpus(cpus) => write!(f, "{cpus}"),
            Self::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

impl TryFrom<String> for CpuLimit {
    type Error = ConfigError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<CpuLimit> for String {
    fn from(limit: CpuLimit) -> Self {
        limit.to_string()
    }
}

/// A Marathon constraint operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The value matches a regular expression (whole value).
    Like,
    /// The value does not match it (agents without the field pass).
    Unlike,
    /// All tasks on agents with one value of the field.
    Cluster,
    /// One miner per value of the field.
    Unique,
}

/// One placement constraint, `field:OPERATOR[:value]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Constraint {
    text: String,
    field: String,
    operator: Operator,
    value: Option<String>,
    /// LIKE / UNLIKE: `^(?:value)$`.
    regex: Option<Regex>,
}

impl PartialEq for Constraint {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl FromStr for Constraint {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |why: &str| ConfigError::Constraint {
            text: text.to_owned(),
            why: why.to_owned(),
        };
        let mut parts = text.splitn(3, ':');
        let field = parts.next().unwrap_or_default().trim();
        let operator = parts.next().map(str::trim).unwrap_or_default();
        let value = parts.next().map(str::to_owned);
        if field.is_empty() {
            return Err(error("no field (an agent attribute or `hostname`)"));
        }
        let operator = match operator.to_ascii_uppercase().as_str() {
            "LIKE" => Operator::Like,
            "UNLIKE" => Operator::Unlike,
            "CLUSTER" => Operator::Cluster,
            "UNIQUE" => Operator::Unique,
            "" => return Err(error("no operator (LIKE, UNLIKE, CLUSTER or UNIQUE)")),
            _ => return Err(error("unknown operator: LIKE, UNLIKE, CLUSTER or UNIQUE")),
        };
        let regex = match operator {
            Operator::Like | Operator::Unlike => {
                let pattern = value
                    .as_deref()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| error("LIKE and UNLIKE need a regular expression"))?;
                Some(
                    Regex::new(&format!("^(?:{pattern})$"))
                        .map_err(|e| error(&format!("bad regular expression: {e}")))?,
                )
            }
            Operator::Unique if value.is_some() => return Err(error("UNIQUE takes no value")),
            Operator::Cluster if value.as_deref() == Some("") => {
                return Err(error(
                    "CLUSTER's value is empty (leave it out to pin to the first)",
                ))
            }
            _ => None,
        };
        Ok(Self {
            text: text.to_owned(),
            field: field.to_owned(),
            operator,
            value,
            regex,
        })
    }
}

impl TryFrom<String> for Constraint {
    type Error = ConfigError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Constraint> for String {
    fn from(constraint: Constraint) -> Self {
        constraint.text
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What the scheduler knows of one agent, from its offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    /// Its hostname.
    pub hostname: String,
    /// Its attributes, as text (scalars as numbers, sets `{a,b}`, ranges
    /// `[1-2,5-9]`).
    pub attributes: BTreeMap<String, String>,
    /// The most regular CPUs seen there (offered + held by our tasks), in
    /// thousandths.
    pub cpus_millis: i64,
}

impl AgentView {
    /// The value of `field` (`hostname` or an attribute), if it has one.
    pub fn field(&self, field: &str) -> Option<&str> {
        if field == "hostname" {
            Some(&self.hostname)
        } else {
            self.attributes.get(field).map(String::as_str)
        }
    }
}

/// The agents seen, by agent id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterView {
    agents: BTreeMap<String, AgentView>,
}

/// An attribute's value as text, as constraints compare it.
pub fn attribute_text(attribute: &Attribute) -> String {
    match attribute.r#type() {
        value::Type::Scalar => attribute
            .scalar
            .as_ref()
            .map_or_else(String::new, |s| s.value.to_string()),
        value::Type::Text => attribute
            .text
            .as_ref()
            .map_or_else(String::new, |t| t.value.clone()),
        value::Type::Set => format!(
            "{{{}}}",
            attribute
                .set
                .as_ref()
                .map(|s| s.item.join(","))
                .unwrap_or_default()
        ),
        value::Type::Ranges => format!(
            "[{}]",
            attribute
                .ranges
                .iter()
                .flat_map(|r| r.range.iter())
                .map(|r| format!("{}-{}", r.begin, r.end))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// Regular CPUs a task of ours holds with its executor, in thousandths.
pub fn regular_millis(task: &TaskRecord, executor_cpus: f64) -> i64 {
    if task.revocable {
        0
    } else {
        milli_or_zero(task.cpus) + milli_or_zero(executor_cpus)
    }
}

impl ClusterView {
    /// Notes an offer: the agent's hostname, attributes and CPUs (offered
    /// regular CPUs plus those `tasks` of ours hold there).
    pub fn observe<'a>(
        &mut self,
        offer: &Offer,
        tasks: impl Iterator<Item = &'a TaskRecord>,
        executor_cpus: f64,
    ) {
        let offered: i64 = offer
            .resources
            .iter()
            .filter(|r| r.name == CPUS && r.revocable.is_none())
            .filter_map(|r| r.scalar.as_ref())
            .map(|s| milli_or_zero(s.value))
            .sum();
        let held: i64 = tasks
            .filter(|t| t.agent_id == offer.agent_id.value)
            .map(|t| regular_millis(t, executor_cpus))
            .sum();
        let agent = self.agents.entry(offer.agent_id.value.clone()).or_default();
        agent.hostname = offer.hostname.clone();
        agent.attributes = offer
            .attributes
            .iter()
            .map(|a| (a.name.clone(), attribute_text(a)))
            .collect();
        agent.cpus_millis = agent.cpus_millis.max(offered + held);
    }

    /// One agent.
    pub fn agent(&self, agent_id: &str) -> Option<&AgentView> {
        self.agents.get(agent_id)
    }

    /// The cluster's regular CPUs seen, in thousandths.
    pub fn cpus_millis(&self) -> i64 {
        self.agents.values().map(|a| a.cpus_millis).sum()
    }
}

/// Why `agent` may not take a task of `role` under `constraints`, given
/// our tasks (launched and planned); `None` = it may.
pub fn violated<'a>(
    constraints: &'a [Constraint],
    view: &ClusterView,
    agent: &AgentView,
    role: TaskRole,
    tasks: &[&TaskRecord],
) -> Option<&'a Constraint> {
    let value_of = |task: &TaskRecord, field: &str| {
        view.agent(task.agent_id.as_str())
            .and_then(|a| a.field(field))
            .map(str::to_owned)
    };
    constraints.iter().find(|c| {
        let mine = agent.field(&c.field);
        let ok = match c.operator {
            Operator::Like => mine.is_some_and(|v| c.regex.as_ref().is_some_and(|r| r.is_match(v))),
            Operator::Unlike => {
                mine.is_none_or(|v| !c.regex.as_ref().is_some_and(|r| r.is_match(v)))
            }
            Operator::Cluster => match (&c.value, mine) {
                (_, None) => false,
                (Some(value), Some(mine)) => value == mine,
                // Pinned to the value where our tasks already run.
                (None, Some(mine)) => tasks
                    .iter()
                    .filter_map(|t| value_of(t, &c.field))
                    .all(|v| v == mine),
            },
            Operator::Unique => match role {
                TaskRole::Proxy => true,
                TaskRole::Miner => mine.is_some_and(|mine| {
                    !tasks
                        .iter()
                        .filter(|t| t.role == TaskRole::Miner && !t.kill_requested)
                        .any(|t| value_of(t, &c.field).as_deref() == Some(mine))
                }),
            },
        };
        !ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::tests::record;
    use crate::tasks::TaskState;
    use mesos::v1::{AgentId, OfferId};

    fn text_attribute(name: &str, value: &str) -> Attribute {
        Attribute {
            name: name.into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text {
                value: value.into(),
            }),
            ..Default::default()
        }
    }

    fn view_of(agents: &[(&str, &str)]) -> ClusterView {
        let mut view = ClusterView::default();
        for (agent, rack) in agents {
            let offer = Offer {
                id: OfferId { value: "o".into() },
                agent_id: AgentId {
                    value: (*agent).into(),
                },
                hostname: format!("{agent}.example"),
                attributes: vec![text_attribute("rack", rack)],
                resources: vec![crate::resources::tests::scalar(CPUS, 4.0)],
                ..Default::default()
            };
            view.observe(&offer, std::iter::empty(), 0.0);
        }
        view
    }

    fn check(text: &str, agent: &str, view: &ClusterView, tasks: &[&TaskRecord]) -> bool {
        let constraints = vec![text.parse::<Constraint>().unwrap()];
        violated(
            &constraints,
            view,
            view.agent(agent).unwrap(),
            TaskRole::Miner,
            tasks,
        )
        .is_none()
    }

    #[test]
    fn cpu_limits_parse_and_scale() {
        assert_eq!("8".parse::<CpuLimit>().unwrap(), CpuLimit::Cpus(8.0));
        assert_eq!("25%".parse::<CpuLimit>().unwrap(), CpuLimit::Percent(25.0));
        assert_eq!(CpuLimit::Percent(25.0).millis(6000), 1500);
        assert_eq!(CpuLimit::Cpus(2.5).millis(0), 2500);
        for bad in [
            "0", "-1", "0%", "101%", "x", "", "%", "NaN", "inf", "0.0001",
        ] {
            let error = bad.parse::<CpuLimit>().unwrap_err().to_string();
            assert!(error.contains("percentage"), "{bad}: {error}");
        }
        let json: CpuLimit = serde_json::from_str("\"50%\"").unwrap();
        assert_eq!(json, CpuLimit::Percent(50.0));
        assert_eq!(serde_json::to_string(&json).unwrap(), "\"50%\"");
    }

    #[test]
    fn constraints_parse_with_clear_errors() {
        for good in [
            "rack:LIKE:r[12]",
            "rack:unlike:r3",
            "rack:CLUSTER:r1",
            "rack:CLUSTER",
            "hostname:UNIQUE",
        ] {
            good.parse::<Constraint>().unwrap();
        }
        for (bad, says) in [
            ("rack", "no operator"),
            (":LIKE:x", "no field"),
            ("rack:NEAR:x", "unknown operator"),
            ("rack:LIKE", "need a regular expression"),
            ("rack:LIKE:(", "bad regular expression"),
            ("hostname:UNIQUE:x", "UNIQUE takes no value"),
            ("rack:CLUSTER:", "empty"),
        ] {
            let error = bad.parse::<Constraint>().unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn like_unlike_cluster_unique_on_attributes_and_hostname() {
        let view = view_of(&[("a1", "r1"), ("a2", "r2"), ("a3", "r3")]);
        assert!(check("rack:LIKE:r[12]", "a1", &view, &[]));
        assert!(!check("rack:LIKE:r[12]", "a3", &view, &[]));
        // The whole value must match.
        assert!(!check("rack:LIKE:r", "a1", &view, &[]));
        assert!(!check("rack:UNLIKE:r1", "a1", &view, &[]));
        assert!(check("rack:UNLIKE:r1", "a2", &view, &[]));
        // A missing attribute: LIKE fails, UNLIKE passes.
        assert!(!check("zone:LIKE:.*", "a1", &view, &[]));
        assert!(check("zone:UNLIKE:z1", "a1", &view, &[]));
        assert!(check("rack:CLUSTER:r2", "a2", &view, &[]));
        assert!(!check("rack:CLUSTER:r2", "a1", &view, &[]));
        assert!(check("hostname:LIKE:a1\\.example", "a1", &view, &[]));

        let on_a1 = record("miner-a1-1", TaskRole::Miner, "a1", TaskState::Running);
        // CLUSTER without a value: where our tasks already are.
        assert!(check("rack:CLUSTER", "a1", &view, &[&on_a1]));
        assert!(!check("rack:CLUSTER", "a2", &view, &[&on_a1]));
        assert!(check("rack:CLUSTER", "a2", &view, &[]));
        // UNIQUE: one miner per value; a miner being killed does not count.
        assert!(!check("hostname:UNIQUE", "a1", &view, &[&on_a1]));
        assert!(check("hostname:UNIQUE", "a2", &view, &[&on_a1]));
        let mut killing = on_a1.clone();
        killing.kill_requested = true;
        assert!(check("rack:UNIQUE", "a1", &view, &[&killing]));
        // The proxy is not counted by UNIQUE, but placed by the others.
        let constraints = vec![
            "rack:UNIQUE".parse().unwrap(),
            "rack:LIKE:r[23]".parse().unwrap(),
        ];
        let proxy_on_a1 = violated(
            &constraints,
            &view,
            view.agent("a1").unwrap(),
            TaskRole::Proxy,
            &[&on_a1],
        );
        assert_eq!(
            proxy_on_a1.map(|c| c.to_string()),
            Some("rack:LIKE:r[23]".into())
        );
    }

    #[test]
    fn cluster_cpus_are_offered_plus_held_and_never_shrink() {
        let mut view = view_of(&[("a1", "r1")]);
        assert_eq!(view.cpus_millis(), 4000);
        let mut held = record("miner-a1-1", TaskRole::Miner, "a1", TaskState::Running);
        held.cpus = 3.0;
        let offer = Offer {
            agent_id: AgentId { value: "a1".into() },
            resources: vec![crate::resources::tests::scalar(CPUS, 1.0)],
            ..Default::default()
        };
        view.observe(&offer, [&held].into_iter(), 0.0);
        assert_eq!(view.cpus_millis(), 4000);
        held.cpus = 5.0;
        view.observe(&offer, [&held].into_iter(), 0.0);
        assert_eq!(view.cpus_millis(), 6000);
        // Revocable CPUs are no part of it.
        held.revocable = true;
        assert_eq!(regular_millis(&held, 0.5), 0);
    }
}
