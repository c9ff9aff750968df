//! Resource arithmetic for offers and launches: the unreserved `cpus`, `mem`
//! (scalars, MB) and `ports` (ranges) that devcluster agents have.
//!
//! Scalars are kept in thousandths, as Mesos keeps three decimal digits, so
//! sums and differences are exact. Port ranges are kept sorted and merged.

use mesos::v1::{resource, value, Resource};

/// A bundle of unreserved resources on one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Res {
    /// CPUs in thousandths.
    pub cpus: i64,
    /// Memory in thousandths of a MB.
    pub mem: i64,
    /// Inclusive port ranges, sorted, non-overlapping, non-adjacent.
    pub ports: Vec<(u64, u64)>,
}

fn to_milli(value: f64) -> Option<i64> {
    (value.is_finite() && value >= 0.0).then(|| (value * 1000.0).round() as i64)
}

fn from_milli(value: i64) -> f64 {
    value as f64 / 1000.0
}

/// Sorts and merges overlapping or adjacent ranges.
fn normalize(ranges: &mut Vec<(u64, u64)>) {
    ranges.retain(|(begin, end)| begin <= end);
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for &(begin, end) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if begin <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((begin, end)),
        }
    }
    *ranges = merged;
}

impl Res {
    /// Total resources of an agent.
    pub fn new(cpus: f64, mem_mb: f64, ports: Vec<(u64, u64)>) -> Self {
        let mut res = Self {
            cpus: to_milli(cpus).unwrap_or(0),
            mem: to_milli(mem_mb).unwrap_or(0),
            ports,
        };
        normalize(&mut res.ports);
        res
    }

    /// Parses resources a framework asked for; refuses what devcluster never
    /// offers (reserved resources, other names, wrong types).
    pub fn from_resources(resources: &[Resource]) -> Result<Self, String> {
        let mut res = Self::default();
        for resource in resources {
            let name = resource.name.as_str();
            let reserved = resource.role.as_deref().is_some_and(|role| role != "*")
                || resource.reservation.is_some()
                || !resource.reservations.is_empty();
            if reserved {
                return Err(format!(
                    "resource {name:?} is reserved; only \"*\" is offered"
                ));
            }
            if resource.revocable.is_some() || resource.shared.is_some() {
                return Err(format!("resource {name:?} is revocable or shared"));
            }
            let kind = resource.r#type();
            match (name, kind) {
                ("cpus" | "mem", value::Type::Scalar) => {
                    let amount = resource
                        .scalar
                        .as_ref()
                        .and_then(|scalar| to_milli(scalar.value))
                        .ok_or_else(|| format!("resource {name:?} has no valid scalar"))?;
                    if name == "cpus" {
                        res.cpus += amount;
                    } else {
                        res.mem += amount;
                    }
                }
                ("ports", value::Type::Ranges) => {
                    let ranges = resource
                        .ranges
                        .as_ref()
                        .ok_or_else(|| "resource \"ports\" has no ranges".to_owned())?;
                    for range in &ranges.range {
                        if range.begin > range.end {
                            return Err(format!(
                                "port range {}-{} is empty",
                                range.begin, range.end
                            ));
                        }
                        res.ports.push((range.begin, range.end));
                    }
                }
                _ => {
                    return Err(format!(
                        "resource {name:?} of type {kind:?} is not offered by this agent"
                    ))
                }
            }
        }
        normalize(&mut res.ports);
        Ok(res)
    }

