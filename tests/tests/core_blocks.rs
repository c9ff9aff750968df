//! The proxy's blocks, judged by Bitcoin Core: an empty mempool, segwit and taproot spends from
//! the mempool (Core checks the witness commitment), BIP34 heights at every push-size boundary,
//! blocks found at a share difficulty above the network's, and a node whose RPC stays healthy
//! under the proxy's template loop while the chain is idle.

use std::time::{Duration, Instant};

use bitcoin::script::Builder;
use bitcoin::{Amount, Block, Transaction, TxOut, Txid};
use tests::mining::{mined_by_proxy, miner, wait_until, Proxy, ProxyOptions};
use tests::node::{Chain, Node, NodeOptions};
use tests::wallet::{AddressKind, TestWallet, Utxo};

/// Each test runs a node, a proxy and a miner: one at a time on the two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first block at or above `from` that the proxy mined and that satisfies `want`.
fn find_block(node: &Node, from: u64, want: impl Fn(&Block) -> bool) -> Option<(u64, Block)> {
    let tip = node.height().ok()?;
    (from..=tip)
        .map(|h| (h, node.block_at(h).expect("block on the best chain")))
        .find(|(_, b)| mined_by_proxy(b) && want(b))
}

fn txids(block: &Block) -> Vec<Txid> {
    block.txdata.iter().map(Transaction::compute_txid).collect()
}

#[test]
fn blocks_with_an_empty_mempool_and_with_segwit_and_taproot_spends_are_accepted() {
    let _serial = serial();
    let node = Node::start(Chain::Regtest).expect("regtest node");
    let wallet = TestWallet::new(node.network(), "core-blocks");
    let coins = wallet.mine_coinbases(&node, 2).expect("mature coinbases");

    // One coin of every spendable type (keys 10..), confirmed by a block Core mines itself.
    let kinds = AddressKind::SPENDABLE;
    let owned: Vec<_> = kinds
        .iter()
        .zip(10u32..)
        .map(|(kind, key)| (*kind, key, wallet.script(*kind, key)))
        .collect();
    let outputs = owned
        .iter()
        .map(|(_, _, script)| TxOut {
            value: Amount::from_sat(10_000_000),
            script_pubkey: script.clone(),
        })
        .collect();
    let change = wallet.script(AddressKind::P2wpkh, 0);
    let funding = wallet
        .spend(&coins[..1], outputs, change.clone(), 2)
        .expect("funding transaction");
    TestWallet::broadcast(&node, &funding).expect("funding accepted by the mempool");
    let miner_address = wallet.address(AddressKind::P2wpkh, 1).to_string();
    node.generate_to(1, &miner_address).unwrap();
    let typed: Vec<Utxo> = TestWallet::coins_of(&funding, &owned);
    assert_eq!(typed.len(), kinds.len());

    // The proxy mines on an empty mempool first.
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&node, &ProxyOptions::new(&miner_address, dir.path()));
    let start = node.height().unwrap() + 1;
    let mut mining = Some(miner(&proxy.url(), &format!("{miner_address}.w")));
    wait_until(
        "a block on an empty mempool",
        Duration::from_secs(120),
        || find_block(&node, start, |b| b.txdata.len() == 1).is_some(),
    );
    let (_, empty) = find_block(&node, start, |b| b.txdata.len() == 1).unwrap();
    assert!(empty.bip34_block_height().is_ok());
    drop(mining.take());

    // Then each typed coin is spent in its own transaction, plus one spending all four.
    let mut spends = Vec::new();
    for coin in &typed[..] {
        let out = vec![TxOut {
            value: Amount::from_sat(1_000_000),
            script_pubkey: wallet.script(AddressKind::P2tr, 20),
        }];
        spends.push(
            wallet
                .spend(std::slice::from_ref(coin), out, change.clone(), 3)
                .expect("a spend"),
        );
    }
    for tx in &spends {
        TestWallet::broadcast(&node, tx).unwrap_or_else(|e| panic!("{e}"));
    }
    let want: Vec<Txid> = spends.iter().map(Transaction::compute_txid).collect();
    let from = node.height().unwrap() + 1;
    mining = Some(miner(&proxy.url(), &format!("{miner_address}.w")));
    let has_all = |b: &Block| {
        let ids = txids(b);
        want.iter().all(|t| ids.contains(t))
    };
    wait_until(
        "a proxy block with the spends",
        Duration::from_secs(120),
        || find_block(&node, from, has_all).is_some(),
    );
    drop(mining);
    let (height, block) = find_block(&node, from, has_all).unwrap();

    // Core accepted it on the best chain; it carries the witnesses and the commitment.
    let verbose = node
        .cli_json(&["getblock", &block.block_hash().to_string(), "2"])
        .unwrap();
    assert_eq!(verbose["height"], height);
    assert!(verbose["confirmations"].as_i64().unwrap() >= 1);
    let coinbase = &block.txdata[0];
    let commitment = coinbase
        .output
        .iter()
        .rev()
        .find(|o| {
            o.script_pubkey
                .as_bytes()
                .starts_with(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed])
        })
        .expect("a witness commitment output");
    assert_eq!(commitment.value, Amount::ZERO);
    assert_eq!(coinbase.input[0].witness.len(), 1, "witness reserved value");
    assert!(
        block.check_witness_commitment(),
        "the commitment matches the witnesses"
    );
    for (tx, kind) in spends.iter().zip(kinds) {
        let inside = block
            .txdata
            .iter()
            .find(|t| t.compute_txid() == tx.compute_txid())
            .unwrap();
        let witnessed = !inside.input[0].witness.is_empty();
        assert_eq!(witnessed, kind != AddressKind::P2pkh, "{kind:?} witness");
    }
    // The template's fees went to the coinbase.
    let fees: u64 = verbose["tx"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|t| (t["fee"].as_f64().unwrap() * 1e8).round() as u64)
        .sum();
    let paid: u64 = coinbase.output.iter().map(|o| o.value.to_sat()).sum();
    let subsidy = 5_000_000_000u64 >> (height / 150);
    assert_eq!(paid, subsidy + fees);
}

