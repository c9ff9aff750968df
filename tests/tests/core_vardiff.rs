//! A fast honest miner on a pool that starts it far too easy, against Bitcoin Core on a custom
//! signet (challenge `51`), where a share is not always a block (on regtest it is, and blocks
//! are never rate limited, which would hide what these check). The proxy starts every
//! connection at the signet floor, 2^-16: a CPU core finds hundreds of shares a second there,
//! several times the per-connection share rate limit.
//!
//! * `miner run --suggest-difficulty off`: the proxy's vardiff alone. Its fast retarget finds
//!   the miner's rate within a few dozen shares and puts the new difficulty into effect at once
//!   (the current job re-sent under an alias), so the rate limit refuses (nearly) none of the
//!   miner's work. Before, vardiff moved at most 4x per 30 s and the difficulty waited for the
//!   next job, and the limit refused hundreds of honest shares a second meanwhile.
//! * `miner run` with its default `--suggest-difficulty auto`: the miner measures its hash rate,
//!   suggests the difficulty for a share every `--share-secs`, and the proxy credits its shares
//!   at that difficulty.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proxy::vardiff::SIGNET_MIN_DIFFICULTY;
use serde_json::Value;
use tests::bins::workspace_bin;
use tests::mining::{journal_shares, wait_until, KillOnDrop, Proxy, ProxyOptions};
use tests::node::{Chain, Node};
use tests::wallet::{AddressKind, TestWallet};

/// The share interval both the proxy's vardiff and the miner's suggestion aim at: short, so
/// the difficulty it calls for stays below the custom signet's block difficulty (~0.001) on
/// a fast core, and most shares are not blocks.
const SHARE_SECS: &str = "0.05";

/// The proxy, at the signet floor, for `fallback`.
fn proxy(node: &Node, fallback: &str, dir: &Path) -> Proxy {
    let mut options = ProxyOptions::new(fallback, dir);
    options.difficulty = SIGNET_MIN_DIFFICULTY;
    options.share_seconds = SHARE_SECS.parse().unwrap();
    Proxy::start(node, &options)
}

/// `miner run` with one thread for `user`, its log in `log`.
fn miner(proxy: &Proxy, user: &str, suggest: &str, log: &Path) -> KillOnDrop {
    let log = std::fs::File::create(log).expect("the miner's log");
    KillOnDrop(
        Command::new(workspace_bin("miner"))
            .args(["run", "--pool", &proxy.url(), "--user", user])
            .args(["--threads", "1", "--status-secs", "5"])
            .args(["--suggest-difficulty", suggest, "--share-secs", SHARE_SECS])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start miner"),
    )
}