    /// The Mesos representation, role "*", with `allocation_role` set for
    /// MULTI_ROLE frameworks.
    pub fn to_resources(&self, allocation_role: Option<&str>) -> Vec<Resource> {
        let base = |name: &str, kind: value::Type| Resource {
            name: name.into(),
            r#type: kind as i32,
            role: Some("*".into()),
            allocation_info: allocation_role.map(|role| resource::AllocationInfo {
                role: Some(role.into()),
            }),
            ..Default::default()
        };
        let mut out = Vec::with_capacity(3);
        for (name, amount) in [("cpus", self.cpus), ("mem", self.mem)] {
            if amount > 0 {
                out.push(Resource {
                    scalar: Some(value::Scalar {
                        value: from_milli(amount),
                    }),
                    ..base(name, value::Type::Scalar)
                });
            }
        }
        if !self.ports.is_empty() {
            out.push(Resource {
                ranges: Some(value::Ranges {
                    range: self
                        .ports
                        .iter()
                        .map(|&(begin, end)| value::Range { begin, end })
                        .collect(),
                }),
                ..base("ports", value::Type::Ranges)
            });
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.cpus <= 0 && self.mem <= 0 && self.ports.is_empty()
    }

    /// Whether every resource in `other` is also in `self`.
    pub fn contains(&self, other: &Res) -> bool {
        self.cpus >= other.cpus
            && self.mem >= other.mem
            && other.ports.iter().all(|&(begin, end)| {
                self.ports
                    .iter()
                    .any(|&(have_begin, have_end)| have_begin <= begin && end <= have_end)
            })
    }

    pub fn add(&mut self, other: &Res) {
        self.cpus += other.cpus;
        self.mem += other.mem;
        self.ports.extend_from_slice(&other.ports);
        normalize(&mut self.ports);
    }

    /// Removes `other` (saturating at nothing).
    pub fn subtract(&mut self, other: &Res) {
        self.cpus = (self.cpus - other.cpus).max(0);
        self.mem = (self.mem - other.mem).max(0);
        for &(begin, end) in &other.ports {
            let mut next = Vec::with_capacity(self.ports.len() + 1);
            for &(have_begin, have_end) in &self.ports {
                if end < have_begin || begin > have_end {
                    next.push((have_begin, have_end));
                    continue;
                }
                if have_begin < begin {
                    next.push((have_begin, begin - 1));
                }
                if end < have_end {
                    next.push((end + 1, have_end));
                }
            }
            self.ports = next;
        }
    }
}

/// A scalar resource value, for tests and summaries.
pub fn scalar(resources: &[Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|resource| resource.name == name)
        .filter_map(|resource| resource.scalar.as_ref())
        .map(|scalar| scalar.value)
        .sum()
}

/// The port ranges among `resources`.
pub fn ports(resources: &[Resource]) -> Vec<(u64, u64)> {
    resources
        .iter()
        .filter(|resource| resource.name == "ports")
        .filter_map(|resource| resource.ranges.as_ref())
        .flat_map(|ranges| ranges.range.iter().map(|range| (range.begin, range.end)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_add_subtract() {
        let total = Res::new(4.0, 1024.0, vec![(31000, 31009)]);
        let want = Res::from_resources(&[
            Resource::scalar("cpus", 0.5),
            Resource::scalar("mem", 128.0),
            Resource::ranges("ports", &[(31002, 31003)]),
        ])
        .unwrap();
        assert!(total.contains(&want));
        let mut left = total.clone();
        left.subtract(&want);
        assert_eq!(left.cpus, 3500);
        assert_eq!(left.ports, vec![(31000, 31001), (31004, 31009)]);
        assert!(!left.contains(&want));
        left.add(&want);
        assert_eq!(left, total);
        let round = Res::from_resources(&total.to_resources(None)).unwrap();
        assert_eq!(round, total);
    }

    #[test]
    fn refuses_what_is_never_offered() {
        assert!(Res::from_resources(&[Resource::scalar("disk", 1.0)]).is_err());
        let mut reserved = Resource::scalar("cpus", 1.0);
        reserved.role = Some("miners".into());
        assert!(Res::from_resources(&[reserved]).is_err());
        assert!(Res::from_resources(&[Resource::scalar("cpus", -1.0)]).is_err());
        assert!(Res::from_resources(&[Resource::ranges("ports", &[(5, 4)])]).is_err());
    }
}
