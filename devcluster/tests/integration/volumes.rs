//! Dynamic reservations and persistent volumes over the real scheduler API:
//! RESERVE + CREATE + LAUNCH in one ACCEPT, the volume linked into the
//! sandbox and outliving the task, offered back with its reservation only to
//! its role and only while unused, then DESTROY + UNRESERVE; operations
//! Mesos refuses (other role, other principal) change nothing; and operation
//! feedback for operations with an `id`.

use crate::common::*;
use bytes::Bytes;
use mesos::v1::scheduler::{call, event};
use mesos::v1::{
    framework_info, offer, resource, volume, FrameworkInfo, Offer, OperationState, Resource,
    TaskInfo, TaskState, Volume,
};

const ROLE: &str = "miners";
const PRINCIPAL: &str = "miner-principal";

fn framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "nobody".into(),
        name: "devcluster-volume-test".into(),
        roles: vec![ROLE.into()],
        principal: Some(PRINCIPAL.into()),
        capabilities: vec![
            framework_info::Capability {
                r#type: Some(framework_info::capability::Type::MultiRole as i32),
            },
            framework_info::Capability {
                r#type: Some(framework_info::capability::Type::ReservationRefinement as i32),
            },
        ],
        ..Default::default()
    }
}

fn reserved(mut resource: Resource, role: &str, principal: &str) -> Resource {
    resource.role = None;
    resource.reservations = vec![resource::ReservationInfo {
        r#type: Some(resource::reservation_info::Type::Dynamic as i32),
        role: Some(role.into()),
        principal: Some(principal.into()),
        labels: None,
    }];
    resource
}

fn volume_resource(id: &str) -> Resource {
    let mut disk = reserved(Resource::scalar("disk", 10.0), ROLE, PRINCIPAL);
    disk.disk = Some(resource::DiskInfo {
        persistence: Some(resource::disk_info::Persistence {
            id: id.into(),
            principal: Some(PRINCIPAL.into()),
        }),
        volume: Some(Volume {
            mode: volume::Mode::Rw as i32,
            container_path: "data".into(),
            ..Default::default()
        }),
    });
    disk
}

/// The test task with its CPUs and memory reserved and the volume.
fn task_with_volume(offer: &Offer, task_id: &str) -> TaskInfo {
    let mut task = test_task(offer, task_id, &format!("exec-{task_id}"), &[]);
    for resource in &mut task.resources {
        if resource.name != "ports" {
            *resource = reserved(resource.clone(), ROLE, PRINCIPAL);
        }
    }
    task.resources.push(volume_resource("v1"));
    // An executor without resources of its own: the freed reservation and
    // volume are all a relaunch needs.
    task.executor.as_mut().unwrap().resources.clear();
    task
}

fn operation(kind: offer::operation::Type) -> offer::Operation {
    offer::Operation {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn reserve(resources: Vec<Resource>) -> offer::Operation {
    offer::Operation {
        reserve: Some(offer::operation::Reserve {
            source: Vec::new(),
            resources,
        }),
        ..operation(offer::operation::Type::Reserve)
    }
}

async fn accept(sched: &Sched, offer: &Offer, operations: Vec<offer::Operation>) {
    let mut call = sched.base(call::Type::Accept);
    call.accept = Some(call::Accept {
        offer_ids: vec![offer.id.clone()],
        operations,
        filters: Some(mesos::v1::Filters {
            refuse_seconds: Some(0.0),
        }),
    });
    sched.send(call).await;
}

/// The scheduler and the offers it received while waiting for updates.
struct Client {
    sched: Sched,
    stash: Vec<Offer>,
}

impl Client {
    async fn one_offer(&mut self) -> Offer {
        if self.stash.is_empty() {
            self.stash = self.sched.offers().await;
        }
        self.stash.remove(0)
    }

    /// The next update of `id` (acknowledged); offers meanwhile are kept.
    async fn update(&mut self, id: &str) -> TaskState {
        loop {
            let event = self
                .sched
                .expect("UPDATE or OFFERS", |event| {
                    event.r#type() == event::Type::Offers
                        || event
                            .update
                            .as_ref()
                            .is_some_and(|update| update.status.task_id.value == id)
                })
                .await;
            if let Some(offers) = event.offers {
                self.stash.extend(offers.offers);
                continue;
            }
            let status = event.update.unwrap().status;
            if status.uuid.is_some() {
                self.sched.acknowledge(&status).await;
            }
            return state(&status);
        }
    }
}

fn volume_ids(offer: &Offer) -> Vec<String> {
    offer
        .resources
        .iter()
        .filter_map(|r| Some(r.disk.as_ref()?.persistence.as_ref()?.id.clone()))
        .collect()
}

fn reserved_scalar(offer: &Offer, name: &str) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == name && !r.reservations.is_empty() && r.disk.is_none())
        .map(|r| r.scalar.as_ref().unwrap().value)
        .sum()
}

