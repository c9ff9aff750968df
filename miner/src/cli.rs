//! The `miner` command line: argument parsing (clap), logging setup, and one
//! function per subcommand, each a thin call into the library.
//!
//! Subcommands: `bench` (hash rate per engine and thread count) and `engines`
//! (what this CPU can run). The mining subcommand, `run`, will join them here
//! once the stratum client exists: add a `Run(RunArgs)` variant to
//! [`Command`] with the pool URL, worker name and password (as
//! `MINER_POOL`, `MINER_USER`, `MINER_PASSWORD`), reusing `--engine` and
//! `--threads` from [`BenchArgs`] with the same environment variables.

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use miner::bench::{self, Format, Plan};
use miner::engine::EngineError;
use miner::search::default_threads;
use miner::Engine;
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
    /// `--seconds` per engine and thread count, then prints total and
    /// per-core hash rates. A live progress line is shown on a terminal.
    Bench(BenchArgs),
    /// List the hashing engines, whether this CPU can run them, and which one
    /// is used by default.
    Engines,
    // `Run(RunArgs)`: mine against a stratum pool. Not yet: see the module doc.
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Benchmark only this engine: avx512, sha-ni, avx2 or portable
    /// [default: every engine this CPU supports].
    #[arg(long, env = "MINER_ENGINE", value_name = "NAME", value_parser = parse_engine)]
    engine: Option<Engine>,

    /// Benchmark with exactly N threads [default: each count from 1 to the
    /// number of CPUs].
    #[arg(long, env = "MINER_THREADS", value_name = "N")]
    threads: Option<NonZeroUsize>,

    /// How long to run each engine and thread count, in seconds (fractions
    /// allowed).
    #[arg(
        long,
        env = "MINER_BENCH_SECONDS",
        value_name = "SECONDS",
        default_value = "5",
        value_parser = parse_seconds
    )]
    seconds: Duration,

    /// Print one JSON object per result line instead of a table:
    /// {"engine","threads","seconds","hashes","hash_rate","hash_rate_per_core"},
    /// rates in hashes per second.
    #[arg(long)]
    json: bool,
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
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Bench(args) => bench(args),
        Command::Engines => engines(),
    }
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
    let plan = Plan {
        engines: match args.engine {
            Some(engine) => vec![engine],
            None => Engine::available(),
        },
        threads: match args.threads {
            Some(n) => vec![n.get()],
            None => (1..=default_threads()).collect(),
        },
        duration: args.seconds,
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

fn engines() -> anyhow::Result<()> {
    let best = Engine::best();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{:<10} {:<10} {:>5}  {:<8} requires",
        "engine", "available", "lanes", "default"
    )?;
    for engine in Engine::ALL {
        writeln!(
            out,
            "{:<10} {:<10} {:>5}  {:<8} {}",
            engine.name(),
            if engine.is_available() { "yes" } else { "no" },
            engine.lanes(),
            if engine == best { "yes" } else { "" },
            engine.requirement()
        )?;
    }
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
    fn seconds_must_be_positive() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
