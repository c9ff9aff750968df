//! Resource arithmetic for offers, launches and offer operations: the `cpus`,
//! `mem`, `disk` (scalars, MB) and `ports` (ranges) that devcluster agents
//! have, unreserved or dynamically reserved for a role, and persistent
//! volumes carved out of reserved disk.
//!
//! [`Res`] is an amount of one kind; a [`Bundle`] maps each [`Kind`]
//! (reservation, volume) to its amount. Reserved resources use Mesos'
//! post-reservation-refinement format (`reservations`, one DYNAMIC entry:
//! devcluster has neither static reservations nor refinements). The offer
//! operations RESERVE, UNRESERVE, CREATE and DESTROY are conversions between
//! kinds, validated as Mesos' master does ([`reserve`], [`unreserve`],
//! [`create`], [`destroy`]).
//!
//! Revocable resources (an agent's oversubscribed slack, see
//! `oversubscription`) are their own kind: never reserved, never volumes,
//! and a task with its executor may not mix revocable and regular resources
//! of one name ([`Bundle::revocable_mix`], as Mesos' master validates).
//!
//! Scalars are kept in thousandths, as Mesos keeps three decimal digits, so
//! sums and differences are exact. Port ranges are kept sorted and merged.

use std::collections::BTreeMap;

use mesos::scalar::{from_milli, milli_or_zero, normalize_ranges, to_milli};
use mesos::v1::{resource, value, volume, Label, Labels, Resource, Volume};

/// An amount of resources of one kind on one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Res {
    /// CPUs in thousandths.
    pub cpus: i64,
    /// Memory in thousandths of a MB.
    pub mem: i64,
    /// Disk in thousandths of a MB.
    pub disk: i64,
    /// Inclusive port ranges, sorted, non-overlapping, non-adjacent.
    pub ports: Vec<(u64, u64)>,
}

impl Res {
    /// Total resources of an agent.
    pub fn new(cpus: f64, mem_mb: f64, ports: Vec<(u64, u64)>) -> Self {
        let mut res = Self {
            cpus: milli_or_zero(cpus),
            mem: milli_or_zero(mem_mb),
            disk: 0,
            ports,
        };
        normalize_ranges(&mut res.ports);
        res
    }

    /// With `disk_mb` of disk.
    pub fn with_disk(mut self, disk_mb: f64) -> Self {
        self.disk = milli_or_zero(disk_mb);
        self
    }

    /// Adds one resource's amount (its name and type checked).
    fn add_resource(&mut self, resource: &Resource) -> Result<(), String> {
        let name = resource.name.as_str();
        let kind = resource.r#type();
        match (name, kind) {
            ("cpus" | "mem" | "disk", value::Type::Scalar) => {
                let amount = resource
                    .scalar
                    .as_ref()
                    .and_then(|scalar| to_milli(scalar.value))
                    .ok_or_else(|| format!("resource {name:?} has no valid scalar"))?;
                match name {
                    "cpus" => self.cpus += amount,
                    "mem" => self.mem += amount,
                    _ => self.disk += amount,
                }
            }
            ("ports", value::Type::Ranges) => {
                let ranges = resource
                    .ranges
                    .as_ref()
                    .ok_or_else(|| "resource \"ports\" has no ranges".to_owned())?;
                for range in &ranges.range {
                    if range.begin > range.end {
                        return Err(format!("port range {}-{} is empty", range.begin, range.end));
                    }
                    self.ports.push((range.begin, range.end));
                }
                normalize_ranges(&mut self.ports);
            }
            _ => {
                return Err(format!(
                    "resource {name:?} of type {kind:?} is not offered by this agent"
                ))
            }
        }
        Ok(())
    }

    /// The Mesos representation, each resource a copy of `template` with its
    /// name, type and value set.
    fn to_resources_like(&self, template: &Resource) -> Vec<Resource> {
        let base = |name: &str, kind: value::Type| Resource {
            name: name.into(),
            r#type: kind as i32,
            ..template.clone()
        };
        let mut out = Vec::with_capacity(4);
        for (name, amount) in [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)] {
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
        self.cpus <= 0 && self.mem <= 0 && self.disk <= 0 && self.ports.is_empty()
    }

