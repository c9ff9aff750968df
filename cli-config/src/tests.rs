//! The layering (flags > environment > file > defaults), unknown keys, file validation,
//! subcommand tables, sections and the printed configuration.

use super::*;
use clap::{Parser, Subcommand};
use std::io::Write;

/// Environment names are unique per test so parallel tests do not see each other's.
#[derive(Debug, Parser)]
struct Flags {
    #[arg(long, default_value = "http://127.0.0.1:8332")]
    node_url: String,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..100), default_value_t = 10)]
    share_secs: u32,
    #[arg(long, alias = "old-name")]
    renamed: Option<String>,
    #[arg(long)]
    required: String,
    #[arg(long, value_delimiter = ',')]
    pool: Vec<String>,
    #[arg(long)]
    verbose: bool,
    #[arg(long, hide_env_values = true, default_value = "")]
    password: String,
    #[arg(long, alias = "fraction", default_value_t = 0.5)]
    ratio: f64,
}

fn file(text: &str, ext: &str) -> tempfile::TempPath {
    let mut f = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.into_temp_path()
}

fn program(prefix: &'static str) -> Program {
    Program {
        env_prefix: prefix,
        sections: &["extra"],
        section_flags: &[("ratio", "extra.ratio")],
    }
}

fn load_flags(prefix: &'static str, argv: &[&str]) -> Result<Loaded<Flags>, Error> {
    let mut full = vec!["prog"];
    full.extend_from_slice(argv);
    load_from::<Flags, _, _>(&program(prefix), full)
}

#[test]
fn defaults_then_file_then_environment_then_flags() {
    let path = file(
        "node_url = \"http://file:1\"\nshare_secs = 20\nrequired = \"r\"\npool = [\"a:1\", \"b:2\"]\nverbose = true\n",
        ".toml",
    );
    let p = path.to_str().unwrap();
    let only_file = load_flags("T1_", &["--config", p]).unwrap().args;
    assert_eq!(only_file.node_url, "http://file:1");
    assert_eq!(only_file.share_secs, 20);
    assert_eq!(only_file.pool, ["a:1", "b:2"]);
    assert!(only_file.verbose);
    assert_eq!(only_file.ratio, 0.5, "default where the file is silent");

    // SAFETY-free: std::env::set_var is safe on edition 2021; this name is this test's own.
    std::env::set_var("T1_SHARE_SECS", "30");
    let env = load_flags("T1_", &["--config", p]).unwrap().args;
    assert_eq!(env.share_secs, 30, "environment over file");
    let flag = load_flags("T1_", &["--config", p, "--share-secs", "40"])
        .unwrap()
        .args;
    assert_eq!(flag.share_secs, 40, "flag over environment");
    assert_eq!(flag.node_url, "http://file:1");
    std::env::remove_var("T1_SHARE_SECS");
}

#[test]
fn the_config_path_comes_from_the_environment_too() {
    let path = file("required = \"from-env-file\"\n", ".toml");
    std::env::set_var("T2_CONFIG", path.to_str().unwrap());
    let loaded = load_flags("T2_", &[]).unwrap();
    std::env::remove_var("T2_CONFIG");
    assert_eq!(loaded.args.required, "from-env-file");
    assert_eq!(loaded.file.as_deref(), Some(path.as_ref()));
}

#[test]
fn unknown_keys_are_errors_naming_key_and_file() {
    let path = file("required = \"r\"\nnode_ulr = \"x\"\n", ".toml");
    let e = load_flags("T3_", &["--config", path.to_str().unwrap()]).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::UnknownKey { .. }), "{text}");
    assert!(text.contains("`node_ulr`"), "{text}");
    assert!(text.contains(path.to_str().unwrap()), "{text}");
    assert!(text.contains("node_url"), "lists the known keys: {text}");
}

#[test]
fn a_renamed_flags_old_variable_is_an_error_not_ignored() {
    std::env::set_var("T13_OLD_NAME", "x");
    let e = load_flags("T13_", &["--required", "r"]).unwrap_err();
    std::env::remove_var("T13_OLD_NAME");
    let text = e.to_string();
    assert!(matches!(e, Error::RetiredEnv { .. }), "{text}");
    assert!(
        text.contains("T13_OLD_NAME") && text.contains("T13_RENAMED") && text.contains("--renamed"),
        "{text}"
    );
    // The new variable works.
    std::env::set_var("T13_RENAMED", "y");
    let args = load_flags("T13_", &["--required", "r"]).unwrap().args;
    std::env::remove_var("T13_RENAMED");
    assert_eq!(args.renamed.as_deref(), Some("y"));
}

#[test]
fn a_flag_that_overrides_a_section_key_is_not_a_file_key() {
    let path = file("required = \"r\"\nratio = 0.7\n", ".toml");
    let e = load_flags("T12_", &["--config", path.to_str().unwrap()]).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::BadValue { .. }), "{text}");
    assert!(
        text.contains("`ratio`") && text.contains("`extra.ratio`"),
        "{text}"
    );
    // Under its alias too.
    let path = file("required = \"r\"\nfraction = 0.7\n", ".toml");
    let e = load_flags("T12_", &["--config", path.to_str().unwrap()]).unwrap_err();
    assert!(e.to_string().contains("`extra.ratio`"), "{e}");
    // On the command line it is the flag as ever.
    let args = load_flags("T12_", &["--required", "r", "--ratio", "0.7"])
        .unwrap()
        .args;
    assert_eq!(args.ratio, 0.7);
}

