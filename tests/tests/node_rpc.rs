//! `proxy::upstream` against a real regtest node pair: chain info, templates, longpoll, block
//! submission (accepted, duplicate, rejected, undecodable), and the errors a pool must tell
//! apart (bad credentials, node not connected, node down).

use std::time::Duration;

use bitcoin::block::{Header, Version};
use bitcoin::blockdata::opcodes::OP_TRUE;
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Amount, Block, CompactTarget, OutPoint, ScriptBuf, Sequence, Target,
    Transaction, TxIn, TxMerkleNode, TxOut, Witness,
};
use proxy::upstream::{
    rpc_code, Auth, BlockTemplate, NodeClient, SubmitBlockOutcome, UpstreamError,
};
use tests::regtest::{RegtestNode, RegtestPair};

fn client_for(node: &RegtestNode) -> NodeClient {
    NodeClient::new(
        node.rpc_url(),
        Auth::UserPass {
            user: node.rpc_user().to_owned(),
            password: node.rpc_password().to_owned(),
        },
    )
    .expect("client")
    .with_timeouts(Duration::from_secs(30), Duration::from_secs(60))
}

/// A block on the template: a coinbase with the BIP34 height paying everything to OP_TRUE, no
/// other transactions, nonce ground until the header meets the target (about two tries on
/// regtest).
fn block_from_template(t: &BlockTemplate, tag: &[u8]) -> Block {
    assert!(t.transactions.is_empty(), "test mempool should be empty");
    let mut tag_bytes = bitcoin::script::PushBytesBuf::new();
    tag_bytes.extend_from_slice(tag).unwrap();
    let coinbase = Transaction {
        version: transaction::Version::ONE,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new()
                .push_int(i64::from(t.height))
                .push_slice(tag_bytes)
                .into_script(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: t.coinbasevalue,
            script_pubkey: ScriptBuf::from_bytes(vec![OP_TRUE.to_u8()]),
        }],
    };
    let mut block = Block {
        header: Header {
            version: t.version,
            prev_blockhash: t.previousblockhash,
            merkle_root: TxMerkleNode::all_zeros(),
            time: t.curtime,
            bits: t.bits,
            nonce: 0,
        },
        txdata: vec![coinbase],
    };
    block.header.merkle_root = block.compute_merkle_root().unwrap();
    grind(&mut block.header, t.target);
    block
}

fn grind(header: &mut Header, target: Target) {
    while header.validate_pow(target).is_err() {
        header.nonce += 1;
    }
}

#[tokio::test]
async fn upstream_client_against_regtest_pair() {
    let mut pair = tokio::task::spawn_blocking(RegtestPair::start)
        .await
        .unwrap()
        .expect("regtest pair should start");
    let node = client_for(&pair.a);

    // Chain state.
    let info = node.get_blockchain_info().await.unwrap();
    assert_eq!(info.chain, "regtest");
    assert_eq!(info.blocks, 1);
    assert_eq!(node.get_block_count().await.unwrap(), 1);
    let best = node.get_best_block_hash().await.unwrap();
    assert_eq!(best, info.bestblockhash);
    let verbose = node.get_block(&best, 1).await.unwrap();
    assert_eq!(verbose["height"], 1);
    assert_eq!(verbose["hash"], best.to_string());
    let raw = node.get_block_raw(&best).await.unwrap();
    assert_eq!(raw.block_hash(), best);

    // Template on top of the one mined block.
    let t = node.get_block_template().await.unwrap();
    assert_eq!(t.height, 2);
    assert_eq!(t.bits, CompactTarget::from_consensus(0x207f_ffff));
    assert_eq!(t.target, Target::from_compact(t.bits));
    assert_eq!(t.coinbasevalue, Amount::from_sat(5_000_000_000));
    assert_eq!(t.previousblockhash, best);
    assert!(t.curtime >= t.mintime);
    assert!(t.transactions.is_empty());
    assert!(t.longpollid.is_some());
    assert!(t.version.to_consensus() >= Version::TWO.to_consensus());

    // Undecodable bytes: a clear rejection, not a transport or parse failure.
    match node.submit_block_hex("00").await.unwrap() {
        SubmitBlockOutcome::Rejected { reason } => {
            assert!(reason.to_lowercase().contains("decode"), "{reason}")
        }
        other => panic!("garbage block not rejected: {other:?}"),
    }

    // A well-formed block with a wrong merkle root (and valid proof of work): rejected with
    // the node's reason.
    let mut bad = block_from_template(&t, b"bad");
    bad.header.merkle_root = TxMerkleNode::from_byte_array([7; 32]);
    grind(&mut bad.header, t.target);
    match node.submit_block(&bad).await.unwrap() {
        SubmitBlockOutcome::Rejected { reason } => assert_eq!(reason, "bad-txnmrklroot"),
        other => panic!("bad-merkle block not rejected: {other:?}"),
    }

    // Longpoll: waits while nothing changes, returns once a block is found.
    let longpollid = t.longpollid.clone().unwrap();
    let longpoll = {
        let node = client_for(&pair.a);
        tokio::spawn(async move { node.get_block_template_longpoll(&longpollid).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !longpoll.is_finished(),
        "longpoll returned with nothing new"
    );

    // A valid block built from the template: accepted, then a duplicate.
    let good = block_from_template(&t, b"mesos-miner test");
    assert_eq!(
        node.submit_block(&good).await.unwrap(),
        SubmitBlockOutcome::Accepted
    );
    assert_eq!(node.get_best_block_hash().await.unwrap(), good.block_hash());
    assert_eq!(
        node.submit_block(&good).await.unwrap(),
        SubmitBlockOutcome::Duplicate
    );
    let next = tokio::time::timeout(Duration::from_secs(30), longpoll)
        .await
        .expect("longpoll should return after a new block")
        .unwrap()
        .unwrap();
    assert_eq!(next.previousblockhash, good.block_hash());
    assert_eq!(next.height, 3);

    // Wrong password: HTTP 401, reported as such.
    let wrong = NodeClient::new(
        pair.a.rpc_url(),
        Auth::UserPass {
            user: pair.a.rpc_user().to_owned(),
            password: "wrong".into(),
        },
    )
    .unwrap();
    let err = wrong.get_block_count().await.unwrap_err();
    assert!(matches!(err, UpstreamError::Unauthorized { .. }), "{err}");

    // Unknown method: an RPC error with the node's code.
    let err = node
        .call::<serde_json::Value>("nosuchmethod", vec![])
        .await
        .unwrap_err();
    assert_eq!(err.rpc_code(), Some(rpc_code::METHOD_NOT_FOUND), "{err}");

    // Stop b: a's getblocktemplate now fails with -9 (not connected), a retryable error, and
    // b itself is a transport error (connection refused), not a panic.
    let b_client = client_for(&pair.b);
    // (Blocking calls in this async test are fine: nothing else runs on its runtime now.)
    pair.b.stop().expect("stop b");
    let err = b_client.get_block_count().await.unwrap_err();
    assert!(err.is_transport(), "{err}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let err = loop {
        match node.get_block_template().await {
            Err(e) => break e,
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Ok(_) => panic!("getblocktemplate still works without a peer"),
        }
    };
    assert_eq!(
        err.rpc_code(),
        Some(rpc_code::CLIENT_NOT_CONNECTED),
        "{err}"
    );
    assert!(err.is_not_ready());

    drop(pair);
}
