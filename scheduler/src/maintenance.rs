//! Maintenance as the scheduler answers it (Mesos' maintenance primitives):
//! the master announces that an agent's machine goes away during an
//! `Unavailability` with inverse offers and with the `unavailability` of
//! that agent's offers. [`Maintenance`] remembers each agent's window and
//! the inverse offers outstanding; [`drain`] turns that into decisions:
//!
//! - from `maintenance.drain_lead_secs` before the window starts until it
//!   ends, the agent is *draining*: its miners are killed (the master kills
//!   with their kill policy's grace: SIGTERM, then SIGKILL) and its offers
//!   declined, so no miner is launched there during the window;
//! - the proxy is never launched on an agent with a window that has not
//!   ended; one already running there is *moved* once the agent drains: it
//!   is killed (with its grace), and so are the miners that mined through
//!   it, its home (reservation and persistent volume, see
//!   [`crate::volume`]) is given up, and the planner starts a fresh proxy,
//!   with a fresh volume, on another agent;
//! - once nothing of ours runs on a draining agent, its inverse offers are
//!   accepted (ACCEPT_INVERSE_OFFERS).
//!
//! What keeps found blocks safe across a move: the proxy journals a found
//! block (fsync) before it submits it and submits it at once, and it is
//! killed with its grace period, so a block is either answered by the node
//! before the proxy exits or stays unresolved in the journal on the old
//! volume. The old volume is not destroyed while its agent is away: it is
//! a leftover the planner destroys only when the agent offers it again
//! after the window. Unpaid work (the PPLNS window's shares since the last
//! block) does not move: the fresh proxy starts a new window; the old one
//! stays on the old volume until then. Moving before the window, with the
//! lead, is what keeps the node answering every submission in time.

use std::collections::BTreeMap;

use mesos::id;
use mesos::v1::{InverseOffer, Offer, Unavailability};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::decision::Decision;
use crate::tasks::TaskBook;

/// How the scheduler answers maintenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// How long before a window starts its agent is drained (miners killed,
    /// the proxy moved), in seconds.
    pub drain_lead_secs: f64,
    /// `Filters.refuse_seconds` of accepted inverse offers (`refuse_secs` in the file).
    #[serde(rename = "refuse_secs", alias = "refuse_seconds")]
    pub refuse_seconds: f64,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            drain_lead_secs: 300.0,
            refuse_seconds: 30.0,
        }
    }
}

/// A machine's announced unavailability, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the machine may go away.
    pub start_ms: u64,
    /// When it may be back; `None`: never (no duration given).
    pub end_ms: Option<u64>,
}

impl Window {
    /// The window of an `Unavailability` (negative times read as 0).
    pub fn of(unavailability: &Unavailability) -> Self {
        let nanos_to_ms = |nanos: i64| u64::try_from(nanos).unwrap_or(0) / 1_000_000;
        let start_ms = nanos_to_ms(unavailability.start.nanoseconds);
        let end_ms = unavailability
            .duration
            .map(|duration| start_ms.saturating_add(nanos_to_ms(duration.nanoseconds)));
        Self { start_ms, end_ms }
    }

    /// Over at `now_ms`.
    pub fn ended(&self, now_ms: u64) -> bool {
        self.end_ms.is_some_and(|end| now_ms >= end)
    }

    /// Within `lead_ms` of its start, or in it, at `now_ms`.
    pub fn draining(&self, now_ms: u64, lead_ms: u64) -> bool {
        !self.ended(now_ms) && now_ms.saturating_add(lead_ms) >= self.start_ms
    }
}

/// What the master told us of maintenance: each agent's window and the
/// inverse offers not answered yet.
#[derive(Debug, Default)]
pub struct Maintenance {
    windows: BTreeMap<String, Window>,
    /// Inverse offer id -> agent id.
    inverse_offers: BTreeMap<String, String>,
}

