//! The workspace's own programs (`proxy`, `miner`, ...) for cross-process
//! tests: found next to the running test in cargo's target directory, built
//! with `cargo build` first if this test run did not build them.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILD: Mutex<()> = Mutex::new(());

/// The path of workspace binary `name` (package of the same name), building it if needed.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/<test> -> <target>/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test runs from <target>/<profile>/deps")
        .to_path_buf();
    let path = profile_dir.join(name);
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.is_file() {
        let release = profile_dir.file_name().is_some_and(|p| p == "release");
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "-p", name, "--bin", name]);
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p {name} failed");
    }
    path
}
