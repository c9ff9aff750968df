//! The `proxy` binary refuses bad flag values at start-up with a clear message and a failing
//! exit status, before it waits for any node (the node URL here points at a closed port, so
//! a proxy that accepted the value would sit waiting for the node instead).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the proxy with `args` (an unreachable node, credentials set); panics unless it exits
/// within a few seconds.
fn run(args: &[&str]) -> Output {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let node_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_proxy"))
        .env_clear()
        .env("PROXY_RPC_USER", "u")
        .env("PROXY_RPC_PASSWORD", "p")
        .args(["--node-url", &node_url, "--listen", "127.0.0.1:0"])
        .args([
            "--fallback-address",
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        ])
        .arg("--journal")
        .arg(dir.path().join("journal"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "proxy {args:?} still running (waiting for the node):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn nan_difficulty_is_a_start_up_error() {
    let out = run(&["--difficulty", "NaN"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--difficulty") && stderr.contains("NaN"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn values_that_were_clamped_are_start_up_errors() {
    for (flag, value) in [
        ("--refresh-secs", "inf"),
        ("--share-secs", "0"),
        ("--max-per-ip", "0"),
        ("--idle-secs", "0"),
        ("--ban-after-invalid", "0"),
        ("--pplns-window-factor", "0"),
        ("--journal-compact-every", "0"),
        ("--fee-bps", "20000"),
    ] {
        let out = run(&[flag, value]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}

#[test]
fn a_fee_without_an_operator_is_a_start_up_error() {
    let out = run(&["--fee-bps", "100"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--operator-address"), "{stderr}");
}
