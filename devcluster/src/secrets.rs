//! The agents' secret store and what keeps secret values out of sight.
//!
//! A cluster started with `ClusterConfig::secrets` resolves Mesos'
//! REFERENCE secrets (`Secret.reference.name` and optional `key`) from a
//! JSON file: `{"name": "value"}`, or `{"name": {"key": "value"}}` for keyed
//! secrets. VALUE secrets carry their bytes. Resolved values only reach the
//! executor's process: as environment variables (`Environment.Variable` of
//! type SECRET) or as files (`Volume.source` of type SECRET), written under
//! `<work dir>/secrets/<container id>/` (mode 0700, removed when the
//! executor exits) and linked or mounted at the volume's `container_path`.
//! [`redact_task`] blanks VALUE secrets in what the agent hands an executor.
//! Reading the store ([`SecretStore::load`]) and writing the files
//! ([`write_secret_file`]) are the runtime's part; the state only resolves
//! and redacts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mesos::v1::{secret, Secret, TaskInfo};
use serde::Deserialize;

use crate::error::Error;

/// What stands in for a VALUE secret's bytes in events.
pub const REDACTED: &[u8] = b"<redacted>";

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Entry {
    Value(String),
    Keys(BTreeMap<String, String>),
}

/// Secrets by name.
#[derive(Clone, Default)]
pub(crate) struct SecretStore {
    entries: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("names", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretStore {
    /// Reads the store file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::InvalidConfig(format!(
                "cannot read secrets file {}: {error}",
                path.display()
            ))
        })?;
        Self::parse(&text).map_err(|error| {
            Error::InvalidConfig(format!("secrets file {}: {error}", path.display()))
        })
    }

    fn parse(text: &str) -> Result<Self, serde_json::Error> {
        Ok(Self {
            entries: serde_json::from_str(text)?,
        })
    }

    /// The bytes of `secret`, or why it cannot be resolved (never the value).
    pub fn resolve(&self, secret: &Secret) -> Result<Vec<u8>, String> {
        match secret.r#type() {
            secret::Type::Value => secret
                .value
                .as_ref()
                .map(|value| value.data.to_vec())
                .ok_or_else(|| "a VALUE secret without a value".into()),
            secret::Type::Reference => {
                let reference = secret
                    .reference
                    .as_ref()
                    .ok_or("a REFERENCE secret without a reference")?;
                let entry = self
                    .entries
                    .get(&reference.name)
                    .ok_or_else(|| format!("no secret named {:?} in the store", reference.name))?;
                match (entry, &reference.key) {
                    (Entry::Value(value), None) => Ok(value.clone().into_bytes()),
                    (Entry::Keys(keys), Some(key)) => keys
                        .get(key)
                        .map(|value| value.clone().into_bytes())
                        .ok_or_else(|| format!("secret {:?} has no key {key:?}", reference.name)),
                    (Entry::Value(_), Some(key)) => Err(format!(
                        "secret {:?} has no keys (asked for {key:?})",
                        reference.name
                    )),
                    (Entry::Keys(_), None) => Err(format!(
                        "secret {:?} has keys: the reference needs one",
                        reference.name
                    )),
                }
            }
            secret::Type::Unknown => Err("a secret of type UNKNOWN".into()),
        }
    }
}

/// The directory holding a container's resolved secret files.
pub(crate) fn secrets_dir(work_dir: &Path, container_id: &str) -> PathBuf {
    work_dir.join("secrets").join(container_id)
}

/// The `index`th secret file of a container, in `dir` (its [`secrets_dir`]).
pub(crate) fn secret_file(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("secret-{index}"))
}

/// Writes `value` to the `index`th secret file of a container, readable by
/// its owner only, or by anyone with `world_readable` (a container's user
/// may not be ours; the 0700 directory still keeps other users out).
pub(crate) fn write_secret_file(
    dir: &Path,
    index: usize,
    value: &[u8],
    world_readable: bool,
) -> Result<PathBuf, String> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let path = secret_file(dir, index);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(&path)
        .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    file.write_all(value)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    if world_readable {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))
            .map_err(|error| format!("cannot open up {}: {error}", path.display()))?;
    }
    Ok(path)
}

fn redact_secret(secret: &mut Secret) {
    if let Some(value) = secret.value.as_mut() {
        value.data = bytes::Bytes::from_static(REDACTED);
    }
}