#[test]
fn bip34_heights_across_every_push_size_boundary_are_accepted() {
    let _serial = serial();
    // Regtest checks the whole block index after every block by default, which makes mining
    // 32,768 blocks quadratic (minutes); the blocks themselves are validated as ever.
    let mut options = NodeOptions::new(Chain::Regtest);
    options.extra_conf.push("checkblockindex=0".into());
    let node = Node::start_with(&options).expect("regtest node");
    let wallet = TestWallet::new(node.network(), "bip34");
    let address = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let dir = tempfile::tempdir().unwrap();
    let options = ProxyOptions::new(&address, dir.path());
    // Heights 1..=16 are OP_1..OP_16; 17 is the first one-byte push; 128 and 32768 need an
    // extra byte for the sign bit; 256 is the first two-byte push.
    let boundaries: [u64; 4] = [17, 128, 256, 32768];
    let mut start = Instant::now();
    for boundary in boundaries {
        let height = node.height().unwrap();
        if height + 2 < boundary {
            // Up to just before the boundary with Core's own miner, in chunks.
            let mut left = boundary - 2 - height;
            while left > 0 {
                let n = left.min(2_000);
                node.generate_to(n, &address).unwrap();
                left -= n;
            }
        }
        // A proxy per boundary: one that followed Core's 32,000 blocks would build a job for each.
        let proxy = Proxy::start(&node, &options);
        let mining = miner(&proxy.url(), &format!("{address}.w"));
        wait_until(
            &format!("blocks across height {boundary}"),
            Duration::from_secs(120),
            || node.height().unwrap() > boundary,
        );
        drop(mining);
        drop(proxy);
        for h in [boundary - 1, boundary] {
            let block = node.block_at(h).unwrap();
            assert!(mined_by_proxy(&block), "block {h} mined by the proxy");
            // Core's own encoding of the height (`CScript() << nHeight`) opens the scriptSig.
            let height = Builder::new().push_int(h as i64).into_script();
            let script_sig = block.txdata[0].input[0].script_sig.as_bytes();
            assert!(
                script_sig.starts_with(height.as_bytes()),
                "height {h}: {script_sig:x?}"
            );
        }
        eprintln!(
            "heights {} and {boundary} in {:?}",
            boundary - 1,
            start.elapsed()
        );
        start = Instant::now();
    }
}

