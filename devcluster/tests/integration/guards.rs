//! What stands between devcluster and the network: framework
//! authentication (required off loopback), the fault endpoints (off unless
//! enabled), and absurd values refused as errors instead of panics.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use devcluster::auth::Credentials;
use devcluster::{Cluster, ClusterConfig, Error};
use mesos::client::{Auth, ClientConfig, ClientError, SchedulerClient};
use mesos::v1::FrameworkInfo;

const CREDENTIALS: &str = r#"{"credentials":[{"principal":"miner","secret":"s3cret"}]}"#;

fn credentials() -> Credentials {
    Credentials::from_json(CREDENTIALS).unwrap()
}

fn client(cluster: &Cluster, auth: Option<(&str, &str)>) -> SchedulerClient {
    let config = ClientConfig {
        auth: auth.map(|(principal, secret)| Auth::Basic {
            principal: principal.into(),
            secret: secret.into(),
        }),
        ..Default::default()
    };
    SchedulerClient::new(&cluster.master_addr().to_string(), config).unwrap()
}

/// One raw HTTP POST; the whole response as text.
async fn raw_post(addr: SocketAddr, path: &str, headers: &str) -> String {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n{headers}\r\n"
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap()
}

/// `Authorization` for miner:s3cret (base64 of it).
const GOOD: &str = "Authorization: Basic bWluZXI6czNjcmV0\r\n";

#[tokio::test]
async fn off_loopback_frameworks_must_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let config = ClusterConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        work_dir: dir.path().to_path_buf(),
        ..ClusterConfig::default()
    };
    let error = Cluster::start(config.clone()).await.unwrap_err();
    assert!(
        matches!(&error, Error::InvalidConfig(message) if message.contains("loopback")),
        "{error}"
    );
    let cluster = Cluster::start(ClusterConfig {
        credentials: Some(credentials()),
        ..config
    })
    .await
    .unwrap();
    assert!(cluster.master_addr().ip().is_unspecified());
}

#[tokio::test]
async fn the_scheduler_api_wants_known_credentials() {
    let harness = start_with(1, 1.0, 256.0, (31000, 31001), |config| {
        config.credentials = Some(credentials());
    })
    .await;
    let cluster = &harness.cluster;
    for auth in [None, Some(("miner", "wrong")), Some(("nobody", "s3cret"))] {
        let error = client(cluster, auth)
            .subscribe(&subscribe_call(None, 0.0))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::Unauthorized(_)),
            "{auth:?}: {error}"
        );
    }
    let answer = raw_post(cluster.master_addr(), "/api/v1/scheduler", "").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"mesos\""),
        "{answer}"
    );

    // The right secret: subscribed, and calls are taken.
    let authed = client(cluster, Some(("miner", "s3cret")));
    let mut sched = subscribe(&authed, None, 0.0).await;
    let offers = sched.offers().await;
    sched
        .decline(offers.iter().map(|offer| offer.id.clone()).collect(), 1.0)
        .await;

    // Claiming another principal in FrameworkInfo is refused.
    let info = FrameworkInfo {
        user: "nobody".into(),
        name: "impostor".into(),
        principal: Some("ops".into()),
        ..Default::default()
    };
    let error = authed
        .subscribe(&devcluster::testing::subscribe_call(info))
        .await
        .unwrap_err();
    match error {
        ClientError::BadRequest(message) => {
            assert!(
                message.contains("does not match principal 'ops'"),
                "{message}"
            )
        }
        other => panic!("expected 400, got {other}"),
    }
}

#[tokio::test]
async fn fault_endpoints_are_off_unless_enabled() {
    let off = start(1, 1.0, 256.0, (31000, 31001)).await;
    let answer = raw_post(
        off.cluster.master_addr(),
        "/devcluster/faults/drop-scheduler-streams",
        "",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    // Enabled on an authenticating cluster: credentials needed there too.
    let on = start_with(1, 1.0, 256.0, (31000, 31001), |config| {
        config.fault_endpoints = true;
        config.credentials = Some(credentials());
    })
    .await;
    let master = on.cluster.master_addr();
    let path = "/devcluster/faults/drop-scheduler-streams";
    let answer = raw_post(master, path, "").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let answer = raw_post(master, path, GOOD).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn absurd_fault_delays_are_errors() {
    let harness = start_with(1, 1.0, 256.0, (31000, 31001), |config| {
        config.fault_endpoints = true;
    })
    .await;
    let agent = harness.cluster.agents()[0].id.clone();
    let master = harness.cluster.master_addr();
    for delay in ["1e300", "-1", "NaN", "inf"] {
        let answer = raw_post(
            master,
            &format!("/devcluster/faults/restart-agent/{agent}/{delay}"),
            "",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{delay}: {answer}");
        assert!(answer.contains("downtime"), "{answer}");
    }
    assert!(matches!(
        harness.cluster.restart_agent(&agent, Duration::MAX),
        Err(Error::InvalidFault(_))
    ));
    // The master still serves, and a sane delay works.
    let answer = raw_post(
        master,
        &format!("/devcluster/faults/restart-agent/{agent}/0.1"),
        "",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn absurd_intervals_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let error = Cluster::start(ClusterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        work_dir: dir.path().to_path_buf(),
        heartbeat_interval: Duration::MAX,
        ..ClusterConfig::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidConfig(message) if message.contains("heartbeat_interval")),
        "{error}"
    );
}

#[tokio::test]
async fn no_agents_negative_sizes_bad_ports_or_extra_hostnames_are_configuration_errors() {
    type Change = fn(&mut ClusterConfig);
    let cases: [(Change, &str); 6] = [
        (|c| c.agents = 0, "agents must be at least 1"),
        (|c| c.ports = (31000, 70000), "goes past 65535"),
        (
            |c| c.agent_hostnames = vec!["a".into(), "b".into()],
            "hostnames for 2 agents",
        ),
        (|c| c.mem_mb = -1.0, "mem_mb -1"),
        (|c| c.mem_mb = f64::INFINITY, "mem_mb inf"),
        (|c| c.cpus = -0.5, "cpus -0.5"),
    ];
    for (change, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ClusterConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            work_dir: dir.path().to_path_buf(),
            ..ClusterConfig::default()
        };
        change(&mut config);
        let error = Cluster::start(config).await.unwrap_err();
        assert!(
            matches!(&error, Error::InvalidConfig(message) if message.contains(says)),
            "{says}: {error}"
        );
    }
}

/// Runs the binary with `args` (it must exit on its own); exit code and stderr.
async fn binary_fails(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::time::timeout(
        PATIENCE,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_devcluster"))
            .args(args)
            .arg("--work-dir")
            .arg(dir.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("devcluster exited")
    .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_binary_refuses_what_it_cannot_serve_safely() {
    // Not loopback, no authentication.
    let (code, stderr) = binary_fails(&["--listen", "0.0.0.0:0"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
    // An absurd heartbeat: an error, not a panic (exit code 101).
    let (code, stderr) =
        binary_fails(&["--listen", "127.0.0.1:0", "--heartbeat-secs", "1e300"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--heartbeat-secs"), "{stderr}");
    // Authentication without credentials, and a bad credentials file.
    let (code, stderr) = binary_fails(&["--authenticate-frameworks"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = binary_fails(&[
        "--authenticate_frameworks",
        "--credentials",
        "/nonexistent/credentials.json",
    ])
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/credentials.json"), "{stderr}");
}
