//! `stratum-load`: a load generator for the proxy. It opens many stratum connections from a
//! range of loopback source addresses (127.0.0.x on), each subscribing and authorizing.
//!
//! * `--mode fan-out` (the default) reports how long each new job's `mining.notify` took to
//!   reach every connection ([`fanout`]), one JSON line per job, until `--jobs` jobs were seen.
//! * `--mode flood` keeps those connections as honest miners submitting real shares
//!   ([`honest`], mined by [`work`]) at `--honest-share-rate` in all, while `--attack-connections`
//!   from another address range flood junk submits at `--attack-rate` ([`attack`]), for
//!   `--duration` seconds. It prints a line when every connection is open, one per
//!   `--report-secs` and a summary (each with a `"report"` member), and the fan-out lines too.
//!
//! Every report is one JSON line on stdout; progress goes to stderr.

mod attack;
mod fanout;
mod honest;
mod report;
mod wire;
mod work;

use anyhow::{bail, ensure};
use attack::{Attack, AttackConfig, AttackStats};
use clap::{Parser, ValueEnum};
use fanout::{Arrivals, FanOut};
use honest::Honest;
use report::{cpu_seconds, Latency};
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use work::HashPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Time each job's notify fan-out.
    FanOut,
    /// Honest miners submitting shares beside an attack flood.
    Flood,
}

#[derive(Debug, Parser)]
#[command(
    name = "stratum-load",
    about = "Open N stratum miners against a pool and time job fan-out, or share answers under a submit flood"
)]
struct Args {
    /// The pool, host:port.
    #[arg(long)]
    pool: SocketAddr,
    /// Connections to open (the honest ones, in flood mode).
    #[arg(long, default_value = "1000")]
    connections: usize,
    /// Source addresses 127.0.0.<first>.. are used round-robin (loopback only; past .255 they
    /// go on into 127.0.1.x).
    #[arg(long, default_value = "2")]
    first_source: u8,
    #[arg(long, default_value = "16")]
    sources: u16,
    /// Worker name to authorize (a payout address for the mesos-miner proxy).
    #[arg(long)]
    user: String,
    #[arg(long, value_enum, default_value = "fan-out")]
    mode: Mode,
    /// Fan-out: stop after this many new jobs (after the first) were seen everywhere.
    #[arg(long, default_value = "5")]
    jobs: usize,
    /// Fan-out: give up after this many seconds.
    #[arg(long, default_value = "300")]
    timeout: u64,
    /// Ask the pool for this share difficulty (`mining.suggest_difficulty` before authorizing).
    #[arg(long)]
    suggest_difficulty: Option<f64>,
    /// Flood: seconds of flood once every honest connection is open.
    #[arg(long, default_value = "60")]
    duration: u64,
    /// Flood: real shares a second the honest connections submit in all, round-robin (a share
    /// at difficulty 2^-16 costs about 65,536 double SHA-256 hashes).
    #[arg(long, default_value = "20")]
    honest_share_rate: f64,
    /// Flood: threads hashing the honest shares (the attack's real shares get one more).
    #[arg(long, default_value = "1")]
    hash_threads: usize,
    /// Flood: attack connections at once (0: no attack).
    #[arg(long, default_value = "64")]
    attack_connections: usize,
    /// Flood: junk submits a second offered in all.
    #[arg(long, default_value = "2000")]
    attack_rate: f64,
    /// Flood: the attack's source addresses start here...
    #[arg(long, default_value = "127.1.0.1")]
    attack_first_source: Ipv4Addr,
    /// ...and number this many (a banned address is left for the next).
    #[arg(long, default_value = "16384")]
    attack_sources: u32,
    /// Flood: seconds between interval reports.
    #[arg(long, default_value = "10")]
    report_secs: u64,
}

