//! Offers -> decisions: what to launch where.
//!
//! For each OFFERS event, [`plan_offers`] walks the offers once (an offer id
//! seen twice is used once) and, against the [`TaskBook`]:
//! 1. no proxy task (live or pending) and its backoff over: launch ONE proxy
//!    (`proxy.cpus`, `proxy.mem_mb`, two ports: stratum + HTTP; regular
//!    resources only) on the first offer it fits that the constraints and
//!    the quota allow;
//! 2. the proxy RUNNING: launch one miner per kind of CPUs the offer has
//!    and `miner.cpu_policy` allows (regular, revocable: see
//!    [`crate::cpu_policy`]) with at least `miner.mem_mb` memory and
//!    `miner.min_cpus` CPUs, taking ALL the offer's CPUs of that kind
//!    (fractions included) up to the operator's limits (see
//!    [`crate::limits`]), unless the agent is in backoff or a placement
//!    constraint rules it out;
//! 3. decline everything else: `offers.refuse_seconds`, or the rest of the
//!    agent's backoff.
//!
//! With `proxy.volume` (the default), the proxy's journal lives on a
//! persistent volume (see [`crate::volume`]): its first launch also RESERVEs
//! its CPUs, memory and disk for our role and CREATEs the volume, in the same
//! ACCEPT; every relaunch takes the reserved resources and the volume from
//! the home agent's offer, and other agents' offers are declined until that
//! agent has been gone for `proxy.volume.agent_gone_timeout_secs`. An offer
//! with our leftovers (volumes other than the home's, reservations away from
//! home) is used to DESTROY and UNRESERVE them first.
//!
//! Tasks run under our CUSTOM executor, one executor per task
//! (`exec-<task id>`), as a process on the agent or, with the Docker
//! containerizer, inside the miner image; there the proxy is a command task
//! of the proxy image instead. The proxy gets its ports and the node RPC
//! endpoint and credentials as environment variables, never as arguments; a
//! miner gets the proxy's `host:port`. Both also get a [`TaskSpec`] as JSON
//! in `TaskInfo.data`, which holds no secrets.

use std::collections::BTreeMap;
use std::collections::HashSet;

use bytes::Bytes;
use mesos::v1::{
    command_info, container_info, executor_info, offer, AgentId, CommandInfo, ContainerInfo,
    DurationInfo, Environment, ExecutorId, ExecutorInfo, KillPolicy, Label, Labels, Offer,
    Parameter, Resource, TaskInfo,
};
use tracing::{debug, info, warn};

use crate::config::{Config, Containerizer, NodeCredentials};
use crate::cpu_policy::CpuKind;
use crate::decision::Decision;
use crate::limits::{self, Constraint};
use crate::resources::{OfferPool, CPUS, DISK, MEM};
use crate::tasks::{ProxyEndpoint, TaskBook, TaskRecord, TaskRole, TaskState};
use crate::volume::{self, Site};
use mesos::id;
use mesos::scalar::{from_milli, milli_or_zero};

// The contract with the tasks (what `TaskInfo.data` holds, the role label,
// the environment variable names) lives in its own crate, shared with the
// executor and the programs it runs.
pub use task_contract::{env, TaskSpec, ROLE_LABEL, SECRET_PATH};

/// Where the node's cookie file's directory appears in a Docker proxy
/// container (a read-only `host_path` volume).
pub const NODE_COOKIE_DIR: &str = "/run/mesos-miner/node";

/// The proxy's `PROXY_RPC_COOKIE_FILE` and the volume that puts the file there.
/// Validated configurations always name one way ([`Config::validate`]);
/// without one the proxy gets none and refuses to start.
fn credentials(config: &Config) -> (Option<String>, Vec<mesos::v1::Volume>) {
    match config.node.credentials() {
        Ok(NodeCredentials::Secret(name)) => {
            (Some(SECRET_PATH.to_owned()), vec![secret_volume(name)])
        }
        // A process task reads the agent's file where it is.
        Ok(NodeCredentials::CookieFile(path))
            if config.containers.containerizer == Containerizer::Process =>
        {
            (Some(path.to_owned()), Vec::new())
        }
        // A container sees the file's directory, not the file: the node writes a new
        // cookie (a new inode) each time it starts, which a file mount would not follow.
        Ok(NodeCredentials::CookieFile(path)) => {
            let path = std::path::Path::new(path);
            let dir = path.parent().unwrap_or(path);
            let name = path.file_name().map_or_else(
                || ".cookie".into(),
                |name| name.to_string_lossy().into_owned(),
            );
            let volume = mesos::v1::Volume {
                mode: mesos::v1::volume::Mode::Ro as i32,
                container_path: NODE_COOKIE_DIR.into(),
                host_path: Some(dir.display().to_string()),
                ..Default::default()
            };
            (Some(format!("{NODE_COOKIE_DIR}/{name}")), vec![volume])
        }
        Err(_) => (None, Vec::new()),
    }
}

/// The secret volume holding the node's `user:password`.
fn secret_volume(name: &str) -> mesos::v1::Volume {
    mesos::v1::Volume {
        mode: mesos::v1::volume::Mode::Ro as i32,
        container_path: SECRET_PATH.into(),
        source: Some(mesos::v1::volume::Source {
            r#type: Some(mesos::v1::volume::source::Type::Secret as i32),
            secret: Some(mesos::v1::Secret {
                r#type: Some(mesos::v1::secret::Type::Reference as i32),
                reference: Some(mesos::v1::secret::Reference {
                    name: name.to_owned(),
                    key: None,
                }),
                value: None,
            }),
        }),
        ..Default::default()
    }
}

/// The proxy's journal file name on its volume.
pub const JOURNAL_FILE: &str = "proxy-journal.jsonl";

/// A planned launch: resource operations first, then the tasks (the
/// proxy, or one miner per kind of CPUs).
struct Launch {
    operations: Vec<offer::Operation>,
    tasks: Vec<(TaskInfo, TaskRecord)>,
}

enum OfferOutcome {
    Launch(Box<Launch>),
    /// Only resource operations (giving leftovers back).
    Operate(Vec<offer::Operation>),
    Decline(f64),
}

/// Where the proxy's journal goes on this launch.
enum HomePlan {
    /// No volume (`proxy.volume.enabled` is false): the sandbox.
    Sandbox,
    /// RESERVE and CREATE a new one, with this persistence id.
    Fresh(String),
    /// The home's volume, as offered.
    Existing(Box<Resource>),
}

