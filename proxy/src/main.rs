//! `proxy`: the stratum v1 pool in front of a node. Reads its settings from
//! flags and environment (node credentials only from the environment or the
//! node's cookie file, never from argv), recovers the journal, then serves
//! miners until Ctrl-C.

use anyhow::{bail, Context};
use clap::Parser;
use proxy::coinbase::CoinbaseConfig;
use proxy::downstream::{self, ServerConfig};
use proxy::journal::Journal;
use proxy::payouts::{payout_script, PayoutConfig};
use proxy::pool::{Pool, PoolConfig};
use proxy::upstream::{Auth, NodeClient};
use proxy::vardiff::VardiffConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

/// Stratum v1 pool proxy: work from a node's getblocktemplate, p2pool-style
/// PPLNS payouts in the coinbase, found blocks journaled and submitted.
///
/// Node credentials: PROXY_RPC_USER and PROXY_RPC_PASSWORD, or --rpc-cookie.
#[derive(Debug, Parser)]
#[command(name = "proxy", version)]
struct Args {
    /// The node's JSON-RPC URL.
    #[arg(long, env = "PROXY_NODE_URL", default_value = "http://127.0.0.1:8332")]
    node_url: String,
    /// The node's cookie file (instead of PROXY_RPC_USER/PROXY_RPC_PASSWORD).
    #[arg(long, env = "PROXY_RPC_COOKIE")]
    rpc_cookie: Option<PathBuf>,
    /// Where miners connect.
    #[arg(long, env = "PROXY_LISTEN", default_value = "0.0.0.0:3333")]
    listen: String,
    /// Paid the whole block reward while the PPLNS window is empty.
    #[arg(long, env = "PROXY_FALLBACK_ADDRESS")]
    fallback_address: String,
    /// Coinbase tag.
    #[arg(long, env = "PROXY_TAG", default_value = "/mesos-miner/")]
    tag: String,
    /// Found blocks and accepted shares, append-only.
    #[arg(long, env = "PROXY_JOURNAL", default_value = "proxy-journal.jsonl")]
    journal: PathBuf,
    /// Starting share difficulty of a connection (may be below 1; vardiff
    /// adapts it; 1/1024 is a few shares a second for one CPU core).
    #[arg(long, env = "PROXY_DIFFICULTY", default_value = "0.0009765625")]
    difficulty: f64,
    /// Vardiff aims at one share per this many seconds per connection.
    #[arg(long, env = "PROXY_SHARE_SECONDS", default_value = "10")]
    share_seconds: f64,
    /// Shares in the PPLNS window.
    #[arg(long, env = "PROXY_PPLNS_WINDOW", default_value = "8640")]
    pplns_window: usize,
    /// Operator fee in basis points, paid to --operator-address.
    #[arg(long, env = "PROXY_FEE_BPS", default_value = "0")]
    fee_bps: u16,
    #[arg(long, env = "PROXY_OPERATOR_ADDRESS")]
    operator_address: Option<String>,
    /// Serve `GET /metrics` (Prometheus) and `GET /api/stats` (JSON) here, e.g.
    /// `127.0.0.1:8080`; disabled when absent.
    #[arg(long, env = "PROXY_HTTP")]
    http: Option<String>,
    /// Rebuild the job from a fresh template when the current one is this old (seconds).
    #[arg(long, env = "PROXY_REFRESH_SECONDS", default_value = "30")]
    refresh_seconds: f64,
    /// Most miner connections at once.
    #[arg(long, env = "PROXY_MAX_CONNECTIONS", default_value = "50000")]
    max_connections: usize,
    /// Most connections from one IP address (IPv6: one --ipv6-prefix).
    #[arg(long, env = "PROXY_MAX_PER_IP", default_value = "32")]
    max_per_ip: usize,
    /// Close a connection that sends no request for this many seconds.
    #[arg(long, env = "PROXY_IDLE_SECONDS", default_value = "600")]
    idle_seconds: u64,
    /// Close a connection not subscribed and authorized this many seconds after connecting.
    #[arg(long, env = "PROXY_HANDSHAKE_SECONDS", default_value = "30")]
    handshake_seconds: u64,
    /// Drop a miner that does not take a write (a job) within this many seconds.
    #[arg(long, env = "PROXY_WRITE_TIMEOUT_SECONDS", default_value = "15")]
    write_timeout_seconds: u64,
    /// Worker names one connection may authorize.
    #[arg(long, env = "PROXY_MAX_WORKERS", default_value = "16")]
    max_workers: usize,
    /// Ban score at which a source (an IPv4 address or an IPv6 prefix) is banned: each invalid
    /// share, unparsable line, unknown method or failed authorize adds one point.
    #[arg(long, env = "PROXY_BAN_AFTER_INVALID", default_value = "100")]
    ban_after_invalid: u32,
    /// One point of ban score drains every this many seconds.
    #[arg(long, env = "PROXY_BAN_DECAY_SECONDS", default_value = "10")]
    ban_decay_seconds: u64,
    /// How long a ban lasts, in seconds.
    #[arg(long, env = "PROXY_BAN_SECONDS", default_value = "600")]
    ban_seconds: u64,
    /// IPv6 addresses are banned and capped (--max-per-ip) by this prefix length.
    #[arg(long, env = "PROXY_IPV6_PREFIX", default_value = "64")]
    ipv6_prefix: u8,
    /// Fault injection for tests: hang right after journaling a found block
    /// (before submitting it), to be killed there.
    #[arg(long, env = "PROXY_FAULT_CRASH_AFTER_JOURNAL", hide = true)]
    fault_crash_after_journal: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let auth = match (
        &args.rpc_cookie,
        std::env::var("PROXY_RPC_USER"),
        std::env::var("PROXY_RPC_PASSWORD"),
    ) {
        (Some(path), _, _) => Auth::CookieFile(path.clone()),
        (None, Ok(user), Ok(password)) => Auth::UserPass { user, password },
        _ => bail!(
            "node credentials missing: set PROXY_RPC_USER and PROXY_RPC_PASSWORD, or --rpc-cookie"
        ),
    };
    let node = NodeClient::new(args.node_url.clone(), auth).context("node client")?;

