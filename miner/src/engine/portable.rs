//! The portable engine: the midstate plus two `sha2` compressions per nonce.
//! It runs everywhere and is the reference the SIMD engines are tested against.

use super::job::{Job, DIGEST_BITS};
use crate::sha256::{self, IV, PAD};

/// Scans `range` and pushes the nonces whose hash's top word is within the
/// target's top word.
pub(crate) fn scan(job: &Job, range: std::ops::Range<u64>, candidates: &mut Vec<u32>) {
    let bound = job.target().top_word();
    let mut chunk = [0u8; 64];
    chunk[..12].copy_from_slice(&job.header()[64..76]);
    chunk[16..20].copy_from_slice(&PAD.to_be_bytes());
    chunk[60..64].copy_from_slice(&super::job::HEADER_BITS.to_be_bytes());
    let mut digest_block = [0u8; 64];
    digest_block[32..36].copy_from_slice(&PAD.to_be_bytes());
    digest_block[60..64].copy_from_slice(&DIGEST_BITS.to_be_bytes());

    // Two nonces per step: their compressions are independent, so the CPU
    // overlaps one nonce's rounds with the other's.
    let mut chunks = [chunk; 2];
    let mut digests = [digest_block; 2];
    let mut nonce = range.start;
    while nonce < range.end {
        let pair = [nonce as u32, (nonce + 1).min(range.end - 1) as u32];
        let mut first = [job.midstate; 2];
        for i in 0..2 {
            chunks[i][12..16].copy_from_slice(&pair[i].to_le_bytes());
            sha256::compress(&mut first[i], &chunks[i]);
        }
        let mut second = [IV; 2];
        for i in 0..2 {
            for (bytes, word) in digests[i][..32].chunks_exact_mut(4).zip(&first[i]) {
                bytes.copy_from_slice(&word.to_be_bytes());
            }
            sha256::compress(&mut second[i], &digests[i]);
        }
        for i in 0..2 {
            if (nonce + i as u64) < range.end && second[i][7].swap_bytes() <= bound {
                candidates.push(pair[i]);
            }
        }
        nonce += 2;
    }
}
