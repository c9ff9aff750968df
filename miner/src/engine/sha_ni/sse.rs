//! The SHA kernel for CPUs without AVX (Goldmont-class): `LANES` nonces
//! interleaved group by group, everything in legacy SSE encodings.

use super::{kv, push_candidates, Consts, State};
use crate::engine::job::Job;
use crate::sha256::IV;
use seq_macro::seq;
use std::arch::x86_64::*;

/// Nonces hashed together.
pub(super) const LANES: usize = 5;

/// Scans `range` and pushes candidate nonces; the CPU must have SHA, SSE4.1
/// and SSSE3 (the caller checks).
pub(super) fn scan(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    // SAFETY: the caller checked SHA, SSE4.1 and SSSE3.
    unsafe { scan_sse(job, range, candidates) }
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn scan_sse(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    let c = Consts::new(job);
    let bound = job.target().top_word();
    let mut start = range.start;
    while start < range.end {
        // SAFETY: this function's target features are those `batch` needs.
        let word7 = unsafe { batch(&c, start as u32) };
        push_candidates(start, &word7, &range, bound, candidates);
        start += LANES as u64;
    }
}

/// `msg2(msg1(g4, g3) + alignr(g1, g2), g1)`: the next four schedule words,
/// with `m` the (possibly precomputed) `msg1` result.
#[inline(always)]
unsafe fn next_group(m: __m128i, g2: __m128i, g1: __m128i) -> __m128i {
    // SAFETY: only `scan_sse` reaches this (inlined), with SHA, SSE2, SSSE3 and SSE4.1 enabled, the
    // features of every intrinsic here; no memory is touched but through references.
    unsafe { _mm_sha256msg2_epu32(_mm_add_epi32(m, _mm_alignr_epi8::<4>(g1, g2)), g1) }
}

/// Four rounds with `kw = K + W` for them.
#[inline(always)]
unsafe fn rounds4(s: &mut State, kw: __m128i) {
    // SAFETY: only `scan_sse` reaches this (inlined), with SHA, SSE2, SSSE3 and SSE4.1 enabled, the
    // features of every intrinsic here; no memory is touched but through references.
    unsafe {
        rounds4_split(s, kw, _mm_shuffle_epi32::<0x0e>(kw));
    }
}

/// Four rounds with the two halves of `K + W` given apart.
#[inline(always)]
unsafe fn rounds4_split(s: &mut State, lo: __m128i, hi: __m128i) {
    // SAFETY: only `scan_sse` reaches this (inlined), with SHA, SSE2, SSSE3 and SSE4.1 enabled, the
    // features of every intrinsic here; no memory is touched but through references.
    unsafe {
        s.cdgh = _mm_sha256rnds2_epu32(s.cdgh, s.abef, lo);
        // The second pair writes ABEF back where it started; the first pair's
        // output (in `cdgh`) is the new CDGH.
        s.abef = _mm_sha256rnds2_epu32(s.abef, s.cdgh, hi);
    }
}

/// Digest word 7 of the double hash for nonces `first..first + LANES` (wrapping).
// `seq!` expands group indices to literals, so `4 * 0` and friends appear.
#[allow(clippy::erasing_op, clippy::identity_op, clippy::eq_op)]
#[inline(always)]
unsafe fn batch(c: &Consts, first: u32) -> [u32; LANES] {
    // SAFETY: only `scan_sse` reaches this (inlined), with SHA, SSE2, SSSE3 and SSE4.1 enabled, the
    // features of every intrinsic here; no memory is touched but through references.
    unsafe {
        // First hash, from round 2 of the header chunk.
        let mut s = [c.s2; LANES];
        let mut g = [[c.d2; 16]; LANES];
        for i in 0..LANES {
            let n = first.wrapping_add(i as u32).swap_bytes();
            // Rounds 2..3: `K + W` for them in the low 64 bits; afterwards the
            // two halves have traded places.
            let st = &mut s[i];
            st.cdgh = _mm_sha256rnds2_epu32(st.cdgh, st.abef, _mm_cvtsi64_si128(c.kw23(n) as i64));
            std::mem::swap(&mut st.abef, &mut st.cdgh);
            g[i][4] = _mm_insert_epi64::<1>(c.w16_17, c.g4_high(n) as i64);
        }
        for kw in c.kw {
            for st in s.iter_mut() {
                rounds4_split(st, kw.lo, kw.hi);
            }
        }
        for i in 0..LANES {
            rounds4(&mut s[i], _mm_add_epi32(g[i][4], kv(4)));
        }
        for i in 0..LANES {
            g[i][5] = _mm_sha256msg2_epu32(c.x5, g[i][4]);
            rounds4(&mut s[i], _mm_add_epi32(g[i][5], kv(5)));
        }
        for i in 0..LANES {
            g[i][6] = next_group(c.m6, g[i][4], g[i][5]);
            rounds4(&mut s[i], _mm_add_epi32(g[i][6], kv(6)));
        }
        for i in 0..LANES {
            g[i][7] = next_group(c.m7, g[i][5], g[i][6]);
            rounds4(&mut s[i], _mm_add_epi32(g[i][7], kv(7)));
        }
        seq!(J in 8..16 {
            for i in 0..LANES {
                let m = _mm_sha256msg1_epu32(g[i][J - 4], g[i][J - 3]);
                g[i][J] = next_group(m, g[i][J - 2], g[i][J - 1]);
                rounds4(&mut s[i], _mm_add_epi32(g[i][J], kv(J)));
            }
        });

        // Second hash over the digest, whose words are the message.
        for i in 0..LANES {
            let abef = _mm_add_epi32(s[i].abef, c.midstate.abef);
            let cdgh = _mm_add_epi32(s[i].cdgh, c.midstate.cdgh);
            let abef_r = _mm_shuffle_epi32::<0x1b>(abef); // [A, B, E, F]
            let cdgh_r = _mm_shuffle_epi32::<0xb1>(cdgh); // [G, H, C, D]
            g[i][0] = _mm_blend_epi16::<0xf0>(abef_r, cdgh_r); // [A, B, C, D]
            g[i][1] = _mm_alignr_epi8::<8>(cdgh_r, abef_r); // [E, F, G, H]
            s[i] = c.iv;
        }
        for i in 0..LANES {
            rounds4(&mut s[i], _mm_add_epi32(g[i][0], kv(0)));
        }
        for i in 0..LANES {
            rounds4(&mut s[i], _mm_add_epi32(g[i][1], kv(1)));
        }
        for kw in c.dkw {
            for st in s.iter_mut() {
                rounds4_split(st, kw.lo, kw.hi);
            }
        }
        for i in 0..LANES {
            // alignr(d3, d2) is zero.
            g[i][4] = _mm_sha256msg2_epu32(_mm_sha256msg1_epu32(g[i][0], g[i][1]), c.d3);
            rounds4(&mut s[i], _mm_add_epi32(g[i][4], kv(4)));
        }
        for i in 0..LANES {
            let m = _mm_sha256msg1_epu32(g[i][1], c.d2);
            g[i][5] = next_group(m, c.d3, g[i][4]);
            rounds4(&mut s[i], _mm_add_epi32(g[i][5], kv(5)));
        }
        for i in 0..LANES {
            g[i][6] = next_group(c.dm6, g[i][4], g[i][5]);
            rounds4(&mut s[i], _mm_add_epi32(g[i][6], kv(6)));
        }
        for i in 0..LANES {
            let m = _mm_sha256msg1_epu32(c.d3, g[i][4]);
            g[i][7] = next_group(m, g[i][5], g[i][6]);
            rounds4(&mut s[i], _mm_add_epi32(g[i][7], kv(7)));
        }
        seq!(J in 8..15 {
            for i in 0..LANES {
                let m = _mm_sha256msg1_epu32(g[i][J - 4], g[i][J - 3]);
                g[i][J] = next_group(m, g[i][J - 2], g[i][J - 1]);
                rounds4(&mut s[i], _mm_add_epi32(g[i][J], kv(J)));
            }
        });
        let mut out = [0u32; LANES];
        for i in 0..LANES {
            let m = _mm_sha256msg1_epu32(g[i][11], g[i][12]);
            let g15 = next_group(m, g[i][13], g[i][14]);
            // Rounds 60..61; the new ABEF's F lane is `e` after round 60, the final `h`.
            let abef = _mm_sha256rnds2_epu32(s[i].cdgh, s[i].abef, _mm_add_epi32(g15, kv(15)));
            out[i] = (_mm_cvtsi128_si32(abef) as u32).wrapping_add(IV[7]);
        }
        out
    }
}
