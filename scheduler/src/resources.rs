//! What is left of one offer while tasks are carved out of it.
//!
//! An [`OfferPool`] holds the usable pieces of an offer's resources: scalars
//! (`cpus`, `mem`) counted in thousandths, as Mesos keeps three decimal digits,
//! and `ports` as free inclusive ranges. Pieces keep their original
//! `Resource` (role, reservations, allocation info) as a template, so what we
//! hand back in a LAUNCH matches what was offered, reserved resources
//! included. Reserved pieces are used before unreserved ones. Revocable
//! resources make a pool of their own ([`OfferPool::revocable`]), since a
//! task never mixes them with regular ones of the same name; shared and
//! resource-provider resources and persistent volumes are ignored (volumes
//! are used whole: see [`crate::volume`]).
//!
//! Taking is all-or-nothing per call; to take several kinds atomically, take
//! from a clone and keep the clone only if every take succeeded.

use mesos::scalar::{from_milli, milli_or_zero};
use mesos::v1::{value, Resource};

/// Name of the CPU scalar resource.
pub const CPUS: &str = "cpus";
/// Name of the memory scalar resource (MB).
pub const MEM: &str = "mem";
/// Name of the disk scalar resource (MB).
pub const DISK: &str = "disk";
/// Name of the port ranges resource.
pub const PORTS: &str = "ports";

#[derive(Debug, Clone)]
struct ScalarPiece {
    template: Resource,
    left: i64,
}

#[derive(Debug, Clone)]
struct PortsPiece {
    template: Resource,
    /// Free inclusive ranges, sorted, non-overlapping.
    free: Vec<(u64, u64)>,
}

/// The usable, not yet taken resources of one offer.
#[derive(Debug, Clone, Default)]
pub struct OfferPool {
    scalars: Vec<ScalarPiece>,
    ports: Vec<PortsPiece>,
}

fn is_reserved(resource: &Resource) -> bool {
    !resource.reservations.is_empty()
        || resource.reservation.is_some()
        || resource.role.as_deref().is_some_and(|role| role != "*")
}

impl OfferPool {
    /// The usable regular (non-revocable) pieces of `resources` (an offer's).
    pub fn new(resources: &[Resource]) -> Self {
        Self::of_kind(resources, false)
    }

    /// The usable revocable pieces of `resources` (an offer's).
    pub fn revocable(resources: &[Resource]) -> Self {
        Self::of_kind(resources, true)
    }

    fn of_kind(resources: &[Resource], revocable: bool) -> Self {
        let mut pool = Self::default();
        let mut sorted: Vec<&Resource> = resources
            .iter()
            .filter(|r| r.revocable.is_some() == revocable)
            .filter(|r| r.shared.is_none() && r.provider_id.is_none())
            // Persistent volumes are used whole, never carved.
            .filter(|r| r.disk.is_none())
            .collect();
        // Reserved first: stable sort keeps the offer's order otherwise.
        sorted.sort_by_key(|r| !is_reserved(r));
        for resource in sorted {
            match (resource.r#type(), resource.name.as_str()) {
                (value::Type::Scalar, CPUS | MEM | DISK) => {
                    let left = resource
                        .scalar
                        .as_ref()
                        .map_or(0, |s| milli_or_zero(s.value));
                    if left > 0 {
                        pool.scalars.push(ScalarPiece {
                            template: resource.clone(),
                            left,
                        });
                    }
                }
                (value::Type::Ranges, PORTS) => {
                    let mut free: Vec<(u64, u64)> = resource
                        .ranges
                        .iter()
                        .flat_map(|r| r.range.iter())
                        .filter(|r| r.begin <= r.end)
                        .map(|r| (r.begin, r.end))
                        .collect();
                    free.sort_unstable();
                    if !free.is_empty() {
                        pool.ports.push(PortsPiece {
                            template: resource.clone(),
                            free,
                        });
                    }
                }
                _ => {}
            }
        }
        pool
    }

    /// Thousandths of scalar `name` left.
    pub fn scalar_millis(&self, name: &str) -> i64 {
        self.scalars
            .iter()
            .filter(|p| p.template.name == name)
            .map(|p| p.left)
            .sum()
    }

