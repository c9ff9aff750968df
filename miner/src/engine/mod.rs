//! Nonce-search engines and their run-time selection.
//!
//! Every engine scans a nonce range of a [`Job`] and reports candidate nonces
//! whose hash's top word is within the target's top word; [`Engine::scan`]
//! then confirms each candidate with the portable double hash and the full
//! 256-bit comparison, so engines can never report a wrong hit.

// The SIMD and SHA-extension kernels: the one place `unsafe` intrinsics are allowed (each
// block with its SAFETY line, each engine checked against the portable one).
#[allow(unsafe_code)]
mod avx2;
#[allow(unsafe_code)]
mod avx512;
mod job;
mod kernel;
mod lanes;
mod portable;
mod rolled;
#[allow(unsafe_code)]
mod sha_ni;

pub use job::Job;
pub use rolled::{confirm_rolled, RolledCandidate, RolledHit, RolledJob};

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// Versions per shared schedule in the SIMD kernels' version-rolling mode.
const SIMD_VERSIONS: usize = 4;

/// One past the largest nonce.
pub const NONCE_SPACE: u64 = 1 << 32;

/// A nonce whose header hash meets the job's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The header's nonce field.
    pub nonce: u32,
    /// The raw double-SHA256 digest (reverse it for the usual display order).
    pub hash: [u8; 32],
}

/// How an engine's lanes are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Lanes are nonces of one header (any pool).
    NonceOnly,
    /// Lanes are versions of the same nonce (BIP310 version rolling): the
    /// first compression's message schedule is computed once per nonce for
    /// [`Engine::versions`] versions.
    VersionRolling,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 2] = [Mode::NonceOnly, Mode::VersionRolling];

    /// The name used on the command line and in results: `nonce-only` or `version-rolling`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::NonceOnly => "nonce-only",
            Mode::VersionRolling => "version-rolling",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown mode {s:?} (expected nonce-only or version-rolling)"))
    }
}

/// The available hashing engines, fastest first in [`Engine::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// 16 lanes of AVX-512F/BW, two batches interleaved.
    Avx512,
    /// Intel SHA extensions, several nonces interleaved.
    ShaNi,
    /// 8 lanes of AVX2.
    Avx2,
    /// `sha2` compressions with a midstate; runs on any CPU.
    Portable,
}

/// Errors choosing an engine.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// No engine has this name.
    #[error("unknown engine {0:?} (expected one of: avx512, sha-ni, avx2, portable)")]
    Unknown(String),
    /// This CPU cannot run the engine; with the features it needs ([`Engine::requirement`]).
    #[error("engine {0} is not supported by this CPU (it lacks {1})")]
    Unsupported(Engine, &'static str),
}

impl Engine {
    /// Every engine, fastest first.
    pub const ALL: [Engine; 4] = [
        Engine::Avx512,
        Engine::ShaNi,
        Engine::Avx2,
        Engine::Portable,
    ];

