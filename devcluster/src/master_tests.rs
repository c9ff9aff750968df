//! The master's semantics on a bare [`State`](crate::state::State): offers
//! and filters, accept validation, status updates with their retries and
//! acknowledgements, reconciliation, kills. No listener or process runs.

use std::time::Duration;

use mesos::v1::scheduler::call;
use mesos::v1::{task_status, Filters, FrameworkInfo, TaskState};

use crate::fixture::{self, advance, launches, subscribe, task};
use crate::resources::Bundle;

fn cpus(offer: &mesos::v1::Offer) -> f64 {
    mesos::scalar::from_milli(
        Bundle::from_resources(&offer.resources)
            .unwrap()
            .total()
            .cpus,
    )
}

#[test]
fn every_agent_is_offered_once_and_a_decline_filters_it_for_refuse_seconds() {
    let mut state = fixture::state(2);
    let mut sched = subscribe(&mut state, FrameworkInfo::default());
    state.allocate();
    let offers = sched.offers();
    assert_eq!(offers.len(), 2, "{offers:?}");
    assert!(offers.iter().all(|offer| cpus(offer) == 4.0));
    // Outstanding offers are not made again.
    advance(&mut state, Duration::from_secs(2));
    assert!(sched.offers().is_empty());

    let mut decline = sched.call(call::Type::Decline);
    decline.decline = Some(call::Decline {
        offer_ids: vec![offers[0].id.clone()],
        filters: Some(Filters {
            refuse_seconds: Some(30.0),
        }),
    });
    sched.send(&mut state, decline).unwrap();
    advance(&mut state, Duration::from_secs(29));
    assert!(sched.offers().is_empty(), "filtered for 30 s");
    advance(&mut state, Duration::from_secs(2));
    let again = sched.offers();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].agent_id, offers[0].agent_id);
}

#[test]
fn suppress_stops_offers_until_revive() {
    let mut state = fixture::state(1);
    let mut sched = subscribe(&mut state, FrameworkInfo::default());
    let offers = sched.offers();
    assert_eq!(offers.len(), 1, "offered on subscribing");
    let mut decline = sched.call(call::Type::Decline);
    decline.decline = Some(call::Decline {
        offer_ids: vec![offers[0].id.clone()],
        filters: None,
    });
    sched.send(&mut state, decline).unwrap();
    sched
        .send(&mut state, sched.call(call::Type::Suppress))
        .unwrap();
    // Past the decline's default 5 s filter: still nothing.
    advance(&mut state, Duration::from_secs(10));
    assert!(sched.offers().is_empty());
    sched
        .send(&mut state, sched.call(call::Type::Revive))
        .unwrap();
    state.allocate();
    assert_eq!(sched.offers().len(), 1);
}

#[test]
fn an_accept_is_validated_before_anything_is_launched() {
    let mut state = fixture::state(1);
    let mut sched = subscribe(&mut state, FrameworkInfo::default());
    state.allocate();
    let offer = sched.offers().remove(0);

    // An offer that was never made: the task is lost, nothing starts.
    sched.launch(
        &mut state,
        &fixture::stale_offer(&offer),
        vec![task("t0", &offer, 1.0, "e0")],
    );
    let lost = sched.updates();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].state(), TaskState::TaskLost);
    assert_eq!(lost[0].reason(), task_status::Reason::InvalidOffers);
    assert!(launches(&mut state).is_empty());

    // More CPUs than offered, and a duplicate task id: TASK_ERROR each;
    // the valid task starts its executor.
    sched.launch(
        &mut state,
        &offer,
        vec![
            task("t1", &offer, 9.0, "e1"),
            task("t2", &offer, 1.0, "e2"),
            task("t2", &offer, 1.0, "e2"),
        ],
    );
    let errors = sched.updates();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for error in &errors {
        assert_eq!(error.state(), TaskState::TaskError);
        assert_eq!(error.reason(), task_status::Reason::TaskInvalid);
    }
    assert_eq!(errors[0].task_id.value, "t1");
    let started = launches(&mut state);
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].key.1, "e2");
    // The offer is used up: what the launch left is filtered for the
    // default 5 s, then offered again.
    state.allocate();
    assert!(sched.offers().is_empty());
    advance(&mut state, Duration::from_secs(6));
    let rest = sched.offers();
    assert_eq!(rest.len(), 1);
    assert!((cpus(&rest[0]) - 2.9).abs() < 1e-9, "{}", cpus(&rest[0]));
}

