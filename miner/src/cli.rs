//! The `miner` command line: argument parsing (clap), logging setup, and one
//! function per subcommand, each a thin call into the library.
//!
//! Subcommands: `run` (mine for stratum v1 pools), `bench` (hash rate per
//! engine and thread count) and `engines` (what this CPU can run).

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use miner::bench::{self, Format, Plan};
use miner::cycles;
use miner::engine::EngineError;
use miner::pool::{self, session::Endpoint, PoolConfig, PoolPolicy, Suggest};
use miner::search::default_threads;
use miner::{Engine, Mode};
use task_contract::env;
use tracing_subscriber::EnvFilter;

/// Bitcoin miner: double-SHA256 nonce search on all cores with the fastest
/// engine this CPU supports (AVX-512, SHA extensions, AVX2, or portable).
#[derive(Debug, Parser)]
#[command(
    name = "miner",
    version,
    after_help = "Logging goes to stderr; set RUST_LOG (e.g. RUST_LOG=debug) to choose how much."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the hash rate of each engine on 1 up to all CPUs.
    ///
    /// Runs the real parallel search on a fixed header at difficulty 1 for
    /// `--secs` per engine and thread count, then prints total and
    /// per-core hash rates. A live progress line is shown on a terminal.
    Bench(BenchArgs),
    /// List the hashing engines, whether this CPU can run them, and which one
    /// is used by default.
    Engines,
    /// Mine for one or more stratum v1 pools with all cores until Ctrl-C.
    ///
    /// Connects to the first pool, fails over to the next ones with
    /// exponential backoff, and prints hash rate and share counts.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Pool address, `stratum+tcp://host:port` or `host:port`; repeat (or
    /// separate with commas) for failover pools, in order of preference.
    #[arg(long = "pool", env = env::MINER_POOL, value_name = "URL", required = true, value_delimiter = ',', value_parser = parse_pool)]
    pools: Vec<(String, u16)>,

    /// Worker name: `<payout address>[.<worker>]` for the mesos-miner proxy.
    #[arg(long, env = env::MINER_USER, value_name = "NAME")]
    user: String,

    /// Worker password (most pools ignore it).
    #[arg(
        long,
        env = env::MINER_PASSWORD,
        default_value = "x",
        hide_env_values = true
    )]
    password: String,

    /// Hashing engine [default: the fastest this CPU supports].
    #[arg(long, env = "MINER_ENGINE", value_name = "NAME", value_parser = parse_engine)]
    engine: Option<Engine>,

    /// Hashing threads [default: one per CPU].
    #[arg(long, env = env::MINER_THREADS, value_name = "N")]
    threads: Option<NonZeroUsize>,

    /// `mining.suggest_difficulty` to send after subscribing (and again on
    /// every reconnect): `auto` (from the hash rate measured at start, aimed
    /// at one share every `--share-secs`), a difficulty, or `off`.
    #[arg(long, env = "MINER_SUGGEST_DIFFICULTY", value_name = "auto|N|off", default_value = "auto", value_parser = parse_suggest)]
    suggest_difficulty: Suggest,

    /// Seconds between shares that `--suggest-difficulty auto` aims at.
    #[arg(long, env = "MINER_SHARE_SECS", alias = "share-seconds", value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
    share_secs: Duration,

    /// Follow a pool's `client.reconnect` to another host, taking the worker
    /// name and password there [default: reconnect to the same pool instead].
    #[arg(long, env = "MINER_ALLOW_RECONNECT_ELSEWHERE")]
    allow_reconnect_elsewhere: bool,

    /// Seconds between status lines.
    #[arg(long, env = "MINER_STATUS_SECS", alias = "status-every", value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    status_secs: Duration,
}

