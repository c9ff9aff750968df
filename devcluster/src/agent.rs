//! The agents: each serves the executor API (`POST /api/v1/executor`) on its
//! own port and runs CUSTOM executors in per-executor sandboxes (Mesos'
//! layout under the work dir), with the environment Mesos gives them: as OS
//! processes, or in Docker containers (see [`crate::docker`]); command tasks
//! run with the agent as their executor (see [`crate::command_executor`]).
//! Starting one is decided here and queued as an [`Effect::Launch`], which
//! [`crate::launcher`] carries out outside the lock; it reports back with
//! [`State::executor_spawned`], [`State::executor_launch_failed`] and
//! [`State::executor_exited`]. Agents themselves have no task or thread.

use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;

use mesos::v1::executor::{call, event, Call, Event};
use mesos::v1::{
    container_info, environment, scheduler, task_status, ContainerId, ExecutorInfo, FrameworkInfo,
    TaskInfo, TaskState,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::docker;
use crate::effect::{Effect, Launch, Program, SecretFile};
use crate::reply::{HttpError, Reply, StreamOwner};
use crate::resources::Bundle;
use crate::state::{
    exec_key, make_status, random_uuid, task_key, ExecKey, ExecRec, State, TaskKey,
};
use mesos::duration::format_duration;

impl State {
    fn sandbox_dir(&self, agent: usize, key: &ExecKey, container_id: &str) -> PathBuf {
        self.config
            .work_dir
            .join("slaves")
            .join(&self.agents[agent].id)
            .join("frameworks")
            .join(key.0.as_str())
            .join("executors")
            .join(key.1.as_str())
            .join("runs")
            .join(container_id)
    }

    /// Where a persistent volume of `role` lives on an agent: outside every
    /// sandbox, so it outlives tasks and executors (Mesos:
    /// `<work_dir>/volumes/roles/<role>/<id>`).
    pub(crate) fn volume_dir(&self, agent: usize, role: &str, id: &str) -> PathBuf {
        self.volume_root(agent).join("roles").join(role).join(id)
    }

    /// Where an agent's persistent volumes live.
    pub(crate) fn volume_root(&self, agent: usize) -> PathBuf {
        self.config
            .work_dir
            .join("volumes")
            .join(&self.agents[agent].id)
    }

    /// The persistent volumes among `resources`, where they live on this agent.
    fn mounts(&self, agent: usize, resources: &[mesos::v1::Resource]) -> Vec<docker::Mount> {
        let Ok(bundle) = Bundle::from_resources(resources) else {
            return Vec::new();
        };
        bundle
            .volumes()
            .map(|(role, volume)| docker::Mount {
                host: self.volume_dir(agent, role, &volume.id),
                container_path: volume.container_path.clone(),
                read_only: volume.read_only,
            })
            .collect()
    }

    /// Hands a validated task to its executor, starting the executor first
    /// if it is not running on the agent.
    pub fn deliver_task(
        &mut self,
        agent: usize,
        framework_id: &str,
        executor: ExecutorInfo,
        mut task: TaskInfo,
    ) {
        // The executor gets the task without secret values (it gets them,
        // resolved, in its environment and secret files).
        crate::secrets::redact_task(&mut task);
        let key: ExecKey = exec_key(framework_id, &executor.executor_id.value);
        if let Some(exec) = self.agents[agent].executors.get(&key) {
            if exec.docker.is_none() {
                let mounts = self.mounts(agent, &task.resources);
                let sandbox = exec.sandbox.clone();
                self.effect(Effect::LinkVolumes { sandbox, mounts });
            }
        }
        if let Some(exec) = self.agents[agent].executors.get_mut(&key) {
            let launch = Event {
                r#type: Some(event::Type::Launch as i32),
                launch: Some(event::Launch { task: task.clone() }),
                ..Default::default()
            };
            if !(exec.subscribed_once && exec.send(&launch)) {
                exec.pending_launch.push(task);
            }
            return;
        }
        if let Err(message) = self.start_executor(agent, &key, executor, task.clone()) {
            warn!(executor = %key.1, %message, "cannot start the executor");
            let status = make_status(
                &task.task_id.value,
                TaskState::TaskFailed,
                task_status::Source::Agent,
                Some(task_status::Reason::ContainerLaunchFailed),
                &message,
            );
            self.enqueue_update(&task_key(framework_id, &task.task_id.value), status, false);
        }
    }

    fn start_executor(
        &mut self,
        agent: usize,
        key: &ExecKey,
        info: ExecutorInfo,
        task: TaskInfo,
    ) -> Result<(), String> {
        let container_id = random_uuid();
        let sandbox = self.sandbox_dir(agent, key, &container_id);
        // A command task's executor runs the task's command (see
        // `command_executor`); any other executor its own.
        let command = match &task.command {
            Some(command) => command.clone(),
            None => info.command.clone().unwrap_or_default(),
        };
        let fetch = command.uris.clone();
        for uri in &fetch {
            crate::effect::local_source(uri)?;
        }
        let mut mounts = self.mounts(agent, &info.resources);
        mounts.extend(self.mounts(agent, &task.resources));
        let docker_container = info
            .container
            .as_ref()
            .filter(|container| container.r#type() == container_info::Type::Docker);
        let command_task = task.command.is_some().then(|| task.task_id.value.clone());
        let sandbox_text = match docker_container {
            Some(_) => docker::SANDBOX_MOUNT.to_owned(),
            None => sandbox.to_string_lossy().into_owned(),
        };
        let mut env = Vec::new();
        for variable in command
            .environment
            .iter()
            .flat_map(|environment| environment.variables.iter())
        {
            let value = match variable.r#type() {
                environment::variable::Type::Secret => {
                    let secret = variable.secret.as_ref().ok_or_else(|| {
                        format!("variable {} is a SECRET without a secret", variable.name)
                    })?;
                    let bytes = self.secrets.resolve(secret).map_err(|error| {
                        format!("cannot resolve the secret of {}: {error}", variable.name)
                    })?;
                    Some(String::from_utf8_lossy(&bytes).into_owned())
                }
                _ => variable.value.clone(),
            };
            if let Some(value) = value {
                env.push((variable.name.clone(), value));
            }
        }
        // File-based secrets: resolved into files outside the sandbox, seen
        // at their container_path like volumes.
        let secret_volumes = info
            .container
            .iter()
            .flat_map(|container| container.volumes.iter())
            .filter_map(|volume| {
                let source = volume.source.as_ref()?;
                (source.r#type() == mesos::v1::volume::source::Type::Secret)
                    .then_some((volume, source.secret.as_ref()))
            });
        let secrets_dir = crate::secrets::secrets_dir(&self.config.work_dir, &container_id);
        let mut secret_files = Vec::new();
        for (index, (volume, secret)) in secret_volumes.enumerate() {
            let secret = secret.ok_or("a SECRET volume without a secret")?;
            let bytes = self.secrets.resolve(secret).map_err(|error| {
                format!(
                    "cannot resolve the secret volume at {}: {error}",
                    volume.container_path
                )
            })?;
            secret_files.push(SecretFile {
                dir: secrets_dir.clone(),
                index,
                value: bytes.to_vec(),
                world_readable: docker_container.is_some(),
            });
            mounts.push(docker::Mount {
                host: crate::secrets::secret_file(&secrets_dir, index),
                container_path: volume.container_path.clone(),
                read_only: true,
            });
        }
        let checkpoint = self
            .frameworks
            .get(&key.0)
            .and_then(|framework| framework.info.checkpoint)
            .unwrap_or(false);
        let grace = info
            .shutdown_grace_period
            .as_ref()
            .map_or(self.config.executor_shutdown_grace, |grace| {
                std::time::Duration::from_nanos(grace.nanoseconds.max(0) as u64)
            });
        let agent_rec = &self.agents[agent];
        for (name, value) in [
            ("MESOS_FRAMEWORK_ID", key.0.to_string()),
            ("MESOS_EXECUTOR_ID", key.1.to_string()),
            ("MESOS_AGENT_ENDPOINT", agent_rec.addr.to_string()),
            ("MESOS_SLAVE_ID", agent_rec.id.clone()),
            ("MESOS_DIRECTORY", sandbox_text.clone()),
            ("MESOS_SANDBOX", sandbox_text),
            (
                "MESOS_CHECKPOINT",
                if checkpoint { "1" } else { "0" }.into(),
            ),
            (
                "MESOS_RECOVERY_TIMEOUT",
                format_duration(self.config.recovery_timeout),
            ),
            (
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                format_duration(self.config.subscription_backoff_max),
            ),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                format_duration(grace),
            ),
        ] {
            env.push((name.to_owned(), value));
        }
        let (program, label) = match docker_container {
            Some(_) if self.config.agent_hosts.get(agent).is_some() => {
                return Err(
                    "an agent on a host of its own (a network namespace) runs process \
                     executors only"
                        .into(),
                );
            }
            Some(container) => {
                let cli = self
                    .config
                    .docker
                    .clone()
                    .ok_or("the Docker containerizer is not enabled")?;
                let mut limits = Bundle::from_resources(&info.resources)
                    .unwrap_or_default()
                    .total();
                limits.add(
                    &Bundle::from_resources(&task.resources)
                        .unwrap_or_default()
                        .total(),
                );
                let labels = docker::labels(
                    &agent_rec.id,
                    &key.0,
                    &key.1,
                    &task.task_id.value,
                    task.labels
                        .as_ref()
                        .map_or(&[][..], |labels| labels.labels.as_slice()),
                );
                let spec = docker::run_spec(
                    container,
                    &command,
                    &container_id,
                    &sandbox,
                    &limits,
                    &mounts,
                    env,
                    &labels,
                )?;
                let label = format!("{} {}", cli.display(), spec.args.join(" "));
                let program = Program::Docker {
                    cli,
                    args: spec.args,
                    env: spec.env,
                    name: spec.name,
                    command_task: command_task.is_some(),
                };
                (program, label)
            }
            None => {
                let argv = crate::command_executor::argv(&command)?;
                let label = format!("{:?}", command.value.clone().unwrap_or_default());
                let netns = self
                    .config
                    .agent_hosts
                    .get(agent)
                    .map(|host| host.netns.clone());
                (Program::Process { argv, env, netns }, label)
            }
        };
        let docker_name = match &program {
            Program::Docker { name, .. } => Some(name.clone()),
            Program::Process { .. } => None,
        };
        let (signals, signal_rx) = mpsc::unbounded_channel();
        self.effect(Effect::Launch(Box::new(Launch {
            agent,
            key: key.clone(),
            container_id: container_id.clone(),
            sandbox: sandbox.clone(),
            fetch,
            secret_files,
            mounts,
            program,
            label,
            signals: signal_rx,
        })));
        // A command executor's allowance is not accounted for (as in Mesos).
        let res = match command_task {
            Some(_) => Bundle::default(),
            None => Bundle::from_resources(&info.resources).unwrap_or_default(),
        };
        let pending_launch = if command_task.is_some() {
            Vec::new()
        } else {
            vec![task]
        };
        self.agents[agent].executors.insert(
            key.clone(),
            ExecRec {
                framework_id: key.0.clone(),
                executor_id: key.1.clone(),
                info,
                container_id,
                sandbox,
                pid: None,
                signals,
                stream: None,
                stream_seq: 0,
                next_heartbeat: self.clock.now(),
                pending_launch,
                started_at: self.clock.now(),
                // A command task's executor is the agent itself.
                subscribed_once: command_task.is_some(),
                shutdown: None,
                termination_reason: None,
                res,
                reregister_by: None,
                docker: docker_name,
                command_task,
            },
        );
        Ok(())
    }

    /// The executor `key` on `agent` if it is still the run `container_id` (a
    /// report about an earlier run, or one already forgotten, finds nothing).
    fn run_of(&mut self, agent: usize, key: &ExecKey, container_id: &str) -> Option<&mut ExecRec> {
        self.agents[agent]
            .executors
            .get_mut(key)
            .filter(|exec| exec.container_id == container_id)
    }

    /// Removes an executor that ended (or never started), and its secret
    /// files.
    fn forget_executor(
        &mut self,
        agent: usize,
        key: &ExecKey,
        container_id: &str,
    ) -> Option<ExecRec> {
        let removed = self.agents[agent].executors.remove(key);
        self.effect(Effect::RemoveDir(crate::secrets::secrets_dir(
            &self.config.work_dir,
            container_id,
        )));
        removed
    }

    /// The tasks of an executor that are not terminal, and whether a kill
    /// was asked for each.
    fn live_tasks_of(&self, agent: usize, key: &ExecKey) -> Vec<(TaskKey, bool)> {
        self.tasks
            .iter()
            .filter(|((framework_id, _), task)| {
                *framework_id == key.0
                    && task.agent == agent
                    && task.executor_id == key.1
                    && !task.state.is_terminal()
            })
            .map(|(task_key, task)| (task_key.clone(), task.kill_requested))
            .collect()
    }

    /// The runtime started an executor (`pid`: its process, or `docker
    /// run`'s): a command task is starting, and one the agent forked itself
    /// runs.
    pub fn executor_spawned(
        &mut self,
        agent: usize,
        key: &ExecKey,
        container_id: &str,
        pid: Option<u32>,
    ) {
        let Some(exec) = self.run_of(agent, key, container_id) else {
            return;
        };
        exec.pid = pid;
        let Some(task_id) = exec.command_task.clone() else {
            return;
        };
        let in_docker = exec.docker.is_some();
        let mut status = make_status(
            &task_id,
            TaskState::TaskStarting,
            task_status::Source::Executor,
            None,
            "Container is starting",
        );
        if !in_docker {
            status.message = None;
        }
        self.enqueue_update(&task_key(&key.0, &task_id), status, false);
        if !in_docker {
            // The command executor forked the command: it runs.
            self.command_started(key, &task_id);
        }
    }

    /// The runtime could not start an executor: it is forgotten, and its
    /// tasks fail (`REASON_CONTAINER_LAUNCH_FAILED`, as Mesos reports it).
    pub fn executor_launch_failed(
        &mut self,
        agent: usize,
        key: &ExecKey,
        container_id: &str,
        message: &str,
    ) {
        if self.run_of(agent, key, container_id).is_none() {
            return;
        }
        self.forget_executor(agent, key, container_id);
        self.allocation_needed = true;
        for (task_key, _) in self.live_tasks_of(agent, key) {
            let status = make_status(
                &task_key.1,
                TaskState::TaskFailed,
                task_status::Source::Agent,
                Some(task_status::Reason::ContainerLaunchFailed),
                message,
            );
            self.enqueue_update(&task_key, status, false);
        }
    }

    /// A command task's container runs: TASK_RUNNING, as Mesos' docker
    /// executor reports it.
    pub(crate) fn command_task_running(
        &mut self,
        agent: usize,
        key: &ExecKey,
        container_id: &str,
        pid: u32,
    ) {
        let Some(exec) = self.run_of(agent, key, container_id) else {
            return;
        };
        let Some(task_id) = exec.command_task.clone() else {
            return;
        };
        let mut status = make_status(
            &task_id,
            TaskState::TaskRunning,
            task_status::Source::Executor,
            None,
            "Container is running",
        );
        status.container_status = Some(mesos::v1::ContainerStatus {
            container_id: Some(ContainerId {
                value: container_id.to_owned(),
                parent: None,
            }),
            network_infos: Vec::new(),
            executor_pid: Some(pid),
        });
        self.enqueue_update(&task_key(&key.0, &task_id), status, false);
    }

    /// An executor process ended: its unfinished tasks fail (or are killed,
    /// if a kill was asked for) and the scheduler hears FAILURE.
    pub fn executor_exited(&mut self, agent: usize, key: &ExecKey, container_id: &str, raw: i32) {
        if self.run_of(agent, key, container_id).is_none() {
            return;
        }
        let removed = self.forget_executor(agent, key, container_id);
        let command_task = removed.as_ref().and_then(|exec| exec.command_task.clone());
        let in_docker = removed.as_ref().is_some_and(|exec| exec.docker.is_some());
        let reason = removed
            .and_then(|exec| exec.termination_reason)
            .unwrap_or(task_status::Reason::ExecutorTerminated);
        self.allocation_needed = true;
        if !self.agents[agent].alive {
            return;
        }
        let unfinished = self.live_tasks_of(agent, key);
        let code = std::process::ExitStatus::from_raw(raw).code();
        let preempted = reason == crate::oversubscription::PREEMPTED;
        let partition_aware = self
            .frameworks
            .get(&key.0)
            .is_some_and(|framework| framework.partition_aware());
        for (task_key, killed) in unfinished {
            if preempted {
                // The QoS controller's kill: as Mesos' agent reports it.
                let status = make_status(
                    &task_key.1,
                    crate::oversubscription::preempted_state(partition_aware),
                    task_status::Source::Agent,
                    Some(reason),
                    "Executor preempted by the QoS controller (revocable resources)",
                );
                self.enqueue_update(&task_key, status, false);
                continue;
            }
            let state = if killed {
                TaskState::TaskKilled
            } else if command_task.is_some() && code == Some(0) {
                TaskState::TaskFinished
            } else {
                TaskState::TaskFailed
            };
            let status = match &command_task {
                // Mesos' command executor reports its command's exit.
                Some(_) if !in_docker => {
                    let (state, message) = crate::command_executor::terminal(raw, killed);
                    make_status(
                        &task_key.1,
                        state,
                        task_status::Source::Executor,
                        None,
                        &message,
                    )
                }
                // Mesos' docker executor reports its container's exit.
                Some(_) => make_status(
                    &task_key.1,
                    state,
                    task_status::Source::Executor,
                    None,
                    &match code {
                        Some(code) => format!("Container exited with status {code}"),
                        None => "Container was killed".to_owned(),
                    },
                ),
                None => make_status(
                    &task_key.1,
                    state,
                    task_status::Source::Agent,
                    Some(reason),
                    "Executor terminated",
                ),
            };
            self.enqueue_update(&task_key, status, false);
        }
        let failure = scheduler::Event {
            r#type: Some(scheduler::event::Type::Failure as i32),
            failure: Some(scheduler::event::Failure {
                agent_id: Some(mesos::v1::AgentId {
                    value: self.agents[agent].id.clone(),
                }),
                executor_id: Some(key.1.to_proto()),
                status: Some(raw),
            }),
            ..Default::default()
        };
        self.send(&key.0, &failure);
    }

    pub fn executor_call(&mut self, agent: usize, call: Call) -> Result<Reply, HttpError> {
        if !self.agents[agent].alive {
            return Err(HttpError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "Agent has been removed",
            ));
        }
        if !self.agents[agent].serving(self.clock.now()) {
            return Err(HttpError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "Agent is restarting",
            ));
        }
        let framework_id = call.framework_id.value.clone();
        let executor_id = call.executor_id.value.clone();
        if framework_id.is_empty() || executor_id.is_empty() {
            return Err(HttpError::bad_request(
                "Expecting 'framework_id' and 'executor_id' to be present",
            ));
        }
        let key: ExecKey = exec_key(&framework_id, &executor_id);
        if !self.agents[agent].executors.contains_key(&key) {
            return Err(HttpError::bad_request(format!(
                "Executor {executor_id} of framework {framework_id} cannot be found"
            )));
        }
        match call.r#type() {
            call::Type::Subscribe => {
                let subscribe = call.subscribe.unwrap_or_default();
                Ok(self.executor_subscribe(agent, &key, subscribe))
            }
            call::Type::Update => {
                let update = call
                    .update
                    .ok_or_else(|| HttpError::bad_request("Expecting 'update' to be present"))?;
                self.executor_update(agent, &key, update.status)?;
                Ok(Reply::Accepted)
            }
            call::Type::Message => {
                let message = call
                    .message
                    .ok_or_else(|| HttpError::bad_request("Expecting 'message' to be present"))?;
                let event = scheduler::Event {
                    r#type: Some(scheduler::event::Type::Message as i32),
                    message: Some(scheduler::event::Message {
                        agent_id: mesos::v1::AgentId {
                            value: self.agents[agent].id.clone(),
                        },
                        executor_id: mesos::v1::ExecutorId { value: executor_id },
                        data: message.data,
                    }),
                    ..Default::default()
                };
                self.send(&framework_id, &event);
                Ok(Reply::Accepted)
            }
            call::Type::Heartbeat => Ok(Reply::Accepted),
            call::Type::Unknown => Err(HttpError::bad_request("Expecting 'type' to be present")),
        }
    }

    fn executor_subscribe(
        &mut self,
        agent: usize,
        key: &ExecKey,
        subscribe: call::Subscribe,
    ) -> Reply {
        self.stream_seq += 1;
        let stream_seq = self.stream_seq;
        let framework_info = self
            .frameworks
            .get(&key.0)
            .map(|framework| framework.info.clone())
            .unwrap_or_else(|| FrameworkInfo {
                id: Some(key.0.to_proto()),
                ..Default::default()
            });
        let agent_info = self.agents[agent].info();
        let (tx, rx) = mpsc::unbounded_channel();
        let exec = self.agents[agent]
            .executors
            .get_mut(key)
            .expect("checked by the caller");
        exec.stream = Some(tx);
        exec.stream_seq = stream_seq;
        exec.subscribed_once = true;
        exec.reregister_by = None;
        exec.next_heartbeat = self.clock.now() + self.config.executor_heartbeat_interval;
        info!(executor = %key.1, "executor subscribed");
        exec.send(&Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                executor_info: exec.info.clone(),
                framework_info,
                agent_info,
                container_id: Some(ContainerId {
                    value: exec.container_id.clone(),
                    parent: None,
                }),
            }),
            ..Default::default()
        });
        for task in std::mem::take(&mut exec.pending_launch) {
            exec.send(&Event {
                r#type: Some(event::Type::Launch as i32),
                launch: Some(event::Launch { task }),
                ..Default::default()
            });
        }
        if exec.shutdown.is_some() {
            exec.send(&Event {
                r#type: Some(event::Type::Shutdown as i32),
                ..Default::default()
            });
        }
        // Updates the executor still holds but we never received.
        for update in subscribe.unacknowledged_updates {
            let _ = self.executor_update(agent, key, update.status);
        }
        Reply::Stream {
            events: rx,
            owner: StreamOwner::Executor {
                agent,
                framework_id: key.0.clone(),
                executor_id: key.1.clone(),
                stream_seq,
            },
            stream_id: None,
        }
    }

    fn executor_update(
        &mut self,
        agent: usize,
        key: &ExecKey,
        mut status: mesos::v1::TaskStatus,
    ) -> Result<(), HttpError> {
        if status.uuid.as_ref().is_none_or(|uuid| uuid.is_empty()) {
            return Err(HttpError::bad_request("Expecting 'uuid' to be present"));
        }
        if status.state() == TaskState::TaskStaging {
            return Err(HttpError::bad_request(
                "Received TASK_STAGING from executor which is not allowed",
            ));
        }
        if status.source.is_none() {
            status.source = Some(task_status::Source::Executor as i32);
        }
        let task_key: TaskKey = task_key(&key.0, &status.task_id.value);
        let Some(task) = self.tasks.get(&task_key) else {
            warn!(task = %task_key.1, "status update for an unknown task; dropped");
            return Ok(());
        };
        if task.agent != agent || task.executor_id != key.1 {
            warn!(task = %task_key.1, "status update from an executor that does not run the task");
            return Ok(());
        }
        if self.agents[agent].partitioned {
            // Across the partition: not forwarded, not acknowledged; the executor resends it.
            debug!(task = %task_key.1, "status update held by the partition");
            return Ok(());
        }
        if task
            .updates
            .iter()
            .any(|pending| pending.status.uuid == status.uuid)
        {
            return Ok(());
        }
        if let Some(uuid) = status
            .uuid
            .as_ref()
            .filter(|uuid| task.acked.contains(uuid))
        {
            // Acknowledged already: the executor missed ACKNOWLEDGED.
            if let Some(exec) = self.agents[agent].executors.get(key) {
                exec.send(&Event {
                    r#type: Some(event::Type::Acknowledged as i32),
                    acknowledged: Some(event::Acknowledged {
                        task_id: status.task_id.clone(),
                        uuid: uuid.clone(),
                    }),
                    ..Default::default()
                });
            }
            return Ok(());
        }
        if task.state.is_terminal() {
            warn!(task = %task_key.1, "status update for a terminated task; dropped");
            return Ok(());
        }
        debug!(task = %task_key.1, state = ?status.state(), "executor status update");
        self.enqueue_update(&task_key, status, true);
        Ok(())
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
