//! Environment variable names tasks receive from the scheduler (on the
//! executor's command, passed on to the task) and that the `proxy` and
//! `miner` programs read.

/// `proxy` or `miner`.
pub const TASK_ROLE: &str = "MESOS_MINER_TASK_ROLE";
/// The proxy's stratum listening port.
pub const PROXY_STRATUM_PORT: &str = "PROXY_STRATUM_PORT";
/// The proxy's HTTP listening port.
pub const PROXY_HTTP_PORT: &str = "PROXY_HTTP_PORT";
/// The proxy's stratum listen address (`proxy --listen`).
pub const PROXY_LISTEN: &str = "PROXY_LISTEN";
/// The proxy's HTTP listen address (`proxy --http`).
pub const PROXY_HTTP: &str = "PROXY_HTTP";
/// The proxy's fallback payout address (`proxy --fallback-address`).
pub const PROXY_FALLBACK_ADDRESS: &str = "PROXY_FALLBACK_ADDRESS";
/// The node's JSON-RPC URL (`proxy --node-url`).
pub const NODE_RPC_URL: &str = "PROXY_NODE_URL";
/// The node's RPC user.
pub const NODE_RPC_USER: &str = "PROXY_RPC_USER";
/// The node's RPC password (secret: environment only).
pub const NODE_RPC_PASSWORD: &str = "PROXY_RPC_PASSWORD";
/// The node's cookie file (`proxy --rpc-cookie-file`): the secret volume.
pub const PROXY_RPC_COOKIE_FILE: &str = "PROXY_RPC_COOKIE_FILE";
/// The proxy's journal (`proxy --journal`), on its persistent volume.
pub const PROXY_JOURNAL: &str = "PROXY_JOURNAL";
/// The proxy's alert webhooks (`proxy --alert-url`), comma-separated.
pub const PROXY_ALERT_URL: &str = "PROXY_ALERT_URL";
/// Seconds without a share before the proxy alerts that a worker is offline.
pub const PROXY_ALERT_OFFLINE_SECS: &str = "PROXY_ALERT_OFFLINE_SECS";
/// The pool hash rate (H/s) below which the proxy alerts.
pub const PROXY_ALERT_MIN_HASH_RATE: &str = "PROXY_ALERT_MIN_HASH_RATE";
/// Path of the `proxy` binary for the executor (default: next to the executor).
pub const PROXY_BIN: &str = "MESOS_MINER_PROXY_BIN";
/// `host:port` of the proxy's stratum server.
pub const MINER_POOL: &str = "MINER_POOL";
/// `stratum+tcp://host:port` of the proxy.
pub const MINER_POOL_URL: &str = "MINER_POOL_URL";
/// Search threads for the miner (CPUs rounded to the nearest whole, at least 1).
pub const MINER_THREADS: &str = "MINER_THREADS";
/// The miner task's CPU share, as Mesos gave it.
pub const MINER_CPUS: &str = "MINER_CPUS";
/// The miners' payout address; the worker name is `<address>.<task id>`.
pub const MINER_PAYOUT_ADDRESS: &str = "MINER_PAYOUT_ADDRESS";
/// A full stratum worker name, overriding `<address>.<task id>`.
pub const MINER_USER: &str = "MINER_USER";
/// Stratum password ("x" when unset).
pub const MINER_PASSWORD: &str = "MINER_PASSWORD";