impl Maintenance {
    /// An INVERSE_OFFERS event's inverse offer (one without an agent is for
    /// no machine we know: ignored).
    pub fn note_inverse_offer(&mut self, offer: &InverseOffer) {
        let Some(agent_id) = offer.agent_id.as_ref().map(|agent| agent.value.clone()) else {
            warn!(id = %offer.id.value, "inverse offer without an agent: ignored");
            return;
        };
        let window = Window::of(&offer.unavailability);
        info!(agent = %agent_id, id = %offer.id.value, ?window, "inverse offer: the agent goes into maintenance");
        self.windows.insert(agent_id.clone(), window);
        self.inverse_offers.insert(offer.id.value.clone(), agent_id);
    }

    /// RESCIND_INVERSE_OFFER.
    pub fn rescind(&mut self, inverse_offer_id: &str) {
        self.inverse_offers.remove(inverse_offer_id);
    }

    /// An offer tells its agent's window (`unavailability`), or that there
    /// is none any more.
    pub fn note_offer(&mut self, offer: &Offer) {
        let agent_id = &offer.agent_id.value;
        match &offer.unavailability {
            Some(unavailability) => {
                self.windows
                    .insert(agent_id.clone(), Window::of(unavailability));
            }
            None => {
                if self.windows.remove(agent_id).is_some() {
                    info!(agent = %agent_id, "the agent's maintenance is off");
                }
            }
        }
    }

    /// The agent's window, if one is known.
    pub fn window(&self, agent_id: &str) -> Option<Window> {
        self.windows.get(agent_id).copied()
    }

    /// Whether miners must be off the agent at `now_ms`.
    pub fn draining(&self, agent_id: &str, now_ms: u64, lead_ms: u64) -> bool {
        self.window(agent_id)
            .is_some_and(|window| window.draining(now_ms, lead_ms))
    }

    /// Whether the proxy must not be launched on the agent: a window that
    /// has not ended.
    pub fn avoid_for_proxy(&self, agent_id: &str, now_ms: u64) -> bool {
        self.window(agent_id)
            .is_some_and(|window| !window.ended(now_ms))
    }

    /// Inverse offers outstanding, with their agents.
    pub fn inverse_offers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inverse_offers
            .iter()
            .map(|(id, agent)| (id.as_str(), agent.as_str()))
    }

    /// Forgets windows that ended (their agents are back or gone).
    fn expire(&mut self, now_ms: u64) {
        self.windows.retain(|_, window| !window.ended(now_ms));
    }
}

/// The kills, proxy move and inverse-offer acceptances maintenance asks for
/// at `now_ms`; the book is updated (kills requested, home given up).
pub fn drain(
    config: &MaintenanceConfig,
    maintenance: &mut Maintenance,
    book: &mut TaskBook,
    now_ms: u64,
) -> Vec<Decision> {
    maintenance.expire(now_ms);
    let lead_ms = (config.drain_lead_secs * 1000.0) as u64;
    let mut decisions = Vec::new();
    let proxy_moves = book.proxy().is_some_and(|proxy| {
        !proxy.kill_requested && maintenance.draining(proxy.agent_id.as_str(), now_ms, lead_ms)
    });
    if proxy_moves {
        let (proxy_id, agent_id) = book
            .proxy()
            .map(|proxy| (proxy.id.clone(), proxy.agent_id.clone()))
            .expect("checked above");
        warn!(task = %proxy_id, agent = %agent_id, "the proxy's agent goes into maintenance: moving the proxy");
        decisions.extend(book.kill(proxy_id.as_str()));
        let miners: Vec<id::Task> = book.miners().map(|miner| miner.id.clone()).collect();
        for miner in miners {
            decisions.extend(book.kill(miner.as_str()));
        }
    }
    // A home on an agent with a window is given up while no proxy runs on
    // it: the next proxy starts elsewhere, with a fresh volume.
    let home_agent = book.home().site.as_ref().map(|site| site.agent_id.clone());
    if let Some(home_agent) = home_agent {
        let proxy_at_home = book
            .proxy()
            .is_some_and(|proxy| proxy.agent_id == home_agent && !proxy.kill_requested);
        if !proxy_at_home && maintenance.avoid_for_proxy(&home_agent, now_ms) {
            if let Some(site) = book.home_mut().abandon() {
                warn!(agent = %site.agent_id, persistence_id = %site.persistence_id,
                    "the proxy's home agent goes into maintenance: the next proxy gets a fresh volume \
                     elsewhere (the old one is kept until the agent offers it again)");
            }
        }
    }
    let draining_miners: Vec<id::Task> = book
        .miners()
        .filter(|miner| {
            !miner.kill_requested && maintenance.draining(miner.agent_id.as_str(), now_ms, lead_ms)
        })
        .map(|miner| miner.id.clone())
        .collect();
    for miner in draining_miners {
        info!(task = %miner, "draining a miner before its agent's maintenance");
        decisions.extend(book.kill(miner.as_str()));
    }
    let accepted: Vec<id::Offer> = maintenance
        .inverse_offers()
        .filter(|(_, agent)| {
            maintenance.draining(agent, now_ms, lead_ms)
                && !book.tasks().any(|task| task.agent_id == *agent)
        })
        .map(|(id, _)| id::Offer::from(id))
        .collect();
    if !accepted.is_empty() {
        for id in &accepted {
            maintenance.rescind(id.as_str());
        }
        info!(inverse_offers = ?accepted, "drained: accepting the inverse offers");
        decisions.push(Decision::AcceptInverseOffers {
            inverse_offer_ids: accepted,
            refuse_seconds: config.refuse_seconds,
        });
    }
    decisions
}

