//! The SHA kernel for CPUs with AVX: [`LANES`] nonces interleaved group by
//! group, with as few vector instructions per group as the SHA instructions
//! allow.
//!
//! The vector side of a core, not the SHA unit, is the bound on AMD Zen
//! (about three vector instructions issue per cycle), so each group of four
//! rounds and four schedule words costs nine: `palignr`, `paddd`, `msg2`,
//! `msg1` and its store, the `K` add, two `rnds2` and the `pshufd` between
//! them. To get there each lane keeps its state and its last two message
//! groups in registers (three lanes fill the sixteen), and `msg1` runs two
//! groups early, on the group that is about to leave the registers, with its
//! result parked in memory until its group's `paddd` reads it.
//!
//! The instruction sequences are inline assembly (VEX-128 encodings plus
//! the legacy SHA instructions, never a `ymm` register): the compiler keeps
//! their order, and cannot trade the memory operands for register pressure.

use super::{kv, push_candidates, Consts, Kw, State, K_GROUPS};
use crate::engine::job::Job;
use crate::sha256::IV;
use seq_macro::seq;
use std::arch::asm;
use std::arch::x86_64::*;

/// Nonces per batch: three lanes' state and message registers fill the
/// sixteen vector registers with `xmm0` and two temporaries.
pub(super) const LANES: usize = 3;

