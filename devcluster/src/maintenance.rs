//! Maintenance primitives, as in Mesos' maintenance.md: the operator posts a
//! schedule of windows (`/maintenance/schedule`, a
//! `mesos.v1.maintenance.Schedule` in JSON), which puts the machines in it in
//! DRAINING mode; offers of their agents carry the window's
//! `unavailability`, and each framework running something there gets an
//! inverse offer, which it accepts or declines (with filters).
//! `/machine/down` takes DRAINING machines DOWN (their agents are removed and
//! their tasks lost) and `/machine/up` brings DOWN machines back UP (their
//! agents rejoin with new agent ids) and out of the schedule.
//!
//! An agent is on a machine when both the machine's hostname (compared
//! without case) and its IP are the agent's. [`Maintenance`] holds the
//! schedule and the DOWN machines and checks every request (pure, unit
//! tested); the `impl State` below applies it to the cluster.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mesos::v1::maintenance::{Schedule, Window};
use mesos::v1::scheduler::{event, Event};
use mesos::v1::{
    machine_info, AgentId, InverseOffer, MachineId, OfferId, TaskState, Unavailability,
};
use tracing::info;

use crate::effect::Effect;
use crate::state::State;

/// Mesos' default `Filters.refuse_seconds`, also for inverse offers.
const DEFAULT_REFUSE: Duration = Duration::from_secs(5);

/// A machine as compared: lower-case hostname and IP, each optional.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    hostname: Option<String>,
    ip: Option<IpAddr>,
}

/// Checks a MachineID and gives its comparable form.
fn key(id: &MachineId) -> Result<Key, String> {
    let hostname = id
        .hostname
        .as_deref()
        .filter(|hostname| !hostname.is_empty())
        .map(str::to_lowercase);
    let ip = match id.ip.as_deref().filter(|ip| !ip.is_empty()) {
        Some(ip) => Some(
            ip.parse::<IpAddr>()
                .map_err(|error| format!("Invalid IP address '{ip}' of a MachineID: {error}"))?,
        ),
        None => None,
    };
    if hostname.is_none() && ip.is_none() {
        return Err("A MachineID needs a hostname or an IP".into());
    }
    Ok(Key { hostname, ip })
}

fn describe(id: &MachineId) -> String {
    format!(
        "{} ({})",
        id.hostname.as_deref().unwrap_or(""),
        id.ip.as_deref().unwrap_or("")
    )
}

