//! Docker for the container tests: an engine (`docker/engine start`: the
//! machine's, or podman's Docker-compatible service started on demand), the
//! workspace's images (`docker/build-images`, once per test process), and
//! containers removed on drop. Everything goes through the real `docker` CLI.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root (scripts live under `docker/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `DOCKER_HOST` of an engine that answers; started on first use.
pub fn engine() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let output = Command::new(workspace_root().join("docker/engine"))
            .arg("start")
            // A service started for tests goes away once they stop using it.
            .env("ENGINE_IDLE_SECONDS", "600")
            .stderr(Stdio::inherit())
            .output()
            .expect("running docker/engine");
        assert!(output.status.success(), "docker/engine start failed");
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(|line| line.strip_prefix("export DOCKER_HOST="))
            .expect("docker/engine prints DOCKER_HOST")
            .trim()
            .to_owned()
    })
}

/// A `docker` command against [`engine`].
pub fn docker() -> Command {
    let mut command = Command::new("docker");
    command.env("DOCKER_HOST", engine());
    command
}

/// Runs `docker args...`, returning its output (panics if it cannot start).
pub fn docker_output(args: &[&str]) -> Output {
    docker().args(args).output().expect("running docker")
}

/// The workspace's images, built from the current sources.
#[derive(Debug, Clone)]
pub struct Images {
    /// miner + executor.
    pub miner: String,
    /// proxy.
    pub proxy: String,
    /// scheduler + devcluster.
    pub scheduler: String,
    /// Each image's size in bytes, as `docker/build-images` printed it.
    pub sizes: Vec<(String, u64)>,
}

/// Why the images could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// A package the build needs is not installed.
    #[error(transparent)]
    Missing(#[from] crate::prerequisites::Missing),
    /// `docker/build-images` could not be run.
    #[error("running docker/build-images: {0}")]
    Io(#[from] std::io::Error),
    /// `docker/build-images` failed (its output went to stderr).
    #[error("docker/build-images failed")]
    Failed,
    /// The build printed no image of this kind.
    #[error("no {kind} image in {sizes:?}")]
    NoImage {
        /// miner, proxy or scheduler.
        kind: String,
        /// What it printed.
        sizes: Vec<(String, u64)>,
    },
}

/// Builds the images from the current sources (`docker/build-images`),
/// tagged `tag`.
pub fn build_images(tag: &str) -> Result<Images, ImagesError> {
    crate::prerequisites::require("images")?;
    let output = Command::new(workspace_root().join("docker/build-images"))
        .env("DOCKER_HOST", engine())
        .env("IMAGE_TAG", tag)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(ImagesError::Failed);
    }
    let sizes: Vec<(String, u64)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (name, size) = line.split_once(' ')?;
            Some((name.to_owned(), size.trim().parse().ok()?))
        })
        .collect();
    let find = |suffix: &str| {
        sizes
            .iter()
            .map(|(name, _)| name.clone())
            .find(|name| name.ends_with(&format!("-{suffix}:{tag}")))
            .ok_or_else(|| ImagesError::NoImage {
                kind: suffix.to_owned(),
                sizes: sizes.clone(),
            })
    };
    Ok(Images {
        miner: find("miner")?,
        proxy: find("proxy")?,
        scheduler: find("scheduler")?,
        sizes: sizes.clone(),
    })
}

/// The images for tests, built once per test process, tagged `:test`.
pub fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| build_images("test").expect("building the images"))
}

/// A container started with `docker run -d`, removed (`rm -f`) on drop.
pub struct Container(pub String);

impl Container {
    /// `docker run -d --name NAME args...`; `env` is passed by name only.
    pub fn run(name: &str, env: &[(&str, &str)], args: &[&str]) -> Self {
        let _ = docker_output(&["rm", "-f", name]);
        let mut command = docker();
        command.args(["run", "-d", "--name", name]);
        for (key, value) in env {
            command.args(["-e", key]).env(key, value);
        }
        let output = command.args(args).output().expect("running docker run");
        assert!(
            output.status.success(),
            "docker run {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self(name.to_owned())
    }

    /// The container's output so far (stdout and stderr).
    pub fn logs(&self) -> String {
        let output = docker_output(&["logs", &self.0]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker_output(&["rm", "-f", &self.0]);
    }
}
