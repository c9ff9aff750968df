//! The coinbase budget: how much room a block template leaves for the coinbase, and how many
//! payout outputs fit in it.
//!
//! Three limits bind the coinbase, all computed exactly (so no safety margin is taken; the
//! built coinbase is checked against them once more, [`CoinbaseBudget::check`]):
//! * block weight: `weightlimit` (default 4,000,000) minus the header (80 * 4), the block's
//!   transaction-count varint (* 4) and the weight of every template transaction (a
//!   transaction without `weight` counts as `4 * its size`, an upper bound);
//! * block sigop cost: `sigoplimit` (default 80,000, in cost units) minus every template
//!   transaction's `sigops` (absent: 0). The coinbase's own cost is its legacy sigops * 4
//!   ([`crate::coinbase::legacy_sigop_cost`]): P2PKH and P2PK outputs cost 4, bare multisig
//!   80, P2SH and segwit outputs nothing;
//! * the stratum line: the `mining.notify` line (coinb1 and coinb2 in hex, the merkle branch,
//!   the worst-case job id) must fit the miners' line limit
//!   ([`stratum::DEFAULT_MAX_LINE_LEN`] by default).
//!
//! The coinbase's weight is its non-witness size * 4 plus, when segwit, the marker, flag and
//! the 32-byte witness reserved value; each payout output adds `4 * TxOut::size()` weight,
//! `2 * TxOut::size()` line bytes and its sigop cost, and the output-count varint grows at 253
//! outputs. [`CoinbaseBudget::max_prefix`] is the longest run of payouts, in the order given,
//! that fits; [`crate::payouts`] ranks the payees and folds the rest (see its rules).

use bitcoin::consensus::encode::VarInt;
use bitcoin::{ScriptBuf, TxOut, Weight, Witness};
use stratum::{Message, Notify, ServerMessage};

use crate::coinbase::{
    legacy_sigop_cost, unsigned_transaction, CoinbaseConfig, CoinbaseError, CoinbaseParts,
    WITNESS_RESERVED_VALUE, WITNESS_SCALE_FACTOR,
};
use crate::jobs::merkle_branch_len;
use crate::upstream::BlockTemplate;

/// Block weight limit when the template gives none (`MAX_BLOCK_WEIGHT`).
pub const DEFAULT_WEIGHT_LIMIT: u64 = 4_000_000;
/// Block sigop cost limit when the template gives none (`MAX_BLOCK_SIGOPS_COST`).
pub const DEFAULT_SIGOP_LIMIT: u64 = 80_000;
/// Weight of the block header (80 bytes, no witness).
pub const HEADER_WEIGHT: u64 = 80 * WITNESS_SCALE_FACTOR;
/// The longest job id [`crate::jobs::JobBook`] hands out (a `u64` in hex).
const WORST_JOB_ID: &str = "ffffffffffffffff";

/// The room one template leaves for its coinbase, and what the coinbase costs without payouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinbaseBudget {
    /// Weight the coinbase may have.
    pub weight_room: u64,
    /// Sigop cost the coinbase may have.
    pub sigop_room: u64,
    /// The longest `mining.notify` line.
    pub line_room: usize,
    /// The coinbase without payout outputs: weight, sigop cost, notify line length.
    base_weight: u64,
    base_sigop_cost: u64,
    base_line_len: usize,
    /// The notify line with empty coinb1 and coinb2.
    line_overhead: usize,
    /// Outputs besides the payouts (the witness commitment).
    fixed_outputs: usize,
}

/// `limit - used`, `None` when the template's transactions alone exceed the limit.
fn room(limit: u64, used: u64) -> Option<u64> {
    limit.checked_sub(used)
}

impl CoinbaseBudget {
    /// The budget of `template` for a coinbase laid out by `config`, with notify lines of at
    /// most `max_line_len` bytes.
    pub fn new(
        template: &BlockTemplate,
        config: &CoinbaseConfig,
        max_line_len: usize,
    ) -> Result<Self, CoinbaseError> {
        let txs = &template.transactions;
        let tx_weight: u64 = txs
            .iter()
            .map(|t| {
                t.weight
                    .unwrap_or(t.data.len() as u64 * WITNESS_SCALE_FACTOR)
            })
            .sum();
        let tx_sigops: u64 = txs.iter().map(|t| t.sigops.unwrap_or(0)).sum();
        let count_varint = VarInt(1 + txs.len() as u64).size() as u64;
        let weight_limit = template.weightlimit.unwrap_or(DEFAULT_WEIGHT_LIMIT);
        let sigop_limit = template.sigoplimit.unwrap_or(DEFAULT_SIGOP_LIMIT);
        let block_weight = HEADER_WEIGHT + count_varint * WITNESS_SCALE_FACTOR + tx_weight;
        let weight_room = room(weight_limit, block_weight);
        let sigop_room = room(sigop_limit, tx_sigops);

        let commitment = template.default_witness_commitment.as_ref();
        let (mut tx, _) = unsigned_transaction(config, template.height, vec![], commitment)?;
        let slot = config.extranonce1_size + config.extranonce2_size;
        let base_bytes = bitcoin::consensus::encode::serialize(&tx).len() - slot;
        if commitment.is_some() {
            tx.input[0].witness = Witness::from_slice(&[WITNESS_RESERVED_VALUE]);
        }
        let notify = Notify {
            job_id: WORST_JOB_ID.into(),
            prevhash: template.previousblockhash,
            coinb1: vec![],
            coinb2: vec![],
            merkle_branch: vec![[0; 32]; merkle_branch_len(txs.len())],
            version: template.version,
            nbits: template.bits,
            ntime: template.curtime,
            clean_jobs: false,
        };
        let line_overhead = notify_line_len(notify);
        let budget = Self {
            weight_room: weight_room.unwrap_or(0),
            sigop_room: sigop_room.unwrap_or(0),
            line_room: max_line_len,
            base_weight: tx.weight().to_wu(),
            base_sigop_cost: legacy_sigop_cost(&tx),
            base_line_len: line_overhead + 2 * base_bytes,
            line_overhead,
            fixed_outputs: tx.output.len(),
        };
        if weight_room.is_none() || sigop_room.is_none() {
            // The template's own transactions exceed a limit: report what they use.
            return Err(budget.full(0, block_weight, tx_sigops, budget.base_line_len));
        }
        Ok(budget)
    }

