//! Planning with revocable CPUs and the operator's limits: which miners an
//! offer gets under each CPU policy, `--max-cpus`, the quota and
//! placement constraints.

use super::tests::{book_with_running_proxy, config, declined, offer};
use super::*;
use crate::cpu_policy::CpuPolicy;
use crate::limits::CpuLimit;
use mesos::v1::{value, Attribute, TaskStatus};

fn revocable_cpus(amount: f64) -> Resource {
    let mut resource = crate::resources::tests::scalar(CPUS, amount);
    resource.revocable = Some(Default::default());
    resource
}

/// An offer of `cpus` regular and `slack` revocable CPUs.
fn mixed(id: &str, agent: &str, cpus: f64, slack: f64) -> Offer {
    let mut offer = offer(id, agent, cpus, 1024.0, &[]);
    if slack > 0.0 {
        offer.resources.push(revocable_cpus(slack));
    }
    offer
}

fn with_rack(mut offer: Offer, rack: &str) -> Offer {
    offer.attributes.push(Attribute {
        name: "rack".into(),
        r#type: value::Type::Text as i32,
        text: Some(value::Text { value: rack.into() }),
        ..Default::default()
    });
    offer
}

/// `(cpus, revocable)` of each task launched, with the check that no task
/// (with its executor) mixes revocable and regular CPUs.
fn miners(decisions: &[Decision]) -> Vec<(f64, bool)> {
    let mut out = Vec::new();
    for decision in decisions {
        let Decision::Launch { tasks, .. } = decision else {
            continue;
        };
        for task in tasks {
            let executor = task.executor.iter().flat_map(|e| e.resources.iter());
            let cpus: Vec<&Resource> = task
                .resources
                .iter()
                .chain(executor)
                .filter(|r| r.name == CPUS)
                .collect();
            let revocable = cpus.iter().all(|r| r.revocable.is_some());
            assert!(
                revocable || cpus.iter().all(|r| r.revocable.is_none()),
                "{} mixes revocable and regular CPUs",
                task.task_id.value
            );
            assert!(
                task.resources
                    .iter()
                    .filter(|r| r.name == MEM)
                    .all(|r| r.revocable.is_none()),
                "memory stays regular"
            );
            let total = cpus
                .iter()
                .filter(|r| task.resources.contains(r))
                .map(|r| r.scalar.as_ref().unwrap().value)
                .sum();
            out.push((total, revocable));
        }
    }
    out
}

#[test]
fn both_kinds_in_one_offer_make_two_miners() {
    let mut config = config();
    config.executor.cpus = 0.1;
    let mut book = book_with_running_proxy(&config);
    let decisions = plan_offers(&config, &mut book, &[mixed("o1", "a1", 2.0, 1.5)], 10);
    assert_eq!(decisions.len(), 1, "one ACCEPT for both: {decisions:?}");
    assert_eq!(miners(&decisions), vec![(1.9, false), (1.4, true)]);
    let revocable: Vec<bool> = book.miners().map(|m| m.revocable).collect();
    assert_eq!(revocable.iter().filter(|r| **r).count(), 1);
    assert_eq!(revocable.len(), 2);
}

#[test]
fn the_policy_picks_the_kinds() {
    let offers = [mixed("o1", "a1", 2.0, 1.5), mixed("o2", "a2", 0.0, 3.0)];
    for (policy, expected) in [
        (CpuPolicy::Regular, vec![(2.0, false)]),
        (CpuPolicy::Revocable, vec![(1.5, true), (3.0, true)]),
        (
            CpuPolicy::Both,
            vec![(2.0, false), (1.5, true), (3.0, true)],
        ),
    ] {
        let mut config = config();
        config.miner.cpu_policy = policy;
        let mut book = book_with_running_proxy(&config);
        let decisions = plan_offers(&config, &mut book, &offers, 10);
        assert_eq!(miners(&decisions), expected, "{policy}");
    }
}

#[test]
fn the_proxy_never_takes_revocable_cpus() {
    let config = config();
    let mut book = TaskBook::default();
    let mut slack_only = offer("o1", "a1", 0.0, 1024.0, &[(31000, 31001)]);
    slack_only.resources.push(revocable_cpus(4.0));
    let decisions = plan_offers(&config, &mut book, &[slack_only], 0);
    assert!(book.proxy().is_none(), "{decisions:?}");
    let mut both = offer("o2", "a1", 1.0, 1024.0, &[(31000, 31001)]);
    both.resources.push(revocable_cpus(4.0));
    let decisions = plan_offers(&config, &mut book, &[both], 0);
    assert_eq!(miners(&decisions), vec![(0.5, false)]);
}

