//! The proxy's home: resources dynamically reserved for our role on one
//! agent and the persistent volume the proxy's journal lives on, so a
//! relaunched proxy finds the blocks it journaled but did not submit and the
//! PPLNS window it was paying.
//!
//! What is ours is told by the offers alone, as Mesos frameworks do:
//! reservations for `framework.role` carrying the label
//! [`RESERVATION_LABEL`], volumes with a persistence id starting with
//! [`PERSISTENCE_PREFIX`]. The [`Home`] (agent and persistence id, kept in
//! the task book) only says which of them is the current one; after a
//! scheduler restart without state, the first of our volumes offered becomes
//! it. Everything else of ours that is offered is a leftover: destroyed and
//! unreserved ([`cleanup`]).

use mesos::v1::{offer, resource, Label, Labels, Resource, Volume};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// Label key on our reservations; its value names what they are for.
pub const RESERVATION_LABEL: &str = "mesos-miner.reservation";
/// The label value of the proxy's reservation.
pub const RESERVATION_FOR: &str = "proxy";
/// Persistence ids of the proxy's volumes: this prefix and a generation.
pub const PERSISTENCE_PREFIX: &str = "mesos-miner-proxy-";

/// Where the proxy's volume is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// The agent holding the reservation and the volume.
    pub agent_id: String,
    /// The volume's `disk.persistence.id`.
    pub persistence_id: String,
}

/// The proxy's current home and what it takes to find or replace it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Home {
    /// The current reservation and volume, once created or found in offers.
    pub site: Option<Site>,
    /// Generations of persistence ids handed out.
    pub generation: u64,
    /// Since when a proxy is wanted and the home agent has not offered.
    pub waiting_since_ms: Option<u64>,
}

impl Home {
    /// A new persistence id, never used by this scheduler before.
    pub fn next_persistence_id(&mut self) -> String {
        self.generation += 1;
        format!("{PERSISTENCE_PREFIX}{}", self.generation)
    }

    /// Forgets a home whose agent has been gone too long.
    pub fn abandon(&mut self) -> Option<Site> {
        self.waiting_since_ms = None;
        self.site.take()
    }
}

/// The generation in one of our persistence ids (to never reuse it).
fn generation_of(persistence_id: &str) -> Option<u64> {
    persistence_id
        .strip_prefix(PERSISTENCE_PREFIX)?
        .parse()
        .ok()
}

fn is_our_reservation(config: &Config, resource: &Resource) -> bool {
    resource.reservations.last().is_some_and(|reservation| {
        reservation.role.as_deref() == Some(config.framework.role.as_str())
            && reservation.labels.as_ref().is_some_and(|labels| {
                labels.labels.iter().any(|label| {
                    label.key == RESERVATION_LABEL
                        && label.value.as_deref() == Some(RESERVATION_FOR)
                })
            })
    })
}

/// The persistence id if `resource` is one of our proxy volumes.
pub fn our_volume_id<'a>(config: &Config, resource: &'a Resource) -> Option<&'a str> {
    if !is_our_reservation(config, resource) {
        return None;
    }
    let id = resource.disk.as_ref()?.persistence.as_ref()?.id.as_str();
    id.starts_with(PERSISTENCE_PREFIX).then_some(id)
}

/// Our resources in one offer: volumes and the other reserved pieces.
#[derive(Debug, Default)]
pub struct Ours<'a> {
    /// Our proxy volumes, as offered.
    pub volumes: Vec<&'a Resource>,
    /// Our reserved resources that are not volumes.
    pub reserved: Vec<&'a Resource>,
}

/// What of `resources` (one offer's) is ours.
pub fn ours<'a>(config: &Config, resources: &'a [Resource]) -> Ours<'a> {
    let mut found = Ours::default();
    for resource in resources {
        if our_volume_id(config, resource).is_some() {
            found.volumes.push(resource);
        } else if resource.disk.is_none() && is_our_reservation(config, resource) {
            found.reserved.push(resource);
        }
    }
    found
}

/// Remembers a volume found in offers: its generation is not handed out again.
pub fn note_generation(home: &mut Home, persistence_id: &str) {
    if let Some(generation) = generation_of(persistence_id) {
        home.generation = home.generation.max(generation);
    }
}