/// Plans one OFFERS event: launches recorded in `book` and returned as
/// decisions, followed by declines (grouped by refuse time).
pub fn plan_offers(
    config: &Config,
    book: &mut TaskBook,
    offers: &[Offer],
    now_ms: u64,
) -> Vec<Decision> {
    let mut decisions = Vec::new();
    let mut declines: BTreeMap<u64, Vec<id::Offer>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for offer in offers {
        if !seen.insert(offer.id.value.as_str()) {
            debug!(offer = %offer.id.value, "offer listed twice: using it once");
            continue;
        }
        book.observe_offer(offer, config.executor.cpus);
        match plan_offer(config, book, offer, now_ms) {
            OfferOutcome::Launch(launch) => {
                let Launch { operations, tasks } = *launch;
                let mut infos = Vec::with_capacity(tasks.len());
                for (task, record) in tasks {
                    info!(
                        task = %record.id,
                        agent = %record.agent_id,
                        host = %record.hostname,
                        cpus = record.cpus,
                        revocable = record.revocable,
                        "launching"
                    );
                    book.insert(record);
                    infos.push(task);
                }
                decisions.push(Decision::Launch {
                    offer_id: id::Offer::from(&offer.id),
                    operations,
                    tasks: infos,
                    refuse_seconds: config.offers.refuse_seconds,
                });
            }
            OfferOutcome::Operate(operations) => decisions.push(Decision::Launch {
                offer_id: id::Offer::from(&offer.id),
                operations,
                tasks: Vec::new(),
                // What is given back comes straight back in a new offer.
                refuse_seconds: 0.0,
            }),
            OfferOutcome::Decline(refuse_seconds) => declines
                .entry((refuse_seconds * 1000.0) as u64)
                .or_default()
                .push(id::Offer::from(&offer.id)),
        }
    }
    decisions.extend(
        declines
            .into_iter()
            .map(|(refuse_ms, offer_ids)| Decision::Decline {
                offer_ids,
                refuse_seconds: refuse_ms as f64 / 1000.0,
            }),
    );
    decisions
}

/// Finds our volumes and reservations in `offer`: the first volume offered
/// becomes the home when there is none; leftovers are given back.
fn tidy_offer(config: &Config, book: &mut TaskBook, offer: &Offer) -> Option<OfferOutcome> {
    let agent = offer.agent_id.value.as_str();
    let found = volume::ours(config, &offer.resources);
    for resource in &found.volumes {
        if let Some(id) = volume::our_volume_id(config, resource) {
            volume::note_generation(book.home_mut(), id);
        }
    }
    if book.home().site.is_none() {
        if let Some(id) = found
            .volumes
            .first()
            .and_then(|resource| volume::our_volume_id(config, resource))
        {
            info!(
                agent,
                persistence_id = id,
                "found the proxy's volume in an offer"
            );
            book.home_mut().site = Some(Site {
                agent_id: agent.to_owned(),
                persistence_id: id.to_owned(),
            });
        }
    }
    let keep = book
        .home()
        .site
        .as_ref()
        .filter(|site| site.agent_id == agent)
        .map(|site| site.persistence_id.as_str());
    let operations = volume::cleanup(config, &offer.resources, keep);
    if operations.is_empty() {
        return None;
    }
    warn!(
        agent,
        operations = ?operations.iter().map(|o| o.r#type()).collect::<Vec<_>>(),
        "giving back a leftover reservation or volume of the proxy"
    );
    Some(OfferOutcome::Operate(operations))
}

/// Where the proxy launched from `offer` keeps its journal; `None`: not
/// from this offer (the home is another agent, or its volume is not here).
fn home_plan(config: &Config, book: &TaskBook, offer: &Offer) -> Option<HomePlan> {
    if !config.proxy.volume.enabled {
        return Some(HomePlan::Sandbox);
    }
    let home = book.home();
    let Some(site) = &home.site else {
        return Some(HomePlan::Fresh(format!(
            "{}{}",
            volume::PERSISTENCE_PREFIX,
            home.generation + 1
        )));
    };
    if site.agent_id != offer.agent_id.value {
        debug!(agent = %offer.agent_id.value, home = %site.agent_id, "the proxy waits for its home agent");
        return None;
    }
    let found = volume::ours(config, &offer.resources);
    let existing = found
        .volumes
        .into_iter()
        .find(|resource| volume::our_volume_id(config, resource) == Some(&site.persistence_id));
    if existing.is_none() {
        debug!(agent = %site.agent_id, "the home agent's offer lacks the proxy's volume");
    }
    existing.map(|resource| HomePlan::Existing(Box::new(resource.clone())))
}

/// The constraint `offer`'s agent breaks for a task of `role`, if any.
fn constraint_broken<'a>(
    config: &'a Config,
    book: &TaskBook,
    offer: &Offer,
    role: TaskRole,
    planned: &[&TaskRecord],
) -> Option<&'a Constraint> {
    let constraints = &config.limits.constraints;
    if constraints.is_empty() {
        return None;
    }
    let agent = book.cluster().agent(&offer.agent_id.value)?;
    let tasks: Vec<&TaskRecord> = book.tasks().chain(planned.iter().copied()).collect();
    let broken = limits::violated(constraints, book.cluster(), agent, role, &tasks);
    if let Some(constraint) = broken {
        debug!(agent = %offer.agent_id.value, %constraint, ?role, "offer declined by a constraint");
    }
    broken
}

/// CPUs of our executor beside a task of `role`, if it has one.
fn executor_cpus(config: &Config, role: TaskRole) -> f64 {
    match (config.containers.containerizer, role) {
        // In Docker the proxy is a command task: no executor of ours.
        (Containerizer::Docker, TaskRole::Proxy) => 0.0,
        _ => config.executor.cpus,
    }
}

/// Regular CPUs our tasks hold (with their executors), in thousandths:
/// what counts against the quota.
fn regular_used_millis(config: &Config, tasks: &[&TaskRecord]) -> i64 {
    tasks
        .iter()
        .map(|t| limits::regular_millis(t, executor_cpus(config, t.role)))
        .sum()
}