    /// Whether every resource in `other` is also in `self`.
    pub fn contains(&self, other: &Res) -> bool {
        self.cpus >= other.cpus
            && self.mem >= other.mem
            && self.disk >= other.disk
            && other.ports.iter().all(|&(begin, end)| {
                self.ports
                    .iter()
                    .any(|&(have_begin, have_end)| have_begin <= begin && end <= have_end)
            })
    }

    pub fn add(&mut self, other: &Res) {
        self.cpus += other.cpus;
        self.mem += other.mem;
        self.disk += other.disk;
        self.ports.extend_from_slice(&other.ports);
        normalize_ranges(&mut self.ports);
    }

    /// Removes `other` (saturating at nothing).
    pub fn subtract(&mut self, other: &Res) {
        self.cpus = (self.cpus - other.cpus).max(0);
        self.mem = (self.mem - other.mem).max(0);
        self.disk = (self.disk - other.disk).max(0);
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

/// A dynamic reservation for a role (the one entry of `reservations`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Reservation {
    pub role: String,
    pub principal: Option<String>,
    pub labels: Vec<(String, Option<String>)>,
}

/// A persistent volume: `disk.persistence` and `disk.volume`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Persistence {
    pub id: String,
    pub principal: Option<String>,
    /// Relative to the sandbox.
    pub container_path: String,
    pub read_only: bool,
}

/// What sets resources apart besides their name: reservation, volume and
/// revocability.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Kind {
    pub reservation: Option<Reservation>,
    /// Only with a reservation, and only for disk.
    pub volume: Option<Persistence>,
    /// `Resource.revocable` set: oversubscribed, unreserved, no volume.
    pub revocable: bool,
}

impl Kind {
    fn reserved(reservation: Reservation) -> Self {
        Self {
            reservation: Some(reservation),
            ..Self::default()
        }
    }

    /// Unreserved revocable resources.
    pub fn revocable() -> Self {
        Self {
            revocable: true,
            ..Self::default()
        }
    }

