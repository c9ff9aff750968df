//! The SHA kernel's version-rolling mode with six chains in the first
//! compression: [`NONCES`] nonces in [`VERSIONS`] versions per batch.
//!
//! Each nonce's header-chunk schedule is made once, ahead of the rounds,
//! and stored as `K + W`. The rounds of the six (nonce, version) states then
//! run group by group in one `asm!` block per group with all twelve state
//! registers pinned: per half of a group, a load into `xmm0` (`movdqa` for
//! the low pair, `movq` from 8 bytes in for the high one) and three `rnds2`
//! per nonce, six independent chains against three in [`super::rolled`].
//! The second hashes run as there, three lanes per nonce.
//!
//! Per hash: 62 `rnds2` and 11/3 + 12 `msg2`, as in [`super::rolled`]; the
//! first compression's vector work per nonce is the schedule's 12 groups
//! (their `msg2`, `msg1`, `palignr`, adds and stores) plus, per version, 31
//! `rnds2` and the loads into `xmm0` (two per group for three versions).

use super::interleaved::{second_hash, Lane, Parked, LANES};
use super::{kv, Consts, State};
use crate::engine::job::Job;
use crate::engine::rolled::RolledCandidate;
use seq_macro::seq;
use std::arch::asm;
use std::arch::x86_64::*;

/// Versions per batch: the second hashes' three lanes.
pub(super) const VERSIONS: usize = LANES;

/// Nonces per batch.
pub(super) const NONCES: usize = 2;

/// One nonce's header-chunk `K + W` by group of four rounds: `[0]` holds
/// rounds 2..3's in its low half, `[j]` group `j`'s. The second `rnds2` of a
/// group reads its high half with a `movq` from 8 bytes in.
#[repr(C, align(16))]
struct Kws([[__m128i; 16]; NONCES]);

