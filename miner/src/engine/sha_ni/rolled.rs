//! The SHA kernel's version-rolling mode (CPUs with AVX): one nonce in
//! [`VERSIONS`] versions per batch, whose first compressions share one
//! message schedule.
//!
//! The schedule of the header chunk is the same for every version of a
//! nonce, so each group of it is made once (`palignr`, `paddd`, `msg2`,
//! `msg1` and its store, the `K` add, the `pshufd`) and feeds the six
//! `rnds2` of the three versions' states, which are the only per-version
//! registers: three chains of `rnds2` on 6 registers plus the schedule's 2.
//! The second hashes, whose messages differ, run as in [`super::interleaved`],
//! three lanes with their own schedules.
//!
//! Per hash the SHA pipe needs 62 `rnds2` plus 11/3 + 12 `msg2` (about 78
//! cycles), against 62 + 23 for the nonce-only kernel.

use super::interleaved::{second_hash, Lane, Parked, LANES};
use super::{Consts, Kw, State, K_GROUPS};
use crate::engine::job::Job;
use crate::engine::rolled::RolledCandidate;
use seq_macro::seq;
use std::arch::asm;
use std::arch::x86_64::*;

/// Versions per batch: the second hashes' three lanes.
pub(super) const VERSIONS: usize = LANES;

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
    let mut schedule = Schedule([_mm_setzero_si128(); 16]);
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
        for nonce in range.clone() {
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
            let word7 = unsafe { batch(&consts, &mut parked, &mut schedule, nonce as u32) };
            for (i, w7) in word7.iter().enumerate() {
                if w7.swap_bytes() <= bound {
                    candidates.push(RolledCandidate {
                        version: base + i as u32,
                        nonce: nonce as u32,
                    });
                }
            }
        }
    }
}

/// The shared schedule's `msg1` results, by the group whose word they start.
#[repr(C, align(16))]
struct Schedule([__m128i; 16]);

/// The shared schedule's two newest groups when group `j` is next.
#[derive(Clone, Copy)]
struct Groups {
    g1: __m128i,
    g2: __m128i,
}

// Every `asm!` below uses only VEX-128 and legacy SHA instructions, so the
// upper vector state stays clean, and touches only the constants and parked
// results whose pointers it is given, all 16-byte aligned.

/// Four rounds of all three versions on message group `g` with constants `k`.
#[inline(always)]
unsafe fn rounds3_reg(st: &mut [State; VERSIONS], g: __m128i, k: &[u32; 4]) {
    let [s0, s1, s2] = st;
    // SAFETY: see above.
    unsafe {
        asm!(
            "vpaddd xmm0, {g}, xmmword ptr [{k}]",
            "sha256rnds2 {c0}, {a0}, xmm0",
            "sha256rnds2 {c1}, {a1}, xmm0",
            "sha256rnds2 {c2}, {a2}, xmm0",
            "vpshufd xmm0, xmm0, 0x0e",
            "sha256rnds2 {a0}, {c0}, xmm0",
            "sha256rnds2 {a1}, {c1}, xmm0",
            "sha256rnds2 {a2}, {c2}, xmm0",
            g = in(xmm_reg) g,
            k = in(reg) k,
            a0 = inout(xmm_reg) s0.abef, c0 = inout(xmm_reg) s0.cdgh,
            a1 = inout(xmm_reg) s1.abef, c1 = inout(xmm_reg) s1.cdgh,
            a2 = inout(xmm_reg) s2.abef, c2 = inout(xmm_reg) s2.cdgh,
            out("xmm0") _,
            options(readonly, nostack, preserves_flags),
        );
    }
}

/// Four rounds of all three versions with a constant `K + W`.
#[inline(always)]
unsafe fn rounds3_const(st: &mut [State; VERSIONS], kw: &Kw) {
    let [s0, s1, s2] = st;
    // SAFETY: see above.
    unsafe {
        asm!(
            "vmovdqa xmm0, xmmword ptr [{kw}]",
            "sha256rnds2 {c0}, {a0}, xmm0",
            "sha256rnds2 {c1}, {a1}, xmm0",
            "sha256rnds2 {c2}, {a2}, xmm0",
            "vmovdqa xmm0, xmmword ptr [{kw} + 16]",
            "sha256rnds2 {a0}, {c0}, xmm0",
            "sha256rnds2 {a1}, {c1}, xmm0",
            "sha256rnds2 {a2}, {c2}, xmm0",
            kw = in(reg) kw,
            a0 = inout(xmm_reg) s0.abef, c0 = inout(xmm_reg) s0.cdgh,
            a1 = inout(xmm_reg) s1.abef, c1 = inout(xmm_reg) s1.cdgh,
            a2 = inout(xmm_reg) s2.abef, c2 = inout(xmm_reg) s2.cdgh,
            out("xmm0") _,
            options(readonly, nostack, preserves_flags),
        );
    }
}