    /// Parses the reservation and disk info of one resource, with Mesos'
    /// validation of both.
    fn of(resource: &Resource) -> Result<Self, String> {
        let name = resource.name.as_str();
        if resource.reservation.is_some()
            || resource.role.as_deref().is_some_and(|role| role != "*")
        {
            return Err(format!(
                "resource {name:?} uses the pre-reservation-refinement format (`role`, \
                 `reservation`); devcluster takes `reservations`"
            ));
        }
        if resource.shared.is_some() {
            return Err(format!("resource {name:?} is shared"));
        }
        let revocable = resource.revocable.is_some();
        if revocable && (!resource.reservations.is_empty() || resource.disk.is_some()) {
            return Err(format!(
                "resource {name:?} is revocable: it cannot be reserved or a volume"
            ));
        }
        if resource.provider_id.is_some() {
            return Err(format!("resource {name:?} names a resource provider"));
        }
        let reservation = match resource.reservations.as_slice() {
            [] => None,
            [info] => {
                if info.r#type() != resource::reservation_info::Type::Dynamic {
                    return Err(format!(
                        "resource {name:?}: only DYNAMIC reservations exist on devcluster"
                    ));
                }
                let role = info.role.clone().unwrap_or_default();
                if role.is_empty() || role == "*" {
                    return Err(format!(
                        "resource {name:?}: a reservation needs a role other than \"*\""
                    ));
                }
                Some(Reservation {
                    role,
                    principal: info.principal.clone(),
                    labels: info
                        .labels
                        .iter()
                        .flat_map(|labels| labels.labels.iter())
                        .map(|label| (label.key.clone(), label.value.clone()))
                        .collect(),
                })
            }
            _ => {
                return Err(format!(
                    "resource {name:?}: refined reservations are not supported by devcluster"
                ))
            }
        };
        let volume = match &resource.disk {
            None => None,
            Some(disk) => {
                if name != "disk" {
                    return Err(format!("resource {name:?} has a DiskInfo"));
                }
                let Some(persistence) = &disk.persistence else {
                    return Err("DiskInfo without persistence: only persistent volumes are \
                                supported by devcluster"
                        .into());
                };
                let Some(volume) = &disk.volume else {
                    return Err("Expecting 'volume' to be set for persistent volume".into());
                };
                if volume.host_path.is_some() {
                    return Err("Expecting 'host_path' to be unset for persistent volume".into());
                }
                validate_id(&persistence.id)?;
                validate_container_path(&volume.container_path)?;
                if reservation.is_none() {
                    return Err(
                        "Persistent volumes cannot be created from unreserved resources".into(),
                    );
                }
                Some(Persistence {
                    id: persistence.id.clone(),
                    principal: persistence.principal.clone(),
                    container_path: volume.container_path.clone(),
                    read_only: volume.mode() == volume::Mode::Ro,
                })
            }
        };
        Ok(Self {
            reservation,
            volume,
            revocable,
        })
    }

    /// A template resource of this kind.
    fn template(&self, allocation_role: Option<&str>) -> Resource {
        Resource {
            // Post-refinement format: `role` is only set on unreserved ones
            // (as "*", what Mesos' getter reads anyway).
            role: self.reservation.is_none().then(|| "*".into()),
            allocation_info: allocation_role.map(|role| resource::AllocationInfo {
                role: Some(role.into()),
            }),
            reservations: self
                .reservation
                .iter()
                .map(|reservation| resource::ReservationInfo {
                    r#type: Some(resource::reservation_info::Type::Dynamic as i32),
                    role: Some(reservation.role.clone()),
                    principal: reservation.principal.clone(),
                    labels: (!reservation.labels.is_empty()).then(|| Labels {
                        labels: reservation
                            .labels
                            .iter()
                            .map(|(key, value)| Label {
                                key: key.clone(),
                                value: value.clone(),
                            })
                            .collect(),
                    }),
                })
                .collect(),
            disk: self.volume.as_ref().map(|volume| resource::DiskInfo {
                persistence: Some(resource::disk_info::Persistence {
                    id: volume.id.clone(),
                    principal: volume.principal.clone(),
                }),
                volume: Some(Volume {
                    mode: if volume.read_only {
                        volume::Mode::Ro
                    } else {
                        volume::Mode::Rw
                    } as i32,
                    container_path: volume.container_path.clone(),
                    ..Default::default()
                }),
            }),
            revocable: self.revocable.then_some(resource::RevocableInfo {}),
            ..Default::default()
        }
    }
}

/// Mesos' rule for ids: not empty, no `/`, `\`, NUL, spaces, and not `.`/`..`.
fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(format!("Invalid persistence ID {id:?}"));
    }
    if id
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control() || c.is_whitespace())
    {
        return Err(format!("Persistence ID {id:?} contains invalid characters"));
    }
    Ok(())
}

