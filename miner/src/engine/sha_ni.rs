//! The SHA-extensions engine: `LANES` independent nonces interleaved so that
//! `sha256rnds2` (four cycles of latency, one per cycle of throughput on
//! current cores) always has independent work.
//!
//! State lives in the instructions' ABEF/CDGH register layout. Rounds 0..2 of
//! the header's second chunk come precomputed from the [`Job`]; the second
//! hash stops after rounds 60..61, whose output already holds the final `h`.
//! The kernel runs in its own `#[target_feature]` functions and starts with
//! `vzeroupper` where AVX exists, so no VEX code with dirty upper state runs
//! between the legacy-encoded SHA instructions.

use super::job::{Job, DIGEST_BITS, HEADER_BITS};
use crate::sha256::{self, IV, K, PAD};
use seq_macro::seq;
use std::arch::x86_64::*;

/// Nonces hashed together.
pub(crate) const LANES: usize = 8;

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
        // SAFETY: the CPU has AVX (checked), so `vzeroupper` exists; it only
        // clears upper vector state, which no live Rust value depends on here.
        unsafe { std::arch::asm!("vzeroupper", options(nomem, nostack, preserves_flags)) };
    }
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx2")
    {
        // SAFETY: SHA, SSE4.1 (above), AVX2 and AVX-512F/VL are all present.
        unsafe { scan_evex(job, range, candidates) }
    } else {
        // SAFETY: the CPU supports SHA, SSE4.1 and SSSE3 (checked above).
        unsafe { scan_sse(job, range, candidates) }
    }
}

/// Scans with the SHA instructions and legacy-SSE encodings only.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn scan_sse(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    scan_lanes(job, range, candidates)
}

/// The same kernel where AVX-512VL exists: the non-SHA operations get
/// three-operand EVEX forms and registers xmm16..31, which saves copies and
/// spills (the SHA instructions themselves stay legacy-encoded).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1,avx,avx2,avx512f,avx512vl")]
fn scan_evex(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    scan_lanes(job, range, candidates)
}

/// A state in `sha256rnds2` layout: `abef = [F, E, B, A]`, `cdgh = [H, G, D, C]` (lane 0 first).
#[derive(Clone, Copy)]
struct State {
    abef: __m128i,
    cdgh: __m128i,
}

/// Per-job constants in the instructions' layout.
struct Consts {
    /// Second-chunk state after rounds 0..2.
    s2: State,
    /// Chunk words 0..3 (the nonce goes in lane 3) and their `K`.
    g0_base: __m128i,
    k0: __m128i,
    /// `K + W` for rounds 4..16 (no nonce in them).
    kw4: __m128i,
    kw8: __m128i,
    kw12: __m128i,
    /// Chunk message groups 1..4 (padding and length).
    g1: __m128i,
    g2: __m128i,
    g3: __m128i,
    midstate: State,
    /// The second hash: initial state and its constant message groups 2..4.
    iv: State,
    d2: __m128i,
    d3: __m128i,
}

#[inline(always)]
unsafe fn pack(s: &[u32; 8]) -> State {
    State {
        abef: _mm_set_epi32(s[0] as i32, s[1] as i32, s[4] as i32, s[5] as i32),
        cdgh: _mm_set_epi32(s[2] as i32, s[3] as i32, s[6] as i32, s[7] as i32),
    }
}

/// Four message words, `w[0]` in lane 0.
#[inline(always)]
unsafe fn words(w: [u32; 4]) -> __m128i {
    _mm_set_epi32(w[3] as i32, w[2] as i32, w[1] as i32, w[0] as i32)
}

#[inline(always)]
unsafe fn kv(t: usize) -> __m128i {
    words([K[t], K[t + 1], K[t + 2], K[t + 3]])
}

#[inline(always)]
unsafe fn consts(job: &Job) -> Consts {
    let mut s2 = job.midstate;
    sha256::round(&mut s2, K[0].wrapping_add(job.tail[0]));
    sha256::round(&mut s2, K[1].wrapping_add(job.tail[1]));
    let g1 = words([PAD, 0, 0, 0]);
    let g3 = words([0, 0, 0, HEADER_BITS]);
    Consts {
        s2: pack(&s2),
        g0_base: words([job.tail[0], job.tail[1], job.tail[2], 0]),
        k0: kv(0),
        kw4: _mm_add_epi32(g1, kv(4)),
        kw8: kv(8),
        kw12: _mm_add_epi32(g3, kv(12)),
        g1,
        g2: _mm_setzero_si128(),
        g3,
        midstate: pack(&job.midstate),
        iv: pack(&IV),
        d2: words([PAD, 0, 0, 0]),
        d3: words([0, 0, 0, DIGEST_BITS]),
    }
}