#[test]
fn max_cpus_caps_all_miners_together() {
    let mut config = config();
    config.limits.max_cpus = Some(CpuLimit::Cpus(3.0));
    let mut book = book_with_running_proxy(&config);
    let decisions = plan_offers(
        &config,
        &mut book,
        &[mixed("o1", "a1", 2.0, 2.0), mixed("o2", "a2", 2.0, 0.0)],
        10,
    );
    // 2 regular, then 1 of the revocable; nothing left for a2.
    assert_eq!(miners(&decisions), vec![(2.0, false), (1.0, true)]);
    assert!(declined(&decisions).contains(&"o2".to_string()));
    // A revoked miner gives its share back.
    let revocable = book.miners().find(|m| m.revocable).unwrap().id.to_string();
    let status = TaskStatus {
        reason: Some(mesos::v1::task_status::Reason::ContainerPreempted as i32),
        ..crate::tasks::tests::status(&revocable, "a1", mesos::v1::TaskState::TaskGone)
    };
    book.apply_status(&status, 20, &config.backoff);
    let decisions = plan_offers(&config, &mut book, &[mixed("o3", "a2", 2.0, 0.0)], 30);
    assert_eq!(miners(&decisions), vec![(1.0, false)]);
}

#[test]
fn a_percentage_is_of_the_cpus_seen() {
    let mut config = config();
    config.limits.max_cpus = Some(CpuLimit::Percent(50.0));
    let mut book = book_with_running_proxy(&config);
    // The proxy's agent showed 1 CPU; these two 4 each: 9 seen, 4.5 may mine.
    let decisions = plan_offers(
        &config,
        &mut book,
        &[mixed("o1", "a1", 4.0, 0.0), mixed("o2", "a2", 4.0, 0.0)],
        10,
    );
    let total: f64 = miners(&decisions).iter().map(|(cpus, _)| cpus).sum();
    assert!(total <= 4.5 + 1e-9, "{total}");
    assert!(total >= 2.0, "the first offer is used: {total}");
}

#[test]
fn quota_counts_regular_cpus_of_every_task_but_not_revocable_ones() {
    let mut config = config();
    // The proxy (0.5) is inside it already.
    config.limits.quota_cpus = Some(2.0);
    let mut book = book_with_running_proxy(&config);
    let decisions = plan_offers(&config, &mut book, &[mixed("o1", "a1", 4.0, 3.0)], 10);
    assert_eq!(miners(&decisions), vec![(1.5, false), (3.0, true)]);
    let decisions = plan_offers(&config, &mut book, &[mixed("o2", "a2", 4.0, 0.0)], 20);
    assert!(miners(&decisions).is_empty());
    assert_eq!(declined(&decisions), vec!["o2"]);
    // A proxy that does not fit is not launched.
    let mut config = config.clone();
    config.limits.quota_cpus = Some(0.25);
    let mut book = TaskBook::default();
    let decisions = plan_offers(
        &config,
        &mut book,
        &[offer("op", "p", 4.0, 1024.0, &[(31000, 31001)])],
        0,
    );
    assert!(book.proxy().is_none());
    assert_eq!(declined(&decisions), vec!["op"]);
}

#[test]
fn constraints_place_miners_and_the_proxy() {
    let mut config = config();
    config.limits.constraints = vec![
        "rack:LIKE:r[12]".parse().unwrap(),
        "hostname:UNIQUE".parse().unwrap(),
    ];
    let mut book = TaskBook::default();
    // The proxy: not on r3.
    let decisions = plan_offers(
        &config,
        &mut book,
        &[with_rack(
            offer("op3", "p3", 1.0, 512.0, &[(31000, 31001)]),
            "r3",
        )],
        0,
    );
    assert!(book.proxy().is_none(), "{decisions:?}");
    let decisions = plan_offers(
        &config,
        &mut book,
        &[with_rack(
            offer("op1", "p1", 1.0, 512.0, &[(31000, 31001)]),
            "r1",
        )],
        0,
    );
    assert!(book.proxy().is_some(), "{decisions:?}");
    let proxy = book.proxy().unwrap().id.to_string();
    book.apply_status(
        &crate::tasks::tests::status(&proxy, "p1", mesos::v1::TaskState::TaskRunning),
        1,
        &config.backoff,
    );
    let decisions = plan_offers(
        &config,
        &mut book,
        &[
            with_rack(mixed("o1", "a1", 2.0, 2.0), "r1"),
            with_rack(mixed("o2", "a2", 2.0, 0.0), "r3"),
            with_rack(mixed("o3", "a1", 1.0, 0.0), "r1"),
        ],
        10,
    );
    // a1: one miner only (UNIQUE hostname: the revocable part waits), a2 is
    // on r3, and a1's second offer is declined too.
    assert_eq!(miners(&decisions), vec![(2.0, false)]);
    let mut refused = declined(&decisions);
    refused.sort();
    assert_eq!(refused, vec!["o2", "o3"]);
}