/// The most CPUs (thousandths) a new miner of `kind` may take, with
/// `planned` miners already planned in this event, under `--max-cpus` and
/// (regular CPUs only) the quota; `i64::MAX` when nothing limits it.
fn miner_cap_millis(
    config: &Config,
    book: &TaskBook,
    kind: CpuKind,
    planned: &[&TaskRecord],
) -> i64 {
    let tasks: Vec<&TaskRecord> = book
        .tasks()
        .filter(|t| !t.kill_requested)
        .chain(planned.iter().copied())
        .collect();
    let mut cap = i64::MAX;
    if let Some(limit) = config.limits.max_cpus {
        let mining: i64 = tasks
            .iter()
            .filter(|t| t.role == TaskRole::Miner)
            .map(|t| milli_or_zero(t.cpus))
            .sum();
        cap = cap.min(limit.millis(book.cluster().cpus_millis()) - mining);
    }
    if let (Some(quota), CpuKind::Regular) = (config.limits.quota_cpus, kind) {
        let left = milli_or_zero(quota)
            - regular_used_millis(config, &tasks)
            - milli_or_zero(executor_cpus(config, TaskRole::Miner));
        cap = cap.min(left);
    }
    cap.max(0)
}

fn plan_offer(config: &Config, book: &mut TaskBook, offer: &Offer, now_ms: u64) -> OfferOutcome {
    let refuse = config.offers.refuse_seconds;
    if config.proxy.volume.enabled {
        if let Some(outcome) = tidy_offer(config, book, offer) {
            return outcome;
        }
    }
    match book.proxy() {
        None => {
            let backoff_ms = book.proxy_backoff_ms(now_ms);
            if backoff_ms > 0 {
                return OfferOutcome::Decline(refuse.min(backoff_ms as f64 / 1000.0));
            }
            if constraint_broken(config, book, offer, TaskRole::Proxy, &[]).is_some() {
                return OfferOutcome::Decline(refuse);
            }
            if let Some(quota) = config.limits.quota_cpus {
                let tasks: Vec<&TaskRecord> = book.tasks().collect();
                let need = milli_or_zero(config.proxy.cpus)
                    + milli_or_zero(executor_cpus(config, TaskRole::Proxy));
                if regular_used_millis(config, &tasks) + need > milli_or_zero(quota) {
                    warn!(quota, "the proxy does not fit in the quota: declining");
                    return OfferOutcome::Decline(refuse);
                }
            }
            let Some(plan) = home_plan(config, book, offer) else {
                return OfferOutcome::Decline(refuse);
            };
            match launch_proxy(config, book, offer, now_ms, plan) {
                Some(launch) => OfferOutcome::Launch(Box::new(launch)),
                None => {
                    debug!(offer = %offer.id.value, "offer too small for the proxy");
                    OfferOutcome::Decline(refuse)
                }
            }
        }
        Some(proxy) if proxy.state == TaskState::Running => {
            let Some(endpoint) = proxy.endpoint.clone() else {
                return OfferOutcome::Decline(refuse);
            };
            let proxy_id = proxy.id.clone();
            let backoff_ms = book.miner_backoff_ms(&offer.agent_id.value, now_ms);
            if backoff_ms > 0 {
                debug!(agent = %offer.agent_id.value, backoff_ms, "agent in backoff");
                return OfferOutcome::Decline(backoff_ms as f64 / 1000.0);
            }
            let mut regular = OfferPool::new(&offer.resources);
            let mut revocable = OfferPool::revocable(&offer.resources);
            let mut tasks: Vec<(TaskInfo, TaskRecord)> = Vec::new();
            // One miner per kind of CPUs (a task never mixes them).
            for &kind in config.miner.cpu_policy.kinds() {
                let planned: Vec<&TaskRecord> = tasks.iter().map(|(_, r)| r).collect();
                if constraint_broken(config, book, offer, TaskRole::Miner, &planned).is_some() {
                    break;
                }
                let cap = miner_cap_millis(config, book, kind, &planned);
                let pools = MinerPools {
                    regular: &mut regular,
                    revocable: &mut revocable,
                };
                if let Some(launch) = launch_miner(
                    config,
                    book,
                    offer,
                    &endpoint,
                    proxy_id.as_str(),
                    now_ms,
                    kind,
                    cap,
                    pools,
                ) {
                    tasks.push(launch);
                }
            }
            if tasks.is_empty() {
                debug!(offer = %offer.id.value, "offer too small for a miner (or limits reached)");
                return OfferOutcome::Decline(refuse);
            }
            OfferOutcome::Launch(Box::new(Launch {
                operations: Vec::new(),
                tasks,
            }))
        }
        // The proxy is pending (or unreachable): miners need it running.
        Some(_) => OfferOutcome::Decline(refuse),
    }
}

/// Takes the executor's own resources, if it has any.
fn take_executor(config: &Config, pool: &mut OfferPool) -> Option<Vec<Resource>> {
    let mut resources = pool.take_scalar(CPUS, milli_or_zero(config.executor.cpus))?;
    resources.extend(pool.take_scalar(MEM, milli_or_zero(config.executor.mem_mb))?);
    Some(resources)
}

