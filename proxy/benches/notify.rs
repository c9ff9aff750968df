//! Template-to-notify latency: from a parsed, full `BlockTemplate` (transactions up to the
//! 4M weight limit) and a PPLNS window of 500 distinct payees to the serialized
//! `mining.notify` line: budget, outputs split and capped, coinbase built and checked, merkle
//! branch, job pushed, line serialized. Target: under 20 ms on one core.

use std::hint::black_box;
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, ScriptBuf, Txid, WPubkeyHash};
use criterion::{criterion_main, Criterion};
use proxy::budget::CoinbaseBudget;
use proxy::coinbase::{CoinbaseConfig, CoinbaseParts};
use proxy::jobs::JobBook;
use proxy::payouts::{PayoutConfig, PplnsWindow};
use proxy::upstream::BlockTemplate;
use serde_json::json;
use stratum::{Message, ServerMessage};

/// 3,000 transactions of 1,310 WU (a typical 1-in 2-out segwit spend is ~560-900 WU; a mix
/// with larger ones fills the block), 78,000 sigop cost in all; 3,930,000 WU, leaving the
/// ~62,000 WU 500 P2WPKH payouts need (a node run with `-blockreservedweight=70000`).
fn template() -> BlockTemplate {
    let n = 3000u32;
    let transactions: Vec<_> = (0..n)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            id[31] = 0x5a;
            json!({
                "data": "00",
                "txid": Txid::from_byte_array(id).to_string(),
                "hash": Txid::from_byte_array(id).to_string(),
                "fee": 1000 + i,
                "depends": [],
                "weight": 1_310,
                "sigops": 26,
            })
        })
        .collect();
    serde_json::from_value(json!({
        "version": 0x2000_0000,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": BlockHash::from_byte_array([7; 32]).to_string(),
        "transactions": transactions,
        "coinbasevalue": 312_500_000u64 + 3_000_000,
        "longpollid": "x",
        "target": "00000000ffff0000000000000000000000000000000000000000000000000000",
        "mintime": 1_700_000_000,
        "curtime": 1_700_000_600,
        "bits": "1d00ffff",
        "height": 900_000,
        "weightlimit": 4_000_000,
        "sigoplimit": 80_000,
        "default_witness_commitment": "6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9",
    }))
    .expect("template")
}

fn bench(c: &mut Criterion) {
    let template = Arc::new(template());
    let payouts = PayoutConfig::new(ScriptBuf::new_p2wpkh(&WPubkeyHash::all_zeros()));
    let mut window = PplnsWindow::from_config(&payouts);
    for i in 0..500u32 {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h));
        for _ in 0..(1 + i % 5) {
            window.add(script.clone(), 0.001 * f64::from(1 + i % 7));
        }
    }
    let config = CoinbaseConfig::default();
    let mut book = JobBook::default();
    c.bench_function("template_to_notify_500_payees_3000_txs", |b| {
        b.iter(|| {
            let t = Arc::clone(&template);
            let budget =
                CoinbaseBudget::new(&t, &config, stratum::DEFAULT_MAX_LINE_LEN).expect("budget");
            let outputs = window
                .outputs(t.coinbasevalue, &payouts, &budget)
                .expect("outputs");
            assert_eq!(outputs.len(), 500);
            let n = outputs.len();
            let parts = CoinbaseParts::build(
                &config,
                t.height,
                t.coinbasevalue,
                outputs,
                t.default_witness_commitment.as_ref(),
            )
            .expect("coinbase");
            budget.check(&parts, n).expect("fits");
            let job = book.push(t, parts);
            let line =
                Message::from(ServerMessage::Notify(job.notify()).into_notification()).to_line();
            black_box(line.len())
        })
    });
}

// `criterion_group!` makes a `pub fn benches()`, which cannot carry a doc comment: in a
// private module it is not part of the file's public items.
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