/// Splits offers into those the planner may use and those maintenance
/// declines: draining agents' offers, while a proxy is to be launched
/// offers of agents with a window that has not ended, and every offer while
/// the proxy is being moved (no miner for a proxy that is going away).
pub fn screen_offers(
    config: &MaintenanceConfig,
    maintenance: &Maintenance,
    book: &TaskBook,
    offers: &[Offer],
    now_ms: u64,
) -> (Vec<Offer>, Vec<id::Offer>) {
    let lead_ms = (config.drain_lead_secs * 1000.0) as u64;
    let proxy_wanted = book.proxy().is_none();
    let proxy_moving = book.proxy().is_some_and(|proxy| proxy.kill_requested);
    let mut usable = Vec::new();
    let mut declined = Vec::new();
    for offer in offers {
        let agent = offer.agent_id.value.as_str();
        if proxy_moving
            || maintenance.draining(agent, now_ms, lead_ms)
            || (proxy_wanted && maintenance.avoid_for_proxy(agent, now_ms))
        {
            declined.push(id::Offer::from(&offer.id));
        } else {
            usable.push(offer.clone());
        }
    }
    (usable, declined)
}

#[cfg(test)]
mod tests {
    use mesos::v1::scheduler::{event, Event};
    use mesos::v1::{AgentId, DurationInfo, OfferId, TaskState as P, TimeInfo};

    use super::*;
    use crate::framework::Framework;
    use crate::plan::tests::{config, offer};
    use crate::state::PersistedState;
    use crate::tasks::tests::status;

    const SEC: u64 = 1000;

    fn unavailability(start_ms: u64, duration_ms: Option<u64>) -> Unavailability {
        Unavailability {
            start: TimeInfo {
                nanoseconds: (start_ms * 1_000_000) as i64,
            },
            duration: duration_ms.map(|ms| DurationInfo {
                nanoseconds: (ms * 1_000_000) as i64,
            }),
        }
    }

    fn inverse_offer(id: &str, agent: &str, start_ms: u64) -> InverseOffer {
        InverseOffer {
            id: OfferId { value: id.into() },
            framework_id: mesos::v1::FrameworkId { value: "fw".into() },
            agent_id: Some(AgentId {
                value: agent.into(),
            }),
            unavailability: unavailability(start_ms, Some(3600 * SEC)),
            ..Default::default()
        }
    }

