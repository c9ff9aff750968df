//! `proxy`: the stratum v1 pool in front of a node. Reads its settings from
//! flags and environment (node credentials only from the environment or the
//! node's cookie file, never from argv), recovers the journal, then serves
//! miners until Ctrl-C.

use anyhow::{bail, Context};
use bitcoin::Network;
use clap::Parser;
use proxy::alerting::{Alerting, AlertingConfig};
use proxy::coinbase::CoinbaseConfig;
use proxy::downstream::{self, ServerConfig};
use proxy::history::{History, HistoryConfig};
use proxy::journal::{Journal, JournalOptions};
use proxy::payouts::{payout_script, PayoutConfig};
use proxy::pool::{Pool, PoolConfig};
use proxy::upstream::{Auth, NodeClient};
use proxy::vardiff::VardiffConfig;
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use task_contract::env;
use tokio::net::TcpListener;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

/// Stratum v1 pool proxy: work from a node's getblocktemplate, p2pool-style
/// PPLNS payouts in the coinbase, found blocks journaled and submitted.
///
/// Node credentials: PROXY_RPC_USER and PROXY_RPC_PASSWORD, or --rpc-cookie-file.
#[derive(Debug, Parser)]
#[command(name = "proxy", version)]
struct Args {
    /// The node's JSON-RPC URL.
    #[arg(long, env = env::NODE_RPC_URL, default_value = "http://127.0.0.1:8332")]
    node_url: String,
    /// The node's cookie file (instead of PROXY_RPC_USER/PROXY_RPC_PASSWORD).
    #[arg(long, env = env::PROXY_RPC_COOKIE_FILE, alias = "rpc-cookie")]
    rpc_cookie_file: Option<PathBuf>,
    /// Where miners connect.
    #[arg(long, env = env::PROXY_LISTEN, default_value = "0.0.0.0:3333")]
    listen: String,
    /// Paid the whole block reward while the PPLNS window is empty.
    #[arg(long, env = env::PROXY_FALLBACK_ADDRESS)]
    fallback_address: String,
    /// Coinbase tag.
    #[arg(long, env = "PROXY_TAG", default_value = "/mesos-miner/")]
    tag: String,
    /// Found blocks and accepted shares, append-only.
    #[arg(long, env = env::PROXY_JOURNAL, default_value = "proxy-journal.jsonl")]
    journal: PathBuf,
    /// Journal records after which it is compacted into a snapshot of the unresolved blocks and
    /// the PPLNS window (bounds its size and the recovery time on start).
    #[arg(long, env = "PROXY_JOURNAL_COMPACT_EVERY", value_parser = number_in(1usize, 1_000_000_000), default_value = "100000")]
    journal_compact_every: usize,
    /// Starting share difficulty of a connection (may be below 1; vardiff
    /// adapts it; 1/1024 is a few shares a second for one CPU core).
    #[arg(long, env = "PROXY_DIFFICULTY", value_parser = difficulty, default_value = "0.0009765625")]
    difficulty: f64,
    /// Vardiff aims at one share per this many seconds per connection.
    #[arg(long, env = "PROXY_SHARE_SECS", alias = "share-seconds", value_parser = number_in(0.001, DAY as f64), default_value = "10")]
    share_secs: f64,
    /// The PPLNS window in blocks' worth of work at the network difficulty: the newest
    /// shares whose difficulties sum to this many times it are paid. 3 is p2pool's choice:
    /// each share is paid its fair expectation at any value; larger smooths payouts over more
    /// blocks but pays later and makes coinbases with more payees.
    #[arg(long, env = "PROXY_PPLNS_WINDOW_FACTOR", value_parser = number_in(1e-6, 1e18), default_value = "3")]
    pplns_window_factor: f64,
    /// Most shares a second one connection may have accepted (blocks are always taken); at
    /// least four times the rate --share-secs aims at [default: 20, or that if more].
    #[arg(long, env = "PROXY_MAX_SHARE_RATE", value_parser = number_in(0.001, 1e9))]
    max_share_rate: Option<f64>,
    /// Operator fee in basis points, paid to --operator-address.
    #[arg(long, env = "PROXY_FEE_BPS", value_parser = number_in(0u16, 10_000), default_value = "0")]
    fee_bps: u16,
    #[arg(long, env = "PROXY_OPERATOR_ADDRESS")]
    operator_address: Option<String>,
    /// Serve `GET /metrics` (Prometheus), `GET /api/stats` (JSON) and the dashboard (`/`,
    /// `/api/v1/...`) here, e.g. `127.0.0.1:8080`; disabled when absent.
    #[arg(long, env = env::PROXY_HTTP)]
    http: Option<String>,
    /// The dashboard's history database [default: `proxy-history.redb` beside --journal].
    #[arg(long, env = "PROXY_HISTORY")]
    history: Option<PathBuf>,
    /// Block explorer link for the dashboard's blocks, `{hash}` and `{height}` replaced,
    /// e.g. `https://mempool.space/block/{hash}`.
    #[arg(long, env = "PROXY_EXPLORER_URL", value_parser = explorer_url)]
    explorer_url: Option<String>,
    /// Rebuild the job from a fresh template when the current one is this old (seconds).
    #[arg(long, env = "PROXY_REFRESH_SECS", alias = "refresh-seconds", value_parser = number_in(1.0, DAY as f64), default_value = "30")]
    refresh_secs: f64,
    /// Most miner connections at once.
    #[arg(long, env = "PROXY_MAX_CONNECTIONS", value_parser = number_in(1usize, 10_000_000), default_value = "50000")]
    max_connections: usize,
    /// Most connections from one IP address (IPv6: one --ipv6-prefix).
    #[arg(long, env = "PROXY_MAX_PER_IP", value_parser = number_in(1usize, 10_000_000), default_value = "32")]
    max_per_ip: usize,
    /// Close a connection that sends no request for this many seconds.
    #[arg(long, env = "PROXY_IDLE_SECS", alias = "idle-seconds", value_parser = number_in(1u64, WEEK), default_value = "600")]
    idle_secs: u64,
    /// Close a connection not subscribed and authorized this many seconds after connecting.
    #[arg(long, env = "PROXY_HANDSHAKE_SECS", alias = "handshake-seconds", value_parser = number_in(1u64, WEEK), default_value = "30")]
    handshake_secs: u64,
    /// Drop a miner that does not take a write (a job) within this many seconds.
    #[arg(long, env = "PROXY_WRITE_TIMEOUT_SECS", alias = "write-timeout-seconds", value_parser = number_in(1u64, WEEK), default_value = "15")]
    write_timeout_secs: u64,
    /// Worker names one connection may authorize.
    #[arg(long, env = "PROXY_MAX_WORKERS", value_parser = number_in(1usize, 10_000), default_value = "16")]
    max_workers: usize,
    /// Ban score at which a source (an IPv4 address or an IPv6 prefix) is banned: each invalid
    /// share, unparsable line, unknown method or failed authorize adds one point.
    #[arg(long, env = "PROXY_BAN_AFTER_INVALID", value_parser = number_in(1u32, u32::MAX), default_value = "100")]
    ban_after_invalid: u32,
    /// One point of ban score drains every this many seconds.
    #[arg(long, env = "PROXY_BAN_DECAY_SECS", alias = "ban-decay-seconds", value_parser = number_in(1u64, YEAR), default_value = "10")]
    ban_decay_secs: u64,
    /// How long a ban lasts, in seconds.
    #[arg(long, env = "PROXY_BAN_SECS", alias = "ban-seconds", value_parser = number_in(1u64, YEAR), default_value = "600")]
    ban_secs: u64,
    /// IPv6 addresses are banned and capped (--max-per-ip) by this prefix length.
    #[arg(long, env = "PROXY_IPV6_PREFIX", value_parser = number_in(1u8, 128), default_value = "64")]
    ipv6_prefix: u8,
    /// On SIGTERM or Ctrl-C, stop within this many seconds, waiting for the node's answers to
    /// found blocks still being submitted (below the scheduler's 10 s kill grace); the journal
    /// keeps any left for the next start.
    #[arg(long, env = "PROXY_DRAIN_SECS", value_parser = number_in(0u64, YEAR), default_value = "7")]
    drain_secs: u64,
    /// Alert webhooks.
    #[command(flatten)]
    alerts: alerts::SenderArgs,
    /// Alert when a worker sends no accepted share for this many seconds (0: never).
    #[arg(long, env = env::PROXY_ALERT_OFFLINE_SECS, value_parser = number_in(0u64, WEEK), default_value = "600")]
    alert_offline_secs: u64,
    /// Alert when the pool's hash rate (over 10 minutes) stays below this many hashes per
    /// second for --alert-low-secs (0: never).
    #[arg(long, env = env::PROXY_ALERT_MIN_HASH_RATE, value_parser = number_in(0.0, 1e30), default_value = "0")]
    alert_min_hash_rate: f64,
    /// How long the hash rate must stay below --alert-min-hash-rate, in seconds.
    #[arg(long, env = "PROXY_ALERT_LOW_SECS", value_parser = number_in(1u64, WEEK), default_value = "600")]
    alert_low_secs: u64,
    /// Fault injection for tests: hang right after journaling a found block
    /// (before submitting it), to be killed there.
    #[arg(long, env = "PROXY_FAULT_CRASH_AFTER_JOURNAL", hide = true)]
    fault_crash_after_journal: bool,
}

