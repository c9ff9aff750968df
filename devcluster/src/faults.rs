//! Faults on the state, for tests and `POST /devcluster/faults/...`: the
//! schedulers' streams dropped, a master failover, an agent lost, restarted
//! or cut off (see [`crate::partition`]), the QoS controller revoking
//! slack (see [`crate::oversubscription`]), an executor SIGKILLed. Each is a
//! state change like any other; the effects it queues run when the lock is
//! released.

use std::time::Duration;

use mesos::v1::scheduler::{event, Event};
use mesos::v1::{task_status, TaskState};
use tracing::info;

use crate::error::Error;
use crate::state::{make_status, random_uuid, State};

/// The fault `fault` names: `drop-scheduler-streams`, `restart-master`,
/// `lose-agent/ID`, `partition-agent/ID`, `heal-agent/ID`,
/// `restart-agent/ID[/SECONDS]`, `qos-revoke[/ID]`, `qos-restore[/ID]`,
/// `kill-executor/ID`.
pub(crate) fn apply(state: &mut State, fault: &str) -> Result<(), Error> {
    let mut parts = fault.splitn(2, '/');
    match (parts.next(), parts.next()) {
        (Some("drop-scheduler-streams"), None) => {
            drop_scheduler_streams(state);
            Ok(())
        }
        (Some("restart-master"), None) => {
            restart_master(state);
            Ok(())
        }
        (Some("lose-agent"), Some(agent_id)) => lose_agent(state, agent_id),
        (Some("partition-agent"), Some(agent_id)) => crate::partition::partition(state, agent_id),
        (Some("heal-agent"), Some(agent_id)) => crate::partition::heal(state, agent_id),
        (Some("restart-agent"), Some(rest)) => {
            // restart-agent/AGENT_ID[/SECONDS]
            let (agent_id, seconds) = match rest.rsplit_once('/') {
                Some((agent_id, seconds)) => (
                    agent_id,
                    seconds
                        .parse::<f64>()
                        .ok()
                        .and_then(crate::config::seconds)
                        .ok_or_else(|| {
                            Error::InvalidFault(format!(
                                "{fault}: the downtime must be 0 to {} seconds",
                                crate::config::MAX_INTERVAL.as_secs()
                            ))
                        })?,
                ),
                None => (rest, Duration::from_secs(1)),
            };
            restart_agent(state, agent_id, seconds)
        }
        // The QoS controller (see `oversubscription`): all agents, or one.
        (Some("qos-revoke"), agent_id) => {
            crate::oversubscription::revoke(state, agent_id).map(|_| ())
        }
        (Some("qos-restore"), agent_id) => crate::oversubscription::restore(state, agent_id),
        (Some("kill-executor"), Some(executor_id)) => kill_executor(state, executor_id),
        _ => Err(Error::UnknownFault(fault.to_owned())),
    }
}

pub(crate) fn drop_scheduler_streams(state: &mut State) {
    let ids: Vec<mesos::id::Framework> = state.frameworks.keys().cloned().collect();
    for id in ids {
        state.disconnect_framework(&id);
    }
}

pub(crate) fn restart_master(state: &mut State) {
    info!("fault: restarting the master");
    drop_scheduler_streams(state);
    state.offers.clear();
    state.master_id = random_uuid();
    for framework in state.frameworks.values_mut() {
        framework.filters.clear();
        framework.suppressed = false;
    }
    state.allocation_needed = true;
}

pub(crate) fn lose_agent(state: &mut State, agent_id: &str) -> Result<(), Error> {
    let index = state
        .agent_index(agent_id)
        .ok_or_else(|| Error::UnknownAgent(agent_id.to_owned()))?;
    info!(agent = %agent_id, "fault: losing an agent");
    remove_agent(state, index, TaskState::TaskUnreachable, "Agent removed");
    Ok(())
}