/// Checks a list of machines (a `/machine/down` or `/machine/up` body):
/// each valid, none twice, at least one.
fn machine_keys(ids: &[MachineId]) -> Result<Vec<Key>, String> {
    if ids.is_empty() {
        return Err("List of machines is empty".into());
    }
    let mut keys: Vec<Key> = Vec::with_capacity(ids.len());
    for id in ids {
        let key = key(id)?;
        if keys.contains(&key) {
            return Err(format!("Machine {} appears more than once", describe(id)));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The schedule and which of its machines are DOWN.
#[derive(Debug, Default)]
pub(crate) struct Maintenance {
    schedule: Schedule,
    down: Vec<Key>,
}

impl Maintenance {
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The window a machine is in, if any.
    fn window_of(&self, machine: &Key) -> Option<&Window> {
        self.schedule.windows.iter().find(|window| {
            window
                .machine_ids
                .iter()
                .any(|id| key(id).is_ok_and(|key| key == *machine))
        })
    }

    fn mode_of(&self, machine: &Key) -> machine_info::Mode {
        if self.down.contains(machine) {
            machine_info::Mode::Down
        } else if self.window_of(machine).is_some() {
            machine_info::Mode::Draining
        } else {
            machine_info::Mode::Up
        }
    }

    /// The mode of the machine `hostname` / `ip` (an agent's).
    pub fn mode(&self, hostname: &str, ip: IpAddr) -> machine_info::Mode {
        self.mode_of(&agent_key(hostname, ip))
    }

    /// The unavailability of the machine `hostname` / `ip` while it drains.
    pub fn unavailability(&self, hostname: &str, ip: IpAddr) -> Option<Unavailability> {
        let machine = agent_key(hostname, ip);
        (self.mode_of(&machine) == machine_info::Mode::Draining)
            .then(|| self.window_of(&machine).map(|window| window.unavailability))
            .flatten()
    }

    /// Replaces the schedule: every machine valid and in one window only,
    /// every window with machines, and the DOWN machines still in it (they
    /// must be brought up first).
    pub fn set_schedule(&mut self, schedule: Schedule) -> Result<(), String> {
        let mut seen: Vec<Key> = Vec::new();
        for window in &schedule.windows {
            if window.machine_ids.is_empty() {
                return Err("List of machines in the maintenance window is empty".into());
            }
            if window
                .unavailability
                .duration
                .is_some_and(|duration| duration.nanoseconds < 0)
            {
                return Err("Unavailability's duration is negative".into());
            }
            for id in &window.machine_ids {
                let key = key(id)?;
                if seen.contains(&key) {
                    return Err(format!(
                        "Machine {} appears more than once in the schedule",
                        describe(id)
                    ));
                }
                seen.push(key);
            }
        }
        if let Some(down) = self.down.iter().find(|down| !seen.contains(down)) {
            return Err(format!(
                "Machine {down:?} is DOWN: bring it up (/machine/up) before removing it \
                 from the schedule"
            ));
        }
        self.schedule = schedule;
        Ok(())
    }

    /// DRAINING machines go DOWN; any other refuses the whole request.
    pub fn machines_down(&mut self, ids: &[MachineId]) -> Result<(), String> {
        let keys = machine_keys(ids)?;
        for (id, key) in ids.iter().zip(&keys) {
            if self.mode_of(key) != machine_info::Mode::Draining {
                return Err(format!(
                    "Machine {} is not in DRAINING mode (it must be in the maintenance \
                     schedule and not DOWN already)",
                    describe(id)
                ));
            }
        }
        self.down.extend(keys);
        Ok(())
    }

    /// DOWN machines come UP and leave the schedule (windows left empty
    /// go too); any machine not DOWN refuses the whole request.
    pub fn machines_up(&mut self, ids: &[MachineId]) -> Result<(), String> {
        let keys = machine_keys(ids)?;
        for (id, key) in ids.iter().zip(&keys) {
            if !self.down.contains(key) {
                return Err(format!("Machine {} is not in DOWN mode", describe(id)));
            }
        }
        self.down.retain(|down| !keys.contains(down));
        for window in &mut self.schedule.windows {
            window
                .machine_ids
                .retain(|id| key(id).map_or(true, |key| !keys.contains(&key)));
        }
        self.schedule
            .windows
            .retain(|window| !window.machine_ids.is_empty());
        Ok(())
    }
}

fn agent_key(hostname: &str, ip: IpAddr) -> Key {
    Key {
        hostname: Some(hostname.to_lowercase()),
        ip: Some(ip),
    }
}

/// An inverse offer sent and not answered yet.
#[derive(Debug, Clone)]
pub(crate) struct InverseOfferRec {
    pub framework_id: mesos::id::Framework,
    pub agent: usize,
}

/// Inverse offers out, and the frameworks' refusals to hear again.
#[derive(Debug, Default)]
pub(crate) struct InverseOffers {
    pub outstanding: HashMap<String, InverseOfferRec>,
    /// `(framework, agent)`: no new inverse offer before then.
    pub filters: HashMap<(mesos::id::Framework, usize), Instant>,
}

/// What an operator endpoint answers: 200 with a body, or 400 and why.
pub(crate) type OperatorResult = Result<String, String>;

impl State {
    /// The agent's machine mode.
    pub(crate) fn agent_mode(&self, agent: usize) -> machine_info::Mode {
        let agent = &self.agents[agent];
        self.maintenance.mode(&agent.hostname, agent.addr.ip())
    }

    /// The unavailability offers of this agent carry (while it drains).
    pub(crate) fn agent_unavailability(&self, agent: usize) -> Option<Unavailability> {
        let agent = &self.agents[agent];
        self.maintenance
            .unavailability(&agent.hostname, agent.addr.ip())
    }

    /// `GET /maintenance/schedule`.
    pub(crate) fn get_schedule(&self) -> OperatorResult {
        serde_json::to_string(self.maintenance.schedule()).map_err(|error| error.to_string())
    }

    /// `POST /maintenance/schedule`: the new schedule; outstanding offers and
    /// inverse offers of agents whose unavailability changed are rescinded
    /// (new ones carry the new window).
    pub(crate) fn post_schedule(&mut self, body: &[u8]) -> OperatorResult {
        let schedule: Schedule = serde_json::from_slice(body)
            .map_err(|error| format!("Failed to parse the schedule: {error}"))?;
        let before: Vec<_> = (0..self.agents.len())
            .map(|agent| self.agent_unavailability(agent))
            .collect();
        self.maintenance.set_schedule(schedule)?;
        info!(
            windows = self.maintenance.schedule().windows.len(),
            "maintenance schedule updated"
        );
        for (agent, before) in before.into_iter().enumerate() {
            if self.agent_unavailability(agent) != before {
                crate::faults::rescind_agent_offers(self, agent);
                self.rescind_inverse_offers(agent);
            }
        }
        // Frameworks hear of the window before they see the new offers.
        self.send_inverse_offers(self.clock.now());
        self.allocation_needed = true;
        Ok(String::new())
    }

    /// `POST /machine/down`: the machines go DOWN and their agents leave.
    pub(crate) fn post_machine_down(&mut self, body: &[u8]) -> OperatorResult {
        let ids: Vec<MachineId> = serde_json::from_slice(body)
            .map_err(|error| format!("Failed to parse the list of machines: {error}"))?;
        self.maintenance.machines_down(&ids)?;
        for agent in 0..self.agents.len() {
            if self.agents[agent].alive && self.agent_mode(agent) == machine_info::Mode::Down {
                info!(agent = %self.agents[agent].id, "machine DOWN: removing its agent");
                self.rescind_inverse_offers(agent);
                crate::faults::remove_agent(
                    self,
                    agent,
                    TaskState::TaskGone,
                    "Operator initiated 'Machine DOWN'",
                );
            }
        }
        Ok(String::new())
    }

    /// `POST /machine/up`: the machines come UP; their agents register
    /// again, with new ids and nothing running.
    pub(crate) fn post_machine_up(&mut self, body: &[u8]) -> OperatorResult {
        let ids: Vec<MachineId> = serde_json::from_slice(body)
            .map_err(|error| format!("Failed to parse the list of machines: {error}"))?;
        let was_down: Vec<bool> = (0..self.agents.len())
            .map(|agent| self.agent_mode(agent) == machine_info::Mode::Down)
            .collect();
        self.maintenance.machines_up(&ids)?;
        for (agent, was_down) in was_down.into_iter().enumerate() {
            if was_down && self.agent_mode(agent) == machine_info::Mode::Up {
                let seq = self.next_seq();
                let old_volumes = self.volume_root(agent);
                let rec = &mut self.agents[agent];
                rec.id = format!("{}-S{agent}-{seq}", self.master_id);
                rec.alive = true;
                rec.down_until = None;
                info!(agent = %rec.id, "machine UP: its agent registers again");
                // Its checkpointed resources (reservations, volumes) come
                // back with it, and so do the volumes' directories.
                let new_volumes = self.volume_root(agent);
                self.effect(Effect::MoveDir {
                    from: old_volumes,
                    to: new_volumes,
                });
                // Filters were about the agent that left.
                for framework in self.frameworks.values_mut() {
                    framework.filters.retain(|filter| filter.agent != agent);
                }
                self.inverse_offers
                    .filters
                    .retain(|(_, filtered), _| *filtered != agent);
            }
        }
        self.allocation_needed = true;
        Ok(String::new())
    }

    /// Withdraws the inverse offers outstanding for an agent.
    fn rescind_inverse_offers(&mut self, agent: usize) {
        let ids: Vec<(String, mesos::id::Framework)> = self
            .inverse_offers
            .outstanding
            .iter()
            .filter(|(_, offer)| offer.agent == agent)
            .map(|(id, offer)| (id.clone(), offer.framework_id.clone()))
            .collect();
        for (id, framework_id) in ids {
            self.inverse_offers.outstanding.remove(&id);
            self.send(
                &framework_id,
                &Event {
                    r#type: Some(event::Type::RescindInverseOffer as i32),
                    rescind_inverse_offer: Some(event::RescindInverseOffer {
                        inverse_offer_id: OfferId { value: id },
                    }),
                    ..Default::default()
                },
            );
        }
    }

    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: the inverse offers
    /// are answered; none comes again for the agent within the filter.
    pub(crate) fn answer_inverse_offers(
        &mut self,
        framework_id: &str,
        ids: &[OfferId],
        filters: Option<&mesos::v1::Filters>,
        accepted: bool,
    ) {
        let refuse = filters
            .and_then(|filters| filters.refuse_seconds)
            .and_then(|secs| crate::config::seconds(secs.max(0.0)))
            .unwrap_or(DEFAULT_REFUSE);
        for id in ids {
            let Some(offer) = self
                .inverse_offers
                .outstanding
                .get(&id.value)
                .filter(|offer| offer.framework_id == framework_id)
                .cloned()
            else {
                continue;
            };
            self.inverse_offers.outstanding.remove(&id.value);
            info!(framework = %framework_id, agent = %self.agents[offer.agent].id, accepted, "inverse offer answered");
            if let Some(until) = self.clock.now().checked_add(refuse) {
                self.inverse_offers
                    .filters
                    .insert((framework_id.into(), offer.agent), until);
            }
        }
    }

    /// Sends an inverse offer to every subscribed framework that runs
    /// something on a draining agent and has none outstanding or filtered
    /// for it (called by the ticker).
    pub(crate) fn send_inverse_offers(&mut self, now: Instant) {
        self.inverse_offers.filters.retain(|_, until| *until > now);
        let mut due = Vec::new();
        for agent in 0..self.agents.len() {
            if !self.agents[agent].serving(now) {
                continue;
            }
            let Some(unavailability) = self.agent_unavailability(agent) else {
                continue;
            };
            for framework in self.frameworks.values() {
                if framework.stream.is_none() {
                    continue;
                }
                let uses_agent = self.tasks.iter().any(|((fw, _), task)| {
                    *fw == framework.id && task.agent == agent && !task.state.is_terminal()
                }) || self.agents[agent]
                    .executors
                    .values()
                    .any(|exec| exec.framework_id == framework.id);
                let answered = self
                    .inverse_offers
                    .filters
                    .contains_key(&(framework.id.clone(), agent));
                let outstanding = self
                    .inverse_offers
                    .outstanding
                    .values()
                    .any(|offer| offer.framework_id == framework.id && offer.agent == agent);
                if uses_agent && !answered && !outstanding {
                    due.push((framework.id.clone(), agent, unavailability));
                }
            }
        }
        for (framework_id, agent, unavailability) in due {
            let seq = self.next_seq();
            let id = format!("{}-IO{seq}", self.master_id);
            let rec = &self.agents[agent];
            let inverse_offer = InverseOffer {
                id: OfferId { value: id.clone() },
                url: None,
                framework_id: framework_id.to_proto(),
                agent_id: Some(AgentId {
                    value: rec.id.clone(),
                }),
                unavailability,
                // Empty: all of the agent's resources.
                resources: Vec::new(),
            };
            info!(framework = %framework_id, agent = %rec.id, "inverse offer");
            self.inverse_offers.outstanding.insert(
                id,
                InverseOfferRec {
                    framework_id: framework_id.clone(),
                    agent,
                },
            );
            self.send(
                &framework_id,
                &Event {
                    r#type: Some(event::Type::InverseOffers as i32),
                    inverse_offers: Some(event::InverseOffers {
                        inverse_offers: vec![inverse_offer],
                    }),
                    ..Default::default()
                },
            );
        }
    }

    /// Forgets a framework's inverse offers (it disconnected or left).
    pub(crate) fn forget_inverse_offers(&mut self, framework_id: &str) {
        self.inverse_offers
            .outstanding
            .retain(|_, offer| offer.framework_id != framework_id);
    }
}

#[cfg(test)]
mod tests {
    use mesos::v1::{DurationInfo, TimeInfo};

    use super::*;

    fn machine(hostname: &str, ip: &str) -> MachineId {
        MachineId {
            hostname: Some(hostname.into()),
            ip: Some(ip.into()),
        }
    }

    fn window(machines: Vec<MachineId>, start_secs: i64) -> Window {
        Window {
            machine_ids: machines,
            unavailability: Unavailability {
                start: TimeInfo {
                    nanoseconds: start_secs * 1_000_000_000,
                },
                duration: Some(DurationInfo {
                    nanoseconds: 3_600_000_000_000,
                }),
            },
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn modes_follow_schedule_down_and_up() {
        let mut maintenance = Maintenance::default();
        let a = machine("Agent-A", "127.0.0.1");
        let b = machine("agent-b", "127.0.0.1");
        maintenance
            .set_schedule(Schedule {
                windows: vec![window(vec![a.clone()], 100), window(vec![b.clone()], 200)],
            })
            .unwrap();
        // Hostnames compare without case; both hostname and IP must match.
        assert_eq!(
            maintenance.mode("agent-a", ip("127.0.0.1")),
            machine_info::Mode::Draining
        );
        assert_eq!(
            maintenance.mode("agent-a", ip("127.0.0.2")),
            machine_info::Mode::Up
        );
        assert_eq!(
            maintenance
                .unavailability("agent-b", ip("127.0.0.1"))
                .unwrap()
                .start
                .nanoseconds,
            200_000_000_000
        );
        assert!(maintenance
            .unavailability("other", ip("127.0.0.1"))
            .is_none());

        // Only DRAINING machines go down, only DOWN ones come up.
        assert!(maintenance
            .machines_down(&[machine("other", "127.0.0.1")])
            .is_err());
        assert!(maintenance.machines_up(std::slice::from_ref(&a)).is_err());
        maintenance.machines_down(std::slice::from_ref(&a)).unwrap();
        assert_eq!(
            maintenance.mode("agent-a", ip("127.0.0.1")),
            machine_info::Mode::Down
        );
        assert!(maintenance
            .unavailability("agent-a", ip("127.0.0.1"))
            .is_none());
        assert!(maintenance.machines_down(std::slice::from_ref(&a)).is_err());

        // A DOWN machine cannot leave the schedule.
        let error = maintenance
            .set_schedule(Schedule {
                windows: vec![window(vec![b.clone()], 200)],
            })
            .unwrap_err();
        assert!(error.contains("DOWN"), "{error}");

        maintenance.machines_up(&[a]).unwrap();
        assert_eq!(
            maintenance.mode("agent-a", ip("127.0.0.1")),
            machine_info::Mode::Up
        );
        // Its window went with it; the other stays.
        assert_eq!(maintenance.schedule().windows.len(), 1);
        assert_eq!(maintenance.schedule().windows[0].machine_ids, [b]);
    }

    #[test]
    fn bad_schedules_and_machine_lists_are_refused() {
        let mut maintenance = Maintenance::default();
        let a = machine("a", "127.0.0.1");
        for (schedule, wanted) in [
            (
                Schedule {
                    windows: vec![window(vec![], 1)],
                },
                "empty",
            ),
            (
                Schedule {
                    windows: vec![window(vec![a.clone()], 1), window(vec![a.clone()], 2)],
                },
                "more than once",
            ),
            (
                Schedule {
                    windows: vec![window(vec![machine("a", "not-an-ip")], 1)],
                },
                "Invalid IP",
            ),
            (
                Schedule {
                    windows: vec![window(vec![MachineId::default()], 1)],
                },
                "hostname or an IP",
            ),
        ] {
            let error = maintenance.set_schedule(schedule).unwrap_err();
            assert!(error.contains(wanted), "{error}");
        }
        let mut negative = window(vec![a.clone()], 1);
        negative.unavailability.duration = Some(DurationInfo { nanoseconds: -1 });
        assert!(maintenance
            .set_schedule(Schedule {
                windows: vec![negative]
            })
            .is_err());
        assert!(maintenance.schedule().windows.is_empty());
        assert!(maintenance.machines_down(&[]).is_err());
        maintenance
            .set_schedule(Schedule {
                windows: vec![window(vec![a.clone()], 1)],
            })
            .unwrap();
        let error = maintenance
            .machines_down(&[a.clone(), a.clone()])
            .unwrap_err();
        assert!(error.contains("more than once"), "{error}");
    }

    #[test]
    fn schedule_json_is_mesos_json() {
        let json = r#"{"windows":[{"machine_ids":[{"hostname":"h","ip":"127.0.0.1"}],
            "unavailability":{"start":{"nanoseconds":1000},"duration":{"nanoseconds":5}}}]}"#;
        let schedule: Schedule = serde_json::from_str(json).unwrap();
        assert_eq!(schedule.windows[0].unavailability.start.nanoseconds, 1000);
        let text = serde_json::to_string(&schedule).unwrap();
        assert!(text.contains(r#""nanoseconds":1000"#), "{text}");
        let ids: Vec<MachineId> =
            serde_json::from_str(r#"[{"hostname":"h","ip":"127.0.0.1"}]"#).unwrap();
        assert_eq!(ids, [machine("h", "127.0.0.1")]);
    }
}