/// A miner only sends hashes that meet its share target, so a share difficulty above the
/// network's would keep blocks from the pool: the proxy caps it (and checks the block target
/// first for whatever arrives).
fn blocks_at_a_share_difficulty_of_1e6(chain: Chain) {
    let _serial = serial();
    let node = Node::start(chain).expect("node");
    let wallet = TestWallet::new(node.network(), "high-share-difficulty");
    let address = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let dir = tempfile::tempdir().unwrap();
    // Difficulty 1e6 shares would take a CPU core years.
    let mut options = ProxyOptions::new(&address, dir.path());
    options.difficulty = 1e6;
    options.share_seconds = 600.0;
    let proxy = Proxy::start(&node, &options);
    let start = node.height().unwrap();
    let _mining = miner(&proxy.url(), &format!("{address}.w"));
    wait_until(
        "blocks at a share difficulty of 1e6",
        Duration::from_secs(120),
        || node.height().unwrap() >= start + 3,
    );
    let stats = proxy.stats();
    assert!(
        stats["blocks_accepted"].as_u64().unwrap_or(0) >= 3,
        "{stats}"
    );
}

#[test]
fn regtest_blocks_are_submitted_when_the_share_difficulty_is_above_the_networks() {
    blocks_at_a_share_difficulty_of_1e6(Chain::Regtest);
}

#[test]
fn signet_blocks_are_submitted_when_the_share_difficulty_is_above_the_networks() {
    blocks_at_a_share_difficulty_of_1e6(Chain::Signet);
}

/// Core does not cancel a longpoll its client gave up on: if the proxy dropped its longpoll at
/// every refresh, each refresh would pin one of Core's RPC threads until a block arrives, and
/// once all are pinned every RPC call hangs. Run the refresh every second on an idle chain for
/// longer than it takes to pin all of Core's default threads, and check Core's own view of its
/// active commands.
#[test]
fn an_idle_node_stays_healthy_under_the_template_loop() {
    let _serial = serial();
    let node = Node::start(Chain::Regtest).expect("regtest node");
    let wallet = TestWallet::new(node.network(), "idle");
    let address = wallet.address(AddressKind::P2wpkh, 0).to_string();
    node.generate_to(1, &address).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut options = ProxyOptions::new(&address, dir.path());
    options.refresh_seconds = 1.0;
    let proxy = Proxy::start(&node, &options);
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut samples = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let info = node
            .cli_json(&["-rpcclienttimeout=10", "getrpcinfo"])
            .expect("the node's RPC answers under the template loop");
        let long_calls: Vec<_> = info["active_commands"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["method"] == "getblocktemplate")
            .filter(|c| c["duration"].as_u64().unwrap_or(0) > 2_000_000)
            .collect();
        assert!(
            long_calls.len() <= 1,
            "longpolls held by the node: {long_calls:?}"
        );
        samples += 1;
    }
    assert!(samples >= 30);
    // The node still does everything: a block mined now reaches the proxy's job.
    let before = proxy.stats();
    node.generate_to(1, &address).unwrap();
    let tip = node.height().unwrap();
    let started = Instant::now();
    let mining = miner(&proxy.url(), &format!("{address}.w"));
    wait_until(
        "the proxy mining on the new tip",
        Duration::from_secs(60),
        || node.height().unwrap() > tip,
    );
    drop(mining);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(proxy.stats()["blocks_accepted"].as_u64() > before["blocks_accepted"].as_u64());
}
