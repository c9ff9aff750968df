//! Fault: a network partition between the master and one agent (`partition-agent/ID`,
//! `heal-agent/ID`). Unlike a lost agent, its executors and tasks run on: the master marks
//! its live tasks unreachable (`TASK_UNREACHABLE` to partition-aware frameworks, else
//! `TASK_LOST`), rescinds its offers and makes none from it, and neither executor updates nor
//! kills cross the cut (executors resend their unacknowledged updates, schedulers their kills).
//! When the link is healed the agent re-registers: every task still on it is reported with
//! its state (`TASK_RUNNING`, `REASON_AGENT_REREGISTERED`), so a framework that replaced it
//! can kill it, and the updates its executors resend go through again.

use mesos::v1::{task_status, AgentId, ExecutorId, TaskState};
use tracing::info;

use crate::error::Error;
use crate::state::{make_status, State, TaskKey};

fn index_of(state: &State, agent_id: &str) -> Result<usize, Error> {
    state
        .agent_index(agent_id)
        .ok_or_else(|| Error::UnknownAgent(agent_id.to_owned()))
}

/// The live tasks on agent `index`.
fn tasks_on(state: &State, index: usize) -> Vec<TaskKey> {
    let mut keys: Vec<TaskKey> = state
        .tasks
        .iter()
        .filter(|(_, task)| task.agent == index && !task.state.is_terminal())
        .map(|(key, _)| key.clone())
        .collect();
    keys.sort();
    keys
}

/// Sends `state` for task `key` on agent `index` from the master.
fn report(
    state: &mut State,
    index: usize,
    key: &TaskKey,
    task_state: TaskState,
    reason: task_status::Reason,
    message: &str,
) {
    let agent_id = state.agents[index].id.clone();
    let Some(task) = state.tasks.get_mut(key) else {
        return;
    };
    let mut status = make_status(
        &key.1,
        task_state,
        task_status::Source::Master,
        Some(reason),
        message,
    );
    status.agent_id = Some(AgentId { value: agent_id });
    status.executor_id = Some(ExecutorId {
        value: task.executor_id.to_string(),
    });
    task.updates.clear();
    task.state = task_state;
    task.latest = status.clone();
    state.send_update(&key.0, status);
}

/// Cuts agent `agent_id` off from the master.
pub(crate) fn partition(state: &mut State, agent_id: &str) -> Result<(), Error> {
    let index = index_of(state, agent_id)?;
    if state.agents[index].partitioned {
        return Ok(());
    }
    info!(agent = %agent_id, "fault: the agent is partitioned from the master");
    state.agents[index].partitioned = true;
    crate::faults::rescind_agent_offers(state, index);
    for key in tasks_on(state, index) {
        let partition_aware = state
            .frameworks
            .get(&key.0)
            .is_some_and(|framework| framework.partition_aware());
        let lost = if partition_aware {
            TaskState::TaskUnreachable
        } else {
            TaskState::TaskLost
        };
        report(
            state,
            index,
            &key,
            lost,
            task_status::Reason::AgentRemoved,
            "Agent is unreachable (network partition)",
        );
    }
    Ok(())
}

/// Heals the partition of agent `agent_id`: it re-registers with its tasks.
pub(crate) fn heal(state: &mut State, agent_id: &str) -> Result<(), Error> {
    let index = index_of(state, agent_id)?;
    if !state.agents[index].partitioned {
        return Ok(());
    }
    info!(agent = %agent_id, "fault: the partition heals; the agent re-registers");
    state.agents[index].partitioned = false;
    for key in tasks_on(state, index) {
        let running = state.tasks.get(&key).is_some_and(|task| {
            let exec = (key.0.clone(), task.executor_id.clone());
            state.agents[index].executors.contains_key(&exec)
        });
        let (task_state, message) = if running {
            (TaskState::TaskRunning, "Agent re-registered")
        } else {
            (TaskState::TaskLost, "Agent re-registered without the task")
        };
        report(
            state,
            index,
            &key,
            task_state,
            task_status::Reason::AgentReregistered,
            message,
        );
    }
    state.allocation_needed = true;
    Ok(())
}