/// The `data` entry of every sandbox of `executor_id`.
fn sandbox_links(root: &std::path::Path, executor_id: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![root.join("slaves")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                todo.push(path);
            } else if path.file_name().is_some_and(|n| n == "data")
                && path.components().any(|c| c.as_os_str() == executor_id)
            {
                found.push(path);
            }
        }
    }
    found
}

async fn run(client: &mut Client, id: &str) {
    assert_eq!(client.update(id).await, TaskState::TaskRunning);
}

async fn kill(client: &mut Client, offer: &Offer, id: &str) {
    client.sched.kill(id, &offer.agent_id, None).await;
    while client.update(id).await != TaskState::TaskKilled {}
}

#[tokio::test]
async fn reserve_create_launch_relaunch_on_the_volume_then_destroy_and_unreserve() {
    let harness = start(1, 2.0, 1024.0, (31000, 31009)).await;
    let mut client = Client {
        sched: Sched::subscribe(&harness.client, framework()).await,
        stash: Vec::new(),
    };
    let first = client.one_offer().await;
    assert_eq!(volume_ids(&first), Vec::<String>::new());

    // One ACCEPT: RESERVE what the task and its executor use plus the disk,
    // CREATE the volume, LAUNCH on them.
    let task = task_with_volume(&first, "t1");
    let mut to_reserve: Vec<Resource> = task
        .resources
        .iter()
        .filter(|r| r.name != "ports" && r.disk.is_none())
        .cloned()
        .collect();
    to_reserve.push(reserved(Resource::scalar("disk", 10.0), ROLE, PRINCIPAL));
    accept(
        &client.sched,
        &first,
        vec![
            reserve(to_reserve.clone()),
            offer::Operation {
                create: Some(offer::operation::Create {
                    volumes: vec![volume_resource("v1")],
                }),
                ..operation(offer::operation::Type::Create)
            },
            offer::Operation {
                launch: Some(offer::operation::Launch {
                    task_infos: vec![task],
                }),
                ..operation(offer::operation::Type::Launch)
            },
        ],
    )
    .await;
    run(&mut client, "t1").await;

    // The volume is a directory outside the sandbox, linked at `data`.
    let links = sandbox_links(harness.dir.path(), "exec-t1");
    assert_eq!(links.len(), 1, "{links:?}");
    let target = std::fs::read_link(&links[0]).unwrap();
    let agent = &harness.cluster.agents()[0].id;
    assert_eq!(
        target,
        harness
            .dir
            .path()
            .join("volumes")
            .join(agent)
            .join("roles")
            .join(ROLE)
            .join("v1")
    );
    std::fs::write(links[0].join("journal"), b"kept").unwrap();

    // While the task runs, neither the volume nor its reservation is offered.
    let busy = client.one_offer().await;
    assert!(volume_ids(&busy).is_empty());
    assert_eq!(reserved_scalar(&busy, "cpus"), 0.0);
    client.sched.decline(vec![busy.id.clone()], 0.0).await;

    kill(&mut client, &first, "t1").await;
    // Back in offers: the reservation (role, principal) and the volume.
    let mut back = client.one_offer().await;
    while volume_ids(&back).is_empty() {
        client.sched.decline(vec![back.id.clone()], 0.0).await;
        back = client.one_offer().await;
    }
    assert_eq!(volume_ids(&back), vec!["v1".to_owned()]);
    assert_eq!(reserved_scalar(&back, "cpus"), 0.5);
    let volume = back.resources.iter().find(|r| r.disk.is_some()).unwrap();
    assert_eq!(volume.reservations[0].principal.as_deref(), Some(PRINCIPAL));
    assert_eq!(volume.reservations[0].role.as_deref(), Some(ROLE));

    // A new task on it sees what the first one wrote.
    client
        .sched
        .launch(vec![back.id.clone()], vec![task_with_volume(&back, "t2")])
        .await;
    run(&mut client, "t2").await;
    let links = sandbox_links(harness.dir.path(), "exec-t2");
    assert_eq!(std::fs::read(links[0].join("journal")).unwrap(), b"kept");
    kill(&mut client, &first, "t2").await;

    // DESTROY and UNRESERVE: the directory goes, offers are unreserved again.
    let mut last = client.one_offer().await;
    while volume_ids(&last).is_empty() {
        client.sched.decline(vec![last.id.clone()], 0.0).await;
        last = client.one_offer().await;
    }
    accept(
        &client.sched,
        &last,
        vec![
            offer::Operation {
                destroy: Some(offer::operation::Destroy {
                    volumes: vec![volume_resource("v1")],
                }),
                ..operation(offer::operation::Type::Destroy)
            },
            offer::Operation {
                unreserve: Some(offer::operation::Unreserve {
                    resources: to_reserve,
                }),
                ..operation(offer::operation::Type::Unreserve)
            },
        ],
    )
    .await;
    // Offers that came before the operations were applied are declined.
    let mut clean = client.one_offer().await;
    while clean.resources.iter().any(|r| !r.reservations.is_empty()) && !client.stash.is_empty() {
        client.sched.decline(vec![clean.id.clone()], 0.0).await;
        clean = client.one_offer().await;
    }
    assert!(volume_ids(&clean).is_empty());
    assert!(clean.resources.iter().all(|r| r.reservations.is_empty()));
    assert!(!target.exists(), "the destroyed volume's directory is gone");
}

