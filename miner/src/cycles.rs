//! Cycles per hash of the engines' kernels, measured so that a busy machine
//! does not skew them (`miner bench --cycles`).
//!
//! Wall-clock hash rates on a shared machine swing with the other load, so
//! this times short chunks of work (tens of microseconds) many times over,
//! alternating the kernels with a clock loop, and keeps each one's fastest
//! chunk: a chunk that ran without being preempted. The clock loop is a chain
//! of dependent register-register adds (one cycle each); it turns the chunks'
//! nanoseconds into core cycles at the clock the core ran at in the same
//! window. (Adds of an immediate are no clock on every core: Intel's Golden
//! Cove, for one, retires chains of them several per cycle.)

use std::ops::Range;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::{Engine, Mode, RolledCandidate, RolledKernel};
use crate::pool::session::VERSION_ROLLING_MASK;
use crate::pool::work::deposit;
use crate::{Job, RolledJob, ShareTarget};

/// Dependent adds per clock chunk: about 20 microseconds at 3 GHz.
const CLOCK_ADDS: u64 = 1 << 16;

/// Runs `adds` dependent register-register adds (a multiple of 4).
#[inline(never)]
#[allow(unsafe_code)] // inline assembly: the clock's reference loop
pub fn clock_loop(adds: u64) {
    let mut x = 0u64;
    let step = std::hint::black_box(1u64);
    let mut n = adds / 4;
    // SAFETY: register arithmetic only: no memory, no stack, and the flags
    // it changes are declared (no `preserves_flags`).
    unsafe {
        std::arch::asm!(
            "2:",
            "add {x}, {s}",
            "add {x}, {s}",
            "add {x}, {s}",
            "add {x}, {s}",
            "dec {n}",
            "jnz 2b",
            x = inout(reg) x,
            n = inout(reg) n,
            s = in(reg) step,
            options(nomem, nostack),
        );
    }
    std::hint::black_box((x, n));
}

/// One kernel to time: a name, and a chunk of work that returns the
/// hashes it did.
pub struct Kernel {
    /// The engine the kernel belongs to.
    pub engine: Engine,
    /// The mode the kernel hashes in.
    pub mode: Mode,
    /// The variant's name (`default` for the one the engine uses).
    pub variant: &'static str,
    chunk: Box<dyn FnMut(u64) -> u64 + Send>,
}

/// The result for one kernel; also the `--json` line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CycleMeasurement {
    /// The kernel's engine (its name in JSON).
    #[serde(serialize_with = "engine_name")]
    pub engine: Engine,
    /// The kernel's mode (its name in JSON).
    #[serde(serialize_with = "mode_name")]
    pub mode: Mode,
    /// The kernel variant's name (`default` for the one the engine uses).
    pub variant: &'static str,
    /// Which of the threads measuring at once this is (0-based).
    pub thread: usize,
    /// Core clock from the fastest clock chunk, in GHz.
    pub ghz: f64,
    /// Core cycles per hash in the kernel's fastest chunk.
    pub cycles_per_hash: f64,
    /// Hashes per second at that speed (`ghz * 1e9 / cycles_per_hash`).
    pub hash_rate: f64,
    /// Chunks timed.
    pub samples: usize,
}

fn engine_name<S: serde::Serializer>(engine: &Engine, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(engine.name())
}

fn mode_name<S: serde::Serializer>(mode: &Mode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.name())
}

/// The header timed: arbitrary but fixed, at difficulty 1 (hits are rare).
fn header() -> [u8; 80] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3))
}

/// Nonces per chunk for a kernel of `lanes` nonces and `versions` versions:
/// whole batches, about 400 hashes.
fn chunk_nonces(lanes: u64, versions: u64) -> u64 {
    (384 / versions).div_ceil(lanes).max(1) * lanes
}

