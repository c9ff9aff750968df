//! The commented examples under `config-examples/`, one per program, loaded by the real
//! binaries: each parses, and `--print-config` shows every value the example sets. Also: an
//! unknown key is refused naming the key and the file, and the printed configuration read
//! back prints the same.

use std::path::{Path, PathBuf};
use std::process::Command;

use cli_config::toml::{Table, Value};
use tests::bins::workspace_bin;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config-examples")
        .join(name)
}

/// `program [args...] --config file --print-config`, parsed.
fn printed(bin: &Path, args: &[&str], file: &Path) -> Table {
    let out = Command::new(bin)
        .args(args)
        .arg("--config")
        .arg(file)
        .arg("--print-config")
        .env_remove("RUST_LOG")
        .output()
        .expect("running the program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} {args:?} --config {}: {}\n{stdout}",
        bin.display(),
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .parse()
        .unwrap_or_else(|e| panic!("--print-config is not TOML: {e}\n{stdout}"))
}

/// Whether `v` prints as a secret: redacted, or a list of redacted values.
fn redacted(v: &Value) -> bool {
    match v {
        Value::String(s) => s == cli_config::REDACTED,
        Value::Array(items) => !items.is_empty() && items.iter().all(redacted),
        _ => false,
    }
}

/// Whether two values mean the same (integers and floats compared as numbers); a secret
/// printed redacted stands for whatever the example set.
fn same(a: &Value, b: &Value) -> bool {
    if redacted(b) {
        return true;
    }
    match (a, b) {
        (Value::Integer(_) | Value::Float(_), Value::Integer(_) | Value::Float(_)) => {
            let f = |v: &Value| v.as_float().or(v.as_integer().map(|i| i as f64));
            f(a) == f(b)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Table(x), Value::Table(y)) => {
            x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Every key the example sets shows with its value.
fn assert_shows(example: &Table, printed: &Table, at: &str) {
    for (key, value) in example {
        let shown = printed
            .get(key)
            .unwrap_or_else(|| panic!("{at}{key} missing from --print-config: {printed:#?}"));
        if let (Value::Table(e), Value::Table(p)) = (value, shown) {
            assert_shows(e, p, &format!("{at}{key}."));
        } else {
            assert!(
                same(value, shown),
                "{at}{key}: example {value}, printed {shown}"
            );
        }
    }
}

fn check(program: &str, bin: &Path, args: &[&str]) {
    let path = example(&format!("{program}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut table: Table = text.parse().unwrap();
    if let Some(sub) = args.first() {
        // A subcommand's run shows its own table only.
        table.retain(|k, _| k == *sub);
    }
    let shown = printed(bin, args, &path);
    assert_shows(&table, &shown, "");

    // Printed, read back, printed again: the same (secrets aside, which print redacted).
    let dir = tempfile::tempdir().unwrap();
    let mut back = shown.clone();
    strip_redacted(&mut back);
    let again_path = dir.path().join("again.toml");
    std::fs::write(&again_path, cli_config::render(&back)).unwrap();
    let mut again = printed(bin, args, &again_path);
    strip_redacted(&mut again);
    assert_eq!(
        again, back,
        "{program}: --print-config does not read back the same"
    );

    // An unknown key is an error naming the key and the file.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, format!("not_a_key = 1\n{text}")).unwrap();
    let stderr = refused(bin, args, &bad);
    assert!(
        stderr.contains("`not_a_key`") && stderr.contains("bad.toml"),
        "{program}: {stderr}"
    );
}

/// `program [args...] --config file --print-config`, which must fail: its stderr.
fn refused(bin: &Path, args: &[&str], file: &Path) -> String {
    let out = Command::new(bin)
        .args(args)
        .arg("--config")
        .arg(file)
        .arg("--print-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{} accepted {}: {}",
        bin.display(),
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// `table` without its secrets, and without empty lists (a list of secrets left out reads back
/// as one).
fn strip_redacted(table: &mut Table) {
    table.retain(|_, v| !redacted(v) && v.as_array().is_none_or(|a| !a.is_empty()));
    for (_, v) in table.iter_mut() {
        if let Value::Table(t) = v {
            strip_redacted(t);
        }
    }
}

#[test]
fn proxy_example() {
    check("proxy", &workspace_bin("proxy"), &[]);
}

#[test]
fn miner_example() {
    // The [run] table for `miner run`, the [bench] table for `miner bench`.
    check("miner", &workspace_bin("miner"), &["run"]);
    let shown = printed(&workspace_bin("miner"), &["bench"], &example("miner.toml"));
    assert!(
        same(&shown["bench"]["secs"], &Value::Integer(2)),
        "{shown:#?}"
    );
}

#[test]
fn scheduler_example() {
    check("scheduler", &workspace_bin("scheduler"), &[]);
    // A password for the proxy task's environment is refused, and not echoed.
    let out = Command::new(workspace_bin("scheduler"))
        .args(["--config"])
        .arg(example("scheduler.toml"))
        .arg("--print-config")
        .env("MESOS_MINER_RPC_PASSWORD", "hunter2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("MESOS_MINER_RPC_PASSWORD is no longer read")
            && stderr.contains("--rpc-cookie-file"),
        "{stderr}"
    );
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));

    // Webhook URLs hold their receiver's token: printed redacted, the flag's and the
    // proxy table's alike.
    let dir = tempfile::tempdir().unwrap();
    let with_hooks = dir.path().join("hooks.toml");
    let text = std::fs::read_to_string(example("scheduler.toml")).unwrap();
    let text = text.replace(
        "[proxy]\n",
        "[proxy]\nalert_urls = [\"https://hooks.example/T0KEN-proxy\"]\n",
    );
    std::fs::write(&with_hooks, text).unwrap();
    let out = Command::new(workspace_bin("scheduler"))
        .args(["--alert-url", "https://hooks.example/T0KEN-flag"])
        .arg("--config")
        .arg(&with_hooks)
        .arg("--print-config")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("T0KEN"), "{stdout}");
    let shown: Table = stdout.parse().unwrap();
    assert!(redacted(&shown["alert_url"]), "{stdout}");
    assert!(redacted(&shown["proxy"]["alert_urls"]), "{stdout}");

    // A flag that stands for a table's key is not a file key besides it.
    let twice = dir.path().join("twice.toml");
    let text = std::fs::read_to_string(example("scheduler.toml")).unwrap();
    std::fs::write(&twice, format!("proxy_cpus = 2.0\n{text}")).unwrap();
    let stderr = refused(&workspace_bin("scheduler"), &[], &twice);
    assert!(
        stderr.contains("`proxy_cpus`") && stderr.contains("`proxy.cpus`"),
        "{stderr}"
    );
}

#[test]
fn devcluster_example() {
    check("devcluster", &workspace_bin("devcluster"), &[]);
}

#[test]
fn mesos_miner_example() {
    // The [local] table for `mesos-miner local`.
    check("mesos-miner", &workspace_bin("mesos-miner"), &["local"]);
}