#[test]
fn file_values_are_validated_by_the_flags_parser() {
    let path = file("required = \"r\"\nshare_secs = 1000\n", ".toml");
    let e = load_flags("T4_", &["--config", path.to_str().unwrap()]).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Invalid { .. }), "{text}");
    assert!(
        text.contains(path.to_str().unwrap()) && text.contains("--share-secs"),
        "{text}"
    );
    // The same bad value on the command line is the usual usage error.
    let e = load_flags("T4_", &["--required", "r", "--share-secs", "1000"]).unwrap_err();
    assert!(matches!(e, Error::Clap(_)), "{e}");
    let table = file("required = { a = 1 }\n", ".toml");
    let e = load_flags("T4_", &["--config", table.to_str().unwrap()]).unwrap_err();
    assert!(e.to_string().contains("`required` must be a value"), "{e}");
    let broken = file("required = \n", ".toml");
    let e = load_flags("T4_", &["--config", broken.to_str().unwrap()]).unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e}");
    let e = load_flags("T4_", &["--config", "/nonexistent/x.toml"]).unwrap_err();
    assert!(matches!(e, Error::Read { .. }), "{e}");
}

#[test]
fn aliases_are_keys_too_and_json_files_read_the_same() {
    let path = file(
        "{\"required\": \"j\", \"old_name\": \"o\", \"share_secs\": 3}",
        ".json",
    );
    let args = load_flags("T5_", &["--config", path.to_str().unwrap()])
        .unwrap()
        .args;
    assert_eq!(
        (
            args.required.as_str(),
            args.renamed.as_deref(),
            args.share_secs
        ),
        ("j", Some("o"), 3)
    );
}

#[test]
fn sections_are_handed_back_and_only_declared_ones() {
    let path = file("required = \"r\"\n[extra]\nx = 1\n", ".toml");
    let loaded = load_flags("T6_", &["--config", path.to_str().unwrap()]).unwrap();
    assert_eq!(loaded.sections["extra"]["x"].as_integer(), Some(1));
    let other = file("required = \"r\"\n[other]\nx = 1\n", ".toml");
    let e = load_flags("T6_", &["--config", other.to_str().unwrap()]).unwrap_err();
    assert!(e.to_string().contains("`other`"), "{e}");
}

#[test]
fn every_flag_gets_an_environment_name_with_the_prefix() {
    let cmd = command::<Flags>(&program("T7_"));
    for arg in cmd.get_arguments().filter(|a| a.get_long().is_some()) {
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        let long = arg.get_long().unwrap();
        if long == "help" || long == "print-config" {
            continue;
        }
        assert_eq!(
            env.as_deref(),
            Some(format!("T7_{}", long.replace('-', "_").to_uppercase()).as_str()),
            "--{long}"
        );
    }
    std::env::set_var("T7_REQUIRED", "env");
    let args = load_flags("T7_", &[]).unwrap().args;
    std::env::remove_var("T7_REQUIRED");
    assert_eq!(args.required, "env");
}

#[test]
fn print_config_is_toml_that_reads_back_to_the_same_with_secrets_redacted() {
    let loaded = load_flags(
        "T8_",
        &[
            "--required",
            "r",
            "--pool",
            "a:1,b:2",
            "--password",
            "hunter2",
            "--print-config",
        ],
    )
    .unwrap();
    assert!(loaded.print_config);
    let text = render(&loaded.effective());
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains(REDACTED), "{text}");
    let table: toml::Table = text.parse().unwrap();
    assert_eq!(table["share_secs"].as_integer(), Some(10));
    assert!(
        !table.contains_key("ratio"),
        "a section flag shows in its section: {text}"
    );
    assert_eq!(table["verbose"].as_bool(), Some(false));
    assert_eq!(table["pool"].as_array().unwrap().len(), 2);
    assert!(!table.contains_key("renamed"), "no value, no key: {text}");
    // Read back (without the redacted secret), it gives the same configuration.
    let mut back = table.clone();
    back.remove("password");
    let path = file(&render(&back), ".toml");
    let again = load_flags("T8_", &["--config", path.to_str().unwrap()]).unwrap();
    let mut expected = table;
    expected.insert("password".into(), toml::Value::String(REDACTED.into()));
    let mut got = again.effective();
    got.insert("password".into(), toml::Value::String(REDACTED.into()));
    assert_eq!(got, expected);
}

#[derive(Debug, Parser)]
struct WithSub {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    Run {
        #[arg(long)]
        user: String,
        #[arg(long, default_value_t = 1)]
        threads: u32,
    },
    Bench {
        #[arg(long, default_value_t = 5)]
        secs: u32,
    },
}

#[test]
fn subcommands_read_their_own_table() {
    let path = file(
        "[run]\nuser = \"u\"\nthreads = 4\n[bench]\nsecs = 2\n",
        ".toml",
    );
    let p = path.to_str().unwrap();
    let prog = program("T9_");
    let loaded =
        load_from::<WithSub, _, _>(&prog, ["miner", "run", "--config", p, "--print-config"])
            .unwrap();
    let shown = loaded.effective();
    match loaded.args.command {
        Sub::Run { user, threads } => assert_eq!((user.as_str(), threads), ("u", 4)),
        other => panic!("{other:?}"),
    }
    assert_eq!(shown["run"]["threads"].as_integer(), Some(4), "{shown:?}");
    match load_from::<WithSub, _, _>(&prog, ["miner", "bench", "--config", p])
        .unwrap()
        .args
        .command
    {
        Sub::Bench { secs } => assert_eq!(secs, 2),
        other => panic!("{other:?}"),
    }
    let bad = file("[run]\nuser = \"u\"\nthread = 4\n", ".toml");
    let e = load_from::<WithSub, _, _>(&prog, ["miner", "run", "--config", bad.to_str().unwrap()])
        .unwrap_err();
    assert!(e.to_string().contains("`thread`"), "{e}");
}
