//! The coinbase transaction of a job, split for stratum v1 as
//! `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`.
//!
//! The transaction is built with `bitcoin` types and serialized with `consensus::encode`; the
//! split points are then found around a placeholder push in the scriptSig, so no byte layout is
//! re-derived here. The scriptSig is, as pushes:
//!
//! 1. the BIP34 height, encoded exactly as Bitcoin Core's `CScript() << nHeight` (`OP_1` ..
//!    `OP_16` for heights 1 to 16, a minimal `CScriptNum` push from 17 on);
//! 2. the operator's tag, if any (bounded so the whole scriptSig stays within 100 bytes);
//! 3. the extranonce slot, one push of `extranonce1_size + extranonce2_size` bytes that the
//!    session's extranonce1 and the miner's extranonce2 fill.
//!
//! Outputs are the payout outputs (see [`crate::payouts`]) followed, when the template has a
//! `default_witness_commitment`, by that commitment output (value 0, last, as Core places it).
//! `coinb1`/`coinb2` are always the *non-witness* serialization, which is what the txid and
//! the merkle root commit to; a segwit block's coinbase additionally carries the witness
//! reserved value (32 zero bytes) as its input witness, which [`CoinbaseParts::transaction`]
//! adds when assembling the block.

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode;
use bitcoin::hashes::{Hash, HashEngine};
use bitcoin::script::{Builder, PushBytes, PushBytesBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Weight, Witness,
};

/// Default size of the per-session extranonce1, in bytes.
pub const DEFAULT_EXTRANONCE1_SIZE: usize = 4;
/// Default size of the miner-rolled extranonce2, in bytes.
pub const DEFAULT_EXTRANONCE2_SIZE: usize = 4;
/// Consensus limit on a coinbase scriptSig (and its minimum is 2).
pub const MAX_SCRIPT_SIG_LEN: usize = 100;
/// Largest extranonce2 size stratum lets a server announce.
pub const MAX_EXTRANONCE2_SIZE: usize = 32;
/// The witness reserved value a segwit coinbase carries (BIP141), all zeros.
pub const WITNESS_RESERVED_VALUE: [u8; 32] = [0u8; 32];

/// How the coinbase scriptSig is laid out, apart from the height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinbaseConfig {
    /// Operator tag pushed after the height (e.g. `b"/mesos-miner/"`); may be empty.
    pub tag: Vec<u8>,
    /// Bytes of extranonce1 (per session).
    pub extranonce1_size: usize,
    /// Bytes of extranonce2 (rolled by the miner).
    pub extranonce2_size: usize,
}

impl Default for CoinbaseConfig {
    fn default() -> Self {
        Self {
            tag: b"/mesos-miner/".to_vec(),
            extranonce1_size: DEFAULT_EXTRANONCE1_SIZE,
            extranonce2_size: DEFAULT_EXTRANONCE2_SIZE,
        }
    }
}

impl CoinbaseConfig {
    /// The longest tag that fits with these extranonce sizes at any height up to 2^31 - 1
    /// (a 5-byte height push).
    pub fn max_tag_len(&self) -> usize {
        // height push (<= 5) + tag push (1 or 2 opcode bytes + tag) + slot push (1 + slot).
        let slot = self.extranonce1_size + self.extranonce2_size;
        let fixed = 5 + 1 + slot;
        let room = MAX_SCRIPT_SIG_LEN.saturating_sub(fixed);
        // A tag above 75 bytes needs OP_PUSHDATA1 (two opcode bytes).
        if room > 76 {
            room - 2
        } else {
            room.saturating_sub(1)
        }
    }
}