/// Seconds in a day, a week and a year: the upper bounds of the time flags (far enough for any
/// use, near enough that no deadline overflows an `Instant`).
const DAY: u64 = 86_400;
const WEEK: u64 = 7 * DAY;
const YEAR: u64 = 365 * DAY;

/// A clap value parser taking numbers from `min` to `max` and refusing anything else with a
/// clear message (NaN and infinities included: they fail both comparisons or the upper one).
fn number_in<T>(min: T, max: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
    T::Err: Display,
{
    move |s| {
        let v: T = s.trim().parse().map_err(|e| format!("{e}"))?;
        if v >= min && v <= max {
            Ok(v)
        } else {
            Err(format!("must be from {min} to {max}"))
        }
    }
}

/// `--explorer-url`: an `http(s)://` pattern naming `{hash}` or `{height}`.
fn explorer_url(s: &str) -> Result<String, String> {
    dashboard::api::check_explorer_url(s)
}

/// `--difficulty`: a finite number above 0, at most the vardiff ceiling (the network's floor
/// is checked once the chain is known: [`check_difficulty`]).
fn difficulty(s: &str) -> Result<f64, String> {
    let max = VardiffConfig::default().max_difficulty;
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if v > 0.0 && v <= max {
        Ok(v)
    } else {
        Err(format!("must be a number above 0 and at most {max}"))
    }
}

/// The starting difficulty against the network's floor (vardiff would raise it silently).
fn check_difficulty(difficulty: f64, network: Network) -> anyhow::Result<()> {
    let floor = proxy::vardiff::min_difficulty_for(network);
    if difficulty < floor {
        bail!("--difficulty {difficulty} is below the {network} minimum share difficulty {floor}");
    }
    Ok(())
}

/// `--max-share-rate`, or its default: 20 a second, or four times vardiff's aim at one share
/// every `share_secs` if more.
fn max_share_rate(flag: Option<f64>, share_secs: f64) -> f64 {
    let floor = proxy::vardiff::min_share_rate(Duration::from_secs_f64(share_secs));
    flag.unwrap_or(proxy::vardiff::DEFAULT_MAX_SHARE_RATE.max(floor))
}

/// Checks between flags, before anything is started.
fn check(args: &Args) -> anyhow::Result<()> {
    let floor = proxy::vardiff::min_share_rate(Duration::from_secs_f64(args.share_secs));
    if let Some(rate) = args.max_share_rate.filter(|r| *r < floor) {
        bail!(
            "--max-share-rate {rate} is below {floor}, four times the rate --share-secs {} aims \
             at: the limit would refuse what vardiff asks for",
            args.share_secs
        );
    }
    if args.fee_bps > 0 && args.operator_address.is_none() {
        bail!(
            "--fee-bps {} needs --operator-address to pay the fee to",
            args.fee_bps
        );
    }
    let max_tag = CoinbaseConfig::default().max_tag_len();
    if args.tag.len() > max_tag {
        bail!(
            "--tag is {} bytes; the coinbase has room for {max_tag}",
            args.tag.len()
        );
    }
    Ok(())
}

/// The history's file name beside the journal.
const HISTORY_FILE: &str = "proxy-history.redb";

/// Writes the history every few seconds (off the async threads).
async fn flush_history(history: Arc<History>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let history = Arc::clone(&history);
        let flushed =
            tokio::task::spawn_blocking(move || history.flush(proxy::pool::unix_now())).await;
        if let Ok(Err(e)) = flushed {
            warn!(error = %e, "cannot write the dashboard history");
        }
    }
}

