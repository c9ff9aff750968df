//! devcluster must stay small: 100 agents in one process well under
//! 100 MiB of resident memory (no task or thread per agent).

use crate::common::*;

/// Resident set size of this process in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn hundred_agents_offer_under_100_mib() {
    let harness = start(100, 4.0, 4096.0, (31000, 32000)).await;
    let mut sched = subscribe(&harness.client, None, 0.0).await;
    let mut offers = Vec::new();
    while offers.len() < 100 {
        offers.extend(sched.offers().await);
    }
    let mut agents: Vec<_> = offers
        .iter()
        .map(|offer| offer.agent_id.value.clone())
        .collect();
    agents.sort();
    agents.dedup();
    assert_eq!(agents.len(), 100);
    let rss = rss_kib();
    eprintln!("RSS with 100 agents: {rss} KiB");
    assert!(rss < 100 * 1024, "RSS {rss} KiB");
}