/// The reservation we make: DYNAMIC for our role, under our principal,
/// labelled as the proxy's.
pub fn reservation(config: &Config) -> resource::ReservationInfo {
    resource::ReservationInfo {
        r#type: Some(resource::reservation_info::Type::Dynamic as i32),
        role: Some(config.framework.role.clone()),
        principal: config.framework.principal.clone(),
        labels: Some(Labels {
            labels: vec![Label {
                key: RESERVATION_LABEL.into(),
                value: Some(RESERVATION_FOR.into()),
            }],
        }),
    }
}

/// `resources` (unreserved, taken from an offer) reserved for us: same
/// allocation info, `reservations` set, the old-format `role` cleared.
pub fn reserved(config: &Config, resources: &[Resource]) -> Vec<Resource> {
    resources
        .iter()
        .map(|resource| Resource {
            role: None,
            reservation: None,
            reservations: vec![reservation(config)],
            ..resource.clone()
        })
        .collect()
}

/// The persistent volume made of reserved `disk` (one resource).
pub fn volume(config: &Config, disk: &Resource, persistence_id: &str) -> Resource {
    Resource {
        disk: Some(resource::DiskInfo {
            persistence: Some(resource::disk_info::Persistence {
                id: persistence_id.to_owned(),
                principal: config.framework.principal.clone(),
            }),
            volume: Some(Volume {
                mode: mesos::v1::volume::Mode::Rw as i32,
                container_path: config.proxy.volume.container_path.clone(),
                ..Default::default()
            }),
        }),
        ..disk.clone()
    }
}

/// RESERVE of `resources`.
pub fn reserve_operation(resources: Vec<Resource>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Reserve as i32),
        reserve: Some(offer::operation::Reserve {
            source: Vec::new(),
            resources,
        }),
        ..Default::default()
    }
}

/// CREATE of `volumes`.
pub fn create_operation(volumes: Vec<Resource>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Create as i32),
        create: Some(offer::operation::Create { volumes }),
        ..Default::default()
    }
}