#[tokio::test]
async fn reservations_for_other_roles_or_principals_are_refused() {
    let harness = start(1, 2.0, 1024.0, (31000, 31009)).await;
    let mut client = Client {
        sched: Sched::subscribe(&harness.client, framework()).await,
        stash: Vec::new(),
    };
    let offer = client.one_offer().await;
    accept(
        &client.sched,
        &offer,
        vec![
            reserve(vec![reserved(
                Resource::scalar("cpus", 1.0),
                "web",
                PRINCIPAL,
            )]),
            reserve(vec![reserved(
                Resource::scalar("cpus", 1.0),
                ROLE,
                "someone-else",
            )]),
            reserve(vec![reserved(
                Resource::scalar("cpus", 64.0),
                ROLE,
                PRINCIPAL,
            )]),
            // A volume with no reserved disk under it.
            offer::Operation {
                create: Some(offer::operation::Create {
                    volumes: vec![volume_resource("v9")],
                }),
                ..operation(offer::operation::Type::Create)
            },
        ],
    )
    .await;
    let next = client.one_offer().await;
    assert!(next.resources.iter().all(|r| r.reservations.is_empty()));
    assert_eq!(devcluster::resources::scalar(&next.resources, "cpus"), 2.0);
    assert!(!harness.dir.path().join("volumes").exists());
}

fn with_id(operation: offer::Operation, id: &str) -> offer::Operation {
    offer::Operation {
        id: Some(mesos::v1::OperationId { value: id.into() }),
        ..operation
    }
}

/// The next UPDATE_OPERATION_STATUS of operation `id`.
async fn operation_status(sched: &mut Sched, id: &str) -> mesos::v1::OperationStatus {
    sched
        .expect(&format!("the status of {id}"), |event| {
            event
                .update_operation_status
                .as_ref()
                .is_some_and(|update| {
                    update
                        .status
                        .operation_id
                        .as_ref()
                        .map(|i| i.value.as_str())
                        == Some(id)
                })
        })
        .await
        .update_operation_status
        .unwrap()
        .status
}

async fn reconcile_operations(sched: &Sched, ids: &[&str]) -> Vec<(String, OperationState)> {
    let mut call = sched.base(call::Type::ReconcileOperations);
    call.reconcile_operations = Some(call::ReconcileOperations {
        operations: ids
            .iter()
            .map(|id| call::reconcile_operations::Operation {
                operation_id: mesos::v1::OperationId {
                    value: (*id).into(),
                },
                agent_id: None,
                resource_provider_id: None,
            })
            .collect(),
    });
    let response = sched
        .client
        .call_for_response(&sched.stream_id, &call)
        .await
        .unwrap();
    response
        .reconcile_operations
        .unwrap()
        .operation_statuses
        .into_iter()
        .map(|status| {
            assert!(status.uuid.is_none(), "the master's answer has no uuid");
            let state = status.state();
            (status.operation_id.unwrap().value, state)
        })
        .collect()
}