/// Why a coinbase could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoinbaseError {
    /// The scriptSig would exceed (or fall below) the consensus bounds.
    #[error("coinbase scriptSig would be {len} bytes (allowed 2..={MAX_SCRIPT_SIG_LEN}); shorten the tag")]
    ScriptSigLength {
        /// Length it would have had.
        len: usize,
    },
    /// An extranonce size out of range.
    #[error("extranonce sizes {extranonce1} + {extranonce2} invalid (extranonce2 at most {MAX_EXTRANONCE2_SIZE}, total at least 1)")]
    ExtranonceSize {
        /// extranonce1 size.
        extranonce1: usize,
        /// extranonce2 size.
        extranonce2: usize,
    },
    /// Outputs pay more than the template allows.
    #[error("outputs pay {paid} but the coinbase value is {value}")]
    Overpaying {
        /// Sum of outputs.
        paid: Amount,
        /// The template's coinbase value.
        value: Amount,
    },
    /// No payout output at all.
    #[error("a coinbase needs at least one payout output")]
    NoOutputs,
    /// The extranonces given do not have the configured sizes.
    #[error(
        "extranonces of {extranonce1} + {extranonce2} bytes, expected {expected1} + {expected2}"
    )]
    ExtranonceMismatch {
        /// Given extranonce1 size.
        extranonce1: usize,
        /// Given extranonce2 size.
        extranonce2: usize,
        /// Configured extranonce1 size.
        expected1: usize,
        /// Configured extranonce2 size.
        expected2: usize,
    },
    /// The template leaves too little room for the coinbase (see [`crate::budget`]): even a
    /// coinbase with `outputs` payout output(s) would break a block or stratum limit.
    #[error(
        "the template leaves no room for a coinbase with {outputs} payout output(s): \
         weight {weight} of {weight_room} WU, sigop cost {sigop_cost} of {sigop_room}, \
         mining.notify line {line_len} of {line_room} bytes"
    )]
    TemplateFull {
        /// Payout outputs tried.
        outputs: usize,
        /// The coinbase's weight.
        weight: u64,
        /// Weight the template leaves.
        weight_room: u64,
        /// The coinbase's sigop cost.
        sigop_cost: u64,
        /// Sigop cost the template leaves.
        sigop_room: u64,
        /// The `mining.notify` line length.
        line_len: usize,
        /// The line limit.
        line_room: usize,
    },
    /// The reassembled bytes did not decode (cannot happen for parts built here).
    #[error("coinbase does not decode: {0}")]
    Decode(String),
}

/// The coinbase of one job, split around the extranonce slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinbaseParts {
    /// Serialized (non-witness) transaction bytes before extranonce1.
    pub coinb1: Vec<u8>,
    /// Serialized (non-witness) transaction bytes after extranonce2.
    pub coinb2: Vec<u8>,
    /// Size of extranonce1 in bytes.
    pub extranonce1_size: usize,
    /// Size of extranonce2 in bytes.
    pub extranonce2_size: usize,
    /// Whether the block needs the coinbase witness (the template had a witness commitment).
    pub segwit: bool,
}

/// The sigop cost of a coinbase, as Core counts it: legacy sigops (`GetLegacySigOpCount`,
/// inaccurate mode: `OP_CHECKMULTISIG` counts 20) in its scriptSig and output scripts, times
/// the witness scale factor 4. A coinbase spends nothing, so it has no P2SH or witness sigops;
/// P2SH, P2WPKH, P2WSH and P2TR outputs count 0, P2PKH and P2PK 4, bare multisig 80.
pub fn legacy_sigop_cost(tx: &Transaction) -> u64 {
    let inputs = tx.input.iter().map(|i| i.script_sig.count_sigops_legacy());
    let outputs = tx
        .output
        .iter()
        .map(|o| o.script_pubkey.count_sigops_legacy());
    inputs.chain(outputs).sum::<usize>() as u64 * WITNESS_SCALE_FACTOR
}

/// The witness scale factor (BIP141): weight per non-witness byte, sigop cost per legacy sigop.
pub const WITNESS_SCALE_FACTOR: u64 = bitcoin::constants::WITNESS_SCALE_FACTOR as u64;

/// The BIP34 height push as Core writes it (`CScript() << nHeight`).
pub fn bip34_height_script(height: u32) -> ScriptBuf {
    Builder::new().push_int(i64::from(height)).into_script()
}