/// `text` without ANSI colour sequences (`ESC [ ... m`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn counter(stats: &Value, path: &[&str]) -> u64 {
    path.iter().fold(stats, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

/// Shares accepted and refused by the rate limit, now.
fn counts(proxy: &Proxy) -> (u64, u64) {
    let stats = proxy.stats();
    (
        counter(&stats, &["shares_accepted"]),
        counter(&stats, &["shares_rejected", "rate-limited"]),
    )
}

#[test]
fn a_fast_miner_started_far_too_easy_is_not_refused_while_vardiff_catches_up() {
    let node = Node::start(Chain::Signet).expect("a custom signet node");
    let wallet = TestWallet::new(node.network(), "vardiff");
    let fallback = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let alice = wallet.address(AddressKind::P2wpkh, 1).to_string();
    let alice_script = wallet.script(AddressKind::P2wpkh, 1);
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(&node, &fallback, dir.path());
    let journal = dir.path().join("journal");

    let _miner = miner(
        &proxy,
        &format!("{alice}.fast"),
        "off",
        &dir.path().join("miner.log"),
    );
    wait_until("a first share", Duration::from_secs(60), || {
        counts(&proxy).0 > 0
    });
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let (accepted_10, refused_10) = counts(&proxy);
    std::thread::sleep(Duration::from_secs(10));
    let (accepted_20, refused_20) = counts(&proxy);
    let elapsed = start.elapsed().as_secs_f64();
    let credited: Vec<f64> = journal_shares(&journal)
        .into_iter()
        .filter(|(s, _)| *s == alice_script)
        .map(|(_, d)| d)
        .collect();
    let first = credited.first().copied().unwrap_or_default();
    let last = credited.last().copied().unwrap_or_default();
    let stats = proxy.stats();
    eprintln!(
        "in {elapsed:.1} s: accepted {accepted_10} then {accepted_20}, rate-limited \
         {refused_10} then {refused_20}; credited {} shares from {first:e} to {last:e}\n{stats}",
        credited.len()
    );
    // The start was far too easy: the first shares are at the floor ...
    assert!(
        (first / SIGNET_MIN_DIFFICULTY - 1.0).abs() < 1e-9,
        "{first}"
    );
    // ... and the difficulty rose (towards its share rate's, 20 to 40 times the floor for one
    // core here, less where the two tests of this file share two slow cores) ...
    assert!(last >= 4.0 * SIGNET_MIN_DIFFICULTY, "{last}");
    // ... so that the rate limit (80 shares a second for a 0.05 s aim) refused next to
    // nothing: before the fast retarget, hundreds a second for the first half minute.
    assert!(refused_20 <= 50, "refused {refused_20} honest shares");
    // In the second ten seconds the miner is near vardiff's aim (20 a second), nowhere near
    // its hundreds a second at the floor.
    let late_rate = (accepted_20 - accepted_10) as f64 / 10.0;
    assert!(
        (2.0..=80.0).contains(&late_rate),
        "{late_rate} shares a second"
    );
}

#[test]
fn a_miner_suggesting_its_difficulty_is_credited_at_it() {
    let node = Node::start(Chain::Signet).expect("a custom signet node");
    let network_difficulty = node.cli_json(&["getblockchaininfo"]).unwrap()["difficulty"]
        .as_f64()
        .unwrap();
    let wallet = TestWallet::new(node.network(), "suggest");
    let fallback = wallet.address(AddressKind::P2wpkh, 0).to_string();
    let bob = wallet.address(AddressKind::P2tr, 1).to_string();
    let bob_script = wallet.script(AddressKind::P2tr, 1);
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(&node, &fallback, dir.path());
    let journal = dir.path().join("journal");
    let log = dir.path().join("miner.log");

    let _miner = miner(&proxy, &format!("{bob}.auto"), "auto", &log);
    // The miner measures its hash rate first, then suggests.
    let mut suggested = None;
    wait_until("the miner's suggestion", Duration::from_secs(60), || {
        let text = plain(&std::fs::read_to_string(&log).unwrap_or_default());
        suggested = text
            .lines()
            .find(|l| l.contains("suggesting a share difficulty"))
            .and_then(|l| l.split("difficulty=").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok());
        suggested.is_some()
    });
    let suggested = suggested.unwrap();
    wait_until("30 credited shares", Duration::from_secs(120), || {
        journal_shares(&journal)
            .iter()
            .filter(|(s, _)| *s == bob_script)
            .count()
            >= 30
    });
    std::thread::sleep(Duration::from_secs(5));
    let credited: Vec<f64> = journal_shares(&journal)
        .into_iter()
        .filter(|(s, _)| *s == bob_script)
        .map(|(_, d)| d)
        .collect();
    let stats = proxy.stats();
    eprintln!(
        "suggested {suggested:e} (network {network_difficulty:e}); credited {} shares: first \
         {:?}, last {:?}\n{stats}",
        credited.len(),
        &credited[..5],
        credited.last()
    );
    // What the proxy hands out is the suggestion (capped at the network difficulty), and vardiff
    // aiming at the same interval leaves it within a factor of four.
    let expected = suggested.min(network_difficulty);
    assert!(
        expected > 2.0 * SIGNET_MIN_DIFFICULTY,
        "a suggestion above the floor: {expected}"
    );
    let at_suggestion = credited
        .iter()
        .filter(|d| (0.25..=4.0).contains(&(**d / expected)))
        .count();
    assert!(
        at_suggestion * 10 >= credited.len() * 9,
        "{at_suggestion} of {} shares near {expected}: {credited:?}",
        credited.len()
    );
    assert_eq!(
        counter(&stats, &["shares_rejected", "rate-limited"]),
        0,
        "{stats}"
    );
}
