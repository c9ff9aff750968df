//! The hash-rate benchmark behind `miner bench`: runs the full parallel
//! search ([`crate::search`]) for a while per engine and thread count and
//! reads the workers' hash counters, so it measures what mining would get,
//! bookkeeping included.
//!
//! It searches a fixed header at difficulty 1, so hits (one in 2^32 hashes)
//! cost nothing worth counting; when a header's nonces are spent it rolls the
//! header's version field, as a miner would roll extranonce2. Each engine
//! runs in each of its modes: nonce-only, and version-rolling (sets of
//! [`Engine::versions`] versions inside the BIP310 mask `1fffe000`, one
//! schedule per nonce for the set). `repeat` runs the whole plan again, so
//! modes alternate within one invocation and can be compared as ratios.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::pool::session::VERSION_ROLLING_MASK;
use crate::pool::work::deposit;
use crate::search::Work;
use crate::search::{SearchError, Searcher};
use crate::{Engine, Job, Mode, RolledJob, ShareTarget};

/// How often the live progress line is refreshed.
const TICK: Duration = Duration::from_millis(100);

/// The header searched: arbitrary but fixed, so runs compare.
fn bench_header() -> [u8; 80] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3))
}

/// Errors running the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The search could not be set up (engine unsupported, no threads, pool not built).
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The run duration was zero.
    #[error("benchmark duration must be a positive number of seconds, got {0:?}")]
    Duration(Duration),
    /// Writing the results to the output failed.
    #[error("cannot write the results: {0}")]
    Io(#[from] io::Error),
    /// A result could not be encoded as JSON.
    #[error("cannot encode the results: {0}")]
    Json(#[from] serde_json::Error),
}

/// The result of one engine on one thread count; also the `--json` line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// The engine measured (its name in JSON).
    #[serde(serialize_with = "engine_name")]
    pub engine: Engine,
    /// The mode it ran in (its name in JSON).
    #[serde(serialize_with = "mode_name")]
    pub mode: Mode,
    /// Worker threads searching.
    pub threads: usize,
    /// Wall time from the start of the search until every worker stopped.
    pub seconds: f64,
    /// Headers hashed in that time (nonces times versions).
    pub hashes: u64,
    /// Hashes per second, all threads together.
    pub hash_rate: f64,
    /// `hash_rate / threads`.
    pub hash_rate_per_core: f64,
}

fn engine_name<S: serde::Serializer>(engine: &Engine, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(engine.name())
}

fn mode_name<S: serde::Serializer>(mode: &Mode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.name())
}

impl Measurement {
    fn new(engine: Engine, mode: Mode, threads: usize, elapsed: Duration, hashes: u64) -> Self {
        let seconds = elapsed.as_secs_f64();
        let hash_rate = hashes as f64 / seconds;
        Self {
            engine,
            mode,
            threads,
            seconds,
            hashes,
            hash_rate,
            hash_rate_per_core: hash_rate / threads as f64,
        }
    }
}

/// Runs `engine` in `mode` on `threads` workers for `duration`, calling
/// `tick` with the time so far and the hashes so far several times a second.
pub fn measure(
    engine: Engine,
    mode: Mode,
    threads: usize,
    duration: Duration,
    mut tick: impl FnMut(Duration, u64),
) -> Result<Measurement, BenchError> {
    if duration.is_zero() {
        return Err(BenchError::Duration(duration));
    }
    let mut searcher = Searcher::new(engine, Some(threads))?;
    let handle = searcher.handle();
    let target = ShareTarget::from_difficulty(1.0).expect("1 is a valid difficulty");
    let mut header = bench_header();
    let mut rolls = 0u32;
    let k = engine.versions() as u32;
    let mut source = move || {
        let work: Work = match mode {
            Mode::NonceOnly => {
                header[..4].copy_from_slice(&rolls.to_le_bytes());
                Job::new(header, target).into()
            }
            Mode::VersionRolling => {
                let versions: Vec<u32> = (0..k)
                    .map(|i| {
                        let r = rolls.wrapping_mul(k).wrapping_add(i);
                        0x2000_0000 | deposit(r, VERSION_ROLLING_MASK)
                    })
                    .collect();
                RolledJob::new(header, &versions, target).into()
            }
        };
        rolls = rolls.wrapping_add(1);
        Some(((), work))
    };
    let began = Instant::now();
    let ended = std::thread::scope(|s| {
        let search = s.spawn(move || {
            searcher.run(&mut source, |_| {});
            Instant::now()
        });
        loop {
            let so_far = began.elapsed();
            if so_far >= duration {
                break;
            }
            std::thread::sleep(TICK.min(duration - so_far));
            tick(began.elapsed().min(duration), handle.hashes());
        }
        handle.stop();
        search.join().expect("the search thread panicked")
    });
    let elapsed = ended - began;
    let measurement = Measurement::new(engine, mode, threads, elapsed, handle.hashes());
    tracing::debug!(?measurement, "measured");
    Ok(measurement)
}