/// Takes agent `index` out of the cluster: offers rescinded, executors
/// killed, live tasks reported TASK_LOST (`partition_aware_state` to
/// partition-aware frameworks, which keep unreachable tasks) and FAILURE
/// sent to every framework.
pub(crate) fn remove_agent(
    state: &mut State,
    index: usize,
    partition_aware_state: TaskState,
    message: &str,
) {
    let agent_id = state.agents[index].id.clone();
    let agent_id = agent_id.as_str();
    state.agents[index].alive = false;
    rescind_agent_offers(state, index);
    for (_, exec) in state.agents[index].executors.drain() {
        let _ = exec.signals.send(libc::SIGKILL);
    }
    let keys: Vec<_> = state
        .tasks
        .iter()
        .filter(|(_, task)| task.agent == index)
        .map(|(key, _)| key.clone())
        .collect();
    for key in keys {
        let partition_aware = state
            .frameworks
            .get(&key.0)
            .is_some_and(|framework| framework.partition_aware());
        let Some(task) = state.tasks.get_mut(&key) else {
            continue;
        };
        let was_live = !task.state.is_terminal();
        let lost_state = if partition_aware {
            partition_aware_state
        } else {
            TaskState::TaskLost
        };
        let mut status = make_status(
            &key.1,
            lost_state,
            task_status::Source::Master,
            Some(task_status::Reason::AgentRemoved),
            message,
        );
        status.agent_id = Some(mesos::v1::AgentId {
            value: agent_id.to_owned(),
        });
        status.executor_id = Some(mesos::v1::ExecutorId {
            value: task.executor_id.to_string(),
        });
        task.updates.clear();
        if partition_aware && was_live && lost_state == TaskState::TaskUnreachable {
            task.state = lost_state;
            task.latest = status.clone();
        } else {
            state.tasks.remove(&key);
        }
        if was_live {
            state.send_update(&key.0, status);
        }
    }
    let failure = Event {
        r#type: Some(event::Type::Failure as i32),
        failure: Some(event::Failure {
            agent_id: Some(mesos::v1::AgentId {
                value: agent_id.to_owned(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let frameworks: Vec<mesos::id::Framework> = state.frameworks.keys().cloned().collect();
    for framework_id in frameworks {
        state.send(&framework_id, &failure);
    }
    state.allocation_needed = true;
}

/// Withdraws every outstanding offer of agent `index`.
pub(crate) fn rescind_agent_offers(state: &mut State, index: usize) {
    let offers: Vec<(String, mesos::id::Framework)> = state
        .offers
        .iter()
        .filter(|(_, offer)| offer.agent == index)
        .map(|(id, offer)| (id.clone(), offer.framework_id.clone()))
        .collect();
    for (offer_id, framework_id) in offers {
        state.offers.remove(&offer_id);
        state.send_rescind(&framework_id, &offer_id);
    }
}

pub(crate) fn restart_agent(
    state: &mut State,
    agent_id: &str,
    downtime: Duration,
) -> Result<(), Error> {
    let index = state
        .agent_index(agent_id)
        .ok_or_else(|| Error::UnknownAgent(agent_id.to_owned()))?;
    let reregistration = state.config.executor_reregistration_timeout;
    let back_at = state
        .clock
        .now()
        .checked_add(downtime)
        .filter(|back_at| back_at.checked_add(reregistration).is_some())
        .ok_or_else(|| Error::InvalidFault(format!("agent downtime {downtime:?}")))?;
    info!(agent = %agent_id, ?downtime, "fault: restarting an agent");
    rescind_agent_offers(state, index);
    let agent = &mut state.agents[index];
    agent.down_until = Some(back_at);
    // The agent process is gone: executor streams break. Executors keep
    // running; those of checkpointing frameworks reconnect when it is back.
    for exec in agent.executors.values_mut() {
        exec.stream = None;
        if exec.command_task.is_none() {
            exec.reregister_by = Some(back_at + reregistration);
        }
    }
    Ok(())
}

pub(crate) fn kill_executor(state: &mut State, executor_id: &str) -> Result<(), Error> {
    let mut found = false;
    for agent in &state.agents {
        for exec in agent.executors.values() {
            if exec.executor_id == executor_id {
                info!(executor = %executor_id, "fault: SIGKILL to an executor");
                let _ = exec.signals.send(libc::SIGKILL);
                found = true;
            }
        }
    }
    if found {
        Ok(())
    } else {
        Err(Error::UnknownExecutor(executor_id.to_owned()))
    }
}
