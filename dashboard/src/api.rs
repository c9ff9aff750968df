//! The JSON documents of `/api/v1/...`, as the pages read them (see the README's table).
//!
//! Times are Unix seconds, amounts satoshis, hash rates hashes per second, work the sum of
//! accepted share difficulties (one difficulty-1 share is 2^32 hashes expected).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Hashes expected per unit of share difficulty.
pub const HASHES_PER_DIFFICULTY: f64 = 4_294_967_296.0;

/// A worker with no accepted share for this long is offline.
pub const OFFLINE_AFTER_SECS: u64 = 300;

/// `GET /api/v1/ui`: what the page needs to know about the server it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UiInfo {
    /// `proxy` or `scheduler`.
    pub served_by: String,
    /// Whether `/api/v1/cluster` answers here (the scheduler only).
    pub cluster: bool,
    /// Block explorer link pattern, `{hash}` and `{height}` replaced; none: no links.
    pub explorer_url: Option<String>,
    /// The chain the proxy mines (`regtest`, `signet`, `bitcoin`, ...), if known here.
    pub network: Option<String>,
}

/// Hash rates over the usual windows (H/s), from accepted share work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Over the last minute.
    pub m1: f64,
    /// Over the last 10 minutes.
    pub m10: f64,
    /// Over the last hour.
    pub h1: f64,
    /// Over the last 24 hours.
    pub h24: f64,
}

/// One bucket of a chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The bucket's start.
    pub t: u64,
    /// Accepted share work in the bucket.
    pub work: f64,
    /// `work * 2^32 / bucket_secs`.
    pub hash_rate: f64,
    /// Shares accepted in the bucket.
    pub accepted: u64,
    /// Shares rejected in the bucket (any reason).
    pub rejected: u64,
    /// The best share difficulty in the bucket (0: none).
    pub best_difficulty: f64,
}

/// A chart: every bucket of one range, oldest first, empty buckets included.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// `1h`, `24h` or `7d`.
    pub range: String,
    /// Width of each bucket.
    pub bucket_secs: u64,
    /// The buckets, oldest first.
    pub points: Vec<Point>,
}

/// `GET /api/v1/pool?range=1h|24h|7d`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolView {
    /// When this was computed.
    pub now: u64,
    /// Since when the history has data (its first share, or its creation).
    pub since: u64,
    /// The pool's hash rates.
    pub hash_rate: Rates,
    /// Shares accepted since the history began.
    pub accepted: u64,
    /// Shares rejected since the history began, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// The best share difficulty ever seen.
    pub best_difficulty: f64,
    /// The last accepted share.
    pub last_share: Option<u64>,
    /// Workers with a share in the last [`OFFLINE_AFTER_SECS`].
    pub workers_online: u64,
    /// Workers the history holds.
    pub workers: u64,
    /// Stratum connections open now.
    pub connections: u64,
    /// Blocks found (the history's record).
    pub blocks_found: u64,
    /// The pool's chart over the range asked for.
    pub chart: Chart,
}

/// One worker (`address.worker`, as it authorized).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerView {
    /// The name it authorized with, `address.worker`.
    pub name: String,
    /// A share accepted in the last [`OFFLINE_AFTER_SECS`].
    pub online: bool,
    /// The worker's hash rates.
    pub hash_rate: Rates,
    /// Its last accepted share (none yet: `None`).
    pub last_share: Option<u64>,
    /// The best difficulty of its accepted shares.
    pub best_difficulty: f64,
    /// Shares accepted since the history first saw it.
    pub accepted: u64,
    /// Rejected shares by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Hash rate per minute over the last hour, oldest first.
    pub sparkline: Vec<f64>,
}

/// `GET /api/v1/workers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkersView {
    /// When this was computed.
    pub now: u64,
    /// By hash rate over 10 minutes, highest first.
    pub workers: Vec<WorkerView>,
}

/// `GET /api/v1/worker/{name}?range=1h|24h|7d`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerDetail {
    /// When this was computed.
    pub now: u64,
    /// The worker.
    pub worker: WorkerView,
    /// Its chart over the range asked for.
    pub chart: Chart,
}

/// One output of a coinbase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Payout {
    /// The address paid (the script in hex when it is none).
    pub address: String,
    /// The amount paid.
    pub sats: u64,
}

/// A block the pool found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockView {
    /// The block's height.
    pub height: u32,
    /// The block hash, hex in the usual display order.
    pub hash: String,
    /// When the share was found.
    pub time: u64,
    /// The worker whose share it was.
    pub worker: String,
    /// `pending` (not answered yet), then `submitblock`'s answer: `accepted`, `duplicate`,
    /// `inconclusive`, `rejected: <reason>`, and `accepted` or `stale` for an inconclusive
    /// block once resolved.
    pub outcome: String,
    /// The coinbase's outputs' total.
    pub reward_sats: u64,
    /// How it was split.
    pub split: Vec<Payout>,
}

/// `GET /api/v1/blocks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlocksView {
    /// Blocks the history holds.
    pub total: u64,
    /// Newest first (in an event, only the newest [`events::BLOCKS_IN_EVENT`]).
    pub blocks: Vec<BlockView>,
}

/// `GET /api/v1/job/window`: the job miners work on now and who its coinbase pays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    /// False before the first template.
    pub ready: bool,
    /// The height of the block being mined.
    pub height: u32,
    /// The hash of the block it builds on, hex.
    pub previous_block: String,
    /// Transactions besides the coinbase.
    pub transactions: usize,
    /// The template's transaction fees, in all.
    pub fees_sats: u64,
    /// What the coinbase may pay: subsidy plus fees.
    pub coinbase_value_sats: u64,
    /// The difficulty of the block target.
    pub network_difficulty: f64,
    /// The PPLNS window as the next block pays it: one output per payee (fee and fallback
    /// included), largest first.
    pub window: Vec<Payout>,
    /// Shares the window holds.
    pub window_shares: usize,
}

