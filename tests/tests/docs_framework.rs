//! A framework written only against Mesos' documentation uses devcluster:
//! `tests/scripts/docs_framework.py` (Python 3, protobuf over the v1
//! scheduler API, its Python classes compiled by protoc from the repo's
//! Mesos .proto files) subscribes, launches command tasks, acknowledges,
//! reconciles, kills, declines with a filter, suppresses and revives against
//! a real `devcluster` process; this test checks what it saw.
//!
//! Needs `python3` with the pip packages `protobuf` and `grpcio-tools`
//! (`.ci/run` installs them); the test fails saying so when they are absent.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tests::bins::{workspace_bin, Stopping};
use tests::node::free_ports;
use tests::stack::wait_listening;

/// Fails with what to install when the script's interpreter or its
/// packages are missing.
fn require_python_protobuf() {
    let probe = Command::new("python3")
        .args(["-c", "import google.protobuf, grpc_tools"])
        .output();
    match probe {
        Err(error) => panic!("this test needs python3 ({error}); install Python 3"),
        Ok(output) if !output.status.success() => panic!(
            "this test needs the Python packages protobuf and grpcio-tools: \
             python3 -m pip install protobuf grpcio-tools ({})",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Ok(_) => {}
    }
}

fn updates_of<'a>(seen: &'a Value, task: &str) -> Vec<&'a Value> {
    seen["updates"]
        .as_array()
        .expect("updates")
        .iter()
        .filter(|update| update["task"] == task)
        .collect()
}

fn states_of(seen: &Value, task: &str) -> Vec<String> {
    updates_of(seen, task)
        .iter()
        .map(|update| update["state"].as_str().unwrap().to_owned())
        .collect()
}

fn last_message(seen: &Value, task: &str) -> String {
    updates_of(seen, task)
        .last()
        .and_then(|update| update["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_framework_from_the_docs_runs_on_devcluster() {
    require_python_protobuf();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let work = tempfile::tempdir().unwrap();
    let port = free_ports(1).unwrap()[0];
    let cluster = Command::new(workspace_bin("devcluster"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--agents", "1", "--cpus", "2", "--mem", "1024"])
        .args(["--heartbeat-secs", "1"])
        .arg("--work-dir")
        .arg(work.path().join("cluster"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("devcluster.log")).unwrap())
        .spawn()
        .unwrap();
    let _cluster = Stopping(cluster, "devcluster");
    wait_listening(port, Duration::from_secs(30)).unwrap();

    let output = Command::new("python3")
        .arg(root.join("tests/scripts/docs_framework.py"))
        .args(["--master", &format!("127.0.0.1:{port}")])
        .arg("--proto-dir")
        .arg(root.join("mesos/proto"))
        .args(["--timeout", "60"])
        .output()
        .unwrap();
    let log = std::fs::read_to_string(work.path().join("devcluster.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "the script failed: {}\n--- devcluster log (tail) ---\n{}",
        String::from_utf8_lossy(&output.stderr),
        log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "the script's summary is not JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });

    // The command executor's states and messages, as Mesos sends them.
    assert_eq!(
        states_of(&seen, "ok"),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "{seen}"
    );
    // The test in the command checked its environment and cwd: exit 0.
    assert_eq!(last_message(&seen, "ok"), "Command exited with status 0");
    assert_eq!(
        states_of(&seen, "fails").last().map(String::as_str),
        Some("TASK_FAILED")
    );
    assert_eq!(last_message(&seen, "fails"), "Command exited with status 3");
    let sleeps = states_of(&seen, "sleeps");
    assert_eq!(
        sleeps.last().map(String::as_str),
        Some("TASK_KILLED"),
        "{seen}"
    );
    assert!(sleeps.contains(&"TASK_RUNNING".to_owned()), "{sleeps:?}");
    assert_eq!(
        last_message(&seen, "sleeps"),
        "Command terminated with signal Terminated"
    );
    // Every update carried a uuid and was acknowledged (or the master would
    // have sent it again, and the states above would repeat).
    for update in seen["updates"].as_array().unwrap() {
        assert_eq!(update["acknowledged"], true, "{update}");
    }

    // Reconciliation: the running task by the implicit one; the finished,
    // acknowledged one is unknown to the master (the framework is
    // partition-aware: TASK_UNKNOWN).
    let reconciled = seen["reconciled"].as_array().unwrap();
    let of = |task: &str| {
        reconciled
            .iter()
            .find(|status| status["task"] == task)
            .unwrap_or_else(|| panic!("{task} not reconciled: {reconciled:?}"))
    };
    assert_eq!(of("sleeps")["state"], "TASK_RUNNING");
    assert_eq!(of("ok")["state"], "TASK_UNKNOWN");
    assert_eq!(of("ok")["reason"], "REASON_RECONCILIATION");

    // A declined offer stays away within its filter, none comes while
    // suppressed, and REVIVE brings them back.
    assert_eq!(seen["offers_after_decline"], 0, "{seen}");
    assert_eq!(seen["offers_while_suppressed"], 0, "{seen}");
    assert!(seen["offers_after_revive"].as_u64().unwrap() >= 1, "{seen}");
}
