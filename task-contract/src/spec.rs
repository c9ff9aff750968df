//! What a task is: the [`TaskSpec`] JSON the scheduler puts in
//! `TaskInfo.data` (no secrets in it), the label that names the role when
//! there is no data, and the sandbox path of the node's secret.

use serde::{Deserialize, Serialize};

/// Label key carrying the task role.
pub const ROLE_LABEL: &str = "mesos-miner.role";

/// Where the node's credentials appear in the proxy's sandbox when they come
/// as a Mesos secret (a file-based secret volume).
pub const SECRET_PATH: &str = ".secrets/node-rpc";

/// What a task is, as JSON in `TaskInfo.data` for the executor. No secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum TaskSpec {
    /// Run the proxy on these ports (node credentials come by environment).
    Proxy {
        /// Stratum port.
        stratum_port: u64,
        /// HTTP port.
        http_port: u64,
    },
    /// Run a miner against the proxy.
    Miner {
        /// The proxy's host.
        pool_host: String,
        /// The proxy's stratum port.
        pool_port: u64,
        /// CPUs given to the task.
        cpus: f64,
    },
}

impl TaskSpec {
    /// `proxy` or `miner`: the value of [`ROLE_LABEL`] and of
    /// [`crate::env::TASK_ROLE`].
    pub fn role(&self) -> &'static str {
        match self {
            TaskSpec::Proxy { .. } => "proxy",
            TaskSpec::Miner { .. } => "miner",
        }
    }

    /// The JSON for `TaskInfo.data`.
    pub fn to_data(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a TaskSpec always serializes")
    }

    /// Reads `TaskInfo.data`.
    pub fn from_data(data: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_tagged_by_role() {
        let miner = TaskSpec::Miner {
            pool_host: "10.0.0.1".into(),
            pool_port: 3333,
            cpus: 1.5,
        };
        let json: serde_json::Value = serde_json::from_slice(&miner.to_data()).unwrap();
        assert_eq!(json["role"], miner.role());
        assert_eq!(json["pool_port"], 3333);
        assert_eq!(TaskSpec::from_data(&miner.to_data()).unwrap(), miner);

        let proxy = TaskSpec::from_data(br#"{"role":"proxy","stratum_port":1,"http_port":2}"#);
        assert_eq!(
            proxy.unwrap(),
            TaskSpec::Proxy {
                stratum_port: 1,
                http_port: 2
            }
        );
        assert!(TaskSpec::from_data(br#"{"role":"gpu"}"#).is_err());
    }
}
