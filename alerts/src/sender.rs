//! Delivery: one bounded queue and one task per webhook URL. Each event is POSTed as JSON
//! ([`Event::body`]) with a timeout; a transport error, a timeout, a 5xx, 408 or 429 is
//! retried with doubling backoff, any other non-2xx answer is final. [`Sender::send`] only
//! enqueues (`try_send`): when a URL's queue is full the alert is dropped for that URL and
//! counted, so the caller (share handling, block submission) never waits on a webhook.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::Event;

/// The webhook flags, the same in every program (their environment names come from the
/// program's prefix: `PROXY_ALERT_URL`, `MESOS_MINER_ALERT_URL`).
#[derive(Debug, Clone, clap::Args)]
pub struct SenderArgs {
    /// Webhook URL (http:// or https://) that alerts are POSTed to as JSON; repeat or
    /// separate with commas for several. None: no alerts.
    /// (A secret: a Slack or Discord webhook URL holds its token, so `--print-config` shows
    /// it redacted.)
    #[arg(
        long = "alert-url",
        value_name = "URL",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub alert_url: Vec<String>,
    /// Seconds one POST may take before it counts as failed.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = secs_in(0.001, 300.0))]
    pub alert_timeout_secs: f64,
    /// Retries of a failed POST, after 1 s, 2 s, 4 s... (at most 60 s apart).
    #[arg(long, value_name = "N", default_value = "5", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub alert_retries: u32,
    /// The first retry's delay in seconds (doubling after each).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = secs_in(0.001, 60.0))]
    pub alert_backoff_secs: f64,
    /// Alerts waiting per URL; more are dropped (counted in /metrics).
    #[arg(long, value_name = "N", default_value = "256", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub alert_queue: u64,
    /// PEM file of CA certificates trusted for https:// webhooks beside Mozilla's roots
    /// (for a receiver with a private certificate).
    #[arg(long, value_name = "PEM")]
    pub alert_ca_file: Option<std::path::PathBuf>,
}

/// A clap parser for a number of seconds from `min` to `max`.
fn secs_in(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync {
    move |s| {
        let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
        if v >= min && v <= max {
            Ok(v)
        } else {
            Err(format!("must be from {min} to {max} seconds"))
        }
    }
}

impl SenderArgs {
    /// The sender's settings.
    pub fn config(&self) -> SenderConfig {
        SenderConfig {
            urls: self.alert_url.clone(),
            timeout: Duration::from_secs_f64(self.alert_timeout_secs),
            retries: self.alert_retries,
            backoff_initial: Duration::from_secs_f64(self.alert_backoff_secs),
            backoff_max: Duration::from_secs(60),
            queue: self.alert_queue as usize,
            ca_file: self.alert_ca_file.clone(),
        }
    }
}

/// How alerts are delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderConfig {
    /// Webhooks, each sent every event.
    pub urls: Vec<String>,
    /// Per POST.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first retry's delay, doubling up to `backoff_max`.
    pub backoff_initial: Duration,
    /// The longest delay between retries.
    pub backoff_max: Duration,
    /// Queue length per URL.
    pub queue: usize,
    /// Extra CA certificates (PEM) for https:// URLs, beside Mozilla's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Delivery counters (per URL delivery: an event sent to two URLs counts twice).
#[derive(Debug, Default)]
pub struct Counters {
    /// Answered 2xx.
    pub sent: AtomicU64,
    /// Given up on (retries exhausted or a final error answer).
    pub failed: AtomicU64,
    /// Dropped because the URL's queue was full.
    pub dropped: AtomicU64,
    /// Attempts after the first.
    pub retries: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Bad sender settings.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// Not an `http://` or `https://` URL.
    #[error("--alert-url {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused: a parse error or a wrong scheme.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("alert HTTP client: {0}")]
    Client(String),
}

/// Whether `url` can take alerts: an `http://` or `https://` URL.
pub fn check_url(url: &str) -> Result<(), SenderError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| SenderError::BadUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(SenderError::BadUrl {
            url: url.to_owned(),
            reason: format!(
                "scheme {:?}: webhooks are http:// or https://",
                parsed.scheme()
            ),
        });
    }
    Ok(())
}

/// The handle programs keep: cheap to clone, `send` never blocks.
#[derive(Debug, Clone, Default)]
pub struct Sender {
    queues: Arc<Vec<(String, mpsc::Sender<Arc<Event>>)>>,
    counters: Arc<Counters>,
}

impl Sender {
    /// A sender that sends nothing (no URLs).
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Starts one delivery task per URL on the current tokio runtime.
    pub fn start(config: &SenderConfig) -> Result<Self, SenderError> {
        for url in &config.urls {
            check_url(url)?;
        }
        let tls = tls_config::client_config(config.ca_file.as_deref())
            .map_err(|e| SenderError::Client(format!("--alert-ca-file: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .tls_backend_preconfigured(tls)
            .https_only(false)
            .build()
            .map_err(|e| SenderError::Client(e.to_string()))?;
        let counters = Arc::new(Counters::default());
        let queues = config
            .urls
            .iter()
            .map(|url| {
                let (tx, rx) = mpsc::channel(config.queue.max(1));
                tokio::spawn(deliver(
                    client.clone(),
                    url.clone(),
                    rx,
                    config.clone(),
                    Arc::clone(&counters),
                ));
                (url.clone(), tx)
            })
            .collect();
        Ok(Self {
            queues: Arc::new(queues),
            counters,
        })
    }

    /// Whether any URL is configured.
    pub fn enabled(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Queues `event` for every URL; where a queue is full it is dropped and counted.
    pub fn send(&self, event: Event) {
        if self.queues.is_empty() {
            return;
        }
        debug!(kind = event.kind.name(), summary = %event.summary, "alert");
        let event = Arc::new(event);
        for (url, queue) in self.queues.iter() {
            if queue.try_send(Arc::clone(&event)).is_err() {
                Counters::add(&self.counters.dropped);
                warn!(%url, kind = event.kind.name(), "alert queue full: alert dropped");
            }
        }
    }

    /// The delivery counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Why one POST did not succeed.
enum Failure {
    /// Worth retrying.
    Retry(String),
    /// Final.
    Final(String),
}

async fn post(client: &reqwest::Client, url: &str, body: &str) -> Result<(), Failure> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "mesos-miner-alerts")
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        Err(Failure::Retry(format!("answered {status}")))
    } else {
        Err(Failure::Final(format!("answered {status}")))
    }
}

/// One URL's task: each event in turn, retried with backoff, until the queue closes.
async fn deliver(
    client: reqwest::Client,
    url: String,
    mut rx: mpsc::Receiver<Arc<Event>>,
    config: SenderConfig,
    counters: Arc<Counters>,
) {
    while let Some(event) = rx.recv().await {
        let body = event.body();
        let mut wait = config.backoff_initial;
        let mut attempt = 0;
        loop {
            match post(&client, &url, &body).await {
                Ok(()) => {
                    Counters::add(&counters.sent);
                    debug!(%url, kind = event.kind.name(), "alert sent");
                    break;
                }
                Err(Failure::Retry(reason)) if attempt < config.retries => {
                    attempt += 1;
                    Counters::add(&counters.retries);
                    debug!(%url, %reason, attempt, "alert not delivered; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(config.backoff_max);
                }
                Err(Failure::Retry(reason) | Failure::Final(reason)) => {
                    Counters::add(&counters.failed);
                    warn!(%url, %reason, kind = event.kind.name(), "alert not delivered: given up");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
