//! Oversubscription, as Mesos models it: each agent's resource estimator
//! and QoS controller, and the agent attributes operators place work by.
//!
//! - The estimator is Mesos' fixed one (`--resource_estimator=
//!   org_apache_mesos_FixedResourceEstimator`): every agent reports
//!   `ClusterConfig::revocable_cpus` CPUs of slack, offered with
//!   `Resource.revocable` set on top of its regular CPUs, and only to
//!   frameworks with the REVOCABLE_RESOURCES capability ([`offerable`]).
//!   What revocable tasks hold is not offered again, as the fixed estimator
//!   subtracts what is allocated.
//! - The QoS controller is the fault `qos-revoke[/AGENT_ID]` ([`revoke`]):
//!   it destroys every executor that holds revocable resources on the agent
//!   (their tasks end TASK_GONE, or TASK_LOST for frameworks that are not
//!   partition-aware, with REASON_CONTAINER_PREEMPTED from the agent, as
//!   Mesos' `QoSCorrection::KILL` does), rescinds offers of the slack, and
//!   the estimator reports no slack there until `qos-restore[/AGENT_ID]`
//!   ([`restore`]).
//! - Attributes come in Mesos' `--attributes` syntax ([`parse_attributes`]),
//!   one string per agent, and appear in its `AgentInfo` and offers.

use mesos::v1::{framework_info, task_status, value, Attribute, TaskState};
use tracing::info;

use crate::error::Error;
use crate::resources::{Bundle, Kind, Res};
use crate::state::{Framework, State};

/// One agent's slack: what its estimator reports, and whether the QoS
/// controller took it away.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slack {
    /// Revocable resources the estimator reports (CPUs only).
    pub estimate: Res,
    /// Revoked by the QoS controller: none offered until restored.
    pub revoked: bool,
}

impl Slack {
    /// `cpus` of slack.
    pub fn cpus(cpus: f64) -> Self {
        Self {
            estimate: Res::new(cpus, 0.0, Vec::new()),
            revoked: false,
        }
    }

    /// What the estimator reports now, as revocable resources.
    pub fn bundle(&self) -> Bundle {
        if self.revoked {
            Bundle::default()
        } else {
            Bundle::of_kind(Kind::revocable(), &self.estimate)
        }
    }
}

/// The part of an agent's free resources `framework` may be offered: the
/// revocable part only with the REVOCABLE_RESOURCES capability.
pub(crate) fn offerable(framework: &Framework, free: Bundle) -> Bundle {
    if framework.has_capability(framework_info::capability::Type::RevocableResources) {
        free
    } else {
        free.without_revocable()
    }
}

/// The terminal state of a task whose executor the QoS controller killed.
pub(crate) fn preempted_state(partition_aware: bool) -> TaskState {
    if partition_aware {
        TaskState::TaskGone
    } else {
        TaskState::TaskLost
    }
}

/// The reason of such an update.
pub(crate) const PREEMPTED: task_status::Reason = task_status::Reason::ContainerPreempted;

/// Agent indexes `agent_id` names (every live agent when `None`).
fn agents(state: &State, agent_id: Option<&str>) -> Result<Vec<usize>, Error> {
    match agent_id {
        Some(id) => state
            .agent_index(id)
            .map(|index| vec![index])
            .ok_or_else(|| Error::UnknownAgent(id.to_owned())),
        None => Ok((0..state.agents.len())
            .filter(|&index| state.agents[index].alive)
            .collect()),
    }
}

/// The QoS controller's KILL correction for every executor holding
/// revocable resources on the agent(s), and no more slack there until
/// [`restore`]. Returns how many executors were killed.
pub(crate) fn revoke(state: &mut State, agent_id: Option<&str>) -> Result<usize, Error> {
    let indexes = agents(state, agent_id)?;
    let mut killed = 0;
    for index in indexes {
        state.agents[index].slack.revoked = true;
        // Offers of the slack are withdrawn (Mesos rescinds offers whose
        // revocable resources the estimator no longer reports).
        let offers: Vec<(String, mesos::id::Framework)> = state
            .offers
            .iter()
            .filter(|(_, offer)| offer.agent == index && offer.res.has_revocable())
            .map(|(id, offer)| (id.clone(), offer.framework_id.clone()))
            .collect();
        for (offer_id, framework_id) in offers {
            state.offers.remove(&offer_id);
            state.send_rescind(&framework_id, &offer_id);
        }
        let holding: Vec<_> = state.agents[index]
            .executors
            .iter()
            .filter(|(key, exec)| {
                exec.res.has_revocable()
                    || state.tasks.iter().any(|((framework_id, _), task)| {
                        *framework_id == key.0
                            && task.agent == index
                            && task.executor_id == key.1
                            && !task.state.is_terminal()
                            && task.res.has_revocable()
                    })
            })
            .map(|(key, _)| key.clone())
            .collect();
        let agent = state.agents[index].id.clone();
        for key in holding {
            if let Some(exec) = state.agents[index].executors.get_mut(&key) {
                info!(%agent, executor = %key.1, "QoS correction: killing an executor on revocable resources");
                exec.termination_reason = Some(PREEMPTED);
                let _ = exec.signals.send(libc::SIGKILL);
                killed += 1;
            }
        }
        info!(%agent, "QoS controller: slack revoked");
    }
    state.allocation_needed = true;
    Ok(killed)
}