/// The coinbase transaction (no witness yet) for `height` with `outputs` and, when given,
/// the witness commitment as the last output; the extranonce slot is zeros. Returns it with
/// its scriptSig. [`CoinbaseParts::build`] splits it; [`crate::budget`] measures it.
pub(crate) fn unsigned_transaction(
    config: &CoinbaseConfig,
    height: u32,
    outputs: Vec<TxOut>,
    witness_commitment: Option<&ScriptBuf>,
) -> Result<(Transaction, ScriptBuf), CoinbaseError> {
    let slot = config.extranonce1_size + config.extranonce2_size;
    let too_long = |len| CoinbaseError::ScriptSigLength { len };
    let mut builder = Builder::new().push_int(i64::from(height));
    if !config.tag.is_empty() {
        let tag = <&PushBytes>::try_from(config.tag.as_slice())
            .map_err(|_| too_long(config.tag.len()))?;
        builder = builder.push_slice(tag);
    }
    let placeholder = PushBytesBuf::try_from(vec![0u8; slot]).map_err(|_| too_long(slot))?;
    let script_sig = builder.push_slice(placeholder).into_script();
    if !(2..=MAX_SCRIPT_SIG_LEN).contains(&script_sig.len()) {
        return Err(too_long(script_sig.len()));
    }

    let mut output = outputs;
    if let Some(commitment) = witness_commitment {
        output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: commitment.clone(),
        });
    }
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: script_sig.clone(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output,
    };
    Ok((tx, script_sig))
}

impl CoinbaseParts {
    /// Builds the coinbase for a block at `height` paying `payouts` (which must not exceed
    /// `value`; payouts summing to less leave the difference to fees burnt, which callers
    /// avoid by using [`crate::payouts`]). `witness_commitment` is the template's
    /// `default_witness_commitment` script, appended as the last output when present.
    pub fn build(
        config: &CoinbaseConfig,
        height: u32,
        value: Amount,
        payouts: Vec<TxOut>,
        witness_commitment: Option<&ScriptBuf>,
    ) -> Result<Self, CoinbaseError> {
        let (en1, en2) = (config.extranonce1_size, config.extranonce2_size);
        let slot = en1 + en2;
        if en2 > MAX_EXTRANONCE2_SIZE || slot == 0 {
            return Err(CoinbaseError::ExtranonceSize {
                extranonce1: en1,
                extranonce2: en2,
            });
        }
        if payouts.is_empty() {
            return Err(CoinbaseError::NoOutputs);
        }
        let paid = payouts
            .iter()
            .try_fold(Amount::ZERO, |acc, o| acc.checked_add(o.value));
        match paid {
            Some(paid) if paid <= value => {}
            _ => {
                return Err(CoinbaseError::Overpaying {
                    paid: paid.unwrap_or(Amount::MAX),
                    value,
                })
            }
        }

        let (tx, script_sig) = unsigned_transaction(config, height, payouts, witness_commitment)?;
        // No witness yet, so this is the non-witness serialization.
        let bytes = encode::serialize(&tx);
        // version (4) | input count (1) | outpoint (36) | scriptSig length varint | scriptSig.
        let script_start = 4 + 1 + 36 + encode::VarInt(script_sig.len() as u64).size();
        let slot_start = script_start + script_sig.len() - slot;
        debug_assert!(bytes[slot_start..slot_start + slot].iter().all(|b| *b == 0));
        Ok(Self {
            coinb1: bytes[..slot_start].to_vec(),
            coinb2: bytes[slot_start + slot..].to_vec(),
            extranonce1_size: en1,
            extranonce2_size: en2,
            segwit: witness_commitment.is_some(),
        })
    }

    fn check_sizes(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Result<(), CoinbaseError> {
        if extranonce1.len() == self.extranonce1_size && extranonce2.len() == self.extranonce2_size
        {
            Ok(())
        } else {
            Err(CoinbaseError::ExtranonceMismatch {
                extranonce1: extranonce1.len(),
                extranonce2: extranonce2.len(),
                expected1: self.extranonce1_size,
                expected2: self.extranonce2_size,
            })
        }
    }

    /// The non-witness serialization with the extranonces filled in.
    pub fn serialize(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.coinb1.len() + extranonce1.len() + extranonce2.len() + self.coinb2.len(),
        );
        out.extend_from_slice(&self.coinb1);
        out.extend_from_slice(extranonce1);
        out.extend_from_slice(extranonce2);
        out.extend_from_slice(&self.coinb2);
        out
    }

