//! The master's `GET /master/state` (also `/state`) and each agent's `GET /slave(1)/state`
//! (also `/state`), in the shape of Mesos' JSON model: the master, each framework with its
//! tasks and executors (commands and their environments included, as Mesos shows them), and
//! the agents with their resources and attributes; an agent shows its own executors with their
//! tasks. Secret values are redacted, as Mesos does, so what a `VALUE` secret holds appears
//! nowhere; a `REFERENCE` secret shows only its name.

use std::collections::BTreeMap;

use mesos::scalar::from_milli;
use mesos::v1::{value, Attribute, ExecutorInfo, TaskState};
use serde_json::{json, Value};

use crate::resources::Bundle;
use crate::state::State;

/// Mesos' model of resources: scalars by name, ranges as `"[a-b, c-d]"`.
fn resources(bundle: &Bundle) -> Value {
    let total = bundle.total();
    let ports: Vec<String> = total
        .ports
        .iter()
        .map(|(begin, end)| format!("{begin}-{end}"))
        .collect();
    json!({
        "cpus": from_milli(total.cpus),
        "mem": from_milli(total.mem),
        "disk": from_milli(total.disk),
        "gpus": 0.0,
        "ports": format!("[{}]", ports.join(", ")),
    })
}

/// Mesos' model of attributes: name -> text, number, `"[a-b]"` or `"{a,b}"`.
fn attributes(attributes: &[Attribute]) -> Value {
    let mut out = serde_json::Map::new();
    for attribute in attributes {
        let shown = match attribute.r#type() {
            value::Type::Scalar => json!(attribute.scalar.as_ref().map_or(0.0, |s| s.value)),
            value::Type::Ranges => {
                let ranges: Vec<String> = attribute
                    .ranges
                    .iter()
                    .flat_map(|r| &r.range)
                    .map(|r| format!("{}-{}", r.begin, r.end))
                    .collect();
                json!(format!("[{}]", ranges.join(", ")))
            }
            value::Type::Set => {
                let items = attribute.set.as_ref().map_or(&[][..], |s| &s.item[..]);
                json!(format!("{{{}}}", items.join(",")))
            }
            value::Type::Text => {
                json!(attribute.text.as_ref().map_or("", |t| t.value.as_str()))
            }
        };
        out.insert(attribute.name.clone(), shown);
    }
    Value::Object(out)
}

/// An executor as Mesos' state shows it, its secrets redacted.
fn executor(info: &ExecutorInfo, framework_id: &str, agent_id: &str, res: &Bundle) -> Value {
    let mut info = info.clone();
    crate::secrets::redact_executor(&mut info);
    json!({
        "executor_id": info.executor_id.value,
        "name": info.name.clone().unwrap_or_default(),
        "framework_id": framework_id,
        "slave_id": agent_id,
        "command": info.command.as_ref().map(serde_json::to_value).transpose().ok().flatten(),
        "container": info.container.as_ref().map(serde_json::to_value).transpose().ok().flatten(),
        "resources": resources(res),
    })
}

/// Agent `index`'s document: itself, and per framework its executors with their tasks.
pub(crate) fn agent_state(state: &State, index: usize) -> Value {
    let Some(agent) = state.agents.get(index) else {
        return Value::Null;
    };
    let mut frameworks: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for exec in agent.executors.values() {
        let mut shown = executor(&exec.info, &exec.framework_id, &agent.id, &exec.res);
        let mut tasks: Vec<Value> = state
            .tasks
            .iter()
            .filter(|((framework_id, _), task)| {
                task.agent == index
                    && *framework_id == exec.framework_id
                    && task.executor_id == exec.executor_id
            })
            .map(|((_, task_id), task)| {
                json!({
                    "id": task_id,
                    "state": task.state.as_str_name(),
                    "resources": resources(&task.res),
                })
            })
            .collect();
        tasks.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        shown["id"] = json!(exec.executor_id);
        shown["container"] = json!(exec.container_id);
        shown["directory"] = json!(exec.sandbox.display().to_string());
        shown["tasks"] = json!(tasks);
        frameworks
            .entry(exec.framework_id.as_str())
            .or_default()
            .push(shown);
    }
    let frameworks: Vec<Value> = frameworks
        .into_iter()
        .map(|(framework_id, executors)| {
            let info = state.frameworks.get(framework_id).map(|f| &f.info);
            json!({
                "id": framework_id,
                "name": info.map(|i| i.name.as_str()),
                "user": info.map(|i| i.user.as_str()),
                "executors": executors,
            })
        })
        .collect();
    json!({
        "id": agent.id,
        "pid": format!("slave(1)@{}", agent.addr),
        "hostname": agent.hostname,
        "resources": resources(&agent.total),
        "attributes": attributes(&agent.attributes),
        "master_hostname": state.hostname(),
        "frameworks": frameworks,
        "completed_frameworks": [],
    })
}

/// The whole document.
pub(crate) fn master_state(state: &State) -> Value {
    let agent_id = |index: usize| state.agents.get(index).map_or("", |a| a.id.as_str());
    let mut tasks: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for ((framework_id, task_id), task) in &state.tasks {
        let status = json!({
            "state": TaskState::try_from(task.latest.state)
                .unwrap_or(task.state)
                .as_str_name(),
            "timestamp": task.latest.timestamp,
        });
        tasks.entry(framework_id).or_default().push(json!({
            "id": task_id,
            "framework_id": framework_id,
            "executor_id": task.executor_id,
            "slave_id": agent_id(task.agent),
            "state": task.state.as_str_name(),
            "resources": resources(&task.res),
            "statuses": [status],
        }));
    }
    let mut executors: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for agent in &state.agents {
        for exec in agent.executors.values() {
            executors
                .entry(exec.framework_id.as_str())
                .or_default()
                .push(executor(
                    &exec.info,
                    &exec.framework_id,
                    &agent.id,
                    &exec.res,
                ));
        }
    }
    let frameworks: Vec<Value> = state
        .frameworks
        .values()
        .map(|framework| {
            let info = &framework.info;
            let mut framework_tasks = tasks.remove(framework.id.as_str()).unwrap_or_default();
            framework_tasks.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            json!({
                "id": framework.id,
                "name": info.name,
                "user": info.user,
                "principal": info.principal,
                "role": info.role.clone().unwrap_or_else(|| "*".into()),
                "roles": framework.roles(),
                "active": framework.stream.is_some(),
                "connected": framework.stream.is_some(),
                "checkpoint": info.checkpoint.unwrap_or(false),
                "failover_timeout": info.failover_timeout.unwrap_or(0.0),
                "capabilities": info
                    .capabilities
                    .iter()
                    .map(|c| c.r#type().as_str_name())
                    .collect::<Vec<_>>(),
                "tasks": framework_tasks,
                "executors": executors.remove(framework.id.as_str()).unwrap_or_default(),
            })
        })
        .collect();
    let slaves: Vec<Value> = state
        .agents
        .iter()
        .filter(|agent| agent.alive)
        .map(|agent| {
            json!({
                "id": agent.id,
                "hostname": agent.hostname,
                "pid": format!("slave(1)@{}", agent.addr),
                "active": true,
                "resources": resources(&agent.total),
                "attributes": attributes(&agent.attributes),
            })
        })
        .collect();
    json!({
        "version": concat!("devcluster ", env!("CARGO_PKG_VERSION")),
        "id": state.master_id,
        "pid": format!("master@{}", state.master_addr),
        "hostname": state.hostname(),
        "activated_slaves": slaves.len(),
        "frameworks": frameworks,
        "completed_frameworks": [],
        "slaves": slaves,
    })
}
