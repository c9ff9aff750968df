//! The partition fault: a partition-aware framework sees its task UNREACHABLE while the
//! executor runs on behind the cut, gets no offer from that agent and no answer to a kill;
//! once healed the agent re-registers, the task is reported RUNNING again, and a kill then
//! reaches it.

use std::time::Duration;

use crate::common::*;
use mesos::v1::scheduler::event;
use mesos::v1::{task_status, TaskState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_agent_runs_on_unseen_and_reports_its_task_when_healed() {
    let h = start(1, 2.0, 512.0, (31000, 31010)).await;
    let mut sched = Sched::subscribe(&h.client, partition_aware_framework()).await;
    let running = run_task(&mut sched, "t1", "e1", true).await;
    let agent_id = running.agent_id.clone().unwrap();
    let pid = h.cluster.executor_pid("e1");
    assert!(pid.is_some());

    h.cluster.partition_agent(&agent_id.value).unwrap();
    let unreachable = sched.update("t1").await;
    assert_eq!(
        unreachable.state(),
        TaskState::TaskUnreachable,
        "{unreachable:?}"
    );
    assert_eq!(unreachable.reason(), task_status::Reason::AgentRemoved);
    assert_eq!(unreachable.source(), task_status::Source::Master);
    // The master's own updates carry no uuid and are not acknowledged (as in Mesos).
    assert!(unreachable.uuid.is_none());
    // Behind the cut: the executor runs on, no offer comes from the agent, a kill is lost.
    sched.kill("t1", &agent_id, None).await;
    sched
        .expect_none(Duration::from_secs(2), |event| {
            event.r#type() == event::Type::Offers || event.r#type() == event::Type::Update
        })
        .await;
    assert_eq!(h.cluster.executor_pid("e1"), pid);

    h.cluster.heal_agent(&agent_id.value).unwrap();
    let back = sched.update("t1").await;
    assert_eq!(back.state(), TaskState::TaskRunning, "{back:?}");
    assert_eq!(back.reason(), task_status::Reason::AgentReregistered);
    assert!(back.uuid.is_none());
    // Reachable again: the kill goes through, and the agent offers again.
    kill_until_killed(&mut sched, "t1", &agent_id).await;
    let offers = sched.offers().await;
    assert_eq!(offers[0].agent_id, agent_id);
}
