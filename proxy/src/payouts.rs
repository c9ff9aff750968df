//! PPLNS payouts, p2pool style: the coinbase pays the miners of the last accepted shares,
//! measured in **work**, in proportion to their difficulty, directly in the block's outputs.
//!
//! * A share's weight is its expected hash count, `difficulty * 2^32`, as an integer (at least
//!   1), so fractional difficulties (CPU miners, regtest) weigh correctly ([`share_weight`]).
//! * [`PplnsWindow`] pays the newest shares whose weights sum to `factor` times the work of a
//!   block at the current network difficulty ([`PplnsWindow::set_network_difficulty`], set from
//!   each template): `factor * difficulty * 2^32`. The oldest share that straddles the edge
//!   counts for the part of it inside the window only, so the window holds exactly that much
//!   work once enough has been done (as p2pool's `get_cumulative_weights` does). Measured by
//!   work, the window cannot be flooded: a thousand trivial shares weigh what their hashes
//!   weigh, and evict honest work only by doing as much of it. Before the network difficulty is
//!   known (journal replay at start), every share is in the window.
//!
//!   Why [`DEFAULT_WINDOW_FACTOR`] = 3: any factor pays a share its fair expectation (it stays
//!   in the window while `factor` blocks' worth of work is done, so on average `factor` blocks
//!   are found while it is, each paying it `weight / window` of the reward: in all, its
//!   `weight / block work` of one reward). The factor only trades variance against delay and
//!   coinbase size: a longer window smooths each miner's income over more blocks, but pays a
//!   share over a longer time and spreads each coinbase over more payees (see the budget
//!   below). Three blocks is p2pool's choice for Bitcoin (its `SPREAD`).
//!
//!   Shares older than the window are kept while less than [`RETAINED_WINDOWS`] windows of work
//!   was done after them, so that a rise of the network difficulty (at most 4x per Bitcoin
//!   retarget) brings them back into the longer window instead of losing their unpaid work;
//!   older ones are dropped (they stay in the journal).
//! * [`PplnsWindow::outputs`] splits a coinbase value into outputs with integer math only:
//!   1. the operator fee, `value * fee_bps / 10_000` rounded down, goes to the operator script
//!      (when configured);
//!   2. the rest is split by weight with the *largest remainder* rule: each script gets
//!      `floor(rest * w / W)`, then the satoshis left over go one each to the scripts with the
//!      largest fractional remainders (ties: smaller script bytes first);
//!   3. every output below the dust threshold is folded into the largest output (ties:
//!      smaller script bytes first), fee output included;
//!   4. the outputs are capped to the template's coinbase budget ([`crate::budget`]: block
//!      weight, block sigop cost, `mining.notify` line length): ranked by amount, largest
//!      first (ties: smaller script bytes first), the longest run of top-ranked outputs that
//!      fits is paid, and the amounts of the outputs after it are folded into the largest
//!      output. For miners, amount order is weight order (amounts are proportional to weight,
//!      up to the one satoshi of rounding), and the fee output takes its place by amount.
//!      Why this rule: it is the dust rule's (fold into the largest), so a miner can predict
//!      the coinbase from the window; folding into an output that is paid anyway adds no
//!      output, so the budget still holds and the sum stays exact; and the payees dropped are
//!      the smallest, whose loss is the least (they keep their shares in the window for later
//!      blocks). When not even the largest output fits, the split fails with
//!      [`CoinbaseError::TemplateFull`] rather than building an invalid block;
//!   5. outputs to the same script are merged (they already are, by script), and outputs are
//!      sorted by script bytes.
//!
//!   The outputs always sum exactly to the coinbase value and fit the budget (property-tested).
//! * An empty window pays the whole value to the fallback script (within the budget too).

use std::collections::{BTreeMap, HashMap, VecDeque};

use bitcoin::{Address, Amount, Network, ScriptBuf, TxOut};

use crate::budget::CoinbaseBudget;
use crate::coinbase::CoinbaseError;

/// Default window: three blocks' worth of work (see the module docs).
pub const DEFAULT_WINDOW_FACTOR: f64 = 3.0;
/// Shares are kept until this many windows of work came after them (see the module docs).
pub const RETAINED_WINDOWS: u128 = 4;
/// Default dust threshold: 546 sat (P2PKH dust at the default relay fee).
pub const DEFAULT_DUST: Amount = Amount::from_sat(546);
/// Basis points in one.
pub const BPS: u64 = 10_000;