fn launch_proxy(
    config: &Config,
    book: &mut TaskBook,
    offer: &Offer,
    now_ms: u64,
    plan: HomePlan,
) -> Option<Launch> {
    let mut pool = OfferPool::new(&offer.resources);
    // In Docker the proxy is a command task: no executor of ours.
    let with_executor = config.containers.containerizer == Containerizer::Process;
    let mut operations = Vec::new();
    let mut volume_resource = None;
    // Where the CPUs and memory come from: what we reserve now, or the
    // offer (reserved pieces first, so a relaunch takes the home's).
    let mut scalars = match &plan {
        HomePlan::Fresh(persistence_id) => {
            let exec = |value: f64| if with_executor { value } else { 0.0 };
            let cpus = milli_or_zero(config.proxy.cpus + exec(config.executor.cpus));
            let mem = milli_or_zero(config.proxy.mem_mb + exec(config.executor.mem_mb));
            let mut taken = pool.take_scalar(CPUS, cpus)?;
            taken.extend(pool.take_scalar(MEM, mem)?);
            // A volume is one disk resource.
            let disk = pool.take_scalar(DISK, milli_or_zero(config.proxy.volume.disk_mb))?;
            let [disk] = disk.as_slice() else {
                return None;
            };
            let reserved = volume::reserved(config, &taken);
            let reserved_disk = volume::reserved(config, std::slice::from_ref(disk)).remove(0);
            let created = volume::volume(config, &reserved_disk, persistence_id);
            let mut to_reserve = reserved.clone();
            to_reserve.push(reserved_disk);
            operations.push(volume::reserve_operation(to_reserve));
            operations.push(volume::create_operation(vec![created.clone()]));
            volume_resource = Some(created);
            OfferPool::new(&reserved)
        }
        HomePlan::Existing(resource) => {
            volume_resource = Some(Resource::clone(resource));
            pool.clone()
        }
        HomePlan::Sandbox => pool.clone(),
    };
    let executor_resources = if with_executor {
        take_executor(config, &mut scalars)?
    } else {
        Vec::new()
    };
    let mut resources = scalars.take_scalar(CPUS, milli_or_zero(config.proxy.cpus))?;
    resources.extend(scalars.take_scalar(MEM, milli_or_zero(config.proxy.mem_mb))?);
    let (ports, port_resources) =
        pool.take_ports(&[config.proxy.stratum_port, config.proxy.http_port])?;
    resources.extend(port_resources);
    resources.extend(volume_resource);
    let (stratum_port, http_port) = (ports[0], ports[1]);

    let id = book.next_proxy_id();
    match plan {
        HomePlan::Fresh(persistence_id) => {
            info!(
                agent = %offer.agent_id.value,
                %persistence_id,
                "reserving resources and creating the proxy's persistent volume"
            );
            let home = book.home_mut();
            volume::note_generation(home, &persistence_id);
            home.site = Some(Site {
                agent_id: offer.agent_id.value.clone(),
                persistence_id,
            });
            home.waiting_since_ms = None;
        }
        HomePlan::Existing(_) => {
            info!(agent = %offer.agent_id.value, "relaunching the proxy on its volume");
            book.home_mut().waiting_since_ms = None;
        }
        HomePlan::Sandbox => {}
    }
    let node = &config.node;
    let mut env = vec![
        (env::TASK_ROLE, "proxy".to_owned()),
        (env::PROXY_STRATUM_PORT, stratum_port.to_string()),
        (env::PROXY_HTTP_PORT, http_port.to_string()),
        (env::PROXY_LISTEN, format!("0.0.0.0:{stratum_port}")),
        (env::PROXY_HTTP, format!("0.0.0.0:{http_port}")),
        (
            env::PROXY_FALLBACK_ADDRESS,
            config
                .proxy
                .fallback_address
                .clone()
                .unwrap_or_else(|| config.payout_address.clone()),
        ),
        (env::NODE_RPC_URL, node.rpc_url.clone()),
    ];
    let (cookie, volumes) = credentials(config);
    env.extend(cookie.map(|path| (env::PROXY_RPC_COOKIE_FILE, path)));
    let proxy = &config.proxy;
    if !proxy.alert_urls.is_empty() {
        env.push((env::PROXY_ALERT_URL, proxy.alert_urls.join(",")));
    }
    if let Some(secs) = proxy.alert_offline_secs {
        env.push((env::PROXY_ALERT_OFFLINE_SECS, secs.to_string()));
    }
    if let Some(rate) = proxy.alert_min_hash_rate {
        env.push((env::PROXY_ALERT_MIN_HASH_RATE, rate.to_string()));
    }
    if config.proxy.volume.enabled {
        env.push((
            env::PROXY_JOURNAL,
            format!("{}/{JOURNAL_FILE}", config.proxy.volume.container_path),
        ));
    }
    let spec = TaskSpec::Proxy {
        stratum_port,
        http_port,
    };
    let task = task_info(
        config,
        &id,
        TaskRole::Proxy,
        offer,
        resources,
        executor_resources,
        env,
        volumes,
        &spec,
    );
    let record = TaskRecord {
        id,
        role: TaskRole::Proxy,
        agent_id: id::Agent::from(&offer.agent_id),
        hostname: offer.hostname.clone(),
        state: TaskState::Staging,
        cpus: config.proxy.cpus,
        mem_mb: config.proxy.mem_mb,
        endpoint: Some(ProxyEndpoint {
            host: offer.hostname.clone(),
            stratum_port,
            http_port,
        }),
        proxy_id: None,
        kill_requested: false,
        launched_at_ms: now_ms,
        running_since_ms: None,
        unreachable_since_ms: None,
        revocable: false,
    };
    Some(Launch {
        operations,
        tasks: vec![(task, record)],
    })
}

/// What is left of an offer for miners: its regular and revocable pools.
struct MinerPools<'a> {
    regular: &'a mut OfferPool,
    revocable: &'a mut OfferPool,
}

/// A miner on CPUs of `kind` (at most `cap_millis` of them) and regular
/// memory, taken from `pools` only if it fits.
#[allow(clippy::too_many_arguments)]
fn launch_miner(
    config: &Config,
    book: &mut TaskBook,
    offer: &Offer,
    proxy: &ProxyEndpoint,
    proxy_id: &str,
    now_ms: u64,
    kind: CpuKind,
    cap_millis: i64,
    pools: MinerPools<'_>,
) -> Option<(TaskInfo, TaskRecord)> {
    let mut regular = pools.regular.clone();
    let mut revocable = pools.revocable.clone();
    let cpu_pool = match kind {
        CpuKind::Regular => &mut regular,
        CpuKind::Revocable => &mut revocable,
    };
    // The executor's CPUs are of the task's kind too (Mesos checks the
    // task and its executor together).
    let mut executor_resources = cpu_pool.take_scalar(CPUS, milli_or_zero(config.executor.cpus))?;
    let cpus_millis = cpu_pool.scalar_millis(CPUS).min(cap_millis);
    if cpus_millis < milli_or_zero(config.miner.min_cpus) {
        return None;
    }
    let cpu_resources = cpu_pool.take_scalar(CPUS, cpus_millis)?;
    executor_resources.extend(regular.take_scalar(MEM, milli_or_zero(config.executor.mem_mb))?);
    let mut resources = regular.take_scalar(MEM, milli_or_zero(config.miner.mem_mb))?;
    resources.extend(cpu_resources);
    *pools.regular = regular;
    *pools.revocable = revocable;
    let cpus = from_milli(cpus_millis);

    let id = book.next_miner_id(&offer.agent_id.value);
    let pool_addr = format!("{}:{}", proxy.host, proxy.stratum_port);
    let threads = ((cpus_millis + 999) / 1000).max(1);
    let env = vec![
        (env::TASK_ROLE, "miner".to_owned()),
        (env::MINER_POOL, pool_addr.clone()),
        (env::MINER_POOL_URL, format!("stratum+tcp://{pool_addr}")),
        (env::MINER_THREADS, threads.to_string()),
        (env::MINER_CPUS, cpus.to_string()),
        (env::MINER_PAYOUT_ADDRESS, config.payout_address.clone()),
    ];
    let spec = TaskSpec::Miner {
        pool_host: proxy.host.clone(),
        pool_port: proxy.stratum_port,
        cpus,
    };
    let task = task_info(
        config,
        &id,
        TaskRole::Miner,
        offer,
        resources,
        executor_resources,
        env,
        Vec::new(),
        &spec,
    );
    let record = TaskRecord {
        id,
        role: TaskRole::Miner,
        agent_id: id::Agent::from(&offer.agent_id),
        hostname: offer.hostname.clone(),
        state: TaskState::Staging,
        cpus,
        mem_mb: config.miner.mem_mb,
        endpoint: None,
        proxy_id: Some(proxy_id.into()),
        kill_requested: false,
        launched_at_ms: now_ms,
        running_since_ms: None,
        unreachable_since_ms: None,
        revocable: kind == CpuKind::Revocable,
    };
    Some((task, record))
}