/// Scans `range` and pushes candidate nonces; the CPU must have SHA, SSE4.1,
/// SSSE3 and AVX (the caller checks).
pub(super) fn scan(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    // SAFETY: the caller checked SHA, SSE4.1, SSSE3 and AVX.
    unsafe { scan_vex(job, range, candidates) }
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1,avx")]
fn scan_vex(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    let c = Consts::new(job);
    let bound = job.target().top_word();
    let mut parked = Parked([[_mm_setzero_si128(); 16]; LANES]);
    let mut start = range.start;
    while start < range.end {
        // The compiler's own code (this function's prologue, say) may use
        // `ymm` registers where AVX is enabled: clean the upper state before
        // every batch of legacy SHA instructions.
        // SAFETY: this function runs only where AVX exists. `vzeroupper`
        // changes the upper halves of ymm0..15, so all of them are declared
        // clobbered and the compiler keeps nothing in them across it.
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
        let word7 = unsafe { batch(&c, &mut parked, start as u32) };
        push_candidates(start, &word7, &range, bound, candidates);
        start += LANES as u64;
    }
}

/// `msg1` results per lane, by the group whose schedule word they start.
#[repr(C, align(16))]
pub(super) struct Parked(pub(super) [[__m128i; 16]; LANES]);

/// One lane in flight: its state and its two newest message groups.
#[derive(Clone, Copy)]
pub(super) struct Lane {
    pub(super) s: State,
    /// Group `j - 1` and group `j - 2` when group `j` is next.
    pub(super) g1: __m128i,
    pub(super) g2: __m128i,
}

// Every `asm!` below uses only VEX-128 and legacy SHA instructions, so the
// upper vector state stays clean, and touches only the constants and parked
// results whose pointers it is given; all of those are 16-byte aligned, as
// the legacy-encoded memory operands need.

/// Four rounds with message group `g` and round constants `k`.
#[inline(always)]
unsafe fn rounds_reg(s: &mut State, g: __m128i, k: &[u32; 4]) {
    // SAFETY: see above.
    unsafe {
        asm!(
            "vpaddd xmm0, {g}, xmmword ptr [{k}]",
            "sha256rnds2 {cdgh}, {abef}, xmm0",
            "vpshufd xmm0, xmm0, 0x0e",
            "sha256rnds2 {abef}, {cdgh}, xmm0",
            g = in(xmm_reg) g,
            k = in(reg) k,
            abef = inout(xmm_reg) s.abef,
            cdgh = inout(xmm_reg) s.cdgh,
            out("xmm0") _,
            options(readonly, nostack, preserves_flags),
        );
    }
}

/// Four rounds with a constant `K + W`.
#[inline(always)]
unsafe fn rounds_const(s: &mut State, kw: &Kw) {
    // SAFETY: see above.
    unsafe {
        asm!(
            "vmovdqa xmm0, xmmword ptr [{kw}]",
            "sha256rnds2 {cdgh}, {abef}, xmm0",
            "vmovdqa xmm0, xmmword ptr [{kw} + 16]",
            "sha256rnds2 {abef}, {cdgh}, xmm0",
            kw = in(reg) kw,
            abef = inout(xmm_reg) s.abef,
            cdgh = inout(xmm_reg) s.cdgh,
            out("xmm0") _,
            options(readonly, nostack, preserves_flags),
        );
    }
}

/// Defines a step: message group `j = msg2(m + alignr(g1, g2), g1)` with
/// `m` (its `msg1` result) read from `m_in`, then its four rounds, moving the
/// lane on; `$park` instructions go between the two `rnds2`.
macro_rules! schedule_step {
    ($(#[$doc:meta])* $name:ident($l:ident $(, $arg:ident: $ty:ty)*), [$($park:literal),*], [$($operand:tt)*]) => {
        $(#[$doc])*
        #[inline(always)]
        unsafe fn $name($l: &mut Lane, m_in: *const __m128i, $($arg: $ty,)* k: &[u32; 4]) {
            let g: __m128i;
            // SAFETY: see above.
            unsafe {
                asm!(
                    "vpalignr {g}, {g1}, {g2}, 4",
                    "vpaddd {g}, {g}, xmmword ptr [{m_in}]",
                    "sha256msg2 {g}, {g1}",
                    "vpaddd xmm0, {g}, xmmword ptr [{k}]",
                    "sha256rnds2 {cdgh}, {abef}, xmm0",
                    $($park,)*
                    "vpshufd xmm0, xmm0, 0x0e",
                    "sha256rnds2 {abef}, {cdgh}, xmm0",
                    g = out(xmm_reg) g,
                    g1 = in(xmm_reg) $l.g1,
                    m_in = in(reg) m_in,
                    k = in(reg) k,
                    abef = inout(xmm_reg) $l.s.abef,
                    cdgh = inout(xmm_reg) $l.s.cdgh,
                    out("xmm0") _,
                    $($operand)*
                );
            }
            $l.g2 = $l.g1;
            $l.g1 = g;
        }
    };
}

schedule_step!(
    /// The general step; parks `msg1(g2, g1)` (group `j + 2`'s) at `m_out`.
    step(l, m_out: *mut __m128i),
    ["sha256msg1 {g2}, {g1}", "vmovdqa xmmword ptr [{m_out}], {g2}"],
    [g2 = inout(xmm_reg) l.g2 => _, m_out = in(reg) m_out, options(nostack, preserves_flags)]
);

schedule_step!(
    /// The step for the last groups, whose `msg1` results nothing reads.
    step_last(l),
    [],
    [g2 = in(xmm_reg) l.g2, options(readonly, nostack, preserves_flags)]
);

/// Message group `msg2(x, g1)` for a constant `msg2` input `x`, then its
/// rounds (the header chunk's group 5).
#[inline(always)]
unsafe fn step_given_x(l: &mut Lane, x: &__m128i, k: &[u32; 4]) {
    let g: __m128i;
    // SAFETY: see above.
    unsafe {
        asm!(
            "vmovdqa {g}, xmmword ptr [{x}]",
            "sha256msg2 {g}, {g1}",
            g = out(xmm_reg) g,
            g1 = in(xmm_reg) l.g1,
            x = in(reg) x,
            options(readonly, nostack, preserves_flags),
        );
        rounds_reg(&mut l.s, g, k);
    }
    l.g2 = l.g1;
    l.g1 = g;
}

/// The second hash's group 4, `msg2(msg1(g0, g1), d3)` (its `alignr` term is
/// padding, zero), then its rounds; `g2`, `g1` hold digest groups 0 and 1.
#[inline(always)]
unsafe fn digest_step4(l: &mut Lane, d3: &__m128i, k: &[u32; 4]) {
    let g: __m128i;
    // SAFETY: see above.
    unsafe {
        asm!(
            "sha256msg1 {g}, {g1}",
            "vmovdqa {t}, xmmword ptr [{d3}]",
            "sha256msg2 {g}, {t}",
            g = inout(xmm_reg) l.g2 => g,
            g1 = in(xmm_reg) l.g1,
            d3 = in(reg) d3,
            t = out(xmm_reg) _,
            options(readonly, nostack, preserves_flags),
        );
        rounds_reg(&mut l.s, g, k);
    }
    // `g2` keeps digest group 1 for group 5's `msg1`.
    l.g2 = l.g1;
    l.g1 = g;
}

/// The second hash's group 5, `msg2(msg1(g1, d2) + alignr(g4, d3), g4)`,
/// then its rounds; parks group 7's `msg1(d3, g4)` at `m_out`.
#[inline(always)]
unsafe fn digest_step5(l: &mut Lane, c: &Consts, m_out: *mut __m128i, k: &[u32; 4]) {
    let g: __m128i;
    // SAFETY: see above.
    unsafe {
        asm!(
            "sha256msg1 {g}, xmmword ptr [{d2}]",
            "vpalignr {t}, {g4}, xmmword ptr [{d3}], 4",
            "vpaddd {g}, {g}, {t}",
            "sha256msg2 {g}, {g4}",
            "vmovdqa {t}, xmmword ptr [{d3}]",
            "sha256msg1 {t}, {g4}",
            "vmovdqa xmmword ptr [{m_out}], {t}",
            g = inout(xmm_reg) l.g2 => g,
            g4 = in(xmm_reg) l.g1,
            d2 = in(reg) &c.d2,
            d3 = in(reg) &c.d3,
            m_out = in(reg) m_out,
            t = out(xmm_reg) _,
            options(nostack, preserves_flags),
        );
        rounds_reg(&mut l.s, g, k);
    }
    l.g2 = l.g1;
    l.g1 = g;
}

/// Digest word 7 of the double hash for nonces `first..first + LANES` (wrapping).
// `seq!` expands group indices to literals, so `J - 0` and friends appear.
#[allow(clippy::identity_op)]
#[inline(always)]
unsafe fn batch(c: &Consts, parked: &mut Parked, first: u32) -> [u32; LANES] {
    let kt = &K_GROUPS.0;
    // SAFETY: an SSE2 register constant; SSE2 is part of x86_64 and of the callers' features.
    let zero = unsafe { _mm_setzero_si128() };
    let mut lanes = [Lane {
        s: c.s2,
        g1: zero,
        g2: zero,
    }; LANES];
    // SAFETY: the callers' target features are those every step needs, and
    // every pointer is into `c`, `parked` or `K_GROUPS`.
    unsafe {
        // Header chunk, rounds 2..3: afterwards the two halves have traded places.
        for (i, l) in lanes.iter_mut().enumerate() {
            let n = first.wrapping_add(i as u32).swap_bytes();
            let kw = _mm_cvtsi64_si128(c.kw23(n) as i64);
            let abef = _mm_sha256rnds2_epu32(l.s.cdgh, l.s.abef, kw);
            l.s = State {
                abef,
                cdgh: l.s.abef,
            };
        }
        for kw in &c.kw {
            for l in lanes.iter_mut() {
                rounds_const(&mut l.s, kw);
            }
        }
        // Group 4 is nonce-free but for words 18 and 19, made in scalar registers.
        for (i, l) in lanes.iter_mut().enumerate() {
            let n = first.wrapping_add(i as u32).swap_bytes();
            let g4 = _mm_insert_epi64::<1>(c.w16_17, c.g4_high(n) as i64);
            rounds_reg(&mut l.s, g4, &kt[4]);
            l.g1 = g4;
        }
        for l in lanes.iter_mut() {
            step_given_x(l, &c.x5, &kt[5]);
        }
        for (i, l) in lanes.iter_mut().enumerate() {
            step(l, &c.m6, &mut parked.0[i][8], &kt[6]);
        }
        for (i, l) in lanes.iter_mut().enumerate() {
            step(l, &c.m7, &mut parked.0[i][9], &kt[7]);
        }
        seq!(J in 8..14 {
            for (i, l) in lanes.iter_mut().enumerate() {
                let p = &mut parked.0[i];
                step(l, &p[J], &mut p[J + 2], &kt[J]);
            }
        });
        seq!(J in 14..16 {
            for (i, l) in lanes.iter_mut().enumerate() {
                step_last(l, &parked.0[i][J], &kt[J]);
            }
        });

        second_hash(c, [&c.midstate; LANES], parked, &mut lanes)
    }
}

/// The second hash, over the digests of `lanes` (their first-hash states
/// plus `midstates`): digest word 7 of each lane's double hash.
// `seq!` expands group indices to literals, so `J - 0` and friends appear.
#[allow(clippy::identity_op)]
#[inline(always)]
pub(super) unsafe fn second_hash(
    c: &Consts,
    midstates: [&State; LANES],
    parked: &mut Parked,
    lanes: &mut [Lane; LANES],
) -> [u32; LANES] {
    let kt = &K_GROUPS.0;
    // SAFETY: the callers' target features are those every step needs, and
    // every pointer is into `c`, `parked` or `K_GROUPS`.
    unsafe {
        for (l, mid) in lanes.iter_mut().zip(midstates) {
            let abef = _mm_add_epi32(l.s.abef, mid.abef);
            let cdgh = _mm_add_epi32(l.s.cdgh, mid.cdgh);
            let abef_r = _mm_shuffle_epi32::<0x1b>(abef); // [A, B, E, F]
            let cdgh_r = _mm_shuffle_epi32::<0xb1>(cdgh); // [G, H, C, D]
            l.g2 = _mm_blend_epi16::<0xf0>(abef_r, cdgh_r); // [A, B, C, D]
            l.g1 = _mm_alignr_epi8::<8>(cdgh_r, abef_r); // [E, F, G, H]
            l.s = c.iv;
        }
        for l in lanes.iter_mut() {
            rounds_reg(&mut l.s, l.g2, &kt[0]);
        }
        for l in lanes.iter_mut() {
            rounds_reg(&mut l.s, l.g1, &kt[1]);
        }
        for kw in &c.dkw {
            for l in lanes.iter_mut() {
                rounds_const(&mut l.s, kw);
            }
        }
        for l in lanes.iter_mut() {
            digest_step4(l, &c.d3, &kt[4]);
        }
        for (i, l) in lanes.iter_mut().enumerate() {
            digest_step5(l, c, &mut parked.0[i][7], &kt[5]);
        }
        for (i, l) in lanes.iter_mut().enumerate() {
            step(l, &c.dm6, &mut parked.0[i][8], &kt[6]);
        }
        seq!(J in 7..14 {
            for (i, l) in lanes.iter_mut().enumerate() {
                let p = &mut parked.0[i];
                step(l, &p[J], &mut p[J + 2], &kt[J]);
            }
        });
        for (i, l) in lanes.iter_mut().enumerate() {
            step_last(l, &parked.0[i][14], &kt[14]);
        }
        let mut out = [0u32; LANES];
        for (i, l) in lanes.iter_mut().enumerate() {
            // Group 15's words 60..61 and its first two rounds: the new
            // ABEF's F lane is `e` after round 60, the final `h`.
            let g15 = _mm_sha256msg2_epu32(
                _mm_add_epi32(
                    _mm_alignr_epi8::<4>(l.g1, l.g2),
                    std::ptr::read(&parked.0[i][15]),
                ),
                l.g1,
            );
            let kw = _mm_add_epi32(g15, kv(15));
            let abef = _mm_sha256rnds2_epu32(l.s.cdgh, l.s.abef, kw);
            out[i] = (_mm_cvtsi128_si32(abef) as u32).wrapping_add(IV[7]);
        }
        out
    }
}
