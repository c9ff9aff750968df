//! Share and block targets: difficulty <-> target (fractional difficulties
//! included, down to the regtest block target), compact bits, and the check
//! that a header hash meets a target.
//!
//! Bitcoin compares a header hash as a little-endian 256-bit number, so the
//! hash's most significant 32 bits are its last four bytes; engines reject
//! early on that word ([`ShareTarget::top_word`]) before a full comparison.

use bitcoin::hashes::Hash;
use bitcoin::pow::{CompactTarget, Target};
use bitcoin::BlockHash;

/// Errors from converting user-supplied difficulties.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    /// The difficulty was zero, negative, infinite or NaN.
    #[error("difficulty must be a finite number greater than zero, got {0}")]
    InvalidDifficulty(f64),
}

/// The target a hash must not exceed, with its top word cached for engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareTarget {
    target: Target,
    top: u32,
}

impl ShareTarget {
    /// Wraps a full target.
    pub fn new(target: Target) -> Self {
        let be = target.to_be_bytes();
        let top = u32::from_be_bytes(be[..4].try_into().unwrap());
        Self { target, top }
    }

    /// The target for a pool difficulty: `difficulty_1_target / difficulty`,
    /// rounded down; difficulties below the easiest possible target clamp to it.
    pub fn from_difficulty(difficulty: f64) -> Result<Self, TargetError> {
        Ok(Self::new(target_from_difficulty(difficulty)?))
    }

    /// The target encoded by a header's compact `bits` field.
    pub fn from_compact(bits: CompactTarget) -> Self {
        Self::new(Target::from_compact(bits))
    }

    /// The full 256-bit target.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The target's most significant 32 bits: a hash whose top word is above
    /// this cannot meet the target.
    pub fn top_word(&self) -> u32 {
        self.top
    }

    /// The pool difficulty of this target: `difficulty_1_target / target`.
    pub fn difficulty(&self) -> f64 {
        self.target.difficulty_float()
    }

    /// Whether a raw double-SHA256 digest (as hashed, not reversed) meets the target.
    pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
        self.target.is_met_by(BlockHash::from_byte_array(*hash))
    }
}

/// The top 32 bits of a hash read as Bitcoin's little-endian 256-bit number.
pub fn hash_top_word(hash: &[u8; 32]) -> u32 {
    u32::from_le_bytes(hash[28..32].try_into().unwrap())
}

/// `floor(0xffff * 2^208 / difficulty)`, clamped to `2^256 - 1`.
fn target_from_difficulty(difficulty: f64) -> Result<Target, TargetError> {
    if !(difficulty.is_finite() && difficulty > 0.0) {
        return Err(TargetError::InvalidDifficulty(difficulty));
    }
    // difficulty = m * 2^e exactly, with m a 53-bit integer.
    let bits = difficulty.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    // target = 0xffff * 2^(208 - e) / m, computed in 320 bits.
    let shift = 208 - e;
    if shift > 300 {
        return Ok(Target::from_be_bytes([0xff; 32]));
    }
    let mut limbs = [0u64; 5]; // little-endian 64-bit limbs
    if shift >= 0 {
        let (word, bit) = ((shift / 64) as usize, shift % 64);
        let wide = (0xffffu128) << bit;
        limbs[word] = wide as u64;
        if word + 1 < limbs.len() {
            limbs[word + 1] = (wide >> 64) as u64;
        }
    } else if shift > -16 {
        limbs[0] = 0xffff >> (-shift);
    }
    let mut rem = 0u128;
    for limb in limbs.iter_mut().rev() {
        let cur = (rem << 64) | u128::from(*limb);
        *limb = (cur / u128::from(m)) as u64;
        rem = cur % u128::from(m);
    }
    if limbs[4] != 0 {
        return Ok(Target::from_be_bytes([0xff; 32]));
    }
    let mut be = [0u8; 32];
    for (i, limb) in limbs[..4].iter().enumerate() {
        be[32 - 8 * (i + 1)..32 - 8 * i].copy_from_slice(&limb.to_be_bytes());
    }
    Ok(Target::from_be_bytes(be))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_target(t: Target) -> String {
        hex::encode(t.to_be_bytes())
    }

    #[test]
    fn difficulty_one_is_the_classic_target() {
        let t = ShareTarget::from_difficulty(1.0).unwrap();
        assert_eq!(t.target(), Target::MAX);
        assert_eq!(
            hex_target(t.target()),
            "00000000ffff0000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(t.top_word(), 0);
        assert!((t.difficulty() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fractional_and_large_difficulties() {
        let half = ShareTarget::from_difficulty(0.5).unwrap();
        assert_eq!(
            hex_target(half.target()),
            "00000001fffe0000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(half.top_word(), 1);
        let tiny = ShareTarget::from_difficulty(1.0 / 65536.0).unwrap();
        assert_eq!(tiny.top_word(), 0xffff);
        let big = ShareTarget::from_difficulty(65536.0).unwrap();
        assert_eq!(
            hex_target(big.target()),
            "000000000000ffff000000000000000000000000000000000000000000000000"
        );
        let third = ShareTarget::from_difficulty(3.0).unwrap();
        assert_eq!(
            hex_target(third.target()),
            "0000000055550000000000000000000000000000000000000000000000000000"
        );
    }

    #[test]
    fn regtest_block_target_round_trips_and_tiny_difficulty_clamps() {
        let regtest = ShareTarget::from_compact(CompactTarget::from_consensus(0x207fffff));
        assert_eq!(regtest.top_word(), 0x7fffff00);
        let again = ShareTarget::from_difficulty(regtest.difficulty()).unwrap();
        // The float round trip loses only low bits.
        assert!(regtest.top_word().abs_diff(again.top_word()) <= 0x100);
        let clamped = ShareTarget::from_difficulty(1e-300).unwrap();
        assert_eq!(clamped.top_word(), u32::MAX);
    }

    #[test]
    fn invalid_difficulties_are_errors() {
        for d in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(ShareTarget::from_difficulty(d).is_err(), "{d}");
        }
    }

    #[test]
    fn hash_comparison_uses_little_endian_order() {
        let t = ShareTarget::from_difficulty(1.0).unwrap();
        let mut hash = [0xffu8; 32];
        hash[28..32].copy_from_slice(&[0, 0, 0, 0]);
        hash[26..28].copy_from_slice(&[0xff, 0xfe]); // just under 0x0000_0000_ffff_....
        assert!(t.is_met_by(&hash));
        assert_eq!(hash_top_word(&hash), 0);
        hash[28] = 1;
        assert!(!t.is_met_by(&hash));
        assert_eq!(hash_top_word(&hash), 1);
    }
}
