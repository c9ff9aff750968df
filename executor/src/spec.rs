//! What a task asks for: the scheduler's `TaskSpec` JSON in `TaskInfo.data`,
//! with the task's label and the executor's environment as fallbacks.

use mesos::v1::TaskInfo;

// The contract with the scheduler: the spec in `TaskInfo.data`, the
// variables on the executor's command, and the role label.
pub use task_contract::{env, TaskSpec, ROLE_LABEL};

/// A task this executor cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// Neither data, label nor environment says what the task is.
    #[error(
        "task has no TaskSpec in its data, no {ROLE_LABEL} label and no {} variable",
        env::TASK_ROLE
    )]
    UnknownRole,
    /// The role is not one we know.
    #[error("unknown task role {0:?}")]
    BadRole(String),
    /// `TaskInfo.data` is not a TaskSpec.
    #[error("TaskInfo.data is not a valid TaskSpec: {0}")]
    BadData(String),
    /// A miner without a pool address.
    #[error(
        "miner task without a pool: no TaskSpec and no usable {} variable",
        env::MINER_POOL
    )]
    NoPool,
}

/// What to run for one task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    /// Mine in-process.
    Miner(MinerSpec),
    /// Run the proxy as a child process.
    Proxy(ProxySpec),
}

/// A miner task, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerSpec {
    /// Pool host.
    pub host: String,
    /// Pool port.
    pub port: u16,
    /// Stratum user.
    pub user: String,
    /// Stratum password.
    pub password: String,
    /// Search threads: `max(1, round(cpus))`.
    pub threads: usize,
}

/// A proxy task, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxySpec {
    /// Stratum port to listen on, when known.
    pub stratum_port: Option<u16>,
}

/// Search threads for a CPU share: `max(1, round(cpus))`.
pub fn threads_for(cpus: f64) -> usize {
    if cpus.is_finite() && cpus > 1.0 {
        cpus.round() as usize
    } else {
        1
    }
}

fn split_host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.trim().rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?))
}

