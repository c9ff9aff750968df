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

    for nonce in range {
        let nonce = nonce as u32;
        chunk[12..16].copy_from_slice(&nonce.to_le_bytes());
        let mut first = job.midstate;
        sha256::compress(&mut first, &chunk);
        digest_block[..32].copy_from_slice(&sha256::state_bytes(&first));
        let mut second = IV;
        sha256::compress(&mut second, &digest_block);
        if second[7].swap_bytes() <= bound {
            candidates.push(nonce);
        }
    }
}
