//! Alert webhooks across processes: a real `proxy` mining on a Bitcoin Core regtest node
//! POSTs a `block_found` alert to a local HTTP receiver that answers the first request 500
//! (the proxy retries) and then 200, and a `worker_offline` alert once its only miner stops.
//! Then the Prometheus rules and the Grafana dashboard under `deploy/` are checked to name
//! only metrics the programs export: the running proxy's `/metrics`, and the scheduler's
//! metric list.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tests::mining::{miner, wait_until, Proxy, ProxyOptions};
use tests::node::{Chain, Node};
use tests::wallet::{AddressKind, TestWallet};

/// What the receiver saw: every request's body (those answered 500 too), and the statuses.
#[derive(Default)]
struct Received {
    bodies: Vec<Value>,
    statuses: Vec<u16>,
}

/// An HTTP receiver on a free port answering 500 to the first request and 200 after.
fn receiver() -> (String, Arc<Mutex<Received>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/test", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Received::default()));
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let mut reader = BufReader::new(conn);
            let mut length = 0usize;
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let mut seen = s.lock().unwrap();
            let status = if seen.statuses.is_empty() { 500 } else { 200 };
            assert!(
                request_line.starts_with("POST /hooks/test "),
                "{request_line}"
            );
            seen.bodies
                .push(serde_json::from_slice(&body).expect("an alert body is JSON"));
            seen.statuses.push(status);
            drop(seen);
            let mut conn = reader.into_inner();
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

/// `GET /metrics` of the proxy: the metric names it exports (from its `# TYPE` lines).
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn metrics_text(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The value of an unlabelled sample.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
        .parse()
        .unwrap()
}

/// Metric names (ours are `proxy_*` and `scheduler_*`) in a PromQL expression.
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if word_start && (expr[i..].starts_with("proxy_") || expr[i..].starts_with("scheduler_")) {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |n| i + n);
            names.push(expr[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// Every PromQL expression of the deploy files: the rules' `expr:` (one line or a folded
/// block) and the dashboard's panel targets.
fn deploy_exprs() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let rules = std::fs::read_to_string(root.join("prometheus/alerts.yml")).unwrap();
    let mut exprs = Vec::new();
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((indent, rest)) = line.split_once("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest == ">" || rest == "|" {
            // A block: the more-indented lines that follow.
            let mut block = String::new();
            while let Some(next) = lines.peek() {
                if next.len() - next.trim_start().len() <= indent.len() {
                    break;
                }
                block.push_str(lines.next().unwrap().trim());
                block.push(' ');
            }
            exprs.push(("alerts.yml".into(), block));
        } else {
            exprs.push(("alerts.yml".into(), rest.to_owned()));
        }
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("grafana/mesos-miner.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("a target's expr");
            exprs.push((
                format!("mesos-miner.json: {}", panel["title"]),
                expr.to_owned(),
            ));
        }
    }
    exprs
}

#[test]
fn the_proxy_posts_block_and_offline_alerts_with_retries_and_deploy_files_name_real_metrics() {
    let node = Node::start(Chain::Regtest).expect("regtest node");
    let wallet = TestWallet::new(node.network(), "alerts");
    let fallback = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let worker = format!("{}.rig1", wallet.address(AddressKind::P2wpkh, 1));
    // Past height 16, so the BIP34 height in our coinbases is a data push.
    node.generate_to(20, &fallback).unwrap();

    let (url, received) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let mut options = ProxyOptions::new(&fallback, dir.path());
    options.extra_args = [
        "--alert-url",
        &url,
        "--alert-backoff-secs",
        "0.2",
        "--alert-offline-secs",
        "3",
    ]
    .map(String::from)
    .to_vec();
    let proxy = Proxy::start(&node, &options);
    let mut miner = miner(&proxy.url(), &worker);

    let block_alerts = || -> Vec<Value> {
        received
            .lock()
            .unwrap()
            .bodies
            .iter()
            .filter(|b| b["kind"] == "block_found" && b["details"]["outcome"] == "accepted")
            .cloned()
            .collect()
    };
    // Delivered: a 200 answered a block_found body.
    wait_until(
        "a delivered block_found alert",
        Duration::from_secs(120),
        || {
            let r = received.lock().unwrap();
            r.bodies
                .iter()
                .zip(&r.statuses)
                .any(|(b, s)| b["kind"] == "block_found" && *s == 200)
        },
    );
    {
        let r = received.lock().unwrap();
        assert_eq!(r.statuses[0], 500, "the first request is answered 500");
        assert!(r.statuses[1..].iter().all(|s| *s == 200));
        // The body refused first was sent again.
        assert_eq!(
            r.bodies[0], r.bodies[1],
            "the 500'd alert is retried as it was"
        );
    }
    let alert = block_alerts()
        .into_iter()
        .next()
        .expect("a block_found alert");
    assert_eq!(alert["source"], "proxy");
    assert!(
        alert["time_unix"].as_u64().unwrap() > 1_700_000_000,
        "{alert}"
    );
    assert!(alert["time"].as_str().unwrap().ends_with('Z'), "{alert}");
    let height = alert["details"]["height"].as_u64().expect("a height");
    assert!(height > 20, "{alert}");
    // The alert names a block the node has, at that height.
    assert_eq!(
        node.block_hash(height).unwrap().to_string(),
        alert["details"]["hash"].as_str().unwrap(),
        "{alert}"
    );
    let text = metrics_text(proxy.http_port);
    assert!(sample(&text, "proxy_alert_retries_total") >= 1.0, "{text}");
    assert!(sample(&text, "proxy_alerts_sent_total") >= 1.0, "{text}");
    assert_eq!(sample(&text, "proxy_alerts_dropped_total"), 0.0);

    // The miner stops: its worker is reported offline 3 s after its last share.
    miner.0.kill().unwrap();
    miner.0.wait().unwrap();
    wait_until("a worker_offline alert", Duration::from_secs(30), || {
        received
            .lock()
            .unwrap()
            .bodies
            .iter()
            .any(|b| b["kind"] == "worker_offline")
    });
    let offline: Vec<Value> = received
        .lock()
        .unwrap()
        .bodies
        .iter()
        .filter(|b| b["kind"] == "worker_offline")
        .cloned()
        .collect();
    assert_eq!(offline.len(), 1, "{offline:?}");
    assert_eq!(offline[0]["details"]["worker"], worker.as_str());
    assert!(
        offline[0]["details"]["last_share_secs_ago"]
            .as_f64()
            .unwrap()
            >= 3.0
    );
    wait_until("proxy_workers_offline 1", Duration::from_secs(5), || {
        sample(&metrics_text(proxy.http_port), "proxy_workers_offline") == 1.0
    });

    // The deploy files name only exported metrics.
    let mut known = exported(&metrics_text(proxy.http_port));
    known.extend(exported(&scheduler::status::render_metrics(
        &scheduler::status::StatusSnapshot::default(),
    )));
    let exprs = deploy_exprs();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut used = BTreeSet::new();
    for (place, expr) in &exprs {
        for name in names_in(expr) {
            assert!(
                known.contains(&name),
                "{place}: {name} is not exported ({expr})"
            );
            used.insert(name);
        }
    }
    // Both programs' metrics are covered.
    assert!(
        used.iter().any(|n| n.starts_with("proxy_"))
            && used.iter().any(|n| n.starts_with("scheduler_"))
    );
}

#[test]
fn metric_names_are_found_in_expressions() {
    assert_eq!(
        names_in("increase(proxy_blocks_rejected_total{reason=\"x\"}[1h]) + scheduler_hash_rate"),
        ["proxy_blocks_rejected_total", "scheduler_hash_rate"]
    );
    assert!(names_in("up{job=\"proxy\"} == 0").is_empty());
    assert!(names_in("myproxy_x").is_empty());
}
