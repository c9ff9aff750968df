//! The Docker containerizer: how an agent runs an executor, or a command
//! task, whose `ContainerInfo` is DOCKER. Like Mesos' agent it drives the
//! `docker` CLI: `docker run` with CPU shares and quota and a memory limit
//! from the resources, the environment, the network mode, labels naming the
//! task, and the sandbox mounted at [`SANDBOX_MOUNT`]. This module decides
//! the invocation; [`crate::launcher`] makes it, and delivers signals with
//! `docker kill`, learns that the container runs from `docker inspect`, and
//! cleans up with `docker rm -f`. Environment values reach the container
//! through the CLI's own environment (`-e NAME`), so secrets never appear in
//! its arguments.

use std::path::{Path, PathBuf};

use mesos::v1::{container_info, CommandInfo, ContainerInfo, Label};

use crate::resources::Res;

/// Where the sandbox appears inside the container (Mesos' path).
pub const SANDBOX_MOUNT: &str = "/mnt/mesos/sandbox";

/// The `docker run` invocation for one container.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The container's name (`mesos-<container id>`, as Mesos names them).
    pub name: String,
    /// Arguments after `docker`.
    pub args: Vec<String>,
    /// Variables the CLI process must have, passed on by name (`-e NAME`).
    pub env: Vec<(String, String)>,
}

/// A host directory a container sees at `container_path` (relative to the
/// sandbox, or absolute): a persistent volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

/// Mesos' container name for a container id.
pub fn container_name(container_id: &str) -> String {
    format!("mesos-{container_id}")
}

/// Builds the `docker run` arguments for `container` running `command` with
/// `resources`, `env` and `labels`, the sandbox at `sandbox`. The command
/// follows Mesos: `shell` runs `/bin/sh -c value` as the entrypoint;
/// otherwise `value` (if any) and `arguments` follow the image and go to its
/// own entrypoint.
#[allow(clippy::too_many_arguments)]
pub fn run_spec(
    container: &ContainerInfo,
    command: &CommandInfo,
    container_id: &str,
    sandbox: &Path,
    resources: &Res,
    mounts: &[Mount],
    env: Vec<(String, String)>,
    labels: &[(String, String)],
) -> Result<RunSpec, String> {
    if container.r#type() != container_info::Type::Docker {
        return Err("not a DOCKER container".into());
    }
    let docker = container
        .docker
        .as_ref()
        .ok_or("DOCKER container without DockerInfo")?;
    if docker.image.is_empty() {
        return Err("DockerInfo.image must not be empty".into());
    }
    let name = container_name(container_id);
    let mut args: Vec<String> = vec!["run".into(), "--rm".into(), format!("--name={name}")];
    if resources.cpus > 0 {
        // Mesos: shares = 1024 per CPU (at least 2); quota with CFS enabled.
        args.push(format!(
            "--cpu-shares={}",
            (resources.cpus * 1024 / 1000).max(2)
        ));
        args.push(format!("--cpus={}", resources.cpus as f64 / 1000.0));
    }
    if resources.mem > 0 {
        // Docker needs at least 6 MB.
        let bytes = (resources.mem as u128 * 1024 * 1024 / 1000).max(6 << 20);
        args.push(format!("--memory={bytes}"));
    }
    for (name, _) in &env {
        args.push("-e".into());
        args.push(name.clone());
    }
    args.push(format!("-v={}:{SANDBOX_MOUNT}", sandbox.display()));
    args.push(format!("-w={SANDBOX_MOUNT}"));
    for volume in &container.volumes {
        // Volumes with a source (secrets) come resolved, as `mounts`.
        if volume.source.is_some() {
            continue;
        }
        let Some(host) = &volume.host_path else {
            return Err("only host_path volumes are supported by devcluster".into());
        };
        let mode = match volume.mode() {
            mesos::v1::volume::Mode::Ro => "ro",
            mesos::v1::volume::Mode::Rw => "rw",
        };
        let target = if volume.container_path.starts_with('/') {
            volume.container_path.clone()
        } else {
            format!("{SANDBOX_MOUNT}/{}", volume.container_path)
        };
        args.push(format!("-v={host}:{target}:{mode}"));
    }
    // Persistent volumes, inside the sandbox mount as Mesos' docker
    // containerizer puts them.
    for mount in mounts {
        let mode = if mount.read_only { "ro" } else { "rw" };
        let target = if mount.container_path.starts_with('/') {
            mount.container_path.clone()
        } else {
            format!("{SANDBOX_MOUNT}/{}", mount.container_path)
        };
        args.push(format!("-v={}:{target}:{mode}", mount.host.display()));
    }
    match docker.network() {
        container_info::docker_info::Network::Host => args.push("--net=host".into()),
        container_info::docker_info::Network::Bridge => {
            args.push("--net=bridge".into());
            for mapping in &docker.port_mappings {
                let protocol = mapping.protocol.as_deref().unwrap_or("tcp");
                args.push(format!(
                    "-p={}:{}/{protocol}",
                    mapping.host_port, mapping.container_port
                ));
            }
        }
        container_info::docker_info::Network::None => args.push("--net=none".into()),
        container_info::docker_info::Network::User => {
            let network = container
                .network_infos
                .first()
                .and_then(|info| info.name.clone())
                .ok_or("USER network needs a NetworkInfo with a name")?;
            args.push(format!("--net={network}"));
        }
    }
    if let Some(hostname) = &container.hostname {
        args.push(format!("--hostname={hostname}"));
    }
    if docker.privileged.unwrap_or(false) {
        args.push("--privileged".into());
    }
    if docker.force_pull_image.unwrap_or(false) {
        args.push("--pull=always".into());
    }
    for (key, value) in labels {
        args.push(format!("--label={key}={value}"));
    }
    for parameter in &docker.parameters {
        args.push(format!("--{}={}", parameter.key, parameter.value));
    }
    let shell = command.shell.unwrap_or(true);
    if shell {
        let value = command
            .value
            .as_deref()
            .ok_or("Shell specified but no command value provided")?;
        args.push("--entrypoint=/bin/sh".into());
        args.push(docker.image.clone());
        args.push("-c".into());
        args.push(value.to_owned());
    } else {
        args.push(docker.image.clone());
        args.extend(command.value.iter().cloned());
        args.extend(command.arguments.iter().cloned());
    }
    Ok(RunSpec { name, args, env })
}