    /// Takes `millis` thousandths of scalar `name`, as one `Resource` per
    /// piece used; `None` (and nothing taken) if there is not enough.
    pub fn take_scalar(&mut self, name: &str, millis: i64) -> Option<Vec<Resource>> {
        if millis <= 0 {
            return Some(Vec::new());
        }
        if self.scalar_millis(name) < millis {
            return None;
        }
        let mut wanted = millis;
        let mut taken = Vec::new();
        for piece in self.scalars.iter_mut().filter(|p| p.template.name == name) {
            if wanted == 0 {
                break;
            }
            let amount = wanted.min(piece.left);
            if amount == 0 {
                continue;
            }
            piece.left -= amount;
            wanted -= amount;
            let mut resource = piece.template.clone();
            resource.scalar = Some(value::Scalar {
                value: from_milli(amount),
            });
            taken.push(resource);
        }
        Some(taken)
    }

    fn port_is_free(&self, port: u64) -> bool {
        self.ports
            .iter()
            .any(|p| p.free.iter().any(|&(b, e)| b <= port && port <= e))
    }

    fn remove_port(&mut self, port: u64) -> Option<usize> {
        for (index, piece) in self.ports.iter_mut().enumerate() {
            if let Some(at) = piece.free.iter().position(|&(b, e)| b <= port && port <= e) {
                let (b, e) = piece.free.remove(at);
                if port < e {
                    piece.free.insert(at, (port + 1, e));
                }
                if b < port {
                    piece.free.insert(at, (b, port - 1));
                }
                return Some(index);
            }
        }
        None
    }

    fn first_free_port(&self) -> Option<u64> {
        self.ports
            .iter()
            .filter_map(|p| p.free.first().map(|&(b, _)| b))
            .next()
    }