#[test]
fn updates_are_retried_with_backoff_until_acknowledged_and_acks_reach_the_executor() {
    let mut state = fixture::state(1);
    let mut sched = subscribe(&mut state, FrameworkInfo::default());
    state.allocate();
    let offer = sched.offers().remove(0);
    sched.launch(&mut state, &offer, vec![task("t", &offer, 1.0, "e")]);
    let launch = launches(&mut state).remove(0);
    state.executor_spawned(0, &launch.key, &launch.container_id, Some(4242));
    let mut exec = fixture::executor_subscribe(&mut state, 0, &sched.id, "e", Vec::new());
    let got = exec.drain();
    assert!(got
        .iter()
        .any(|event| event.r#type() == mesos::v1::executor::event::Type::Launch));

    let running =
        fixture::executor_update(&mut state, 0, &sched.id, "e", "t", TaskState::TaskRunning);
    let first = sched.updates();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].uuid, running.uuid);
    assert_eq!(
        first[0].container_status.as_ref().unwrap().executor_pid,
        Some(4242)
    );
    // Not acknowledged: resent after 10 s, then after 20 s more (backoff).
    advance(&mut state, Duration::from_secs(9));
    assert!(sched.updates().is_empty());
    advance(&mut state, Duration::from_secs(2));
    assert_eq!(sched.updates()[0].uuid, running.uuid);
    advance(&mut state, Duration::from_secs(15));
    assert!(sched.updates().is_empty(), "the second wait is 20 s");
    advance(&mut state, Duration::from_secs(6));
    assert_eq!(sched.updates().len(), 1);

    sched.acknowledge(&mut state, &first[0]);
    let acked: Vec<_> = exec
        .drain()
        .into_iter()
        .filter_map(|event| event.acknowledged)
        .collect();
    assert_eq!(acked.len(), 1);
    assert_eq!(Some(acked[0].uuid.clone()), running.uuid);
    advance(&mut state, Duration::from_secs(600));
    assert!(sched.updates().is_empty(), "acknowledged: never again");

    // A second update waits behind the first one's acknowledgement.
    let finished =
        fixture::executor_update(&mut state, 0, &sched.id, "e", "t", TaskState::TaskFinished);
    let got = sched.updates();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].uuid, finished.uuid);
    sched.acknowledge(&mut state, &got[0]);
    assert!(
        !state
            .tasks
            .contains_key(&crate::state::task_key(&sched.id.value, "t")),
        "a terminal task is forgotten once acknowledged"
    );
}

#[test]
fn reconciliation_answers_known_tasks_with_their_latest_state_and_unknown_ones_as_unknown() {
    let mut state = fixture::state(1);
    let info = FrameworkInfo {
        capabilities: vec![mesos::v1::framework_info::Capability {
            r#type: Some(mesos::v1::framework_info::capability::Type::PartitionAware as i32),
        }],
        ..Default::default()
    };
    let mut sched = subscribe(&mut state, info);
    state.allocate();
    let offer = sched.offers().remove(0);
    sched.launch(&mut state, &offer, vec![task("t", &offer, 1.0, "e")]);
    let launch = launches(&mut state).remove(0);
    state.executor_spawned(0, &launch.key, &launch.container_id, None);
    let _exec = fixture::executor_subscribe(&mut state, 0, &sched.id, "e", Vec::new());
    fixture::executor_update(&mut state, 0, &sched.id, "e", "t", TaskState::TaskRunning);
    sched.updates();

    let mut explicit = sched.call(call::Type::Reconcile);
    explicit.reconcile = Some(call::Reconcile {
        tasks: vec![
            call::reconcile::Task {
                task_id: mesos::v1::TaskId { value: "t".into() },
                agent_id: None,
            },
            call::reconcile::Task {
                task_id: mesos::v1::TaskId {
                    value: "ghost".into(),
                },
                agent_id: None,
            },
        ],
    });
    sched.send(&mut state, explicit).unwrap();
    let answers = sched.updates();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].state(), TaskState::TaskRunning);
    assert_eq!(answers[1].state(), TaskState::TaskUnknown);
    for answer in &answers {
        assert_eq!(answer.reason(), task_status::Reason::Reconciliation);
        assert!(answer.uuid.is_none(), "reconciliation needs no ack");
    }

    let mut implicit = sched.call(call::Type::Reconcile);
    implicit.reconcile = Some(call::Reconcile { tasks: Vec::new() });
    sched.send(&mut state, implicit).unwrap();
    let all = sched.updates();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].task_id.value, "t");
}

