//! The agents' semantics on a bare [`State`](crate::state::State): what a
//! launch asks the runtime for, a failed launch, an executor's exit, its
//! registration timeout, an agent restart with re-registration, and the
//! loss of an agent. No process runs: the effects are looked at instead.

use std::time::Duration;

use mesos::v1::{task_status, FrameworkInfo, TaskState};

use crate::effect::{Effect, Program};
use crate::fixture::{self, advance, launches, subscribe, task};

fn checkpointing() -> FrameworkInfo {
    FrameworkInfo {
        checkpoint: Some(true),
        ..Default::default()
    }
}

#[test]
fn a_launch_is_an_effect_with_mesos_sandbox_and_environment_and_touches_nothing() {
    let mut state = fixture::state(1);
    let mut sched = subscribe(&mut state, checkpointing());
    state.allocate();
    let offer = sched.offers().remove(0);
    sched.launch(&mut state, &offer, vec![task("t", &offer, 1.0, "e")]);
    let effects = state.take_effects();
    assert_eq!(effects.len(), 1, "{effects:?}");
    let Effect::Launch(launch) = &effects[0] else {
        panic!("{effects:?}");
    };
    let agent_id = &state.agents[0].id;
    let expected = std::path::Path::new("/nonexistent/devcluster-unit")
        .join("slaves")
        .join(agent_id)
        .join("frameworks")
        .join(&sched.id.value)
        .join("executors/e/runs")
        .join(&launch.container_id);
    assert_eq!(launch.sandbox, expected);
    assert!(
        !std::path::Path::new("/nonexistent").exists(),
        "the state itself made no directory"
    );
    let Program::Process { argv, env, netns } = &launch.program else {
        panic!("{:?}", launch.program);
    };
    assert_eq!(*netns, None, "on the master's host");
    assert_eq!(argv.program, "/bin/sh");
    assert_eq!(argv.args, ["-c", "/usr/bin/unit-executor"]);
    let var = |name: &str| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(var("MESOS_FRAMEWORK_ID"), Some(sched.id.value.as_str()));
    assert_eq!(var("MESOS_EXECUTOR_ID"), Some("e"));
    assert_eq!(var("MESOS_SLAVE_ID"), Some(agent_id.as_str()));
    assert_eq!(var("MESOS_AGENT_ENDPOINT"), Some("127.0.0.1:5051"));
    assert_eq!(var("MESOS_CHECKPOINT"), Some("1"));
    assert_eq!(var("MESOS_SANDBOX"), expected.to_str());
    // Nothing is reported before the executor runs and says so.
    assert!(sched.updates().is_empty());
}

#[test]
fn a_launch_the_runtime_cannot_carry_out_fails_its_tasks_and_frees_the_resources() {
    let mut state = fixture::state(1);
    let mut sched = subscribe(&mut state, FrameworkInfo::default());
    state.allocate();
    let offer = sched.offers().remove(0);
    sched.launch(&mut state, &offer, vec![task("t", &offer, 4.0 - 0.1, "e")]);
    let launch = launches(&mut state).remove(0);
    state.allocate();
    assert!(sched.offers().is_empty(), "the agent is full");

    state.executor_launch_failed(
        0,
        &launch.key,
        &launch.container_id,
        "cannot start \"x\": ENOENT",
    );
    let failed = sched.updates();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].state(), TaskState::TaskFailed);
    assert_eq!(
        failed[0].reason(),
        task_status::Reason::ContainerLaunchFailed
    );
    assert_eq!(failed[0].source(), task_status::Source::Agent);
    assert_eq!(failed[0].message(), "cannot start \"x\": ENOENT");
    assert!(state.agents[0].executors.is_empty());
    advance(&mut state, Duration::from_secs(6));
    let freed = sched.offers();
    assert_eq!(freed.len(), 1, "the resources are offered again");
    // A late report of the same launch changes nothing.
    state.executor_spawned(0, &launch.key, &launch.container_id, Some(1));
    assert!(state.agents[0].executors.is_empty());
}

