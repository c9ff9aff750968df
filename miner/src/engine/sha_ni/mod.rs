//! The SHA-extensions engine: independent nonces interleaved so that
//! `sha256rnds2` (four cycles of latency, one per cycle of throughput) always
//! has work, with everything the nonce does not touch folded per job.
//!
//! Two kernels share the per-job constants ([`Consts`]) built here:
//! - [`interleaved`], for CPUs with AVX: three lanes whose state and newest
//!   message groups never leave the registers, in nine vector instructions
//!   per group of four rounds;
//! - [`sse`], for SHA CPUs without AVX (Goldmont-class): a plain interleaved
//!   kernel in legacy encodings.
//!
//! State lives in the instructions' ABEF/CDGH register layout. The kernels
//! run in their own `#[target_feature]` functions. The SHA instructions are
//! legacy-encoded, and legacy code with dirty upper vector state is ruinously
//! slow on some cores, so the AVX kernel touches no `ymm` register and issues
//! `vzeroupper` before every batch (the SSE kernel runs where there is no
//! upper state).

mod interleaved;
mod rolled;
mod rolled2;
mod sse;

use super::job::{Job, DIGEST_BITS, HEADER_BITS};
use super::rolled::RolledCandidate;
use super::RolledKernel;
use crate::sha256::{self, small_sigma0, IV, K, PAD};
use std::arch::x86_64::*;

/// Nonces hashed together (the AVX kernel's batch).
pub(crate) const LANES: usize = interleaved::LANES;

/// Whether this CPU can run the engine.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("sha")
        && is_x86_feature_detected!("sse4.1")
        && is_x86_feature_detected!("ssse3")
}

/// Scans `range` and pushes candidate nonces; the CPU must pass [`available`].
pub(crate) fn scan(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    assert!(
        available(),
        "sha-ni engine used on a CPU without SHA/SSE4.1"
    );
    if is_x86_feature_detected!("avx") {
        interleaved::scan(job, range, candidates)
    } else {
        sse::scan(job, range, candidates)
    }
}

/// Versions whose first compressions share one schedule in the
/// version-rolling mode.
pub(crate) const VERSIONS: usize = rolled::VERSIONS;

/// Scans `range` in every version of `jobs` (the versions of one header)
/// with `kernel` and pushes candidates; the CPU must pass [`available`].
/// Without AVX (the SSE kernel) each version is scanned on its own, with no
/// schedule shared.
pub(crate) fn scan_rolled_with(
    kernel: RolledKernel,
    jobs: &[Job],
    range: std::ops::Range<u64>,
    candidates: &mut Vec<RolledCandidate>,
) {
    assert!(
        available(),
        "sha-ni engine used on a CPU without SHA/SSE4.1"
    );
    if is_x86_feature_detected!("avx") {
        match kernel {
            RolledKernel::OneNonce => rolled::scan(jobs, range, candidates),
            RolledKernel::TwoNonces => rolled2::scan(jobs, range, candidates),
        }
    } else {
        let mut nonces = Vec::new();
        for (version, job) in jobs.iter().enumerate() {
            nonces.clear();
            sse::scan(job, range.clone(), &mut nonces);
            candidates.extend(nonces.iter().map(|&nonce| RolledCandidate {
                version: version as u32,
                nonce,
            }));
        }
    }
}

/// The legacy-SSE kernel's batch.
#[cfg(test)]
pub(crate) const SSE_LANES: usize = sse::LANES;

/// The legacy-SSE kernel, whatever the CPU has (for its tests).
#[cfg(test)]
pub(crate) fn scan_sse(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    assert!(available());
    sse::scan(job, range, candidates)
}

/// Pushes the nonces among `first..first + words.len()` (wrapping) that are
/// inside `range` and whose final digest word 7 (`words`, as computed) is
/// within `bound` once byte-swapped.
#[inline(always)]
fn push_candidates(
    first: u64,
    words: &[u32],
    range: &std::ops::Range<u64>,
    bound: u32,
    candidates: &mut Vec<u32>,
) {
    for (lane, w7) in words.iter().enumerate() {
        let nonce = first + lane as u64;
        if nonce < range.end && w7.swap_bytes() <= bound {
            candidates.push(nonce as u32);
        }
    }
}

/// A state in `sha256rnds2` layout: `abef = [F, E, B, A]`, `cdgh = [H, G, D, C]` (lane 0 first).
#[derive(Clone, Copy)]
#[repr(C)]
struct State {
    abef: __m128i,
    cdgh: __m128i,
}

/// `K + W` for one constant group of four rounds: `lo` for the first
/// `sha256rnds2`, `hi` (the upper two words, moved down) for the second.
#[derive(Clone, Copy)]
#[repr(C)]
struct Kw {
    lo: __m128i,
    hi: __m128i,
}

/// Per-job constants in the instructions' layout.
#[repr(C)]
struct Consts {
    /// Header chunk: state after rounds 0..2.
    s2: State,
    /// `K2 + W2`, the low word of rounds 2..3's `K + W` (the nonce is `W3`).
    kw2: u32,
    /// `K + W` for rounds 4..16 (no nonce in them).
    kw: [Kw; 3],
    /// Words 16 and 17 of the header chunk's schedule (nonce-free), and the
    /// constant parts of words 18 and 19.
    w16_17: __m128i,
    c18: u32,
    c19: u32,
    /// Header chunk group 5's `msg2` input, and the constant `msg1` results
    /// of groups 6 and 7.
    x5: __m128i,
    m6: __m128i,
    m7: __m128i,
    midstate: State,
    /// The second hash: initial state, its constant message groups 2 and 3,
    /// their `K + W`, and group 6's constant `msg1` result.
    iv: State,
    d2: __m128i,
    d3: __m128i,
    dkw: [Kw; 2],
    dm6: __m128i,
}

