//! Maintenance primitives over the real endpoints and scheduler API: a
//! schedule puts a machine in DRAINING mode (offers with `unavailability`,
//! inverse offers to the framework running there, declined and accepted
//! with their filters), `/machine/down` removes its agent (its tasks lost),
//! `/machine/up` brings it back with a new agent id; bad requests get 400.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;
use mesos::v1::scheduler::{call, event};
use mesos::v1::{task_status, CommandInfo, Filters, TaskState};

const HOSTS: [&str; 2] = ["machine-a", "machine-b"];

fn machine(host: &str) -> String {
    format!(r#"{{"hostname":"{host}","ip":"127.0.0.1"}}"#)
}

fn schedule(host: &str, start_ns: i64) -> String {
    format!(
        r#"{{"windows":[{{"machine_ids":[{}],"unavailability":{{"start":{{"nanoseconds":{start_ns}}},"duration":{{"nanoseconds":3600000000000}}}}}}]}}"#,
        machine(host)
    )
}

async fn answer_inverse(sched: &Sched, id: &mesos::v1::OfferId, accept: bool, refuse: f64) {
    let kind = if accept {
        call::Type::AcceptInverseOffers
    } else {
        call::Type::DeclineInverseOffers
    };
    let mut call = sched.base(kind);
    let ids = vec![id.clone()];
    let filters = Some(Filters {
        refuse_seconds: Some(refuse),
    });
    if accept {
        call.accept_inverse_offers = Some(call::AcceptInverseOffers {
            inverse_offer_ids: ids,
            filters,
        });
    } else {
        call.decline_inverse_offers = Some(call::DeclineInverseOffers {
            inverse_offer_ids: ids,
            filters,
        });
    }
    sched.send(call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_down_and_up() {
    let harness = start_with(2, 2.0, 1024.0, (31000, 31009), |config| {
        config.agent_hostnames = HOSTS.iter().map(|host| host.to_string()).collect();
        config.fault_endpoints = true;
    })
    .await;
    let master = harness.cluster.master_addr();
    let mut sched = subscribe(&harness.client, None, 0.0).await;

    // A task on machine-a's agent; machine-b's offers go back.
    let offer = loop {
        let (mut a, others): (Vec<_>, Vec<_>) = sched
            .offers()
            .await
            .into_iter()
            .partition(|offer| offer.hostname == HOSTS[0]);
        sched
            .decline(others.into_iter().map(|offer| offer.id).collect(), 0.0)
            .await;
        if let Some(offer) = a.pop() {
            break offer;
        }
    };
    assert!(offer.unavailability.is_none());
    let agent_a = offer.agent_id.clone();
    let command = CommandInfo {
        value: Some("exec sleep 600".into()),
        ..Default::default()
    };
    sched
        .launch(
            vec![offer.id.clone()],
            vec![command_task(&offer, "t", command)],
        )
        .await;
    loop {
        let status = sched.update("t").await;
        sched.acknowledge(&status).await;
        if status.state() == TaskState::TaskRunning {
            break;
        }
    }

    // Bad requests.
    for (method, path, body, wanted) in [
        ("POST", "/maintenance/schedule", "{", "Failed to parse"),
        (
            "POST",
            "/maintenance/schedule",
            r#"{"windows":[{"machine_ids":[],"unavailability":{"start":{"nanoseconds":1}}}]}"#,
            "empty",
        ),
        (
            "POST",
            "/machine/down",
            &format!("[{}]", machine(HOSTS[0])),
            "DRAINING",
        ),
        (
            "POST",
            "/machine/up",
            &format!("[{}]", machine(HOSTS[0])),
            "DOWN",
        ),
        ("DELETE", "/machine/up", "", "POST"),
    ] {
        let (code, text) = operator(master, method, path, body);
        assert!(
            (code == 400 || code == 405) && text.contains(wanted),
            "{method} {path} {body}: {code} {text}"
        );
    }

    // Schedule machine-a: an inverse offer for its agent, with the window.
    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
        + 3_600_000_000_000;
    let (code, text) = operator(
        master,
        "POST",
        "/maintenance/schedule",
        &schedule(HOSTS[0], start_ns),
    );
    assert_eq!(code, 200, "{text}");
    let (code, text) = operator(master, "GET", "/maintenance/schedule", "");
    assert_eq!(code, 200);
    assert!(
        text.contains(HOSTS[0]) && text.contains(&start_ns.to_string()),
        "{text}"
    );
    let inverse = sched
        .expect("INVERSE_OFFERS", |event| {
            event.r#type() == event::Type::InverseOffers
        })
        .await
        .inverse_offers
        .unwrap()
        .inverse_offers
        .remove(0);
    assert_eq!(inverse.agent_id.as_ref(), Some(&agent_a));
    assert_eq!(inverse.unavailability.start.nanoseconds, start_ns);
    assert!(inverse.resources.is_empty(), "the whole agent");

    // Offers of machine-a now carry the unavailability (machine-b's, if
    // any are made again meanwhile, do not).
    let mut seen = [false, false];
    while !seen[0] {
        for offer in sched.offers().await {
            let index = HOSTS
                .iter()
                .position(|host| *host == offer.hostname)
                .unwrap();
            assert_eq!(
                offer.unavailability.map(|u| u.start.nanoseconds),
                (index == 0).then_some(start_ns),
                "{}",
                offer.hostname
            );
            seen[index] = true;
            sched.decline(vec![offer.id], 0.5).await;
        }
    }

    // Declined (filter 1 s): asked again once the filter is over.
    answer_inverse(&sched, &inverse.id, false, 1.0).await;
    let again = sched
        .expect("INVERSE_OFFERS again", |event| {
            event.r#type() == event::Type::InverseOffers
        })
        .await
        .inverse_offers
        .unwrap()
        .inverse_offers
        .remove(0);
    assert_ne!(again.id, inverse.id);
    // Accepted with a long filter: not asked again.
    answer_inverse(&sched, &again.id, true, 3600.0).await;
    sched
        .expect_none(Duration::from_secs(2), |event| {
            event.r#type() == event::Type::InverseOffers
        })
        .await;

    // DOWN: the agent goes, its task is lost.
    let (code, text) = operator(
        master,
        "POST",
        "/machine/down",
        &format!("[{}]", machine(HOSTS[0])),
    );
    assert_eq!(code, 200, "{text}");
    let lost = sched.update("t").await;
    assert_eq!(lost.state(), TaskState::TaskLost);
    assert_eq!(lost.reason(), task_status::Reason::AgentRemoved);
    assert_eq!(
        lost.message.as_deref(),
        Some("Operator initiated 'Machine DOWN'")
    );
    assert!(!harness.cluster.agents()[0].alive);
    // A DOWN machine must come up before it leaves the schedule.
    let (code, text) = operator(master, "POST", "/maintenance/schedule", r#"{"windows":[]}"#);
    assert_eq!(code, 400, "{text}");

    // UP: back with a new agent id, out of the schedule, offers without
    // unavailability.
    let (code, text) = operator(
        master,
        "POST",
        "/machine/up",
        &format!("[{}]", machine(HOSTS[0])),
    );
    assert_eq!(code, 200, "{text}");
    let (_, text) = operator(master, "GET", "/maintenance/schedule", "");
    assert!(!text.contains(HOSTS[0]), "{text}");
    let back = loop {
        let offers = sched.offers().await;
        if let Some(offer) = offers.into_iter().find(|offer| offer.hostname == HOSTS[0]) {
            break offer;
        }
    };
    assert_ne!(back.agent_id, agent_a, "a new agent id");
    assert!(back.unavailability.is_none());
    assert!(harness.cluster.agents()[0].alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_endpoints_need_the_fault_endpoints() {
    let harness = start(1, 1.0, 256.0, (31000, 31001)).await;
    let (code, _) = operator(
        harness.cluster.master_addr(),
        "GET",
        "/maintenance/schedule",
        "",
    );
    assert_eq!(code, 404);
}