impl Args {
    /// The honest connection `i`'s source address.
    fn source(&self, i: usize) -> Ipv4Addr {
        let offset = u32::from(self.first_source) + (i % usize::from(self.sources)) as u32;
        Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + offset)
    }

    fn attacking(&self) -> bool {
        self.mode == Mode::Flood && self.attack_connections > 0
    }

    /// Checks what clap's types do not.
    fn check(&self) -> anyhow::Result<()> {
        ensure!(self.connections > 0, "--connections must be at least 1");
        ensure!(
            self.first_source > 0,
            "--first-source 0 is 127.0.0.0, not an address to bind"
        );
        ensure!(self.sources > 0, "--sources must be at least 1");
        if let Some(d) = self.suggest_difficulty {
            ensure!(
                d.is_finite() && d > 0.0,
                "--suggest-difficulty must be a positive number, got {d}"
            );
        }
        if self.mode != Mode::Flood {
            return Ok(());
        }
        ensure!(self.duration > 0, "--duration must be at least 1 second");
        ensure!(self.report_secs > 0, "--report-secs must be at least 1");
        ensure!(
            self.honest_share_rate.is_finite() && self.honest_share_rate >= 0.0,
            "--honest-share-rate must be a number of shares a second, got {}",
            self.honest_share_rate
        );
        ensure!(self.hash_threads > 0, "--hash-threads must be at least 1");
        if !self.attacking() {
            return Ok(());
        }
        ensure!(
            self.attack_rate.is_finite() && self.attack_rate > 0.0,
            "--attack-rate must be a positive number of submits a second, got {}",
            self.attack_rate
        );
        ensure!(
            self.attack_sources as usize >= self.attack_connections,
            "--attack-sources ({}) must be at least --attack-connections ({}): each connection \
             needs its own address",
            self.attack_sources,
            self.attack_connections
        );
        let first = u32::from(self.attack_first_source);
        let last = u64::from(first) + u64::from(self.attack_sources) - 1;
        ensure!(
            self.attack_first_source.is_loopback()
                && last <= u64::from(u32::from(Ipv4Addr::new(127, 255, 255, 254))),
            "the attack's addresses {}.. (+{}) must lie in 127.0.0.0/8",
            self.attack_first_source,
            self.attack_sources
        );
        let honest_first = u32::from(self.source(0));
        let honest_last = honest_first + u32::from(self.sources) - 1;
        ensure!(
            u64::from(honest_last) < u64::from(first) || u64::from(honest_first) > last,
            "the attack's addresses overlap the honest ones ({}..={}): a ban would hit both",
            self.source(0),
            Ipv4Addr::from(honest_last)
        );
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.check()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            match args.mode {
                Mode::FanOut => fan_out(args).await,
                Mode::Flood => flood(args).await,
            }
        })
}

