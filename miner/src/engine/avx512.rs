//! The 16-lane AVX-512 engine: one nonce per 32-bit lane of a `zmm` register,
//! with native rotates and three-input logic (`vprord`, `vpternlogd`), two
//! batches interleaved (32 nonces per pass).

use super::job::Job;
use super::lanes::{Lanes, Pair};
use super::rolled::RolledCandidate;
use std::arch::x86_64::*;

/// Whether this CPU can run the engine.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
}

/// Scans `range` and pushes candidate nonces; the CPU must pass [`available`].
pub(crate) fn scan(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    assert!(
        available(),
        "avx512 engine used on a CPU without AVX-512F/BW"
    );
    // SAFETY: the CPU supports AVX-512F and AVX-512BW (checked just above).
    unsafe { scan_avx512(job, range, candidates) }
}

/// Scans `range` in every version of `jobs`, one schedule per nonce batch
/// for all of them; the CPU must pass [`available`].
pub(crate) fn scan_rolled(
    jobs: &[Job],
    range: std::ops::Range<u64>,
    candidates: &mut Vec<RolledCandidate>,
) {
    assert!(
        available(),
        "avx512 engine used on a CPU without AVX-512F/BW"
    );
    // SAFETY: the CPU supports AVX-512F/BW (checked just above).
    unsafe { scan_rolled_avx512(jobs, range, candidates) }
}

#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn scan_rolled_avx512(
    jobs: &[Job],
    range: std::ops::Range<u64>,
    candidates: &mut Vec<RolledCandidate>,
) {
    super::kernel::scan_rolled::<Pair<Zmm>>(jobs, range, candidates)
}

#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn scan_avx512(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    super::kernel::scan::<Pair<Zmm>>(job, range, candidates)
}

#[derive(Clone, Copy)]
struct Zmm(__m512i);

// SAFETY (whole impl): `Zmm` values are only created inside `scan_avx512`,
// which runs after `available()` confirmed AVX-512F/BW; the intrinsics below
// need no other precondition (no memory is touched through raw pointers).
impl Lanes for Zmm {
    const LANES: usize = 16;

    #[inline(always)]
    fn splat(x: u32) -> Self {
        // SAFETY: see the impl comment.
        Zmm(unsafe { _mm512_set1_epi32(x as i32) })
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        Zmm(unsafe { _mm512_add_epi32(self.0, o.0) })
    }
    #[inline(always)]
    fn xor3(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: see the impl comment.
        Zmm(unsafe { _mm512_ternarylogic_epi32::<0x96>(a.0, b.0, c.0) })
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        // SAFETY: see the impl comment.
        Zmm(unsafe { _mm512_ternarylogic_epi32::<0xca>(e.0, f.0, g.0) })
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: see the impl comment.
        Zmm(unsafe { _mm512_ternarylogic_epi32::<0xe8>(a.0, b.0, c.0) })
    }
    #[inline(always)]
    fn big_sigma0(self) -> Self {
        // SAFETY: see the impl comment.
        let (a, b, c) = unsafe {
            (
                _mm512_ror_epi32::<2>(self.0),
                _mm512_ror_epi32::<13>(self.0),
                _mm512_ror_epi32::<22>(self.0),
            )
        };
        Self::xor3(Zmm(a), Zmm(b), Zmm(c))
    }
    #[inline(always)]
    fn big_sigma1(self) -> Self {
        // SAFETY: see the impl comment.
        let (a, b, c) = unsafe {
            (
                _mm512_ror_epi32::<6>(self.0),
                _mm512_ror_epi32::<11>(self.0),
                _mm512_ror_epi32::<25>(self.0),
            )
        };
        Self::xor3(Zmm(a), Zmm(b), Zmm(c))
    }
    #[inline(always)]
    fn small_sigma0(self) -> Self {
        // SAFETY: see the impl comment.
        let (a, b, c) = unsafe {
            (
                _mm512_ror_epi32::<7>(self.0),
                _mm512_ror_epi32::<18>(self.0),
                _mm512_srli_epi32::<3>(self.0),
            )
        };
        Self::xor3(Zmm(a), Zmm(b), Zmm(c))
    }
    #[inline(always)]
    fn small_sigma1(self) -> Self {
        // SAFETY: see the impl comment.
        let (a, b, c) = unsafe {
            (
                _mm512_ror_epi32::<17>(self.0),
                _mm512_ror_epi32::<19>(self.0),
                _mm512_srli_epi32::<10>(self.0),
            )
        };
        Self::xor3(Zmm(a), Zmm(b), Zmm(c))
    }
    #[inline(always)]
    fn swap_bytes(self) -> Self {
        // SAFETY: see the impl comment.
        Zmm(unsafe {
            let order = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
            _mm512_shuffle_epi8(self.0, order)
        })
    }
    #[inline(always)]
    fn consecutive(first: u32) -> Self {
        // SAFETY: see the impl comment.
        Zmm(unsafe {
            let steps = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            _mm512_add_epi32(_mm512_set1_epi32(first as i32), steps)
        })
    }
    #[inline(always)]
    fn le_mask(self, bound: u32) -> u32 {
        // SAFETY: see the impl comment.
        u32::from(unsafe { _mm512_cmple_epu32_mask(self.0, _mm512_set1_epi32(bound as i32)) })
    }
}