/// Every kernel of `engine` in `modes`: the engine's own, and for sha-ni's
/// version-rolling mode its other variants.
pub fn kernels(engine: Engine, modes: &[Mode]) -> Vec<Kernel> {
    let target = ShareTarget::from_difficulty(1.0).expect("1 is a valid difficulty");
    let mut out = Vec::new();
    for &mode in modes.iter().filter(|m| engine.modes().contains(m)) {
        match mode {
            Mode::NonceOnly => {
                let job = Job::new(header(), target);
                let nonces = chunk_nonces(engine.lanes(), 1);
                let mut found = Vec::new();
                out.push(Kernel {
                    engine,
                    mode,
                    variant: "default",
                    chunk: Box::new(move |first| {
                        found.clear();
                        engine.candidates(&job, wrap(first, nonces), &mut found);
                        nonces
                    }),
                });
            }
            Mode::VersionRolling => {
                let variants: Vec<(&'static str, Option<RolledKernel>)> = match engine {
                    Engine::ShaNi => RolledKernel::ALL
                        .iter()
                        .map(|&k| (k.name(), Some(k)))
                        .collect(),
                    _ => vec![("default", None)],
                };
                for (variant, kernel) in variants {
                    let k = kernel.map_or(engine.versions(), RolledKernel::versions) as u32;
                    let versions: Vec<u32> = (0..k)
                        .map(|i| 0x2000_0000 | deposit(i, VERSION_ROLLING_MASK))
                        .collect();
                    let job = RolledJob::new(header(), &versions, target);
                    let lanes = kernel.map_or(engine.lanes(), RolledKernel::nonces);
                    let nonces = chunk_nonces(lanes, u64::from(k));
                    let mut found: Vec<RolledCandidate> = Vec::new();
                    out.push(Kernel {
                        engine,
                        mode,
                        variant,
                        chunk: Box::new(move |first| {
                            found.clear();
                            let range = wrap(first, nonces);
                            match kernel {
                                Some(kernel) => kernel.candidates(&job, range, &mut found),
                                None => engine.rolled_candidates(&job, range, &mut found),
                            }
                            nonces * u64::from(k)
                        }),
                    });
                }
            }
        }
    }
    out
}

/// `n` nonces from the `first`th chunk's start, inside the nonce space.
fn wrap(first: u64, n: u64) -> Range<u64> {
    let start = (first * n) % ((1u64 << 32) - n);
    start..start + n
}

/// Times `kernels` for `samples` rounds, each round one clock chunk and one
/// chunk of every kernel in turn, and keeps the fastest of each.
pub fn measure(kernels: &mut [Kernel], samples: usize, thread: usize) -> Vec<CycleMeasurement> {
    let mut clock = Duration::MAX;
    let mut best = vec![(Duration::MAX, 0u64); kernels.len()];
    for s in 0..samples.max(1) {
        let began = Instant::now();
        clock_loop(CLOCK_ADDS);
        clock = clock.min(began.elapsed());
        for (k, b) in kernels.iter_mut().zip(best.iter_mut()) {
            let began = Instant::now();
            let hashes = (k.chunk)(s as u64);
            let took = began.elapsed();
            if took < b.0 {
                *b = (took, hashes);
            }
        }
    }
    let ghz = CLOCK_ADDS as f64 / clock.as_nanos().max(1) as f64;
    kernels
        .iter()
        .zip(best)
        .map(|(k, (took, hashes))| {
            let cycles_per_hash = took.as_nanos() as f64 * ghz / hashes as f64;
            CycleMeasurement {
                engine: k.engine,
                mode: k.mode,
                variant: k.variant,
                thread,
                ghz,
                cycles_per_hash,
                hash_rate: ghz * 1e9 / cycles_per_hash,
                samples: samples.max(1),
            }
        })
        .collect()
}

/// [`measure`] on `threads` threads at once, each with its own kernels from
/// `make`; results by thread, then kernel.
pub fn measure_threads(
    threads: usize,
    samples: usize,
    make: impl Fn() -> Vec<Kernel> + Sync,
) -> Vec<CycleMeasurement> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|t| {
                let make = &make;
                s.spawn(move || measure(&mut make(), samples, t))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a measuring thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_loop_takes_time_in_proportion_to_its_adds() {
        let time = |adds| {
            (0..50)
                .map(|_| {
                    let t = Instant::now();
                    clock_loop(adds);
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let (short, long) = (time(1 << 16), time(1 << 20));
        let ratio = long.as_secs_f64() / short.as_secs_f64();
        assert!((8.0..24.0).contains(&ratio), "{short:?} vs {long:?}");
    }

    #[test]
    fn chunks_are_whole_batches_of_about_400_hashes() {
        assert_eq!(chunk_nonces(3, 1), 384);
        assert_eq!(chunk_nonces(3, 3), 129);
        assert_eq!(chunk_nonces(32, 4), 96);
        assert_eq!(chunk_nonces(1, 1), 384);
    }

    #[test]
    fn measures_every_mode_and_variant_with_a_plausible_clock() {
        let engine = Engine::best();
        let results = measure_threads(1, 20, || kernels(engine, &Mode::ALL));
        let expected = kernels(engine, &Mode::ALL).len();
        assert_eq!(results.len(), expected);
        for r in &results {
            assert!(r.ghz > 0.1 && r.ghz < 10.0, "{r:?}");
            assert!(r.cycles_per_hash > 10.0, "{r:?}");
        }
    }
}
