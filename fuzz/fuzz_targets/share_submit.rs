//! Any `mining.submit` a subscribed, authorized miner could send, checked by
//! the proxy's share validation against a live job: it must never panic, and
//! an accepted share must meet the session target or be a block.

#![no_main]

use bitcoin::hashes::Hash;
use libfuzzer_sys::fuzz_target;
use miner::ShareTarget;
use proxy::coinbase::{CoinbaseConfig, CoinbaseParts};
use proxy::jobs::JobBook;
use proxy::shares::{validate, Session};
use proxy::upstream::BlockTemplate;
use std::sync::{Arc, Mutex, OnceLock};
use stratum::Submit;

fn book() -> &'static Mutex<(JobBook, String)> {
    static BOOK: OnceLock<Mutex<(JobBook, String)>> = OnceLock::new();
    BOOK.get_or_init(|| {
        let template: BlockTemplate = serde_json::from_value(serde_json::json!({
            "version": 0x2000_0000, "rules": [], "transactions": [],
            "previousblockhash": "00000000000000000000000000000000000000000000000000000000000000aa",
            "coinbasevalue": 5_000_000_000u64, "longpollid": "x",
            "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
            "mintime": 1_700_000_000, "curtime": 1_700_000_600, "bits": "207fffff", "height": 1000,
        }))
        .unwrap();
        let payout = bitcoin::TxOut {
            value: template.coinbasevalue,
            script_pubkey: bitcoin::ScriptBuf::new_op_return([]),
        };
        let coinbase = CoinbaseParts::build(
            &CoinbaseConfig::default(),
            template.height,
            template.coinbasevalue,
            vec![payout],
            None,
        )
        .unwrap();
        let mut book = JobBook::new(4);
        let id = book.push(Arc::new(template), coinbase).id().to_string();
        Mutex::new((book, id))
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 14 {
        return;
    }
    let (book, job_id) = &*book().lock().unwrap();
    let word = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().unwrap());
    let session = Session {
        extranonce1: Some(vec![1, 2, 3, 4]),
        extranonce2_size: 4,
        authorized: vec!["w".into()],
        version_mask: 0x1fff_e000,
        target: ShareTarget::from_difficulty(1e-9).unwrap(),
        job_targets: Default::default(),
    };
    let submit = Submit {
        worker: if data[0] & 1 == 0 {
            "w".into()
        } else {
            "x".into()
        },
        job_id: if data[1] & 1 == 0 {
            job_id.clone()
        } else {
            format!("{:x}", data[1])
        },
        extranonce2: data[14..]
            .iter()
            .copied()
            .take(usize::from(data[2] % 8))
            .collect(),
        ntime: 1_700_000_000u32.wrapping_add(word(2) % 10_000),
        nonce: word(6),
        version_bits: (data[0] & 2 == 0).then(|| word(10)),
    };
    if let Ok(share) = validate(book, &session, &submit) {
        assert!(share.is_block || session.target.is_met_by(&share.hash.to_byte_array()));
    }
});
