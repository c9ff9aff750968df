//! The master's scheduler API (`POST /api/v1/scheduler`): SUBSCRIBE and
//! failover, offers (ACCEPT / DECLINE / SUPPRESS / REVIVE), launches with
//! Mesos' validation, KILL, SHUTDOWN, ACKNOWLEDGE, RECONCILE, MESSAGE,
//! TEARDOWN and the answers to inverse offers (see [`crate::maintenance`]). Answers with the status codes Mesos uses.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use http::StatusCode;
use mesos::v1::scheduler::{call, event, Call, Event};
use mesos::v1::{
    executor, framework_info, offer, task_status, ExecutorInfo, FrameworkId, MasterInfo, TaskInfo,
    TaskState, TaskStatus,
};
use prost::Message as _;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::effect::Effect;
use crate::reply::{HttpError, Reply, StreamOwner};
use crate::resources::{self, Asker, Bundle};
use crate::state::{
    exec_key, make_status, random_uuid, task_key, ExecKey, Filter, Framework, SchedStream, State,
    TaskKey, TaskRec,
};

/// Mesos' default `Filters.refuse_seconds`.
const DEFAULT_REFUSE_SECONDS: f64 = 5.0;

fn missing(field: &str) -> HttpError {
    HttpError::bad_request(format!("Expecting '{field}' to be present"))
}

fn refuse_duration(filters: Option<&mesos::v1::Filters>) -> Duration {
    let secs = filters
        .and_then(|filters| filters.refuse_seconds)
        .unwrap_or(DEFAULT_REFUSE_SECONDS);
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs_f64(secs.min(1e9))
    } else {
        Duration::ZERO
    }
}

/// A task that passed validation, ready to launch.
struct ValidTask {
    task: TaskInfo,
    res: Bundle,
    executor: ExecutorInfo,
}

impl State {
    pub fn master_info(&self) -> MasterInfo {
        let ip = match self.master_addr.ip() {
            std::net::IpAddr::V4(ip) => u32::from_le_bytes(ip.octets()),
            std::net::IpAddr::V6(_) => 0,
        };
        MasterInfo {
            id: self.master_id.clone(),
            ip,
            port: u32::from(self.master_addr.port()),
            pid: Some(format!("master@{}", self.master_addr)),
            hostname: Some(self.hostname()),
            version: Some("1.11.0".into()),
            address: Some(mesos::v1::Address {
                hostname: Some(self.hostname()),
                ip: Some(self.master_addr.ip().to_string()),
                port: i32::from(self.master_addr.port()),
            }),
            ..Default::default()
        }
    }

