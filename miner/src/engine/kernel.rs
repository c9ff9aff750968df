//! The multi-lane double-SHA256 nonce search, written once over [`Lanes`].
//!
//! Per nonce it runs only what depends on the nonce: the second chunk from
//! round 3 on (rounds 0..3 and the nonce-free schedule words come from the
//! [`Job`]), then the hash of the 32-byte digest up to round 60, which is all
//! the final digest word 7 (the hash's most significant word) depends on.
//! Constant message words are folded into `K[t] + W[t]`; the compiler drops
//! the `a` values of rounds 57..=60, which nothing reads.

use super::job::{Job, DIGEST_BITS};
use super::lanes::Lanes;
use super::rolled::RolledCandidate;
use crate::sha256::{big_sigma0, big_sigma1, ch, maj, small_sigma0, IV, K, PAD};
use seq_macro::seq;

/// One round on `s = [a..h]` with `kw = K[t] + W[t]` already summed.
#[inline(always)]
fn round<V: Lanes>(s: &mut [V; 8], kw: V) {
    let t1 = s[7]
        .add(kw)
        .add(V::ch(s[4], s[5], s[6]))
        .add(s[4].big_sigma1());
    let t2 = s[0].big_sigma0().add(V::maj(s[0], s[1], s[2]));
    *s = [t1.add(t2), s[0], s[1], s[2], s[3].add(t1), s[4], s[5], s[6]];
}

/// A round whose `h + K[t] + W[t]` is already summed in `hkw` (rounds where `h` is nonce-free).
#[inline(always)]
fn round_hkw<V: Lanes>(s: &mut [V; 8], hkw: V) {
    let t1 = hkw.add(V::ch(s[4], s[5], s[6])).add(s[4].big_sigma1());
    let t2 = s[0].big_sigma0().add(V::maj(s[0], s[1], s[2]));
    *s = [t1.add(t2), s[0], s[1], s[2], s[3].add(t1), s[4], s[5], s[6]];
}

/// `sigma1(w[t-2]) + w[t-7] + sigma0(w[t-15]) + w[t-16]`.
#[inline(always)]
fn expand<V: Lanes>(w: &[V; 64], t: usize) -> V {
    w[t - 2]
        .small_sigma1()
        .add(w[t - 7])
        .add(w[t - 15].small_sigma0())
        .add(w[t - 16])
}

/// Final digest word 7 of `sha256d(header)` for the nonces whose
/// byte-swapped values are the lanes of `w3` (the second chunk's word 3).
#[inline(always)]
pub(crate) fn sha256d_word7<V: Lanes>(job: &Job, w3: V) -> V {
    let first = first_hash(job, w3);
    second_hash_word7(&first)
}

/// The first hash: the header's second chunk compressed onto the midstate.
#[inline(always)]
fn first_hash<V: Lanes>(job: &Job, w3: V) -> [V; 8] {
    let c = V::splat;
    let s3 = job.s3;
    // Round 3 is the first to see the nonce.
    let mut s = [
        w3.add_c(job.a4_base),
        c(s3[0]),
        c(s3[1]),
        c(s3[2]),
        w3.add_c(job.e4_base),
        c(s3[4]),
        c(s3[5]),
        c(s3[6]),
    ];
    // Rounds 4..=6: `h` is still nonce-free.
    round_hkw(&mut s, c(s3[6].wrapping_add(job.kw[4])));
    round_hkw(&mut s, c(s3[5].wrapping_add(job.kw[5])));
    round_hkw(&mut s, c(s3[4].wrapping_add(job.kw[6])));
    seq!(T in 7..18 {
        round(&mut s, c(job.kw[T]));
    });

    let mut w = [c(0); 64];
    w[18] = w3.small_sigma0().add_c(job.c18);
    w[19] = w3.add_c(job.c19);
    w[20] = w[18].small_sigma1().add_c(PAD);
    w[21] = w[19].small_sigma1();
    w[22] = w[20].small_sigma1().add_c(super::job::HEADER_BITS);
    w[23] = w[21].small_sigma1().add_c(job.w16);
    w[24] = w[22].small_sigma1().add_c(job.w17);
    seq!(T in 25..30 {
        w[T] = w[T - 2].small_sigma1().add(w[T - 7]);
    });
    w[30] = w[28]
        .small_sigma1()
        .add(w[23])
        .add_c(small_sigma0(super::job::HEADER_BITS));
    w[31] = w[29]
        .small_sigma1()
        .add(w[24])
        .add_c(small_sigma0(job.w16).wrapping_add(super::job::HEADER_BITS));
    w[32] = w[30]
        .small_sigma1()
        .add(w[25])
        .add_c(small_sigma0(job.w17).wrapping_add(job.w16));
    w[33] = w[31]
        .small_sigma1()
        .add(w[26])
        .add(w[18].small_sigma0())
        .add_c(job.w17);
    seq!(T in 18..34 {
        round(&mut s, w[T].add_c(K[T]));
    });
    seq!(T in 34..64 {
        w[T] = expand(&w, T);
        round(&mut s, w[T].add_c(K[T]));
    });
    std::array::from_fn(|i| s[i].add_c(job.midstate[i]))
}

