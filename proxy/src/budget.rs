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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::tests::fake_template;
    use crate::jobs::Job;
    use crate::payouts::{PayoutConfig, PplnsWindow};
    use crate::upstream::TemplateTransaction;
    use bitcoin::hashes::Hash;
    use bitcoin::{Amount, PubkeyHash, ScriptHash, Txid, WPubkeyHash};
    use proptest::prelude::*;
    use std::sync::Arc;

    const COMMITMENT: &str =
        "6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9";

    /// A segwit template whose `n` transactions use `weight` and `sigops` in all.
    fn template(n: usize, weight: u64, sigops: u64) -> BlockTemplate {
        let mut t = fake_template(0, 1);
        t.weightlimit = Some(DEFAULT_WEIGHT_LIMIT);
        t.sigoplimit = Some(DEFAULT_SIGOP_LIMIT);
        t.default_witness_commitment =
            Some(ScriptBuf::from_bytes(hex::decode(COMMITMENT).unwrap()));
        t.transactions = (0..n)
            .map(|i| TemplateTransaction {
                data: vec![0; 3],
                txid: Txid::from_byte_array([(i % 251) as u8 + 1; 32]),
                hash: None,
                fee: Amount::ZERO,
                depends: vec![],
                weight: Some(weight / n as u64 + u64::from(i == 0) * (weight % n as u64)),
                sigops: Some(sigops / n as u64 + u64::from(i == 0) * (sigops % n as u64)),
            })
            .collect();
        t
    }

    fn p2wpkh(i: u32) -> ScriptBuf {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h))
    }

    fn p2pkh(i: u32) -> ScriptBuf {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(h))
    }

    fn payouts() -> PayoutConfig {
        PayoutConfig {
            dust: Amount::ZERO,
            ..PayoutConfig::new(p2wpkh(u32::MAX))
        }
    }

    /// A window of `scripts`, each with one share of equal difficulty.
    fn window(scripts: &[ScriptBuf]) -> PplnsWindow {
        let mut w = PplnsWindow::new(crate::payouts::DEFAULT_WINDOW_FACTOR);
        for s in scripts {
            w.add(s.clone(), 1.0);
        }
        w
    }

    /// Builds the job's coinbase and checks the budget against the real transaction.
    fn build(t: &BlockTemplate, outputs: Vec<TxOut>) -> CoinbaseParts {
        CoinbaseParts::build(
            &CoinbaseConfig::default(),
            t.height,
            t.coinbasevalue,
            outputs,
            t.default_witness_commitment.as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn exact_weight_sigops_and_line_of_the_built_coinbase() {
        let t = template(3000, 3_990_000, 79_000);
        let config = CoinbaseConfig::default();
        let budget = CoinbaseBudget::new(&t, &config, stratum::DEFAULT_MAX_LINE_LEN).unwrap();
        // 4M - header - 3-byte tx-count varint - transactions.
        assert_eq!(budget.weight_room, 4_000_000 - 320 - 12 - 3_990_000);
        assert_eq!(budget.sigop_room, 1_000);
        let scripts: Vec<ScriptBuf> = (0..300)
            .map(|i| if i % 3 == 0 { p2pkh(i) } else { p2wpkh(i) })
            .collect();
        for n in [1, 2, 252, 253, 300] {
            let outs: Vec<TxOut> = scripts[..n]
                .iter()
                .map(|s| TxOut {
                    value: Amount::from_sat(1),
                    script_pubkey: s.clone(),
                })
                .collect();
            let parts = build(&t, outs.clone());
            let fits = budget.max_prefix(&scripts[..n]) == n;
            // The arithmetic agrees with the serialized coinbase, the real notify line.
            let job = Job::new(WORST_JOB_ID, Arc::new(t.clone()), parts.clone(), false);
            assert_eq!(
                budget.line_len(&parts),
                notify_line_len(job.notify()),
                "{n}"
            );
            let tx = parts.transaction(&[0; 4], &[0; 4]).unwrap();
            assert_eq!(tx.weight(), parts.weight());
            assert_eq!(parts.sigop_cost(), 4 * (n as u64).div_ceil(3));
            assert_eq!(fits, budget.check(&parts, n).is_ok(), "{n} outputs");
        }
        // Sigops: 1000 / 4 = 250 P2PKH outputs, whatever the weight room.
        let only_p2pkh: Vec<ScriptBuf> = (0..400).map(p2pkh).collect();
        let roomy = template(10, 100_000, 79_000);
        let b = CoinbaseBudget::new(&roomy, &config, usize::MAX).unwrap();
        assert_eq!(b.max_prefix(&only_p2pkh), 250);
    }

    #[test]
    fn p2pkh_payees_are_limited_by_the_sigop_budget() {
        // Core's assembler leaves the coinbase 400 sigop cost: 100 P2PKH outputs.
        let t = template(100, 400_000, DEFAULT_SIGOP_LIMIT - 400);
        let config = CoinbaseConfig::default();
        let scripts: Vec<ScriptBuf> = (0..150).map(p2pkh).collect();
        assert_eq!(
            max_payees(&t, &config, stratum::DEFAULT_MAX_LINE_LEN, &scripts).unwrap(),
            100
        );
        let budget = CoinbaseBudget::new(&t, &config, stratum::DEFAULT_MAX_LINE_LEN).unwrap();
        let outs = window(&scripts[..101])
            .outputs(t.coinbasevalue, &config_p2pkh(), &budget)
            .unwrap();
        assert_eq!(outs.len(), 100);
        let parts = build(&t, outs);
        assert_eq!(parts.sigop_cost(), 400);
        budget.check(&parts, 100).unwrap();
        // P2WPKH payees cost no sigops: many more fit.
        let segwit: Vec<ScriptBuf> = (0..150).map(p2wpkh).collect();
        assert_eq!(budget.max_prefix(&segwit), 150);
    }

    fn config_p2pkh() -> PayoutConfig {
        PayoutConfig {
            dust: Amount::ZERO,
            ..PayoutConfig::new(p2pkh(u32::MAX))
        }
    }

    #[test]
    fn the_largest_window_that_fits_is_all_paid_and_one_more_folds_one() {
        let config = CoinbaseConfig::default();
        // Room for a few dozen outputs of weight.
        let t = template(2000, 4_000_000 - 320 - 12 - 2_000, 0);
        let scripts: Vec<ScriptBuf> = (0..500).map(p2wpkh).collect();
        let n = max_payees(&t, &config, stratum::DEFAULT_MAX_LINE_LEN, &scripts).unwrap();
        assert!(n > 1 && n < 100, "{n}");
        let budget = CoinbaseBudget::new(&t, &config, stratum::DEFAULT_MAX_LINE_LEN).unwrap();
        let all = window(&scripts[..n])
            .outputs(t.coinbasevalue, &payouts(), &budget)
            .unwrap();
        assert_eq!(all.len(), n);
        let over = window(&scripts[..n + 1])
            .outputs(t.coinbasevalue, &payouts(), &budget)
            .unwrap();
        assert_eq!(over.len(), n, "exactly one payee folded");
        assert_eq!(
            over.iter().map(|o| o.value).sum::<Amount>(),
            t.coinbasevalue
        );
        // Equal weights: ranked by script bytes, so the last script is the one folded, into
        // the first (largest amount, smallest script).
        assert!(over.iter().all(|o| o.script_pubkey != scripts[n]));
        let share = t.coinbasevalue.to_sat() / (n as u64 + 1);
        assert!(over[0].value.to_sat() >= 2 * share);
        budget.check(&build(&t, over), n).unwrap();
    }

    #[test]
    fn the_notify_line_limit_caps_payees() {
        let t = template(10, 40_000, 0);
        let config = CoinbaseConfig::default();
        let scripts: Vec<ScriptBuf> = (0..5000).map(p2wpkh).collect();
        let n = max_payees(&t, &config, stratum::DEFAULT_MAX_LINE_LEN, &scripts).unwrap();
        // 31-byte outputs, 62 hex digits each: about 1050 fit in 64 KiB.
        assert!((1000..1100).contains(&n), "{n}");
        let budget = CoinbaseBudget::new(&t, &config, stratum::DEFAULT_MAX_LINE_LEN).unwrap();
        let outs = window(&scripts[..n + 1])
            .outputs(t.coinbasevalue, &payouts(), &budget)
            .unwrap();
        let parts = build(&t, outs);
        let job = Job::new(WORST_JOB_ID, Arc::new(t.clone()), parts, false);
        let line = notify_line_len(job.notify());
        assert!(line <= stratum::DEFAULT_MAX_LINE_LEN, "{line}");
        assert!(
            line + 62 > stratum::DEFAULT_MAX_LINE_LEN,
            "one more would not fit: {line}"
        );
    }

    #[test]
    fn a_full_template_is_an_error_not_a_bad_block() {
        let config = CoinbaseConfig::default();
        let scripts: Vec<ScriptBuf> = (0..3).map(p2wpkh).collect();
        // Room for the coinbase without payouts, not for one 31-byte output more.
        let base = CoinbaseBudget::new(&template(1, 0, 0), &config, usize::MAX)
            .unwrap()
            .base_weight;
        let t = template(1, 4_000_000 - 320 - 4 - base - 4 * 30, 0);
        let budget = CoinbaseBudget::new(&t, &config, usize::MAX).unwrap();
        assert_eq!(budget.max_prefix(&scripts), 0);
        let err = window(&scripts)
            .outputs(t.coinbasevalue, &payouts(), &budget)
            .unwrap_err();
        assert!(
            matches!(err, CoinbaseError::TemplateFull { outputs: 1, .. }),
            "{err}"
        );
        // The empty window (fallback) too.
        let err = PplnsWindow::new(crate::payouts::DEFAULT_WINDOW_FACTOR)
            .outputs(t.coinbasevalue, &payouts(), &budget)
            .unwrap_err();
        assert!(matches!(err, CoinbaseError::TemplateFull { .. }), "{err}");
        // And transactions over the limit by themselves.
        let over = template(2, 4_000_001, 0);
        assert!(matches!(
            CoinbaseBudget::new(&over, &config, usize::MAX),
            Err(CoinbaseError::TemplateFull { outputs: 0, .. })
        ));
        let over = template(2, 1000, 80_001);
        assert!(CoinbaseBudget::new(&over, &config, usize::MAX).is_err());
    }

    fn any_script() -> impl Strategy<Value = ScriptBuf> {
        (0u8..5, any::<u32>()).prop_map(|(kind, i)| match kind {
            0 => p2wpkh(i),
            1 => p2pkh(i),
            2 => ScriptBuf::new_p2sh(&ScriptHash::from_byte_array([i as u8; 20])),
            3 => ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([i as u8; 32])),
            // Bare 1-of-1 multisig: 80 sigop cost.
            _ => bitcoin::script::Builder::new()
                .push_int(1)
                .push_slice([2u8; 33])
                .push_int(1)
                .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
                .into_script(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn outputs_always_fit_and_sum_to_the_value(
            ntx in 1usize..3000,
            used in 3_960_000u64..4_000_000,
            sigops in 79_000u64..80_000,
            scripts in proptest::collection::vec((any_script(), 1e-6f64..10.0), 1..400),
            line in 2_000usize..70_000,
            value in 1u64..2_100_000_000_000_000,
        ) {
            let t = template(ntx, used.min(4_000_000 - 8000), sigops);
            let config = CoinbaseConfig::default();
            let budget = CoinbaseBudget::new(&t, &config, line).unwrap();
            let mut w = PplnsWindow::new(crate::payouts::DEFAULT_WINDOW_FACTOR);
            for (s, d) in &scripts {
                w.add(s.clone(), *d);
            }
            match w.outputs(Amount::from_sat(value), &payouts(), &budget) {
                Ok(outs) => {
                    prop_assert_eq!(outs.iter().map(|o| o.value.to_sat()).sum::<u64>(), value);
                    let n = outs.len();
                    let mut t = t.clone();
                    t.coinbasevalue = Amount::from_sat(value);
                    let parts = build(&t, outs);
                    prop_assert!(budget.check(&parts, n).is_ok());
                    prop_assert!(parts.weight().to_wu() <= budget.weight_room);
                    prop_assert!(parts.sigop_cost() <= budget.sigop_room);
                    let job = Job::new(WORST_JOB_ID, Arc::new(t), parts, false);
                    prop_assert!(notify_line_len(job.notify()) <= line);
                }
                Err(e) => {
                    let is_full = matches!(e, CoinbaseError::TemplateFull { .. });
                    prop_assert!(is_full);
                }
            }
        }
    }
}