    // The chain decides which addresses are valid; wait for the node if it is not up yet.
    let mut wait = Duration::from_millis(500);
    let info = loop {
        match node.get_blockchain_info().await {
            Ok(info) => break info,
            Err(e) => {
                warn!(error = %e, "waiting for the node");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    };
    let network = info
        .network()
        .with_context(|| format!("node reports an unknown chain {:?}", info.chain))?;
    // Signet templates need the "signet" rule.
    let node = node.with_network(network);
    let fallback = payout_script(&args.fallback_address, network)
        .with_context(|| format!("--fallback-address is not a {network} address"))?;
    let operator = args
        .operator_address
        .as_deref()
        .map(|a| payout_script(a, network))
        .transpose()
        .context("--operator-address")?;
    info!(chain = %info.chain, height = info.blocks, "node ready");

    let (journal, recovered) = Journal::open(&args.journal)?;
    let mut payouts = PayoutConfig::new(fallback);
    payouts.window = args.pplns_window.max(1);
    payouts.fee_bps = args.fee_bps;
    payouts.operator = operator;
    let config = PoolConfig {
        network,
        coinbase: CoinbaseConfig {
            tag: args.tag.into_bytes(),
            ..CoinbaseConfig::default()
        },
        payouts,
        poll_interval: Duration::from_secs(5),
        refresh_interval: Duration::from_secs_f64(args.refresh_seconds.max(1.0)),
        crash_after_journal: args.fault_crash_after_journal,
        max_notify_line: stratum::DEFAULT_MAX_LINE_LEN,
        inconclusive_checks: proxy::pool::DEFAULT_INCONCLUSIVE_CHECKS,
        inconclusive_interval: proxy::pool::DEFAULT_INCONCLUSIVE_INTERVAL,
    };
    let config_line_len = config.max_notify_line;
    let pool = Pool::new(config, node, journal, &recovered);
    for (hash, height, hex) in recovered.unsubmitted {
        info!(%hash, height, "resubmitting a journaled block");
        tokio::spawn(Arc::clone(&pool).submit(hash, hex));
    }
    tokio::spawn(Arc::clone(&pool).run_node_loop());

    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    info!(addr = %listener.local_addr()?, "stratum server listening");
    let server = ServerConfig {
        vardiff: VardiffConfig {
            initial_difficulty: args.difficulty,
            target_interval: Duration::from_secs_f64(args.share_seconds.max(0.001)),
            ..VardiffConfig::for_network(network)
        },
        max_connections: args.max_connections.max(1),
        max_per_ip: args.max_per_ip.max(1),
        idle_timeout: Duration::from_secs(args.idle_seconds.max(1)),
        handshake_timeout: Duration::from_secs(args.handshake_seconds.max(1)),
        write_timeout: Duration::from_secs(args.write_timeout_seconds.max(1)),
        max_workers: args.max_workers.max(1),
        ban_after_invalid: args.ban_after_invalid.max(1),
        ban_decay: Duration::from_secs(args.ban_decay_seconds),
        ban_for: Duration::from_secs(args.ban_seconds),
        ipv6_prefix: args.ipv6_prefix.min(128),
        // The same line limit the coinbase budget keeps mining.notify within.
        max_line_len: config_line_len,
        ..ServerConfig::default()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if let Some(addr) = &args.http {
        let http = TcpListener::bind(addr)
            .await
            .with_context(|| format!("--http: listening on {addr}"))?;
        info!(addr = %http.local_addr()?, "metrics and stats over http");
        tokio::spawn(proxy::http::serve(
            http,
            Arc::clone(&pool),
            proxy::http::DEFAULT_WINDOW,
            stopped.clone(),
        ));
    }
    let serving = tokio::spawn(downstream::serve(
        listener,
        Arc::clone(&pool),
        server,
        stopped,
    ));
    tokio::signal::ctrl_c().await?;
    info!("shutting down: asking miners to reconnect");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), serving).await;
    Ok(())
}
