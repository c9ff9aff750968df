//! The proxy's shared state and its node loop: the live jobs built from the
//! node's templates (one longpoll kept in flight, never abandoned while the node
//! holds it, plus plain templates on a timer and after every found block), the
//! PPLNS window, the counters, and found-block handling (journal first, then
//! `submitblock` retried until the node answers).

use crate::budget::CoinbaseBudget;
use crate::coinbase::{CoinbaseConfig, CoinbaseParts};
use crate::history::History;
use crate::jobs::{Job, JobBook, DEFAULT_LIVE_JOBS};
use crate::journal::{Entry, Journal, JournalError, Recovered};
use crate::payouts::{PayoutConfig, PplnsWindow};
use crate::upstream::{BlockTemplate, NodeClient, SubmitBlockOutcome, UpstreamError};
use bitcoin::{BlockHash, Network, ScriptBuf};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

/// How the pool runs.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The node's chain: worker names and payouts are addresses on it.
    pub network: Network,
    /// The coinbase scriptSig layout (tag, extranonce sizes).
    pub coinbase: CoinbaseConfig,
    /// The PPLNS payout policy.
    pub payouts: PayoutConfig,
    /// Longest wait between retries when the node fails (and after a template that gives
    /// no coinbase).
    pub poll_interval: Duration,
    /// Fetch a plain template (beside the longpoll) and rebuild the job this often
    /// (mempool changes, new PPLNS payouts).
    pub refresh_interval: Duration,
    /// Hang right after journaling a found block, before submitting it, so a
    /// test can `kill -9` the proxy there: proves no found block is lost.
    pub crash_after_journal: bool,
    /// The longest `mining.notify` line the miners accept (and the server sends):
    /// payouts are capped so the job's line fits ([`crate::budget`]).
    pub max_notify_line: usize,
    /// How often an `inconclusive` block is looked up again before it counts as stale.
    pub inconclusive_checks: u32,
    /// The wait before the first such look-up (doubling after each, up to a minute).
    pub inconclusive_interval: Duration,
}

/// Default [`PoolConfig::inconclusive_checks`]: with the default interval, about 40 minutes.
pub const DEFAULT_INCONCLUSIVE_CHECKS: u32 = 10;
/// Default [`PoolConfig::inconclusive_interval`].
pub const DEFAULT_INCONCLUSIVE_INTERVAL: Duration = Duration::from_secs(5);

/// Counters for `/api/stats` and the logs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Shares accepted (and journaled).
    pub accepted: AtomicU64,
    /// The sum of accepted share difficulties in thousandths, each share's truncated.
    pub accepted_difficulty_milli: AtomicU64,
    /// The exact sum of accepted share difficulties (an `f64` as bits): sub-milli
    /// difficulties, normal on regtest and for CPU miners, add up here too.
    accepted_difficulty_bits: AtomicU64,
    /// Rejected shares by reason (`stale`, `duplicate`, `journal-failed`, ...).
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Blocks found, whatever the node then answered.
    pub blocks_found: AtomicU64,
    /// Found blocks the node took as new and valid: `submitblock` answered `null`, or an
    /// `inconclusive` block later found in the best chain.
    pub blocks_accepted: AtomicU64,
    /// `submitblock` answered `duplicate`: the node already had the block, valid.
    pub blocks_duplicate: AtomicU64,
    /// `submitblock` answered `inconclusive` / `duplicate-inconclusive` (each is later also
    /// counted accepted or stale).
    pub blocks_inconclusive: AtomicU64,
    /// Inconclusive blocks that did not make it into the best chain (orphaned / stale).
    pub blocks_stale: AtomicU64,
    /// Blocks the node rejected, by the node's reason (`high-hash`, `duplicate-invalid`, ...).
    pub blocks_rejected: Mutex<BTreeMap<String, u64>>,
    /// `submitblock` attempts that failed in transport and were retried.
    pub submit_retries: AtomicU64,
    /// Stratum connections open now.
    pub connections: AtomicU64,
}

impl Stats {
    /// Adds an accepted share's difficulty to [`Stats::accepted_difficulty`].
    pub fn add_accepted_difficulty(&self, difficulty: f64) {
        let _ = self.accepted_difficulty_bits.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |bits| Some((f64::from_bits(bits) + difficulty).to_bits()),
        );
    }

    /// The sum of the difficulties of all accepted shares.
    pub fn accepted_difficulty(&self) -> f64 {
        f64::from_bits(self.accepted_difficulty_bits.load(Ordering::Relaxed))
    }

    /// Counts a block the node rejected for `reason`.
    pub fn block_rejected(&self, reason: &str) {
        *self
            .blocks_rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// Counts a rejected share for `reason`.
    pub fn reject(&self, reason: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }
}