/// Payout policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PayoutConfig {
    /// The window's work in blocks at the network difficulty (positive; see the module docs).
    pub window_factor: f64,
    /// Outputs below this are folded into the largest output.
    pub dust: Amount,
    /// Operator fee in basis points (0..=10_000).
    pub fee_bps: u16,
    /// Where the fee goes; no fee is taken without one.
    pub operator: Option<ScriptBuf>,
    /// Who is paid when the window is empty.
    pub fallback: ScriptBuf,
}

impl PayoutConfig {
    /// A config paying `fallback` when the window is empty, no fee, default window and dust.
    pub fn new(fallback: ScriptBuf) -> Self {
        Self {
            window_factor: DEFAULT_WINDOW_FACTOR,
            dust: DEFAULT_DUST,
            fee_bps: 0,
            operator: None,
            fallback,
        }
    }
}

/// Why a worker name does not give a payout script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    /// Not an address (or not for this network).
    #[error("worker {worker:?} does not start with an address for {network}: {reason}")]
    Address {
        /// The worker name.
        worker: String,
        /// The proxy's network.
        network: Network,
        /// What the parser said.
        reason: String,
    },
}

/// The payout script of a worker named `address` or `address.rig` on `network`.
pub fn payout_script(worker: &str, network: Network) -> Result<ScriptBuf, PayoutError> {
    let address = worker.split('.').next().unwrap_or_default();
    let err = |reason: String| PayoutError::Address {
        worker: worker.to_owned(),
        network,
        reason,
    };
    let address: Address = address
        .parse::<Address<_>>()
        .map_err(|e| err(e.to_string()))?
        .require_network(network)
        .map_err(|e| err(e.to_string()))?;
    Ok(address.script_pubkey())
}

/// The weight of a share at `difficulty`: its expected hash count, at least 1.
pub fn share_weight(difficulty: f64) -> u64 {
    let w = difficulty * 4_294_967_296.0;
    if w.is_nan() || w < 1.0 {
        1
    } else if w >= u64::MAX as f64 {
        u64::MAX
    } else {
        w as u64
    }
}

/// The work of `factor` blocks at `network_difficulty`, in share weight units (at least 1).
pub fn window_work(factor: f64, network_difficulty: f64) -> u128 {
    let w = factor * network_difficulty * 4_294_967_296.0;
    if w.is_nan() || w < 1.0 {
        1
    } else if w >= u128::MAX as f64 {
        u128::MAX
    } else {
        w as u128
    }
}

/// The accepted shares in the PPLNS window (by work; see the module docs) and each script's
/// weight in it.
#[derive(Debug, Clone)]
pub struct PplnsWindow {
    /// Retained shares, oldest first: `(script, weight)`.
    shares: VecDeque<(ScriptBuf, u64)>,
    /// Index of the oldest share wholly inside the window; the one before it, if any, is
    /// inside in part when `inside` falls short of the window.
    start: usize,
    /// The weight of `shares[start..]`.
    inside: u128,
    /// The weight of every retained share.
    retained: u128,
    /// Each script's weight in `shares[start..]`.
    totals: HashMap<ScriptBuf, u128>,
    factor: f64,
    /// The window's work; `None` (unbounded) until the network difficulty is known.
    size: Option<u128>,
}

impl PplnsWindow {
    /// An empty window of `factor` (positive) blocks' work; unbounded until
    /// [`Self::set_network_difficulty`].
    pub fn new(factor: f64) -> Self {
        Self {
            shares: VecDeque::new(),
            start: 0,
            inside: 0,
            retained: 0,
            totals: HashMap::new(),
            factor,
            size: None,
        }
    }

    /// An empty window of `config.window_factor`.
    pub fn from_config(config: &PayoutConfig) -> Self {
        Self::new(config.window_factor)
    }

    /// Sizes the window for blocks at `network_difficulty` (call it with each template).
    /// Ignored unless positive and finite.
    pub fn set_network_difficulty(&mut self, network_difficulty: f64) {
        if network_difficulty.is_finite() && network_difficulty > 0.0 {
            self.size = Some(window_work(self.factor, network_difficulty));
            self.rebalance();
        }
    }