#[test]
fn an_executor_that_never_subscribes_is_killed_after_the_registration_timeout() {
    let mut state = fixture::state(1);
    let mut sched = subscribe(&mut state, FrameworkInfo::default());
    state.allocate();
    let offer = sched.offers().remove(0);
    sched.launch(&mut state, &offer, vec![task("t", &offer, 1.0, "e")]);
    let mut launch = launches(&mut state).remove(0);
    state.executor_spawned(0, &launch.key, &launch.container_id, Some(9));
    advance(&mut state, Duration::from_secs(59));
    assert!(launch.signals.try_recv().is_err());
    advance(&mut state, Duration::from_secs(2));
    assert_eq!(
        launch.signals.try_recv(),
        Ok(libc::SIGTERM),
        "no stream: no SHUTDOWN, SIGTERM now"
    );
    state.executor_exited(0, &launch.key, &launch.container_id, libc::SIGTERM);
    let updates = sched.updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].state(), TaskState::TaskFailed);
    assert_eq!(
        updates[0].reason(),
        task_status::Reason::ExecutorRegistrationTimeout
    );
}

#[test]
fn after_an_agent_restart_an_executor_that_resubscribes_keeps_its_task_and_one_that_does_not_is_killed(
) {
    let mut state = fixture::state(1);
    let mut sched = subscribe(&mut state, checkpointing());
    state.allocate();
    let offer = sched.offers().remove(0);
    sched.launch(
        &mut state,
        &offer,
        vec![task("a", &offer, 1.0, "ea"), task("b", &offer, 1.0, "eb")],
    );
    let mut started = launches(&mut state);
    assert_eq!(started.len(), 2);
    started.sort_by(|x, y| x.key.1.as_str().cmp(y.key.1.as_str()));
    for launch in &started {
        state.executor_spawned(0, &launch.key, &launch.container_id, Some(1));
    }
    let mut ea = fixture::executor_subscribe(&mut state, 0, &sched.id, "ea", Vec::new());
    let _eb = fixture::executor_subscribe(&mut state, 0, &sched.id, "eb", Vec::new());
    for (exec, task) in [("ea", "a"), ("eb", "b")] {
        fixture::executor_update(&mut state, 0, &sched.id, exec, task, TaskState::TaskRunning);
    }
    for status in sched.updates() {
        sched.acknowledge(&mut state, &status);
    }
    ea.drain();

    let agent_id = state.agents[0].id.clone();
    crate::faults::restart_agent(&mut state, &agent_id, Duration::from_secs(1)).unwrap();
    assert!(ea.closed(), "the agent's streams break");
    // While it is down its executor API refuses calls.
    let call = mesos::v1::executor::Call {
        framework_id: sched.id.clone(),
        executor_id: mesos::v1::ExecutorId { value: "ea".into() },
        r#type: Some(mesos::v1::executor::call::Type::Heartbeat as i32),
        ..Default::default()
    };
    assert_eq!(
        state.executor_call(0, call).unwrap_err().status,
        http::StatusCode::SERVICE_UNAVAILABLE
    );
    advance(&mut state, Duration::from_millis(1100));
    // `ea` comes back with an update the agent never got; `eb` does not.
    let pending = fixture::executor_status(&state, 0, "ea", "a", TaskState::TaskFinished);
    let _ea = fixture::executor_subscribe(&mut state, 0, &sched.id, "ea", vec![pending.clone()]);
    let finished = sched.updates();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].uuid, pending.uuid);
    assert_eq!(finished[0].state(), TaskState::TaskFinished);
    let [launch_a, launch_b] = &mut started[..] else {
        unreachable!()
    };
    advance(&mut state, Duration::from_secs(2));
    assert!(launch_a.signals.try_recv().is_err(), "resubscribed in time");
    assert_eq!(launch_b.signals.try_recv(), Ok(libc::SIGTERM));
    state.executor_exited(0, &launch_b.key, &launch_b.container_id, libc::SIGTERM);
    let lost = sched.updates();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].task_id.value, "b");
    assert_eq!(
        lost[0].reason(),
        task_status::Reason::ExecutorReregistrationTimeout
    );
}