/// Everything the miner sessions share.
pub struct Pool {
    /// How the pool runs.
    pub config: PoolConfig,
    /// The node's RPC client.
    pub node: NodeClient,
    /// The journal of found blocks and accepted shares.
    pub journal: Journal,
    /// The live jobs shares are checked against.
    pub jobs: Mutex<JobBook>,
    window: Mutex<PplnsWindow>,
    template: Mutex<Option<Arc<BlockTemplate>>>,
    /// New jobs for the sessions.
    pub jobs_tx: broadcast::Sender<Arc<Job>>,
    /// Ask the node loop for a new template now (after a found block).
    refresh: Notify,
    next_extranonce1: AtomicU32,
    /// Counters for `/api/stats` and the logs.
    pub stats: Stats,
    /// The dashboard's history, when the proxy keeps one ([`Pool::set_history`]).
    history: OnceLock<Arc<History>>,
    /// Alert webhooks, when configured ([`Pool::set_alerting`]).
    alerting: std::sync::OnceLock<crate::alerting::Alerting>,
    /// The block submissions still waiting for the node's answer, which a shutdown
    /// waits for ([`Pool::finish_submissions`]).
    submissions: TaskTracker,
}

impl Pool {
    /// The pool, with the PPLNS window rebuilt from the journal's shares (all of them, until
    /// the first template sizes the window by work).
    pub fn new(
        config: PoolConfig,
        node: NodeClient,
        journal: Journal,
        recovered: &Recovered,
    ) -> Arc<Self> {
        let mut window = PplnsWindow::from_config(&config.payouts);
        for (script, difficulty) in &recovered.shares {
            if let Ok(bytes) = hex::decode(script) {
                window.add(ScriptBuf::from_bytes(bytes), *difficulty);
            }
        }
        if journal.compaction_due() {
            // A long journal from the last run: keep only what the window still holds.
            journal.compact(window.retained());
        }
        let (jobs_tx, _) = broadcast::channel(64);
        Arc::new(Self {
            config,
            node,
            journal,
            jobs: Mutex::new(JobBook::new(DEFAULT_LIVE_JOBS)),
            window: Mutex::new(window),
            template: Mutex::new(None),
            jobs_tx,
            refresh: Notify::new(),
            // Random start so that restarts do not reuse extranonce1 values.
            next_extranonce1: AtomicU32::new(rand_u32()),
            stats: Stats::default(),
            history: OnceLock::new(),
            alerting: std::sync::OnceLock::new(),
            submissions: TaskTracker::new(),
        })
    }

    /// Keeps the dashboard's history in `history` from now on (once; later calls are ignored).
    pub fn set_history(&self, history: Arc<History>) {
        let _ = self.history.set(history);
    }

    /// The dashboard's history, if kept.
    pub fn history(&self) -> Option<&Arc<History>> {
        self.history.get()
    }

    /// An accepted share of `worker` for the history: found at a target of difficulty
    /// `work` (the work it stands for), its hash at `difficulty`.
    pub fn note_share(&self, worker: &str, work: f64, difficulty: f64) {
        if let Some(history) = self.history() {
            history.share(worker, work, difficulty, unix_now());
        }
    }

    /// A rejected share for the history (of `worker` if the connection authorized it).
    pub fn note_reject(&self, worker: Option<&str>, reason: &str) {
        if let Some(history) = self.history() {
            history.reject(worker, reason, unix_now());
        }
    }

    /// A found block for the history: `job`'s coinbase is its reward and split.
    pub fn note_block(&self, job: &Job, hash: &str, worker: &str) {
        let Some(history) = self.history() else {
            return;
        };
        let split = self.coinbase_outputs(job);
        history.block(dashboard::api::BlockView {
            height: job.template().height,
            hash: hash.to_owned(),
            time: unix_now(),
            worker: worker.to_owned(),
            outcome: "pending".into(),
            reward_sats: split.iter().map(|p| p.sats).sum(),
            split,
        });
    }