    /// Takes one port per entry of `wanted`: the given port when `Some`, the
    /// lowest free one of the first piece that has any when `None`. Returns
    /// the ports in order and the `ports` resources covering them; `None`
    /// (and nothing taken) if they are not all available.
    pub fn take_ports(&mut self, wanted: &[Option<u64>]) -> Option<(Vec<u64>, Vec<Resource>)> {
        let mut trial = self.clone();
        // Fixed ports first, so a free pick cannot steal one.
        for port in wanted.iter().flatten() {
            if !trial.port_is_free(*port) {
                return None;
            }
            trial.remove_port(*port)?;
        }
        let mut chosen = Vec::with_capacity(wanted.len());
        let mut by_piece: Vec<Vec<u64>> = vec![Vec::new(); self.ports.len()];
        for want in wanted {
            let port = match want {
                Some(port) => *port,
                None => {
                    let port = trial.first_free_port()?;
                    trial.remove_port(port)?;
                    port
                }
            };
            chosen.push(port);
        }
        // Attribute each chosen port to the piece it came from.
        for &port in &chosen {
            let index = self
                .ports
                .iter()
                .position(|p| p.free.iter().any(|&(b, e)| b <= port && port <= e))?;
            by_piece[index].push(port);
        }
        let resources = by_piece
            .into_iter()
            .enumerate()
            .filter(|(_, ports)| !ports.is_empty())
            .map(|(index, mut ports)| {
                ports.sort_unstable();
                let mut resource = self.ports[index].template.clone();
                resource.ranges = Some(value::Ranges {
                    range: ports
                        .iter()
                        .map(|&p| value::Range { begin: p, end: p })
                        .collect(),
                });
                resource
            })
            .collect();
        *self = trial;
        Some((chosen, resources))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mesos::v1::resource::ReservationInfo;

    pub(crate) fn scalar(name: &str, amount: f64) -> Resource {
        Resource::scalar(name, amount)
    }

    pub(crate) fn ports(ranges: &[(u64, u64)]) -> Resource {
        Resource::ranges(PORTS, ranges)
    }

    pub(crate) fn reserved(mut resource: Resource, role: &str) -> Resource {
        resource.reservations = vec![ReservationInfo {
            r#type: Some(mesos::v1::resource::reservation_info::Type::Static as i32),
            role: Some(role.into()),
            ..Default::default()
        }];
        resource
    }

    fn sum(resources: &[Resource]) -> f64 {
        resources
            .iter()
            .map(|r| r.scalar.as_ref().unwrap().value)
            .sum()
    }

    #[test]
    fn scalars_sum_and_take_all_or_nothing() {
        let mut pool = OfferPool::new(&[scalar(CPUS, 1.5), scalar(MEM, 512.0)]);
        assert_eq!(pool.scalar_millis(CPUS), 1500);
        assert!(pool.take_scalar(CPUS, 2000).is_none());
        assert_eq!(pool.scalar_millis(CPUS), 1500);
        let taken = pool.take_scalar(CPUS, 1000).unwrap();
        assert_eq!(sum(&taken), 1.0);
        assert_eq!(pool.scalar_millis(CPUS), 500);
    }

    #[test]
    fn reserved_pieces_used_first_and_kept() {
        let mut pool = OfferPool::new(&[scalar(CPUS, 1.0), reserved(scalar(CPUS, 0.5), "mining")]);
        let taken = pool.take_scalar(CPUS, 1200).unwrap();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].reservations[0].role.as_deref(), Some("mining"));
        assert_eq!(taken[0].scalar.as_ref().unwrap().value, 0.5);
        assert!(taken[1].reservations.is_empty());
        assert_eq!(taken[1].scalar.as_ref().unwrap().value, 0.7);
    }

    #[test]
    fn revocable_and_regular_pools_apart() {
        let mut revocable = scalar(CPUS, 4.0);
        revocable.revocable = Some(Default::default());
        let offer = [revocable, scalar(CPUS, 1.0)];
        let pool = OfferPool::new(&offer);
        assert_eq!(pool.scalar_millis(CPUS), 1000);
        let mut slack = OfferPool::revocable(&offer);
        assert_eq!(slack.scalar_millis(CPUS), 4000);
        let taken = slack.take_scalar(CPUS, 1500).unwrap();
        assert!(
            taken[0].revocable.is_some(),
            "taken keeps Resource.revocable"
        );
    }

    #[test]
    fn two_ports_from_one_small_range() {
        let mut pool = OfferPool::new(&[ports(&[(31000, 31001)])]);
        let (chosen, resources) = pool.take_ports(&[None, None]).unwrap();
        assert_eq!(chosen, vec![31000, 31001]);
        assert_eq!(resources.len(), 1);
        let ranges = &resources[0].ranges.as_ref().unwrap().range;
        assert_eq!(ranges.len(), 2);
        assert!(pool.take_ports(&[None]).is_none());
    }

    #[test]
    fn ports_across_multiple_ranges() {
        let mut pool = OfferPool::new(&[ports(&[(32000, 32000), (31000, 31000)])]);
        let (chosen, _) = pool.take_ports(&[None, None]).unwrap();
        assert_eq!(chosen, vec![31000, 32000]);
    }

    #[test]
    fn fixed_ports_and_failures() {
        let mut pool = OfferPool::new(&[ports(&[(31000, 31010)])]);
        assert!(pool.take_ports(&[Some(3333), None]).is_none());
        let (chosen, resources) = pool.take_ports(&[None, Some(31000)]).unwrap();
        assert_eq!(chosen, vec![31001, 31000]);
        assert_eq!(resources[0].ranges.as_ref().unwrap().range[0].begin, 31000);
        let (chosen, _) = pool.take_ports(&[Some(31005)]).unwrap();
        assert_eq!(chosen, vec![31005]);
        assert!(pool.take_ports(&[Some(31005)]).is_none());
        let (chosen, _) = pool.take_ports(&[None]).unwrap();
        assert_eq!(chosen, vec![31002]);
    }

    #[test]
    fn one_range_per_role_piece() {
        let mut pool = OfferPool::new(&[
            ports(&[(31000, 31000)]),
            reserved(ports(&[(4000, 4000)]), "mining"),
        ]);
        let (chosen, resources) = pool.take_ports(&[None, None]).unwrap();
        assert_eq!(chosen, vec![4000, 31000]);
        assert_eq!(resources.len(), 2);
    }
}
