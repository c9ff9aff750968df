//! Oversubscription as a framework meets it over the scheduler API: revocable CPUs
//! offered (only with REVOCABLE_RESOURCES), launched with regular memory, refused when
//! mixed with regular CPUs, and the QoS controller's revocation killing only what runs
//! on them (TASK_GONE or TASK_LOST, REASON_CONTAINER_PREEMPTED) and withholding the slack
//! until it is restored. Agent attributes appear in offers.

use std::time::Duration;

use crate::common::{start_with, test_task, Sched};
use mesos::v1::framework_info::capability::Type as Capability;
use mesos::v1::scheduler::event;
use mesos::v1::{
    framework_info, task_status, value, FrameworkInfo, Offer, Resource, TaskInfo, TaskState,
};

fn info(capabilities: &[Capability]) -> FrameworkInfo {
    FrameworkInfo {
        user: "nobody".into(),
        name: "oversubscription-test".into(),
        capabilities: capabilities
            .iter()
            .map(|c| framework_info::Capability {
                r#type: Some(*c as i32),
            })
            .collect(),
        ..Default::default()
    }
}

fn revocable_cpus(offer: &Offer) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == "cpus" && r.revocable.is_some())
        .map(|r| r.scalar.as_ref().unwrap().value)
        .sum()
}

fn revocable(amount: f64) -> Resource {
    let mut resource = Resource::scalar("cpus", amount);
    resource.revocable = Some(Default::default());
    resource
}

/// The test task, on revocable CPUs (its executor's too, unless `mixed`).
fn revocable_task(offer: &Offer, id: &str, mixed: bool) -> TaskInfo {
    let mut task = test_task(offer, id, &format!("exec-{id}"), &[]);
    task.resources[0] = revocable(0.5);
    task.resources.truncate(2);
    if !mixed {
        task.executor.as_mut().unwrap().resources[0] = revocable(0.1);
    }
    task
}

async fn harness(agents: usize) -> crate::common::Harness {
    start_with(agents, 2.0, 1024.0, (41000, 41010), |config| {
        config.revocable_cpus = 1.0;
        config.agent_attributes = vec!["rack:r1;zone:{a,b};cores:8".into()];
    })
    .await
}

#[tokio::test]
async fn slack_is_offered_only_to_frameworks_that_ask_with_the_agents_attributes() {
    let h = harness(2).await;
    let mut plain = Sched::subscribe(&h.client, info(&[])).await;
    let offers = plain.offers().await;
    assert_eq!(offers.len(), 2);
    for offer in &offers {
        assert_eq!(revocable_cpus(offer), 0.0, "{offer:?}");
    }
    let first = offers
        .iter()
        .find(|o| !o.attributes.is_empty())
        .expect("agent 0 has attributes");
    let names: Vec<(&str, value::Type)> = first
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), a.r#type()))
        .collect();
    assert_eq!(
        names,
        [
            ("rack", value::Type::Text),
            ("zone", value::Type::Set),
            ("cores", value::Type::Scalar)
        ]
    );
    assert!(
        offers.iter().any(|o| o.attributes.is_empty()),
        "agent 1 was given none"
    );
    drop(plain);

    let h = harness(1).await;
    let mut asking = Sched::subscribe(&h.client, info(&[Capability::RevocableResources])).await;
    let offers = asking.offers().await;
    assert_eq!(revocable_cpus(&offers[0]), 1.0);
    let regular: f64 = offers[0]
        .resources
        .iter()
        .filter(|r| r.name == "cpus" && r.revocable.is_none())
        .map(|r| r.scalar.as_ref().unwrap().value)
        .sum();
    assert_eq!(regular, 2.0, "the slack comes on top");
}

#[tokio::test]
async fn revocation_kills_only_revocable_tasks_and_withholds_the_slack_until_restored() {
    for partition_aware in [true, false] {
        let h = harness(1).await;
        let mut capabilities = vec![Capability::RevocableResources];
        if partition_aware {
            capabilities.push(Capability::PartitionAware);
        }
        let mut sched = Sched::subscribe(&h.client, info(&capabilities)).await;
        let offers = sched.offers().await;
        let offer = &offers[0];
        let mixed = revocable_task(offer, "mixed", true);
        let slack = revocable_task(offer, "slack", false);
        let mut regular = test_task(offer, "regular", "exec-regular", &[]);
        regular.resources.truncate(2);
        sched
            .launch(vec![offer.id.clone()], vec![mixed, slack, regular])
            .await;
        let refused = sched.update("mixed").await;
        assert_eq!(refused.state(), TaskState::TaskError, "{refused:?}");
        assert!(
            refused
                .message()
                .contains("Cannot use both revocable and non-revocable 'cpus'"),
            "{refused:?}"
        );
        for id in ["slack", "regular"] {
            let running = sched.update(id).await;
            assert_eq!(running.state(), TaskState::TaskRunning, "{running:?}");
            sched.acknowledge(&running).await;
        }

        assert_eq!(h.cluster.qos_revoke(None).unwrap(), 1);
        let revoked = sched.update("slack").await;
        let expected = if partition_aware {
            TaskState::TaskGone
        } else {
            TaskState::TaskLost
        };
        assert_eq!(revoked.state(), expected, "{revoked:?}");
        assert_eq!(
            revoked.reason(),
            task_status::Reason::ContainerPreempted,
            "{revoked:?}"
        );
        assert_eq!(revoked.source(), task_status::Source::Agent);
        sched.acknowledge(&revoked).await;
        // The regular task is left alone, and no slack is offered meanwhile.
        sched
            .expect_none(Duration::from_secs(2), |event| {
                let about_regular = event.r#type() == event::Type::Update
                    && event.update.as_ref().unwrap().status.task_id.value == "regular";
                let slack_offered = event.r#type() == event::Type::Offers
                    && event
                        .offers
                        .as_ref()
                        .unwrap()
                        .offers
                        .iter()
                        .any(|o| revocable_cpus(o) > 0.0);
                about_regular || slack_offered
            })
            .await;

        h.cluster.qos_restore(None).unwrap();
        let again = sched
            .expect("an offer of the slack", |event| {
                event.r#type() == event::Type::Offers
                    && event
                        .offers
                        .as_ref()
                        .unwrap()
                        .offers
                        .iter()
                        .any(|o| revocable_cpus(o) == 1.0)
            })
            .await;
        assert!(again.offers.is_some());
        assert!(h.cluster.qos_revoke(Some("no-such-agent")).is_err());
    }
}

#[tokio::test]
async fn bad_slack_or_attributes_are_configuration_errors() {
    for (revocable_cpus, attributes, says) in [
        (-1.0, vec![], "revocable_cpus"),
        (f64::NAN, vec![], "revocable_cpus"),
        (0.0, vec!["rack".to_owned()], "NAME:VALUE"),
        (
            0.0,
            vec!["a:1".to_owned(), "b:2".to_owned()],
            "attributes for 2 agents",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = devcluster::ClusterConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            work_dir: dir.path().to_path_buf(),
            revocable_cpus,
            agent_attributes: attributes,
            ..Default::default()
        };
        let error = devcluster::Cluster::start(config).await.unwrap_err();
        assert!(
            matches!(&error, devcluster::Error::InvalidConfig(m) if m.contains(says)),
            "{error}"
        );
    }
}
