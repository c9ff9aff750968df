//! JSON wire tests: events written by hand the way a Mesos master or agent
//! writes them (stout's protobuf-to-JSON: .proto field names, enums by name,
//! 64-bit integers as numbers, bytes as base64, unset fields with defaults
//! included, plus fields our subset does not model), and calls checked
//! against the JSON shape Mesos parses.

use bytes::Bytes;
use serde_json::{json, Value as Json};

use super::*;
use crate::{ContentType, WireMessage};

fn decode<M: WireMessage>(json: &str) -> M {
    ContentType::Json
        .decode(Bytes::copy_from_slice(json.as_bytes()))
        .expect("hand-written JSON decodes")
}

fn encode<M: prost::Message + serde::Serialize>(message: &M) -> Json {
    let body = ContentType::Json.encode(message).expect("encodes");
    serde_json::from_slice(&body).expect("valid JSON")
}

/// The message survives JSON -> protobuf -> JSON unchanged.
fn roundtrip<M: WireMessage + PartialEq + std::fmt::Debug>(message: &M) {
    for kind in ContentType::ALL {
        let body = kind.encode(message).unwrap();
        assert_eq!(&kind.decode::<M>(body).unwrap(), message, "{kind}");
    }
}

/// An id message (`FrameworkID`, `AgentID`, ...: all `{value}`).
macro_rules! id {
    ($kind:ident, $value:expr) => {
        $kind {
            value: $value.into(),
        }
    };
}

#[test]
fn scheduler_subscribed_event() {
    let event: scheduler::Event = decode(
        r#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"fw-1"},"heartbeat_interval_seconds":15}}"#,
    );
    assert_eq!(event.r#type(), scheduler::event::Type::Subscribed);
    let subscribed = event.subscribed.as_ref().unwrap();
    assert_eq!(subscribed.framework_id.value, "fw-1");
    assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));
    assert_eq!(subscribed.master_info, None);
    roundtrip(&event);

    // With the master's info, as Mesos 1.x sends it: the deprecated `pid`,
    // fields we do not model (`capabilities` of unknown types, `domain`
    // contents) and the default `port`.
    let event: scheduler::Event = decode(
        r#"{
          "type": "SUBSCRIBED",
          "subscribed": {
            "framework_id": {"value": "fw-1"},
            "heartbeat_interval_seconds": 15.0,
            "master_info": {
              "id": "7b36c4b5-07c7-4b2d-8b8a-2f1b0a1c1d2e",
              "ip": 16777343,
              "port": 5050,
              "pid": "master@127.0.0.1:5050",
              "hostname": "localhost",
              "version": "1.11.0",
              "address": {"hostname": "localhost", "ip": "127.0.0.1", "port": 5050},
              "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "SOMETHING_NEWER"}],
              "unknown_field": {"nested": [1, 2, 3]}
            }
          }
        }"#,
    );
    let master = event.subscribed.unwrap().master_info.unwrap();
    assert_eq!(master.ip, 16777343);
    assert_eq!(master.port, 5050);
    assert_eq!(master.hostname.as_deref(), Some("localhost"));
    assert_eq!(master.address.unwrap().port, 5050);
    // An enum name we do not know reads as the enum's default.
    assert_eq!(
        master
            .capabilities
            .iter()
            .map(|capability| capability.r#type())
            .collect::<Vec<_>>(),
        [
            master_info::capability::Type::AgentUpdate,
            master_info::capability::Type::Unknown
        ]
    );
}