    /// The coinbase txid for these extranonces, hashed piecewise (no allocation).
    pub fn txid(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Txid {
        let mut engine = Txid::engine();
        engine.input(&self.coinb1);
        engine.input(extranonce1);
        engine.input(extranonce2);
        engine.input(&self.coinb2);
        Txid::from_engine(engine)
    }

    /// The coinbase's weight in the block, witness reserved value included when segwit.
    pub fn weight(&self) -> Weight {
        let (en1, en2) = (
            vec![0; self.extranonce1_size],
            vec![0; self.extranonce2_size],
        );
        self.transaction(&en1, &en2)
            .map(|tx| tx.weight())
            .unwrap_or(Weight::MAX)
    }

    /// The coinbase's sigop cost ([`legacy_sigop_cost`]; the extranonces are data pushes and
    /// count nothing).
    pub fn sigop_cost(&self) -> u64 {
        let (en1, en2) = (
            vec![0; self.extranonce1_size],
            vec![0; self.extranonce2_size],
        );
        self.transaction(&en1, &en2)
            .map(|tx| legacy_sigop_cost(&tx))
            .unwrap_or(u64::MAX)
    }

    /// The coinbase transaction as it goes into the block: decoded from the filled-in bytes,
    /// with the witness reserved value as input witness when the block is segwit.
    pub fn transaction(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
    ) -> Result<Transaction, CoinbaseError> {
        self.check_sizes(extranonce1, extranonce2)?;
        let bytes = self.serialize(extranonce1, extranonce2);
        let mut tx: Transaction =
            encode::deserialize(&bytes).map_err(|e| CoinbaseError::Decode(e.to_string()))?;
        if self.segwit {
            tx.input[0].witness = Witness::from_slice(&[WITNESS_RESERVED_VALUE]);
        }
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::script::Instruction;

    fn payout(sats: u64) -> Vec<TxOut> {
        vec![TxOut {
            value: Amount::from_sat(sats),
            script_pubkey: ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::all_zeros()),
        }]
    }

    #[test]
    fn bip34_heights_match_core_encoding() {
        // Core: CScript() << nHeight. OP_1..OP_16 for 1..=16, else a minimal CScriptNum push
        // (with a zero byte added when the top bit is set, as the sign bit).
        let cases: [(u32, &str); 10] = [
            (1, "51"),
            (16, "60"),
            (17, "0111"),
            (127, "017f"),
            (128, "028000"),
            (255, "02ff00"),
            (256, "020001"),
            (65535, "03ffff00"),
            (65536, "03000001"),
            (800000, "0300350c"),
        ];
        for (height, hex) in cases {
            assert_eq!(
                hex::encode(bip34_height_script(height).as_bytes()),
                hex,
                "height {height}"
            );
        }
    }

    #[test]
    fn parts_reassemble_into_the_transaction() {
        let config = CoinbaseConfig::default();
        for height in [1, 16, 17, 128, 800_000] {
            let parts =
                CoinbaseParts::build(&config, height, Amount::from_sat(50), payout(50), None)
                    .unwrap();
            let (en1, en2) = ([1, 2, 3, 4], [5, 6, 7, 8]);
            let tx = parts.transaction(&en1, &en2).unwrap();
            assert!(tx.is_coinbase());
            assert_eq!(tx.lock_time, LockTime::ZERO);
            assert_eq!(tx.input[0].sequence, Sequence::MAX);
            assert_eq!(tx.compute_txid(), parts.txid(&en1, &en2));
            assert_eq!(encode::serialize(&tx), parts.serialize(&en1, &en2));
            // The scriptSig starts with Core's height push and ends with the extranonces.
            let sig = tx.input[0].script_sig.as_bytes();
            let height_push = bip34_height_script(height);
            assert!(sig.starts_with(height_push.as_bytes()));
            assert!(sig.ends_with(&[1, 2, 3, 4, 5, 6, 7, 8]));
            let pushes: Vec<_> = tx.input[0]
                .script_sig
                .instructions()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(pushes.len(), 3);
            assert!(matches!(pushes[1], Instruction::PushBytes(t) if t.as_bytes() == config.tag));
            assert!(!parts.segwit);
            assert!(tx.input[0].witness.is_empty());
        }
    }

    #[test]
    fn witness_commitment_is_last_and_witness_added() {
        let commitment = ScriptBuf::from_bytes(
            hex::decode(
                "6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9",
            )
            .unwrap(),
        );
        let config = CoinbaseConfig {
            extranonce2_size: 8,
            ..CoinbaseConfig::default()
        };
        let parts = CoinbaseParts::build(
            &config,
            300,
            Amount::from_sat(100),
            payout(100),
            Some(&commitment),
        )
        .unwrap();
        assert!(parts.segwit);
        // coinb1/coinb2 are the non-witness form: no segwit marker after the version.
        assert_ne!(parts.coinb1[4], 0);
        let tx = parts.transaction(&[0; 4], &[9; 8]).unwrap();
        assert_eq!(tx.output.last().unwrap().script_pubkey, commitment);
        assert_eq!(tx.output.last().unwrap().value, Amount::ZERO);
        assert_eq!(tx.input[0].witness.len(), 1);
        assert_eq!(tx.input[0].witness.nth(0).unwrap(), &[0u8; 32]);
        // txid ignores the witness.
        assert_eq!(tx.compute_txid(), parts.txid(&[0; 4], &[9; 8]));
        assert!(parts.transaction(&[0; 4], &[9; 4]).is_err());
    }

    #[test]
    fn tag_is_bounded() {
        let max = CoinbaseConfig::default().max_tag_len();
        let mut config = CoinbaseConfig {
            tag: vec![b'x'; max],
            ..CoinbaseConfig::default()
        };
        // The largest tag fits even at a 5-byte height push.
        let built = CoinbaseParts::build(
            &config,
            i32::MAX as u32,
            Amount::from_sat(1),
            payout(1),
            None,
        )
        .unwrap();
        let tx = built.transaction(&[0; 4], &[0; 4]).unwrap();
        assert!(tx.input[0].script_sig.len() <= MAX_SCRIPT_SIG_LEN);
        config.tag.push(b'x');
        assert!(matches!(
            CoinbaseParts::build(
                &config,
                i32::MAX as u32,
                Amount::from_sat(1),
                payout(1),
                None
            ),
            Err(CoinbaseError::ScriptSigLength { .. })
        ));
        // The bound is exact for every extranonce2 size.
        for extranonce2_size in 1..=MAX_EXTRANONCE2_SIZE {
            let mut config = CoinbaseConfig {
                extranonce2_size,
                ..CoinbaseConfig::default()
            };
            config.tag = vec![b'y'; config.max_tag_len()];
            let parts =
                CoinbaseParts::build(&config, 1 << 30, Amount::ZERO, payout(0), None).unwrap();
            let len = parts
                .transaction(&[0; 4], &vec![0; extranonce2_size])
                .unwrap()
                .input[0]
                .script_sig
                .len();
            assert!(
                len == MAX_SCRIPT_SIG_LEN || len == MAX_SCRIPT_SIG_LEN - 1,
                "{len}"
            );
            config.tag.push(b'y');
            assert!(CoinbaseParts::build(&config, 1 << 30, Amount::ZERO, payout(0), None).is_err());
        }
        let config = CoinbaseConfig {
            tag: vec![b'x'; max + 1],
            ..CoinbaseConfig::default()
        };
        assert!(matches!(
            CoinbaseParts::build(
                &config,
                i32::MAX as u32,
                Amount::from_sat(1),
                payout(1),
                None
            ),
            Err(CoinbaseError::ScriptSigLength { .. })
        ));
    }

    #[test]
    fn rejects_bad_inputs() {
        let config = CoinbaseConfig::default();
        assert_eq!(
            CoinbaseParts::build(&config, 1, Amount::from_sat(1), vec![], None),
            Err(CoinbaseError::NoOutputs)
        );
        assert!(matches!(
            CoinbaseParts::build(&config, 1, Amount::from_sat(1), payout(2), None),
            Err(CoinbaseError::Overpaying { .. })
        ));
        let bad = CoinbaseConfig {
            extranonce2_size: 33,
            ..CoinbaseConfig::default()
        };
        assert!(matches!(
            CoinbaseParts::build(&bad, 1, Amount::from_sat(1), payout(1), None),
            Err(CoinbaseError::ExtranonceSize { .. })
        ));
    }
}
