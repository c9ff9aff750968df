//! Test hosts on one machine: network namespaces joined by veth links to a
//! bridge of this host, for tests whose partitions must be real (an agent
//! whose link is cut cannot be reached, and reaches nothing). Made with
//! iproute2's `ip` (as root) and removed on drop. Each host gets an address
//! on the bridge's /24, with the bridge (this host) as its default route;
//! hosts reach each other and this host across the bridge, never this
//! host's loopback.
//!
//! Use them as [`crate::ClusterConfig::agent_hosts`] and cut a host off with
//! [`TestHosts::cut`].

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::AgentHost;

/// Bridges made by this process so far (for unique names).
static MADE: AtomicU32 = AtomicU32::new(0);

/// What went wrong making or changing the hosts.
#[derive(Debug, thiserror::Error)]
#[error("`ip {args}` failed: {message} (test hosts need root and iproute2's `ip`)")]
pub struct NetnsError {
    args: String,
    message: String,
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let fail = |message: String| NetnsError {
        args: args.join(" "),
        message,
    };
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| fail(error.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

/// A /24 of `10.231.0.0/16` that no interface of this host uses.
fn free_subnet(seed: u32) -> Result<u8, NetnsError> {
    let output = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map_err(|error| NetnsError {
            args: "-o -4 addr show".into(),
            message: error.to_string(),
        })?;
    let used = String::from_utf8_lossy(&output.stdout).into_owned();
    (0..250u32)
        .map(|offset| ((seed + offset) % 250 + 1) as u8)
        .find(|third| !used.contains(&format!("10.231.{third}.")))
        .ok_or_else(|| NetnsError {
            args: "-o -4 addr show".into(),
            message: "every 10.231.x.0/24 is in use".into(),
        })
}

/// Network namespaces on a bridge of this host; removed on drop.
#[derive(Debug)]
pub struct TestHosts {
    bridge: String,
    /// This host's address on the bridge.
    pub gateway: IpAddr,
    hosts: Vec<Host>,
}

#[derive(Debug)]
struct Host {
    netns: String,
    /// The link's end on this host (in the bridge).
    link: String,
    ip: IpAddr,
}

impl TestHosts {
    /// Makes `count` hosts.
    pub fn make(count: usize) -> Result<Self, NetnsError> {
        let seq = MADE.fetch_add(1, Ordering::Relaxed);
        let tag = format!("mm{:x}{seq}", std::process::id());
        let third = free_subnet(std::process::id() + seq)?;
        let bridge = format!("{tag}b");
        let gateway = Ipv4Addr::new(10, 231, third, 1);
        let mut hosts = TestHosts {
            bridge: bridge.clone(),
            gateway: gateway.into(),
            hosts: Vec::new(),
        };
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for index in 0..count {
            let netns = format!("{tag}n{index}");
            let link = format!("{tag}h{index}");
            let peer = format!("{tag}p{index}");
            let address = Ipv4Addr::new(10, 231, third, 10 + index as u8);
            ip(&["netns", "add", &netns])?;
            hosts.hosts.push(Host {
                netns: netns.clone(),
                link: link.clone(),
                ip: address.into(),
            });
            ip(&["link", "add", &link, "type", "veth", "peer", "name", &peer])?;
            ip(&["link", "set", &peer, "netns", &netns])?;
            ip(&["link", "set", &link, "master", &bridge])?;
            ip(&["link", "set", &link, "up"])?;
            ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                &peer,
            ])?;
            ip(&["-n", &netns, "link", "set", &peer, "up"])?;
            ip(&["-n", &netns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &netns,
                "route",
                "add",
                "default",
                "via",
                &gateway.to_string(),
            ])?;
        }
        Ok(hosts)
    }

    /// The hosts as agent hosts, in order.
    pub fn agent_hosts(&self) -> Vec<AgentHost> {
        self.hosts
            .iter()
            .map(|host| AgentHost {
                netns: host.netns.clone(),
                ip: host.ip,
            })
            .collect()
    }

    /// Host `index`'s address.
    pub fn ip(&self, index: usize) -> IpAddr {
        self.hosts[index].ip
    }

    /// Host `index`'s network namespace.
    pub fn netns(&self, index: usize) -> &str {
        &self.hosts[index].netns
    }

    /// Cuts host `index`'s link: nothing crosses it either way.
    pub fn cut(&self, index: usize) -> Result<(), NetnsError> {
        ip(&["link", "set", &self.hosts[index].link, "down"])
    }

    /// Restores host `index`'s link.
    pub fn restore(&self, index: usize) -> Result<(), NetnsError> {
        ip(&["link", "set", &self.hosts[index].link, "up"])
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        for host in &self.hosts {
            // Deleting the namespace deletes its end of the link, and so the
            // pair.
            let _ = ip(&["netns", "del", &host.netns]);
            let _ = ip(&["link", "del", &host.link]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}
