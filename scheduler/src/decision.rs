//! Decisions: what the scheduler core wants sent to the master, as typed
//! values the planner and the task book produce and tests inspect, each
//! convertible to one `mesos::v1::scheduler::Call` by [`Decision::into_call`].
//!
//! The driver persists the state first, then sends the calls in order.

use std::fmt;

use bytes::Bytes;
use mesos::id;
use mesos::v1::scheduler::{call, Call};
use mesos::v1::{offer, Filters, FrameworkId, OperationId, TaskInfo};

/// One call to make. `Debug` shows launched tasks by id only (their
/// environment is long and may name alert webhooks with tokens).
#[derive(Clone, PartialEq)]
pub enum Decision {
    /// ACCEPT one offer with `operations` (RESERVE, CREATE, DESTROY,
    /// UNRESERVE), then one LAUNCH of `tasks` (none: no LAUNCH).
    Launch {
        /// The offer used (never used twice).
        offer_id: id::Offer,
        /// Resource operations applied, in order, before the launch.
        operations: Vec<offer::Operation>,
        /// Tasks to launch from it.
        tasks: Vec<TaskInfo>,
        /// `refuse_seconds` for what the tasks leave of the offer.
        refuse_seconds: f64,
    },
    /// DECLINE offers.
    Decline {
        /// The offers.
        offer_ids: Vec<id::Offer>,
        /// How long the master should not re-offer them.
        refuse_seconds: f64,
    },
    /// KILL a task.
    Kill {
        /// The task.
        task_id: id::Task,
        /// Its agent, when known.
        agent_id: Option<id::Agent>,
    },
    /// ACKNOWLEDGE a status update that carried a uuid.
    Acknowledge {
        /// The agent the status came from.
        agent_id: id::Agent,
        /// The task.
        task_id: id::Task,
        /// The status' uuid.
        uuid: Bytes,
    },
    /// ACKNOWLEDGE_OPERATION_STATUS of an operation status that carried a uuid.
    AcknowledgeOperation {
        /// The agent the operation was applied on.
        agent_id: id::Agent,
        /// The operation (its `Offer.Operation.id`).
        operation_id: String,
        /// The status' uuid.
        uuid: Bytes,
    },
    /// RECONCILE: explicit for the listed `(task, agent)` pairs, implicit when empty.
    Reconcile {
        /// Tasks to ask about; empty = all of the framework's.
        tasks: Vec<(id::Task, Option<id::Agent>)>,
    },
    /// ACCEPT_INVERSE_OFFERS: we are off the agents they are for (see
    /// [`crate::maintenance`]).
    AcceptInverseOffers {
        /// The inverse offers.
        inverse_offer_ids: Vec<id::Offer>,
        /// How long before the master asks again.
        refuse_seconds: f64,
    },
    /// SUPPRESS offers: nothing to launch.
    Suppress,
    /// REVIVE offers (clears decline filters): something must be launched.
    Revive,
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Launch {
                offer_id,
                operations,
                tasks,
                refuse_seconds,
            } => f
                .debug_struct("Launch")
                .field("offer_id", offer_id)
                .field(
                    "operations",
                    &operations.iter().map(|o| o.r#type()).collect::<Vec<_>>(),
                )
                .field(
                    "tasks",
                    &tasks.iter().map(|t| &t.task_id.value).collect::<Vec<_>>(),
                )
                .field("refuse_seconds", refuse_seconds)
                .finish(),
            Self::Decline {
                offer_ids,
                refuse_seconds,
            } => f
                .debug_struct("Decline")
                .field("offer_ids", offer_ids)
                .field("refuse_seconds", refuse_seconds)
                .finish(),
            Self::Kill { task_id, agent_id } => f
                .debug_struct("Kill")
                .field("task_id", task_id)
                .field("agent_id", agent_id)
                .finish(),
            Self::Acknowledge {
                agent_id,
                task_id,
                uuid,
            } => f
                .debug_struct("Acknowledge")
                .field("agent_id", agent_id)
                .field("task_id", task_id)
                .field("uuid", uuid)
                .finish(),
            Self::AcknowledgeOperation {
                agent_id,
                operation_id,
                uuid,
            } => f
                .debug_struct("AcknowledgeOperation")
                .field("agent_id", agent_id)
                .field("operation_id", operation_id)
                .field("uuid", uuid)
                .finish(),
            Self::Reconcile { tasks } => f.debug_struct("Reconcile").field("tasks", tasks).finish(),
            Self::AcceptInverseOffers {
                inverse_offer_ids,
                refuse_seconds,
            } => f
                .debug_struct("AcceptInverseOffers")
                .field("inverse_offer_ids", inverse_offer_ids)
                .field("refuse_seconds", refuse_seconds)
                .finish(),
            Self::Suppress => f.write_str("Suppress"),
            Self::Revive => f.write_str("Revive"),
        }
    }
}