/// The first hash's message schedule words 18..64 of the nonces in `w3`
/// (words 0..18 are folded into the job's `K + W`). It depends only on the
/// second chunk, which every version of a rolled header shares.
#[inline(always)]
fn first_schedule<V: Lanes>(job: &Job, w3: V) -> [V; 64] {
    let c = V::splat;
    let mut w = [c(0); 64];
    w[18] = w3.small_sigma0().add_c(job.c18);
    w[19] = w3.add_c(job.c19);
    w[20] = w[18].small_sigma1().add_c(PAD);
    w[21] = w[19].small_sigma1();
    w[22] = w[20].small_sigma1().add_c(super::job::HEADER_BITS);
    w[23] = w[21].small_sigma1().add_c(job.w16);
    w[24] = w[22].small_sigma1().add_c(job.w17);
    seq!(T in 25..30 {
        w[T] = w[T - 2].small_sigma1().add(w[T - 7]);
    });
    w[30] = w[28]
        .small_sigma1()
        .add(w[23])
        .add_c(small_sigma0(super::job::HEADER_BITS));
    w[31] = w[29]
        .small_sigma1()
        .add(w[24])
        .add_c(small_sigma0(job.w16).wrapping_add(super::job::HEADER_BITS));
    w[32] = w[30]
        .small_sigma1()
        .add(w[25])
        .add_c(small_sigma0(job.w17).wrapping_add(job.w16));
    w[33] = w[31]
        .small_sigma1()
        .add(w[26])
        .add(w[18].small_sigma0())
        .add_c(job.w17);
    seq!(T in 34..64 {
        w[T] = expand(&w, T);
    });
    // `K + W`, once for all versions.
    seq!(T in 18..64 {
        w[T] = w[T].add_c(K[T]);
    });
    w
}

/// The first hash of one version (`job`) on a schedule from
/// [`first_schedule`] (holding `K + W` from word 18).
#[inline(always)]
fn first_rounds<V: Lanes>(job: &Job, w3: V, kw: &[V; 64]) -> [V; 8] {
    let c = V::splat;
    let s3 = job.s3;
    let mut s = [
        w3.add_c(job.a4_base),
        c(s3[0]),
        c(s3[1]),
        c(s3[2]),
        w3.add_c(job.e4_base),
        c(s3[4]),
        c(s3[5]),
        c(s3[6]),
    ];
    round_hkw(&mut s, c(s3[6].wrapping_add(job.kw[4])));
    round_hkw(&mut s, c(s3[5].wrapping_add(job.kw[5])));
    round_hkw(&mut s, c(s3[4].wrapping_add(job.kw[6])));
    seq!(T in 7..18 {
        round(&mut s, c(job.kw[T]));
    });
    seq!(T in 18..64 {
        round(&mut s, kw[T]);
    });
    std::array::from_fn(|i| s[i].add_c(job.midstate[i]))
}

/// Scans `range` in every version of `jobs` (the versions of one header)
/// with `V`-wide nonce batches: each batch's first-hash schedule is computed
/// once and serves every version. Pushes candidates as (version index, nonce).
#[inline(always)]
pub(crate) fn scan_rolled<V: Lanes>(
    jobs: &[Job],
    range: std::ops::Range<u64>,
    candidates: &mut Vec<RolledCandidate>,
) {
    let Some(first) = jobs.first() else { return };
    let bound = first.target().top_word();
    let lanes = V::LANES as u64;
    let mut start = range.start;
    while start < range.end {
        let w3 = V::consecutive(start as u32).swap_bytes();
        let kw = first_schedule(first, w3);
        let left = range.end - start;
        let live = if left < lanes {
            (1u32 << left) - 1
        } else {
            u32::MAX
        };
        for (version, job) in jobs.iter().enumerate() {
            let digest = first_rounds(job, w3, &kw);
            let word7 = second_hash_word7(&digest);
            let mut mask = word7.swap_bytes().le_mask(bound) & live;
            while mask != 0 {
                let lane = mask.trailing_zeros();
                candidates.push(RolledCandidate {
                    version: version as u32,
                    nonce: (start as u32).wrapping_add(lane),
                });
                mask &= mask - 1;
            }
        }
        start += lanes;
    }
}

