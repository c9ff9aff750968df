//! `proxy::upstream` against a real Bitcoin Core regtest node: chain info, templates, longpoll,
//! block submission and every `submitblock` answer a pool must tell apart (accepted,
//! duplicate, inconclusive, high-hash, bad-txnmrklroot, bad-cb-height, undecodable), and the
//! errors of the transport (bad credentials, unknown method, node down).

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
use tests::node::{Chain, Node};
use tests::wallet::{AddressKind, TestWallet};

fn client_for(node: &Node) -> NodeClient {
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

/// A block on the template: a coinbase with the BIP34 height `height` paying everything to
/// OP_TRUE, no other transactions (so no witness commitment is needed), nonce ground until the
/// header meets the target (about two tries on regtest).
fn block_at_height(t: &BlockTemplate, height: u32, tag: &[u8]) -> Block {
    assert!(t.transactions.is_empty(), "test mempool should be empty");
    let mut tag_bytes = bitcoin::script::PushBytesBuf::new();
    tag_bytes.extend_from_slice(tag).unwrap();
    let coinbase = Transaction {
        version: transaction::Version::ONE,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new()
                .push_int(i64::from(height))
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

fn block_from_template(t: &BlockTemplate, tag: &[u8]) -> Block {
    block_at_height(t, t.height, tag)
}

fn grind(header: &mut Header, target: Target) {
    while header.validate_pow(target).is_err() {
        header.nonce += 1;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_client_against_bitcoin_core() {
    let mut node = tokio::task::spawn_blocking(|| Node::start(Chain::Regtest))
        .await
        .unwrap()
        .expect("a regtest node should start");
    let wallet = TestWallet::new(node.network(), "node-rpc");
    let address = wallet.address(AddressKind::P2wpkh, 0).to_string();
    node.generate_to(1, &address).unwrap();
    let client = client_for(&node);

    // Chain state.
    let info = client.get_blockchain_info().await.unwrap();
    assert_eq!(info.chain, "regtest");
    assert_eq!(info.blocks, 1);
    assert_eq!(client.get_block_count().await.unwrap(), 1);
    let best = client.get_best_block_hash().await.unwrap();
    assert_eq!(best, info.bestblockhash);
    let verbose = client.get_block(&best, 1).await.unwrap();
    assert_eq!(verbose["height"], 1);
    assert_eq!(verbose["hash"], best.to_string());
    let raw = client.get_block_raw(&best).await.unwrap();
    assert_eq!(raw.block_hash(), best);

    // Template on top of the one mined block: Core's segwit members are there.
    let t = client.get_block_template().await.unwrap();
    assert_eq!(t.height, 2);
    assert_eq!(t.bits, CompactTarget::from_consensus(0x207f_ffff));
    assert_eq!(t.target, Target::from_compact(t.bits));
    assert_eq!(t.coinbasevalue, Amount::from_sat(5_000_000_000));
    assert_eq!(t.previousblockhash, best);
    assert!(t.curtime >= t.mintime);
    assert!(t.transactions.is_empty());
    assert!(t.longpollid.is_some());
    assert!(t.version.to_consensus() >= Version::TWO.to_consensus());
    assert!(
        t.rules
            .iter()
            .any(|r| r.trim_start_matches('!') == "segwit"),
        "{:?}",
        t.rules
    );
    assert!(
        t.rules
            .iter()
            .any(|r| r.trim_start_matches('!') == "taproot"),
        "{:?}",
        t.rules
    );
    assert!(t.default_witness_commitment.is_some());
    assert_eq!(t.weightlimit, Some(4_000_000));
    assert_eq!(t.sigoplimit, Some(80_000));

    // Undecodable bytes: a clear rejection, not a transport or parse failure.
    match client.submit_block_hex("00").await.unwrap() {
        SubmitBlockOutcome::Rejected { reason } => {
            assert!(reason.to_lowercase().contains("decode"), "{reason}")
        }
        other => panic!("garbage block not rejected: {other:?}"),
    }

    // A well-formed block with a wrong merkle root (and valid proof of work).
    let mut bad = block_from_template(&t, b"bad");
    bad.header.merkle_root = TxMerkleNode::from_byte_array([7; 32]);
    grind(&mut bad.header, t.target);
    assert_eq!(
        client.submit_block(&bad).await.unwrap(),
        SubmitBlockOutcome::Rejected {
            reason: "bad-txnmrklroot".into()
        }
    );

    // A header that does not meet the target.
    let mut weak = block_from_template(&t, b"weak");
    while weak.header.validate_pow(t.target).is_ok() {
        weak.header.nonce += 1;
    }
    assert_eq!(
        client.submit_block(&weak).await.unwrap(),
        SubmitBlockOutcome::Rejected {
            reason: "high-hash".into()
        }
    );

    // The wrong BIP34 height in the coinbase.
    let wrong_height = block_at_height(&t, t.height + 1, b"height");
    assert_eq!(
        client.submit_block(&wrong_height).await.unwrap(),
        SubmitBlockOutcome::Rejected {
            reason: "bad-cb-height".into()
        }
    );

    // Longpoll: waits while nothing changes, returns once a block is found.
    let longpollid = t.longpollid.clone().unwrap();
    let longpoll = {
        let client = client_for(&node);
        tokio::spawn(async move { client.get_block_template_longpoll(&longpollid).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !longpoll.is_finished(),
        "longpoll returned with nothing new"
    );

    // A valid block built from the template: accepted, then a duplicate.
    let good = block_from_template(&t, b"mesos-miner test");
    assert_eq!(
        client.submit_block(&good).await.unwrap(),
        SubmitBlockOutcome::Accepted
    );
    assert_eq!(
        client.get_best_block_hash().await.unwrap(),
        good.block_hash()
    );
    assert_eq!(
        client.submit_block(&good).await.unwrap(),
        SubmitBlockOutcome::Duplicate
    );
    let next = tokio::time::timeout(Duration::from_secs(30), longpoll)
        .await
        .expect("longpoll should return after a new block")
        .unwrap()
        .unwrap();
    assert_eq!(next.previousblockhash, good.block_hash());
    assert_eq!(next.height, 3);

    // A valid competitor of `good` (same parent, same work) arrives second: Core keeps it but
    // not on the best chain, and says "inconclusive".
    let rival = block_from_template(&t, b"rival");
    assert_eq!(
        client.submit_block(&rival).await.unwrap(),
        SubmitBlockOutcome::Inconclusive
    );
    assert_eq!(
        client.get_best_block_hash().await.unwrap(),
        good.block_hash()
    );

    // Wrong password: HTTP 401, reported as such.
    let wrong = NodeClient::new(
        node.rpc_url(),
        Auth::UserPass {
            user: node.rpc_user().to_owned(),
            password: "wrong".into(),
        },
    )
    .unwrap();
    let err = wrong.get_block_count().await.unwrap_err();
    assert!(matches!(err, UpstreamError::Unauthorized { .. }), "{err}");

    // The cookie file works as well as the rpcauth user.
    let by_cookie = NodeClient::new(node.rpc_url(), Auth::CookieFile(node.cookie_path())).unwrap();
    assert_eq!(by_cookie.get_block_count().await.unwrap(), 2);

    // Unknown method: an RPC error with the node's code.
    let err = client
        .call::<serde_json::Value>("nosuchmethod", vec![])
        .await
        .unwrap_err();
    assert_eq!(err.rpc_code(), Some(rpc_code::METHOD_NOT_FOUND), "{err}");

    // The node stopped: a retryable transport error (connection refused), not a panic.
    tokio::task::block_in_place(|| node.stop()).expect("stop the node");
    let err = client.get_block_count().await.unwrap_err();
    assert!(err.is_transport(), "{err}");
}
