//! A template full to the block weight limit, and a coinbase paying hundreds of distinct payees
//! of every address type (P2PKH, P2SH, P2WPKH, P2WSH, P2TR): the proxy budgets the coinbase from
//! what Core's template leaves (`weightlimit`, `sigoplimit`, the transactions' weight and
//! sigops) and the stratum line limit, pays the largest window that fits, and folds one payee
//! more. Core accepts both blocks: no `bad-blk-weight`, no `bad-blk-sigops`.
//!
//! The node reserves 100,000 weight units for the coinbase (`-blockreservedweight`; Core's
//! default of 8,000 leaves room for a few dozen payees only), and the mempool holds more
//! large transactions than a block takes, so the template is as full as Core makes it.

use std::collections::BTreeSet;
use std::time::Duration;

use bitcoin::{Amount, Block, ScriptBuf, TxOut, Weight};
use proxy::coinbase::CoinbaseConfig;
use proxy::upstream::{Auth, BlockTemplate, NodeClient};
use tests::mining::{mined_by_proxy, miner, payouts, wait_until, Proxy, ProxyOptions};
use tests::node::{Chain, Node, NodeOptions};
use tests::wallet::{AddressKind, TestWallet, Utxo};

const RESERVED_WEIGHT: u64 = 100_000;