#[test]
fn a_lost_agent_kills_its_executors_and_reports_its_tasks_lost_or_unreachable() {
    for partition_aware in [false, true] {
        let mut state = fixture::state(2);
        let mut info = FrameworkInfo::default();
        if partition_aware {
            info.capabilities
                .push(mesos::v1::framework_info::Capability {
                    r#type: Some(
                        mesos::v1::framework_info::capability::Type::PartitionAware as i32,
                    ),
                });
        }
        let mut sched = subscribe(&mut state, info);
        state.allocate();
        let offers = sched.offers();
        let offer = offers
            .iter()
            .find(|offer| offer.agent_id.value == state.agents[0].id)
            .unwrap()
            .clone();
        sched.launch(&mut state, &offer, vec![task("t", &offer, 1.0, "e")]);
        let mut launch = launches(&mut state).remove(0);
        state.executor_spawned(0, &launch.key, &launch.container_id, Some(3));
        // What the launch left, after the accept's default 5 s filter.
        advance(&mut state, Duration::from_secs(6));
        let rest = sched.offers();
        assert_eq!(rest.len(), 1, "what the task left on agent 0");
        assert_eq!(rest[0].agent_id, offer.agent_id);

        let agent_id = state.agents[0].id.clone();
        crate::faults::lose_agent(&mut state, &agent_id).unwrap();
        assert_eq!(launch.signals.try_recv(), Ok(libc::SIGKILL));
        let events = sched.events.drain();
        let updates: Vec<_> = events
            .iter()
            .filter_map(|event| event.update.as_ref())
            .collect();
        assert_eq!(updates.len(), 1, "{events:?}");
        let expected = if partition_aware {
            TaskState::TaskUnreachable
        } else {
            TaskState::TaskLost
        };
        assert_eq!(updates[0].status.state(), expected);
        assert_eq!(
            updates[0].status.reason(),
            task_status::Reason::AgentRemoved
        );
        assert!(events
            .iter()
            .any(|event| event.failure.as_ref().is_some_and(|failure| failure
                .agent_id
                .as_ref()
                .unwrap()
                .value
                == agent_id)));
        // Its outstanding offers are rescinded, and it offers nothing again.
        let rescinded: Vec<_> = events
            .iter()
            .filter_map(|event| event.rescind.as_ref())
            .collect();
        assert_eq!(rescinded.len(), 1, "{events:?}");
        assert_eq!(rescinded[0].offer_id, rest[0].id);
        advance(&mut state, Duration::from_secs(5));
        assert!(sched
            .offers()
            .iter()
            .all(|offer| offer.agent_id.value != agent_id));
    }
}

#[test]
fn an_agent_on_a_host_of_its_own_offers_its_address_and_runs_executors_in_its_namespace() {
    let mut state = fixture::state_with(2, |config| {
        config.agent_hosts = vec![crate::config::AgentHost {
            netns: "unit-host-0".into(),
            ip: "10.231.7.2".parse().unwrap(),
        }];
        config.docker = Some("/usr/bin/docker".into());
    });
    let mut sched = subscribe(&mut state, FrameworkInfo::default());
    let offers = sched.offers();
    let own = offers
        .iter()
        .find(|offer| offer.agent_id.value == state.agents[0].id)
        .unwrap()
        .clone();
    let shared = offers
        .iter()
        .find(|offer| offer.agent_id.value == state.agents[1].id)
        .unwrap();
    assert_eq!(own.hostname, "10.231.7.2");
    assert_eq!(shared.hostname, "127.0.0.1");

    sched.launch(&mut state, &own, vec![task("t", &own, 1.0, "e")]);
    let launch = launches(&mut state).remove(0);
    let Program::Process { netns, .. } = &launch.program else {
        panic!("{:?}", launch.program);
    };
    assert_eq!(netns.as_deref(), Some("unit-host-0"));

    // A Docker executor cannot be put in the namespace: refused up front.
    let mut docker = task("d", &own, 1.0, "ed");
    docker.executor.as_mut().unwrap().container = Some(mesos::v1::ContainerInfo {
        r#type: mesos::v1::container_info::Type::Docker as i32,
        docker: Some(mesos::v1::container_info::DockerInfo {
            image: "busybox".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    advance(&mut state, Duration::from_secs(6));
    let again = sched
        .offers()
        .into_iter()
        .find(|offer| offer.agent_id == own.agent_id)
        .unwrap();
    sched.launch(&mut state, &again, vec![docker]);
    assert!(launches(&mut state).is_empty());
    let failed = sched.updates();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].state(), TaskState::TaskFailed, "{failed:?}");
    assert!(
        failed[0].message().contains("process executors only"),
        "{failed:?}"
    );
}
