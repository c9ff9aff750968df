//! Job fan-out timing: when each job's `mining.notify` reached each connection, and one JSON
//! line per job once it reached all of them (spread from the first arrival: p50/p99/max, and
//! the generator's own CPU time since the previous job's line).

use crate::report::{cpu_seconds, quantile};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Arrival times of each job id's notify, across connections.
#[derive(Clone, Default)]
pub struct Arrivals(Arc<Mutex<HashMap<String, Vec<Instant>>>>);

impl Arrivals {
    /// `job` reached one more connection at `at`.
    pub fn record(&self, job: &str, at: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(job) {
            Some(times) => times.push(at),
            None => {
                map.insert(job.to_owned(), vec![at]);
            }
        }
    }
}

/// Reports jobs as they complete.
pub struct FanOut {
    arrivals: Arrivals,
    reported: HashSet<String>,
    cpu_at_last_job: f64,
}

impl FanOut {
    pub fn new(arrivals: Arrivals) -> Self {
        Self {
            arrivals,
            reported: HashSet::new(),
            cpu_at_last_job: cpu_seconds(),
        }
    }

    /// Jobs seen everywhere so far (the first included, which is never printed).
    pub fn jobs_done(&self) -> usize {
        self.reported.len()
    }

    /// Prints a line for each job that has now reached `connections` connections.
    pub fn report_completed(&mut self, connections: usize) {
        let done: Vec<(String, Vec<Instant>)> = {
            let map = self.arrivals.0.lock().unwrap_or_else(|e| e.into_inner());
            map.iter()
                .filter(|(id, t)| t.len() >= connections && !self.reported.contains(*id))
                .map(|(id, t)| (id.clone(), t.clone()))
                .collect()
        };
        for (id, mut times) in done {
            times.sort();
            let first = times[0];
            let spread: Vec<f64> = times
                .iter()
                .map(|t| (*t - first).as_secs_f64() * 1e3)
                .collect();
            // The first job reaches connections as they connect: not a fan-out figure.
            // The generator's CPU time since the last job is printed beside it: it shares the
            // machine with the proxy, and what it uses the proxy does not get.
            let cpu = cpu_seconds();
            if !self.reported.is_empty() {
                println!(
                    "{{\"job\":\"{id}\",\"connections\":{},\"p50_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1},\"generator_cpu_ms\":{:.0}}}",
                    times.len(),
                    quantile(&spread, 0.5),
                    quantile(&spread, 0.99),
                    quantile(&spread, 1.0),
                    (cpu - self.cpu_at_last_job) * 1e3
                );
            }
            self.cpu_at_last_job = cpu;
            self.reported.insert(id);
        }
    }
}