fn call_of(framework_id: &str, kind: call::Type) -> Call {
    Call {
        framework_id: Some(FrameworkId {
            value: framework_id.to_owned(),
        }),
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

impl Decision {
    /// The call carrying this decision, on behalf of `framework_id`.
    pub fn into_call(self, framework_id: &str) -> Call {
        match self {
            Self::Launch {
                offer_id,
                mut operations,
                tasks,
                refuse_seconds,
            } => Call {
                accept: Some(call::Accept {
                    offer_ids: vec![offer_id.to_proto()],
                    operations: {
                        // Every resource operation asks for feedback, under an id unique
                        // to the offer (offer ids are never reused): its status says
                        // whether the agent applied it, and is acknowledged.
                        for (index, operation) in operations.iter_mut().enumerate() {
                            operation.id.get_or_insert_with(|| OperationId {
                                value: format!("{offer_id}/{index}"),
                            });
                        }
                        if !tasks.is_empty() {
                            operations.push(offer::Operation {
                                r#type: Some(offer::operation::Type::Launch as i32),
                                launch: Some(offer::operation::Launch { task_infos: tasks }),
                                ..Default::default()
                            });
                        }
                        operations
                    },
                    filters: Some(Filters {
                        refuse_seconds: Some(refuse_seconds),
                    }),
                }),
                ..call_of(framework_id, call::Type::Accept)
            },
            Self::Decline {
                offer_ids,
                refuse_seconds,
            } => Call {
                decline: Some(call::Decline {
                    offer_ids: offer_ids.into_iter().map(Into::into).collect(),
                    filters: Some(Filters {
                        refuse_seconds: Some(refuse_seconds),
                    }),
                }),
                ..call_of(framework_id, call::Type::Decline)
            },
            Self::AcceptInverseOffers {
                inverse_offer_ids,
                refuse_seconds,
            } => Call {
                accept_inverse_offers: Some(call::AcceptInverseOffers {
                    inverse_offer_ids: inverse_offer_ids.into_iter().map(Into::into).collect(),
                    filters: Some(Filters {
                        refuse_seconds: Some(refuse_seconds),
                    }),
                }),
                ..call_of(framework_id, call::Type::AcceptInverseOffers)
            },
            Self::Kill { task_id, agent_id } => Call {
                kill: Some(call::Kill {
                    task_id: task_id.into(),
                    agent_id: agent_id.map(Into::into),
                    kill_policy: None,
                }),
                ..call_of(framework_id, call::Type::Kill)
            },
            Self::Acknowledge {
                agent_id,
                task_id,
                uuid,
            } => Call {
                acknowledge: Some(call::Acknowledge {
                    agent_id: agent_id.into(),
                    task_id: task_id.into(),
                    uuid,
                }),
                ..call_of(framework_id, call::Type::Acknowledge)
            },
            Self::AcknowledgeOperation {
                agent_id,
                operation_id,
                uuid,
            } => Call {
                acknowledge_operation_status: Some(call::AcknowledgeOperationStatus {
                    agent_id: Some(agent_id.into()),
                    resource_provider_id: None,
                    uuid,
                    operation_id: OperationId {
                        value: operation_id,
                    },
                }),
                ..call_of(framework_id, call::Type::AcknowledgeOperationStatus)
            },
            Self::Reconcile { tasks } => Call {
                reconcile: Some(call::Reconcile {
                    tasks: tasks
                        .into_iter()
                        .map(|(task_id, agent_id)| call::reconcile::Task {
                            task_id: task_id.into(),
                            agent_id: agent_id.map(Into::into),
                        })
                        .collect(),
                }),
                ..call_of(framework_id, call::Type::Reconcile)
            },
            Self::Suppress => Call {
                suppress: Some(call::Suppress { roles: Vec::new() }),
                ..call_of(framework_id, call::Type::Suppress)
            },
            Self::Revive => Call {
                revive: Some(call::Revive { roles: Vec::new() }),
                ..call_of(framework_id, call::Type::Revive)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_becomes_accept_with_launch_operation() {
        let call = Decision::Launch {
            offer_id: "o1".into(),
            operations: Vec::new(),
            tasks: vec![TaskInfo::default()],
            refuse_seconds: 5.0,
        }
        .into_call("fw");
        assert_eq!(call.r#type(), call::Type::Accept);
        assert_eq!(call.framework_id.unwrap().value, "fw");
        let accept = call.accept.unwrap();
        assert_eq!(accept.offer_ids[0].value, "o1");
        assert_eq!(
            accept.operations[0].r#type(),
            offer::operation::Type::Launch
        );
        assert_eq!(
            accept.operations[0]
                .launch
                .as_ref()
                .unwrap()
                .task_infos
                .len(),
            1
        );
        assert_eq!(accept.filters.unwrap().refuse_seconds, Some(5.0));
    }

    #[test]
    fn resource_operations_ask_for_feedback_and_launches_do_not() {
        let reserve = offer::Operation {
            r#type: Some(offer::operation::Type::Reserve as i32),
            ..Default::default()
        };
        let create = offer::Operation {
            r#type: Some(offer::operation::Type::Create as i32),
            ..Default::default()
        };
        let accept = Decision::Launch {
            offer_id: "o7".into(),
            operations: vec![reserve, create],
            tasks: vec![TaskInfo::default()],
            refuse_seconds: 5.0,
        }
        .into_call("fw")
        .accept
        .unwrap();
        let ids: Vec<Option<&str>> = accept
            .operations
            .iter()
            .map(|o| o.id.as_ref().map(|id| id.value.as_str()))
            .collect();
        // Mesos refuses LAUNCH operations with an id (TASK_ERROR).
        assert_eq!(ids, [Some("o7/0"), Some("o7/1"), None]);
    }

    #[test]
    fn operation_acknowledgement_names_agent_operation_and_uuid() {
        let call = Decision::AcknowledgeOperation {
            agent_id: "a1".into(),
            operation_id: "o7/0".into(),
            uuid: Bytes::from_static(&[7; 16]),
        }
        .into_call("fw");
        assert_eq!(call.r#type(), call::Type::AcknowledgeOperationStatus);
        let ack = call.acknowledge_operation_status.unwrap();
        assert_eq!(ack.agent_id.unwrap().value, "a1");
        assert_eq!(ack.operation_id.value, "o7/0");
        assert_eq!(&ack.uuid[..], &[7; 16]);
    }

    #[test]
    fn launch_debug_hides_task_environment() {
        let task = TaskInfo {
            task_id: mesos::v1::TaskId {
                value: "proxy-1".into(),
            },
            name: "hunter2".into(),
            ..Default::default()
        };
        let text = format!(
            "{:?}",
            Decision::Launch {
                offer_id: "o1".into(),
                operations: Vec::new(),
                tasks: vec![task],
                refuse_seconds: 5.0,
            }
        );
        assert!(
            text.contains("proxy-1") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn other_calls() {
        let call = Decision::Decline {
            offer_ids: vec!["a".into(), "b".into()],
            refuse_seconds: 30.0,
        }
        .into_call("fw");
        assert_eq!(call.r#type(), call::Type::Decline);
        assert_eq!(call.decline.unwrap().offer_ids.len(), 2);

        let call = Decision::Kill {
            task_id: "t".into(),
            agent_id: Some("a".into()),
        }
        .into_call("fw");
        assert_eq!(call.r#type(), call::Type::Kill);
        assert_eq!(call.kill.unwrap().agent_id.unwrap().value, "a");

        let call = Decision::Acknowledge {
            agent_id: "a".into(),
            task_id: "t".into(),
            uuid: Bytes::from_static(b"0123456789abcdef"),
        }
        .into_call("fw");
        assert_eq!(call.r#type(), call::Type::Acknowledge);
        assert_eq!(call.acknowledge.unwrap().uuid.len(), 16);

        let call = Decision::Reconcile { tasks: vec![] }.into_call("fw");
        assert_eq!(call.r#type(), call::Type::Reconcile);
        assert!(call.reconcile.unwrap().tasks.is_empty());

        assert_eq!(
            Decision::Suppress.into_call("fw").r#type(),
            call::Type::Suppress
        );
        assert_eq!(
            Decision::Revive.into_call("fw").r#type(),
            call::Type::Revive
        );
    }
}