    /// The name used on the command line and in results: `avx512`, `sha-ni`, `avx2` or
    /// `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Avx512 => "avx512",
            Engine::ShaNi => "sha-ni",
            Engine::Avx2 => "avx2",
            Engine::Portable => "portable",
        }
    }

    /// The CPU features the engine needs, as reported in errors.
    pub fn requirement(self) -> &'static str {
        match self {
            Engine::Avx512 => "AVX-512F and AVX-512BW",
            Engine::ShaNi => "the SHA extensions with SSE4.1",
            Engine::Avx2 => "AVX2",
            Engine::Portable => "nothing",
        }
    }

    /// Whether this CPU can run the engine.
    pub fn is_available(self) -> bool {
        match self {
            Engine::Avx512 => avx512::available(),
            Engine::ShaNi => sha_ni::available(),
            Engine::Avx2 => avx2::available(),
            Engine::Portable => true,
        }
    }

    /// The engines this CPU can run, fastest first.
    pub fn available() -> Vec<Engine> {
        Self::ALL.into_iter().filter(|e| e.is_available()).collect()
    }

    /// The fastest engine this CPU can run.
    pub fn best() -> Engine {
        Self::available()[0]
    }

    /// Checks that the CPU can run the engine.
    pub fn check(self) -> Result<Engine, EngineError> {
        if self.is_available() {
            Ok(self)
        } else {
            Err(EngineError::Unsupported(self, self.requirement()))
        }
    }

    /// How many nonces the engine hashes together; ranges are best split at
    /// multiples of this.
    pub fn lanes(self) -> u64 {
        match self {
            Engine::Avx512 => 32,
            Engine::ShaNi => sha_ni::LANES as u64,
            Engine::Avx2 => 8,
            Engine::Portable => 1,
        }
    }

    /// Versions of one nonce that the version-rolling mode hashes on one
    /// shared schedule: a version set is best a multiple of this, and a
    /// pool must grant at least this many version patterns for the mode to
    /// pay. 1 means the engine has no version-rolling mode (the portable
    /// engine hashes each version on its own).
    pub fn versions(self) -> usize {
        match self {
            Engine::Avx512 | Engine::Avx2 => SIMD_VERSIONS,
            Engine::ShaNi => sha_ni::VERSIONS,
            Engine::Portable => 1,
        }
    }

    /// The modes the engine has: nonce-only, and version-rolling where it
    /// shares schedules.
    pub fn modes(self) -> &'static [Mode] {
        if self.versions() > 1 {
            &Mode::ALL
        } else {
            &Mode::ALL[..1]
        }
    }

    /// Pushes the candidates of `range` (end at most 2^32) in every version
    /// of `job`, sorted by version index then nonce. Panics if the CPU
    /// cannot run the engine.
    pub fn rolled_candidates(
        self,
        job: &RolledJob,
        range: Range<u64>,
        out: &mut Vec<RolledCandidate>,
    ) {
        assert!(
            range.end <= NONCE_SPACE,
            "nonce range {range:?} beyond 2^32"
        );
        let from = out.len();
        match self {
            Engine::Avx512 => avx512::scan_rolled(job.jobs(), range, out),
            Engine::ShaNi => {
                sha_ni::scan_rolled_with(RolledKernel::DEFAULT, job.jobs(), range, out)
            }
            Engine::Avx2 => avx2::scan_rolled(job.jobs(), range, out),
            Engine::Portable => {
                let mut nonces = Vec::new();
                for (version, j) in job.jobs().iter().enumerate() {
                    nonces.clear();
                    portable::scan(j, range.clone(), &mut nonces);
                    out.extend(nonces.iter().map(|&nonce| RolledCandidate {
                        version: version as u32,
                        nonce,
                    }));
                }
            }
        }
        out[from..].sort_unstable();
    }

    /// Scans `range` in every version of `job` and returns the confirmed
    /// hits, by version index then nonce.
    pub fn scan_rolled(self, job: &RolledJob, range: Range<u64>) -> Vec<RolledHit> {
        let mut candidates = Vec::new();
        self.rolled_candidates(job, range, &mut candidates);
        confirm_rolled(job, &candidates)
    }

    /// Pushes the nonces in `range` (end at most 2^32) whose hash's top word is
    /// within the target's top word. Panics if the CPU cannot run the engine.
    pub fn candidates(self, job: &Job, range: Range<u64>, out: &mut Vec<u32>) {
        assert!(
            range.end <= NONCE_SPACE,
            "nonce range {range:?} beyond 2^32"
        );
        match self {
            Engine::Avx512 => avx512::scan(job, range, out),
            Engine::ShaNi => sha_ni::scan(job, range, out),
            Engine::Avx2 => avx2::scan(job, range, out),
            Engine::Portable => portable::scan(job, range, out),
        }
    }

    /// Scans `range` and returns the confirmed hits, in nonce order.
    pub fn scan(self, job: &Job, range: Range<u64>) -> Vec<Hit> {
        let mut candidates = Vec::new();
        self.candidates(job, range, &mut candidates);
        confirm(job, &candidates)
    }
}

/// The sha-ni engine's version-rolling kernels, for `miner bench --cycles`
/// to time side by side; [`Engine::rolled_candidates`] uses
/// [`RolledKernel::DEFAULT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolledKernel {
    /// One nonce in three versions per batch.
    OneNonce,
    /// Two nonces in three versions per batch: six chains in the first
    /// compression.
    TwoNonces,
}

impl RolledKernel {
    /// Every variant.
    pub const ALL: [RolledKernel; 2] = [RolledKernel::OneNonce, RolledKernel::TwoNonces];

    /// The variant the sha-ni engine runs.
    pub const DEFAULT: RolledKernel = RolledKernel::OneNonce;

    /// The variant's name: nonces x versions per batch.
    pub fn name(self) -> &'static str {
        match self {
            RolledKernel::OneNonce => "1x3",
            RolledKernel::TwoNonces => "2x3",
        }
    }

    /// Versions per batch (a version set is best a multiple of this).
    pub fn versions(self) -> usize {
        sha_ni::VERSIONS
    }

    /// Nonces per batch.
    pub fn nonces(self) -> u64 {
        match self {
            RolledKernel::OneNonce => 1,
            RolledKernel::TwoNonces => 2,
        }
    }

    /// Pushes the candidates of `range` in every version of `job`, sorted
    /// as [`Engine::rolled_candidates`] sorts them. Panics if the CPU cannot
    /// run the sha-ni engine.
    pub fn candidates(self, job: &RolledJob, range: Range<u64>, out: &mut Vec<RolledCandidate>) {
        assert!(
            range.end <= NONCE_SPACE,
            "nonce range {range:?} beyond 2^32"
        );
        let from = out.len();
        sha_ni::scan_rolled_with(self, job.jobs(), range, out);
        out[from..].sort_unstable();
    }
}

/// Keeps the candidates whose full double hash meets the job's target.
pub fn confirm(job: &Job, candidates: &[u32]) -> Vec<Hit> {
    candidates
        .iter()
        .filter_map(|&nonce| {
            let hash = job.hash(nonce);
            job.target().is_met_by(&hash).then_some(Hit { nonce, hash })
        })
        .collect()
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|e| e.name() == wanted || (wanted == "shani" && *e == Engine::ShaNi))
            .ok_or_else(|| EngineError::Unknown(s.to_string()))
    }
}

#[cfg(test)]
mod equivalence_tests;