/// An agent as the scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    /// The Mesos agent id.
    pub id: String,
    /// Its hostname, from its latest offer (empty if none was seen).
    pub hostname: String,
    /// The resources of its latest offer (what was free then).
    pub offered_cpus: f64,
    /// The memory of its latest offer, in MB.
    pub offered_mem_mb: f64,
    /// What our live tasks on it use.
    pub used_cpus: f64,
    /// The memory our live tasks on it use, in MB.
    pub used_mem_mb: f64,
    /// When it last offered.
    pub last_offer: Option<u64>,
}

/// A task as the scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterTask {
    /// The Mesos task id.
    pub id: String,
    /// `proxy` or `miner`.
    pub kind: String,
    /// The id of the agent it runs on.
    pub agent: String,
    /// That agent's hostname.
    pub hostname: String,
    /// Mesos' state, e.g. `RUNNING`.
    pub state: String,
    /// The CPUs it holds.
    pub cpus: f64,
    /// Its CPUs are revocable (oversubscribed slack that Mesos may take back).
    pub revocable: bool,
    /// The memory it holds, in MB.
    pub mem_mb: f64,
    /// The executor's latest report (miners).
    pub hash_rate: Option<f64>,
    /// `hash_rate / cpus`.
    pub hash_rate_per_cpu: Option<f64>,
    /// Shares the pool accepted so far, per the executor's latest report (none yet: `None`).
    pub accepted: Option<u64>,
    /// Shares the pool rejected so far, per the executor's latest report (none yet: `None`).
    pub rejected: Option<u64>,
    /// When it was launched.
    pub launched_at: u64,
}

/// A status update the scheduler received.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// When the scheduler received it.
    pub time: u64,
    /// The task it is about.
    pub task_id: String,
    /// The new state, without Mesos' `TASK_` prefix, e.g. `RUNNING`.
    pub state: String,
    /// Mesos' reason, e.g. `REASON_EXECUTOR_TERMINATED`.
    pub reason: Option<String>,
    /// Mesos' message, if it is not empty.
    pub message: Option<String>,
}

/// `GET /api/v1/cluster` (the scheduler).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// When this was computed.
    pub now: u64,
    /// Our framework id, once registered.
    pub framework_id: Option<String>,
    /// The master subscribed to (or tried) last.
    pub master: Option<String>,
    /// Subscribed to a master right now.
    pub connected: bool,
    /// SUBSCRIBED events received since the scheduler started.
    pub subscriptions: u64,
    /// Agents that sent an offer or run our tasks, sorted by id.
    pub agents: Vec<AgentView>,
    /// Our live tasks.
    pub tasks: Vec<ClusterTask>,
    /// The revocable CPUs our tasks hold, in all.
    pub revocable_cpus: f64,
    /// The latest hash rates our miners' executors reported, summed.
    pub total_hash_rate: f64,
    /// Newest first, bounded.
    pub events: Vec<TaskEvent>,
    /// The proxy's HTTP address the pool endpoints are forwarded to.
    pub proxy_http: Option<String>,
}

/// What `/api/v1/events` sends: `event: pool` with a [`PoolView`] (its chart empty) every
/// few seconds, and `event: blocks` with the [`BlocksView`] at the start and whenever a block
/// is found or its outcome changes.
pub mod events {
    /// The event name of a [`PoolView`](super::PoolView).
    pub const POOL: &str = "pool";
    /// The event name of a [`BlocksView`](super::BlocksView).
    pub const BLOCKS: &str = "blocks";
    /// The newest blocks a `blocks` event carries.
    pub const BLOCKS_IN_EVENT: usize = 100;
}

/// The ranges a chart covers: name, span and bucket width (seconds).
pub const RANGES: [(&str, u64, u64); 3] =
    [("1h", 3600, 10), ("24h", 86_400, 60), ("7d", 604_800, 600)];

/// The range named `name`.
pub fn range(name: &str) -> Option<(&'static str, u64, u64)> {
    RANGES.iter().copied().find(|(n, _, _)| *n == name)
}

/// Checks a block explorer link pattern: `http://` or `https://`, naming `{hash}` or
/// `{height}`.
pub fn check_explorer_url(pattern: &str) -> Result<String, String> {
    let pattern = pattern.trim();
    if !(pattern.starts_with("https://") || pattern.starts_with("http://")) {
        return Err("must start with https:// or http://".into());
    }
    if !(pattern.contains("{hash}") || pattern.contains("{height}")) {
        return Err("must name {hash} or {height}, e.g. https://mempool.space/block/{hash}".into());
    }
    Ok(pattern.to_owned())
}

/// `work` over `secs` as hashes per second (0 over no time).
pub fn hash_rate(work: f64, secs: u64) -> f64 {
    if secs == 0 {
        0.0
    } else {
        work * HASHES_PER_DIFFICULTY / secs as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_rates() {
        assert_eq!(range("24h"), Some(("24h", 86_400, 60)));
        assert_eq!(range("2h"), None);
        assert_eq!(hash_rate(1.0, 1), HASHES_PER_DIFFICULTY);
        assert_eq!(hash_rate(5.0, 0), 0.0);
        check_explorer_url("https://mempool.space/block/{hash}").unwrap();
        check_explorer_url("http://x/{height}").unwrap();
        assert!(check_explorer_url("ftp://x/{hash}").is_err());
        assert!(check_explorer_url("https://x/block/")
            .unwrap_err()
            .contains("{hash}"));
    }
}
