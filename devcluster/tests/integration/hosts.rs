//! A real partition: an agent on a host of its own (a network namespace on a
//! bridge of this machine), its executor started in that namespace. Cutting
//! the host's link makes the master's pings fail, and a partition-aware
//! framework sees the task UNREACHABLE while its executor runs on behind
//! the cut; restoring the link lets the agent re-register with the task,
//! which is RUNNING again and can be killed.

use std::os::unix::fs::MetadataExt as _;
use std::time::{Duration, Instant};

use crate::common::*;
use devcluster::netns::TestHosts;
use mesos::v1::{task_status, TaskState};

/// The inode of a process's network namespace.
fn netns_inode(path: &str) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutting_an_agents_link_makes_its_task_unreachable_and_restoring_it_brings_the_task_back() {
    let hosts = TestHosts::make(1).expect("test hosts (run as root with iproute2)");
    let h = start_with(1, 2.0, 512.0, (31000, 31010), |config| {
        config.agent_hosts = hosts.agent_hosts();
        config.agent_ping_timeout = Duration::from_millis(300);
        config.max_agent_ping_timeouts = 3;
    })
    .await;
    let agent = &h.cluster.agents()[0];
    assert_eq!(agent.endpoint.ip(), hosts.ip(0), "it listens on its host");
    let mut sched = Sched::subscribe(&h.client, partition_aware_framework()).await;
    let running = run_task(&mut sched, "t1", "e1", true).await;
    let agent_id = running.agent_id.clone().unwrap();
    let pid = h.cluster.executor_pid("e1").expect("a process");
    // The executor runs in the agent's namespace, not ours, and reached its
    // agent there (it subscribed and reported RUNNING).
    let theirs = netns_inode(&format!("/proc/{pid}/ns/net"));
    assert_eq!(
        theirs,
        netns_inode(&format!("/var/run/netns/{}", hosts.netns(0)))
    );
    assert_ne!(theirs, netns_inode("/proc/self/ns/net"));

    hosts.cut(0).unwrap();
    let cut_at = Instant::now();
    let unreachable = sched.update("t1").await;
    assert_eq!(
        unreachable.state(),
        TaskState::TaskUnreachable,
        "{unreachable:?}"
    );
    assert_eq!(unreachable.reason(), task_status::Reason::AgentRemoved);
    // Three pings of 300 ms missed: not before 0.6 s, well within PATIENCE.
    assert!(cut_at.elapsed() >= Duration::from_millis(600));
    // Behind the cut the executor runs on.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.cluster.executor_pid("e1"), Some(pid));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    hosts.restore(0).unwrap();
    let back = sched.update("t1").await;
    assert_eq!(back.state(), TaskState::TaskRunning, "{back:?}");
    assert_eq!(back.reason(), task_status::Reason::AgentReregistered);
    assert_eq!(back.agent_id.as_ref(), Some(&agent_id));
    // Reachable again: a kill gets through to the executor in its namespace.
    kill_until_killed(&mut sched, "t1", &agent_id).await;
}