/// What to benchmark.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Engines to measure, in order.
    pub engines: Vec<Engine>,
    /// Modes to run each engine in (those it has).
    pub modes: Vec<Mode>,
    /// How many times to run the whole plan.
    pub repeat: usize,
    /// Thread counts to run each engine with, in order.
    pub threads: Vec<usize>,
    /// How long each (engine, threads) run lasts.
    pub duration: Duration,
}

/// How [`run`] prints results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An aligned table with a header line.
    Table,
    /// One JSON object per line.
    Json,
}

/// Runs every (engine, threads) pair of `plan`, writing each result to `out`
/// as soon as it is measured. On a terminal, a live progress line on stderr
/// shows the current run.
pub fn run(
    plan: &Plan,
    format: Format,
    out: &mut dyn Write,
) -> Result<Vec<Measurement>, BenchError> {
    if format == Format::Table {
        writeln!(out, "{}", table_header())?;
        out.flush()?;
    }
    let mut results = Vec::new();
    let runs = (0..plan.repeat.max(1)).flat_map(|_| {
        plan.engines.iter().flat_map(|&engine| {
            plan.threads.iter().flat_map(move |&threads| {
                plan.modes
                    .iter()
                    .filter(move |m| engine.modes().contains(m))
                    .map(move |&mode| (engine, threads, mode))
            })
        })
    });
    for (engine, threads, mode) in runs {
        {
            let progress = progress_bar(plan.duration);
            progress.set_prefix(format!("{engine} {mode} × {threads}"));
            let measurement = measure(engine, mode, threads, plan.duration, |so_far, hashes| {
                let rate = hashes as f64 / so_far.as_secs_f64().max(1e-9);
                progress.set_position(so_far.as_millis() as u64);
                progress.set_message(format!("{:.2} MH/s", rate / 1e6));
            });
            progress.finish_and_clear();
            let measurement = measurement?;
            match format {
                Format::Table => writeln!(out, "{}", table_row(&measurement))?,
                Format::Json => writeln!(out, "{}", serde_json::to_string(&measurement)?)?,
            }
            out.flush()?;
            results.push(measurement);
        }
    }
    Ok(results)
}

/// A progress line on stderr if it is a terminal, else a hidden one.
fn progress_bar(duration: Duration) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(duration.as_millis() as u64);
    let style = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {msg}")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

fn table_header() -> String {
    format!(
        "{:<10} {:<15} {:>7} {:>8} {:>12} {:>14}",
        "engine", "mode", "threads", "seconds", "MH/s", "MH/s per core"
    )
}

fn table_row(m: &Measurement) -> String {
    format!(
        "{:<10} {:<15} {:>7} {:>8.2} {:>12.2} {:>14.2}",
        m.engine.name(),
        m.mode.name(),
        m.threads,
        m.seconds,
        m.hash_rate / 1e6,
        m.hash_rate_per_core / 1e6
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_hashes_over_the_elapsed_time() {
        let mut ticks = Vec::new();
        let m = measure(
            Engine::Portable,
            Mode::NonceOnly,
            1,
            Duration::from_millis(300),
            |t, h| ticks.push((t, h)),
        )
        .unwrap();
        assert_eq!((m.engine, m.threads), (Engine::Portable, 1));
        assert!(m.hashes > 0);
        assert!(m.seconds >= 0.3 && m.seconds < 1.0, "{}", m.seconds);
        assert!((m.hash_rate - m.hashes as f64 / m.seconds).abs() < 1e-6 * m.hash_rate);
        assert_eq!(m.hash_rate_per_core, m.hash_rate);
        assert!(ticks.len() >= 2, "{ticks:?}");
        assert!(ticks.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn json_has_exactly_the_documented_fields() {
        let m = Measurement::new(
            Engine::ShaNi,
            Mode::VersionRolling,
            2,
            Duration::from_secs(4),
            100,
        );
        let json: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "engine": "sha-ni",
                "mode": "version-rolling",
                "threads": 2,
                "seconds": 4.0,
                "hashes": 100,
                "hash_rate": 25.0,
                "hash_rate_per_core": 12.5,
            })
        );
    }

    #[test]
    fn table_rows_line_up_with_the_header() {
        let m = Measurement::new(
            Engine::Avx512,
            Mode::NonceOnly,
            16,
            Duration::from_secs(5),
            5_000_000_000,
        );
        let row = table_row(&m);
        assert_eq!(row.len(), table_header().len(), "{row}");
        assert!(row.contains("1000.00") && row.contains("62.50"), "{row}");
    }

    #[test]
    fn version_rolling_counts_every_version_hashed() {
        let engine = Engine::best();
        if engine.versions() == 1 {
            eprintln!("skipped: {engine} has no version-rolling mode");
            return;
        }
        let m = measure(
            engine,
            Mode::VersionRolling,
            1,
            Duration::from_millis(300),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(m.mode, Mode::VersionRolling);
        assert!(
            m.hashes > 0 && m.hashes % engine.versions() as u64 == 0,
            "{m:?}"
        );
    }

    #[test]
    fn zero_duration_is_an_error() {
        assert!(matches!(
            measure(
                Engine::Portable,
                Mode::NonceOnly,
                1,
                Duration::ZERO,
                |_, _| {}
            ),
            Err(BenchError::Duration(_))
        ));
    }
}
