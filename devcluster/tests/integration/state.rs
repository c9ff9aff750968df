//! `GET /master/state` (and `/state`): the frameworks with their tasks and executors
//! (commands and environments, as Mesos shows them) and the agents, with no secret value
//! in it; and an agent's `GET /slave(1)/state`, its executors with their tasks.

use crate::common::*;
use base64::Engine as _;
use bytes::Bytes;
use mesos::v1::{environment, secret, Secret, TaskState};
use serde_json::Value;

const SECRET_VALUE: &[u8] = b"hunter2-the-node-password";

// Multi-threaded: `operator` blocks its thread while the cluster answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_state_shows_tasks_executors_and_agents_but_no_secret_value() {
    let h = start(1, 2.0, 512.0, (31000, 31010)).await;
    let mut sched = subscribe(&h.client, None, 60.0).await;
    let offers = sched.offers().await;
    let offer = &offers[0];
    let mut task = test_task(offer, "t1", "e1", &[("PLAIN", "visible")]);
    let command = task.executor.as_mut().unwrap().command.as_mut().unwrap();
    command
        .environment
        .as_mut()
        .unwrap()
        .variables
        .push(environment::Variable {
            name: "TOKEN".into(),
            r#type: Some(environment::variable::Type::Secret as i32),
            value: None,
            secret: Some(Secret {
                r#type: Some(secret::Type::Value as i32),
                reference: None,
                value: Some(secret::Value {
                    data: Bytes::from_static(SECRET_VALUE),
                }),
            }),
        });
    sched.launch(vec![offer.id.clone()], vec![task]).await;
    let running = sched.update("t1").await;
    assert_eq!(running.state(), TaskState::TaskRunning, "{running:?}");

    let addr = h.cluster.master_addr();
    let (code, body) = operator(addr, "GET", "/master/state", "");
    assert_eq!(code, 200, "{body}");
    let plain = String::from_utf8_lossy(SECRET_VALUE);
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    assert!(
        !body.contains(&*plain) && !body.contains(&encoded),
        "a secret value in /master/state: {body}"
    );
    let state: Value = serde_json::from_str(&body).unwrap();
    let agent_id = &offer.agent_id.value;
    assert_eq!(state["slaves"][0]["id"], *agent_id, "{state:#}");
    assert_eq!(state["slaves"][0]["resources"]["cpus"], 2.0);
    assert_eq!(state["activated_slaves"], 1);
    let framework = &state["frameworks"][0];
    assert_eq!(framework["active"], true);
    let task = &framework["tasks"][0];
    assert_eq!(task["id"], "t1");
    assert_eq!(task["state"], "TASK_RUNNING");
    assert_eq!(task["slave_id"], *agent_id);
    assert_eq!(task["resources"]["cpus"], 0.5);
    let executor = &framework["executors"][0];
    assert_eq!(executor["executor_id"], "e1");
    // The environment is shown as Mesos shows it: plain values, secrets as their kind only.
    let variables = executor["command"]["environment"]["variables"]
        .as_array()
        .unwrap_or_else(|| panic!("no environment in {executor:#}"));
    let named = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {variables:?}"))
    };
    assert_eq!(named("PLAIN")["value"], "visible");
    assert_eq!(named("TOKEN")["secret"]["type"], "VALUE");

    // The agent's own state: its executor with the task, as secret-free.
    let agent = h.cluster.agents()[0].endpoint;
    let (code, body) = operator(agent, "GET", "/slave(1)/state", "");
    assert_eq!(code, 200, "{body}");
    assert!(
        !body.contains(&*plain) && !body.contains(&encoded),
        "a secret value in the agent's state: {body}"
    );
    let agent_state: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(agent_state["id"], *agent_id);
    let executor = &agent_state["frameworks"][0]["executors"][0];
    assert_eq!(executor["id"], "e1", "{agent_state:#}");
    assert_eq!(executor["tasks"][0]["id"], "t1");
    assert_eq!(executor["tasks"][0]["state"], "TASK_RUNNING");
    assert!(body.contains("\"visible\""), "{body}");
    assert_eq!(operator(agent, "GET", "/state", "").0, 200);

    // `/state` is the same document; only GET is served.
    let (code, alias) = operator(addr, "GET", "/state", "");
    assert_eq!(code, 200);
    let alias: Value = serde_json::from_str(&alias).unwrap();
    assert_eq!(alias["id"], state["id"]);
    assert_eq!(operator(addr, "POST", "/master/state", "").0, 405);
}