/// Works out what `task` is, reading variables through `lookup`.
pub fn resolve(
    task: &TaskInfo,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<TaskKind, SpecError> {
    let spec = match task.data.as_ref().filter(|data| !data.is_empty()) {
        Some(data) => {
            Some(TaskSpec::from_data(data).map_err(|error| SpecError::BadData(error.to_string()))?)
        }
        None => None,
    };
    let role = match &spec {
        Some(spec) => spec.role().to_owned(),
        None => task
            .labels
            .iter()
            .flat_map(|labels| labels.labels.iter())
            .find(|label| label.key == ROLE_LABEL)
            .and_then(|label| label.value.clone())
            .or_else(|| lookup(env::TASK_ROLE))
            .ok_or(SpecError::UnknownRole)?,
    };
    match role.as_str() {
        "miner" => {
            let (host, port, cpus) = match spec {
                Some(TaskSpec::Miner {
                    pool_host,
                    pool_port,
                    cpus,
                }) => (
                    pool_host,
                    u16::try_from(pool_port).map_err(|_| SpecError::NoPool)?,
                    cpus,
                ),
                _ => {
                    let (host, port) = lookup(env::MINER_POOL)
                        .as_deref()
                        .and_then(split_host_port)
                        .ok_or(SpecError::NoPool)?;
                    let cpus = lookup(env::MINER_CPUS)
                        .and_then(|cpus| cpus.trim().parse().ok())
                        .unwrap_or_else(|| task_cpus(task));
                    (host, port, cpus)
                }
            };
            let worker = task.task_id.value.clone();
            let user = lookup(env::MINER_USER)
                .filter(|user| !user.is_empty())
                .or_else(|| {
                    lookup(env::MINER_PAYOUT_ADDRESS)
                        .filter(|address| !address.is_empty())
                        .map(|address| format!("{address}.{worker}"))
                })
                .unwrap_or(worker);
            Ok(TaskKind::Miner(MinerSpec {
                host,
                port,
                user,
                password: lookup(env::MINER_PASSWORD).unwrap_or_else(|| "x".to_owned()),
                threads: threads_for(cpus),
            }))
        }
        "proxy" => {
            let stratum_port = match spec {
                Some(TaskSpec::Proxy { stratum_port, .. }) => u16::try_from(stratum_port).ok(),
                _ => lookup(env::PROXY_STRATUM_PORT).and_then(|port| port.trim().parse().ok()),
            };
            Ok(TaskKind::Proxy(ProxySpec { stratum_port }))
        }
        other => Err(SpecError::BadRole(other.to_owned())),
    }
}

/// The task's `cpus` scalar resources, summed.
pub fn task_cpus(task: &TaskInfo) -> f64 {
    task.resources
        .iter()
        .filter(|resource| resource.name == "cpus")
        .filter_map(|resource| resource.scalar.as_ref())
        .map(|scalar| scalar.value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mesos::v1::{Label, Labels, TaskId};
    use std::collections::HashMap;

    fn task(data: Option<&str>, label: Option<&str>) -> TaskInfo {
        TaskInfo {
            task_id: TaskId {
                value: "miner-a1-1".into(),
            },
            data: data.map(|d| Bytes::copy_from_slice(d.as_bytes())),
            labels: label.map(|role| Labels {
                labels: vec![Label {
                    key: ROLE_LABEL.into(),
                    value: Some(role.into()),
                }],
            }),
            ..Default::default()
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn threads_round_cpus() {
        assert_eq!(threads_for(0.1), 1);
        assert_eq!(threads_for(0.0), 1);
        assert_eq!(threads_for(1.4), 1);
        assert_eq!(threads_for(1.5), 2);
        assert_eq!(threads_for(3.9), 4);
        assert_eq!(threads_for(f64::NAN), 1);
    }

    #[test]
    fn scheduler_specs() {
        let miner = task(
            Some(r#"{"role":"miner","pool_host":"p.example","pool_port":31000,"cpus":2.0}"#),
            None,
        );
        assert_eq!(
            resolve(&miner, vars(&[(env::MINER_PAYOUT_ADDRESS, "bcrt1qx")])).unwrap(),
            TaskKind::Miner(MinerSpec {
                host: "p.example".into(),
                port: 31000,
                user: "bcrt1qx.miner-a1-1".into(),
                password: "x".into(),
                threads: 2,
            })
        );
        let proxy = task(
            Some(r#"{"role":"proxy","stratum_port":31000,"http_port":31001}"#),
            None,
        );
        assert_eq!(
            resolve(&proxy, vars(&[])).unwrap(),
            TaskKind::Proxy(ProxySpec {
                stratum_port: Some(31000)
            })
        );
        assert!(matches!(
            resolve(&task(Some("{"), None), vars(&[])),
            Err(SpecError::BadData(_))
        ));
    }

    #[test]
    fn fallbacks_to_label_and_environment() {
        let env = vars(&[(env::MINER_POOL, "10.0.0.1:3333"), (env::MINER_CPUS, "0.5")]);
        match resolve(&task(None, Some("miner")), env).unwrap() {
            TaskKind::Miner(spec) => {
                assert_eq!((spec.host.as_str(), spec.port), ("10.0.0.1", 3333));
                assert_eq!(spec.user, "miner-a1-1");
                assert_eq!(spec.threads, 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve(&task(None, None), vars(&[(env::TASK_ROLE, "proxy")])).unwrap(),
            TaskKind::Proxy(ProxySpec { stratum_port: None })
        );
        assert_eq!(
            resolve(&task(None, None), vars(&[])),
            Err(SpecError::UnknownRole)
        );
        assert_eq!(
            resolve(&task(None, Some("miner")), vars(&[])),
            Err(SpecError::NoPool)
        );
        assert_eq!(
            resolve(&task(None, Some("dancer")), vars(&[])),
            Err(SpecError::BadRole("dancer".into()))
        );
    }
}