/// A persistent volume appears inside the sandbox: its path is relative and
/// stays there.
fn validate_container_path(path: &str) -> Result<(), String> {
    let relative = std::path::Path::new(path);
    let inside = relative.components().all(|component| {
        matches!(
            component,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if path.is_empty() || !inside {
        return Err(format!(
            "volume container_path {path:?} must be a relative path inside the sandbox"
        ));
    }
    Ok(())
}

/// Resources of several kinds: what an agent has, an offer holds or a task
/// uses. Empty amounts are not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bundle {
    parts: BTreeMap<Kind, Res>,
}

impl From<Res> for Bundle {
    /// Unreserved resources.
    fn from(res: Res) -> Self {
        let mut bundle = Self::default();
        bundle.add_kind(Kind::default(), &res);
        bundle
    }
}

impl Bundle {
    /// Parses resources a framework sent; refuses what devcluster never
    /// offers (other names, wrong types, static or refined reservations,
    /// non-persistent disk info).
    pub fn from_resources(resources: &[Resource]) -> Result<Self, String> {
        let mut bundle = Self::default();
        for resource in resources {
            let kind = Kind::of(resource)?;
            let mut res = Res::default();
            res.add_resource(resource)?;
            if kind.volume.is_some() && bundle.parts.contains_key(&kind) {
                return Err(format!(
                    "persistent volume {:?} is listed twice",
                    kind.volume.as_ref().map(|v| &v.id)
                ));
            }
            bundle.add_kind(kind, &res);
        }
        Ok(bundle)
    }

    /// The Mesos representation, with `allocation_role` set for MULTI_ROLE
    /// frameworks.
    pub fn to_resources(&self, allocation_role: Option<&str>) -> Vec<Resource> {
        self.parts
            .iter()
            .flat_map(|(kind, res)| res.to_resources_like(&kind.template(allocation_role)))
            .collect()
    }

    /// `res` of one kind.
    pub fn of_kind(kind: Kind, res: &Res) -> Self {
        let mut bundle = Self::default();
        bundle.add_kind(kind, res);
        bundle
    }

    fn add_kind(&mut self, kind: Kind, res: &Res) {
        if res.is_empty() {
            return;
        }
        self.parts.entry(kind).or_default().add(res);
    }

    pub fn is_empty(&self) -> bool {
        self.parts.values().all(Res::is_empty)
    }

    /// Whether every resource in `other` is also in `self`; a persistent
    /// volume is used whole or not at all.
    pub fn contains(&self, other: &Bundle) -> bool {
        other.parts.iter().all(|(kind, want)| {
            let have = self.parts.get(kind);
            match kind.volume {
                Some(_) => have == Some(want),
                None => have.is_some_and(|have| have.contains(want)) || want.is_empty(),
            }
        })
    }

    pub fn add(&mut self, other: &Bundle) {
        for (kind, res) in &other.parts {
            self.add_kind(kind.clone(), res);
        }
    }

    /// Removes `other` (saturating at nothing).
    pub fn subtract(&mut self, other: &Bundle) {
        for (kind, res) in &other.parts {
            if let Some(have) = self.parts.get_mut(kind) {
                have.subtract(res);
                if have.is_empty() {
                    self.parts.remove(kind);
                }
            }
        }
    }

    /// All amounts summed, whatever their kind (container limits).
    pub fn total(&self) -> Res {
        let mut total = Res::default();
        for res in self.parts.values() {
            total.add(res);
        }
        total
    }

    /// The part a framework of `roles` may be offered: unreserved, or
    /// reserved for one of its roles.
    pub fn for_roles(&self, roles: &[String]) -> Bundle {
        Bundle {
            parts: self
                .parts
                .iter()
                .filter(|(kind, _)| {
                    kind.reservation
                        .as_ref()
                        .is_none_or(|reservation| roles.contains(&reservation.role))
                })
                .map(|(kind, res)| (kind.clone(), res.clone()))
                .collect(),
        }
    }

    /// Without its revocable part (for frameworks without the
    /// REVOCABLE_RESOURCES capability).
    pub fn without_revocable(&self) -> Bundle {
        Bundle {
            parts: self
                .parts
                .iter()
                .filter(|(kind, _)| !kind.revocable)
                .map(|(kind, res)| (kind.clone(), res.clone()))
                .collect(),
        }
    }

    /// Whether any of it is revocable.
    pub fn has_revocable(&self) -> bool {
        self.parts
            .iter()
            .any(|(kind, res)| kind.revocable && !res.is_empty())
    }

    /// Mesos' rule for what one task and its executor use: revocable and
    /// regular resources of the same name never together. The error names it.
    pub fn revocable_mix(&self) -> Option<String> {
        let totals = |revocable: bool| {
            let mut total = Res::default();
            for (_, res) in self.parts.iter().filter(|(k, _)| k.revocable == revocable) {
                total.add(res);
            }
            total
        };
        let (revocable, regular) = (totals(true), totals(false));
        let both = [
            ("cpus", revocable.cpus > 0 && regular.cpus > 0),
            ("mem", revocable.mem > 0 && regular.mem > 0),
            ("disk", revocable.disk > 0 && regular.disk > 0),
            (
                "ports",
                !revocable.ports.is_empty() && !regular.ports.is_empty(),
            ),
        ];
        both.into_iter().find(|(_, both)| *both).map(|(name, _)| {
            format!("Cannot use both revocable and non-revocable '{name}' at the same time")
        })
    }

    /// The persistent volumes: `(role, volume)`.
    pub fn volumes(&self) -> impl Iterator<Item = (&str, &Persistence)> {
        self.parts.keys().filter_map(|kind| {
            Some((
                kind.reservation.as_ref()?.role.as_str(),
                kind.volume.as_ref()?,
            ))
        })
    }

    fn kinds(&self) -> impl Iterator<Item = (&Kind, &Res)> {
        self.parts.iter()
    }
}

/// Who asks for an offer operation: the framework's roles and principal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asker<'a> {
    pub roles: &'a [String],
    pub principal: Option<&'a str>,
}

impl Asker<'_> {
    fn check_role(&self, role: &str) -> Result<(), String> {
        if self.roles.iter().any(|have| have == role) {
            Ok(())
        } else {
            Err(format!(
                "Invalid reservation: role {role:?} is not one of the framework's roles {:?}",
                self.roles
            ))
        }
    }

    /// Mesos: a framework with a principal reserves (and creates) under it.
    fn check_principal(&self, what: &str, principal: Option<&str>) -> Result<(), String> {
        match (self.principal, principal) {
            (Some(mine), Some(theirs)) if mine == theirs => Ok(()),
            (Some(mine), theirs) => Err(format!(
                "A {what} was attempted with principal {theirs:?}, which does not match the \
                 framework's principal {mine:?}"
            )),
            (None, None) => Ok(()),
            (None, Some(theirs)) => Err(format!(
                "A {what} was attempted with principal {theirs:?} by a framework without one"
            )),
        }
    }
}