    fn kills(decisions: &[Decision]) -> Vec<String> {
        let mut ids: Vec<String> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Kill { task_id, .. } => Some(task_id.to_string()),
                _ => None,
            })
            .collect();
        ids.sort();
        ids
    }

    fn accepted(decisions: &[Decision]) -> Vec<String> {
        decisions
            .iter()
            .flat_map(|d| match d {
                Decision::AcceptInverseOffers {
                    inverse_offer_ids, ..
                } => inverse_offer_ids.iter().map(ToString::to_string).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn launched_on(decisions: &[Decision]) -> Vec<(String, String)> {
        decisions
            .iter()
            .flat_map(|d| match d {
                Decision::Launch { tasks, .. } => tasks
                    .iter()
                    .map(|t| (t.task_id.value.clone(), t.agent_id.value.clone()))
                    .collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn declined(decisions: &[Decision]) -> Vec<String> {
        decisions
            .iter()
            .flat_map(|d| match d {
                Decision::Decline { offer_ids, .. } => {
                    offer_ids.iter().map(ToString::to_string).collect()
                }
                _ => Vec::new(),
            })
            .collect()
    }

    /// A framework with a RUNNING proxy on agent p and RUNNING miners on a
    /// and b.
    fn mining() -> Framework {
        let mut framework = Framework::new(config(), PersistedState::default());
        framework.on_subscribed("fw", 0);
        let decisions = framework.on_offers(&[offer("op", "p", 1.0, 512.0, &[(31000, 31001)])], 0);
        let (proxy, _) = launched_on(&decisions).remove(0);
        framework.on_update(&status(&proxy, "p", P::TaskRunning), 1);
        let decisions = framework.on_offers(
            &[
                offer("oa", "a", 2.0, 512.0, &[]),
                offer("ob", "b", 2.0, 512.0, &[]),
            ],
            2,
        );
        for (task, agent) in launched_on(&decisions) {
            framework.on_update(&status(&task, &agent, P::TaskRunning), 3);
        }
        assert_eq!(framework.state().book.miners().count(), 2);
        framework
    }

    fn miner_on(framework: &Framework, agent: &str) -> String {
        framework
            .state()
            .book
            .miners()
            .find(|m| m.agent_id == agent)
            .unwrap()
            .id
            .to_string()
    }

    #[test]
    fn windows_from_unavailability() {
        let window = Window::of(&unavailability(10 * SEC, Some(5 * SEC)));
        assert_eq!(
            window,
            Window {
                start_ms: 10 * SEC,
                end_ms: Some(15 * SEC)
            }
        );
        assert!(!window.draining(0, 5 * SEC));
        assert!(window.draining(5 * SEC, 5 * SEC));
        assert!(window.draining(12 * SEC, 0));
        assert!(window.ended(15 * SEC) && !window.draining(15 * SEC, 5 * SEC));
        let forever = Window::of(&unavailability(10 * SEC, None));
        assert!(forever.end_ms.is_none() && !forever.ended(u64::MAX));
    }

    #[test]
    fn drains_miners_before_the_window_then_accepts() {
        let mut framework = mining();
        let miner_a = miner_on(&framework, "a");
        let start = 1000 * SEC;
        // Far from the window: nothing happens, the inverse offer waits.
        let decisions = framework.handle_event(
            &Event {
                r#type: Some(event::Type::InverseOffers as i32),
                inverse_offers: Some(event::InverseOffers {
                    inverse_offers: vec![inverse_offer("io-a", "a", start)],
                }),
                ..Default::default()
            },
            10 * SEC,
        );
        let decisions = decisions.unwrap();
        assert!(kills(&decisions).is_empty(), "{decisions:?}");
        assert!(accepted(&decisions).is_empty());

        // Within the lead (300 s): the miner on a is killed, not b's.
        let now = start - 299 * SEC;
        let decisions = framework.tick(now);
        assert_eq!(kills(&decisions), std::slice::from_ref(&miner_a));
        assert!(accepted(&decisions).is_empty(), "not drained yet");

        // a's offers are declined during the window; b's are used.
        let mut oa = offer("oa2", "a", 2.0, 512.0, &[]);
        oa.unavailability = Some(unavailability(start, Some(3600 * SEC)));
        let decisions = framework.on_offers(&[oa], now + 1);
        assert_eq!(declined(&decisions), ["oa2"]);
        assert!(launched_on(&decisions).is_empty());

        // Its end is not a failure; the agent is drained: accept.
        let decisions = framework.on_update(&status(&miner_a, "a", P::TaskKilled), now + 2);
        assert_eq!(accepted(&decisions), ["io-a"]);
        assert!(framework.state().book.miner_backoff("a").is_none());
        // Accepted once.
        assert!(accepted(&framework.tick(now + 3)).is_empty());

        // After the window, a (back, without unavailability) mines again.
        let after = start + 3601 * SEC;
        framework.tick(after);
        let decisions = framework.on_offers(&[offer("oa3", "a", 2.0, 512.0, &[])], after);
        assert_eq!(launched_on(&decisions).len(), 1, "{decisions:?}");
        assert_eq!(launched_on(&decisions)[0].1, "a");
    }

    #[test]
    fn the_proxy_moves_before_its_agents_window() {
        let mut framework = mining();
        let proxy = framework.state().book.proxy().unwrap().id.clone();
        let start = 1000 * SEC;
        framework.on_inverse_offers(&[inverse_offer("io-p", "p", start)], 10 * SEC);
        // Not yet: the proxy keeps running until the lead.
        assert!(kills(&framework.tick(20 * SEC)).is_empty());
        let now = start - 300 * SEC;
        let decisions = framework.tick(now);
        let mut wanted = vec![
            proxy.to_string(),
            miner_on(&framework, "a"),
            miner_on(&framework, "b"),
        ];
        wanted.sort();
        assert_eq!(kills(&decisions), wanted, "the proxy and its miners");
        // While the proxy goes, no miner is launched anywhere.
        let decisions = framework.on_offers(&[offer("oc", "c", 2.0, 512.0, &[])], now);
        assert_eq!(declined(&decisions), ["oc"]);
        assert!(launched_on(&decisions).is_empty());
        for task in framework
            .state()
            .book
            .tasks()
            .map(|t| (t.id.to_string(), t.agent_id.to_string()))
            .collect::<Vec<_>>()
        {
            framework.on_update(&status(&task.0, &task.1, P::TaskKilled), now + 1);
        }
        assert!(framework.state().book.proxy().is_none());
        assert_eq!(
            framework.state().book.proxy_backoff_ms(now + 2),
            0,
            "a move is not a failure"
        );
        // The new proxy goes anywhere but p.
        let mut op = offer("op2", "p", 1.0, 512.0, &[(31000, 31001)]);
        op.unavailability = Some(unavailability(start, Some(3600 * SEC)));
        let decisions = framework.on_offers(
            &[op, offer("oa", "a", 1.0, 512.0, &[(31000, 31001)])],
            now + 3,
        );
        assert_eq!(declined(&decisions), ["op2"]);
        let launched = launched_on(&decisions);
        assert_eq!(launched.len(), 1);
        assert_eq!(launched[0].1, "a");
    }

    #[test]
    fn no_proxy_on_an_agent_with_an_upcoming_window() {
        let mut framework = Framework::new(config(), PersistedState::default());
        framework.on_subscribed("fw", 0);
        let mut op = offer("op", "p", 1.0, 512.0, &[(31000, 31001)]);
        // Days away, far beyond the lead: still no proxy there.
        op.unavailability = Some(unavailability(86_400 * SEC, None));
        let decisions = framework.on_offers(&[op], 0);
        assert_eq!(declined(&decisions), ["op"]);
        assert!(launched_on(&decisions).is_empty());
    }

    #[test]
    fn a_home_on_a_maintained_agent_is_given_up() {
        let mut config = config();
        config.proxy.volume.enabled = true;
        let mut book = TaskBook::default();
        book.home_mut().site = Some(crate::volume::Site {
            agent_id: "p".into(),
            persistence_id: "mesos-miner-proxy-1".into(),
        });
        book.home_mut().generation = 1;
        let mut maintenance = Maintenance::default();
        maintenance.note_inverse_offer(&inverse_offer("io", "p", 1_000 * SEC));
        drain(&config.maintenance, &mut maintenance, &mut book, 0);
        assert!(book.home().site.is_none());
        // Its generation is not reused.
        assert_eq!(book.home_mut().next_persistence_id(), "mesos-miner-proxy-2");
    }
}