/// Scans `range` in every version of `jobs`; the CPU must have SHA, SSE4.1,
/// SSSE3 and AVX (the caller checks). Versions left over from whole sets of
/// [`VERSIONS`] go through the nonce-only kernel.
pub(super) fn scan(
    jobs: &[Job],
    range: std::ops::Range<u64>,
    candidates: &mut Vec<RolledCandidate>,
) {
    // SAFETY: the caller checked SHA, SSE4.1, SSSE3 and AVX.
    unsafe { scan_vex(jobs, range, candidates) }
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1,avx")]
fn scan_vex(jobs: &[Job], range: std::ops::Range<u64>, candidates: &mut Vec<RolledCandidate>) {
    let Some(first) = jobs.first() else { return };
    let bound = first.target().top_word();
    let mut parked = Parked([[_mm_setzero_si128(); 16]; LANES]);
    let mut kws = Kws([[_mm_setzero_si128(); 16]; NONCES]);
    let mut nonces = Vec::new();
    for (set, group) in jobs.chunks(VERSIONS).enumerate() {
        let base = (set * VERSIONS) as u32;
        let Ok(group) = <&[Job; VERSIONS]>::try_from(group) else {
            for (i, job) in group.iter().enumerate() {
                nonces.clear();
                super::interleaved::scan(job, range.clone(), &mut nonces);
                candidates.extend(nonces.iter().map(|&nonce| RolledCandidate {
                    version: base + i as u32,
                    nonce,
                }));
            }
            continue;
        };
        let consts: [Consts; VERSIONS] = std::array::from_fn(|i| Consts::new(&group[i]));
        // Rounds 4..15's `K + W` are constant, the same in every version.
        for kw in kws.0.iter_mut() {
            for (g, c) in consts[0].kw.iter().enumerate() {
                kw[g + 1] = c.lo;
            }
        }
        let mut start = range.start;
        while start < range.end {
            // SAFETY: this function runs only where AVX exists; as in the
            // nonce-only kernel, every ymm register is declared clobbered.
            unsafe {
                asm!(
                    "vzeroupper",
                    out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                    out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                    out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                    out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                    options(nomem, nostack, preserves_flags),
                )
            };
            // SAFETY: this function's target features are those `batch` needs.
            let word7 = unsafe { batch(&consts, &mut parked, &mut kws, start as u32) };
            for (n, words) in word7.iter().enumerate() {
                let nonce = start + n as u64;
                for (i, w7) in words.iter().enumerate() {
                    if nonce < range.end && w7.swap_bytes() <= bound {
                        candidates.push(RolledCandidate {
                            version: base + i as u32,
                            nonce: nonce as u32,
                        });
                    }
                }
            }
            start += NONCES as u64;
        }
    }
}

/// The header chunk's schedule of big-endian nonce `n` as `K + W`.
// `seq!` expands group indices to literals, so `J - 4` and friends appear.
#[allow(clippy::identity_op)]
#[inline(always)]
unsafe fn schedule(c: &Consts, n: u32, kw: &mut [__m128i; 16]) {
    // SAFETY: the callers' target features are those of every intrinsic.
    unsafe {
        kw[0] = _mm_cvtsi64_si128(c.kw23(n) as i64);
        let zero = _mm_setzero_si128();
        let mut w = [zero; 16];
        w[4] = _mm_insert_epi64::<1>(c.w16_17, c.g4_high(n) as i64);
        w[5] = _mm_sha256msg2_epu32(std::ptr::read(&c.x5), w[4]);
        let m6 = std::ptr::read(&c.m6);
        let m7 = std::ptr::read(&c.m7);
        seq!(J in 6..16 {
            let m = match J {
                6 => m6,
                7 => m7,
                _ => _mm_sha256msg1_epu32(w[(J - 4) & 15], w[(J - 3) & 15]),
            };
            let x = _mm_add_epi32(m, _mm_alignr_epi8::<4>(w[J - 1], w[J - 2]));
            w[J] = _mm_sha256msg2_epu32(x, w[J - 1]);
        });
        seq!(J in 4..16 {
            kw[J] = _mm_add_epi32(w[J], kv(J));
        });
    }
}

// Every `asm!` below uses only VEX-128 and legacy SHA instructions, so the
// upper vector state stays clean, and reads only the `K + W` halves whose
// pointers it is given, 16-byte aligned.

/// One half (two rounds) of all six states: `sha256rnds2 x, y` for each
/// state's register pair `(x, y)`, with nonce 0's `K + W` at `p0` and nonce
/// 1's at `p1`. Calling it with each pair swapped is the next half.
#[inline(always)]
unsafe fn half6(x: [&mut __m128i; 6], y: [&__m128i; 6], p0: *const __m128i, p1: *const __m128i) {
    let [x0, x1, x2, x3, x4, x5] = x;
    let [y0, y1, y2, y3, y4, y5] = y;
    // SAFETY: see above.
    unsafe {
        asm!(
            "vmovdqa xmm0, xmmword ptr [{p0}]",
            "sha256rnds2 {x0}, {y0}, xmm0",
            "sha256rnds2 {x1}, {y1}, xmm0",
            "sha256rnds2 {x2}, {y2}, xmm0",
            "vmovdqa xmm0, xmmword ptr [{p1}]",
            "sha256rnds2 {x3}, {y3}, xmm0",
            "sha256rnds2 {x4}, {y4}, xmm0",
            "sha256rnds2 {x5}, {y5}, xmm0",
            p0 = in(reg) p0,
            p1 = in(reg) p1,
            x0 = inout(xmm_reg) *x0, x1 = inout(xmm_reg) *x1, x2 = inout(xmm_reg) *x2,
            x3 = inout(xmm_reg) *x3, x4 = inout(xmm_reg) *x4, x5 = inout(xmm_reg) *x5,
            y0 = in(xmm_reg) *y0, y1 = in(xmm_reg) *y1, y2 = in(xmm_reg) *y2,
            y3 = in(xmm_reg) *y3, y4 = in(xmm_reg) *y4, y5 = in(xmm_reg) *y5,
            out("xmm0") _,
            options(readonly, nostack, preserves_flags),
        );
    }
}

/// A group (two halves) of all six states, from group `h` of `kws`: `a`
/// holds the states' ABEF and `c` their CDGH, before and after.
#[inline(always)]
unsafe fn group6(a: &mut [__m128i; 6], c: &mut [__m128i; 6], kws: &Kws, h: usize) {
    let [a0, a1, a2, a3, a4, a5] = a;
    let [c0, c1, c2, c3, c4, c5] = c;
    let (k0, k1) = (&kws.0[0], &kws.0[1]);
    // SAFETY: see above; the callers' target features are those it needs.
    unsafe {
        asm!(
            "vmovdqa xmm0, xmmword ptr [{p0}]",
            "sha256rnds2 {c0}, {a0}, xmm0",
            "sha256rnds2 {c1}, {a1}, xmm0",
            "sha256rnds2 {c2}, {a2}, xmm0",
            "vmovdqa xmm0, xmmword ptr [{p1}]",
            "sha256rnds2 {c3}, {a3}, xmm0",
            "sha256rnds2 {c4}, {a4}, xmm0",
            "sha256rnds2 {c5}, {a5}, xmm0",
            "vmovq xmm0, qword ptr [{p0} + 8]",
            "sha256rnds2 {a0}, {c0}, xmm0",
            "sha256rnds2 {a1}, {c1}, xmm0",
            "sha256rnds2 {a2}, {c2}, xmm0",
            "vmovq xmm0, qword ptr [{p1} + 8]",
            "sha256rnds2 {a3}, {c3}, xmm0",
            "sha256rnds2 {a4}, {c4}, xmm0",
            "sha256rnds2 {a5}, {c5}, xmm0",
            p0 = in(reg) &k0[h],
            p1 = in(reg) &k1[h],
            a0 = inout(xmm_reg) *a0, a1 = inout(xmm_reg) *a1, a2 = inout(xmm_reg) *a2,
            a3 = inout(xmm_reg) *a3, a4 = inout(xmm_reg) *a4, a5 = inout(xmm_reg) *a5,
            c0 = inout(xmm_reg) *c0, c1 = inout(xmm_reg) *c1, c2 = inout(xmm_reg) *c2,
            c3 = inout(xmm_reg) *c3, c4 = inout(xmm_reg) *c4, c5 = inout(xmm_reg) *c5,
            out("xmm0") _,
            options(readonly, nostack, preserves_flags),
        );
    }
}

/// Digest word 7 of the double hash of nonces `first` and `first + 1`
/// (wrapping) in each version of `cs`.
#[inline(always)]
unsafe fn batch(
    cs: &[Consts; VERSIONS],
    parked: &mut Parked,
    kws: &mut Kws,
    first: u32,
) -> [[u32; VERSIONS]; NONCES] {
    // The schedule depends only on the second chunk, the same in every
    // version's constants.
    let c = &cs[0];
    // SAFETY: the callers' target features are those every step needs, and
    // every pointer is into `cs`, `parked` or `kws`.
    unsafe {
        for (i, kw) in kws.0.iter_mut().enumerate() {
            schedule(c, first.wrapping_add(i as u32).swap_bytes(), kw);
        }
        // State `s` is nonce `s / 3` in version `s % 3`.
        let mut a: [__m128i; 6] = std::array::from_fn(|s| cs[s % VERSIONS].s2.abef);
        let mut d: [__m128i; 6] = std::array::from_fn(|s| cs[s % VERSIONS].s2.cdgh);
        // Rounds 2..3: afterwards `d` holds ABEF and `a` CDGH.
        {
            let [d0, d1, d2, d3, d4, d5] = &mut d;
            let [a0, a1, a2, a3, a4, a5] = &a;
            half6(
                [d0, d1, d2, d3, d4, d5],
                [a0, a1, a2, a3, a4, a5],
                &kws.0[0][0],
                &kws.0[1][0],
            );
        }
        seq!(G in 1..16 {
            group6(&mut d, &mut a, kws, G);
        });

        let zero = _mm_setzero_si128();
        let midstates: [&State; LANES] = std::array::from_fn(|i| &cs[i].midstate);
        let lane = |abef, cdgh| Lane {
            s: State { abef, cdgh },
            g1: zero,
            g2: zero,
        };
        let [d0, d1, d2, d3, d4, d5] = d;
        let [a0, a1, a2, a3, a4, a5] = a;
        let mut first = [lane(d0, a0), lane(d1, a1), lane(d2, a2)];
        let mut second = [lane(d3, a3), lane(d4, a4), lane(d5, a5)];
        [
            second_hash(c, midstates, parked, &mut first),
            second_hash(c, midstates, parked, &mut second),
        ]
    }
}