#[test]
fn scheduler_offers_event() {
    // Mesos' docs abbreviate the OFFERS example; on the wire `offers` is the
    // Offers message, whose `offers` field holds the list.
    let event: scheduler::Event = decode(
        r#"{
          "type": "OFFERS",
          "offers": {
            "offers": [{
              "id": {"value": "fw-1-O7"},
              "framework_id": {"value": "fw-1"},
              "agent_id": {"value": "agent-1-S0"},
              "hostname": "node-a",
              "url": {
                "scheme": "http",
                "address": {"hostname": "node-a", "ip": "10.0.0.5", "port": 5051},
                "path": "/slave(1)",
                "query": []
              },
              "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4.0},
                 "role": "*", "allocation_info": {"role": "mining"}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 7936.0},
                 "role": "*", "allocation_info": {"role": "mining"}},
                {"name": "ports", "type": "RANGES",
                 "ranges": {"range": [{"begin": 31000, "end": 31999}, {"begin": 32500, "end": 32500}]},
                 "role": "*", "allocation_info": {"role": "mining"}}
              ],
              "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}],
              "executor_ids": [{"value": "miner-executor"}],
              "allocation_info": {"role": "mining"}
            }]
          }
        }"#,
    );
    assert_eq!(event.r#type(), scheduler::event::Type::Offers);
    let offers = &event.offers.as_ref().unwrap().offers;
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert_eq!(offer.id, id!(OfferId, "fw-1-O7"));
    assert_eq!(offer.framework_id, id!(FrameworkId, "fw-1"));
    assert_eq!(offer.agent_id, id!(AgentId, "agent-1-S0"));
    assert_eq!(offer.hostname, "node-a");
    assert_eq!(offer.url.as_ref().unwrap().address.port, 5051);
    assert_eq!(offer.executor_ids, [id!(ExecutorId, "miner-executor")]);
    assert_eq!(
        offer.allocation_info.as_ref().unwrap().role.as_deref(),
        Some("mining")
    );

    let allocation = Some(resource::AllocationInfo {
        role: Some("mining".into()),
    });
    let scalar = |name: &str, value: f64| Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value }),
        role: Some("*".into()),
        allocation_info: allocation.clone(),
        ..Default::default()
    };
    let ports = Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: vec![
                value::Range {
                    begin: 31000,
                    end: 31999,
                },
                value::Range {
                    begin: 32500,
                    end: 32500,
                },
            ],
        }),
        role: Some("*".into()),
        allocation_info: allocation.clone(),
        ..Default::default()
    };
    assert_eq!(
        offer.resources,
        [scalar("cpus", 4.0), scalar("mem", 7936.0), ports]
    );
    assert_eq!(
        offer.attributes,
        [Attribute {
            name: "rack".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text { value: "r1".into() }),
            ..Default::default()
        }]
    );
    roundtrip(&event);

    // 64-bit integers go out as numbers, as Mesos writes and requires them.
    let json = encode(&offer.resources[2]);
    assert_eq!(
        json["ranges"],
        json!({"range": [{"begin": 31000, "end": 31999}, {"begin": 32500, "end": 32500}]})
    );
    // Strings are accepted too (the proto3 mapping's form).
    let range: value::Range = decode(r#"{"begin":"31000","end":31001}"#);
    assert_eq!((range.begin, range.end), (31000, 31001));
}

#[test]
fn scheduler_update_event() {
    let event: scheduler::Event = decode(
        r#"{
          "type": "UPDATE",
          "update": {
            "status": {
              "task_id": {"value": "miner-1"},
              "state": "TASK_RUNNING",
              "source": "SOURCE_EXECUTOR",
              "agent_id": {"value": "agent-1-S0"},
              "executor_id": {"value": "miner-executor"},
              "timestamp": 1700000000.25,
              "uuid": "CQkJCQkJCQkJCQkJCQkJCQ==",
              "data": "aGFzaHJhdGU9MQ==",
              "healthy": true
            }
          }
        }"#,
    );
    let status = event.update.as_ref().unwrap().status.clone();
    assert_eq!(status.state(), TaskState::TaskRunning);
    assert_eq!(status.source(), task_status::Source::Executor);
    assert_eq!(status.uuid, Some(Bytes::from_static(&[9; 16])));
    assert_eq!(status.data, Some(Bytes::from_static(b"hashrate=1")));
    assert_eq!(status.timestamp, Some(1700000000.25));
    assert_eq!(status.healthy, Some(true));
    roundtrip(&event);

    let json = encode(&status);
    assert_eq!(json["uuid"], "CQkJCQkJCQkJCQkJCQkJCQ==");
    assert_eq!(json["state"], "TASK_RUNNING");
}

#[test]
fn scheduler_subscribe_call_shape() {
    let call = super::wire_tests::subscribe_call();
    assert_eq!(
        encode(&call),
        json!({
            "type": "SUBSCRIBE",
            "subscribe": {
                "framework_info": {
                    "user": "root",
                    "name": "mesos-miner",
                    "failover_timeout": 604800.0,
                    "checkpoint": true,
                    "roles": ["mining"],
                    "capabilities": [{"type": "PARTITION_AWARE"}]
                }
            }
        })
    );
    roundtrip(&call);
}