#[inline(always)]
fn pack(s: &[u32; 8]) -> State {
    State {
        abef: words([s[5], s[4], s[1], s[0]]),
        cdgh: words([s[7], s[6], s[3], s[2]]),
    }
}

/// Four message words, `w[0]` in lane 0.
#[inline(always)]
fn words(w: [u32; 4]) -> __m128i {
    // SAFETY: SSE2 is part of x86-64; the conversion only reinterprets bytes.
    unsafe { std::mem::transmute::<[u32; 4], __m128i>(w) }
}

/// The round constants by group of four rounds, aligned for the kernels'
/// memory operands.
#[repr(C, align(16))]
struct KGroups([[u32; 4]; 16]);

static K_GROUPS: KGroups = {
    let mut t = [[0u32; 4]; 16];
    let mut j = 0;
    while j < 16 {
        t[j] = [K[4 * j], K[4 * j + 1], K[4 * j + 2], K[4 * j + 3]];
        j += 1;
    }
    KGroups(t)
};

/// The round constants of group `j` (rounds `4j..4j + 4`).
#[inline(always)]
fn kv(j: usize) -> __m128i {
    words(K_GROUPS.0[j])
}

/// `K + W` for group `j` of constant message words `w`.
fn const_kw(j: usize, w: [u32; 4]) -> Kw {
    let kw: [u32; 4] = std::array::from_fn(|i| K[4 * j + i].wrapping_add(w[i]));
    Kw {
        lo: words(kw),
        hi: words([kw[2], kw[3], 0, 0]),
    }
}

/// `sha256msg1` of constant groups, in scalar: `w[t-16] + sigma0(w[t-15])`.
fn msg1_const(g4: [u32; 4], g3: [u32; 4]) -> [u32; 4] {
    let w = [g4[0], g4[1], g4[2], g4[3], g3[0]];
    std::array::from_fn(|i| w[i].wrapping_add(small_sigma0(w[i + 1])))
}

impl Consts {
    fn new(job: &Job) -> Self {
        let mut s2 = job.midstate;
        sha256::round(&mut s2, K[0].wrapping_add(job.tail[0]));
        sha256::round(&mut s2, K[1].wrapping_add(job.tail[1]));
        let g1 = [PAD, 0, 0, 0];
        let g2 = [0; 4];
        let g3 = [0, 0, 0, HEADER_BITS];
        let d2 = [PAD, 0, 0, 0];
        let d3 = [0, 0, 0, DIGEST_BITS];
        // Group 5: msg1(g1, g2) + alignr(g4, g3), where g4's word 16 is nonce-free.
        let m5 = msg1_const(g1, g2);
        let a5 = [g3[1], g3[2], g3[3], job.w16];
        Consts {
            s2: pack(&s2),
            kw2: K[2].wrapping_add(job.tail[2]),
            kw: [const_kw(1, g1), const_kw(2, g2), const_kw(3, g3)],
            w16_17: words([job.w16, job.w17, 0, 0]),
            c18: job.c18,
            c19: job.c19,
            x5: words(std::array::from_fn(|i| m5[i].wrapping_add(a5[i]))),
            m6: words(msg1_const(g2, g3)),
            m7: words(msg1_const(g3, [job.w16, 0, 0, 0])),
            midstate: pack(&job.midstate),
            iv: pack(&IV),
            d2: words(d2),
            d3: words(d3),
            dkw: [const_kw(2, d2), const_kw(3, d3)],
            dm6: words(msg1_const(d2, d3)),
        }
    }

    /// `K + W` for rounds 2..3 of `nonce` (the big-endian `W3`), in the low
    /// 64 bits as `sha256rnds2` reads them.
    #[inline(always)]
    fn kw23(&self, nonce_be: u32) -> u64 {
        (u64::from(K[3].wrapping_add(nonce_be)) << 32) | u64::from(self.kw2)
    }

    /// Header chunk message group 4 (words 16..=19) of `nonce_be`: the nonce
    /// first reaches words 18 and 19.
    #[inline(always)]
    fn g4_high(&self, nonce_be: u32) -> u64 {
        let w18 = small_sigma0(nonce_be).wrapping_add(self.c18);
        let w19 = nonce_be.wrapping_add(self.c19);
        (u64::from(w19) << 32) | u64::from(w18)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::portable;
    use crate::target::ShareTarget;

    /// Both kernels against the portable engine on one job, at a difficulty
    /// where about half the nonces are candidates.
    #[test]
    fn both_kernels_match_portable() {
        if !available() {
            return;
        }
        let header: [u8; 80] = std::array::from_fn(|i| (i as u8).wrapping_mul(53).wrapping_add(1));
        let job = Job::new(
            header,
            ShareTarget::from_difficulty(2f64.powi(-31)).unwrap(),
        );
        for range in [0..1000, u64::from(u32::MAX) - 37..1 << 32, 5..6, 7..7] {
            let mut expected = Vec::new();
            portable::scan(&job, range.clone(), &mut expected);
            let mut sse = Vec::new();
            scan_sse(&job, range.clone(), &mut sse);
            assert_eq!(sse, expected, "sse kernel on {range:?}");
            if is_x86_feature_detected!("avx") {
                let mut inter = Vec::new();
                interleaved::scan(&job, range.clone(), &mut inter);
                assert_eq!(inter, expected, "interleaved kernel on {range:?}");
            }
        }
    }
}
