//! Version-rolled work (BIP310): one header in several versions, searched
//! together.
//!
//! Headers that differ only in their version field have different midstates
//! but the same second chunk (merkle root tail, time, bits, nonce, padding),
//! so for one nonce the first compression's message schedule is the same for
//! every version. The version-rolling kernels compute that schedule once per
//! nonce and run the rounds of several midstates on it; only the second hash
//! (of each 32-byte digest) needs its own schedule.

use super::{Hit, Job};
use crate::target::ShareTarget;

/// A header prepared for search in each of several versions (its version
/// field and nonce field are ignored).
#[derive(Clone, Debug)]
pub struct RolledJob {
    versions: Vec<u32>,
    /// `jobs[i]` is the header with `versions[i]`.
    jobs: Vec<Job>,
}

/// A candidate of rolled work: the index of its version in the set, and its nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RolledCandidate {
    /// Index into [`RolledJob::versions`] (not the version itself).
    pub version: u32,
    /// The header's nonce field.
    pub nonce: u32,
}

/// A hit of rolled work: the full header version it was found with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RolledHit {
    /// The full header version.
    pub version: u32,
    /// The nonce and its hash.
    pub hit: Hit,
}

impl RolledJob {
    /// Prepares `header` in each of `versions` (at least one) for search.
    pub fn new(header: [u8; 80], versions: &[u32], target: ShareTarget) -> Self {
        assert!(!versions.is_empty(), "a rolled job needs a version");
        let jobs = versions
            .iter()
            .map(|v| {
                let mut h = header;
                h[..4].copy_from_slice(&v.to_le_bytes());
                Job::new(h, target)
            })
            .collect();
        Self {
            versions: versions.to_vec(),
            jobs,
        }
    }

    /// The versions, in set order.
    pub fn versions(&self) -> &[u32] {
        &self.versions
    }

    /// The prepared header of each version, in set order.
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// The share target, the same for every version.
    pub fn target(&self) -> &ShareTarget {
        self.jobs[0].target()
    }
}

/// Keeps the candidates whose full double hash meets the job's target.
pub fn confirm_rolled(job: &RolledJob, candidates: &[RolledCandidate]) -> Vec<RolledHit> {
    candidates
        .iter()
        .filter_map(|c| {
            let j = &job.jobs[c.version as usize];
            let hash = j.hash(c.nonce);
            j.target().is_met_by(&hash).then_some(RolledHit {
                version: job.versions[c.version as usize],
                hit: Hit {
                    nonce: c.nonce,
                    hash,
                },
            })
        })
        .collect()
}