#[test]
fn scheduler_accept_and_acknowledge_call_shapes() {
    let task = TaskInfo {
        name: "miner".into(),
        task_id: id!(TaskId, "miner-1"),
        agent_id: id!(AgentId, "agent-1-S0"),
        resources: vec![Resource::ranges("ports", &[(31000, 31000)])],
        data: Some(Bytes::from_static(b"\x00\xff")),
        limits: [("cpus".to_owned(), value::Scalar { value: 1.5 })].into(),
        ..Default::default()
    };
    let accept = scheduler::Call {
        framework_id: Some(id!(FrameworkId, "fw-1")),
        r#type: Some(scheduler::call::Type::Accept as i32),
        accept: Some(scheduler::call::Accept {
            offer_ids: vec![id!(OfferId, "fw-1-O7")],
            operations: vec![offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch {
                    task_infos: vec![task],
                }),
                ..Default::default()
            }],
            filters: Some(Filters {
                refuse_seconds: Some(5.0),
            }),
        }),
        ..Default::default()
    };
    assert_eq!(
        encode(&accept),
        json!({
            "framework_id": {"value": "fw-1"},
            "type": "ACCEPT",
            "accept": {
                "offer_ids": [{"value": "fw-1-O7"}],
                "operations": [{
                    "type": "LAUNCH",
                    "launch": {"task_infos": [{
                        "name": "miner",
                        "task_id": {"value": "miner-1"},
                        "agent_id": {"value": "agent-1-S0"},
                        "resources": [{
                            "name": "ports",
                            "type": "RANGES",
                            "ranges": {"range": [{"begin": 31000, "end": 31000}]}
                        }],
                        "data": "AP8=",
                        "limits": {"cpus": {"value": 1.5}}
                    }]}
                }],
                "filters": {"refuse_seconds": 5.0}
            }
        })
    );
    roundtrip(&accept);

    let acknowledge = scheduler::Call {
        framework_id: Some(id!(FrameworkId, "fw-1")),
        r#type: Some(scheduler::call::Type::Acknowledge as i32),
        acknowledge: Some(scheduler::call::Acknowledge {
            agent_id: id!(AgentId, "agent-1-S0"),
            task_id: id!(TaskId, "miner-1"),
            uuid: Bytes::from_static(&[9; 16]),
        }),
        ..Default::default()
    };
    assert_eq!(
        encode(&acknowledge)["acknowledge"],
        json!({
            "agent_id": {"value": "agent-1-S0"},
            "task_id": {"value": "miner-1"},
            "uuid": "CQkJCQkJCQkJCQkJCQkJCQ=="
        })
    );
    roundtrip(&acknowledge);
}

#[test]
fn executor_events_and_calls() {
    let event: executor::Event = decode(
        r#"{
          "type": "LAUNCH",
          "launch": {
            "task": {
              "name": "miner",
              "task_id": {"value": "miner-1"},
              "agent_id": {"value": "agent-1-S0"},
              "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}],
              "data": "eyJ0aHJlYWRzIjoxfQ==",
              "kill_policy": {"grace_period": {"nanoseconds": 5000000000}}
            }
          }
        }"#,
    );
    assert_eq!(event.r#type(), executor::event::Type::Launch);
    let task = &event.launch.as_ref().unwrap().task;
    assert_eq!(task.data.as_deref(), Some(&br#"{"threads":1}"#[..]));
    assert_eq!(
        task.kill_policy
            .as_ref()
            .unwrap()
            .grace_period
            .as_ref()
            .unwrap()
            .nanoseconds,
        5_000_000_000
    );
    roundtrip(&event);

    let update = executor::Call {
        executor_id: id!(ExecutorId, "miner-executor"),
        framework_id: id!(FrameworkId, "fw-1"),
        r#type: Some(executor::call::Type::Update as i32),
        update: Some(executor::call::Update {
            status: TaskStatus {
                task_id: id!(TaskId, "miner-1"),
                state: TaskState::TaskKilled as i32,
                source: Some(task_status::Source::Executor as i32),
                uuid: Some(Bytes::from_static(&[9; 16])),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    assert_eq!(
        encode(&update),
        json!({
            "executor_id": {"value": "miner-executor"},
            "framework_id": {"value": "fw-1"},
            "type": "UPDATE",
            "update": {"status": {
                "task_id": {"value": "miner-1"},
                "state": "TASK_KILLED",
                "source": "SOURCE_EXECUTOR",
                "uuid": "CQkJCQkJCQkJCQkJCQkJCQ=="
            }}
        })
    );
    roundtrip(&update);
}

#[test]
fn malformed_json_is_refused() {
    // A required field missing, a wrong type, not JSON at all.
    for body in [
        r#"{"type":"SUBSCRIBED","subscribed":{}}"#,
        r#"{"type":"SUBSCRIBED","subscribed":{"framework_id":"fw-1"}}"#,
        "5\nhello",
    ] {
        assert!(
            ContentType::Json
                .decode::<scheduler::Event>(Bytes::from(body))
                .is_err(),
            "{body}"
        );
    }
    // An enum field holding a number that names no value cannot be written.
    let call = scheduler::Call {
        r#type: Some(999),
        ..Default::default()
    };
    assert!(ContentType::Json.encode(&call).is_err());
}