/// Broadcasts one transaction per coin, each paying `outputs[i]` P2WPKH outputs.
fn fill(node: &Node, wallet: &TestWallet, coins: &[Utxo], outputs: &[usize], key: &mut u32) {
    for (coin, n) in coins.iter().zip(outputs) {
        let value = Amount::from_sat(coin.txout.value.to_sat() / (*n as u64 + 1));
        let outs = (0..*n)
            .map(|_| {
                *key += 1;
                TxOut {
                    value,
                    script_pubkey: wallet.script(AddressKind::P2wpkh, 1_000_000 + *key),
                }
            })
            .collect();
        let tx = wallet
            .spend(
                std::slice::from_ref(coin),
                outs,
                wallet.script(AddressKind::P2wpkh, 0),
                2,
            )
            .expect("a large spend");
        TestWallet::broadcast(node, &tx).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The node's template, as the proxy gets it.
///
/// Core serves the template it built last (for the proxy's poll, say) until the mempool has
/// changed *and* that template is more than 5 s old: waiting 6 s after filling the mempool
/// makes the next one hold every transaction.
fn template(node: &Node) -> BlockTemplate {
    std::thread::sleep(std::time::Duration::from_secs(6));
    let client = NodeClient::new(node.rpc_url(), Auth::CookieFile(node.cookie_path())).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(client.get_block_template())
        .expect("a template")
}

/// `count` distinct payout scripts cycling through every address type.
fn payees(wallet: &TestWallet, count: usize) -> Vec<ScriptBuf> {
    (0..count)
        .map(|i| {
            let kind = AddressKind::ALL[i % AddressKind::ALL.len()];
            wallet.script(kind, 10_000 + i as u32)
        })
        .collect()
}

/// A journal whose PPLNS window is one share per payee, of slightly decreasing difficulty, so
/// the proxy's ranking of payees (by amount) is their order here. The proxy's window must be
/// at least their work ([`mine_full_block`] sizes it).
fn write_journal(path: &std::path::Path, payees: &[ScriptBuf]) {
    let lines: String = payees
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{{\"type\":\"share\",\"script\":\"{}\",\"difficulty\":{}}}\n",
                hex::encode(s.as_bytes()),
                2.0 - i as f64 * 1e-4
            )
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

/// Mines with a fresh proxy whose window pays `window`; returns the first proxy block that
/// carries the template's transactions.
fn mine_full_block(
    node: &Node,
    window: &[ScriptBuf],
    miner_user: &str,
    t: &BlockTemplate,
) -> Block {
    let dir = tempfile::tempdir().unwrap();
    let fallback = bitcoin::Address::from_script(&window[0], node.network())
        .unwrap()
        .to_string();
    let mut options = ProxyOptions::new(&fallback, dir.path());
    write_journal(&options.journal, window);
    // The window is measured in work: make it hold every journaled share (each up to
    // difficulty 2) and the few the miner adds.
    let journaled = 2.0 * window.len() as f64;
    let factor = 2.0 * journaled / proxy::vardiff::REGTEST_DIFFICULTY;
    options.extra_args = vec!["--pplns-window-factor".into(), factor.to_string()];
    let start = node.height().unwrap();
    let proxy = Proxy::start(node, &options);
    let mining = miner(&proxy.url(), miner_user);
    wait_until("a full block", Duration::from_secs(120), || {
        node.height().unwrap() > start
    });
    drop(mining);
    let block = node.block_at(start + 1).unwrap();
    assert!(mined_by_proxy(&block));
    assert_eq!(
        block.txdata.len(),
        t.transactions.len() + 1,
        "the whole template mined"
    );
    block
}

fn tx_weight(t: &BlockTemplate) -> u64 {
    t.transactions.iter().map(|tx| tx.weight.unwrap_or(0)).sum()
}

#[test]
fn a_full_template_pays_the_largest_window_that_fits_and_folds_one_more() {
    let mut options = NodeOptions::new(Chain::Regtest);
    options
        .extra_conf
        .push(format!("blockreservedweight={RESERVED_WEIGHT}"));
    let node = Node::start_with(&options).expect("regtest node");
    let wallet = TestWallet::new(node.network(), "full-template");
    let coins = wallet.mine_coinbases(&node, 23).expect("mature coinbases");
    let miner_user = format!("{}.w", wallet.address(AddressKind::P2wpkh, 0));
    let config = CoinbaseConfig::default();
    let candidates = payees(&wallet, 2_000);
    let mut key = 0;

    // Ten transactions of ~360,000 WU, one of ~285,000 and one more large one that does not
    // fit: Core's template is as full as its assembler makes it.
    let mut sizes = vec![2_900; 11];
    sizes.insert(10, 2_300);
    fill(&node, &wallet, &coins[..12], &sizes, &mut key);
    let t = template(&node);
    assert!(
        tx_weight(&t) > 4_000_000 - RESERVED_WEIGHT - 30_000,
        "template weight {}",
        tx_weight(&t)
    );
    let fits =
        proxy::budget::max_payees(&t, &config, stratum::DEFAULT_MAX_LINE_LEN, &candidates).unwrap();
    eprintln!(
        "template: {} transactions, {} WU; {fits} payees fit",
        t.transactions.len(),
        tx_weight(&t)
    );
    assert!(
        fits >= 300,
        "hundreds of payees fit the reserved weight: {fits}"
    );
    assert!(fits < candidates.len(), "the budget binds");

    // The largest window that fits is paid in full.
    let block = mine_full_block(&node, &candidates[..fits], &miner_user, &t);
    let paid: BTreeSet<ScriptBuf> = payouts(&block)
        .into_iter()
        .map(|o| o.script_pubkey)
        .collect();
    let window: BTreeSet<ScriptBuf> = candidates[..fits].iter().cloned().collect();
    assert_eq!(paid, window, "every payee of the window paid");
    let of_type = |is: fn(&bitcoin::Script) -> bool| paid.iter().filter(|s| is(s)).count();
    for (name, count) in [
        ("P2PKH", of_type(bitcoin::Script::is_p2pkh)),
        ("P2SH", of_type(bitcoin::Script::is_p2sh)),
        ("P2WPKH", of_type(bitcoin::Script::is_p2wpkh)),
        ("P2WSH", of_type(bitcoin::Script::is_p2wsh)),
        ("P2TR", of_type(bitcoin::Script::is_p2tr)),
    ] {
        assert!(count >= fits / 6, "{count} {name} payees of {fits}");
    }
    assert!(block.weight() <= Weight::MAX_BLOCK);
    assert!(
        block.weight().to_wu() > 4_000_000 - 30_000,
        "weight {}",
        block.weight()
    );
    let one_more = TxOut {
        value: Amount::from_sat(1),
        script_pubkey: candidates[fits].clone(),
    };
    let sigops_left =
        t.sigoplimit.unwrap() - t.transactions.iter().filter_map(|x| x.sigops).sum::<u64>();
    let coinbase_sigops = 4 * block.txdata[0]
        .output
        .iter()
        .filter(|o| o.script_pubkey.is_p2pkh())
        .count() as u64;
    let extra_sigops = if candidates[fits].is_p2pkh() { 4 } else { 0 };
    assert!(
        block.weight() + one_more.weight() > Weight::MAX_BLOCK
            || coinbase_sigops + extra_sigops > sigops_left,
        "one payee more would still have fit: weight {}, sigops {coinbase_sigops} of {sigops_left}",
        block.weight()
    );
    let verbose = node
        .cli_json(&["getblock", &block.block_hash().to_string(), "1"])
        .unwrap();
    assert!(verbose["confirmations"].as_i64().unwrap() >= 1);

    // One payee more than fits: exactly one is folded, and nothing is lost.
    let mut sizes = vec![2_900; 10];
    sizes.push(2_300);
    fill(&node, &wallet, &coins[12..], &sizes, &mut key);
    let t = template(&node);
    assert!(tx_weight(&t) > 4_000_000 - RESERVED_WEIGHT - 30_000);
    let fits =
        proxy::budget::max_payees(&t, &config, stratum::DEFAULT_MAX_LINE_LEN, &candidates).unwrap();
    let window = &candidates[..fits + 1];
    let block = mine_full_block(&node, window, &miner_user, &t);
    let paid: BTreeSet<ScriptBuf> = payouts(&block)
        .into_iter()
        .map(|o| o.script_pubkey)
        .collect();
    let all_but_last: BTreeSet<ScriptBuf> = window[..fits].iter().cloned().collect();
    assert_eq!(
        paid, all_but_last,
        "the smallest payee, and only it, is folded"
    );
    let total: Amount = payouts(&block).iter().map(|o| o.value).sum();
    assert_eq!(
        total, t.coinbasevalue,
        "the folded payee's amount stays in the coinbase"
    );
    assert!(block.weight() <= Weight::MAX_BLOCK);
}
