//! What a nonce search needs about one header, computed once per job: the
//! midstate of the first 64 bytes, the first three rounds of the second chunk,
//! and every message-schedule word that does not depend on the nonce.

use crate::sha256::{self, big_sigma0, big_sigma1, ch, maj, small_sigma0, small_sigma1, K, PAD};
use crate::target::ShareTarget;

/// Length of the 64-byte header tail (second SHA-256 chunk) in bits, as padded.
pub(crate) const HEADER_BITS: u32 = 640;
/// Length of a SHA-256 digest in bits (the second hash's message).
pub(crate) const DIGEST_BITS: u32 = 256;

/// A header prepared for nonce search against a share target.
#[derive(Clone, Debug)]
pub struct Job {
    header: [u8; 80],
    target: ShareTarget,
    /// State after compressing the header's first 64 bytes.
    pub(crate) midstate: [u32; 8],
    /// Second-chunk words 0..3: merkle root tail, time, bits.
    pub(crate) tail: [u32; 3],
    /// Second-chunk state before round 3 (rounds 0..3 use no nonce).
    pub(crate) s3: [u32; 8],
    /// Round 3 adds the nonce word to these to get the new `e` and `a`.
    pub(crate) e4_base: u32,
    pub(crate) a4_base: u32,
    /// `K[t] + W[t]` for rounds 4..=17, none of which depend on the nonce.
    pub(crate) kw: [u32; 18],
    /// Schedule words 16 and 17 (nonce-free) and the constant parts of 18..=19.
    pub(crate) w16: u32,
    pub(crate) w17: u32,
    pub(crate) c18: u32,
    pub(crate) c19: u32,
}

impl Job {
    /// Prepares `header` (its nonce field is ignored) for search.
    pub fn new(header: [u8; 80], target: ShareTarget) -> Self {
        let mut midstate = sha256::IV;
        sha256::compress(&mut midstate, header[..64].try_into().unwrap());
        let word =
            |i: usize| u32::from_be_bytes(header[64 + 4 * i..68 + 4 * i].try_into().unwrap());
        let tail = [word(0), word(1), word(2)];

        let mut s3 = midstate;
        for (t, w) in tail.iter().enumerate() {
            sha256::round(&mut s3, K[t].wrapping_add(*w));
        }
        let p = s3[7]
            .wrapping_add(big_sigma1(s3[4]))
            .wrapping_add(ch(s3[4], s3[5], s3[6]))
            .wrapping_add(K[3]);
        let e4_base = s3[3].wrapping_add(p);
        let a4_base = p
            .wrapping_add(big_sigma0(s3[0]))
            .wrapping_add(maj(s3[0], s3[1], s3[2]));

        let w16 = small_sigma0(tail[1]).wrapping_add(tail[0]);
        let w17 = small_sigma1(HEADER_BITS)
            .wrapping_add(small_sigma0(tail[2]))
            .wrapping_add(tail[1]);
        let c18 = small_sigma1(w16).wrapping_add(tail[2]);
        let c19 = small_sigma1(w17).wrapping_add(small_sigma0(PAD));

        let mut schedule = [0u32; 18];
        schedule[4] = PAD;
        schedule[15] = HEADER_BITS;
        schedule[16] = w16;
        schedule[17] = w17;
        let kw = std::array::from_fn(|t| K[t].wrapping_add(schedule[t]));

        Self {
            header,
            target,
            midstate,
            tail,
            s3,
            e4_base,
            a4_base,
            kw,
            w16,
            w17,
            c18,
            c19,
        }
    }

    /// The 80-byte header as given to [`Job::new`].
    pub fn header(&self) -> &[u8; 80] {
        &self.header
    }

    /// The share target a hit must meet.
    pub fn target(&self) -> &ShareTarget {
        &self.target
    }

    /// The header with `nonce` written into it.
    pub fn header_with_nonce(&self, nonce: u32) -> [u8; 80] {
        let mut h = self.header;
        h[76..80].copy_from_slice(&nonce.to_le_bytes());
        h
    }

    /// The double-SHA256 of the header with `nonce`, by the portable path.
    pub fn hash(&self, nonce: u32) -> [u8; 32] {
        sha256::sha256d(&self.header_with_nonce(nonce))
    }
}