/// The proxy's config file and environment: `PROXY_*`.
const PROGRAM: cli_config::Program = cli_config::Program {
    env_prefix: "PROXY_",
    sections: &[],
    section_flags: &[],
};

fn main() -> anyhow::Result<()> {
    let loaded = cli_config::load::<Args>(&PROGRAM)?;
    if loaded.print_config {
        print!("{}", cli_config::render(&loaded.effective()));
        return Ok(());
    }
    let args = loaded.args;
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
    check(&args)?;
    let auth = match (
        &args.rpc_cookie_file,
        std::env::var(env::NODE_RPC_USER),
        std::env::var(env::NODE_RPC_PASSWORD),
    ) {
        (Some(path), _, _) => Auth::CookieFile(path.clone()),
        (None, Ok(user), Ok(password)) => Auth::UserPass { user, password },
        _ => bail!(
            "node credentials missing: set PROXY_RPC_USER and PROXY_RPC_PASSWORD, or --rpc-cookie-file"
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
    check_difficulty(args.difficulty, network)?;
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

    let options = JournalOptions {
        compact_every: args.journal_compact_every,
    };
    let (journal, recovered) = Journal::open_with(&args.journal, options)?;
    let mut payouts = PayoutConfig::new(fallback);
    payouts.window_factor = args.pplns_window_factor;
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
        refresh_interval: Duration::from_secs_f64(args.refresh_secs),
        crash_after_journal: args.fault_crash_after_journal,
        max_notify_line: stratum::DEFAULT_MAX_LINE_LEN,
        inconclusive_checks: proxy::pool::DEFAULT_INCONCLUSIVE_CHECKS,
        inconclusive_interval: proxy::pool::DEFAULT_INCONCLUSIVE_INTERVAL,
    };
    let config_line_len = config.max_notify_line;
    let pool = Pool::new(config, node, journal, &recovered);
    let history_path = args.history.clone().unwrap_or_else(|| {
        args.journal
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .join(HISTORY_FILE)
    });
    // The dashboard's history is not worth refusing to mine for: without it, the pages say so.
    match History::open(
        &history_path,
        HistoryConfig::default(),
        proxy::pool::unix_now(),
    ) {
        Ok(history) => {
            let history = Arc::new(history);
            info!(path = %history_path.display(), "dashboard history");
            pool.set_history(Arc::clone(&history));
            tokio::spawn(flush_history(history));
        }
        Err(e) => warn!(path = %history_path.display(), error = %e, "no dashboard history"),
    }
    let sender = alerts::Sender::start(&args.alerts.config())?;
    if sender.enabled() {
        info!(urls = args.alerts.alert_url.len(), "alert webhooks on");
        pool.set_alerting(Alerting::new(
            sender,
            AlertingConfig {
                offline_after: (args.alert_offline_secs > 0)
                    .then(|| Duration::from_secs(args.alert_offline_secs)),
                min_hash_rate: (args.alert_min_hash_rate > 0.0).then_some(args.alert_min_hash_rate),
                low_for: Duration::from_secs(args.alert_low_secs),
                window: proxy::http::DEFAULT_WINDOW,
                check_every: Duration::from_secs(1),
            },
        ));
        tokio::spawn(proxy::alerting::run(Arc::clone(&pool)));
    }
    for (hash, height, hex) in recovered.unsubmitted {
        info!(%hash, height, "resubmitting a journaled block");
        pool.spawn_submit(hash, Some(height), hex);
    }
    tokio::spawn(Arc::clone(&pool).run_node_loop());

    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    info!(addr = %listener.local_addr()?, "stratum server listening");
    let server = ServerConfig {
        vardiff: VardiffConfig {
            initial_difficulty: args.difficulty,
            target_interval: Duration::from_secs_f64(args.share_secs),
            max_share_rate: max_share_rate(args.max_share_rate, args.share_secs),
            ..VardiffConfig::for_network(network)
        },
        max_connections: args.max_connections,
        max_per_ip: args.max_per_ip,
        idle_timeout: Duration::from_secs(args.idle_secs),
        handshake_timeout: Duration::from_secs(args.handshake_secs),
        write_timeout: Duration::from_secs(args.write_timeout_secs),
        max_workers: args.max_workers,
        ban_after_invalid: args.ban_after_invalid,
        ban_decay: Duration::from_secs(args.ban_decay_secs),
        ban_for: Duration::from_secs(args.ban_secs),
        ipv6_prefix: args.ipv6_prefix,
        // The same line limit the coinbase budget keeps mining.notify within.
        max_line_len: config_line_len,
        ..ServerConfig::default()
    };
    server.validate()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if let Some(addr) = &args.http {
        let http = TcpListener::bind(addr)
            .await
            .with_context(|| format!("--http: listening on {addr}"))?;
        info!(addr = %http.local_addr()?, "metrics and stats over http");
        tokio::spawn(proxy::http::serve_with(
            http,
            Arc::clone(&pool),
            proxy::http::HttpConfig {
                explorer_url: args.explorer_url.clone(),
                ..proxy::http::HttpConfig::default()
            },
            stopped.clone(),
        ));
    }
    let serving = tokio::spawn(downstream::serve(
        listener,
        Arc::clone(&pool),
        server,
        stopped,
    ));
    // SIGTERM (a Mesos kill, with its grace period) stops it as Ctrl-C does:
    // sessions end and their in-flight block submissions get their answers.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    info!("shutting down: asking miners to reconnect");
    // The whole stop fits in --drain-secs: sessions get up to 2 s of it, found blocks the rest.
    let drain = Duration::from_secs(args.drain_secs);
    let deadline = tokio::time::Instant::now() + drain;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2).min(drain), serving).await;
    let waiting = pool
        .finish_submissions(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await;
    if waiting == 0 {
        info!("every found block has the node's answer");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        let base = ["proxy", "--fallback-address", "addr"];
        Args::try_parse_from(base.iter().chain(extra))
    }

    #[test]
    fn the_scheduler_names_the_alert_url_as_the_proxy_reads_it() {
        let cmd = cli_config::command::<Args>(&PROGRAM);
        let url = cmd
            .get_arguments()
            .find(|arg| arg.get_long() == Some("alert-url"))
            .and_then(|arg| arg.get_env())
            .expect("--alert-url has an environment name");
        assert_eq!(url.to_string_lossy(), env::PROXY_ALERT_URL);
    }

    #[test]
    fn every_flag_is_in_the_proxy_environment_namespace() {
        let cmd = cli_config::command::<Args>(&PROGRAM);
        for arg in cmd.get_arguments() {
            let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
                continue;
            };
            let expected = format!("PROXY_{}", long.replace('-', "_").to_uppercase());
            assert_eq!(env.to_string_lossy(), expected, "--{long}");
        }
    }

    #[test]
    fn old_seconds_flags_still_work() {
        let args = parse(&["--share-seconds", "7", "--idle-seconds", "9"]).unwrap();
        assert_eq!((args.share_secs, args.idle_secs), (7.0, 9));
    }

    #[test]
    fn defaults_parse_and_pass() {
        let args = parse(&[]).unwrap();
        check(&args).unwrap();
        check_difficulty(args.difficulty, Network::Regtest).unwrap();
        assert_eq!(args.max_per_ip, proxy::downstream::DEFAULT_MAX_PER_IP);
    }

    #[test]
    fn out_of_range_values_are_errors_naming_the_flag() {
        for (flag, value) in [
            ("--difficulty", "NaN"),
            ("--difficulty", "0"),
            ("--difficulty", "-1"),
            ("--difficulty", "inf"),
            ("--difficulty", "1e300"),
            ("--share-secs", "NaN"),
            ("--share-secs", "0"),
            ("--share-secs", "1e20"),
            ("--refresh-secs", "inf"),
            ("--refresh-secs", "0.5"),
            ("--pplns-window-factor", "0"),
            ("--pplns-window-factor", "NaN"),
            ("--max-share-rate", "inf"),
            ("--journal-compact-every", "0"),
            ("--fee-bps", "10001"),
            ("--max-connections", "0"),
            ("--max-per-ip", "0"),
            ("--idle-secs", "0"),
            ("--idle-secs", "18446744073709551615"),
            ("--handshake-secs", "0"),
            ("--write-timeout-secs", "0"),
            ("--max-workers", "0"),
            ("--ban-after-invalid", "0"),
            ("--ban-decay-secs", "0"),
            ("--ban-secs", "99999999999"),
            ("--ipv6-prefix", "0"),
            ("--ipv6-prefix", "129"),
        ] {
            let e = parse(&[&format!("{flag}={value}")])
                .expect_err(&format!("{flag} {value} accepted"));
            assert_eq!(e.kind(), ErrorKind::ValueValidation, "{flag} {value}: {e}");
            let text = e.to_string();
            assert!(
                text.contains(flag) && text.contains(value),
                "{flag} {value}: {text}"
            );
        }
        // The bounds themselves are fine.
        for (flag, value) in [
            ("--share-secs", "0.001"),
            ("--refresh-secs", "1"),
            ("--fee-bps", "10000"),
            ("--ipv6-prefix", "128"),
            ("--difficulty", "1e15"),
        ] {
            parse(&[flag, value]).unwrap_or_else(|e| panic!("{flag} {value}: {e}"));
        }
    }

    #[test]
    fn checks_between_flags() {
        let fee = parse(&["--fee-bps", "100"]).unwrap();
        let e = check(&fee).unwrap_err().to_string();
        assert!(e.contains("--operator-address"), "{e}");
        let paid = parse(&["--fee-bps", "100", "--operator-address", "op"]).unwrap();
        check(&paid).unwrap();
        let max = CoinbaseConfig::default().max_tag_len();
        let tag = "t".repeat(max + 1);
        let e = check(&parse(&["--tag", &tag]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tag"), "{e}");
        check(&parse(&["--tag", &tag[1..]]).unwrap()).unwrap();
        // A share rate limit below four times vardiff's aim is refused, not raised.
        let low = parse(&["--share-secs", "0.05", "--max-share-rate", "20"]).unwrap();
        let e = check(&low).unwrap_err().to_string();
        assert!(e.contains("--max-share-rate 20 is below 80"), "{e}");
        check(&parse(&["--share-secs", "0.05", "--max-share-rate", "80"]).unwrap()).unwrap();
        // Unset, it is 20, or four times the aim when that is more.
        assert_eq!(max_share_rate(None, 10.0), 20.0);
        assert_eq!(max_share_rate(None, 0.05), 80.0);
        assert_eq!(max_share_rate(Some(33.0), 10.0), 33.0);
    }

    #[test]
    fn difficulty_below_the_network_floor_is_an_error() {
        let e = check_difficulty(0.5, Network::Bitcoin)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--difficulty 0.5"), "{e}");
        check_difficulty(1.0, Network::Bitcoin).unwrap();
        check_difficulty(0.5, Network::Testnet4).unwrap();
    }
}
