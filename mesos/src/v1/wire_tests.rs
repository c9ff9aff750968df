//! Wire tests: representative messages against bytes written by hand from the
//! protobuf encoding rules (key = field_number << 3 | wire_type; 0 = varint,
//! 1 = 64-bit, 2 = length-delimited), so a wrong field number or enum value in
//! `proto/` fails here whatever prost does. Each test decodes the bytes,
//! checks the fields, and re-encodes to the same bytes.

use super::*;
use bytes::Bytes;
use prost::Message;

// Hand encoders for the three wire types we need. Values stay below 128 where
// a one-byte varint is assumed; `varint` handles the general case.

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

fn key(field: u64, wire_type: u64) -> Vec<u8> {
    varint(field << 3 | wire_type)
}

fn varint_field(field: u64, value: u64) -> Vec<u8> {
    [key(field, 0), varint(value)].concat()
}

fn double_field(field: u64, value: f64) -> Vec<u8> {
    [key(field, 1), value.to_le_bytes().to_vec()].concat()
}

fn bytes_field(field: u64, payload: &[u8]) -> Vec<u8> {
    [
        key(field, 2),
        varint(payload.len() as u64),
        payload.to_vec(),
    ]
    .concat()
}

/// A message field is length-delimited; so are the `{value = 1}` id messages.
fn id_field(field: u64, value: &str) -> Vec<u8> {
    bytes_field(field, &bytes_field(1, value.as_bytes()))
}

fn roundtrip<M: Message + Default + PartialEq + std::fmt::Debug>(wire: &[u8], expected: &M) {
    let decoded = M::decode(wire).expect("hand-written bytes decode");
    assert_eq!(&decoded, expected);
    assert_eq!(expected.encode_to_vec(), wire, "re-encoding differs");
}

#[test]
fn hand_encoders_match_the_spec_examples() {
    // The protobuf encoding guide's example: field 1 = 150 is 08 96 01.
    assert_eq!(varint_field(1, 150), [0x08, 0x96, 0x01]);
    // Field 2 = "testing" is 12 07 74 65 73 74 69 6e 67.
    assert_eq!(bytes_field(2, b"testing"), b"\x12\x07testing");
    assert_eq!(
        double_field(4, 604800.0),
        [0x21, 0, 0, 0, 0, 0, 0x75, 0x22, 0x41]
    );
}

#[test]
fn scheduler_subscribe_call() {
    let framework_info = [
        bytes_field(1, b"root"),              // user
        bytes_field(2, b"mesos-miner"),       // name
        double_field(4, 604800.0),            // failover_timeout
        varint_field(5, 1),                   // checkpoint
        bytes_field(10, &varint_field(1, 5)), // capabilities { type: PARTITION_AWARE }
        bytes_field(12, b"mining"),           // roles
    ]
    .concat();
    let wire = [
        varint_field(2, 1),                               // type: SUBSCRIBE
        bytes_field(3, &bytes_field(1, &framework_info)), // subscribe { framework_info }
    ]
    .concat();
    // The first bytes, spelled out: key(2, varint) = 0x10, SUBSCRIBE = 1,
    // key(3, length-delimited) = 0x1a.
    assert_eq!(&wire[..3], [0x10, 0x01, 0x1a]);

    roundtrip(&wire, &subscribe_call());
}

