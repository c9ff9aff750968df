//! Hex and byte-order conventions of stratum v1 fields, in one place.
//!
//! Stratum v1 is not consistent about byte order; these are the conventions every deployed
//! pool and miner agrees on, and that the helpers here implement:
//!
//! | field (method) | wire form | relation to the 80-byte block header |
//! | --- | --- | --- |
//! | `prevhash` (notify) | 64 hex digits | the 32 header bytes of the previous block hash (internal order, as hashed), cut into eight 4-byte words, **each word byte-reversed**. Equivalently: the RPC/display hex cut into eight 8-digit words, in reverse word order. |
//! | `version`, `nbits`, `ntime` (notify) | 8 hex digits | the `u32` header value as **big-endian** hex (`"20000000"` for version `0x20000000`); the header stores it little-endian, so the header bytes are the hex bytes reversed. |
//! | `ntime`, `nonce` (submit) | 8 hex digits | same as above: big-endian hex of the `u32`; the header holds `nonce.to_le_bytes()`. |
//! | `version_bits` (submit, BIP310) | 8 hex digits | big-endian hex of the rolled bits; header version = `(job_version & !mask) \| (version_bits & mask)`. |
//! | `coinb1`, `coinb2` (notify) | hex of raw bytes | the coinbase transaction (non-witness serialization) is `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`. |
//! | `extranonce1` (subscribe), `extranonce2` (submit) | hex of raw bytes | inserted as-is, no reversal. |
//! | `merkle_branch[i]` (notify) | 64 hex digits | a 32-byte hash in internal order (as hashed; *not* the reversed RPC/txid display form). The merkle root is folded as `root = sha256d(root ‖ branch[i])`, starting from the coinbase txid bytes. |
//!
//! The helpers return [`ParseError::Hex`] for bad characters or odd length and
//! [`ParseError::HexLength`] for a wrong length, naming the field.

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;

use crate::error::ParseError;

/// Reverses the bytes of each 4-byte word. Its own inverse: header order <-> stratum order.
pub fn swap_words(bytes: [u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (dst, src) in out.chunks_exact_mut(4).zip(bytes.chunks_exact(4)) {
        dst.copy_from_slice(src);
        dst.reverse();
    }
    out
}

/// The stratum `prevhash` hex for a block hash.
pub fn prevhash_to_stratum(hash: &BlockHash) -> String {
    hex::encode(swap_words(hash.to_byte_array()))
}

/// Parses a stratum `prevhash` (64 hex digits, word-swapped) into the block hash.
pub fn prevhash_from_stratum(s: &str) -> Result<BlockHash, ParseError> {
    let bytes = hash_from_hex("prevhash", s)?;
    Ok(BlockHash::from_byte_array(swap_words(bytes)))
}

/// A `u32` header field as stratum writes it: 8 lowercase big-endian hex digits.
pub fn u32_to_hex(value: u32) -> String {
    format!("{value:08x}")
}

/// Parses exactly 8 hex digits (big-endian) into a `u32`.
pub fn u32_from_hex(field: &'static str, s: &str) -> Result<u32, ParseError> {
    let bytes: [u8; 4] = fixed_from_hex(field, s)?;
    Ok(u32::from_be_bytes(bytes))
}

/// Parses a mask such as BIP310's `version-rolling.mask`: 1 to 8 hex digits, big-endian.
/// More lenient than [`u32_from_hex`] because miners are not uniform about leading zeros.
pub fn mask_from_hex(field: &'static str, s: &str) -> Result<u32, ParseError> {
    if s.is_empty() || s.len() > 8 {
        return Err(ParseError::HexLength {
            field,
            expected: 8,
            got: s.len(),
        });
    }
    if let Some((index, c)) = s.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(ParseError::Hex {
            field,
            source: hex::FromHexError::InvalidHexCharacter { c, index },
        });
    }
    // All characters are hex digits and there are at most 8 of them: this cannot fail, but
    // map the error anyway rather than unwrap.
    u32::from_str_radix(s, 16).map_err(|_| ParseError::Type {
        method: "mask",
        field,
        expected: "a 32-bit hex mask",
    })
}