/// Operation feedback (`Offer.Operation.id`), as Mesos gives it on agent default resources: an
/// applied RESERVE is OPERATION_FINISHED with a uuid and resent until acknowledged, a refused one
/// OPERATION_ERROR without a uuid, a LAUNCH with an id fails its tasks, and RECONCILE_OPERATIONS
/// answers with what the master holds.
#[tokio::test]
async fn operations_with_an_id_get_feedback_until_acknowledged() {
    let harness = start(1, 2.0, 1024.0, (31000, 31009)).await;
    let mut sched = Sched::subscribe(&harness.client, framework()).await;
    let offer = sched.offers().await.remove(0);
    let mut launch_with_id = with_id(operation(offer::operation::Type::Launch), "op-launch");
    launch_with_id.launch = Some(offer::operation::Launch {
        task_infos: vec![test_task(&offer, "t-id", "exec-t-id", &[])],
    });
    accept(
        &sched,
        &offer,
        vec![
            with_id(
                reserve(vec![reserved(
                    Resource::scalar("cpus", 1.0),
                    "web",
                    PRINCIPAL,
                )]),
                "op-bad",
            ),
            with_id(
                reserve(vec![reserved(
                    Resource::scalar("cpus", 1.0),
                    ROLE,
                    PRINCIPAL,
                )]),
                "op-reserve",
            ),
            launch_with_id,
        ],
    )
    .await;

    let refused = operation_status(&mut sched, "op-bad").await;
    assert_eq!(refused.state(), OperationState::OperationError);
    assert!(
        refused.uuid.is_none(),
        "nothing to acknowledge: {refused:?}"
    );
    assert!(refused.message.is_some());
    let finished = operation_status(&mut sched, "op-reserve").await;
    assert_eq!(finished.state(), OperationState::OperationFinished);
    assert_eq!(finished.agent_id.as_ref(), Some(&offer.agent_id));
    let uuid = finished.uuid.clone().expect("a uuid to acknowledge").value;
    assert_eq!(uuid.len(), 16);
    let failed = sched.update("t-id").await;
    assert_eq!(failed.state(), TaskState::TaskError);
    assert!(failed.message().contains("`id`"), "{failed:?}");

    // Unacknowledged, it comes again, the same status.
    let again = operation_status(&mut sched, "op-reserve").await;
    assert_eq!(again.uuid.as_ref().map(|u| &u.value), Some(&uuid));
    assert_eq!(
        reconcile_operations(&sched, &["op-reserve", "op-never"]).await,
        vec![
            ("op-reserve".into(), OperationState::OperationFinished),
            ("op-never".into(), OperationState::OperationUnknown),
        ]
    );
    assert_eq!(
        reconcile_operations(&sched, &[]).await,
        vec![("op-reserve".into(), OperationState::OperationFinished)]
    );

    // A uuid that is not one, or no agent, is a bad request.
    let ack = |uuid: Bytes, agent_id: Option<mesos::v1::AgentId>| {
        let mut call = sched.base(call::Type::AcknowledgeOperationStatus);
        call.acknowledge_operation_status = Some(call::AcknowledgeOperationStatus {
            agent_id,
            resource_provider_id: None,
            uuid,
            operation_id: mesos::v1::OperationId {
                value: "op-reserve".into(),
            },
        });
        call
    };
    for bad in [
        ack(Bytes::from_static(b"short"), Some(offer.agent_id.clone())),
        ack(uuid.clone(), None),
    ] {
        let error = sched.client.call(&sched.stream_id, &bad).await.unwrap_err();
        assert!(
            matches!(error, mesos::client::ClientError::BadRequest(_)),
            "{error}"
        );
    }
    sched
        .send(ack(uuid.clone(), Some(offer.agent_id.clone())))
        .await;
    sched
        .expect_none(std::time::Duration::from_millis(2500), |event| {
            event.update_operation_status.is_some()
        })
        .await;
    assert_eq!(reconcile_operations(&sched, &[]).await, vec![]);
}