/// Opens the honest connections, one after another.
async fn open(args: &Args, arrivals: &Arrivals) -> anyhow::Result<Honest> {
    let started = Instant::now();
    let mut honest = Honest::new(&args.user);
    for i in 0..args.connections {
        honest
            .connect(args.pool, args.source(i), args.suggest_difficulty, arrivals)
            .await?;
    }
    eprintln!(
        "{} connections open in {:.1} s",
        honest.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(honest)
}

async fn fan_out(args: Args) -> anyhow::Result<()> {
    let arrivals = Arrivals::default();
    let honest = open(&args, &arrivals).await?;
    let mut fan_out = FanOut::new(arrivals);
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    while fan_out.jobs_done() <= args.jobs {
        if Instant::now() > deadline {
            bail!("timed out after {} jobs", fan_out.jobs_done());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        fan_out.report_completed(honest.len());
    }
    Ok(())
}

async fn flood(args: Args) -> anyhow::Result<()> {
    let arrivals = Arrivals::default();
    let opening = Instant::now();
    let honest = Arc::new(open(&args, &arrivals).await?);
    let connections = honest.len();
    println!(
        "{}",
        json!({"report": "connected", "connections": connections,
               "seconds": round1(opening.elapsed().as_secs_f64()),
               "generator_cpu_s": round1(cpu_seconds())})
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let began = Instant::now();
    let cpu_at_start = cpu_seconds();
    let mut attack = if args.attacking() {
        Some(Attack::start(
            AttackConfig {
                pool: args.pool,
                user: args.user.clone(),
                connections: args.attack_connections,
                rate: args.attack_rate,
                first_source: args.attack_first_source,
                sources: args.attack_sources,
                suggest: args.suggest_difficulty.unwrap_or(1.0 / 65_536.0),
            },
            HashPool::new("attack-hash", 1, args.attack_connections)?,
            stop.clone(),
        ))
    } else {
        None
    };
    let mining = tokio::spawn(Arc::clone(&honest).mine(
        args.honest_share_rate,
        HashPool::new("honest-hash", args.hash_threads, 2 * args.hash_threads)?,
        stop.clone(),
    ));
    let mut fan_out = FanOut::new(arrivals);
    let end = began + Duration::from_secs(args.duration);
    let every = Duration::from_secs(args.report_secs);
    let mut next_report = began + every;
    let (mut last_accepted, mut last_submitted) = (0usize, 0u64);
    let mut last_attack = AttackStats::default();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fan_out.report_completed(connections);
        if Instant::now() < next_report {
            continue;
        }
        next_report += every;
        let (latency, accepted, submitted) = {
            let stats = honest.stats();
            let new = &stats.accepted_ms[last_accepted..];
            (Latency::of(new), stats.accepted_ms.len(), stats.submitted)
        };
        let a = attack.as_ref().map(Attack::stats).unwrap_or_default();
        println!(
            "{}",
            json!({"report": "interval", "seconds": round1(began.elapsed().as_secs_f64()),
                   "honest_submitted": submitted - last_submitted,
                   "honest_accepted": accepted - last_accepted,
                   "honest_accepted_latency": latency.to_json(),
                   "attack_sent": a.sent() - last_attack.sent(),
                   "attack_answered": a.answered() - last_attack.answered(),
                   "attack_sessions": a.sessions - last_attack.sessions,
                   "generator_cpu_s": round1(cpu_seconds())})
        );
        (last_accepted, last_submitted, last_attack) = (accepted, submitted, a);
    }
    let seconds = began.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let _ = mining.await;
    if let Some(attack) = attack.as_mut() {
        attack.join().await;
    }
    // The honest answers still in flight.
    let drain = Instant::now() + Duration::from_secs(2);
    while honest.unanswered() > 0 && Instant::now() < drain {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fan_out.report_completed(connections);
    let cpu = cpu_seconds();
    let honest_json = {
        let s = honest.stats();
        json!({
            "connections": connections,
            "closed_by_pool": s.closed,
            "unauthorized": s.unauthorized,
            "scheduled": s.scheduled,
            "skipped_hashers_busy": s.skipped,
            "hashes": s.hashes,
            "submitted": s.submitted,
            "answers": s.outcomes,
            "unanswered": honest.unanswered(),
            "accepted": s.accepted_ms.len(),
            "accepted_per_s": round1(s.accepted_ms.len() as f64 / seconds),
            "accepted_latency": Latency::of(&s.accepted_ms).to_json(),
            "rejected_latency": Latency::of(&s.rejected_ms).to_json(),
        })
    };
    let attack_json = attack.as_ref().map(|attack| {
        let a = attack.stats();
        json!({
            "connections": args.attack_connections,
            "rate_target": args.attack_rate,
            "sent": {"low": a.sent_low, "stale": a.sent_stale,
                     "duplicate": a.sent_duplicate, "share": a.sent_shares},
            "sent_total": a.sent(),
            "offered_per_s": round1(a.sent() as f64 / seconds),
            "answers": a.outcomes,
            "answered_per_s": round1(a.answered() as f64 / seconds),
            "unanswered": a.unanswered,
            "missed": a.missed,
            "sessions": a.sessions,
            "refused": a.refused,
            "connect_errors": a.connect_errors,
            "hashes": a.hashes,
        })
    });
    println!(
        "{}",
        json!({"report": "summary", "seconds": round1(seconds),
               "honest": honest_json, "attack": attack_json,
               "generator_cpu_s": round1(cpu),
               "generator_cpu_s_flood": round1(cpu - cpu_at_start)})
    );
    Ok(())
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Args, String> {
        let base = ["stratum-load", "--pool", "127.0.0.1:3333", "--user", "u"];
        let args = Args::try_parse_from(base.iter().chain(extra)).map_err(|e| e.to_string())?;
        args.check().map_err(|e| e.to_string())?;
        Ok(args)
    }

    #[test]
    fn the_default_mode_is_fan_out_with_the_old_addresses() {
        let a = args(&["--sources", "200"]).unwrap();
        assert_eq!(a.mode, Mode::FanOut);
        assert!(!a.attacking());
        assert_eq!(a.source(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(a.source(199), Ipv4Addr::new(127, 0, 0, 201));
        assert_eq!(a.source(200), Ipv4Addr::new(127, 0, 0, 2));
    }

    #[test]
    fn many_honest_sources_go_on_past_the_last_octet() {
        let a = args(&["--mode", "flood", "--sources", "400"]).unwrap();
        assert!(a.attacking());
        assert_eq!(a.source(253), Ipv4Addr::new(127, 0, 0, 255));
        assert_eq!(a.source(254), Ipv4Addr::new(127, 0, 1, 0));
        assert_eq!(a.source(399), Ipv4Addr::new(127, 0, 1, 145));
        assert_eq!((a.attack_rate, a.honest_share_rate), (2000.0, 20.0));
    }

    #[test]
    fn bad_arguments_are_refused() {
        let refused = |extra: &[&str], why: &str| {
            let err = args(extra).map(|_| ()).unwrap_err();
            assert!(err.contains(why), "{extra:?}: {err}");
        };
        refused(&["--connections", "0"], "--connections");
        refused(&["--sources", "0"], "--sources");
        refused(&["--first-source", "0"], "--first-source");
        refused(&["--suggest-difficulty", "0"], "--suggest-difficulty");
        refused(&["--mode", "burst"], "invalid value");
        refused(&["--mode", "flood", "--duration", "0"], "--duration");
        refused(
            &["--mode", "flood", "--honest-share-rate=-1"],
            "--honest-share-rate",
        );
        refused(&["--mode", "flood", "--attack-rate", "0"], "--attack-rate");
        refused(
            &[
                "--mode",
                "flood",
                "--attack-connections",
                "10",
                "--attack-sources",
                "5",
            ],
            "--attack-sources",
        );
        refused(
            &["--mode", "flood", "--attack-first-source", "10.0.0.1"],
            "127.0.0.0/8",
        );
        refused(
            &[
                "--mode",
                "flood",
                "--attack-first-source",
                "127.255.255.0",
                "--attack-sources",
                "1000",
            ],
            "127.0.0.0/8",
        );
        refused(
            &[
                "--mode",
                "flood",
                "--sources",
                "300",
                "--attack-first-source",
                "127.0.1.0",
            ],
            "overlap",
        );
        // Without an attack, its settings are not looked at; nor flood settings in fan-out mode.
        args(&[
            "--mode",
            "flood",
            "--attack-connections",
            "0",
            "--attack-rate",
            "0",
        ])
        .unwrap();
        args(&["--duration", "0"]).unwrap();
    }
}