    /// The paying outputs of `job`'s coinbase (the witness commitment, worth 0, left out),
    /// largest first.
    fn coinbase_outputs(&self, job: &Job) -> Vec<dashboard::api::Payout> {
        let parts = job.coinbase();
        let zeros = |n: usize| vec![0u8; n];
        let Ok(tx) = parts.transaction(
            &zeros(parts.extranonce1_size),
            &zeros(parts.extranonce2_size),
        ) else {
            return Vec::new();
        };
        let mut out: Vec<dashboard::api::Payout> = tx
            .output
            .iter()
            .filter(|o| o.value.to_sat() > 0)
            .map(|o| dashboard::api::Payout {
                address: bitcoin::Address::from_script(&o.script_pubkey, self.config.network)
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| hex::encode(o.script_pubkey.as_bytes())),
                sats: o.value.to_sat(),
            })
            .collect();
        out.sort_by(|a, b| b.sats.cmp(&a.sats).then_with(|| a.address.cmp(&b.address)));
        out
    }

    /// `/api/v1/job/window`: the latest job and who its coinbase pays.
    pub fn job_view(&self) -> dashboard::api::JobView {
        let Some(job) = self.latest_job() else {
            return dashboard::api::JobView::default();
        };
        let template = job.template();
        dashboard::api::JobView {
            ready: true,
            height: template.height,
            previous_block: template.previousblockhash.to_string(),
            transactions: template.transactions.len(),
            fees_sats: template.transactions.iter().map(|t| t.fee.to_sat()).sum(),
            coinbase_value_sats: template.coinbasevalue.to_sat(),
            network_difficulty: job.network_difficulty(),
            window: self.coinbase_outputs(&job),
            window_shares: self.window.lock().unwrap_or_else(|e| e.into_inner()).len(),
        }
    }

    /// Turns alerts on (once; later calls are ignored).
    pub fn set_alerting(&self, alerting: crate::alerting::Alerting) {
        let _ = self.alerting.set(alerting);
    }

    /// The alert state, if alerts are on.
    pub fn alerting(&self) -> Option<&crate::alerting::Alerting> {
        self.alerting.get()
    }

    /// A fresh extranonce1 for a new connection (unique while fewer than 2^32 connect).
    pub fn next_extranonce1(&self) -> Vec<u8> {
        let n = self.next_extranonce1.fetch_add(1, Ordering::Relaxed);
        let size = self.config.coinbase.extranonce1_size;
        n.to_be_bytes()[4 - size.min(4)..].to_vec()
    }

    /// The newest live job, if there is one (none before the first template).
    pub fn latest_job(&self) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .latest()
            .cloned()
    }

    /// Records an accepted share in the PPLNS window and the journal, and returns once it is
    /// on disk. The window and the journal take shares in the same order (the append is
    /// queued under the window's lock), so the window is always a suffix of the journal's
    /// shares and a compaction can keep just that suffix. An error means the share must not be
    /// acknowledged: the journal has failed and is closed.
    pub async fn record_share(
        &self,
        script: &ScriptBuf,
        difficulty: f64,
    ) -> Result<(), JournalError> {
        let entry = Entry::Share {
            script: hex::encode(script.as_bytes()),
            difficulty,
        };
        let pending = {
            let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
            window.add(script.clone(), difficulty);
            let pending = self.journal.enqueue(entry);
            if self.journal.compaction_due() {
                self.journal.compact(window.retained());
            }
            pending
        };
        if let Err(e) = pending.durable().await {
            error!(error = %e, "cannot journal an accepted share: rejecting it");
            // Counted among the rejects, so `/api/stats` and `/metrics` show a failing disk.
            self.stats.reject("journal-failed");
            return Err(e);
        }
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.stats
            .accepted_difficulty_milli
            .fetch_add((difficulty * 1000.0) as u64, Ordering::Relaxed);
        self.stats.add_accepted_difficulty(difficulty);
        Ok(())
    }

    /// A share that is also a block: journal it durably, then submit it in
    /// the background until the node gives a final answer.
    pub async fn found_block(self: &Arc<Self>, hash: String, height: u32, hex: String) {
        self.stats.blocks_found.fetch_add(1, Ordering::Relaxed);
        info!(%hash, height, "block found");
        let entry = Entry::Block {
            hash: hash.clone(),
            height,
            hex: hex.clone(),
        };
        if let Err(e) = self.journal.append(&entry).await {
            error!(error = %e, "cannot journal a found block; submitting anyway");
        }
        if self.config.crash_after_journal {
            // Holds the block between journal and submission for a test to `kill -9` us.
            error!("fault injection: block {hash} journaled; hanging before submitting it");
            std::future::pending::<()>().await;
        }
        self.spawn_submit(hash, Some(height), hex);
    }

    /// [`Pool::submit_at`] in the background, tracked so that a shutdown waits for the
    /// node's answer ([`Pool::finish_submissions`]).
    pub fn spawn_submit(self: &Arc<Self>, hash: String, height: Option<u32>, hex: String) {
        let pool = Arc::clone(self);
        self.submissions.spawn(async move {
            if pool.answer(&hash, height, &hex).await {
                // The answer is journaled: the look-ups that follow run beside, untracked,
                // so a shutdown does not wait for them.
                tokio::spawn(async move { pool.resolve_inconclusive(hash).await });
            }
        });
    }

    /// Waits up to `timeout` for every background submission to get the node's answer
    /// (journaled); returns how many are still waiting. Those stay unanswered in the
    /// journal, and the next start resubmits them.
    pub async fn finish_submissions(&self, timeout: Duration) -> usize {
        self.submissions.close();
        if tokio::time::timeout(timeout, self.submissions.wait())
            .await
            .is_err()
        {
            let waiting = self.submissions.len();
            warn!(
                waiting,
                ?timeout,
                "stopping with found blocks the node has not answered; the journal keeps them for the next start"
            );
            return waiting;
        }
        0
    }

    /// Submits until the node answers (transport errors retry with backoff: a found block is
    /// never dropped); counts and journals the answer; asks for new work. An `inconclusive`
    /// block is then looked up again until it is in the best chain (accepted) or the checks
    /// run out (stale), and that resolution is counted and journaled too.
    pub async fn submit(self: Arc<Self>, hash: String, hex: String) {
        self.submit_at(hash, None, hex).await
    }

    /// [`Pool::submit`] of a block whose height is known (for its alert).
    pub async fn submit_at(self: Arc<Self>, hash: String, height: Option<u32>, hex: String) {
        if self.answer(&hash, height, &hex).await {
            self.resolve_inconclusive(hash).await;
        }
    }

    /// `submitblock` until the node answers; counts, alerts and journals the answer, and asks
    /// for new work. Whether the answer was `inconclusive` (to be looked up again).
    async fn answer(&self, hash: &str, height: Option<u32>, hex: &str) -> bool {
        let mut wait = Duration::from_millis(200);
        let outcome = loop {
            match self.node.submit_block_hex(hex).await {
                Ok(outcome) => break outcome,
                Err(e) => {
                    self.stats.submit_retries.fetch_add(1, Ordering::Relaxed);
                    warn!(%hash, error = %e, "submitblock failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        };
        let stats = &self.stats;
        let text = match &outcome {
            SubmitBlockOutcome::Accepted => {
                stats.blocks_accepted.fetch_add(1, Ordering::Relaxed);
                info!(%hash, "block accepted by the node");
                outcome.kind().to_owned()
            }
            SubmitBlockOutcome::Duplicate => {
                stats.blocks_duplicate.fetch_add(1, Ordering::Relaxed);
                info!(%hash, "the node already has our block");
                outcome.kind().to_owned()
            }
            SubmitBlockOutcome::Inconclusive => {
                stats.blocks_inconclusive.fetch_add(1, Ordering::Relaxed);
                warn!(%hash, "block stored but not (yet) on the node's best chain");
                outcome.kind().to_owned()
            }
            SubmitBlockOutcome::Rejected { reason } => {
                stats.block_rejected(reason);
                error!(%hash, %reason, "node rejected our block");
                format!("rejected: {reason}")
            }
        };
        if let Some(history) = self.history() {
            history.block_outcome(hash, &text);
        }
        if let Some(alerting) = self.alerting() {
            alerting.block(hash, height.unwrap_or_else(|| block_height(hex)), &outcome);
        }
        let entry = Entry::Submitted {
            hash: hash.to_owned(),
            outcome: text,
        };
        if let Err(e) = self.journal.append(&entry).await {
            error!(error = %e, "cannot journal a block outcome");
        }
        self.refresh.notify_one();
        outcome == SubmitBlockOutcome::Inconclusive
    }

    /// Looks an `inconclusive` block up (`getblockheader`) a bounded number of times.
    async fn resolve_inconclusive(&self, hash: String) {
        let Ok(block) = hash.parse::<BlockHash>() else {
            error!(%hash, "not a block hash; cannot check it again");
            return;
        };
        let mut wait = self.config.inconclusive_interval;
        let mut in_chain = false;
        for _ in 0..self.config.inconclusive_checks {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(60));
            match self.node.get_block_header(&block).await {
                Ok(header) if header.in_best_chain() => {
                    in_chain = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => warn!(%hash, error = %e, "cannot look up an inconclusive block"),
            }
        }
        let outcome = if in_chain {
            self.stats.blocks_accepted.fetch_add(1, Ordering::Relaxed);
            info!(%hash, "inconclusive block is in the best chain");
            "accepted"
        } else {
            self.stats.blocks_stale.fetch_add(1, Ordering::Relaxed);
            warn!(%hash, "inconclusive block did not make the best chain: stale");
            "stale"
        };
        if let Some(history) = self.history() {
            history.block_outcome(&hash, outcome);
        }
        let entry = Entry::Resolved {
            hash,
            outcome: outcome.to_owned(),
        };
        if let Err(e) = self.journal.append(&entry).await {
            error!(error = %e, "cannot journal a block resolution");
        }
    }

    /// Builds and publishes a job from `template` paying the current window.
    fn publish(
        &self,
        template: Arc<BlockTemplate>,
    ) -> Result<Arc<Job>, crate::coinbase::CoinbaseError> {
        let budget = CoinbaseBudget::new(
            &template,
            &self.config.coinbase,
            self.config.max_notify_line,
        )?;
        let outputs = {
            let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
            // The window is so many blocks' work at this template's difficulty.
            window.set_network_difficulty(template.target.difficulty_float());
            window.outputs(template.coinbasevalue, &self.config.payouts, &budget)?
        };
        let paid = outputs.len();
        let coinbase = CoinbaseParts::build(
            &self.config.coinbase,
            template.height,
            template.coinbasevalue,
            outputs,
            template.default_witness_commitment.as_ref(),
        )?;
        // The budget is exact; this re-check from the real serialization guards it.
        budget.check(&coinbase, paid)?;
        let job = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&template), coinbase);
        *self.template.lock().unwrap_or_else(|e| e.into_inner()) = Some(template);
        // No session listening yet is fine.
        let _ = self.jobs_tx.send(Arc::clone(&job));
        Ok(job)
    }

    /// The node loop: templates in, jobs out, until the task is dropped.
    ///
    /// One longpoll `getblocktemplate` is kept in flight across iterations, never dropped
    /// while the node holds it (Bitcoin Core does not cancel a longpoll whose client went
    /// away: its RPC thread waits for the tip to change). The periodic refresh and the
    /// refresh after a found block are plain `getblocktemplate` calls beside it. When the
    /// longpoll answers, the next one starts with the new `longpollid`. When it times out on
    /// the client side, the node still holds it, so no new longpoll starts until a plain
    /// template shows the tip moved (which releases the held one).
    pub async fn run_node_loop(self: Arc<Self>) {
        type Longpoll = Pin<Box<dyn Future<Output = Result<BlockTemplate, UpstreamError>> + Send>>;
        let refresh_interval = self.config.refresh_interval;
        let max_backoff = self.config.poll_interval.max(Duration::from_secs(1));
        let mut backoff = Duration::from_millis(500);
        let mut last_published = Instant::now();
        let mut next_plain = Instant::now();
        let mut longpoll: Option<Longpoll> = None;
        let mut longpoll_delay = Duration::ZERO;
        // The tip a timed-out longpoll waits on at the node.
        let mut abandoned_on: Option<BlockHash> = None;
        loop {
            if longpoll.is_none() && abandoned_on.is_none() {
                let id = self
                    .template
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .and_then(|t| t.longpollid.clone());
                if let Some(id) = id {
                    let pool = Arc::clone(&self);
                    let delay = longpoll_delay;
                    longpoll = Some(Box::pin(async move {
                        tokio::time::sleep(delay).await;
                        pool.node.get_block_template_longpoll(&id).await
                    }));
                }
            }
            let (from_longpoll, fetched) = tokio::select! {
                answer = async { longpoll.as_mut().expect("guarded").await }, if longpoll.is_some() => {
                    longpoll = None;
                    (true, answer)
                }
                _ = self.refresh.notified() => (false, self.node.get_block_template().await),
                _ = tokio::time::sleep_until(next_plain) => (false, self.node.get_block_template().await),
            };
            let template = match fetched {
                Ok(t) => Arc::new(t),
                Err(e) if from_longpoll => {
                    if e.is_timeout() {
                        // The node keeps that request until the tip changes.
                        abandoned_on = self
                            .template
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .as_ref()
                            .map(|t| t.previousblockhash);
                        info!("longpoll timed out; polling until the tip changes");
                    } else {
                        warn!(error = %e, "longpoll failed; retrying later");
                        longpoll_delay =
                            (longpoll_delay * 2).clamp(Duration::from_millis(500), max_backoff);
                    }
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "no template from the node; retrying");
                    next_plain = Instant::now() + backoff;
                    backoff = (backoff * 2).min(max_backoff);
                    continue;
                }
            };
            if from_longpoll {
                longpoll_delay = Duration::ZERO;
            } else {
                backoff = Duration::from_millis(500);
            }
            next_plain = Instant::now() + refresh_interval;
            if abandoned_on.is_some_and(|tip| tip != template.previousblockhash) {
                abandoned_on = None;
            }
            let changed = {
                let current = self.template.lock().unwrap_or_else(|e| e.into_inner());
                match current.as_ref() {
                    None => true,
                    Some(c) => {
                        from_longpoll
                            || c.previousblockhash != template.previousblockhash
                            || c.longpollid != template.longpollid
                            || last_published.elapsed() >= refresh_interval
                    }
                }
            };
            if !changed {
                continue;
            }
            match self.publish(template) {
                Ok(job) => {
                    last_published = Instant::now();
                    info!(
                        job = job.id(),
                        height = job.template().height,
                        clean = job.clean_jobs(),
                        longpoll = from_longpoll,
                        "new job"
                    );
                }
                Err(e) => {
                    error!(error = %e, "cannot build a coinbase for the template");
                    next_plain = Instant::now() + self.config.poll_interval;
                }
            }
        }
    }
}