/// Blanks every VALUE secret's bytes in `task` (environment variables,
/// secret volumes, image pull configs): REFERENCE secrets carry no value.
pub(crate) fn redact_task(task: &mut TaskInfo) {
    let mut commands: Vec<&mut mesos::v1::CommandInfo> = Vec::new();
    let mut containers: Vec<&mut mesos::v1::ContainerInfo> = Vec::new();
    if let Some(command) = task.command.as_mut() {
        commands.push(command);
    }
    if let Some(container) = task.container.as_mut() {
        containers.push(container);
    }
    if let Some(executor) = task.executor.as_mut() {
        if let Some(command) = executor.command.as_mut() {
            commands.push(command);
        }
        if let Some(container) = executor.container.as_mut() {
            containers.push(container);
        }
    }
    redact(commands, containers);
}

/// [`redact_task`] for an executor's own description.
pub(crate) fn redact_executor(executor: &mut mesos::v1::ExecutorInfo) {
    redact(
        executor.command.as_mut().into_iter().collect(),
        executor.container.as_mut().into_iter().collect(),
    );
}

fn redact(
    commands: Vec<&mut mesos::v1::CommandInfo>,
    containers: Vec<&mut mesos::v1::ContainerInfo>,
) {
    for command in commands {
        for variable in command
            .environment
            .iter_mut()
            .flat_map(|environment| environment.variables.iter_mut())
        {
            if let Some(secret) = variable.secret.as_mut() {
                redact_secret(secret);
            }
        }
    }
    for container in containers {
        for volume in &mut container.volumes {
            if let Some(secret) = volume.source.as_mut().and_then(|s| s.secret.as_mut()) {
                redact_secret(secret);
            }
        }
        if let Some(config) = container
            .mesos
            .as_mut()
            .and_then(|mesos| mesos.image.as_mut())
            .and_then(|image| image.docker.as_mut())
            .and_then(|docker| docker.config.as_mut())
        {
            redact_secret(config);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos::v1::{environment, CommandInfo, Environment, ExecutorInfo};

    fn reference(name: &str, key: Option<&str>) -> Secret {
        Secret {
            r#type: Some(secret::Type::Reference as i32),
            reference: Some(secret::Reference {
                name: name.into(),
                key: key.map(Into::into),
            }),
            value: None,
        }
    }

    #[test]
    fn references_resolve_from_the_store_and_errors_name_no_value() {
        let store = SecretStore::parse(r#"{"rpc": "u:hunter2", "db": {"user": "alice"}}"#).unwrap();
        assert_eq!(
            store.resolve(&reference("rpc", None)).unwrap(),
            b"u:hunter2"
        );
        assert_eq!(
            store.resolve(&reference("db", Some("user"))).unwrap(),
            b"alice"
        );
        for bad in [
            reference("nope", None),
            reference("db", None),
            reference("db", Some("pass")),
            reference("rpc", Some("x")),
        ] {
            let error = store.resolve(&bad).unwrap_err();
            assert!(
                !error.contains("hunter2") && !error.contains("alice"),
                "{error}"
            );
        }
        assert!(!format!("{store:?}").contains("hunter2"));
        assert!(SecretStore::parse("[1]").is_err());
    }

    #[test]
    fn secret_files_are_private_unless_asked() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets/c1");
        let private = write_secret_file(&secrets, 0, b"s3cret", false).unwrap();
        let shared = write_secret_file(&secrets, 1, b"s3cret", true).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&private), 0o400);
        assert_eq!(mode(&shared), 0o444);
        assert_eq!(mode(&secrets), 0o700);
        assert_eq!(std::fs::read(&private).unwrap(), b"s3cret");
        assert!(
            write_secret_file(&secrets, 0, b"again", false).is_err(),
            "never overwritten"
        );
    }

    #[test]
    fn redaction_blanks_values_and_keeps_references() {
        let value = Secret {
            r#type: Some(secret::Type::Value as i32),
            value: Some(secret::Value {
                data: bytes::Bytes::from_static(b"hunter2"),
            }),
            reference: None,
        };
        let variable = |secret: Secret| environment::Variable {
            name: "X".into(),
            r#type: Some(environment::variable::Type::Secret as i32),
            value: None,
            secret: Some(secret),
        };
        let command = CommandInfo {
            environment: Some(Environment {
                variables: vec![variable(value.clone()), variable(reference("rpc", None))],
            }),
            ..Default::default()
        };
        let mut task = TaskInfo {
            command: Some(command.clone()),
            executor: Some(ExecutorInfo {
                command: Some(command),
                ..Default::default()
            }),
            ..Default::default()
        };
        redact_task(&mut task);
        let bytes = prost::Message::encode_to_vec(&task);
        assert!(!bytes.windows(7).any(|w| w == b"hunter2"));
        let json = serde_json::to_string(&task).unwrap();
        assert!(json.contains("rpc"), "references stay: {json}");
    }
}