fn unavailable(what: &str) -> String {
    format!("Invalid {what} operation: the resources are not in the offer (used, or never offered)")
}

/// RESERVE: unreserved resources of the offer become reserved for one of the
/// framework's roles, under its principal.
pub(crate) fn reserve(pool: &mut Bundle, wanted: &Bundle, asker: Asker<'_>) -> Result<(), String> {
    if wanted.is_empty() {
        return Err("Invalid RESERVE operation: no resources".into());
    }
    let mut from = Bundle::default();
    for (kind, res) in wanted.kinds() {
        let Some(reservation) = &kind.reservation else {
            return Err("Invalid RESERVE operation: a resource has no reservation".into());
        };
        if kind.volume.is_some() {
            return Err("Invalid RESERVE operation: a persistent volume cannot be reserved".into());
        }
        asker.check_role(&reservation.role)?;
        asker.check_principal("reserve operation", reservation.principal.as_deref())?;
        from.add_kind(Kind::default(), res);
    }
    convert(pool, &from, wanted, "RESERVE")
}

/// UNRESERVE: reserved resources of the offer (not volumes: destroy those
/// first) go back to the unreserved pool.
pub(crate) fn unreserve(
    pool: &mut Bundle,
    wanted: &Bundle,
    asker: Asker<'_>,
) -> Result<(), String> {
    if wanted.is_empty() {
        return Err("Invalid UNRESERVE operation: no resources".into());
    }
    let mut to = Bundle::default();
    for (kind, res) in wanted.kinds() {
        let Some(reservation) = &kind.reservation else {
            return Err("Invalid UNRESERVE operation: a resource is not reserved".into());
        };
        if kind.volume.is_some() {
            return Err("Invalid UNRESERVE operation: destroy the persistent volume first".into());
        }
        asker.check_role(&reservation.role)?;
        to.add_kind(Kind::default(), res);
    }
    convert(pool, wanted, &to, "UNRESERVE")
}