    /// The window's work, once the network difficulty is known.
    pub fn size(&self) -> Option<u128> {
        self.size
    }

    /// Adds an accepted share credited at `difficulty`, moving the window on.
    pub fn add(&mut self, script: ScriptBuf, difficulty: f64) {
        let w = share_weight(difficulty);
        *self.totals.entry(script.clone()).or_default() += u128::from(w);
        self.inside += u128::from(w);
        self.retained += u128::from(w);
        self.shares.push_back((script, w));
        self.rebalance();
    }

    /// Moves `start` so that `shares[start..]` is the longest run of newest shares within the
    /// window (at least the newest share), then drops shares older than the retention.
    fn rebalance(&mut self) {
        let size = self.size.unwrap_or(u128::MAX);
        while self.inside > size && self.start + 1 < self.shares.len() {
            let (script, w) = &self.shares[self.start];
            Self::take(&mut self.totals, script, *w);
            self.inside -= u128::from(*w);
            self.start += 1;
        }
        while self.start > 0 {
            let (script, w) = &self.shares[self.start - 1];
            if self.inside + u128::from(*w) > size {
                break;
            }
            *self.totals.entry(script.clone()).or_default() += u128::from(*w);
            self.inside += u128::from(*w);
            self.start -= 1;
        }
        if let Some(size) = self.size {
            let keep = size.saturating_mul(RETAINED_WINDOWS);
            // Never the share straddling the window's edge (index start - 1) or newer.
            while self.start >= 2 {
                let w = u128::from(self.shares[0].1);
                if self.retained - w < keep {
                    break;
                }
                self.shares.pop_front();
                self.retained -= w;
                self.start -= 1;
            }
        }
    }

    fn take(totals: &mut HashMap<ScriptBuf, u128>, script: &ScriptBuf, w: u64) {
        if let Some(total) = totals.get_mut(script) {
            *total -= u128::from(w);
            if *total == 0 {
                totals.remove(script);
            }
        }
    }

    /// The share straddling the window's edge and the part of its weight inside.
    fn edge(&self) -> Option<(&ScriptBuf, u128)> {
        let size = self.size?;
        let (script, w) = self.shares.get(self.start.checked_sub(1)?)?;
        let part = u128::from(*w).min(size.checked_sub(self.inside)?);
        (part > 0).then_some((script, part))
    }

    /// Shares in the window, wholly or in part.
    pub fn len(&self) -> usize {
        self.shares.len() - self.start + usize::from(self.edge().is_some())
    }

    /// Shares kept: those in the window and the older ones still within the retention. They
    /// are always the newest `retained()` shares added (shares leave oldest first), so a
    /// journal compaction that keeps its newest `retained()` shares keeps all unpaid work.
    pub fn retained(&self) -> usize {
        self.shares.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }

    /// The work in the window: its size once that much work was done (the newest share's
    /// weight, when that alone is more).
    pub fn work(&self) -> u128 {
        self.inside + self.edge().map_or(0, |(_, part)| part)
    }

    /// Each script's weight in the window.
    pub fn weights(&self) -> Vec<(&ScriptBuf, u128)> {
        let edge = self.edge();
        let mut weights: Vec<(&ScriptBuf, u128)> = self
            .totals
            .iter()
            .map(|(s, w)| (s, *w + edge.filter(|(e, _)| *e == s).map_or(0, |(_, p)| p)))
            .collect();
        if let Some((script, part)) = edge {
            if !self.totals.contains_key(script) {
                weights.push((script, part));
            }
        }
        weights
    }

    /// The coinbase outputs for `value` under `config`, within `budget` (see the module docs
    /// for the rules).
    pub fn outputs(
        &self,
        value: Amount,
        config: &PayoutConfig,
        budget: &CoinbaseBudget,
    ) -> Result<Vec<TxOut>, CoinbaseError> {
        split(value, self.weights(), config, budget)
    }
}

