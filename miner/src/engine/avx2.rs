//! The 8-lane AVX2 engine: one nonce per 32-bit lane of a `ymm` register.
//! AVX2 has no vector rotate or three-input logic, so rotates are two shifts
//! and an `or`, and `Ch`/`Maj` use their three-operation forms.

use super::job::Job;
use super::lanes::Lanes;
use super::rolled::RolledCandidate;
use std::arch::x86_64::*;

/// Whether this CPU can run the engine.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Scans `range` and pushes candidate nonces; the CPU must pass [`available`].
pub(crate) fn scan(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    assert!(available(), "avx2 engine used on a CPU without AVX2");
    // SAFETY: the CPU supports AVX2 (checked just above).
    unsafe { scan_avx2(job, range, candidates) }
}

/// Scans `range` in every version of `jobs`, one schedule per nonce batch
/// for all of them; the CPU must pass [`available`].
pub(crate) fn scan_rolled(
    jobs: &[Job],
    range: std::ops::Range<u64>,
    candidates: &mut Vec<RolledCandidate>,
) {
    assert!(available(), "avx2 engine used on a CPU without AVX2");
    // SAFETY: the CPU supports AVX2 (checked just above).
    unsafe { scan_rolled_avx2(jobs, range, candidates) }
}

#[target_feature(enable = "avx2")]
unsafe fn scan_rolled_avx2(
    jobs: &[Job],
    range: std::ops::Range<u64>,
    candidates: &mut Vec<RolledCandidate>,
) {
    super::kernel::scan_rolled::<Ymm>(jobs, range, candidates)
}

#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    super::kernel::scan::<Ymm>(job, range, candidates)
}

#[derive(Clone, Copy)]
struct Ymm(__m256i);

/// `x` rotated right by `R` bits (`L` must be `32 - R`).
macro_rules! rotr {
    ($x:expr, $r:literal, $l:literal) => {
        _mm256_or_si256(_mm256_srli_epi32::<$r>($x), _mm256_slli_epi32::<$l>($x))
    };
}

#[inline(always)]
fn xor(a: __m256i, b: __m256i) -> __m256i {
    // SAFETY: only reached from `scan_avx2`, after AVX2 was detected.
    unsafe { _mm256_xor_si256(a, b) }
}

// SAFETY (whole impl): `Ymm` values are only created inside `scan_avx2`, which
// runs after `available()` confirmed AVX2; the intrinsics below touch no memory.
impl Lanes for Ymm {
    const LANES: usize = 8;

    #[inline(always)]
    fn splat(x: u32) -> Self {
        // SAFETY: see the impl comment.
        Ymm(unsafe { _mm256_set1_epi32(x as i32) })
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        Ymm(unsafe { _mm256_add_epi32(self.0, o.0) })
    }
    #[inline(always)]
    fn xor3(a: Self, b: Self, c: Self) -> Self {
        Ymm(xor(xor(a.0, b.0), c.0))
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        // g ^ (e & (f ^ g))
        // SAFETY: see the impl comment.
        Ymm(xor(g.0, unsafe { _mm256_and_si256(e.0, xor(f.0, g.0)) }))
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        // b ^ ((a ^ b) & (b ^ c))
        // SAFETY: see the impl comment.
        Ymm(xor(b.0, unsafe {
            _mm256_and_si256(xor(a.0, b.0), xor(b.0, c.0))
        }))
    }
    #[inline(always)]
    fn big_sigma0(self) -> Self {
        // SAFETY: see the impl comment.
        let (a, b, c) = unsafe {
            (
                rotr!(self.0, 2, 30),
                rotr!(self.0, 13, 19),
                rotr!(self.0, 22, 10),
            )
        };
        Ymm(xor(xor(a, b), c))
    }
    #[inline(always)]
    fn big_sigma1(self) -> Self {
        // SAFETY: see the impl comment.
        let (a, b, c) = unsafe {
            (
                rotr!(self.0, 6, 26),
                rotr!(self.0, 11, 21),
                rotr!(self.0, 25, 7),
            )
        };
        Ymm(xor(xor(a, b), c))
    }
    #[inline(always)]
    fn small_sigma0(self) -> Self {
        // SAFETY: see the impl comment.
        let (a, b, c) = unsafe {
            (
                rotr!(self.0, 7, 25),
                rotr!(self.0, 18, 14),
                _mm256_srli_epi32::<3>(self.0),
            )
        };
        Ymm(xor(xor(a, b), c))
    }
    #[inline(always)]
    fn small_sigma1(self) -> Self {
        // SAFETY: see the impl comment.
        let (a, b, c) = unsafe {
            (
                rotr!(self.0, 17, 15),
                rotr!(self.0, 19, 13),
                _mm256_srli_epi32::<10>(self.0),
            )
        };
        Ymm(xor(xor(a, b), c))
    }
    #[inline(always)]
    fn swap_bytes(self) -> Self {
        // SAFETY: see the impl comment.
        Ymm(unsafe {
            let order = _mm256_setr_epi8(
                3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11,
                10, 9, 8, 15, 14, 13, 12,
            );
            _mm256_shuffle_epi8(self.0, order)
        })
    }
    #[inline(always)]
    fn consecutive(first: u32) -> Self {
        // SAFETY: see the impl comment.
        Ymm(unsafe {
            _mm256_add_epi32(
                _mm256_set1_epi32(first as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        })
    }
    #[inline(always)]
    fn le_mask(self, bound: u32) -> u32 {
        // x <= bound  <=>  max(x, bound) == bound
        // SAFETY: see the impl comment.
        unsafe {
            let b = _mm256_set1_epi32(bound as i32);
            let le = _mm256_cmpeq_epi32(_mm256_max_epu32(self.0, b), b);
            _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
        }
    }
}
