//! End to end without sockets: a Core-shaped segwit template (built here with the `bitcoin`
//! crate, witness commitment included) goes through payouts, coinbase and jobs; the miner's
//! portable engine finds a nonce; the share is validated; the assembled block must decode and
//! pass the `bitcoin` crate's merkle root, witness commitment and BIP34 checks.

use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::consensus::{deserialize, encode};
use bitcoin::hashes::Hash;
use bitcoin::script::PushBytesBuf;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxOut, Txid, WPubkeyHash, Witness, Wtxid,
};
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

const HEIGHT: u32 = 800_000;

fn segwit_tx(i: u8) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([i; 32]), u32::from(i)),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            // A P2WPKH-shaped witness: signature and public key (not checked here).
            witness: Witness::from_slice(&[vec![0x30; 71], vec![0x02; 33]]),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(10_000 + u64::from(i)),
            script_pubkey: ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([i; 20])),
        }],
    }
}

/// A `getblocktemplate` answer as Bitcoin Core shapes it, with `n` segwit transactions.
fn core_template(n: u8) -> BlockTemplate {
    let txs: Vec<Transaction> = (1..=n).map(segwit_tx).collect();
    // default_witness_commitment: witness root over (zero for the coinbase, wtxids...), with
    // the all-zero witness reserved value, behind OP_RETURN and the aa21a9ed magic.
    let wtxids = std::iter::once(Wtxid::all_zeros().to_raw_hash())
        .chain(txs.iter().map(|t| t.compute_wtxid().to_raw_hash()));
    let witness_root = bitcoin::merkle_tree::calculate_root(wtxids).unwrap().into();
    let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
    let mut payload = PushBytesBuf::from([0xaa, 0x21, 0xa9, 0xed]);
    payload
        .extend_from_slice(commitment.as_byte_array())
        .unwrap();
    let commitment_script = ScriptBuf::new_op_return(payload);
    assert_eq!(commitment_script.len(), 38);

    let transactions: Vec<_> = txs
        .iter()
        .map(|t| {
            assert_ne!(
                t.compute_txid().to_raw_hash(),
                t.compute_wtxid().to_raw_hash()
            );
            json!({
                "data": encode::serialize_hex(t),
                "txid": t.compute_txid().to_string(),
                "hash": t.compute_wtxid().to_string(),
                "depends": [],
                "fee": 1000,
                "sigops": 1,
                "weight": t.weight().to_wu(),
            })
        })
        .collect();
    serde_json::from_value(json!({
        "capabilities": ["proposal"],
        "version": 0x2000_0000,
        "rules": ["csv", "!segwit", "taproot"],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        "transactions": transactions,
        "coinbaseaux": {},
        "coinbasevalue": 5_000_000_000u64 + 1000 * u64::from(n),
        "longpollid": "x",
        "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
        "mintime": 1_700_000_000,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80000,
        "sizelimit": 4_000_000,
        "weightlimit": 4_000_000,
        "curtime": 1_700_000_600,
        "bits": "207fffff",
        "height": HEIGHT,
        "default_witness_commitment": commitment_script.to_hex_string(),
    }))
    .unwrap()
}

#[test]
fn found_share_assembles_into_a_valid_segwit_block() {
    for n in [2u8, 3] {
        let template = Arc::new(core_template(n));

        // Payouts: two miners in the window and a 1 % operator fee.
        let operator = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([0xee; 20]));
        let payout_config = PayoutConfig {
            fee_bps: 100,
            operator: Some(operator),
            ..PayoutConfig::new(ScriptBuf::new_p2wpkh(&WPubkeyHash::all_zeros()))
        };
        let mut window = PplnsWindow::from_config(&payout_config);
        window.add(
            ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([1; 20])),
            0.5,
        );
        window.add(
            ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([2; 20])),
            0.25,
        );
        let budget = CoinbaseBudget::new(
            &template,
            &CoinbaseConfig::default(),
            stratum::DEFAULT_MAX_LINE_LEN,
        )
        .unwrap();
        let outputs = window
            .outputs(template.coinbasevalue, &payout_config, &budget)
            .unwrap();

        let parts = CoinbaseParts::build(
            &CoinbaseConfig::default(),
            template.height,
            template.coinbasevalue,
            outputs,
            template.default_witness_commitment.as_ref(),
        )
        .unwrap();
        let mut book = JobBook::default();
        let job = book.push(Arc::clone(&template), parts);

        // The miner's view: header with extranonces filled in, search for a nonce.
        let extranonce1 = [0x01, 0x02, 0x03, 0x04];
        let extranonce2 = [0x00, 0x00, 0x00, 0x2a];
        let ntime = template.curtime + 1;
        let header = job.header(&extranonce1, &extranonce2, template.version, ntime, 0);
        let bytes: [u8; 80] = encode::serialize(&header).try_into().unwrap();
        let block_target = ShareTarget::from_compact(CompactTarget::from_consensus(0x207f_ffff));
        let miner_job = miner::Job::new(bytes, block_target);
        let hit = Engine::Portable.scan(&miner_job, 0..4096)[0];

        // The proxy's view: the share is valid and a block.
        let session = Session {
            extranonce1: Some(extranonce1.to_vec()),
            extranonce2_size: 4,
            authorized: vec!["w".into()],
            version_mask: 0x1fff_e000,
            target: block_target,
            job_targets: Default::default(),
        };
        let submit = Submit {
            worker: "w".into(),
            job_id: job.id().into(),
            extranonce2: extranonce2.to_vec(),
            ntime,
            nonce: hit.nonce,
            version_bits: None,
        };
        let share = validate(&book, &session, &submit).unwrap();
        assert!(share.is_block);
        assert_eq!(share.hash, BlockHash::from_byte_array(hit.hash));

        let hex = share
            .job
            .block_hex(&share.header, &extranonce1, &extranonce2)
            .unwrap();
        let block: Block = deserialize(&hex::decode(&hex).unwrap()).unwrap();
        assert_eq!(block.txdata.len(), 1 + usize::from(n));
        assert!(block.check_merkle_root());
        assert!(block.check_witness_commitment());
        assert_eq!(block.bip34_block_height().unwrap(), u64::from(HEIGHT));
        assert_eq!(block.block_hash(), BlockHash::from_byte_array(hit.hash));
        assert!(block.header.validate_pow(template.target).is_ok());
        // The coinbase pays exactly the template's value and ends with the commitment.
        let coinbase = &block.txdata[0];
        let paid: Amount = coinbase.output.iter().map(|o| o.value).sum();
        assert_eq!(paid, template.coinbasevalue);
        assert_eq!(
            coinbase.output.last().unwrap().script_pubkey,
            *template.default_witness_commitment.as_ref().unwrap()
        );
        // Template transactions went in as given, witnesses included.
        for (tx, t) in block.txdata[1..].iter().zip(&template.transactions) {
            assert_eq!(tx.compute_txid(), t.txid);
            assert_eq!(Some(tx.compute_wtxid()), t.hash);
        }
    }
}