/// CREATE: reserved disk of the offer becomes persistent volumes, ids
/// unique per role on the agent (`existing`: the agent's total).
pub(crate) fn create(
    pool: &mut Bundle,
    volumes: &Bundle,
    existing: &Bundle,
    asker: Asker<'_>,
) -> Result<(), String> {
    if volumes.is_empty() {
        return Err("Invalid CREATE operation: no volumes".into());
    }
    let mut from = Bundle::default();
    for (kind, res) in volumes.kinds() {
        let (Some(reservation), Some(volume)) = (&kind.reservation, &kind.volume) else {
            return Err("Invalid CREATE operation: a resource is not a persistent volume".into());
        };
        if res.cpus > 0 || res.mem > 0 || !res.ports.is_empty() {
            return Err("Invalid CREATE operation: persistent volumes are disk only".into());
        }
        asker.check_role(&reservation.role)?;
        asker.check_principal("create operation", volume.principal.as_deref())?;
        let taken = existing
            .volumes()
            .chain(volumes.volumes().filter(|(_, other)| *other != volume))
            .any(|(role, other)| role == reservation.role && other.id == volume.id);
        if taken {
            return Err(format!(
                "Invalid CREATE operation: persistence ID {:?} is already used on this agent \
                 for role {:?}",
                volume.id, reservation.role
            ));
        }
        from.add_kind(Kind::reserved(reservation.clone()), res);
    }
    convert(pool, &from, volumes, "CREATE")
}

/// DESTROY: persistent volumes of the offer (so no task uses them) become
/// reserved disk again.
pub(crate) fn destroy(pool: &mut Bundle, volumes: &Bundle, asker: Asker<'_>) -> Result<(), String> {
    if volumes.is_empty() {
        return Err("Invalid DESTROY operation: no volumes".into());
    }
    let mut to = Bundle::default();
    for (kind, res) in volumes.kinds() {
        let (Some(reservation), Some(_)) = (&kind.reservation, &kind.volume) else {
            return Err("Invalid DESTROY operation: a resource is not a persistent volume".into());
        };
        asker.check_role(&reservation.role)?;
        to.add_kind(Kind::reserved(reservation.clone()), res);
    }
    convert(pool, volumes, &to, "DESTROY")
}