/// Hex of raw bytes (extranonces, coinbase parts).
pub fn bytes_to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Parses hex of raw bytes of any (even) length.
pub fn bytes_from_hex(field: &'static str, s: &str) -> Result<Vec<u8>, ParseError> {
    hex::decode(s).map_err(|source| ParseError::Hex { field, source })
}

/// Parses exactly 64 hex digits into 32 bytes, in the order written (no reversal).
pub fn hash_from_hex(field: &'static str, s: &str) -> Result<[u8; 32], ParseError> {
    fixed_from_hex(field, s)
}

fn fixed_from_hex<const N: usize>(field: &'static str, s: &str) -> Result<[u8; N], ParseError> {
    let bytes = bytes_from_hex(field, s)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| ParseError::HexLength {
        field,
        expected: 2 * N,
        got: s.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn prevhash_word_swap_matches_display_order() {
        // A word-swapped prevhash as it appears in the classic mining.notify example.
        let stratum = "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000";
        let hash = prevhash_from_stratum(stratum).unwrap();
        // The display (RPC) form is the stratum words in reverse word order: a real block
        // hash, with its proof-of-work zeros in front.
        assert_eq!(
            hash.to_string(),
            "00000000440b921e1b77c6c0487ae5616de67f788f44ae2a5af6e2194d16b6f8"
        );
        assert_eq!(prevhash_to_stratum(&hash), stratum);
    }

    #[test]
    fn genesis_hash_round_trip() {
        let genesis =
            BlockHash::from_str("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
                .unwrap();
        let s = prevhash_to_stratum(&genesis);
        // Display words in reverse order.
        assert_eq!(
            s,
            "0a8ce26f72b3f1b646a2a6c14ff763ae65831e939c085ae10019d66800000000"
        );
        assert_eq!(prevhash_from_stratum(&s).unwrap(), genesis);
    }

    #[test]
    fn swap_is_an_involution() {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        assert_eq!(swap_words(swap_words(b)), b);
        assert_eq!(&swap_words(b)[..4], &[3, 2, 1, 0]);
    }

    #[test]
    fn u32_fields_are_big_endian_hex() {
        assert_eq!(u32_to_hex(0x2000_0000), "20000000");
        assert_eq!(u32_to_hex(2), "00000002");
        assert_eq!(u32_from_hex("nbits", "1d00ffff").unwrap(), 0x1d00_ffff);
        assert_eq!(u32_from_hex("ntime", "504E86B9").unwrap(), 0x504e_86b9);
    }

    #[test]
    fn u32_rejects_bad_input() {
        assert!(matches!(
            u32_from_hex("nonce", "1234"),
            Err(ParseError::HexLength {
                field: "nonce",
                expected: 8,
                got: 4
            })
        ));
        assert!(matches!(
            u32_from_hex("nonce", "1234567"),
            Err(ParseError::Hex { field: "nonce", .. })
        ));
        assert!(matches!(
            u32_from_hex("nonce", "zz345678"),
            Err(ParseError::Hex { .. })
        ));
        assert!(matches!(
            u32_from_hex("nonce", "0123456789"),
            Err(ParseError::HexLength { .. })
        ));
    }

    #[test]
    fn masks_are_lenient_about_leading_zeros() {
        assert_eq!(mask_from_hex("mask", "1fffe000").unwrap(), 0x1fff_e000);
        assert_eq!(mask_from_hex("mask", "fff000").unwrap(), 0x00ff_f000);
        assert!(mask_from_hex("mask", "").is_err());
        assert!(mask_from_hex("mask", "123456789").is_err());
        assert!(mask_from_hex("mask", "+1").is_err());
        assert!(mask_from_hex("mask", "é").is_err());
    }

    #[test]
    fn hashes_need_64_digits() {
        assert!(matches!(
            hash_from_hex("merkle_branch", &"ab".repeat(31)),
            Err(ParseError::HexLength {
                expected: 64,
                got: 62,
                ..
            })
        ));
        assert_eq!(hash_from_hex("x", &"01".repeat(32)).unwrap(), [1u8; 32]);
    }
}