    pub fn scheduler_call(
        &mut self,
        call: Call,
        stream_id: Option<String>,
    ) -> Result<Reply, HttpError> {
        if call.r#type() == call::Type::Subscribe {
            if stream_id.is_some() {
                return Err(HttpError::bad_request(
                    "Expecting 'Mesos-Stream-Id' header to be absent for SUBSCRIBE",
                ));
            }
            return self.subscribe(call);
        }
        if call.r#type() == call::Type::Unknown {
            return Err(missing("type"));
        }
        let framework_id = call
            .framework_id
            .as_ref()
            .map(|id| id.value.clone())
            .ok_or_else(|| missing("framework_id"))?;
        let Some(framework) = self.frameworks.get(&framework_id) else {
            return Err(HttpError::new(
                StatusCode::NOT_FOUND,
                format!("Framework {framework_id} cannot be found"),
            ));
        };
        let Some(stream_id) = stream_id else {
            return Err(HttpError::bad_request(
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
            ));
        };
        let Some(stream) = framework.stream.as_ref() else {
            return Err(HttpError::new(
                StatusCode::FORBIDDEN,
                "Framework is not subscribed",
            ));
        };
        if stream.id != stream_id {
            return Err(HttpError::bad_request(format!(
                "The stream ID '{stream_id}' included in this request didn't match the stream ID \
                 currently associated with framework ID {framework_id}"
            )));
        }
        match call.r#type() {
            call::Type::Teardown => {
                info!(framework = %framework_id, "TEARDOWN");
                self.remove_framework(&framework_id);
            }
            call::Type::Accept => {
                let accept = call.accept.ok_or_else(|| missing("accept"))?;
                self.accept(&framework_id, accept);
            }
            call::Type::Decline => {
                let decline = call.decline.ok_or_else(|| missing("decline"))?;
                let refuse = refuse_duration(decline.filters.as_ref());
                for offer_id in &decline.offer_ids {
                    if let Some((agent, res)) = self.take_offer(&framework_id, &offer_id.value) {
                        self.add_filter(&framework_id, agent, res, refuse);
                    }
                }
                self.allocation_needed = true;
            }
            call::Type::Revive => {
                if let Some(framework) = self.frameworks.get_mut(&framework_id) {
                    framework.filters.clear();
                    framework.suppressed = false;
                }
                self.allocation_needed = true;
            }
            call::Type::Suppress => {
                if let Some(framework) = self.frameworks.get_mut(&framework_id) {
                    framework.suppressed = true;
                }
            }
            call::Type::Kill => {
                let kill = call.kill.ok_or_else(|| missing("kill"))?;
                self.kill(&framework_id, kill);
            }
            call::Type::Shutdown => {
                let shutdown = call.shutdown.ok_or_else(|| missing("shutdown"))?;
                if let Some(agent) = self.agent_index(&shutdown.agent_id.value) {
                    let key = exec_key(&framework_id, &shutdown.executor_id.value);
                    self.mark_executor_tasks_killed(agent, &key);
                    self.shutdown_executor(agent, &key, true);
                }
            }
            call::Type::Acknowledge => {
                let ack = call.acknowledge.ok_or_else(|| missing("acknowledge"))?;
                if ack.uuid.len() != 16 {
                    return Err(HttpError::bad_request("Invalid 'uuid': not 16 bytes"));
                }
                self.acknowledge(&framework_id, &ack);
            }
            call::Type::Reconcile => {
                let reconcile = call.reconcile.ok_or_else(|| missing("reconcile"))?;
                self.reconcile(&framework_id, &reconcile.tasks);
            }
            call::Type::Message => {
                let message = call.message.ok_or_else(|| missing("message"))?;
                if let Some(agent) = self.agent_index(&message.agent_id.value) {
                    let key = exec_key(&framework_id, &message.executor_id.value);
                    if let Some(exec) = self.agents[agent].executors.get(&key) {
                        exec.send(&executor::Event {
                            r#type: Some(executor::event::Type::Message as i32),
                            message: Some(executor::event::Message { data: message.data }),
                            ..Default::default()
                        });
                    }
                }
            }
            call::Type::ReconcileOperations => {
                let asked = call
                    .reconcile_operations
                    .map(|reconcile| reconcile.operations)
                    .unwrap_or_default();
                let response = mesos::v1::scheduler::Response {
                    r#type: Some(mesos::v1::scheduler::response::Type::ReconcileOperations as i32),
                    reconcile_operations: Some(
                        mesos::v1::scheduler::response::ReconcileOperations {
                            operation_statuses: self.reconcile_operations(&framework_id, &asked),
                        },
                    ),
                };
                return Ok(Reply::Ok(response.encode_to_vec().into()));
            }
            call::Type::AcceptInverseOffers => {
                let answer = call
                    .accept_inverse_offers
                    .ok_or_else(|| missing("accept_inverse_offers"))?;
                self.answer_inverse_offers(
                    &framework_id,
                    &answer.inverse_offer_ids,
                    answer.filters.as_ref(),
                    true,
                );
            }
            call::Type::DeclineInverseOffers => {
                let answer = call
                    .decline_inverse_offers
                    .ok_or_else(|| missing("decline_inverse_offers"))?;
                self.answer_inverse_offers(
                    &framework_id,
                    &answer.inverse_offer_ids,
                    answer.filters.as_ref(),
                    false,
                );
            }
            call::Type::AcknowledgeOperationStatus => {
                let ack = call
                    .acknowledge_operation_status
                    .ok_or_else(|| missing("acknowledge_operation_status"))?;
                if ack.uuid.len() != 16 {
                    return Err(HttpError::bad_request("Invalid 'uuid': not 16 bytes"));
                }
                if ack.agent_id.is_none() {
                    return Err(HttpError::bad_request("Expecting 'agent_id' to be present"));
                }
                self.acknowledge_operation(&framework_id, &ack);
            }
            call::Type::Request => {}
            call::Type::Subscribe | call::Type::Unknown => unreachable!("handled above"),
        }
        Ok(Reply::Accepted)
    }

    fn subscribe(&mut self, call: Call) -> Result<Reply, HttpError> {
        let subscribe = call.subscribe.ok_or_else(|| missing("subscribe"))?;
        let mut info = subscribe.framework_info;
        let call_id = call.framework_id.map(|id| id.value);
        let info_id = info.id.as_ref().map(|id| id.value.clone());
        if call_id != info_id {
            return Err(HttpError::bad_request(
                "'framework_id' differs from 'subscribe.framework_info.id'",
            ));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let stream_id = random_uuid();
        let framework_id = match info_id {
            Some(id) if self.removed_frameworks.contains(&id) => {
                // Mesos answers 200 with an ERROR event and closes the stream.
                let error = Event {
                    r#type: Some(event::Type::Error as i32),
                    error: Some(event::Error {
                        message: "Framework has been removed".into(),
                    }),
                    ..Default::default()
                };
                let _ = tx.send(mesos::recordio::encode_message(&error));
                drop(tx);
                return Ok(Reply::Stream {
                    events: rx,
                    owner: StreamOwner::Scheduler {
                        framework_id: id,
                        stream_id: stream_id.clone(),
                    },
                    stream_id: Some(stream_id),
                });
            }
            Some(id) => id,
            None => {
                let seq = self.next_seq();
                format!("{}-{seq:04}", self.master_id)
            }
        };
        info.id = Some(FrameworkId {
            value: framework_id.clone(),
        });
        let roles: Vec<String> = if info
            .capabilities
            .iter()
            .any(|c| c.r#type() == framework_info::capability::Type::MultiRole)
        {
            info.roles.clone()
        } else {
            vec![info.role.clone().unwrap_or_else(|| "*".into())]
        };
        let suppressed = !subscribe.suppressed_roles.is_empty()
            && roles
                .iter()
                .all(|role| subscribe.suppressed_roles.contains(role));
        let now = self.clock.now();
        let heartbeat = self.config.heartbeat_interval;
        match self.frameworks.get_mut(&framework_id) {
            Some(framework) => {
                info!(framework = %framework_id, "framework failed over / resubscribed");
                if let Some(old) = framework.stream.take() {
                    let error = Event {
                        r#type: Some(event::Type::Error as i32),
                        error: Some(event::Error {
                            message: "Framework failed over".into(),
                        }),
                        ..Default::default()
                    };
                    let _ = old.tx.send(mesos::recordio::encode_message(&error));
                }
                framework.info = info;
                framework.suppressed = suppressed;
                framework.disconnected_at = None;
                framework.stream = Some(SchedStream {
                    id: stream_id.clone(),
                    tx,
                });
                framework.next_heartbeat = now + heartbeat;
                self.remove_offers(&framework_id, false);
            }
            None => {
                info!(framework = %framework_id, name = %info.name, "framework subscribed");
                self.frameworks.insert(
                    framework_id.as_str().into(),
                    Framework {
                        id: framework_id.as_str().into(),
                        info,
                        stream: Some(SchedStream {
                            id: stream_id.clone(),
                            tx,
                        }),
                        disconnected_at: None,
                        suppressed,
                        filters: Vec::new(),
                        next_heartbeat: now + heartbeat,
                    },
                );
            }
        }
        let subscribed = Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId {
                    value: framework_id.clone(),
                },
                heartbeat_interval_seconds: Some(heartbeat.as_secs_f64()),
                master_info: Some(self.master_info()),
            }),
            ..Default::default()
        };
        self.send(&framework_id, &subscribed);
        self.resend_pending(&framework_id);
        self.allocate();
        Ok(Reply::Stream {
            events: rx,
            owner: StreamOwner::Scheduler {
                framework_id: framework_id.to_string(),
                stream_id: stream_id.clone(),
            },
            stream_id: Some(stream_id),
        })
    }

    /// Removes an outstanding offer of this framework: (agent, resources).
    fn take_offer(&mut self, framework_id: &str, offer_id: &str) -> Option<(usize, Bundle)> {
        match self.offers.get(offer_id) {
            Some(offer) if offer.framework_id == framework_id => {
                let offer = self.offers.remove(offer_id)?;
                Some((offer.agent, offer.res))
            }
            _ => None,
        }
    }

    fn add_filter(&mut self, framework_id: &str, agent: usize, res: Bundle, refuse: Duration) {
        if refuse.is_zero() || res.is_empty() {
            return;
        }
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.filters.push(Filter {
                agent,
                res,
                until: self.clock.now() + refuse,
            });
        }
    }

    /// Tells the scheduler a task was not launched (no uuid: not acknowledged).
    fn drop_task(
        &self,
        framework_id: &str,
        task: &TaskInfo,
        state: TaskState,
        reason: task_status::Reason,
        message: &str,
    ) {
        warn!(framework = %framework_id, task = %task.task_id.value, ?state, message, "task not launched");
        let mut status = make_status(
            &task.task_id.value,
            state,
            task_status::Source::Master,
            Some(reason),
            message,
        );
        status.agent_id = Some(task.agent_id.clone());
        status.executor_id = task.executor.as_ref().map(|exec| exec.executor_id.clone());
        self.send_update(framework_id, status);
    }

    fn accept(&mut self, framework_id: &str, accept: call::Accept) {
        let mut pool: Option<(usize, Bundle)> = None;
        let mut invalid = None;
        let mut seen_offers = HashSet::new();
        for offer_id in &accept.offer_ids {
            if !seen_offers.insert(offer_id.value.clone()) {
                invalid = Some(format!("Offer {} appears more than once", offer_id.value));
                continue;
            }
            match self.take_offer(framework_id, &offer_id.value) {
                Some((agent, res)) => match &mut pool {
                    None => pool = Some((agent, res)),
                    Some((pool_agent, pool_res)) if *pool_agent == agent => pool_res.add(&res),
                    Some(_) => {
                        invalid = Some("Aggregated offers must belong to one agent".into());
                        // Give the resources back.
                    }
                },
                None => {
                    invalid = Some(format!("Offer {} is no longer valid", offer_id.value));
                }
            }
        }
        let partition_aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(Framework::partition_aware);
        let launches: Vec<TaskInfo> = accept
            .operations
            .iter()
            .flat_map(|operation| match operation.r#type() {
                offer::operation::Type::Launch => operation
                    .launch
                    .as_ref()
                    .map(|launch| launch.task_infos.clone())
                    .unwrap_or_default(),
                offer::operation::Type::LaunchGroup => operation
                    .launch_group
                    .as_ref()
                    .map(|group| group.task_group.tasks.clone())
                    .unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect();
        let (Some((agent, mut pool)), None) = (pool, invalid.clone()) else {
            let message = invalid.unwrap_or_else(|| "No offers given".into());
            let state = if partition_aware {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            for task in &launches {
                self.drop_task(
                    framework_id,
                    task,
                    state,
                    task_status::Reason::InvalidOffers,
                    &message,
                );
            }
            let dropped = Err(format!(
                "Operation attempted with invalid offers: {message}"
            ));
            let resource_operations = accept.operations.iter().filter(|operation| {
                !matches!(
                    operation.r#type(),
                    offer::operation::Type::Launch | offer::operation::Type::LaunchGroup
                )
            });
            for operation in resource_operations {
                self.operation_feedback(framework_id, None, operation, &dropped);
            }
            self.allocation_needed = true;
            return;
        };

        let mut seen_tasks = HashSet::new();
        let mut new_executors: HashMap<String, ExecutorInfo> = HashMap::new();
        let mut valid = Vec::new();
        for operation in &accept.operations {
            match operation.r#type() {
                // Mesos gives no feedback on launches: an `id` makes their tasks invalid.
                offer::operation::Type::Launch if operation.id.is_some() => {
                    for task in operation
                        .launch
                        .iter()
                        .flat_map(|launch| launch.task_infos.iter())
                    {
                        self.drop_task(
                            framework_id,
                            task,
                            TaskState::TaskError,
                            task_status::Reason::TaskInvalid,
                            "The `id` field cannot be set on LAUNCH operations",
                        );
                    }
                    continue;
                }
                offer::operation::Type::Launch => {}
                offer::operation::Type::LaunchGroup => {
                    for task in operation
                        .launch_group
                        .iter()
                        .flat_map(|group| group.task_group.tasks.iter())
                    {
                        self.drop_task(
                            framework_id,
                            task,
                            TaskState::TaskError,
                            task_status::Reason::TaskGroupInvalid,
                            "LAUNCH_GROUP (the default executor) is not supported by devcluster",
                        );
                    }
                    continue;
                }
                offer::operation::Type::Reserve
                | offer::operation::Type::Unreserve
                | offer::operation::Type::Create
                | offer::operation::Type::Destroy => {
                    let applied = self.apply_operation(framework_id, agent, &mut pool, operation);
                    if let Err(message) = &applied {
                        // Mesos drops an invalid operation and goes on with the next.
                        warn!(framework = %framework_id, ?message, "offer operation dropped");
                    }
                    self.operation_feedback(framework_id, Some(agent), operation, &applied);
                    continue;
                }
                other => {
                    warn!(
                        ?other,
                        "ignoring an offer operation devcluster does not support"
                    );
                    continue;
                }
            }
            for task in operation
                .launch
                .iter()
                .flat_map(|launch| launch.task_infos.iter())
            {
                match self.validate_task(
                    framework_id,
                    agent,
                    task,
                    &mut seen_tasks,
                    &mut new_executors,
                    &mut pool,
                ) {
                    Ok(task) => valid.push(task),
                    Err(message) => self.drop_task(
                        framework_id,
                        task,
                        TaskState::TaskError,
                        task_status::Reason::TaskInvalid,
                        &message,
                    ),
                }
            }
        }
        let refuse = refuse_duration(accept.filters.as_ref());
        self.add_filter(framework_id, agent, pool, refuse);
        for task in valid {
            self.launch(framework_id, agent, task);
        }
        self.allocation_needed = true;
    }

    /// RESERVE / UNRESERVE / CREATE / DESTROY on the offered `pool`, and
    /// the same conversion on the agent's total (its checkpointed
    /// resources); CREATE makes the volume's directory, DESTROY deletes it.
    fn apply_operation(
        &mut self,
        framework_id: &str,
        agent: usize,
        pool: &mut Bundle,
        operation: &offer::Operation,
    ) -> Result<(), String> {
        use offer::operation::Type;
        let framework = self
            .frameworks
            .get(framework_id)
            .ok_or("the framework is gone")?;
        let roles = framework.roles();
        let principal = framework.info.principal.clone();
        let asker = Asker {
            roles: &roles,
            principal: principal.as_deref(),
        };
        let parse = |resources: Option<&Vec<mesos::v1::Resource>>| {
            Bundle::from_resources(resources.map_or(&[][..], Vec::as_slice))
        };
        let kind = operation.r#type();
        let mut total = self.agents[agent].total.clone();
        let mut trial = pool.clone();
        let (created, destroyed) = match kind {
            Type::Reserve => {
                let wanted = parse(operation.reserve.as_ref().map(|op| &op.resources))?;
                resources::reserve(&mut trial, &wanted, asker)?;
                resources::reserve(&mut total, &wanted, asker)?;
                (Bundle::default(), Bundle::default())
            }
            Type::Unreserve => {
                let wanted = parse(operation.unreserve.as_ref().map(|op| &op.resources))?;
                resources::unreserve(&mut trial, &wanted, asker)?;
                resources::unreserve(&mut total, &wanted, asker)?;
                (Bundle::default(), Bundle::default())
            }
            Type::Create => {
                let volumes = parse(operation.create.as_ref().map(|op| &op.volumes))?;
                let existing = self.agents[agent].total.clone();
                resources::create(&mut trial, &volumes, &existing, asker)?;
                resources::create(&mut total, &volumes, &existing, asker)?;
                (volumes, Bundle::default())
            }
            Type::Destroy => {
                let volumes = parse(operation.destroy.as_ref().map(|op| &op.volumes))?;
                resources::destroy(&mut trial, &volumes, asker)?;
                resources::destroy(&mut total, &volumes, asker)?;
                (Bundle::default(), volumes)
            }
            _ => return Err(format!("{kind:?} is not a resource operation")),
        };
        for (role, volume) in created.volumes() {
            let dir = self.volume_dir(agent, role, &volume.id);
            self.effect(Effect::CreateDir(dir.clone()));
            info!(framework = %framework_id, id = %volume.id, %role, dir = %dir.display(), "persistent volume created");
        }
        for (role, volume) in destroyed.volumes() {
            self.effect(Effect::RemoveDir(self.volume_dir(agent, role, &volume.id)));
            info!(framework = %framework_id, id = %volume.id, %role, "persistent volume destroyed");
        }
        info!(framework = %framework_id, agent = %self.agents[agent].id, ?kind, "offer operation applied");
        *pool = trial;
        self.agents[agent].total = total;
        Ok(())
    }

    fn validate_task(
        &self,
        framework_id: &str,
        agent: usize,
        task: &TaskInfo,
        seen_tasks: &mut HashSet<String>,
        new_executors: &mut HashMap<String, ExecutorInfo>,
        pool: &mut Bundle,
    ) -> Result<ValidTask, String> {
        let task_id = &task.task_id.value;
        if task_id.is_empty() {
            return Err("Task ID must not be empty".into());
        }
        if !seen_tasks.insert(task_id.clone())
            || self.tasks.contains_key(&task_key(framework_id, task_id))
        {
            return Err(format!("Task has duplicate ID: {task_id}"));
        }
        let agent_rec = &self.agents[agent];
        if task.agent_id.value != agent_rec.id {
            return Err(format!(
                "Task uses agent {} but the offer is for agent {}",
                task.agent_id.value, agent_rec.id
            ));
        }
        let docker_enabled = self.config.docker.is_some();
        let is_docker = |container: Option<&mesos::v1::ContainerInfo>| {
            container.is_some_and(|container| {
                container.r#type() == mesos::v1::container_info::Type::Docker
            })
        };
        let mut executor = match (&task.executor, &task.command) {
            (Some(_), Some(_)) => {
                return Err(
                    "Task should have at most one of CommandInfo or ExecutorInfo present".into(),
                )
            }
            (None, Some(_)) => {
                // Mesos' agent synthesizes the executor of a command task.
                crate::command_executor::executor_info(framework_id, task)
            }
            (None, None) => return Err("Task has neither CommandInfo nor ExecutorInfo".into()),
            (Some(executor), None) => executor.clone(),
        };
        if let Some(id) = &executor.framework_id {
            if id.value != framework_id {
                return Err("ExecutorInfo has an invalid FrameworkID".into());
            }
        }
        executor.framework_id = Some(FrameworkId {
            value: framework_id.to_owned(),
        });
        let executor_id = executor.executor_id.value.clone();
        if executor_id.is_empty() {
            return Err("ExecutorID must not be empty".into());
        }
        if executor.r#type() == mesos::v1::executor_info::Type::Default {
            return Err("the DEFAULT executor is not supported by devcluster".into());
        }
        let docker = is_docker(executor.container.as_ref());
        if docker && !docker_enabled {
            return Err("the Docker containerizer is not enabled on this agent \
                        (devcluster --containerizers docker,mesos)"
                .into());
        }
        // A Docker container may run its image's own entrypoint.
        let command_ok = task
            .command
            .as_ref()
            .or(executor.command.as_ref())
            .is_some_and(|command| {
                command
                    .value
                    .as_ref()
                    .is_some_and(|value| !value.is_empty())
                    || (docker && !command.shell.unwrap_or(true))
            });
        if !command_ok {
            return Err(if task.command.is_some() {
                "The task's CommandInfo has no value to run".into()
            } else {
                "ExecutorInfo needs a CommandInfo with a value".into()
            });
        }
        let key: ExecKey = exec_key(framework_id, &executor_id);
        let existing = agent_rec
            .executors
            .get(&key)
            .filter(|exec| exec.shutdown.is_none())
            .map(|exec| &exec.info)
            .or_else(|| new_executors.get(&executor_id));
        let mut need = Bundle::from_resources(&task.resources)?;
        match existing {
            Some(info) => {
                if *info != executor {
                    return Err(format!(
                        "ExecutorInfo for executor {executor_id} is not compatible with the \
                         running one"
                    ));
                }
            }
            // A command executor's allowance is not accounted for (Mesos
            // overcommits it).
            None if task.command.is_some() => {}
            None => {
                need.add(&Bundle::from_resources(&executor.resources)?);
            }
        }
        if agent_rec
            .executors
            .get(&key)
            .is_some_and(|exec| exec.shutdown.is_some())
        {
            return Err(format!("Executor {executor_id} is terminating"));
        }
        if need.is_empty() {
            return Err("Task and its executor use no resources".into());
        }
        let mut combined = Bundle::from_resources(&task.resources)?;
        match agent_rec.executors.get(&key) {
            Some(exec) => combined.add(&exec.res),
            None => combined.add(&Bundle::from_resources(&executor.resources)?),
        }
        if let Some(error) = combined.revocable_mix() {
            return Err(error);
        }
        if !pool.contains(&need) {
            return Err("Task uses more resources than available in the offer".into());
        }
        pool.subtract(&need);
        let is_new = existing.is_none();
        if is_new {
            new_executors.insert(executor_id, executor.clone());
        }
        let res = Bundle::from_resources(&task.resources)?;
        Ok(ValidTask {
            task: task.clone(),
            res,
            executor,
        })
    }

    fn launch(&mut self, framework_id: &str, agent: usize, valid: ValidTask) {
        let ValidTask {
            task,
            res,
            executor,
        } = valid;
        let key: TaskKey = task_key(framework_id, &task.task_id.value);
        let executor_id = executor.executor_id.value.clone();
        let mut latest = make_status(
            &task.task_id.value,
            TaskState::TaskStaging,
            task_status::Source::Master,
            None,
            "",
        );
        latest.message = None;
        latest.agent_id = Some(task.agent_id.clone());
        latest.executor_id = Some(executor.executor_id.clone());
        info!(framework = %framework_id, task = %key.1, executor = %executor_id, "launching task");
        self.tasks.insert(
            key.clone(),
            TaskRec {
                agent,
                executor_id: executor_id.as_str().into(),
                res,
                state: TaskState::TaskStaging,
                latest,
                kill_policy: task.kill_policy,
                kill_deadline: None,
                kill_requested: false,
                updates: Default::default(),
                acked: Default::default(),
                next_retry: self.clock.now(),
                backoff: self.config.status_update_retry,
            },
        );
        self.deliver_task(agent, framework_id, executor, task);
    }

    fn kill(&mut self, framework_id: &str, kill: call::Kill) {
        let key: TaskKey = task_key(framework_id, &kill.task_id.value);
        let Some(task) = self.tasks.get(&key) else {
            // Mesos answers a KILL of an unknown task with reconciliation.
            self.reconcile(
                framework_id,
                &[call::reconcile::Task {
                    task_id: kill.task_id,
                    agent_id: kill.agent_id,
                }],
            );
            return;
        };
        if task.state.is_terminal() {
            return;
        }
        let agent = task.agent;
        if self.agents[agent].partitioned {
            // The kill cannot reach the agent; the framework asks again when it hears of the task.
            info!(task = %key.1, "kill of a task behind a partition: not delivered");
            return;
        }
        let exec_key: ExecKey = exec_key(framework_id, &task.executor_id);
        let task_policy = task.kill_policy;
        let default_grace = self.config.kill_grace;
        let Some(exec) = self.agents[agent].executors.get_mut(&exec_key) else {
            return;
        };
        if let Some(position) = exec
            .pending_launch
            .iter()
            .position(|pending| key.1 == pending.task_id.value)
        {
            exec.pending_launch.remove(position);
            let no_tasks_left = exec.pending_launch.is_empty() && !exec.subscribed_once;
            let status = make_status(
                &key.1,
                TaskState::TaskKilled,
                task_status::Source::Agent,
                Some(task_status::Reason::TaskKilledDuringLaunch),
                "Killed before delivery to the executor",
            );
            self.enqueue_update(&key, status, false);
            if no_tasks_left {
                self.shutdown_executor(agent, &exec_key, false);
            }
            return;
        }
        if exec.command_task.as_deref() == Some(key.1.as_str()) {
            let grace = crate::command_executor::kill_grace(
                kill.kill_policy.as_ref(),
                task_policy.as_ref(),
                default_grace,
            );
            if let Some(task) = self.tasks.get_mut(&key) {
                task.kill_requested = true;
                task.kill_deadline = Some(self.clock.now() + grace + Duration::from_secs(1));
            }
            self.kill_command_task(agent, &exec_key, &key.1, grace);
            return;
        }
        let policy = kill.kill_policy.or(task_policy);
        let grace = policy
            .as_ref()
            .and_then(|policy| policy.grace_period.as_ref())
            .map_or(default_grace, |grace| {
                Duration::from_nanos(grace.nanoseconds.max(0) as u64)
            });
        let delivered = exec.send(&executor::Event {
            r#type: Some(executor::event::Type::Kill as i32),
            kill: Some(executor::event::Kill {
                task_id: kill.task_id.clone(),
                kill_policy: policy,
            }),
            ..Default::default()
        });
        if let Some(task) = self.tasks.get_mut(&key) {
            task.kill_requested = true;
            let slack = Duration::from_secs(1);
            task.kill_deadline = Some(if delivered {
                self.clock.now() + grace + slack
            } else {
                self.clock.now()
            });
        }
    }

    /// Tasks of an executor the framework shuts down end as TASK_KILLED.
    fn mark_executor_tasks_killed(&mut self, agent: usize, key: &ExecKey) {
        for ((framework_id, _), task) in self.tasks.iter_mut() {
            if *framework_id == key.0 && task.agent == agent && task.executor_id == key.1 {
                task.kill_requested = true;
            }
        }
    }

    fn acknowledge(&mut self, framework_id: &str, ack: &call::Acknowledge) {
        let key: TaskKey = task_key(framework_id, &ack.task_id.value);
        let Some(task) = self.tasks.get_mut(&key) else {
            return;
        };
        if self.agents[task.agent].id != ack.agent_id.value {
            return;
        }
        let matches = task
            .updates
            .front()
            .is_some_and(|head| head.status.uuid.as_ref() == Some(&ack.uuid));
        if !matches {
            warn!(task = %key.1, "acknowledgement for an update that is not pending");
            return;
        }
        let acked = task.updates.pop_front().expect("checked above");
        if task.acked.len() >= 8 {
            task.acked.pop_front();
        }
        task.acked.push_back(ack.uuid.clone());
        let next = task.updates.front().map(|head| head.status.clone());
        let agent = task.agent;
        let executor_id = task.executor_id.clone();
        if next.is_some() {
            task.backoff = self.config.status_update_retry;
            task.next_retry = self.clock.now() + task.backoff;
        } else if task.state.is_terminal() {
            self.tasks.remove(&key);
        }
        if acked.from_executor {
            if let Some(exec) = self.agents[agent]
                .executors
                .get(&exec_key(framework_id, &executor_id))
            {
                exec.send(&executor::Event {
                    r#type: Some(executor::event::Type::Acknowledged as i32),
                    acknowledged: Some(executor::event::Acknowledged {
                        task_id: ack.task_id.clone(),
                        uuid: ack.uuid.clone(),
                    }),
                    ..Default::default()
                });
            }
        }
        if let Some(next) = next {
            self.send_update(framework_id, next);
        }
    }

    pub fn reconcile(&mut self, framework_id: &str, tasks: &[call::reconcile::Task]) {
        let partition_aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(Framework::partition_aware);
        let answer = |task: &TaskRec| {
            let mut status: TaskStatus = task.latest.clone();
            status.uuid = None;
            status.source = Some(task_status::Source::Master as i32);
            status.reason = Some(task_status::Reason::Reconciliation as i32);
            status.message = Some("Reconciliation: Latest task state".into());
            status.timestamp = Some(crate::state::now_secs());
            status
        };
        let statuses: Vec<TaskStatus> = if tasks.is_empty() {
            self.tasks
                .iter()
                .filter(|((fw, _), _)| fw == framework_id)
                .map(|(_, task)| answer(task))
                .collect()
        } else {
            tasks
                .iter()
                .map(|wanted| {
                    match self
                        .tasks
                        .get(&task_key(framework_id, &wanted.task_id.value))
                    {
                        Some(task) => answer(task),
                        None => {
                            let state = if partition_aware {
                                TaskState::TaskUnknown
                            } else {
                                TaskState::TaskLost
                            };
                            let mut status = make_status(
                                &wanted.task_id.value,
                                state,
                                task_status::Source::Master,
                                Some(task_status::Reason::Reconciliation),
                                "Reconciliation: Task is unknown",
                            );
                            status.agent_id = wanted.agent_id.clone();
                            status
                        }
                    }
                })
                .collect()
        };
        for status in statuses {
            self.send_update(framework_id, status);
        }
    }
}

#[cfg(test)]
#[path = "master_tests.rs"]
mod tests;