/// Replaces `from` by `to` in `pool`, if `pool` has all of `from`.
fn convert(pool: &mut Bundle, from: &Bundle, to: &Bundle, what: &str) -> Result<(), String> {
    if !pool.contains(from) {
        return Err(unavailable(what));
    }
    pool.subtract(from);
    pool.add(to);
    Ok(())
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

    fn reserved(mut resource: Resource, role: &str, principal: Option<&str>) -> Resource {
        resource.reservations = vec![resource::ReservationInfo {
            r#type: Some(resource::reservation_info::Type::Dynamic as i32),
            role: Some(role.into()),
            principal: principal.map(Into::into),
            labels: None,
        }];
        resource
    }

    fn volume(id: &str, mb: f64, role: &str, principal: Option<&str>) -> Resource {
        let mut disk = reserved(Resource::scalar("disk", mb), role, principal);
        disk.disk = Some(resource::DiskInfo {
            persistence: Some(resource::disk_info::Persistence {
                id: id.into(),
                principal: principal.map(Into::into),
            }),
            volume: Some(Volume {
                mode: volume::Mode::Rw as i32,
                container_path: "data".into(),
                ..Default::default()
            }),
        });
        disk
    }

    fn bundle(resources: &[Resource]) -> Bundle {
        Bundle::from_resources(resources).unwrap()
    }

    const ROLES: &[String] = &[];

    fn asker(roles: &[String]) -> Asker<'_> {
        Asker {
            roles,
            principal: Some("me"),
        }
    }

    #[test]
    fn subset_add_subtract() {
        let total = Bundle::from(Res::new(4.0, 1024.0, vec![(31000, 31009)]));
        let want = bundle(&[
            Resource::scalar("cpus", 0.5),
            Resource::scalar("mem", 128.0),
            Resource::ranges("ports", &[(31002, 31003)]),
        ]);
        assert!(total.contains(&want));
        let mut left = total.clone();
        left.subtract(&want);
        assert_eq!(left.total().cpus, 3500);
        assert_eq!(left.total().ports, vec![(31000, 31001), (31004, 31009)]);
        assert!(!left.contains(&want));
        left.add(&want);
        assert_eq!(left, total);
        let round = bundle(&total.to_resources(None));
        assert_eq!(round, total);
    }

    #[test]
    fn refuses_what_is_never_offered() {
        assert!(Bundle::from_resources(&[Resource::scalar("gpus", 1.0)]).is_err());
        let mut old_format = Resource::scalar("cpus", 1.0);
        old_format.role = Some("miners".into());
        assert!(Bundle::from_resources(&[old_format]).is_err());
        let mut refined = reserved(Resource::scalar("cpus", 1.0), "a", None);
        refined.reservations.push(refined.reservations[0].clone());
        assert!(Bundle::from_resources(&[refined]).is_err());
        assert!(
            Bundle::from_resources(&[reserved(Resource::scalar("cpus", 1.0), "*", None)]).is_err()
        );
        assert!(Bundle::from_resources(&[Resource::scalar("cpus", -1.0)]).is_err());
        assert!(Bundle::from_resources(&[Resource::ranges("ports", &[(5, 4)])]).is_err());
        // Volumes: reserved, relative path, a valid id.
        let mut unreserved = volume("v", 1.0, "a", None);
        unreserved.reservations.clear();
        assert!(Bundle::from_resources(&[unreserved]).is_err());
        let mut absolute = volume("v", 1.0, "a", None);
        absolute
            .disk
            .as_mut()
            .unwrap()
            .volume
            .as_mut()
            .unwrap()
            .container_path = "/etc".into();
        assert!(Bundle::from_resources(&[absolute]).is_err());
        let mut escaping = volume("v", 1.0, "a", None);
        escaping
            .disk
            .as_mut()
            .unwrap()
            .volume
            .as_mut()
            .unwrap()
            .container_path = "a/../..".into();
        assert!(Bundle::from_resources(&[escaping]).is_err());
        assert!(Bundle::from_resources(&[volume("a/b", 1.0, "a", None)]).is_err());
        assert!(Bundle::from_resources(&[volume("", 1.0, "a", None)]).is_err());
    }

    #[test]
    fn reserve_create_destroy_unreserve_round_trip() {
        let roles = vec!["miners".to_owned()];
        let total = Bundle::from(Res::new(2.0, 1024.0, vec![(31000, 31009)]).with_disk(512.0));
        let mut pool = total.clone();
        let to_reserve = bundle(&[
            reserved(Resource::scalar("cpus", 0.5), "miners", Some("me")),
            reserved(Resource::scalar("disk", 64.0), "miners", Some("me")),
        ]);
        reserve(&mut pool, &to_reserve, asker(&roles)).unwrap();
        assert_eq!(pool.total(), total.total(), "nothing appears or vanishes");
        assert!(pool.contains(&to_reserve));
        assert_eq!(
            pool.for_roles(ROLES).total().cpus,
            1500,
            "others see 1.5 CPUs"
        );

        let volumes = bundle(&[volume("proxy", 64.0, "miners", Some("me"))]);
        create(&mut pool, &volumes, &total, asker(&roles)).unwrap();
        assert_eq!(pool.volumes().count(), 1);
        assert_eq!(pool.total(), total.total());
        // A second volume with the same id (no reserved disk left anyway).
        let existing = pool.clone();
        let err = create(&mut pool.clone(), &volumes, &existing, asker(&roles)).unwrap_err();
        assert!(err.contains("already used"), "{err}");
        // The reserved disk cannot be unreserved while it is a volume.
        let disk = bundle(&[reserved(
            Resource::scalar("disk", 64.0),
            "miners",
            Some("me"),
        )]);
        assert!(unreserve(&mut pool.clone(), &disk, asker(&roles)).is_err());
        // Half a volume is not a volume.
        let half = bundle(&[volume("proxy", 32.0, "miners", Some("me"))]);
        assert!(destroy(&mut pool.clone(), &half, asker(&roles)).is_err());

        destroy(&mut pool, &volumes, asker(&roles)).unwrap();
        assert_eq!(pool.volumes().count(), 0);
        unreserve(&mut pool, &to_reserve, asker(&roles)).unwrap();
        assert_eq!(pool, total);
    }

    #[test]
    fn operations_check_role_principal_and_availability() {
        let roles = vec!["miners".to_owned()];
        let mut pool = Bundle::from(Res::new(1.0, 256.0, vec![]).with_disk(100.0));
        let before = pool.clone();
        let other_role = bundle(&[reserved(Resource::scalar("cpus", 0.5), "web", Some("me"))]);
        let err = reserve(&mut pool, &other_role, asker(&roles)).unwrap_err();
        assert!(err.contains("role"), "{err}");
        let other_principal = bundle(&[reserved(
            Resource::scalar("cpus", 0.5),
            "miners",
            Some("you"),
        )]);
        let err = reserve(&mut pool, &other_principal, asker(&roles)).unwrap_err();
        assert!(err.contains("principal"), "{err}");
        let no_principal = bundle(&[reserved(Resource::scalar("cpus", 0.5), "miners", None)]);
        assert!(reserve(&mut pool, &no_principal, asker(&roles)).is_err());
        let too_much = bundle(&[reserved(
            Resource::scalar("cpus", 2.0),
            "miners",
            Some("me"),
        )]);
        let err = reserve(&mut pool, &too_much, asker(&roles)).unwrap_err();
        assert!(err.contains("not in the offer"), "{err}");
        let unreserved = bundle(&[Resource::scalar("cpus", 0.5)]);
        assert!(reserve(&mut pool, &unreserved, asker(&roles)).is_err());
        assert!(unreserve(&mut pool, &unreserved, asker(&roles)).is_err());
        // A volume needs reserved disk to come from.
        let volumes = bundle(&[volume("v", 10.0, "miners", Some("me"))]);
        let existing = pool.clone();
        let err = create(&mut pool, &volumes, &existing, asker(&roles)).unwrap_err();
        assert!(err.contains("not in the offer"), "{err}");
        assert_eq!(pool, before, "failed operations change nothing");
        // A framework without a principal reserves without one.
        let anonymous = Asker {
            roles: &roles,
            principal: None,
        };
        reserve(&mut pool, &no_principal, anonymous).unwrap();
        assert!(reserve(&mut pool, &other_principal, anonymous).is_err());
    }

    #[test]
    fn offers_show_reservations_and_volumes_to_their_role_only() {
        let roles = vec!["miners".to_owned()];
        let mut pool = Bundle::from(Res::new(1.0, 256.0, vec![]).with_disk(100.0));
        let disk = bundle(&[reserved(
            Resource::scalar("disk", 10.0),
            "miners",
            Some("me"),
        )]);
        reserve(&mut pool, &disk, asker(&roles)).unwrap();
        let existing = pool.clone();
        let volumes = bundle(&[volume("v", 10.0, "miners", Some("me"))]);
        create(&mut pool, &volumes, &existing, asker(&roles)).unwrap();
        let offered = pool.for_roles(&roles).to_resources(Some("miners"));
        let volume = offered
            .iter()
            .find(|resource| resource.disk.is_some())
            .expect("the volume is offered");
        assert_eq!(volume.reservations[0].role.as_deref(), Some("miners"));
        assert_eq!(volume.reservations[0].principal.as_deref(), Some("me"));
        assert_eq!(volume.role, None, "post-refinement format");
        let disk_info = volume.disk.as_ref().unwrap();
        assert_eq!(disk_info.persistence.as_ref().unwrap().id, "v");
        assert_eq!(disk_info.volume.as_ref().unwrap().container_path, "data");
        assert_eq!(
            bundle(&offered),
            pool,
            "offers parse back to what they offer"
        );
        let others = pool.for_roles(&["web".to_owned()]);
        assert_eq!(others.volumes().count(), 0);
        assert_eq!(others.total().disk, 90_000);
    }
}
