//! Agents on hosts of their own ([`ClusterConfig::agent_hosts`]): each
//! listens inside a network namespace that the caller made, so its
//! executors (started there, see [`crate::launcher`]) reach it without
//! crossing any link, while the master reaches it only across the
//! namespace's link. The master pings each such agent as Mesos' master does
//! (a ping every `agent_ping_timeout`, unreachable after
//! `max_agent_ping_timeouts` missed in a row): cutting the link is then a
//! real partition, which the state handles as [`crate::partition`] says,
//! and the agent re-registers with its tasks when it answers again.
//!
//! [`ClusterConfig::agent_hosts`]: crate::ClusterConfig::agent_hosts

use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::AsRawFd as _;
use std::sync::Weak;
use std::time::Duration;

use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::runtime::Inner;

/// Where `ip netns add NAME` puts a namespace.
fn netns_path(netns: &str) -> std::path::PathBuf {
    std::path::Path::new("/var/run/netns").join(netns)
}

/// Binds `addr` inside the network namespace `netns`: on a thread of its
/// own that enters the namespace, binds and ends (the socket stays in the
/// namespace; the process's other threads never leave theirs).
#[allow(unsafe_code)] // setns(2), a thin libc call
pub(crate) fn bind_in(netns: &str, addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let path = netns_path(netns);
    let namespace = File::open(&path).map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!("network namespace {netns} ({}): {error}", path.display()),
        )
    })?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns(2) takes a descriptor we own (open for the
                // whole call) and a flag; it changes only this thread's
                // network namespace, and this thread ends right after the
                // bind below, so no other code runs in the namespace.
                let entered = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
                if entered != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let listener = std::net::TcpListener::bind(addr)?;
                listener.set_nonblocking(true)?;
                Ok(listener)
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the binding thread panicked")))
    })
}

/// Pings agent `index` at `addr` until the cluster is gone: a TCP connect
/// every `timeout`, which must succeed within it. After `max` misses in a
/// row the agent is unreachable; the first answer after that heals it.
/// Only a partition this ping made is healed by it (a `partition-agent`
/// fault stays until `heal-agent`).
pub(crate) async fn ping(
    inner: Weak<Inner>,
    index: usize,
    addr: SocketAddr,
    timeout: Duration,
    max: u32,
) {
    let mut misses = 0u32;
    let mut cut = false;
    let mut interval = tokio::time::interval(timeout);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let answered = matches!(
            tokio::time::timeout(timeout, TcpStream::connect(addr)).await,
            Ok(Ok(_))
        );
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if answered {
            misses = 0;
            if cut {
                cut = false;
                let mut state = inner.lock();
                let agent_id = state.agents[index].id.clone();
                info!(agent = %agent_id, %addr, "the agent answers pings again");
                if let Err(error) = crate::partition::heal(&mut state, &agent_id) {
                    warn!(%error, "cannot re-register the agent");
                }
            }
            continue;
        }
        misses += 1;
        if misses >= max && !cut {
            let mut state = inner.lock();
            if !state.agents[index].alive || state.agents[index].partitioned {
                continue;
            }
            cut = true;
            let agent_id = state.agents[index].id.clone();
            info!(agent = %agent_id, %addr, misses, "the agent missed its pings: unreachable");
            if let Err(error) = crate::partition::partition(&mut state, &agent_id) {
                warn!(%error, "cannot mark the agent unreachable");
            }
        }
    }
}