    /// No limits at all (tests, tools that build coinbases outside a template).
    pub fn unlimited() -> Self {
        Self {
            weight_room: u64::MAX,
            sigop_room: u64::MAX,
            line_room: usize::MAX,
            base_weight: 0,
            base_sigop_cost: 0,
            base_line_len: 0,
            line_overhead: 0,
            fixed_outputs: 0,
        }
    }

    fn full(&self, outputs: usize, weight: u64, sigop_cost: u64, line_len: usize) -> CoinbaseError {
        CoinbaseError::TemplateFull {
            outputs,
            weight,
            weight_room: self.weight_room,
            sigop_cost,
            sigop_room: self.sigop_room,
            line_len,
            line_room: self.line_room,
        }
    }

    /// The longest prefix of payouts to `scripts` (in that order) that fits every limit; 0
    /// when not even the first does.
    pub fn max_prefix<'a>(&self, scripts: impl IntoIterator<Item = &'a ScriptBuf>) -> usize {
        let base_count = VarInt(self.fixed_outputs as u64).size() as u64;
        let (mut bytes, mut sigops) = (0u64, self.base_sigop_cost);
        let mut fitting = 0;
        for (i, script) in scripts.into_iter().enumerate() {
            let out = TxOut {
                value: bitcoin::Amount::ZERO,
                script_pubkey: script.clone(),
            };
            bytes += out.size() as u64;
            sigops =
                sigops.saturating_add(script.count_sigops_legacy() as u64 * WITNESS_SCALE_FACTOR);
            let count = VarInt((self.fixed_outputs + i + 1) as u64).size() as u64;
            let grown = bytes + count - base_count;
            let weight = self
                .base_weight
                .saturating_add(grown * WITNESS_SCALE_FACTOR);
            let line = self.base_line_len.saturating_add(2 * grown as usize);
            if weight > self.weight_room || sigops > self.sigop_room || line > self.line_room {
                break;
            }
            fitting = i + 1;
        }
        fitting
    }

    /// The `mining.notify` line length of a job with `parts` on this template.
    pub fn line_len(&self, parts: &CoinbaseParts) -> usize {
        self.line_overhead + 2 * (parts.coinb1.len() + parts.coinb2.len())
    }

    /// Checks a built coinbase against every limit, from its real serialization.
    pub fn check(&self, parts: &CoinbaseParts, outputs: usize) -> Result<(), CoinbaseError> {
        let weight: Weight = parts.weight();
        let sigop_cost = parts.sigop_cost();
        let line = self.line_len(parts);
        if weight.to_wu() > self.weight_room
            || sigop_cost > self.sigop_room
            || line > self.line_room
        {
            return Err(self.full(outputs, weight.to_wu(), sigop_cost, line));
        }
        Ok(())
    }

    /// The error for a template where not even one payout to `script` fits.
    pub(crate) fn no_room(&self, script: &ScriptBuf) -> CoinbaseError {
        let out = TxOut {
            value: bitcoin::Amount::ZERO,
            script_pubkey: script.clone(),
        };
        let grown = out.size() as u64 + VarInt(self.fixed_outputs as u64 + 1).size() as u64
            - VarInt(self.fixed_outputs as u64).size() as u64;
        self.full(
            1,
            self.base_weight + grown * WITNESS_SCALE_FACTOR,
            self.base_sigop_cost + script.count_sigops_legacy() as u64 * WITNESS_SCALE_FACTOR,
            self.base_line_len + 2 * grown as usize,
        )
    }
}

/// The length of the serialized `mining.notify` line (without its newline).
pub fn notify_line_len(notify: Notify) -> usize {
    Message::from(ServerMessage::Notify(notify).into_notification())
        .to_line()
        .len()
}

/// How many payees paid to `scripts` (in this order: the pool pays the largest first) fit the
/// coinbase of `template`, laid out by `config`, with notify lines of at most `max_line_len`
/// bytes ([`stratum::DEFAULT_MAX_LINE_LEN`] for the proxy's default). An integration test can
/// pick N = this and N + 1 to see the cap bite.
pub fn max_payees(
    template: &BlockTemplate,
    config: &CoinbaseConfig,
    max_line_len: usize,
    scripts: &[ScriptBuf],
) -> Result<usize, CoinbaseError> {
    Ok(CoinbaseBudget::new(template, config, max_line_len)?.max_prefix(scripts))
}