/// Labels naming what runs in a container, plus the task's own labels.
pub fn labels(
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
    task_id: &str,
    task_labels: &[Label],
) -> Vec<(String, String)> {
    let mut labels = vec![
        ("mesos.agent.id".to_owned(), agent_id.to_owned()),
        ("mesos.framework.id".to_owned(), framework_id.to_owned()),
        ("mesos.executor.id".to_owned(), executor_id.to_owned()),
        ("mesos.task.id".to_owned(), task_id.to_owned()),
    ];
    labels.extend(
        task_labels
            .iter()
            .map(|label| (label.key.clone(), label.value.clone().unwrap_or_default())),
    );
    labels
}

pub(crate) fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGTERM => "TERM".into(),
        libc::SIGKILL => "KILL".into(),
        libc::SIGINT => "INT".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos::v1::{container_info::DockerInfo, Parameter};

    fn container(network: container_info::docker_info::Network) -> ContainerInfo {
        ContainerInfo {
            r#type: container_info::Type::Docker as i32,
            docker: Some(DockerInfo {
                image: "localhost/mesos-miner-proxy:latest".into(),
                network: Some(network as i32),
                parameters: vec![Parameter {
                    key: "entrypoint".into(),
                    value: "/usr/local/bin/executor".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// `run_spec` with no resources, environment or labels.
    fn bare_spec(info: &ContainerInfo, command: &CommandInfo) -> Result<RunSpec, String> {
        run_spec(
            info,
            command,
            "c",
            Path::new("/s"),
            &Res::default(),
            &[],
            vec![],
            &[],
        )
    }

    #[test]
    fn run_spec_carries_limits_env_by_name_labels_and_command() {
        let command = CommandInfo {
            shell: Some(false),
            value: Some("--flag".into()),
            arguments: vec!["x".into()],
            ..Default::default()
        };
        let res = Res::new(1.5, 256.0, vec![]);
        let spec = run_spec(
            &container(container_info::docker_info::Network::Host),
            &command,
            "abc",
            Path::new("/sb"),
            &res,
            &[Mount {
                host: PathBuf::from("/vol/proxy"),
                container_path: "proxy-data".into(),
                read_only: false,
            }],
            vec![("PROXY_RPC_PASSWORD".into(), "s3cret".into())],
            &labels("a1", "f1", "e1", "t1", &[]),
        )
        .unwrap();
        assert_eq!(spec.name, "mesos-abc");
        let args = spec.args.join(" ");
        assert!(!args.contains("s3cret"), "secret value in argv: {args}");
        for expected in [
            "run --rm --name=mesos-abc",
            "--cpu-shares=1536",
            "--cpus=1.5",
            &format!("--memory={}", 256u64 << 20),
            "-e PROXY_RPC_PASSWORD",
            "-v=/sb:/mnt/mesos/sandbox",
            "-v=/vol/proxy:/mnt/mesos/sandbox/proxy-data:rw",
            "-w=/mnt/mesos/sandbox",
            "--net=host",
            "--label=mesos.task.id=t1",
            "--entrypoint=/usr/local/bin/executor",
        ] {
            assert!(args.contains(expected), "{expected:?} missing from {args}");
        }
        assert!(args.ends_with("localhost/mesos-miner-proxy:latest --flag x"));
    }

    #[test]
    fn shell_commands_override_the_entrypoint_and_need_a_value() {
        let mut command = CommandInfo {
            shell: Some(true),
            value: Some("echo hi".into()),
            ..Default::default()
        };
        let network = container_info::docker_info::Network::Bridge;
        let mut info = container(network);
        info.docker.as_mut().unwrap().port_mappings =
            vec![container_info::docker_info::PortMapping {
                host_port: 31000,
                container_port: 3333,
                protocol: None,
            }];
        let spec = run_spec(
            &info,
            &command,
            "c",
            Path::new("/s"),
            &Res::default(),
            &[],
            vec![],
            &[],
        )
        .unwrap();
        let args = spec.args.join(" ");
        assert!(args.contains("--net=bridge -p=31000:3333/tcp"), "{args}");
        assert!(
            args.ends_with("--entrypoint=/bin/sh localhost/mesos-miner-proxy:latest -c echo hi")
        );
        assert!(
            !args.contains("--cpus"),
            "no limits without resources: {args}"
        );
        command.value = None;
        assert!(bare_spec(&info, &command).is_err());
    }

    #[test]
    fn non_docker_or_imageless_containers_are_refused() {
        let command = CommandInfo::default();
        let mut info = container(container_info::docker_info::Network::Host);
        info.r#type = container_info::Type::Mesos as i32;
        assert!(bare_spec(&info, &command).is_err());
        let mut info = container(container_info::docker_info::Network::Host);
        info.docker.as_mut().unwrap().image.clear();
        assert!(bare_spec(&info, &command).is_err());
    }
}