#[test]
fn scheduler_offers_event_with_cpus_mem_ports() {
    let cpus = [
        bytes_field(1, b"cpus"),
        varint_field(2, 0), // type: SCALAR (required, so present even when 0)
        bytes_field(3, &double_field(1, 4.0)),
    ]
    .concat();
    let mem = [
        bytes_field(1, b"mem"),
        varint_field(2, 0),
        bytes_field(3, &double_field(1, 8192.0)),
    ]
    .concat();
    let range = [varint_field(1, 31000), varint_field(2, 32000)].concat();
    let ports = [
        bytes_field(1, b"ports"),
        varint_field(2, 1),                      // type: RANGES
        bytes_field(4, &bytes_field(1, &range)), // ranges { range }
    ]
    .concat();
    let offer = [
        id_field(1, "offer-1"),    // id
        id_field(2, "fw-1"),       // framework_id
        id_field(3, "agent-1"),    // agent_id
        bytes_field(4, b"node-a"), // hostname
        bytes_field(5, &cpus),     // resources
        bytes_field(5, &mem),
        bytes_field(5, &ports),
        id_field(6, "exec-1"), // executor_ids
    ]
    .concat();
    let wire = [
        varint_field(1, 2),                      // type: OFFERS
        bytes_field(3, &bytes_field(1, &offer)), // offers { offers }
    ]
    .concat();

    let event = scheduler::Event {
        r#type: Some(scheduler::event::Type::Offers as i32),
        offers: Some(scheduler::event::Offers {
            offers: vec![Offer {
                id: OfferId {
                    value: "offer-1".into(),
                },
                framework_id: FrameworkId {
                    value: "fw-1".into(),
                },
                agent_id: AgentId {
                    value: "agent-1".into(),
                },
                hostname: "node-a".into(),
                resources: vec![
                    Resource::scalar("cpus", 4.0),
                    Resource::scalar("mem", 8192.0),
                    Resource::ranges("ports", &[(31000, 32000)]),
                ],
                executor_ids: vec![ExecutorId {
                    value: "exec-1".into(),
                }],
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    roundtrip(&wire, &event);
    // Unset optional fields read as Mesos' defaults.
    let decoded = scheduler::Event::decode(&wire[..]).unwrap();
    let resource = &decoded.offers.unwrap().offers[0].resources[0];
    assert_eq!(resource.role(), "*");
    assert_eq!(resource.r#type(), value::Type::Scalar);
}

fn running_status_wire(uuid: &[u8; 16]) -> Vec<u8> {
    [
        id_field(1, "task-1"),       // task_id
        varint_field(2, 1),          // state: TASK_RUNNING
        bytes_field(3, b"\x00\x01"), // data
        bytes_field(4, b"mining"),   // message
        double_field(6, 1.5e9),      // timestamp
        id_field(7, "exec-1"),       // executor_id
        varint_field(9, 2),          // source: SOURCE_EXECUTOR
        bytes_field(11, uuid),       // uuid
    ]
    .concat()
}

fn running_status(uuid: &[u8; 16]) -> TaskStatus {
    TaskStatus {
        task_id: TaskId {
            value: "task-1".into(),
        },
        state: TaskState::TaskRunning as i32,
        data: Some(Bytes::from_static(b"\x00\x01")),
        message: Some("mining".into()),
        timestamp: Some(1.5e9),
        executor_id: Some(ExecutorId {
            value: "exec-1".into(),
        }),
        source: Some(task_status::Source::Executor as i32),
        uuid: Some(Bytes::copy_from_slice(uuid)),
        ..Default::default()
    }
}

#[test]
fn executor_update_call_with_task_status() {
    let uuid = *b"0123456789abcdef";
    let wire = [
        id_field(1, "exec-1"),                                        // executor_id
        id_field(2, "fw-1"),                                          // framework_id
        varint_field(3, 2),                                           // type: UPDATE
        bytes_field(5, &bytes_field(1, &running_status_wire(&uuid))), // update { status }
    ]
    .concat();
    let call = executor::Call {
        executor_id: ExecutorId {
            value: "exec-1".into(),
        },
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
        r#type: Some(executor::call::Type::Update as i32),
        update: Some(executor::call::Update {
            status: running_status(&uuid),
        }),
        ..Default::default()
    };
    roundtrip(&wire, &call);
}

#[test]
fn scheduler_acknowledge_call_literal_bytes() {
    // type: ACKNOWLEDGE (8); acknowledge (field 8) { agent_id "a", task_id "t", uuid 0xAB 0xCD }
    let wire: &[u8] = &[
        0x10, 0x08, // key(2, varint), ACKNOWLEDGE
        0x42, 0x0e, // key(8, length-delimited), 14 bytes
        0x0a, 0x03, 0x0a, 0x01, b'a', // agent_id { value: "a" }
        0x12, 0x03, 0x0a, 0x01, b't', // task_id { value: "t" }
        0x1a, 0x02, 0xab, 0xcd, // uuid
    ];
    let call = scheduler::Call {
        r#type: Some(scheduler::call::Type::Acknowledge as i32),
        acknowledge: Some(scheduler::call::Acknowledge {
            agent_id: AgentId { value: "a".into() },
            task_id: TaskId { value: "t".into() },
            uuid: Bytes::from_static(&[0xab, 0xcd]),
        }),
        ..Default::default()
    };
    roundtrip(wire, &call);
}

#[test]
fn heartbeat_events() {
    let scheduler_heartbeat = scheduler::Event::decode(&[0x08, 0x08][..]).unwrap();
    assert_eq!(
        scheduler_heartbeat.r#type(),
        scheduler::event::Type::Heartbeat
    );
    let executor_heartbeat = executor::Event::decode(&[0x08, 0x09][..]).unwrap();
    assert_eq!(
        executor_heartbeat.r#type(),
        executor::event::Type::Heartbeat
    );
}

#[test]
fn launch_event_with_docker_container_and_kill_policy() {
    let docker = [
        bytes_field(1, b"miner:latest"), // image
        varint_field(2, 2),              // network: BRIDGE
        bytes_field(3, &[varint_field(1, 3333), varint_field(2, 3333)].concat()), // port_mappings
        bytes_field(5, &[bytes_field(1, b"cpus"), bytes_field(2, b"1")].concat()), // parameters
    ]
    .concat();
    let container = [varint_field(1, 1), bytes_field(3, &docker)].concat(); // type: DOCKER, docker
    let kill_policy = bytes_field(1, &varint_field(1, 5_000_000_000)); // grace_period 5 s
    let task = [
        bytes_field(1, b"miner"),
        id_field(2, "task-1"),
        id_field(3, "agent-1"),
        bytes_field(9, &container),
        bytes_field(12, &kill_policy),
    ]
    .concat();
    let wire = [varint_field(1, 2), bytes_field(4, &bytes_field(1, &task))].concat(); // LAUNCH

    let event = executor::Event {
        r#type: Some(executor::event::Type::Launch as i32),
        launch: Some(executor::event::Launch {
            task: TaskInfo {
                name: "miner".into(),
                task_id: TaskId {
                    value: "task-1".into(),
                },
                agent_id: AgentId {
                    value: "agent-1".into(),
                },
                container: Some(ContainerInfo {
                    r#type: container_info::Type::Docker as i32,
                    docker: Some(container_info::DockerInfo {
                        image: "miner:latest".into(),
                        network: Some(container_info::docker_info::Network::Bridge as i32),
                        port_mappings: vec![container_info::docker_info::PortMapping {
                            host_port: 3333,
                            container_port: 3333,
                            protocol: None,
                        }],
                        parameters: vec![Parameter {
                            key: "cpus".into(),
                            value: "1".into(),
                        }],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                kill_policy: Some(KillPolicy {
                    grace_period: Some(DurationInfo {
                        nanoseconds: 5_000_000_000,
                    }),
                }),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    roundtrip(&wire, &event);
}

#[test]
fn unknown_fields_are_skipped_on_decode() {
    let uuid = [7u8; 16];
    let mut wire = running_status_wire(&uuid);
    // Fields this subset does not know, of every wire type, at the end and
    // nested inside task_id: field 15 (check_status, not modelled), 99, 100.
    wire.extend(bytes_field(15, &varint_field(1, 1)));
    wire.extend(varint_field(99, 12345));
    wire.extend(double_field(100, 2.5));
    wire.extend([key(101, 5), vec![1, 2, 3, 4]].concat()); // 32-bit
    let mut wire_with_nested_unknown =
        bytes_field(1, &[bytes_field(1, b"task-1"), varint_field(9, 1)].concat());
    wire_with_nested_unknown.extend(&wire[id_field(1, "task-1").len()..]);

    for bytes in [&wire, &wire_with_nested_unknown] {
        let decoded = TaskStatus::decode(&bytes[..]).expect("unknown fields are skipped");
        assert_eq!(decoded, running_status(&uuid));
        // They are dropped, not preserved, on re-encoding.
        assert_eq!(decoded.encode_to_vec(), running_status_wire(&uuid));
    }
}

#[test]
fn unknown_enum_values_survive_as_raw_numbers() {
    let wire = [id_field(1, "t"), varint_field(2, 42)].concat();
    let status = TaskStatus::decode(&wire[..]).unwrap();
    assert_eq!(status.state, 42);
    assert!(TaskState::try_from(status.state).is_err());
    // The typed getter falls back to the default.
    assert_eq!(status.state(), TaskState::default());
}

#[test]
fn enum_values_match_mesos() {
    use task_status::Reason;
    let states = [
        (TaskState::TaskStaging, 6),
        (TaskState::TaskStarting, 0),
        (TaskState::TaskRunning, 1),
        (TaskState::TaskKilling, 8),
        (TaskState::TaskFinished, 2),
        (TaskState::TaskFailed, 3),
        (TaskState::TaskKilled, 4),
        (TaskState::TaskError, 7),
        (TaskState::TaskLost, 5),
        (TaskState::TaskDropped, 9),
        (TaskState::TaskUnreachable, 10),
        (TaskState::TaskGone, 11),
        (TaskState::TaskGoneByOperator, 12),
        (TaskState::TaskUnknown, 13),
    ];
    for (state, number) in states {
        assert_eq!(state as i32, number, "{state:?}");
    }
    let reasons = [
        (Reason::CommandExecutorFailed, 0),
        (Reason::ExecutorTerminated, 1),
        (Reason::ContainerLaunchFailed, 21),
        (Reason::TaskInvalid, 14),
        (Reason::Reconciliation, 9),
        (Reason::AgentRemoved, 11),
        (Reason::AgentDisconnected, 10),
        (Reason::AgentRestarted, 12),
        (Reason::ExecutorRegistrationTimeout, 23),
        (Reason::TaskKilledDuringLaunch, 30),
        (Reason::TaskUnknown, 16),
        (Reason::InvalidOffers, 6),
        (Reason::FrameworkRemoved, 3),
    ];
    for (reason, number) in reasons {
        assert_eq!(reason as i32, number, "{reason:?}");
    }
    use scheduler::call::Type as C;
    let calls = [
        (C::Subscribe, 1),
        (C::Teardown, 2),
        (C::Accept, 3),
        (C::Decline, 4),
        (C::Revive, 5),
        (C::Kill, 6),
        (C::Shutdown, 7),
        (C::Acknowledge, 8),
        (C::Reconcile, 9),
        (C::Message, 10),
        (C::Request, 11),
        (C::Suppress, 12),
        (C::AcceptInverseOffers, 13),
        (C::DeclineInverseOffers, 14),
        (C::AcknowledgeOperationStatus, 15),
        (C::ReconcileOperations, 16),
    ];
    for (call, number) in calls {
        assert_eq!(call as i32, number, "{call:?}");
    }
    use scheduler::event::Type as E;
    let events = [
        (E::Subscribed, 1),
        (E::Offers, 2),
        (E::Rescind, 3),
        (E::Update, 4),
        (E::Message, 5),
        (E::Failure, 6),
        (E::Error, 7),
        (E::Heartbeat, 8),
        (E::InverseOffers, 9),
        (E::RescindInverseOffer, 10),
        (E::UpdateOperationStatus, 11),
    ];
    for (event, number) in events {
        assert_eq!(event as i32, number, "{event:?}");
    }
    use executor::event::Type as X;
    let executor_events = [
        (X::Subscribed, 1),
        (X::Launch, 2),
        (X::Kill, 3),
        (X::Acknowledged, 4),
        (X::Message, 5),
        (X::Error, 6),
        (X::Shutdown, 7),
        (X::LaunchGroup, 8),
        (X::Heartbeat, 9),
    ];
    for (event, number) in executor_events {
        assert_eq!(event as i32, number, "{event:?}");
    }
    use executor::call::Type as XC;
    for (call, number) in [
        (XC::Subscribe, 1),
        (XC::Update, 2),
        (XC::Message, 3),
        (XC::Heartbeat, 4),
    ] {
        assert_eq!(call as i32, number, "{call:?}");
    }
    assert_eq!(offer::operation::Type::Launch as i32, 1);
    assert_eq!(offer::operation::Type::LaunchGroup as i32, 6);
    assert_eq!(executor_info::Type::Default as i32, 1);
    assert_eq!(executor_info::Type::Custom as i32, 2);
    assert_eq!(container_info::Type::Docker as i32, 1);
    assert_eq!(container_info::Type::Mesos as i32, 2);
}

/// SUBSCRIBE of a checkpointing, partition-aware mesos-miner framework in
/// role `mining` (also the JSON tests' fixture).
pub(super) fn subscribe_call() -> scheduler::Call {
    scheduler::Call {
        r#type: Some(scheduler::call::Type::Subscribe as i32),
        subscribe: Some(scheduler::call::Subscribe {
            framework_info: FrameworkInfo {
                user: "root".into(),
                name: "mesos-miner".into(),
                failover_timeout: Some(604800.0),
                checkpoint: Some(true),
                roles: vec!["mining".into()],
                capabilities: vec![framework_info::Capability {
                    r#type: Some(framework_info::capability::Type::PartitionAware as i32),
                }],
                ..Default::default()
            },
            suppressed_roles: vec![],
        }),
        ..Default::default()
    }
}

/// A persistent volume as a framework sends it in CREATE (and gets it back in
/// offers): reserved disk (`reservations` = 13, post-refinement) with
/// `disk` = 7 { persistence = 1 { id = 1, principal = 2 }, volume = 2 {
/// container_path = 1, mode = 3 } }, inside ACCEPT's Offer.Operation
/// { type = 1 (CREATE = 4), create = 5 { volumes = 1 } }.
#[test]
fn create_operation_with_reserved_persistent_volume() {
    // Encoded in field order: principal = 1, role = 3, type = 4 (DYNAMIC = 2).
    let reservation = [
        bytes_field(1, b"mesos-miner"),
        bytes_field(3, b"miners"),
        varint_field(4, 2),
    ]
    .concat();
    let disk = [
        bytes_field(
            1,
            &[
                bytes_field(1, b"proxy-data"),
                bytes_field(2, b"mesos-miner"),
            ]
            .concat(),
        ),
        bytes_field(
            2,
            &[bytes_field(1, b"proxy-data"), varint_field(3, 1)].concat(),
        ),
    ]
    .concat();
    let resource = [
        bytes_field(1, b"disk"),
        varint_field(2, 0),
        bytes_field(3, &double_field(1, 64.0)),
        bytes_field(7, &disk),
        bytes_field(13, &reservation),
    ]
    .concat();
    let operation = [
        varint_field(1, 4),
        bytes_field(5, &bytes_field(1, &resource)),
    ]
    .concat();
    let volume = Resource {
        disk: Some(resource::DiskInfo {
            persistence: Some(resource::disk_info::Persistence {
                id: "proxy-data".into(),
                principal: Some("mesos-miner".into()),
            }),
            volume: Some(Volume {
                mode: volume::Mode::Rw as i32,
                container_path: "proxy-data".into(),
                ..Default::default()
            }),
        }),
        reservations: vec![resource::ReservationInfo {
            r#type: Some(resource::reservation_info::Type::Dynamic as i32),
            role: Some("miners".into()),
            principal: Some("mesos-miner".into()),
            labels: None,
        }],
        role: None,
        ..Resource::scalar("disk", 64.0)
    };
    roundtrip(
        &operation,
        &offer::Operation {
            r#type: Some(offer::operation::Type::Create as i32),
            create: Some(offer::operation::Create {
                volumes: vec![volume],
            }),
            ..Default::default()
        },
    );
    // RESERVE = 2 carries its resources in reserve = 3 { resources = 1 }.
    let reserve = [
        varint_field(1, 2),
        bytes_field(3, &bytes_field(1, &resource)),
    ]
    .concat();
    let decoded = offer::Operation::decode(reserve.as_slice()).unwrap();
    assert_eq!(decoded.r#type(), offer::operation::Type::Reserve);
    assert_eq!(decoded.reserve.unwrap().resources.len(), 1);
}
