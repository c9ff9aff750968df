//! Scalar SHA-256 building blocks: the round constants, the initial state, the
//! round and message-schedule functions, and whole double hashes via `sha2`.
//!
//! Engines use these to precompute everything that does not depend on the
//! nonce, and the search uses [`sha256d`] to confirm every candidate.

use sha2::{Digest, Sha256};

/// SHA-256 round constants.
pub const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 initial hash value.
pub const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The padding word that follows a message ending on a word boundary.
pub const PAD: u32 = 0x8000_0000;

/// FIPS 180-4 `Σ0`, applied to `a` in the compression rounds.
#[inline(always)]
pub fn big_sigma0(x: u32) -> u32 {
    x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22)
}
/// FIPS 180-4 `Σ1`, applied to `e` in the compression rounds.
#[inline(always)]
pub fn big_sigma1(x: u32) -> u32 {
    x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25)
}
/// FIPS 180-4 `σ0`, applied to `W[t-15]` in the message schedule.
#[inline(always)]
pub fn small_sigma0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}
/// FIPS 180-4 `σ1`, applied to `W[t-2]` in the message schedule.
#[inline(always)]
pub fn small_sigma1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}
/// `Ch(e, f, g)`: each bit from `f` where `e` is set, else from `g`.
#[inline(always)]
pub fn ch(e: u32, f: u32, g: u32) -> u32 {
    (e & f) ^ (!e & g)
}
/// `Maj(a, b, c)`: each bit's majority of the three words.
#[inline(always)]
pub fn maj(a: u32, b: u32, c: u32) -> u32 {
    (a & b) ^ (a & c) ^ (b & c)
}

/// One SHA-256 round on `s = [a, b, c, d, e, f, g, h]` with `kw = K[t] + W[t]`.
#[inline(always)]
pub fn round(s: &mut [u32; 8], kw: u32) {
    let t1 = s[7]
        .wrapping_add(big_sigma1(s[4]))
        .wrapping_add(ch(s[4], s[5], s[6]))
        .wrapping_add(kw);
    let t2 = big_sigma0(s[0]).wrapping_add(maj(s[0], s[1], s[2]));
    s.copy_within(0..7, 1);
    s[4] = s[4].wrapping_add(t1);
    s[0] = t1.wrapping_add(t2);
}

/// Compresses one 64-byte block into `state` (the portable path, via `sha2`).
pub fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::compress256(state, &[(*block).into()]);
}

/// Reads a 64-byte block as sixteen big-endian message words.
pub fn block_words(block: &[u8; 64]) -> [u32; 16] {
    std::array::from_fn(|i| u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap()))
}

/// Double SHA-256 of arbitrary bytes, as Bitcoin hashes headers.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_match_sha2_compression() {
        let block: [u8; 64] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        let mut expected = IV;
        compress(&mut expected, &block);

        let mut w = [0u32; 64];
        w[..16].copy_from_slice(&block_words(&block));
        for t in 16..64 {
            w[t] = small_sigma1(w[t - 2])
                .wrapping_add(w[t - 7])
                .wrapping_add(small_sigma0(w[t - 15]))
                .wrapping_add(w[t - 16]);
        }
        let mut s = IV;
        for t in 0..64 {
            round(&mut s, K[t].wrapping_add(w[t]));
        }
        let got: [u32; 8] = std::array::from_fn(|i| s[i].wrapping_add(IV[i]));
        assert_eq!(got, expected);
    }

    #[test]
    fn sha256d_of_empty_input() {
        // Well-known value: SHA256(SHA256("")).
        assert_eq!(
            hex::encode(sha256d(b"")),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
    }
}
