//! The workspace's own programs (`proxy`, `miner`, ...) for cross-process
//! tests: found next to the running test in cargo's target directory, built
//! with `cargo build` first if this test run did not build them.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static BUILD: Mutex<()> = Mutex::new(());

/// The package that builds binary `name`: its own name, but for the tools that live beside
/// a program.
fn package_of(name: &str) -> &str {
    match name {
        "stratum-load" => "proxy",
        other => other,
    }
}

/// The path of workspace binary `name`, building it (with its package) if needed.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // A test runs from <target>/<profile>/deps/, a binary from <target>/<profile>/.
    let dir = exe.parent().expect("executable has a directory");
    let profile_dir = if dir.file_name().is_some_and(|d| d == "deps") {
        dir.parent().expect("deps has a parent").to_path_buf()
    } else {
        dir.to_path_buf()
    };
    let path = profile_dir.join(name);
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.is_file() {
        let release = profile_dir.file_name().is_some_and(|p| p == "release");
        assert!(
            cargo_build(&[name], release),
            "cargo build -p {} --bin {name} failed",
            package_of(name)
        );
    }
    path
}

/// `cargo build` of the named binaries (each with its package), in release if `release`:
/// whether it succeeded.
fn cargo_build(names: &[&str], release: bool) -> bool {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.arg("build");
    for name in names {
        cargo.args(["-p", package_of(name), "--bin", name]);
    }
    if release {
        cargo.arg("--release");
    }
    cargo.status().expect("running cargo build").success()
}

/// Builds (or brings up to date) the named workspace binaries in this
/// executable's profile, then returns their paths. For launchers run with
/// `cargo run`; not from inside `cargo test`, which holds the build lock.
pub fn build_workspace_bins(names: &[&str]) -> Vec<PathBuf> {
    let exe = std::env::current_exe().expect("executable path");
    let release = exe
        .ancestors()
        .any(|d| d.file_name().is_some_and(|n| n == "release"));
    assert!(
        cargo_build(names, release),
        "cargo build of {names:?} failed"
    );
    names.iter().map(|n| workspace_bin(n)).collect()
}

/// A child process that is asked to stop (SIGTERM, so it can stop its own
/// children) and then killed if it has not exited within fifteen seconds
/// (devcluster shuts its executors down first, in up to twelve), when dropped.
pub struct Stopping(pub Child, pub &'static str);

impl Drop for Stopping {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop; killing it", self.1);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
