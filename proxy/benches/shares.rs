//! `shares::validate` throughput for valid shares at a low session difficulty.
//!
//! The shares (unique nonces, so none is a duplicate) are mined once before measuring. A job
//! remembers the shares it accepted, so every batch of timed validations runs against a fresh
//! book holding the same job (same template, same coinbase, same id); rebuilding it is not
//! timed. Reported as elements (shares) per second; the target is >= 100,000 per core.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, ScriptBuf, WPubkeyHash};
use criterion::{criterion_main, Criterion, Throughput};
use miner::Engine;
use proxy::budget::CoinbaseBudget;
use proxy::coinbase::{CoinbaseConfig, CoinbaseParts};
use proxy::jobs::JobBook;
use proxy::payouts::{PayoutConfig, PplnsWindow};
use proxy::shares::{validate, Session};
use proxy::upstream::BlockTemplate;
use serde_json::json;
use stratum::ShareTarget;
use stratum::Submit;

const EXTRANONCE1: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
const EXTRANONCE2: [u8; 4] = [0, 0, 0, 1];
/// Distinct valid shares mined up front (one timed batch at most).
const SHARES: usize = 20_000;

/// A template with a few transactions in the merkle branch and a mainnet-like block target,
/// so no share is a block.
fn template() -> BlockTemplate {
    let transactions: Vec<_> = (1u8..=7)
        .map(|i| {
            json!({
                "data": "00",
                "txid": BlockHash::from_byte_array([i; 32]).to_string(),
                "hash": BlockHash::from_byte_array([i; 32]).to_string(),
                "fee": 1000,
            })
        })
        .collect();
    serde_json::from_value(json!({
        "version": 0x2000_0000,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": BlockHash::from_byte_array([7; 32]).to_string(),
        "transactions": transactions,
        "coinbasevalue": 5_000_000_000u64,
        "longpollid": "x",
        "target": "00000000ffff0000000000000000000000000000000000000000000000000000",
        "mintime": 1_700_000_000,
        "curtime": 1_700_000_600,
        "bits": "1d00ffff",
        "height": 1000,
    }))
    .expect("template")
}

fn book(template: &Arc<BlockTemplate>) -> JobBook {
    let payouts = PayoutConfig::new(ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(
        [1; 20],
    )));
    let mut window = PplnsWindow::from_config(&payouts);
    for i in 0..4u8 {
        window.add(
            ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([i + 2; 20])),
            1.0,
        );
    }
    let budget = CoinbaseBudget::new(
        template,
        &CoinbaseConfig::default(),
        stratum::DEFAULT_MAX_LINE_LEN,
    )
    .expect("budget");
    let outputs = window
        .outputs(template.coinbasevalue, &payouts, &budget)
        .expect("outputs");
    let coinbase = CoinbaseParts::build(
        &CoinbaseConfig::default(),
        template.height,
        template.coinbasevalue,
        outputs,
        None,
    )
    .expect("coinbase");
    let mut book = JobBook::default();
    book.push(Arc::clone(template), coinbase);
    book
}

fn bench_validate(c: &mut Criterion) {
    let template = Arc::new(template());
    let probe = book(&template);
    let job = probe.latest().expect("a job");
    // 2^-24: a share per ~256 hashes, far below any real pool difficulty.
    let target = ShareTarget::from_difficulty(1.0 / f64::from(1u32 << 24)).expect("target");
    let session = Session {
        extranonce1: Some(EXTRANONCE1.to_vec()),
        extranonce2_size: EXTRANONCE2.len(),
        authorized: vec!["alice.rig".into()],
        version_mask: 0x1fff_e000,
        target,
        job_targets: Default::default(),
    };
    let ntime = template.curtime;
    let header = job.header(&EXTRANONCE1, &EXTRANONCE2, job.version(), ntime, 0);
    let bytes: [u8; 80] = bitcoin::consensus::encode::serialize(&header)
        .try_into()
        .expect("80 bytes");
    let mined = miner::Job::new(bytes, target);
    let mut submits = Vec::with_capacity(SHARES);
    let mut start = 0u64;
    while submits.len() < SHARES {
        let end = start + (1 << 20);
        submits.extend(
            Engine::Portable
                .scan(&mined, start..end)
                .into_iter()
                .map(|hit| Submit {
                    worker: "alice.rig".into(),
                    job_id: job.id().into(),
                    extranonce2: EXTRANONCE2.to_vec(),
                    ntime,
                    nonce: hit.nonce,
                    version_bits: None,
                }),
        );
        start = end;
    }
    submits.truncate(SHARES);
    // Every precomputed share is valid (and then a duplicate).
    for s in &submits[..100] {
        validate(&probe, &session, s).expect("valid share");
    }
    drop(probe);

    let mut group = c.benchmark_group("shares");
    group.throughput(Throughput::Elements(1));
    group.bench_function("validate_valid", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let fresh = book(&template);
                let n = (iters - done).min(SHARES as u64) as usize;
                let started = Instant::now();
                for s in &submits[..n] {
                    black_box(validate(&fresh, &session, black_box(s)).is_ok());
                }
                elapsed += started.elapsed();
                done += n as u64;
            }
            elapsed
        });
    });
    group.finish();
}

// `criterion_group!` makes a `pub fn benches()`, which cannot carry a doc comment: in a
// private module it is not part of the file's public items.
mod group {
    criterion::criterion_group!(benches, super::bench_validate);
}
criterion_main!(group::benches);