/// Defines a shared step: group `j = msg2(m + alignr(g1, g2), g1)` with `m`
/// read from `m_in`, then the four rounds of every version on it; `$park`
/// instructions go after the `msg2`.
macro_rules! shared_step {
    ($(#[$doc:meta])* $name:ident($s:ident $(, $arg:ident: $ty:ty)*), [$($park:literal),*], [$($operand:tt)*]) => {
        $(#[$doc])*
        #[inline(always)]
        unsafe fn $name(
            $s: &mut Groups,
            st: &mut [State; VERSIONS],
            m_in: *const __m128i,
            $($arg: $ty,)*
            k: &[u32; 4],
        ) {
            let g: __m128i;
            let [s0, s1, s2] = st;
            // SAFETY: see above.
            unsafe {
                asm!(
                    "vpalignr {g}, {g1}, {g2}, 4",
                    "vpaddd {g}, {g}, xmmword ptr [{m_in}]",
                    "sha256msg2 {g}, {g1}",
                    $($park,)*
                    "vpaddd xmm0, {g}, xmmword ptr [{k}]",
                    "sha256rnds2 {c0}, {a0}, xmm0",
                    "sha256rnds2 {c1}, {a1}, xmm0",
                    "sha256rnds2 {c2}, {a2}, xmm0",
                    "vpshufd xmm0, xmm0, 0x0e",
                    "sha256rnds2 {a0}, {c0}, xmm0",
                    "sha256rnds2 {a1}, {c1}, xmm0",
                    "sha256rnds2 {a2}, {c2}, xmm0",
                    g = out(xmm_reg) g,
                    g1 = in(xmm_reg) $s.g1,
                    m_in = in(reg) m_in,
                    k = in(reg) k,
                    a0 = inout(xmm_reg) s0.abef, c0 = inout(xmm_reg) s0.cdgh,
                    a1 = inout(xmm_reg) s1.abef, c1 = inout(xmm_reg) s1.cdgh,
                    a2 = inout(xmm_reg) s2.abef, c2 = inout(xmm_reg) s2.cdgh,
                    out("xmm0") _,
                    $($operand)*
                );
            }
            $s.g2 = $s.g1;
            $s.g1 = g;
        }
    };
}

shared_step!(
    /// The general step; parks `msg1(g2, g1)` (group `j + 2`'s) at `m_out`.
    step(s, m_out: *mut __m128i),
    ["sha256msg1 {g2}, {g1}", "vmovdqa xmmword ptr [{m_out}], {g2}"],
    [g2 = inout(xmm_reg) s.g2 => _, m_out = in(reg) m_out, options(nostack, preserves_flags)]
);

shared_step!(
    /// The step for the last groups, whose `msg1` results nothing reads.
    step_last(s),
    [],
    [g2 = in(xmm_reg) s.g2, options(readonly, nostack, preserves_flags)]
);

/// Digest word 7 of the double hash of `nonce` in each version of `c`.
// `seq!` expands group indices to literals, so `J - 0` and friends appear.
#[allow(clippy::identity_op)]
#[inline(always)]
unsafe fn batch(
    cs: &[Consts; VERSIONS],
    parked: &mut Parked,
    schedule: &mut Schedule,
    nonce: u32,
) -> [u32; VERSIONS] {
    let kt = &K_GROUPS.0;
    // The schedule and rounds 2..3's `K + W` depend only on the second
    // chunk, the same in every version's constants.
    let c = &cs[0];
    let n = nonce.swap_bytes();
    let mut st: [State; VERSIONS] = std::array::from_fn(|i| cs[i].s2);
    // SAFETY: the callers' target features are those every step needs, and
    // every pointer is into `cs`, `parked`, `schedule` or `K_GROUPS`.
    unsafe {
        // Header chunk, rounds 2..3: afterwards the two halves have traded places.
        let kw = _mm_cvtsi64_si128(c.kw23(n) as i64);
        for s in st.iter_mut() {
            let abef = _mm_sha256rnds2_epu32(s.cdgh, s.abef, kw);
            *s = State { abef, cdgh: s.abef };
        }
        for kw in &c.kw {
            rounds3_const(&mut st, kw);
        }
        let g4 = _mm_insert_epi64::<1>(c.w16_17, c.g4_high(n) as i64);
        rounds3_reg(&mut st, g4, &kt[4]);
        let g5 = _mm_sha256msg2_epu32(std::ptr::read(&c.x5), g4);
        rounds3_reg(&mut st, g5, &kt[5]);
        let mut s = Groups { g1: g5, g2: g4 };
        let p = &mut schedule.0;
        step(&mut s, &mut st, &c.m6, &mut p[8], &kt[6]);
        step(&mut s, &mut st, &c.m7, &mut p[9], &kt[7]);
        seq!(J in 8..14 {
            step(&mut s, &mut st, &p[J], &mut p[J + 2], &kt[J]);
        });
        seq!(J in 14..16 {
            step_last(&mut s, &mut st, &p[J], &kt[J]);
        });

        let zero = _mm_setzero_si128();
        let mut lanes: [Lane; LANES] = std::array::from_fn(|i| Lane {
            s: st[i],
            g1: zero,
            g2: zero,
        });
        let midstates: [&State; LANES] = std::array::from_fn(|i| &cs[i].midstate);
        second_hash(c, midstates, parked, &mut lanes)
    }
}