/// Digest word 7 of SHA-256 over the 32-byte `digest` (as eight words).
#[inline(always)]
fn second_hash_word7<V: Lanes>(digest: &[V; 8]) -> V {
    let c = V::splat;
    // Round 0 on the constant initial state: only W[0] varies.
    let c0 = IV[7]
        .wrapping_add(big_sigma1(IV[4]))
        .wrapping_add(ch(IV[4], IV[5], IV[6]))
        .wrapping_add(K[0]);
    let t2 = big_sigma0(IV[0]).wrapping_add(maj(IV[0], IV[1], IV[2]));
    let mut s = [
        digest[0].add_c(c0.wrapping_add(t2)),
        c(IV[0]),
        c(IV[1]),
        c(IV[2]),
        digest[0].add_c(c0.wrapping_add(IV[3])),
        c(IV[4]),
        c(IV[5]),
        c(IV[6]),
    ];
    // Rounds 1..=3: `h` is still from the initial state.
    round_hkw(&mut s, digest[1].add_c(K[1].wrapping_add(IV[6])));
    round_hkw(&mut s, digest[2].add_c(K[2].wrapping_add(IV[5])));
    round_hkw(&mut s, digest[3].add_c(K[3].wrapping_add(IV[4])));
    seq!(T in 4..8 {
        round(&mut s, digest[T].add_c(K[T]));
    });
    // Words 8..=15 are padding: constant.
    round(&mut s, c(K[8].wrapping_add(PAD)));
    seq!(T in 9..15 {
        round(&mut s, c(K[T]));
    });
    round(&mut s, c(K[15].wrapping_add(DIGEST_BITS)));

    let mut w = [c(0); 64];
    w[..8].copy_from_slice(digest);
    w[16] = w[1].small_sigma0().add(w[0]);
    w[17] = w[2]
        .small_sigma0()
        .add(w[1])
        .add_c(crate::sha256::small_sigma1(DIGEST_BITS));
    seq!(T in 18..22 {
        w[T] = w[T - 2].small_sigma1().add(w[T - 15].small_sigma0()).add(w[T - 16]);
    });
    w[22] = w[20]
        .small_sigma1()
        .add(w[7].small_sigma0())
        .add(w[6])
        .add_c(DIGEST_BITS);
    w[23] = w[21]
        .small_sigma1()
        .add(w[16])
        .add(w[7])
        .add_c(small_sigma0(PAD));
    w[24] = w[22].small_sigma1().add(w[17]).add_c(PAD);
    seq!(T in 25..30 {
        w[T] = w[T - 2].small_sigma1().add(w[T - 7]);
    });
    w[30] = w[28]
        .small_sigma1()
        .add(w[23])
        .add_c(small_sigma0(DIGEST_BITS));
    w[31] = w[29]
        .small_sigma1()
        .add(w[24])
        .add(w[16].small_sigma0())
        .add_c(DIGEST_BITS);
    seq!(T in 16..32 {
        round(&mut s, w[T].add_c(K[T]));
    });
    seq!(T in 32..61 {
        w[T] = expand(&w, T);
        round(&mut s, w[T].add_c(K[T]));
    });
    // After round 60, `e` is what `h` will be after round 63.
    s[4].add_c(IV[7])
}

/// Scans `range` (nonces, end at most 2^32) with `V`-wide batches and pushes
/// the nonces whose hash's top word is within the job's target top word.
#[inline(always)]
pub(crate) fn scan<V: Lanes>(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    let bound = job.target().top_word();
    let lanes = V::LANES as u64;
    let mut start = range.start;
    while start < range.end {
        let nonces = V::consecutive(start as u32);
        let word7 = sha256d_word7(job, nonces.swap_bytes());
        let mut mask = word7.swap_bytes().le_mask(bound);
        let left = range.end - start;
        if left < lanes {
            mask &= (1u32 << left) - 1;
        }
        while mask != 0 {
            let lane = mask.trailing_zeros();
            candidates.push((start as u32).wrapping_add(lane));
            mask &= mask - 1;
        }
        start += lanes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{hash_top_word, ShareTarget};

    #[test]
    fn scalar_kernel_matches_full_double_hash() {
        let header: [u8; 80] = std::array::from_fn(|i| (i as u8).wrapping_mul(91).wrapping_add(7));
        let job = Job::new(header, ShareTarget::from_difficulty(1.0).unwrap());
        for nonce in [0u32, 1, 0x1234_5678, u32::MAX] {
            let word7 = sha256d_word7::<u32>(&job, nonce.swap_bytes());
            let hash = job.hash(nonce);
            assert_eq!(word7.swap_bytes(), hash_top_word(&hash), "nonce {nonce:#x}");
        }
    }

    #[test]
    fn scalar_shared_schedule_matches_full_double_hash() {
        let header: [u8; 80] = std::array::from_fn(|i| (i as u8).wrapping_mul(91).wrapping_add(7));
        let target = ShareTarget::from_difficulty(1.0).unwrap();
        let rolled = crate::engine::RolledJob::new(header, &[0x2000_0000, 0x3fff_e000], target);
        for nonce in [0u32, 1, 0x1234_5678, u32::MAX] {
            let kw = first_schedule::<u32>(&rolled.jobs()[0], nonce.swap_bytes());
            for job in rolled.jobs() {
                let digest = first_rounds(job, nonce.swap_bytes(), &kw);
                let word7 = second_hash_word7(&digest);
                assert_eq!(word7.swap_bytes(), hash_top_word(&job.hash(nonce)));
            }
        }
    }
}
