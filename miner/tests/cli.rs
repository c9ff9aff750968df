//! Runs the built `miner` binary as a user would.

use miner::Engine;
use std::process::{Command, Output};

fn miner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_miner"))
        .args(args)
        .env_remove("MINER_ENGINE")
        .env_remove("MINER_THREADS")
        .env_remove("MINER_BENCH_SECONDS")
        .env_remove("MINER_BENCH_MODE")
        .env_remove("RUST_LOG")
        .output()
        .expect("the miner binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bench_json_reports_a_consistent_hash_rate() {
    let out = miner(&[
        "bench",
        "--seconds",
        "1",
        "--threads",
        "1",
        "--engine",
        "portable",
        "--json",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one result line expected: {stdout}");
    let json: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let object = json.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "engine",
            "hash_rate",
            "hash_rate_per_core",
            "hashes",
            "mode",
            "seconds",
            "threads"
        ]
    );
    assert_eq!(json["engine"], "portable");
    assert_eq!(json["mode"], "nonce-only");
    assert_eq!(json["threads"], 1);
    let seconds = json["seconds"].as_f64().unwrap();
    let hashes = json["hashes"].as_u64().unwrap() as f64;
    let rate = json["hash_rate"].as_f64().unwrap();
    assert!((1.0..3.0).contains(&seconds), "seconds {seconds}");
    assert!(hashes > 0.0 && rate > 0.0, "{json}");
    let expected = hashes / seconds;
    assert!(
        (rate - expected).abs() <= 0.05 * expected,
        "{rate} vs {expected}"
    );
    assert_eq!(json["hash_rate_per_core"].as_f64().unwrap(), rate);
}

#[test]
fn bench_rejects_an_unknown_engine_clearly() {
    let out = miner(&["bench", "--engine", "nonexistent"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown engine \"nonexistent\"") && stderr.contains("portable"),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn engines_lists_portable_as_available() {
    let out = miner(&["engines"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let portable = stdout
        .lines()
        .find(|l| l.starts_with("portable"))
        .unwrap_or_else(|| panic!("no portable line: {stdout}"));
    assert!(
        portable.split_whitespace().nth(1) == Some("yes"),
        "{portable}"
    );
    let defaults: Vec<&str> = stdout
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(3) == Some("yes"))
        .collect();
    assert_eq!(defaults.len(), 1, "exactly one default engine: {stdout}");
}

#[test]
fn bench_reports_both_modes_of_an_engine_that_has_them() {
    let Some(engine) = Engine::available().into_iter().find(|e| e.versions() > 1) else {
        eprintln!("skipped: no engine with a version-rolling mode runs on this CPU");
        return;
    };
    let out = miner(&[
        "bench",
        "--seconds",
        "0.3",
        "--threads",
        "1",
        "--engine",
        engine.name(),
        "--json",
        "--repeat",
        "2",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let modes: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["mode"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        modes,
        [
            "nonce-only",
            "version-rolling",
            "nonce-only",
            "version-rolling"
        ],
        "{engine}"
    );
}
