//! Operation feedback, as Mesos gives it for operations on agent default
//! resources when the framework sets `Offer.Operation.id`: an applied
//! RESERVE / UNRESERVE / CREATE / DESTROY is reported `OPERATION_FINISHED`
//! by its agent, with a status uuid, and resent with backoff until the
//! framework sends `ACKNOWLEDGE_OPERATION_STATUS`; a dropped one is reported
//! `OPERATION_ERROR` by the master, without a uuid (nothing to acknowledge).
//! `RECONCILE_OPERATIONS` answers with the latest status of each operation
//! asked about (`OPERATION_UNKNOWN` for one the master never saw) or, asked
//! about none, of every operation of the framework the master still holds.
//! An acknowledged terminal status is forgotten, as Mesos forgets it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mesos::v1::scheduler::{call, event, Event};
use mesos::v1::{AgentId, OperationId, OperationState, OperationStatus, Uuid};
use tracing::{debug, info, warn};

use crate::state::{random_uuid_bytes, State};

/// An operation with feedback whose last status the framework has not
/// acknowledged yet.
#[derive(Debug)]
pub(crate) struct OperationRec {
    pub agent: usize,
    pub latest: OperationStatus,
    pub next_retry: Instant,
    pub backoff: Duration,
}

/// (framework id, operation id).
pub(crate) type OperationKey = (String, String);

fn status(
    operation_id: &str,
    state: OperationState,
    message: Option<String>,
    agent_id: Option<&str>,
    uuid: Option<Bytes>,
) -> OperationStatus {
    OperationStatus {
        operation_id: Some(OperationId {
            value: operation_id.to_owned(),
        }),
        state: state as i32,
        message,
        converted_resources: Vec::new(),
        uuid: uuid.map(|value| Uuid { value }),
        agent_id: agent_id.map(|value| AgentId {
            value: value.to_owned(),
        }),
        resource_provider_id: None,
    }
}

impl State {
    /// Reports what became of a resource operation that asked for feedback
    /// (`id` set; nothing happens without one): `applied` is `Ok` when
    /// `agent` applied it, or why the master dropped it (`agent` is `None`
    /// when the offers themselves were not valid).
    pub(crate) fn operation_feedback(
        &mut self,
        framework_id: &str,
        agent: Option<usize>,
        operation: &mesos::v1::offer::Operation,
        applied: &Result<(), String>,
    ) {
        let Some(id) = operation.id.as_ref().map(|id| id.value.clone()) else {
            return;
        };
        let agent_id = agent.map(|agent| self.agents[agent].id.clone());
        let update = match (applied, agent) {
            (Err(message), _) => status(
                &id,
                OperationState::OperationError,
                Some(message.clone()),
                agent_id.as_deref(),
                None,
            ),
            (Ok(()), None) => return,
            (Ok(()), Some(agent)) => {
                let update = status(
                    &id,
                    OperationState::OperationFinished,
                    None,
                    agent_id.as_deref(),
                    Some(random_uuid_bytes()),
                );
                let backoff = self.config.status_update_retry;
                self.operations.insert(
                    (framework_id.to_owned(), id.clone()),
                    OperationRec {
                        agent,
                        latest: update.clone(),
                        next_retry: self.clock.now() + backoff,
                        backoff,
                    },
                );
                update
            }
        };
        info!(framework = %framework_id, operation = %id, state = ?update.state(), "operation feedback");
        self.send_operation_status(framework_id, update);
    }

    fn send_operation_status(&self, framework_id: &str, status: OperationStatus) {
        self.send(
            framework_id,
            &Event {
                r#type: Some(event::Type::UpdateOperationStatus as i32),
                update_operation_status: Some(event::UpdateOperationStatus { status }),
                ..Default::default()
            },
        );
    }

    /// ACKNOWLEDGE_OPERATION_STATUS: the status with that uuid is delivered;
    /// a terminal one (all of ours are) is forgotten. An acknowledgement of
    /// an older or unknown status changes nothing.
    pub(crate) fn acknowledge_operation(
        &mut self,
        framework_id: &str,
        ack: &call::AcknowledgeOperationStatus,
    ) {
        let key = (framework_id.to_owned(), ack.operation_id.value.clone());
        let matches = self.operations.get(&key).is_some_and(|operation| {
            operation.latest.uuid.as_ref().map(|uuid| &uuid.value) == Some(&ack.uuid)
        });
        if matches {
            debug!(framework = %framework_id, operation = %key.1, "operation status acknowledged");
            self.operations.remove(&key);
        } else {
            warn!(framework = %framework_id, operation = %key.1, "acknowledgement of no pending operation status");
        }
    }

    /// RECONCILE_OPERATIONS: the answer's statuses (sent by the master, so
    /// without uuids).
    pub(crate) fn reconcile_operations(
        &self,
        framework_id: &str,
        asked: &[call::reconcile_operations::Operation],
    ) -> Vec<OperationStatus> {
        let known = |id: &str| {
            self.operations
                .get(&(framework_id.to_owned(), id.to_owned()))
                .map(|operation| OperationStatus {
                    uuid: None,
                    ..operation.latest.clone()
                })
        };
        if asked.is_empty() {
            let mut all: Vec<OperationStatus> = self
                .operations
                .keys()
                .filter(|(fw, _)| fw == framework_id)
                .filter_map(|(_, id)| known(id))
                .collect();
            all.sort_by_key(|status| status.operation_id.as_ref().map(|id| id.value.clone()));
            return all;
        }
        asked
            .iter()
            .map(|operation| {
                known(&operation.operation_id.value).unwrap_or_else(|| {
                    status(
                        &operation.operation_id.value,
                        OperationState::OperationUnknown,
                        Some("Reconciliation: operation is unknown".into()),
                        operation.agent_id.as_ref().map(|id| id.value.as_str()),
                        None,
                    )
                })
            })
            .collect()
    }

    /// Resends unacknowledged statuses whose backoff ran out (as an agent
    /// does), not across a partition.
    pub(crate) fn retry_operation_updates(&mut self, now: Instant) {
        let max = self.config.status_update_retry_max;
        let mut due = Vec::new();
        for ((framework_id, _), operation) in &mut self.operations {
            if operation.next_retry <= now && !self.agents[operation.agent].partitioned {
                operation.backoff = (operation.backoff * 2).min(max);
                operation.next_retry = now + operation.backoff;
                due.push((framework_id.clone(), operation.latest.clone()));
            }
        }
        for (framework_id, status) in due {
            debug!(framework = %framework_id, "retrying an operation status");
            self.send_operation_status(&framework_id, status);
        }
    }
}
