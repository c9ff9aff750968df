//! devcluster: a local Mesos-compatible master and agents in one process,
//! speaking the real v1 HTTP APIs on loopback. It is the embedded cluster for
//! one machine and the harness for cross-process tests: a scheduler talks to
//! it with `mesos::client::SchedulerClient` as it would to Mesos, and
//! executors it starts talk to their agent with `ExecutorClient`.
//!
//! - [`Cluster`]: start with a [`ClusterConfig`]; inject faults (dropped
//!   scheduler streams, master failover, leadership moving between master
//!   addresses, a master going dark, agent loss, agent restart, executor
//!   SIGKILL); over HTTP only with `ClusterConfig::fault_endpoints`.
//! - `master`: the scheduler API: SUBSCRIBE with RecordIO event streams,
//!   `Mesos-Stream-Id`, heartbeats, framework failover; offers, filters,
//!   SUPPRESS / REVIVE; launch validation; KILL, SHUTDOWN, ACKNOWLEDGE,
//!   RECONCILE, MESSAGE, TEARDOWN; the offer operations RESERVE,
//!   UNRESERVE, CREATE and DESTROY (dynamic reservations and persistent
//!   volumes, see [`resources`]).
//! - `agent`: the executor API of each agent and CUSTOM executors as OS
//!   processes in Mesos-style sandboxes under the work dir; persistent
//!   volumes are directories under `<work dir>/volumes/`, linked into the
//!   sandbox at their `container_path` (mounted there with `-v` in Docker).
//! - `docker`: the Docker containerizer (when `ClusterConfig::docker` names
//!   the CLI): executors and command tasks with a DOCKER `ContainerInfo` run
//!   through `docker run`, as Mesos' agent runs them.
//! - `command_executor`: command tasks (no ExecutorInfo) run as under Mesos'
//!   command executor: the ExecutorInfo Mesos builds, `sh -c` or argv in
//!   the sandbox, exit status to TASK_FINISHED / TASK_FAILED, kill grace.
//! - `maintenance`: the maintenance schedule, machine DOWN / UP, offers'
//!   `unavailability` and inverse offers (endpoints with the fault ones).
//! - [`testing`]: a minimal framework for tests, over the real scheduler API.
//! - `secrets`: REFERENCE secrets resolved from the store file the cluster
//!   is started with, into environment variables or secret volume files;
//!   VALUE secrets redacted in what executors are sent.
//! - `state`: all of it behind one mutex, driven in time by one ticker task
//!   (no task or thread per agent, so 100 agents stay cheap).
//!
//! - `hosts`: agents on hosts of their own (`ClusterConfig::agent_hosts`), in
//!   network namespaces, pinged by the master across their links; [`netns`]
//!   makes such hosts for tests and cuts their links.
//!
//! The core (`state`, `master`, `agent` and the modules declared with them
//! below) is state changes without I/O.
//! What touches the system (sandboxes, processes, containers, directories)
//! a state method queues as an `effect::Effect`; `runtime` carries the queue
//! out with `launcher` once it has released the lock, and `http` writes the
//! core's `reply::Reply` as HTTP. Dependencies go one way: `cluster` ->
//! `http` -> `runtime` -> `launcher` -> the core -> `config`, `error`,
//! `auth`; no core module uses a runtime one. The core's unit tests
//! (`state::tests` and beside each module) drive a `State` directly, with a
//! clock they move, and read the events it sends from its channels.
//!
//! - `oversubscription`: revocable CPUs on every agent (Mesos' fixed
//!   resource estimator, `ClusterConfig::revocable_cpus`), offered only to
//!   frameworks with REVOCABLE_RESOURCES; the QoS controller's kill as the
//!   faults `qos-revoke` / `qos-restore`; agent attributes
//!   (`ClusterConfig::agent_attributes`, Mesos' `--attributes` syntax).
//!
//! - [`auth`]: framework authentication (HTTP Basic against a Mesos
//!   credentials file), required when the master is not on loopback.
//!
//! - Operation feedback (`Offer.Operation.id` on RESERVE / UNRESERVE /
//!   CREATE / DESTROY): `UPDATE_OPERATION_STATUS`, retried until
//!   `ACKNOWLEDGE_OPERATION_STATUS`, and `RECONCILE_OPERATIONS`.
//!
//! Not modelled: the default executor (LAUNCH_GROUP), static and
//! refined reservations, non-persistent disk info, executor authentication, authorization (ACLs),
//! fetching remote URIs, and an agent
//! restart's loss of state (a restart is downtime of its executor API;
//! executors and the master's view of tasks survive it), and
//! `/maintenance/status`.

// What both sides use: the configuration, errors, credentials.
pub mod auth;
mod config;
mod error;

// The core: the master's and agents' semantics, without I/O.
mod agent;
mod command_executor;
mod docker;
mod effect;
mod faults;
#[cfg(test)]
mod fixture;
mod maintenance;
mod master;
mod master_state;
mod operations;
mod oversubscription;
mod partition;
mod reply;
pub mod resources;
mod secrets;
mod state;

// The runtime: listeners, the ticker, processes and containers.
mod cluster;
mod hosts;
mod http;
mod launcher;
pub mod netns;
mod runtime;
pub mod testing;

pub use cluster::{AgentSummary, Cluster};
pub use config::{machine_cpus, machine_mem_mb, seconds, AgentHost, ClusterConfig, MAX_INTERVAL};
pub use error::Error;
pub use oversubscription::parse_attributes;