/// Operations that give back what of ours an offer holds and is not the
/// proxy's home: DESTROY of the volumes, then UNRESERVE of their disk and of
/// the other reserved pieces. With `keep`, the home's volume and reserved
/// pieces are kept and only other volumes go.
pub fn cleanup(
    config: &Config,
    resources: &[Resource],
    keep: Option<&str>,
) -> Vec<offer::Operation> {
    let found = ours(config, resources);
    let doomed: Vec<&Resource> = found
        .volumes
        .iter()
        .copied()
        .filter(|resource| our_volume_id(config, resource) != keep)
        .collect();
    let mut operations = Vec::new();
    let mut unreserve = Vec::new();
    if !doomed.is_empty() {
        operations.push(offer::Operation {
            r#type: Some(offer::operation::Type::Destroy as i32),
            destroy: Some(offer::operation::Destroy {
                volumes: doomed.iter().map(|&r| r.clone()).collect(),
            }),
            ..Default::default()
        });
        // A destroyed volume is reserved disk again.
        unreserve.extend(doomed.iter().map(|&r| Resource {
            disk: None,
            ..r.clone()
        }));
    }
    if keep.is_none() {
        unreserve.extend(found.reserved.iter().map(|&r| r.clone()));
    }
    if !unreserve.is_empty() {
        operations.push(offer::Operation {
            r#type: Some(offer::operation::Type::Unreserve as i32),
            unreserve: Some(offer::operation::Unreserve {
                resources: unreserve,
            }),
            ..Default::default()
        });
    }
    operations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Decision;
    use crate::framework::Framework;
    use crate::plan::tests::{config as base_config, offer};
    use crate::plan::{env, JOURNAL_FILE};
    use crate::resources::DISK;
    use crate::state::PersistedState;
    use crate::tasks::tests::status;
    use mesos::v1::scheduler::event;
    use mesos::v1::Offer;
    use mesos::v1::TaskState as P;

    fn config() -> Config {
        let mut config = base_config();
        config.framework.role = "miners".into();
        config.framework.principal = Some("miner-principal".into());
        config.proxy.volume.enabled = true;
        config.proxy.volume.agent_gone_timeout_secs = 60.0;
        config
    }

    fn with_disk(mut offer: Offer, mb: f64) -> Offer {
        offer.resources.push(Resource::scalar(DISK, mb));
        offer
    }

    fn subscribed(fw: &mut Framework, id: &str, now_ms: u64) {
        let event = mesos::v1::scheduler::Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: mesos::v1::FrameworkId { value: id.into() },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Default::default()
        };
        fw.handle_event(&event, now_ms).unwrap();
    }

    /// `(operations, tasks)` of the ACCEPTs among `decisions`.
    fn accepts(decisions: &[Decision]) -> Vec<(Vec<offer::Operation>, Vec<mesos::v1::TaskInfo>)> {
        decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Launch {
                    operations, tasks, ..
                } => Some((operations.clone(), tasks.clone())),
                _ => None,
            })
            .collect()
    }

    fn kinds(operations: &[offer::Operation]) -> Vec<offer::operation::Type> {
        operations.iter().map(|o| o.r#type()).collect()
    }

    /// What the agent offers once `operations` were applied and the task
    /// using them ended: the reserved pieces and the volume, plus `extra`.
    fn offer_after(
        operations: &[offer::Operation],
        agent: &str,
        id: &str,
        extra: Vec<Resource>,
    ) -> Offer {
        let mut resources: Vec<Resource> = operations
            .iter()
            .filter_map(|o| o.reserve.as_ref())
            .flat_map(|r| r.resources.iter().cloned())
            .filter(|r| r.name != DISK)
            .collect();
        resources.extend(
            operations
                .iter()
                .filter_map(|o| o.create.as_ref())
                .flat_map(|c| c.volumes.iter().cloned()),
        );
        resources.extend(extra);
        Offer {
            resources,
            ..offer(id, agent, 0.0, 0.0, &[])
        }
    }

    fn env_of<'a>(task: &'a mesos::v1::TaskInfo, name: &str) -> Option<&'a str> {
        task.executor
            .as_ref()
            .and_then(|e| e.command.as_ref())
            .or(task.command.as_ref())
            .and_then(|c| c.environment.as_ref())
            .and_then(|e| e.variables.iter().find(|v| v.name == name))
            .and_then(|v| v.value.as_deref())
    }

    /// First launch: RESERVE (proxy + executor CPUs and memory, the disk)
    /// and CREATE in the same ACCEPT as the LAUNCH, which uses exactly them.
    fn first_launch(fw: &mut Framework) -> Vec<offer::Operation> {
        subscribed(fw, "fw-1", 0);
        let d = fw.on_offers(
            &[with_disk(
                offer("o1", "p", 2.0, 1024.0, &[(31000, 31009)]),
                1000.0,
            )],
            1,
        );
        let accepts = accepts(&d);
        assert_eq!(accepts.len(), 1);
        let (operations, tasks) = &accepts[0];
        assert_eq!(
            kinds(operations),
            vec![
                offer::operation::Type::Reserve,
                offer::operation::Type::Create
            ]
        );
        let reserved = &operations[0].reserve.as_ref().unwrap().resources;
        for resource in reserved {
            let reservation = &resource.reservations[0];
            assert_eq!(reservation.role.as_deref(), Some("miners"));
            assert_eq!(reservation.principal.as_deref(), Some("miner-principal"));
            assert_eq!(
                reservation.r#type(),
                resource::reservation_info::Type::Dynamic
            );
            assert!(resource.role.is_none(), "post-refinement format only");
        }
        let sum = |name: &str| -> f64 {
            reserved
                .iter()
                .filter(|r| r.name == name)
                .map(|r| r.scalar.as_ref().unwrap().value)
                .sum()
        };
        let c = fw.config();
        assert_eq!(sum("cpus"), c.proxy.cpus + c.executor.cpus);
        assert_eq!(sum("mem"), c.proxy.mem_mb + c.executor.mem_mb);
        assert_eq!(sum("disk"), c.proxy.volume.disk_mb);
        let volume = &operations[1].create.as_ref().unwrap().volumes[0];
        let disk = volume.disk.as_ref().unwrap();
        assert_eq!(disk.persistence.as_ref().unwrap().id, "mesos-miner-proxy-1");
        assert_eq!(
            disk.persistence.as_ref().unwrap().principal.as_deref(),
            Some("miner-principal")
        );
        assert_eq!(disk.volume.as_ref().unwrap().container_path, "proxy-data");
        let task = &tasks[0];
        assert!(task.resources.contains(volume), "the proxy uses its volume");
        assert!(task
            .resources
            .iter()
            .filter(|r| r.name == "cpus" || r.name == "mem")
            .all(|r| !r.reservations.is_empty()));
        assert!(task
            .executor
            .as_ref()
            .unwrap()
            .resources
            .iter()
            .all(|r| !r.reservations.is_empty()));
        assert_eq!(
            env_of(task, env::PROXY_JOURNAL),
            Some(format!("proxy-data/{JOURNAL_FILE}").as_str())
        );
        operations.clone()
    }

    #[test]
    fn proxy_relaunches_on_its_volume_on_the_same_agent() {
        let mut fw = Framework::new(config(), PersistedState::default());
        let operations = first_launch(&mut fw);
        fw.on_update(&status("proxy-1", "p", P::TaskRunning), 10);
        fw.on_update(&status("proxy-1", "p", P::TaskKilled), 20);
        // After the backoff: another agent's bigger offer is declined, the
        // home's offer brings back the reservation and the volume.
        let later = 60_000;
        let d = fw.on_offers(
            &[
                with_disk(offer("o2", "a1", 8.0, 8192.0, &[(31000, 31009)]), 1000.0),
                offer_after(
                    &operations,
                    "p",
                    "o3",
                    vec![Resource::ranges("ports", &[(31000, 31009)])],
                ),
            ],
            later,
        );
        let accepts = accepts(&d);
        assert_eq!(accepts.len(), 1, "{d:?}");
        let (ops, tasks) = &accepts[0];
        assert!(ops.is_empty(), "nothing reserved or created again: {ops:?}");
        assert_eq!(tasks[0].task_id.value, "proxy-2");
        assert_eq!(tasks[0].agent_id.value, "p");
        let volume = &operations[1].create.as_ref().unwrap().volumes[0];
        assert!(tasks[0].resources.contains(volume));
        assert!(d
            .iter()
            .any(|d| matches!(d, Decision::Decline { offer_ids, .. } if offer_ids == &["o2"])));
    }

    #[test]
    fn restarted_scheduler_finds_the_volume_in_offers_and_creates_none() {
        let mut fw = Framework::new(config(), PersistedState::default());
        let operations = first_launch(&mut fw);
        // A scheduler that lost its state (worst case): the offer tells.
        let mut fw = Framework::new(config(), PersistedState::default());
        subscribed(&mut fw, "fw-1", 100);
        let d = fw.on_offers(
            &[offer_after(
                &operations,
                "p",
                "o9",
                vec![
                    Resource::ranges("ports", &[(31000, 31009)]),
                    Resource::scalar(DISK, 500.0),
                ],
            )],
            200,
        );
        let accepts = accepts(&d);
        assert_eq!(accepts.len(), 1, "{d:?}");
        assert!(accepts[0].0.is_empty(), "no second reservation or volume");
        let home = fw.state().book.home();
        assert_eq!(
            home.site,
            Some(Site {
                agent_id: "p".into(),
                persistence_id: "mesos-miner-proxy-1".into()
            })
        );
        assert_eq!(home.generation, 1, "the found id is never handed out again");
    }

    #[test]
    fn leftovers_away_from_home_are_destroyed_and_unreserved() {
        let mut fw = Framework::new(config(), PersistedState::default());
        let operations = first_launch(&mut fw);
        fw.on_update(&status("proxy-1", "p", P::TaskRunning), 10);
        // An old volume and reservation of ours on another agent.
        let mut stale = operations.clone();
        let volume = &mut stale[1].create.as_mut().unwrap().volumes[0];
        volume
            .disk
            .as_mut()
            .unwrap()
            .persistence
            .as_mut()
            .unwrap()
            .id = "mesos-miner-proxy-7".into();
        let d = fw.on_offers(
            &[offer_after(
                &stale,
                "a1",
                "o5",
                vec![Resource::scalar("cpus", 1.0)],
            )],
            20,
        );
        let accepts = accepts(&d);
        assert_eq!(accepts.len(), 1);
        let (ops, tasks) = &accepts[0];
        assert!(tasks.is_empty());
        assert_eq!(
            kinds(ops),
            vec![
                offer::operation::Type::Destroy,
                offer::operation::Type::Unreserve
            ]
        );
        let unreserved = &ops[1].unreserve.as_ref().unwrap().resources;
        assert!(unreserved
            .iter()
            .all(|r| r.disk.is_none() && !r.reservations.is_empty()));
        let names: Vec<&str> = unreserved.iter().map(|r| r.name.as_str()).collect();
        assert!(
            names.contains(&"disk") && names.contains(&"cpus"),
            "{names:?}"
        );
        assert_eq!(fw.state().book.home().generation, 7);
        // A foreign volume on the home agent goes too, the home's stays.
        let mut both = offer_after(&operations, "p", "o6", Vec::new());
        both.resources
            .extend(stale[1].create.as_ref().unwrap().volumes.clone());
        let ops = cleanup(fw.config(), &both.resources, Some("mesos-miner-proxy-1"));
        assert_eq!(
            kinds(&ops),
            vec![
                offer::operation::Type::Destroy,
                offer::operation::Type::Unreserve
            ]
        );
        let destroyed = &ops[0].destroy.as_ref().unwrap().volumes;
        assert_eq!(destroyed.len(), 1);
        assert_eq!(
            our_volume_id(fw.config(), &destroyed[0]),
            Some("mesos-miner-proxy-7")
        );
        // Someone else's reservation (no label, other role) is not ours.
        let mut foreign = Resource::scalar("cpus", 1.0);
        foreign.reservations = vec![resource::ReservationInfo {
            role: Some("miners".into()),
            ..reservation(fw.config())
        }];
        foreign.reservations[0].labels = None;
        assert!(cleanup(fw.config(), &[foreign], None).is_empty());
    }

    #[test]
    fn agent_gone_too_long_starts_fresh_elsewhere() {
        let mut fw = Framework::new(config(), PersistedState::default());
        first_launch(&mut fw);
        fw.on_update(&status("proxy-1", "p", P::TaskRunning), 10);
        fw.on_update(&status("proxy-1", "p", P::TaskGone), 20);
        // The wait starts at the first tick without a proxy.
        fw.tick(1_000);
        assert_eq!(fw.state().book.home().waiting_since_ms, Some(1_000));
        // Not the home: declined while waiting.
        let d = fw.on_offers(
            &[with_disk(
                offer("o2", "a1", 2.0, 1024.0, &[(31000, 31009)]),
                1000.0,
            )],
            30_000,
        );
        assert!(accepts(&d).is_empty(), "{d:?}");
        fw.tick(59_000);
        assert!(fw.state().book.home().site.is_some(), "not yet");
        let d = fw.tick(61_000);
        assert!(d.contains(&Decision::Revive), "{d:?}");
        assert_eq!(fw.state().book.home().site, None);
        let d = fw.on_offers(
            &[with_disk(
                offer("o3", "a1", 2.0, 1024.0, &[(31000, 31009)]),
                1000.0,
            )],
            62_000,
        );
        let accepts = accepts(&d);
        assert_eq!(accepts.len(), 1, "{d:?}");
        assert_eq!(
            kinds(&accepts[0].0),
            vec![
                offer::operation::Type::Reserve,
                offer::operation::Type::Create
            ]
        );
        let id = &accepts[0].0[1].create.as_ref().unwrap().volumes[0]
            .disk
            .as_ref()
            .unwrap()
            .persistence
            .as_ref()
            .unwrap()
            .id;
        assert_eq!(id, "mesos-miner-proxy-2", "a new id, not the abandoned one");
        assert_eq!(fw.state().book.home().site.as_ref().unwrap().agent_id, "a1");
    }
}