fn duration(secs: f64) -> DurationInfo {
    std::time::Duration::from_secs_f64(secs).into()
}

#[allow(clippy::too_many_arguments)]
fn task_info(
    config: &Config,
    id: &id::Task,
    role: TaskRole,
    offer: &Offer,
    resources: Vec<Resource>,
    executor_resources: Vec<Resource>,
    env: Vec<(&str, String)>,
    volumes: Vec<mesos::v1::Volume>,
    spec: &TaskSpec,
) -> TaskInfo {
    let role_name = match role {
        TaskRole::Proxy => "proxy",
        TaskRole::Miner => "miner",
    };
    let labels = Labels {
        labels: vec![Label {
            key: ROLE_LABEL.into(),
            value: Some(role_name.into()),
        }],
    };
    let executor = &config.executor;
    let containers = &config.containers;
    let environment = Some(Environment::from_pairs(env));
    let docker = |image: &str, parameters: Vec<Parameter>| ContainerInfo {
        r#type: container_info::Type::Docker as i32,
        docker: Some(container_info::DockerInfo {
            image: image.to_owned(),
            network: Some(container_info::docker_info::Network::Host as i32),
            parameters,
            force_pull_image: Some(containers.force_pull),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut task = TaskInfo {
        name: format!("mesos-miner {role_name} {id}"),
        task_id: id.to_proto(),
        agent_id: AgentId {
            value: offer.agent_id.value.clone(),
        },
        resources,
        kill_policy: Some(KillPolicy {
            grace_period: Some(duration(executor.kill_grace_period_secs)),
        }),
        data: Some(Bytes::from(spec.to_data())),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    let executor_command = match (containers.containerizer, role) {
        // The proxy image's entrypoint is the proxy, configured by its
        // environment: a command task (Mesos' docker executor runs it).
        (Containerizer::Docker, TaskRole::Proxy) => {
            task.command = Some(CommandInfo {
                environment,
                shell: Some(false),
                ..Default::default()
            });
            let mut container = docker(&containers.proxy_image, Vec::new());
            container.volumes = volumes;
            task.container = Some(container);
            return task;
        }
        // Our executor, inside the miner image: its path overrides the
        // image's entrypoint (the miner).
        (Containerizer::Docker, TaskRole::Miner) => CommandInfo {
            environment,
            shell: Some(false),
            ..Default::default()
        },
        (Containerizer::Process, _) => {
            let mut arguments = Vec::with_capacity(executor.arguments.len() + 1);
            arguments.push(executor.command.clone());
            arguments.extend(executor.arguments.iter().cloned());
            CommandInfo {
                uris: executor
                    .uris
                    .iter()
                    .map(|uri| command_info::Uri {
                        value: uri.value.clone(),
                        executable: Some(uri.executable),
                        extract: Some(uri.extract),
                        cache: Some(uri.cache),
                        output_file: None,
                    })
                    .collect(),
                environment,
                shell: Some(false),
                value: Some(executor.command.clone()),
                arguments,
                user: None,
            }
        }
    };
    let container = match containers.containerizer {
        Containerizer::Docker => {
            let mut container = docker(
                &containers.miner_image,
                vec![Parameter {
                    key: "entrypoint".into(),
                    value: containers.executor_path.clone(),
                }],
            );
            container.volumes = volumes;
            Some(container)
        }
        // The Mesos containerizer (no image) gives the executor the volumes.
        Containerizer::Process => (!volumes.is_empty()).then(|| ContainerInfo {
            r#type: container_info::Type::Mesos as i32,
            volumes,
            ..Default::default()
        }),
    };
    task.executor = Some(ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: ExecutorId {
            value: format!("exec-{id}"),
        },
        command: Some(executor_command),
        resources: executor_resources,
        name: Some(format!("mesos-miner {role_name} executor")),
        shutdown_grace_period: Some(duration(executor.kill_grace_period_secs)),
        labels: Some(labels),
        container,
        ..Default::default()
    });
    task
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::resources::tests::{ports, reserved, scalar};
    use mesos::v1::{FrameworkId, OfferId};

    pub(crate) fn offer(
        id: &str,
        agent: &str,
        cpus: f64,
        mem: f64,
        port_ranges: &[(u64, u64)],
    ) -> Offer {
        let mut resources = vec![scalar(CPUS, cpus), scalar(MEM, mem)];
        if !port_ranges.is_empty() {
            resources.push(ports(port_ranges));
        }
        Offer {
            id: OfferId { value: id.into() },
            framework_id: FrameworkId { value: "fw".into() },
            agent_id: AgentId {
                value: agent.into(),
            },
            hostname: format!("{agent}.example"),
            resources,
            ..Default::default()
        }
    }

    pub(crate) fn config() -> Config {
        let mut config = Config::default();
        config.proxy.cpus = 0.5;
        config.proxy.mem_mb = 256.0;
        config.miner.mem_mb = 64.0;
        config.miner.min_cpus = 0.1;
        config.offers.refuse_seconds = 30.0;
        config.node.rpc_cookie_file = Some("/var/lib/bitcoind/regtest/.cookie".into());
        config.executor.arguments = vec!["--verbose".into()];
        // These tests are about placement; the volume has its own (`volume_tests`).
        config.proxy.volume.enabled = false;
        config
    }

    fn launches(decisions: &[Decision]) -> Vec<&TaskInfo> {
        decisions
            .iter()
            .flat_map(|d| match d {
                Decision::Launch { tasks, .. } => tasks.iter().collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    pub(crate) fn declined(decisions: &[Decision]) -> Vec<String> {
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

    fn total(task: &TaskInfo, name: &str) -> f64 {
        task.resources
            .iter()
            .filter(|r| r.name == name)
            .map(|r| r.scalar.as_ref().unwrap().value)
            .sum()
    }

    fn env_of(task: &TaskInfo) -> BTreeMap<String, String> {
        let command = task
            .executor
            .as_ref()
            .and_then(|executor| executor.command.as_ref())
            .or(task.command.as_ref())
            .unwrap();
        command
            .environment
            .as_ref()
            .unwrap()
            .variables
            .iter()
            .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
            .collect()
    }

    /// A book whose proxy (proxy-1 on agent p) is RUNNING at p.example:31000.
    pub(crate) fn book_with_running_proxy(config: &Config) -> TaskBook {
        let mut book = TaskBook::default();
        let decisions = plan_offers(
            config,
            &mut book,
            &[offer("op", "p", 1.0, 512.0, &[(31000, 31001)])],
            0,
        );
        assert_eq!(launches(&decisions).len(), 1);
        let id = book.proxy().unwrap().id.to_string();
        book.apply_status(
            &crate::tasks::tests::status(&id, "p", mesos::v1::TaskState::TaskRunning),
            1,
            &config.backoff,
        );
        assert!(book.running_proxy().is_some());
        book
    }

    #[test]
    fn proxy_launched_first_even_if_offers_arrive_before() {
        let config = config();
        let mut book = TaskBook::default();
        let offers = [
            offer("o1", "a1", 1.0, 512.0, &[(31000, 31001)]),
            offer("o2", "a2", 2.0, 512.0, &[(31000, 31001)]),
        ];
        let decisions = plan_offers(&config, &mut book, &offers, 0);
        let tasks = launches(&decisions);
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].task_id.value, "proxy-1");
        assert_eq!(total(tasks[0], CPUS), 0.5);
        assert_eq!(total(tasks[0], MEM), 256.0);
        assert_eq!(declined(&decisions), vec!["o2"]);
        assert_eq!(book.proxy().unwrap().state, TaskState::Staging);

        // Pending proxy: no miners, no second proxy.
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o3", "a3", 4.0, 4096.0, &[(31000, 32000)])],
            1,
        );
        assert!(launches(&decisions).is_empty());
        assert_eq!(declined(&decisions), vec!["o3"]);
    }

    #[test]
    fn the_proxy_alerts_where_it_is_told_and_by_default_not_at_all() {
        let offers = [offer("o1", "a1", 1.0, 512.0, &[(31000, 31001)])];
        let plain = config();
        let decisions = plan_offers(&plain, &mut TaskBook::default(), &offers, 0);
        let env = env_of(launches(&decisions)[0]);
        for name in [
            env::PROXY_ALERT_URL,
            env::PROXY_ALERT_OFFLINE_SECS,
            env::PROXY_ALERT_MIN_HASH_RATE,
        ] {
            assert!(!env.contains_key(name), "{name} without alerts configured");
        }
        let mut alerting = config();
        alerting.proxy.alert_urls =
            vec!["http://a.example/hook".into(), "http://b.example/x".into()];
        alerting.proxy.alert_offline_secs = Some(120);
        alerting.proxy.alert_min_hash_rate = Some(1.5e6);
        let decisions = plan_offers(&alerting, &mut TaskBook::default(), &offers, 0);
        let env = env_of(launches(&decisions)[0]);
        assert_eq!(
            env[env::PROXY_ALERT_URL],
            "http://a.example/hook,http://b.example/x"
        );
        assert_eq!(env[env::PROXY_ALERT_OFFLINE_SECS], "120");
        assert_eq!(env[env::PROXY_ALERT_MIN_HASH_RATE], "1500000");
    }

    #[test]
    fn proxy_ports_from_two_port_range() {
        let config = config();
        let mut book = TaskBook::default();
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o1", "a1", 1.0, 512.0, &[(31000, 31001)])],
            0,
        );
        let task = launches(&decisions)[0];
        let env = env_of(task);
        assert_eq!(env[env::PROXY_STRATUM_PORT], "31000");
        assert_eq!(env[env::PROXY_HTTP_PORT], "31001");
        // The proxy's own variables: it starts from the task environment alone.
        assert_eq!(env[env::PROXY_LISTEN], "0.0.0.0:31000");
        assert_eq!(env[env::PROXY_HTTP], "0.0.0.0:31001");
        assert_eq!(env[env::PROXY_FALLBACK_ADDRESS], config.payout_address);
        let endpoint = book.proxy().unwrap().endpoint.clone().unwrap();
        assert_eq!((endpoint.stratum_port, endpoint.http_port), (31000, 31001));
        let ports: Vec<u64> = task
            .resources
            .iter()
            .filter(|r| r.name == "ports")
            .flat_map(|r| r.ranges.as_ref().unwrap().range.iter().map(|r| r.begin))
            .collect();
        assert_eq!(ports, vec![31000, 31001]);
        let spec: TaskSpec = serde_json::from_slice(task.data.as_ref().unwrap()).unwrap();
        assert_eq!(
            spec,
            TaskSpec::Proxy {
                stratum_port: 31000,
                http_port: 31001
            }
        );
    }

    #[test]
    fn proxy_ports_from_multiple_ranges_and_too_few_ports() {
        let config = config();
        let mut book = TaskBook::default();
        let offers = [
            offer("o1", "a1", 1.0, 512.0, &[(31000, 31000)]),
            offer("o2", "a2", 1.0, 512.0, &[(33000, 33000), (32000, 32000)]),
        ];
        let decisions = plan_offers(&config, &mut book, &offers, 0);
        assert_eq!(declined(&decisions), vec!["o1"]);
        let task = launches(&decisions)[0];
        assert_eq!(task.agent_id.value, "a2");
        let endpoint = book.proxy().unwrap().endpoint.clone().unwrap();
        assert_eq!((endpoint.stratum_port, endpoint.http_port), (32000, 33000));
    }

    #[test]
    fn fixed_proxy_ports_must_be_offered() {
        let mut config = config();
        config.proxy.stratum_port = Some(3333);
        let mut book = TaskBook::default();
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o1", "a1", 1.0, 512.0, &[(31000, 31010)])],
            0,
        );
        assert!(launches(&decisions).is_empty());
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o2", "a1", 1.0, 512.0, &[(3333, 3334)])],
            0,
        );
        assert_eq!(
            book.proxy()
                .unwrap()
                .endpoint
                .as_ref()
                .unwrap()
                .stratum_port,
            3333
        );
        assert_eq!(launches(&decisions).len(), 1);
    }

    #[test]
    fn three_agents_get_miners_with_exactly_their_cpus() {
        let config = config();
        let mut book = book_with_running_proxy(&config);
        let offers = [
            offer("o1", "a1", 1.0, 1024.0, &[]),
            offer("o2", "a2", 2.0, 1024.0, &[]),
            offer("o3", "a3", 0.5, 1024.0, &[]),
        ];
        let decisions = plan_offers(&config, &mut book, &offers, 10);
        let tasks = launches(&decisions);
        assert_eq!(tasks.len(), 3);
        let cpus: Vec<f64> = tasks.iter().map(|t| total(t, CPUS)).collect();
        assert_eq!(cpus, vec![1.0, 2.0, 0.5]);
        for task in &tasks {
            assert_eq!(total(task, MEM), 64.0);
            assert_eq!(env_of(task)[env::MINER_POOL], "p.example:31000");
            let spec: TaskSpec = serde_json::from_slice(task.data.as_ref().unwrap()).unwrap();
            assert!(matches!(
                spec,
                TaskSpec::Miner {
                    pool_port: 31000,
                    ..
                }
            ));
            let executor = task.executor.as_ref().unwrap();
            assert_eq!(executor.r#type(), executor_info::Type::Custom);
            assert_eq!(
                executor.executor_id.value,
                format!("exec-{}", task.task_id.value)
            );
        }
        assert_eq!(env_of(tasks[2])[env::MINER_THREADS], "1");
        assert_eq!(env_of(tasks[1])[env::MINER_THREADS], "2");
        let ids: HashSet<&str> = tasks.iter().map(|t| t.task_id.value.as_str()).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.contains("miner-a1-1"));
        assert_eq!(book.miners().count(), 3);
        assert!(declined(&decisions).is_empty());
    }

    #[test]
    fn too_small_offers_declined() {
        let config = config();
        let mut book = book_with_running_proxy(&config);
        let offers = [
            offer("cpu", "a1", 0.05, 1024.0, &[]),
            offer("mem", "a2", 4.0, 32.0, &[]),
            offer("ok", "a3", 0.1, 64.0, &[]),
        ];
        let decisions = plan_offers(&config, &mut book, &offers, 10);
        assert_eq!(launches(&decisions).len(), 1);
        assert_eq!(declined(&decisions), vec!["cpu", "mem"]);
        assert!(decisions.contains(&Decision::Decline {
            offer_ids: vec!["cpu".into(), "mem".into()],
            refuse_seconds: 30.0
        }));

        // Too small for the proxy either.
        let mut book = TaskBook::default();
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o", "a", 0.25, 1024.0, &[(1, 10)])],
            0,
        );
        assert_eq!(declined(&decisions), vec!["o"]);
        assert!(book.proxy().is_none());
    }

    #[test]
    fn offer_listed_twice_is_used_once() {
        let config = config();
        let mut book = book_with_running_proxy(&config);
        let same = offer("o1", "a1", 1.0, 1024.0, &[]);
        let decisions = plan_offers(&config, &mut book, &[same.clone(), same], 10);
        assert_eq!(decisions.len(), 1);
        assert_eq!(launches(&decisions).len(), 1);
    }

    #[test]
    fn executor_resources_come_out_of_the_offer() {
        let mut config = config();
        config.executor.cpus = 0.1;
        config.executor.mem_mb = 32.0;
        let mut book = book_with_running_proxy(&config);
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o1", "a1", 1.0, 1024.0, &[])],
            10,
        );
        let task = launches(&decisions)[0];
        assert_eq!(total(task, CPUS), 0.9);
        let executor = task.executor.as_ref().unwrap();
        let executor_cpus: f64 = executor
            .resources
            .iter()
            .filter(|r| r.name == CPUS)
            .map(|r| r.scalar.as_ref().unwrap().value)
            .sum();
        assert_eq!(executor_cpus, 0.1);
    }

    #[test]
    fn reserved_resources_keep_their_reservation() {
        let config = config();
        let mut book = book_with_running_proxy(&config);
        let mut o = offer("o1", "a1", 1.0, 1024.0, &[]);
        o.resources.push(reserved(scalar(CPUS, 0.5), "mining"));
        let decisions = plan_offers(&config, &mut book, &[o], 10);
        let task = launches(&decisions)[0];
        assert_eq!(total(task, CPUS), 1.5);
        assert!(task
            .resources
            .iter()
            .any(|r| r.name == CPUS && !r.reservations.is_empty()));
    }

    #[test]
    fn agent_in_backoff_declined_for_the_rest_of_it() {
        let config = config();
        let mut book = book_with_running_proxy(&config);
        book.insert(crate::tasks::tests::record(
            "miner-a1-9",
            TaskRole::Miner,
            "a1",
            TaskState::Running,
        ));
        book.apply_status(
            &crate::tasks::tests::status("miner-a1-9", "a1", mesos::v1::TaskState::TaskFailed),
            1000,
            &config.backoff,
        );
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o1", "a1", 1.0, 1024.0, &[])],
            1500,
        );
        assert_eq!(
            decisions,
            vec![Decision::Decline {
                offer_ids: vec!["o1".into()],
                refuse_seconds: 0.5
            }]
        );
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o2", "a1", 1.0, 1024.0, &[])],
            2000,
        );
        assert_eq!(launches(&decisions).len(), 1);
    }

    /// The proxy's credentials, in the task, for each way of naming them and each
    /// containerizer: the cookie path it reads and the volume that puts the file there.
    fn proxy_credentials(config: &Config) -> (TaskInfo, Option<String>, Vec<mesos::v1::Volume>) {
        let mut book = TaskBook::default();
        let decisions = plan_offers(
            config,
            &mut book,
            &[offer("o1", "a1", 1.0, 512.0, &[(31000, 31001)])],
            0,
        );
        let tasks = launches(&decisions);
        assert_eq!(tasks.len(), 1);
        let task = tasks[0].clone();
        let cookie = env_of(&task).get(env::PROXY_RPC_COOKIE_FILE).cloned();
        let container = match config.containers.containerizer {
            Containerizer::Process => task.executor.as_ref().unwrap().container.as_ref(),
            Containerizer::Docker => task.container.as_ref(),
        };
        let volumes = container.map(|c| c.volumes.clone()).unwrap_or_default();
        (task, cookie, volumes)
    }

    /// No variable of any task carries a password or user: there is no field for one.
    fn assert_no_password_variables(task: &TaskInfo) {
        let env = env_of(task);
        assert!(!env.contains_key(env::NODE_RPC_PASSWORD), "{env:?}");
        assert!(!env.contains_key(env::NODE_RPC_USER), "{env:?}");
    }

    #[test]
    fn a_cookie_file_is_read_in_place_by_a_process_proxy() {
        let config = config();
        let (task, cookie, volumes) = proxy_credentials(&config);
        assert_eq!(cookie.as_deref(), Some("/var/lib/bitcoind/regtest/.cookie"));
        assert!(volumes.is_empty(), "{volumes:?}");
        assert_no_password_variables(&task);
    }

    #[test]
    fn a_docker_proxy_sees_the_cookie_directory_read_only() {
        let mut config = config();
        config.containers.containerizer = Containerizer::Docker;
        let (task, cookie, volumes) = proxy_credentials(&config);
        assert_eq!(
            cookie.as_deref(),
            Some("/run/mesos-miner/node/.cookie"),
            "the file inside the mounted directory"
        );
        assert_eq!(volumes.len(), 1, "{volumes:?}");
        let volume = &volumes[0];
        assert_eq!(volume.container_path, NODE_COOKIE_DIR);
        assert_eq!(
            volume.host_path.as_deref(),
            Some("/var/lib/bitcoind/regtest")
        );
        assert_eq!(volume.mode(), mesos::v1::volume::Mode::Ro);
        assert!(volume.source.is_none());
        assert_no_password_variables(&task);
    }

    /// With `node.rpc_secret`, the proxy gets a REFERENCE secret volume and the
    /// cookie path; the TaskInfo names only the secret.
    #[test]
    fn secret_mode_gives_the_proxy_a_reference_secret_volume() {
        for containerizer in [Containerizer::Process, Containerizer::Docker] {
            let mut config = config();
            config.node.rpc_cookie_file = None;
            config.node.rpc_secret = Some("mesos-miner/node-rpc".into());
            config.containers.containerizer = containerizer;
            let (task, cookie, volumes) = proxy_credentials(&config);
            assert_no_password_variables(&task);
            assert_eq!(cookie.as_deref(), Some(SECRET_PATH), "{containerizer:?}");
            let volume = &volumes[0];
            assert_eq!(volume.container_path, SECRET_PATH);
            assert_eq!(volume.mode(), mesos::v1::volume::Mode::Ro);
            let source = volume.source.as_ref().unwrap();
            assert_eq!(source.r#type(), mesos::v1::volume::source::Type::Secret);
            let secret_ref = source.secret.as_ref().unwrap();
            assert_eq!(secret_ref.r#type(), mesos::v1::secret::Type::Reference);
            assert!(secret_ref.value.is_none());
            assert_eq!(
                secret_ref.reference.as_ref().unwrap().name,
                "mesos-miner/node-rpc"
            );
        }
    }

    #[test]
    fn docker_mode_runs_the_proxy_image_as_a_command_task_and_miners_in_the_miner_image() {
        let mut config = config();
        config.containers.containerizer = Containerizer::Docker;
        config.executor.cpus = 0.1;
        let mut book = TaskBook::default();
        let decisions = plan_offers(
            &config,
            &mut book,
            &[offer("o1", "a1", 1.0, 512.0, &[(31000, 31001)])],
            0,
        );
        let proxy = launches(&decisions)[0].clone();
        assert!(
            proxy.executor.is_none(),
            "no executor of ours for the proxy"
        );
        let command = proxy.command.as_ref().unwrap();
        assert_eq!(command.shell, Some(false));
        assert!(command.value.is_none() && command.arguments.is_empty());
        let container = proxy.container.as_ref().unwrap();
        assert_eq!(container.r#type(), container_info::Type::Docker);
        let docker = container.docker.as_ref().unwrap();
        assert_eq!(docker.image, config.containers.proxy_image);
        assert_eq!(docker.network(), container_info::docker_info::Network::Host);
        let env: BTreeMap<_, _> = command
            .environment
            .as_ref()
            .unwrap()
            .variables
            .iter()
            .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(env[env::PROXY_LISTEN], "0.0.0.0:31000");
        assert_eq!(
            env[env::PROXY_RPC_COOKIE_FILE],
            "/run/mesos-miner/node/.cookie"
        );
        assert_eq!(
            total(&proxy, CPUS),
            0.5,
            "no executor CPUs for a command task"
        );

        let mut book = book_with_running_proxy(&config);
        let decisions = plan_offers(&config, &mut book, &[offer("o2", "a2", 2.0, 512.0, &[])], 2);
        let miner = launches(&decisions)[0].clone();
        assert!(miner.command.is_none() && miner.container.is_none());
        let executor = miner.executor.as_ref().unwrap();
        let docker = executor
            .container
            .as_ref()
            .unwrap()
            .docker
            .as_ref()
            .unwrap();
        assert_eq!(docker.image, config.containers.miner_image);
        assert_eq!(docker.parameters.len(), 1);
        assert_eq!(docker.parameters[0].key, "entrypoint");
        assert_eq!(docker.parameters[0].value, config.containers.executor_path);
        let command = executor.command.as_ref().unwrap();
        assert!(command.value.is_none() && command.uris.is_empty());
        assert_eq!(env_of(&miner)[env::MINER_POOL], "p.example:31000");
        assert_eq!(
            total(&miner, CPUS),
            1.9,
            "the executor's 0.1 CPU comes first"
        );
    }
}

#[cfg(test)]
#[path = "plan_limits_tests.rs"]
mod limits_tests;