/// The estimator reports the agent(s)' slack again.
pub(crate) fn restore(state: &mut State, agent_id: Option<&str>) -> Result<(), Error> {
    for index in agents(state, agent_id)? {
        state.agents[index].slack.revoked = false;
        info!(agent = %state.agents[index].id, "slack offered again");
    }
    state.allocation_needed = true;
    Ok(())
}

/// Parses Mesos' `--attributes` syntax: `name:value` pairs separated by
/// `;`, a value being ranges (`[1-2,5-9]`), a set (`{a,b}`), a scalar (a
/// number) or text.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, String> {
    let mut attributes = Vec::new();
    for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, raw) = pair
            .split_once(':')
            .ok_or_else(|| format!("attribute {pair:?} is not NAME:VALUE"))?;
        let (name, raw) = (name.trim(), raw.trim());
        if name.is_empty() || raw.is_empty() {
            return Err(format!("attribute {pair:?} needs a name and a value"));
        }
        if attributes.iter().any(|a: &Attribute| a.name == name) {
            return Err(format!("attribute {name:?} is given twice"));
        }
        let mut attribute = Attribute {
            name: name.to_owned(),
            ..Default::default()
        };
        if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let mut range = Vec::new();
            for part in inner.split(',').map(str::trim) {
                let parsed = part
                    .split_once('-')
                    .and_then(|(b, e)| Some((b.trim().parse().ok()?, e.trim().parse().ok()?)))
                    .filter(|(b, e): &(u64, u64)| b <= e)
                    .ok_or_else(|| format!("attribute {name:?}: bad range {part:?}"))?;
                range.push(value::Range {
                    begin: parsed.0,
                    end: parsed.1,
                });
            }
            attribute.r#type = value::Type::Ranges as i32;
            attribute.ranges = Some(value::Ranges { range });
        } else if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            attribute.r#type = value::Type::Set as i32;
            attribute.set = Some(value::Set {
                item: inner
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect(),
            });
        } else if let Some(number) = raw.parse::<f64>().ok().filter(|n| n.is_finite()) {
            attribute.r#type = value::Type::Scalar as i32;
            attribute.scalar = Some(value::Scalar { value: number });
        } else {
            attribute.r#type = value::Type::Text as i32;
            attribute.text = Some(value::Text {
                value: raw.to_owned(),
            });
        }
        attributes.push(attribute);
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_parse_like_mesos() {
        let attributes = parse_attributes("rack:r1; zone:{a,b};cores:8;ports:[1-2,5-9]").unwrap();
        assert_eq!(attributes.len(), 4);
        assert_eq!(attributes[0].r#type(), value::Type::Text);
        assert_eq!(attributes[0].text.as_ref().unwrap().value, "r1");
        assert_eq!(attributes[1].set.as_ref().unwrap().item, vec!["a", "b"]);
        assert_eq!(attributes[2].scalar.as_ref().unwrap().value, 8.0);
        assert_eq!(attributes[3].ranges.as_ref().unwrap().range.len(), 2);
        assert!(parse_attributes("").unwrap().is_empty());
        for bad in ["rack", "rack:", ":r1", "a:1;a:2", "p:[5-1]", "p:[x]"] {
            assert!(parse_attributes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slack_is_revocable_cpus_until_revoked() {
        let mut slack = Slack::cpus(1.5);
        let bundle = slack.bundle();
        assert!(bundle.has_revocable());
        let resources = bundle.to_resources(None);
        assert_eq!(resources.len(), 1);
        assert!(resources[0].revocable.is_some());
        assert_eq!(resources[0].scalar.as_ref().unwrap().value, 1.5);
        slack.revoked = true;
        assert!(slack.bundle().is_empty());
        assert_eq!(preempted_state(true), TaskState::TaskGone);
        assert_eq!(preempted_state(false), TaskState::TaskLost);
    }

    #[test]
    fn revocable_and_regular_of_one_name_do_not_mix() {
        let regular = Bundle::from(Res::new(1.0, 64.0, Vec::new()));
        let mut task = Bundle::of_kind(Kind::revocable(), &Res::new(1.0, 0.0, Vec::new()));
        // Revocable CPUs with regular memory: fine, as in Mesos.
        task.add(&Bundle::from(Res::new(0.0, 64.0, Vec::new())));
        assert_eq!(task.revocable_mix(), None);
        task.add(&regular);
        let error = task.revocable_mix().unwrap();
        assert!(error.contains("'cpus'"), "{error}");
    }
}