#[test]
fn a_kill_the_executor_does_not_answer_within_its_grace_shuts_the_executor_down() {
    let mut state = fixture::state(1);
    let mut sched = subscribe(&mut state, FrameworkInfo::default());
    state.allocate();
    let offer = sched.offers().remove(0);
    let mut info = task("t", &offer, 1.0, "e");
    info.executor.as_mut().unwrap().shutdown_grace_period = Some(mesos::v1::DurationInfo {
        nanoseconds: 3_000_000_000,
    });
    sched.launch(&mut state, &offer, vec![info]);
    let mut launch = launches(&mut state).remove(0);
    state.executor_spawned(0, &launch.key, &launch.container_id, Some(7));
    let mut exec = fixture::executor_subscribe(&mut state, 0, &sched.id, "e", Vec::new());
    fixture::executor_update(&mut state, 0, &sched.id, "e", "t", TaskState::TaskRunning);
    let running = sched.updates().remove(0);
    sched.acknowledge(&mut state, &running);
    exec.drain();

    let mut kill = sched.call(call::Type::Kill);
    kill.kill = Some(call::Kill {
        task_id: mesos::v1::TaskId { value: "t".into() },
        agent_id: Some(offer.agent_id.clone()),
        kill_policy: Some(mesos::v1::KillPolicy {
            grace_period: Some(mesos::v1::DurationInfo {
                nanoseconds: 2_000_000_000,
            }),
        }),
    });
    sched.send(&mut state, kill).unwrap();
    let kills: Vec<_> = exec
        .drain()
        .into_iter()
        .filter_map(|event| event.kill)
        .collect();
    assert_eq!(kills.len(), 1, "the executor is asked first");
    // The kill policy's 2 s and a second: then the executor is stopped
    // (SIGTERM at once, it did not answer), SIGKILL after its 3 s grace.
    advance(&mut state, Duration::from_millis(2900));
    assert!(launch.signals.try_recv().is_err());
    advance(&mut state, Duration::from_millis(200));
    assert_eq!(launch.signals.try_recv(), Ok(libc::SIGTERM));
    advance(&mut state, Duration::from_millis(2800));
    assert!(launch.signals.try_recv().is_err(), "grace not over");
    advance(&mut state, Duration::from_millis(300));
    assert_eq!(launch.signals.try_recv(), Ok(libc::SIGKILL));

    // The process ends: the task is killed, the framework hears FAILURE.
    state.executor_exited(0, &launch.key, &launch.container_id, libc::SIGKILL);
    let events = sched.events.drain();
    let killed: Vec<_> = events
        .iter()
        .filter_map(|event| event.update.as_ref())
        .collect();
    assert_eq!(killed.len(), 1, "{events:?}");
    assert_eq!(killed[0].status.state(), TaskState::TaskKilled);
    let failure = events
        .iter()
        .find_map(|event| event.failure.as_ref())
        .expect("FAILURE");
    assert_eq!(failure.executor_id.as_ref().unwrap().value, "e");
    assert_eq!(failure.status, Some(libc::SIGKILL));
}