/// Seconds since the Unix epoch (0 for a clock before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The BIP34 height in a serialized block's coinbase (0 if it cannot be read): for alerts on
/// blocks resubmitted from the journal.
fn block_height(hex: &str) -> u32 {
    hex::decode(hex)
        .ok()
        .and_then(|bytes| bitcoin::consensus::deserialize::<bitcoin::Block>(&bytes).ok())
        .and_then(|block| block.bip34_block_height().ok())
        .map_or(0, |h| h as u32)
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// The payout script for a worker name, as `mining.authorize` checks it.
pub fn worker_script(pool: &Pool, worker: &str) -> Result<ScriptBuf, crate::payouts::PayoutError> {
    crate::payouts::payout_script(worker, pool.config.network)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::JournalOptions;
    use crate::upstream::fake::{Answer, FakeNode};
    use crate::upstream::{Auth, MAX_CONCURRENT_CALLS};
    use bitcoin::hashes::Hash;
    use bitcoin::WPubkeyHash;
    use std::sync::atomic::Ordering::SeqCst;

    /// A pool on the fake node; the directory holds its journal.
    pub(crate) fn pool_on(
        node: &FakeNode,
        refresh: Duration,
        longpoll_timeout: Duration,
    ) -> (Arc<Pool>, tempfile::TempDir) {
        let client = NodeClient::new(
            node.url.clone(),
            Auth::UserPass {
                user: "u".into(),
                password: "p".into(),
            },
        )
        .unwrap()
        .with_timeouts(Duration::from_secs(5), longpoll_timeout);
        let dir = tempfile::tempdir().unwrap();
        let pool = pool_in(
            client,
            dir.path(),
            refresh,
            JournalOptions::default(),
            |_| {},
        );
        (pool, dir)
    }

    /// A pool on `client` with its journal in `dir`, its payouts adjusted by `payouts`.
    fn pool_in(
        client: NodeClient,
        dir: &std::path::Path,
        refresh: Duration,
        options: JournalOptions,
        payouts: impl FnOnce(&mut PayoutConfig),
    ) -> Arc<Pool> {
        let (journal, recovered) = Journal::open_with(&dir.join("journal.jsonl"), options).unwrap();
        let fallback = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([0xfa; 20]));
        let config = PoolConfig {
            network: Network::Regtest,
            coinbase: CoinbaseConfig::default(),
            payouts: {
                let mut config = PayoutConfig::new(fallback);
                payouts(&mut config);
                config
            },
            poll_interval: Duration::from_millis(200),
            refresh_interval: refresh,
            crash_after_journal: false,
            max_notify_line: stratum::DEFAULT_MAX_LINE_LEN,
            inconclusive_checks: 3,
            inconclusive_interval: Duration::from_millis(20),
        };
        Pool::new(config, client, journal, &recovered)
    }

    fn weights(pool: &Pool) -> Vec<(ScriptBuf, u128)> {
        let window = pool.window.lock().unwrap();
        let mut w: Vec<_> = window
            .weights()
            .into_iter()
            .map(|(s, w)| (s.clone(), w))
            .collect();
        w.sort();
        w
    }

    #[tokio::test]
    async fn the_window_survives_compactions_and_a_restart() {
        let node = FakeNode::start().await;
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions { compact_every: 50 };
        let one_block = |p: &mut PayoutConfig| p.window_factor = 1.0;
        // A window of ~10 of these shares, ~40 retained (4 windows).
        let size = |pool: &Pool| pool.window.lock().unwrap().set_network_difficulty(25.0);
        let client = || {
            NodeClient::new(
                node.url.clone(),
                Auth::UserPass {
                    user: "u".into(),
                    password: "p".into(),
                },
            )
            .unwrap()
        };
        let pool = pool_in(
            client(),
            dir.path(),
            Duration::from_secs(600),
            options,
            one_block,
        );
        size(&pool);
        let scripts: Vec<ScriptBuf> = (0..3u8)
            .map(|i| ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([i; 20])))
            .collect();
        for i in 0..300usize {
            let script = &scripts[i % 7 % 3];
            pool.record_share(script, 0.5 + (i % 5) as f64)
                .await
                .unwrap();
        }
        let before = weights(&pool);
        let retained = pool.window.lock().unwrap().retained();
        assert!((30..=60).contains(&retained), "{retained} shares retained");
        drop(pool);
        // Several compactions ran: the file holds the retained shares plus fewer than 50
        // newer records.
        let lines = journal_lines_in(dir.path());
        assert!(lines.len() <= 1 + retained + 50, "{} lines", lines.len());
        assert!(matches!(lines[0], Entry::Compacted { .. }));
        let pool = pool_in(
            client(),
            dir.path(),
            Duration::from_secs(600),
            options,
            one_block,
        );
        size(&pool);
        assert_eq!(weights(&pool), before);
    }

    /// Waits up to 2 s for a job on the previous block `[prev; 32]`.
    async fn job_on(jobs: &mut broadcast::Receiver<Arc<Job>>, prev: u8) -> Arc<Job> {
        let want = BlockHash::from_byte_array([prev; 32]);
        tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                let job = jobs.recv().await.unwrap();
                if job.prevhash() == want {
                    return job;
                }
            }
        })
        .await
        .expect("a job on the new tip")
    }

    fn journal_lines(dir: &tempfile::TempDir) -> Vec<Entry> {
        journal_lines_in(dir.path())
    }

    fn journal_lines_in(dir: &std::path::Path) -> Vec<Entry> {
        std::fs::read_to_string(dir.join("journal.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    const HASH: &str = "00000000000000000000000000000000000000000000000000000000000000ab";

    /// A webhook receiver answering 200: the alert bodies it got.
    async fn alert_receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let mut reader = BufReader::new(conn);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.unwrap();
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                let mut conn = reader.into_inner();
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        (url, bodies)
    }

    #[tokio::test]
    async fn block_outcomes_and_offline_workers_are_alerted() {
        use crate::alerting::{Alerting, AlertingConfig};
        use std::time::Instant;
        let node = FakeNode::start().await;
        let (pool, _dir) = pool_on(&node, Duration::from_secs(600), Duration::from_secs(600));
        let (url, bodies) = alert_receiver().await;
        let sender = alerts::Sender::start(&alerts::SenderConfig {
            urls: vec![url],
            timeout: Duration::from_secs(5),
            retries: 0,
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(10),
            queue: 16,
            ca_file: None,
        })
        .unwrap();
        pool.set_alerting(Alerting::new(
            sender,
            AlertingConfig {
                offline_after: Some(Duration::from_secs(60)),
                min_hash_rate: None,
                low_for: Duration::from_secs(60),
                window: Duration::from_secs(60),
                check_every: Duration::from_secs(1),
            },
        ));
        node.state.submit_answers.lock().unwrap().extend([
            Answer::Result(serde_json::Value::Null),
            Answer::Result("high-hash".into()),
        ]);
        Arc::clone(&pool)
            .submit_at(HASH.into(), Some(7), "00".into())
            .await;
        Arc::clone(&pool)
            .submit_at(HASH.into(), Some(8), "00".into())
            .await;
        let alerting = pool.alerting().unwrap();
        alerting.share("addr.rig1");
        alerting.check(0.0, Instant::now() + Duration::from_secs(61));
        let deadline = Instant::now() + Duration::from_secs(10);
        while bodies.lock().unwrap().len() < 3 {
            assert!(Instant::now() < deadline, "{:?}", bodies.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got = bodies.lock().unwrap().clone();
        assert_eq!(got[0]["kind"], "block_found");
        assert_eq!(got[0]["details"]["height"], 7);
        assert_eq!(got[0]["details"]["outcome"], "accepted");
        assert_eq!(got[0]["details"]["hash"], HASH);
        assert_eq!(got[1]["details"]["outcome"], "rejected");
        assert_eq!(got[1]["details"]["reason"], "high-hash");
        assert_eq!(got[2]["kind"], "worker_offline");
        assert_eq!(got[2]["details"]["worker"], "addr.rig1");
        let stats = alerting.stats();
        assert_eq!((stats.sent, stats.workers_offline), (3, 1));
    }

    #[tokio::test]
    async fn a_shutdown_waits_for_the_answers_to_blocks_being_submitted() {
        let node = FakeNode::start().await;
        let (pool, dir) = pool_on(&node, Duration::from_secs(600), Duration::from_secs(600));
        // Two transport errors first: the answer comes after 200 + 400 ms of backoff.
        node.state.submit_answers.lock().unwrap().extend([
            Answer::Drop,
            Answer::Drop,
            Answer::Result(serde_json::Value::Null),
        ]);
        pool.found_block(HASH.into(), 7, "00".into()).await;
        assert_eq!(pool.finish_submissions(Duration::from_secs(10)).await, 0);
        let answered = journal_lines_in(dir.path())
            .into_iter()
            .any(|entry| matches!(entry, Entry::Submitted { hash, .. } if hash == HASH));
        assert!(answered, "the answer is journaled before the shutdown ends");
        assert_eq!(pool.stats.blocks_accepted.load(SeqCst), 1);
    }

    #[tokio::test]
    async fn a_shutdown_does_not_wait_for_the_look_ups_of_an_inconclusive_block() {
        let node = FakeNode::start().await;
        let (mut pool, dir) = pool_on(&node, Duration::from_secs(600), Duration::from_secs(600));
        // A minute before the first look-up: a shutdown that waited for them would time out.
        Arc::get_mut(&mut pool)
            .expect("no other handle yet")
            .config
            .inconclusive_interval = Duration::from_secs(60);
        node.state
            .submit_answers
            .lock()
            .unwrap()
            .push_back(Answer::Result("inconclusive".into()));
        // Never in the best chain: the look-ups would go on for the whole check budget.
        node.state
            .header_answers
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(
                Answer::Result(serde_json::json!({ "confirmations": -1 })),
                100,
            ));
        pool.found_block(HASH.into(), 7, "00".into()).await;
        assert_eq!(pool.finish_submissions(Duration::from_secs(5)).await, 0);
        let answered = journal_lines_in(dir.path()).into_iter().any(
            |e| matches!(e, Entry::Submitted { hash, outcome } if hash == HASH && outcome == "inconclusive"),
        );
        assert!(answered);
        assert_eq!(pool.stats.blocks_inconclusive.load(SeqCst), 1);
    }

    #[tokio::test]
    async fn a_shutdown_gives_up_on_a_node_that_does_not_answer_and_says_how_many() {
        let node = FakeNode::start().await;
        let (pool, dir) = pool_on(&node, Duration::from_secs(600), Duration::from_secs(600));
        node.state
            .submit_answers
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(Answer::Drop, 100));
        pool.found_block(HASH.into(), 7, "00".into()).await;
        assert_eq!(pool.finish_submissions(Duration::from_millis(300)).await, 1);
        let entries = journal_lines_in(dir.path());
        assert!(entries
            .iter()
            .any(|e| matches!(e, Entry::Block { hash, .. } if hash == HASH)));
        assert!(
            !entries.iter().any(|e| matches!(e, Entry::Submitted { .. })),
            "unanswered, so the next start resubmits it"
        );
    }

    #[tokio::test]
    async fn submit_retries_transport_errors_and_counts_each_answer() {
        let node = FakeNode::start().await;
        let (pool, dir) = pool_on(&node, Duration::from_secs(600), Duration::from_secs(600));
        node.state.submit_answers.lock().unwrap().extend([
            Answer::Drop,
            Answer::Drop,
            Answer::Result(serde_json::Value::Null),
            Answer::Result("duplicate".into()),
            Answer::Result("high-hash".into()),
            Answer::Result("duplicate-invalid".into()),
            Answer::Error(-22, "Block decode failed".into()),
        ]);
        for _ in 0..5 {
            Arc::clone(&pool).submit(HASH.into(), "00".into()).await;
        }
        assert_eq!(node.state.submits.load(SeqCst), 7);
        let stats = &pool.stats;
        assert_eq!(stats.submit_retries.load(SeqCst), 2);
        assert_eq!(stats.blocks_accepted.load(SeqCst), 1);
        assert_eq!(stats.blocks_duplicate.load(SeqCst), 1);
        assert_eq!(stats.blocks_inconclusive.load(SeqCst), 0);
        assert_eq!(
            *stats.blocks_rejected.lock().unwrap(),
            BTreeMap::from([
                ("Block decode failed".to_owned(), 1),
                ("duplicate-invalid".to_owned(), 1),
                ("high-hash".to_owned(), 1),
            ])
        );
        let outcomes: Vec<String> = journal_lines(&dir)
            .into_iter()
            .map(|e| match e {
                Entry::Submitted { outcome, .. } => outcome,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                "accepted",
                "duplicate",
                "rejected: high-hash",
                "rejected: duplicate-invalid",
                "rejected: Block decode failed"
            ]
        );
    }

    #[tokio::test]
    async fn inconclusive_blocks_are_checked_again() {
        let node = FakeNode::start().await;
        let (pool, dir) = pool_on(&node, Duration::from_secs(600), Duration::from_secs(600));
        let header = |c: i64| Answer::Result(serde_json::json!({ "confirmations": c }));
        // First block: off the best chain once, then in it. Second: never in it.
        node.state.submit_answers.lock().unwrap().extend([
            Answer::Result("inconclusive".into()),
            Answer::Result("duplicate-inconclusive".into()),
        ]);
        node.state.header_answers.lock().unwrap().extend([
            header(-1),
            header(1),
            header(-1),
            Answer::Error(-5, "Block not found".into()),
            header(-1),
        ]);
        Arc::clone(&pool).submit(HASH.into(), "00".into()).await;
        assert_eq!(pool.stats.blocks_accepted.load(SeqCst), 1);
        Arc::clone(&pool).submit(HASH.into(), "00".into()).await;
        let stats = &pool.stats;
        assert_eq!(stats.blocks_inconclusive.load(SeqCst), 2);
        assert_eq!(stats.blocks_accepted.load(SeqCst), 1);
        assert_eq!(stats.blocks_stale.load(SeqCst), 1);
        let resolved: Vec<String> = journal_lines(&dir)
            .into_iter()
            .filter_map(|e| match e {
                Entry::Resolved { outcome, .. } => Some(outcome),
                _ => None,
            })
            .collect();
        assert_eq!(resolved, ["accepted", "stale"]);
        // Not resubmitted after a restart: the inconclusive answer was final.
        let (_, recovered) = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
        assert!(recovered.unsubmitted.is_empty());
    }

    #[tokio::test]
    async fn refreshes_keep_one_longpoll_in_flight() {
        let node = FakeNode::start().await;
        let (pool, _dir) = pool_on(&node, Duration::from_millis(50), Duration::from_secs(600));
        let mut jobs = pool.jobs_tx.subscribe();
        let task = tokio::spawn(Arc::clone(&pool).run_node_loop());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let state = &node.state;
        // ~30 refreshes: every one a plain template beside the same longpoll.
        assert!(state.templates.load(SeqCst) >= 10, "{state:?}");
        assert_eq!(state.longpolls.load(SeqCst), 1, "{state:?}");
        assert_eq!(state.longpolls_held.max(), 1);
        let mut refreshed = 0;
        while jobs.try_recv().is_ok() {
            refreshed += 1;
        }
        assert!(refreshed >= 10, "jobs refreshed {refreshed} times");
        assert!(
            state.connections.max() <= MAX_CONCURRENT_CALLS + 1,
            "{state:?}"
        );
        // The longpoll's answer (a new tip) makes a clean job and the next longpoll starts.
        node.set_tip(2);
        let job = job_on(&mut jobs, 2).await;
        assert!(job.clean_jobs());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(state.longpolls.load(SeqCst), 2);
        assert_eq!(state.longpolls_held.now(), 1);
        assert_eq!(state.longpolls_held.max(), 1);
        task.abort();
    }

    #[tokio::test]
    async fn longpoll_answer_alone_makes_a_new_job() {
        let node = FakeNode::start().await;
        // No plain refresh within the test: only the longpoll can bring the new tip.
        let (pool, _dir) = pool_on(&node, Duration::from_secs(600), Duration::from_secs(600));
        let mut jobs = pool.jobs_tx.subscribe();
        let task = tokio::spawn(Arc::clone(&pool).run_node_loop());
        job_on(&mut jobs, 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(node.state.longpolls_held.now(), 1);
        for tip in 2..5 {
            node.set_tip(tip);
            let job = job_on(&mut jobs, tip).await;
            assert_eq!(job.template().height, 100 + u32::from(tip));
        }
        assert_eq!(node.state.templates.load(SeqCst), 1);
        assert_eq!(node.state.longpolls_held.max(), 1);
        assert_eq!(
            *node.state.last_rules.lock().unwrap(),
            serde_json::json!(["segwit"])
        );
        task.abort();
    }

    #[tokio::test]
    async fn timed_out_longpoll_is_not_repeated_while_the_node_holds_it() {
        let node = FakeNode::start().await;
        let (pool, _dir) = pool_on(&node, Duration::from_millis(50), Duration::from_millis(200));
        let mut jobs = pool.jobs_tx.subscribe();
        let task = tokio::spawn(Arc::clone(&pool).run_node_loop());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        // Timed out on our side after 200 ms, but the node still holds it: no second one.
        assert_eq!(node.state.longpolls.load(SeqCst), 1);
        assert_eq!(node.state.longpolls_held.max(), 1);
        // The tip moves: the held one is released, a plain refresh sees the new tip, and a
        // new longpoll starts.
        node.set_tip(2);
        job_on(&mut jobs, 2).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(node.state.longpolls.load(SeqCst), 2);
        assert_eq!(node.state.longpolls_held.max(), 1);
        task.abort();
    }
}