/// Next four schedule words from the previous sixteen.
#[inline(always)]
unsafe fn schedule(g4: __m128i, g3: __m128i, g2: __m128i, g1: __m128i) -> __m128i {
    // g4 = W[t-16..t-12], g3 = W[t-12..t-8], g2 = W[t-8..t-4], g1 = W[t-4..t]
    let x = _mm_add_epi32(_mm_sha256msg1_epu32(g4, g3), _mm_alignr_epi8::<4>(g1, g2));
    _mm_sha256msg2_epu32(x, g1)
}

/// Four rounds with `kw = K + W` for them.
#[inline(always)]
unsafe fn rounds4(s: &mut State, kw: __m128i) {
    s.cdgh = _mm_sha256rnds2_epu32(s.cdgh, s.abef, kw);
    // The second pair writes ABEF back where it started; the first pair's
    // output (in `cdgh`) is the new CDGH.
    s.abef = _mm_sha256rnds2_epu32(s.abef, s.cdgh, _mm_shuffle_epi32::<0x0e>(kw));
}

#[inline(always)]
fn scan_lanes(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    // SAFETY: only called from `scan_sse`/`scan_evex`, whose target features
    // the caller checked, and which inline this body.
    let c = unsafe { consts(job) };
    let bound = job.target().top_word();
    let mut start = range.start;
    while start < range.end {
        // SAFETY: as above.
        let word7 = unsafe { batch(&c, start as u32) };
        let left = range.end - start;
        for (lane, w7) in word7.iter().enumerate() {
            if (lane as u64) < left && w7.swap_bytes() <= bound {
                candidates.push((start as u32).wrapping_add(lane as u32));
            }
        }
        start += LANES as u64;
    }
}

/// Digest word 7 of the double hash for nonces `first..first + LANES` (wrapping).
// `seq!` expands group indices to literals, so `4 * 0` and friends appear.
#[allow(clippy::erasing_op, clippy::identity_op, clippy::eq_op)]
#[inline(always)]
unsafe fn batch(c: &Consts, first: u32) -> [u32; LANES] {
    // First hash, from round 2 of the second chunk.
    let mut s = [c.s2; LANES];
    let mut g = [[c.g2; 16]; LANES];
    for i in 0..LANES {
        let nonce = first.wrapping_add(i as u32).swap_bytes();
        g[i][0] = _mm_insert_epi32::<3>(c.g0_base, nonce as i32);
        let kw = _mm_shuffle_epi32::<0x0e>(_mm_add_epi32(g[i][0], c.k0));
        // Rounds 2..3 only: afterwards the two halves have traded places.
        let st = &mut s[i];
        st.cdgh = _mm_sha256rnds2_epu32(st.cdgh, st.abef, kw);
        std::mem::swap(&mut st.abef, &mut st.cdgh);
        g[i][1] = c.g1;
        g[i][3] = c.g3;
    }
    for kw in [c.kw4, c.kw8, c.kw12] {
        for st in s.iter_mut() {
            rounds4(st, kw);
        }
    }
    seq!(J in 4..16 {
        for i in 0..LANES {
            g[i][J] = schedule(g[i][J - 4], g[i][J - 3], g[i][J - 2], g[i][J - 1]);
            rounds4(&mut s[i], _mm_add_epi32(g[i][J], kv(4 * J)));
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
        g[i][2] = c.d2;
        g[i][3] = c.d3;
        s[i] = c.iv;
    }
    seq!(J in 0..4 {
        for i in 0..LANES {
            rounds4(&mut s[i], _mm_add_epi32(g[i][J], kv(4 * J)));
        }
    });
    seq!(J in 4..15 {
        for i in 0..LANES {
            g[i][J] = schedule(g[i][J - 4], g[i][J - 3], g[i][J - 2], g[i][J - 1]);
            rounds4(&mut s[i], _mm_add_epi32(g[i][J], kv(4 * J)));
        }
    });
    let mut out = [0u32; LANES];
    for i in 0..LANES {
        let g15 = schedule(g[i][11], g[i][12], g[i][13], g[i][14]);
        // Rounds 60..61; the new ABEF's F lane is `e` after round 60, the final `h`.
        let abef = _mm_sha256rnds2_epu32(s[i].cdgh, s[i].abef, _mm_add_epi32(g15, kv(60)));
        out[i] = (_mm_cvtsi128_si32(abef) as u32).wrapping_add(IV[7]);
    }
    out
}