/// `stratum+tcp://host:port`, `tcp://host:port` or `host:port`.
fn parse_pool(url: &str) -> Result<(String, u16), String> {
    let rest = ["stratum+tcp://", "tcp://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .unwrap_or(url)
        .trim_end_matches('/');
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("{url:?} has no port (expected host:port)"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{url:?} has an invalid port"))?;
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Benchmark only this engine: avx512, sha-ni, avx2 or portable
    /// [default: every engine this CPU supports].
    #[arg(long, env = "MINER_ENGINE", value_name = "NAME", value_parser = parse_engine)]
    engine: Option<Engine>,

    /// Benchmark with exactly N threads [default: each count from 1 to the
    /// number of CPUs].
    #[arg(long, env = env::MINER_THREADS, value_name = "N")]
    threads: Option<NonZeroUsize>,

    /// How long to run each engine and thread count, in seconds (fractions
    /// allowed).
    #[arg(
        long,
        env = "MINER_BENCH_SECS",
        alias = "seconds",
        value_name = "SECS",
        default_value = "5",
        value_parser = parse_seconds
    )]
    secs: Duration,

    /// Benchmark only this mode: nonce-only or version-rolling [default:
    /// every mode each engine has].
    #[arg(long, env = "MINER_BENCH_MODE", value_name = "MODE")]
    mode: Option<Mode>,

    /// Run the whole benchmark this many times, so that engines and modes
    /// alternate and compare as ratios on a machine whose speed drifts.
    #[arg(long, value_name = "N", default_value = "1")]
    repeat: NonZeroUsize,

    /// Print one JSON object per result line instead of a table:
    /// {"engine","mode","threads","seconds","hashes","hash_rate","hash_rate_per_core"},
    /// rates in hashes (headers) per second.
    #[arg(long)]
    json: bool,

    /// Instead of the search's hash rate, time each kernel (and each
    /// variant of sha-ni's version-rolling kernel) in short chunks
    /// alternating with a clock loop, and print core cycles per hash from
    /// the fastest chunk of each; with --threads N, on N threads at once.
    /// JSON lines: {"engine","mode","variant","thread","ghz","cycles_per_hash",
    /// "hash_rate","samples"}.
    #[arg(long)]
    cycles: bool,

    /// Chunks timed per kernel with --cycles.
    #[arg(long, value_name = "N", default_value = "3000", requires = "cycles")]
    samples: NonZeroUsize,
}

fn parse_suggest(s: &str) -> Result<Suggest, String> {
    s.parse()
}