/// Splits `value` among `weights` under `config`, within `budget` (see the module docs).
/// Never empty; sums to exactly `value`; sorted by script bytes; an error when not even one
/// output fits the budget.
pub fn split<'a>(
    value: Amount,
    weights: impl IntoIterator<Item = (&'a ScriptBuf, u128)>,
    config: &PayoutConfig,
    budget: &CoinbaseBudget,
) -> Result<Vec<TxOut>, CoinbaseError> {
    // Deterministic order regardless of the map's iteration order.
    let mut miners: Vec<(&ScriptBuf, u128)> = weights.into_iter().filter(|(_, w)| *w > 0).collect();
    miners.sort_by(|a, b| a.0.cmp(b.0));
    let total_sats = value.to_sat();
    if miners.is_empty() {
        if budget.max_prefix([&config.fallback]) == 0 {
            return Err(budget.no_room(&config.fallback));
        }
        return Ok(vec![TxOut {
            value,
            script_pubkey: config.fallback.clone(),
        }]);
    }

    // Keep weights below 2^64 so `rest * w` fits in u128 (rest < 2^51 sat).
    let total_weight: u128 = miners.iter().map(|(_, w)| *w).sum();
    let shift = (128 - total_weight.leading_zeros()).saturating_sub(64);
    let miners: Vec<(&ScriptBuf, u128)> = miners
        .into_iter()
        .map(|(s, w)| (s, (w >> shift).max(1)))
        .collect();
    let total_weight: u128 = miners.iter().map(|(_, w)| *w).sum();

    let mut amounts: BTreeMap<&ScriptBuf, u64> = BTreeMap::new();
    let fee = match &config.operator {
        Some(operator) => {
            let fee = u128::from(total_sats) * u128::from(config.fee_bps.min(BPS as u16))
                / u128::from(BPS);
            let fee = fee as u64;
            if fee > 0 {
                amounts.insert(operator, fee);
            }
            fee
        }
        None => 0,
    };
    let rest = total_sats - fee;

    // Largest remainders.
    let mut remainders = Vec::with_capacity(miners.len());
    let mut given = 0u64;
    for (script, w) in &miners {
        let exact = u128::from(rest) * w;
        let base = (exact / total_weight) as u64;
        remainders.push((exact % total_weight, *script));
        given += base;
        *amounts.entry(script).or_default() += base;
    }
    // Largest remainder first; ties by script bytes (the sort is stable on script order).
    remainders.sort_by_key(|r| std::cmp::Reverse(r.0));
    let left = rest - given; // < number of miners
    for (_, script) in remainders.iter().take(left as usize) {
        *amounts.entry(script).or_default() += 1;
    }

    // Fold dust into the largest output.
    let (largest, _) = amounts
        .iter()
        .fold(None::<(&ScriptBuf, u64)>, |best, (s, v)| match best {
            Some((_, bv)) if bv >= *v => best,
            _ => Some((*s, *v)),
        })
        .expect("at least one miner");
    let mut dust = 0u64;
    amounts.retain(|s, v| {
        if *s != largest && (*v == 0 || *v < config.dust.to_sat()) {
            dust += *v;
            false
        } else {
            true
        }
    });
    *amounts.get_mut(largest).expect("largest kept") += dust;

    // Cap to the budget: largest first (ties: smaller script bytes), fold the rest.
    let mut ranked: Vec<(&ScriptBuf, u64)> = amounts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let paid = budget.max_prefix(ranked.iter().map(|(s, _)| *s));
    if paid == 0 {
        return Err(budget.no_room(ranked[0].0));
    }
    let folded: u64 = ranked[paid..].iter().map(|(_, v)| v).sum();
    if paid < ranked.len() {
        tracing::debug!(
            payees = ranked.len(),
            paid,
            folded_sat = folded,
            "coinbase budget caps the payouts"
        );
    }
    ranked.truncate(paid);
    ranked[0].1 += folded;
    ranked.sort_by(|a, b| a.0.cmp(b.0));

    Ok(ranked
        .into_iter()
        .map(|(s, v)| TxOut {
            value: Amount::from_sat(v),
            script_pubkey: s.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::WPubkeyHash;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn script(i: u8) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([i; 20]))
    }

    /// The window's outputs with no coinbase budget binding.
    fn unbudgeted(w: &PplnsWindow, value: Amount, config: &PayoutConfig) -> Vec<TxOut> {
        w.outputs(value, config, &CoinbaseBudget::unlimited())
            .expect("an unlimited budget always fits")
    }

    fn sum(outs: &[TxOut]) -> u64 {
        outs.iter().map(|o| o.value.to_sat()).sum()
    }

    #[test]
    fn empty_window_pays_the_fallback() {
        let config = PayoutConfig::new(script(9));
        let outs = unbudgeted(
            &PplnsWindow::new(DEFAULT_WINDOW_FACTOR),
            Amount::from_sat(5_000_000_000),
            &config,
        );
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].script_pubkey, script(9));
        assert_eq!(outs[0].value, Amount::from_sat(5_000_000_000));
    }

    #[test]
    fn proportional_with_fee_and_largest_remainders() {
        let mut config = PayoutConfig::new(script(9));
        config.fee_bps = 100; // 1%
        config.operator = Some(script(0));
        config.dust = Amount::ZERO;
        let mut w = PplnsWindow::new(DEFAULT_WINDOW_FACTOR);
        w.add(script(1), 1.0);
        w.add(script(2), 1.0);
        w.add(script(3), 1.0);
        // 1000 sat: fee 10, 990 / 3 = 330 each.
        let outs = unbudgeted(&w, Amount::from_sat(1000), &config);
        let values: Vec<u64> = outs.iter().map(|o| o.value.to_sat()).collect();
        assert_eq!(values, vec![10, 330, 330, 330]);
        // 1001 sat: fee 10, 991 = 3 * 330 + 1; the tie goes to the smallest script.
        let outs = unbudgeted(&w, Amount::from_sat(1001), &config);
        let values: Vec<u64> = outs.iter().map(|o| o.value.to_sat()).collect();
        assert_eq!(values, vec![10, 331, 330, 330]);
        assert!(outs
            .windows(2)
            .all(|p| p[0].script_pubkey < p[1].script_pubkey));
    }

    #[test]
    fn window_is_bounded_by_work_and_difficulty_weighted() {
        let mut config = PayoutConfig::new(script(9));
        config.dust = Amount::ZERO;
        // One block's work at network difficulty 1: 2^32.
        let mut w = PplnsWindow::new(1.0);
        w.set_network_difficulty(1.0);
        assert_eq!(w.size(), Some(1 << 32));
        w.add(script(1), 1.0); // pushed out below
        w.add(script(2), 0.25);
        w.add(script(3), 0.75);
        assert_eq!(w.len(), 2);
        assert_eq!(w.work(), 1 << 32);
        let outs = unbudgeted(&w, Amount::from_sat(4000), &config);
        assert_eq!(outs.len(), 2);
        assert_eq!(outs[0].value.to_sat(), 1000);
        assert_eq!(outs[1].value.to_sat(), 3000);
        assert_eq!(share_weight(1e-12), 1);
        assert_eq!(share_weight(1.0), 1 << 32);
    }

    #[test]
    fn the_share_on_the_edge_counts_for_its_part_inside() {
        let mut config = PayoutConfig::new(script(9));
        config.dust = Amount::ZERO;
        let mut w = PplnsWindow::new(1.0);
        w.set_network_difficulty(1.0);
        w.add(script(1), 0.5);
        w.add(script(2), 0.75);
        // The window is 1.0: all of the newest share, a third of the older one.
        assert_eq!(w.len(), 2);
        assert_eq!(w.work(), 1 << 32);
        let outs = unbudgeted(&w, Amount::from_sat(4000), &config);
        let paid: Vec<(ScriptBuf, u64)> = outs
            .into_iter()
            .map(|o| (o.script_pubkey, o.value.to_sat()))
            .collect();
        assert_eq!(paid, vec![(script(1), 1000), (script(2), 3000)]);
        // A share worth more than the window is all of it.
        w.add(script(3), 2.0);
        assert_eq!(w.weights(), vec![(&script(3), 2u128 << 32)]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn a_flood_of_trivial_shares_weighs_what_its_hashes_weigh() {
        let mut config = PayoutConfig::new(script(9));
        config.dust = Amount::ZERO;
        let mut w = PplnsWindow::new(3.0);
        w.set_network_difficulty(1.0);
        // Honest work: two blocks' worth; then 100,000 shares of 2^-16 from an attacker, about
        // 1.5 blocks' worth. By count the attacker would be 99.998 % of the last 8640 shares.
        for _ in 0..8 {
            w.add(script(1), 0.25);
        }
        for _ in 0..100_000 {
            w.add(script(2), 1.0 / 65_536.0);
        }
        let attacker: u128 = 100_000 << 16;
        let window = 3u128 << 32;
        assert_eq!(w.work(), window);
        let weights: HashMap<&ScriptBuf, u128> = w.weights().into_iter().collect();
        assert_eq!(weights[&script(2)], attacker);
        assert_eq!(weights[&script(1)], window - attacker);
        let outs = unbudgeted(&w, Amount::from_sat(3_000_000), &config);
        let to = |s: ScriptBuf| outs.iter().find(|o| o.script_pubkey == s).unwrap().value;
        // Exactly its work's share of the window, to the satoshi (rounded).
        let fair = 3_000_000 * attacker / window;
        assert!(to(script(2)).to_sat().abs_diff(fair as u64) <= 1);
        assert!(to(script(1)).to_sat() > 1_400_000);
    }

    #[test]
    fn a_difficulty_rise_brings_retained_shares_back() {
        let mut w = PplnsWindow::new(1.0);
        w.set_network_difficulty(1.0);
        for i in 0..10 {
            w.add(script(i), 1.0);
        }
        assert_eq!(w.len(), 1);
        // Four windows of work are kept behind the edge; older ones are dropped.
        w.set_network_difficulty(4.0);
        assert_eq!(w.len(), 4);
        let scripts: BTreeSet<ScriptBuf> =
            w.weights().into_iter().map(|(s, _)| s.clone()).collect();
        assert_eq!(scripts, (6..10).map(script).collect());
        w.set_network_difficulty(100.0);
        assert!(w.len() >= 4 && w.len() < 10, "{}", w.len());
        // A fall narrows it again, to the newest share (which alone is more than it).
        w.set_network_difficulty(0.5);
        assert_eq!(w.weights(), vec![(&script(9), 1u128 << 32)]);
    }

    #[test]
    fn unbounded_until_the_network_difficulty_is_known() {
        // The journal replays before any template: every share is kept and counted.
        let mut w = PplnsWindow::new(3.0);
        for i in 0..100 {
            w.add(script(i % 7), 1.0);
        }
        assert_eq!(w.size(), None);
        assert_eq!(w.len(), 100);
        assert_eq!(w.work(), 100 << 32);
        w.set_network_difficulty(10.0);
        assert_eq!(w.work(), 30 << 32);
        assert_eq!(w.len(), 30);
        // Bad difficulties are ignored.
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            w.set_network_difficulty(bad);
            assert_eq!(w.size(), Some(window_work(3.0, 10.0)));
        }
    }

    #[test]
    fn dust_folds_into_the_largest() {
        let mut config = PayoutConfig::new(script(9));
        config.dust = Amount::from_sat(546);
        let mut w = PplnsWindow::new(DEFAULT_WINDOW_FACTOR);
        for _ in 0..99 {
            w.add(script(5), 1.0);
        }
        w.add(script(1), 1.0);
        let outs = unbudgeted(&w, Amount::from_sat(10_000), &config);
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].script_pubkey, script(5));
        assert_eq!(outs[0].value.to_sat(), 10_000);
    }

    #[test]
    fn operator_that_also_mines_gets_one_output() {
        let mut config = PayoutConfig::new(script(9));
        config.dust = Amount::ZERO;
        config.fee_bps = 1000;
        config.operator = Some(script(1));
        let mut w = PplnsWindow::new(DEFAULT_WINDOW_FACTOR);
        w.add(script(1), 1.0);
        w.add(script(2), 1.0);
        let outs = unbudgeted(&w, Amount::from_sat(1000), &config);
        assert_eq!(outs.len(), 2);
        assert_eq!(outs[0].value.to_sat(), 100 + 450);
    }

    #[test]
    fn worker_names_map_to_scripts() {
        let addr = Address::from_script(&script(7), Network::Regtest)
            .unwrap()
            .to_string();
        let s = payout_script(&format!("{addr}.rig1"), Network::Regtest).unwrap();
        assert!(s.is_p2wpkh());
        assert_eq!(payout_script(&addr, Network::Regtest).unwrap(), s);
        assert!(payout_script(&addr, Network::Bitcoin).is_err());
        assert!(payout_script("alice.rig", Network::Regtest).is_err());
    }

    #[test]
    fn segwit_addresses_only_on_their_network() {
        use bitcoin::key::{Keypair, Secp256k1};
        use bitcoin::{WScriptHash, XOnlyPublicKey};
        let secp = Secp256k1::new();
        let key = Keypair::from_seckey_slice(&secp, &[7; 32]).unwrap();
        let (xonly, _) = XOnlyPublicKey::from_keypair(&key);
        let scripts = [
            ("p2wpkh", script(3)),
            (
                "p2wsh",
                ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array([4; 32])),
            ),
            ("p2tr", ScriptBuf::new_p2tr(&secp, xonly, None)),
        ];
        // bcrt1 (regtest), tb1 (testnet3, testnet4, signet), bc1 (main).
        let prefixes = [
            (Network::Regtest, "bcrt1"),
            (Network::Testnet, "tb1"),
            (Network::Testnet4, "tb1"),
            (Network::Signet, "tb1"),
            (Network::Bitcoin, "bc1"),
        ];
        for (kind, s) in &scripts {
            for (network, prefix) in prefixes {
                let addr = Address::from_script(s, network).unwrap().to_string();
                assert!(addr.starts_with(prefix), "{kind} {addr}");
                // bech32 for v0, bech32m for v1 (taproot): the parser checks the checksum kind.
                assert_eq!(
                    addr.as_bytes()[prefix.len()],
                    if *kind == "p2tr" { b'p' } else { b'q' }
                );
                assert_eq!(&payout_script(&format!("{addr}.rig"), network).unwrap(), s);
                for (other, other_prefix) in prefixes {
                    if other_prefix != prefix {
                        assert!(
                            payout_script(&addr, other).is_err(),
                            "{kind} {addr} accepted on {other}"
                        );
                    }
                }
            }
        }
        // BIP350's wrong-checksum vector: a v0 program with a bech32m checksum.
        let v0_bech32m = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh";
        assert!(payout_script(v0_bech32m, Network::Bitcoin).is_err());
    }

    proptest! {
        #[test]
        fn outputs_sum_to_the_coinbase_value(
            value in 0u64..=2_100_000_000_000_000,
            shares in proptest::collection::vec((0u8..20, 1e-10f64..1e12), 0..60),
            factor in 0.01f64..20.0,
            network_difficulty in proptest::option::of(1e-10f64..1e12),
            fee_bps in 0u16..=10_000,
            with_operator in any::<bool>(),
            dust in 0u64..100_000,
        ) {
            let mut config = PayoutConfig::new(script(200));
            config.window_factor = factor;
            config.fee_bps = fee_bps;
            config.operator = with_operator.then(|| script(100));
            config.dust = Amount::from_sat(dust);
            let mut w = PplnsWindow::from_config(&config);
            for (i, (who, diff)) in shares.iter().enumerate() {
                if i == shares.len() / 2 {
                    if let Some(d) = network_difficulty {
                        w.set_network_difficulty(d);
                    }
                }
                w.add(script(*who), *diff);
            }
            // The window is the newest shares up to its work, the edge one in part.
            let mut reference: BTreeMap<ScriptBuf, u128> = BTreeMap::new();
            let size = network_difficulty
                .filter(|_| !shares.is_empty())
                .map_or(u128::MAX, |d| window_work(factor, d));
            let mut left = size;
            for (i, (who, diff)) in shares.iter().enumerate().rev() {
                let weight = u128::from(share_weight(*diff));
                let part = if i + 1 == shares.len() { weight } else { weight.min(left) };
                if part == 0 {
                    break;
                }
                *reference.entry(script(*who)).or_default() += part;
                left = left.saturating_sub(part);
            }
            let got: BTreeMap<ScriptBuf, u128> = w.weights().into_iter().map(|(s, v)| (s.clone(), v)).collect();
            prop_assert_eq!(got, reference);
            let outs = unbudgeted(&w, Amount::from_sat(value), &config);
            prop_assert!(!outs.is_empty());
            prop_assert_eq!(sum(&outs), value);
            prop_assert!(outs.windows(2).all(|p| p[0].script_pubkey < p[1].script_pubkey));
            if outs.len() > 1 {
                prop_assert!(outs.iter().all(|o| o.value.to_sat() >= dust));
            }
            // Deterministic.
            prop_assert_eq!(outs, unbudgeted(&w, Amount::from_sat(value), &config));
        }
    }
}
