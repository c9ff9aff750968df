//! `stratum-load`: a load generator for the proxy. Opens many stratum
//! connections from a range of loopback source addresses (127.0.0.x), each
//! subscribing and authorizing, then reports how long each new job's
//! `mining.notify` took to reach every connection (spread from the first
//! arrival: p50/p99/max), one JSON line per job, until `--jobs` jobs were seen.

use anyhow::bail;
use clap::Parser;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

#[derive(Debug, Parser)]
#[command(
    name = "stratum-load",
    about = "Open N stratum miners against a pool and time job fan-out"
)]
struct Args {
    /// The pool, host:port.
    #[arg(long)]
    pool: SocketAddr,
    /// Connections to open.
    #[arg(long, default_value = "1000")]
    connections: usize,
    /// Source addresses 127.0.0.<first>.. are used round-robin (loopback only).
    #[arg(long, default_value = "2")]
    first_source: u8,
    #[arg(long, default_value = "16")]
    sources: u8,
    /// Worker name to authorize (a payout address for the mesos-miner proxy).
    #[arg(long)]
    user: String,
    /// Stop after this many new jobs (after the first) were seen everywhere.
    #[arg(long, default_value = "5")]
    jobs: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value = "300")]
    timeout: u64,
}

/// Arrival times of each job id's notify, across connections.
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let arrivals: Arrivals = Arc::default();
    let started = Instant::now();
    let mut opened = 0usize;
    for i in 0..args.connections {
        let source = Ipv4Addr::new(
            127,
            0,
            0,
            args.first_source + (i % args.sources as usize) as u8,
        );
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
        let stream = match socket.connect(args.pool).await {
            Ok(s) => s,
            Err(e) => bail!("connection {i} from {source}: {e}"),
        };
        let (read, mut write) = stream.into_split();
        let hello = format!(
            "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"stratum-load\"]}}\n{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{}\",\"x\"]}}\n",
            args.user
        );
        write.write_all(hello.as_bytes()).await?;
        let arrivals = Arc::clone(&arrivals);
        tokio::spawn(async move {
            let _keep = write;
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("\"mining.notify\"") {
                    let at = Instant::now();
                    if let Some(id) = job_id(&line).map(str::to_owned) {
                        arrivals.lock().unwrap().entry(id).or_default().push(at);
                    }
                }
            }
        });
        opened += 1;
    }
    eprintln!(
        "{opened} connections open in {:.1} s; waiting for jobs",
        started.elapsed().as_secs_f64()
    );
    let mut cpu_at_last_job = cpu_seconds();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut reported: Vec<String> = Vec::new();
    while reported.len() <= args.jobs {
        if Instant::now() > deadline {
            bail!("timed out after {} jobs", reported.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let done: Vec<(String, Vec<Instant>)> = {
            let map = arrivals.lock().unwrap();
            map.iter()
                .filter(|(id, t)| t.len() >= opened && !reported.contains(id))
                .map(|(id, t)| (id.clone(), t.clone()))
                .collect()
        };
        for (id, mut times) in done {
            times.sort();
            let first = times[0];
            let ms = |q: f64| {
                let idx = ((times.len() as f64 - 1.0) * q).round() as usize;
                (times[idx] - first).as_secs_f64() * 1e3
            };
            // The first job reaches connections as they connect: not a fan-out figure.
            // The generator's CPU time since the last job is printed beside it: it shares the
            // machine with the proxy, and what it uses the proxy does not get.
            let cpu = cpu_seconds();
            if !reported.is_empty() {
                println!(
                    "{{\"job\":\"{id}\",\"connections\":{},\"p50_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1},\"generator_cpu_ms\":{:.0}}}",
                    times.len(),
                    ms(0.5),
                    ms(0.99),
                    ms(1.0),
                    (cpu - cpu_at_last_job) * 1e3
                );
            }
            cpu_at_last_job = cpu;
            reported.push(id);
        }
    }
    Ok(())
}

/// The job id of a `mining.notify` line (its first param), found without parsing the line: the
/// generator shares the cores with the proxy, so its own work per arrival is kept small.
fn job_id(line: &str) -> Option<&str> {
    let start = line.find("\"params\":[\"")? + "\"params\":[\"".len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_read_from_notify_lines() {
        let line = r#"{"id":null,"method":"mining.notify","params":["1f",["ab"],true]}"#;
        assert_eq!(job_id(line), Some("1f"));
        assert_eq!(job_id(r#"{"method":"mining.notify","params":[]}"#), None);
        assert!(cpu_seconds() >= 0.0);
    }
}