/// An engine name that this CPU can run.
fn parse_engine(name: &str) -> Result<Engine, EngineError> {
    name.parse::<Engine>()?.check()
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let seconds: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("must be more than 0 seconds, got {s}"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// Parses the arguments (exiting on `--help` or a usage error), sets up
/// logging and runs the subcommand.
/// The miner's config file and environment: `MINER_*`; a subcommand's flags in its table
/// (`[run]`, `[bench]`).
pub const PROGRAM: cli_config::Program = cli_config::Program {
    env_prefix: "MINER_",
    sections: &[],
    section_flags: &[],
};

pub fn main() -> anyhow::Result<()> {
    let loaded = cli_config::load::<Cli>(&PROGRAM)?;
    if loaded.print_config {
        print!("{}", cli_config::render(&loaded.effective()));
        return Ok(());
    }
    let cli = loaded.args;
    init_tracing();
    match cli.command {
        Command::Bench(args) => bench(args),
        Command::Engines => engines(),
        Command::Run(args) => run(args),
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = PoolConfig {
        pools: args
            .pools
            .into_iter()
            .map(|(host, port)| Endpoint {
                host,
                port,
                user: args.user.clone(),
                password: args.password.clone(),
            })
            .collect(),
        engine: args.engine.unwrap_or_else(Engine::best),
        threads: args.threads.map(NonZeroUsize::get),
        backoff_min: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
        policy: PoolPolicy {
            suggest: args.suggest_difficulty,
            share_interval: args.share_secs,
            allow_reconnect_elsewhere: args.allow_reconnect_elsewhere,
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    runtime
        .block_on(pool::run(config, args.status_secs))
        .context("mining failed")
}

/// Logs to stderr, filtered by `RUST_LOG` (warnings and errors if unset).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .init();
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if args.cycles {
        return bench_cycles(&args);
    }
    let plan = Plan {
        engines: match args.engine {
            Some(engine) => vec![engine],
            None => Engine::available(),
        },
        threads: match args.threads {
            Some(n) => vec![n.get()],
            None => (1..=default_threads()).collect(),
        },
        modes: match args.mode {
            Some(mode) => vec![mode],
            None => Mode::ALL.to_vec(),
        },
        repeat: args.repeat.get(),
        duration: args.secs,
    };
    let format = if args.json {
        Format::Json
    } else {
        Format::Table
    };
    let mut stdout = io::stdout().lock();
    bench::run(&plan, format, &mut stdout).context("benchmark failed")?;
    Ok(())
}

fn bench_cycles(args: &BenchArgs) -> anyhow::Result<()> {
    let engines = match args.engine {
        Some(engine) => vec![engine],
        None => Engine::available(),
    };
    let modes = match args.mode {
        Some(mode) => vec![mode],
        None => Mode::ALL.to_vec(),
    };
    let threads = args.threads.map_or(1, NonZeroUsize::get);
    let mut out = io::stdout().lock();
    if !args.json {
        writeln!(
            out,
            "{:<10} {:<15} {:<8} {:>6} {:>6} {:>14} {:>8}",
            "engine", "mode", "variant", "thread", "GHz", "cycles/hash", "MH/s"
        )?;
    }
    for _ in 0..args.repeat.get() {
        let results = cycles::measure_threads(threads, args.samples.get(), || {
            engines
                .iter()
                .flat_map(|&e| cycles::kernels(e, &modes))
                .collect()
        });
        for r in results {
            if args.json {
                writeln!(out, "{}", serde_json::to_string(&r)?)?;
            } else {
                writeln!(
                    out,
                    "{:<10} {:<15} {:<8} {:>6} {:>6.2} {:>14.1} {:>8.2}",
                    r.engine.name(),
                    r.mode.name(),
                    r.variant,
                    r.thread,
                    r.ghz,
                    r.cycles_per_hash,
                    r.hash_rate / 1e6
                )?;
            }
        }
        out.flush()?;
    }
    Ok(())
}

fn engines() -> anyhow::Result<()> {
    let best = Engine::best();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{:<10} {:<10} {:>5}  {:<8} {:<41} requires",
        "engine", "available", "lanes", "default", "modes"
    )?;
    for engine in Engine::ALL {
        let modes = engine
            .modes()
            .iter()
            .map(|m| match m {
                Mode::NonceOnly => m.to_string(),
                Mode::VersionRolling => format!("{m} ({} versions)", engine.versions()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "{:<10} {:<10} {:>5}  {:<8} {:<41} {}",
            engine.name(),
            if engine.is_available() { "yes" } else { "no" },
            engine.lanes(),
            if engine == best { "yes" } else { "" },
            modes,
            engine.requirement()
        )?;
    }
    writeln!(
        out,
        "`miner run` uses version-rolling when the pool grants at least as many \
         version patterns as the engine shares a schedule over (2 bits), else nonce-only."
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn pool_urls() {
        assert_eq!(
            parse_pool("stratum+tcp://127.0.0.1:3333").unwrap(),
            ("127.0.0.1".into(), 3333)
        );
        assert_eq!(
            parse_pool("pool.example:4444/").unwrap(),
            ("pool.example".into(), 4444)
        );
        assert_eq!(parse_pool("[::1]:3333").unwrap(), ("::1".into(), 3333));
        assert!(parse_pool("stratum+tcp://host").is_err());
        assert!(parse_pool(":3333").is_err());
        assert!(parse_pool("host:99999").is_err());
    }

    #[test]
    fn suggest_difficulty_defaults_to_auto_and_takes_a_number_or_off() {
        let run = |extra: &[&str]| {
            let mut argv = vec!["miner", "run", "--pool", "h:1", "--user", "u"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Command::Run(args)) => Ok((args.suggest_difficulty, args.share_secs)),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(run(&[]), Ok((Suggest::Auto, Duration::from_secs(5))));
        assert_eq!(
            run(&["--suggest-difficulty", "0.1", "--share-secs", "2"]),
            Ok((Suggest::Fixed(0.1), Duration::from_secs(2)))
        );
        assert_eq!(
            run(&["--suggest-difficulty", "off"]).map(|r| r.0),
            Ok(Suggest::Off)
        );
        let err = run(&["--suggest-difficulty=-3"]).unwrap_err();
        assert!(err.contains("auto, off or a positive difficulty"), "{err}");
    }

    #[test]
    fn seconds_must_be_positive() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
