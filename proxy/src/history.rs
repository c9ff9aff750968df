//! The dashboard's history: accepted share work, shares by outcome and best share difficulty
//! rolled up into time buckets, for the pool and for each worker (`address.worker`), and the
//! blocks found with their `submitblock` outcome, reward and split. Kept in an embedded
//! database ([`redb`]) beside the journal, so charts survive a restart; no network I/O here.
//!
//! Bounded: each series (the pool, each worker) keeps the buckets of [`RANGES`] (10 s for an
//! hour, 1 min for a day, 10 min for a week: 2,808 buckets at most), older ones are pruned;
//! at most [`HistoryConfig::max_workers`] workers are kept (the one with the oldest last
//! share goes first), and the newest [`HistoryConfig::max_blocks`] blocks.
//!
//! Recording only touches memory ([`History::share`], [`History::reject`], ...); [`History::
//! flush`] writes it in one transaction. The caller flushes on a timer and before it reads
//! (the reads see the database), so a crash loses at most one timer period of history.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use dashboard::api::{
    self, BlockView, BlocksView, Chart, Point, PoolView, Rates, WorkerDetail, WorkerView,
    WorkersView, OFFLINE_AFTER_SECS, RANGES,
};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

/// Buckets: (series id, range index, bucket start) -> [`Bucket`] as 32 bytes.
const BUCKETS: TableDefinition<(u32, u8, u64), &[u8]> = TableDefinition::new("buckets");
/// Workers: name -> [`SeriesRecord`] as JSON.
const WORKERS: TableDefinition<&str, &[u8]> = TableDefinition::new("workers");
/// Blocks: hash -> [`BlockView`] as JSON.
const BLOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("blocks");
/// The pool's own record, the id counter, the creation time.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The pool's series id; workers get 1, 2, ...
const POOL_SERIES: u32 = 0;

/// Bucket widths of the finest range: shares are gathered at this width before a flush.
const FINEST: u64 = RANGES[0].2;

/// How often every series (not only the ones with new shares) is pruned, at most.
const PRUNE_ALL_EVERY_SECS: u64 = 60;

/// The history's failures.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The redb database failed (open, transaction, table, storage or commit).
    #[error("history database: {0}")]
    Database(#[from] redb::Error),
    /// A stored record is not the JSON expected.
    #[error("history record does not parse: {0}")]
    Record(#[from] serde_json::Error),
}

impl From<redb::DatabaseError> for HistoryError {
    fn from(e: redb::DatabaseError) -> Self {
        Self::Database(e.into())
    }
}
impl From<redb::TransactionError> for HistoryError {
    fn from(e: redb::TransactionError) -> Self {
        Self::Database(e.into())
    }
}
impl From<redb::TableError> for HistoryError {
    fn from(e: redb::TableError) -> Self {
        Self::Database(e.into())
    }
}
impl From<redb::StorageError> for HistoryError {
    fn from(e: redb::StorageError) -> Self {
        Self::Database(e.into())
    }
}
impl From<redb::CommitError> for HistoryError {
    fn from(e: redb::CommitError) -> Self {
        Self::Database(e.into())
    }
}

/// The bounds.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// Workers kept; a new one beyond this evicts the one whose last share is oldest.
    pub max_workers: usize,
    /// Blocks kept, newest first.
    pub max_blocks: usize,
}

/// Default [`HistoryConfig::max_workers`].
pub const DEFAULT_MAX_WORKERS: usize = 256;
/// Default [`HistoryConfig::max_blocks`].
pub const DEFAULT_MAX_BLOCKS: usize = 10_000;

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            max_workers: DEFAULT_MAX_WORKERS,
            max_blocks: DEFAULT_MAX_BLOCKS,
        }
    }
}

/// One bucket's sums.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bucket {
    work: f64,
    accepted: u64,
    rejected: u64,
    best: f64,
}

impl Bucket {
    fn add(&mut self, other: &Bucket) {
        self.work += other.work;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.best = self.best.max(other.best);
    }

    fn encode(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&self.work.to_le_bytes());
        out[8..16].copy_from_slice(&self.accepted.to_le_bytes());
        out[16..24].copy_from_slice(&self.rejected.to_le_bytes());
        out[24..].copy_from_slice(&self.best.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Self {
        let field = |i: usize| -> [u8; 8] {
            bytes
                .get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_default()
        };
        Self {
            work: f64::from_le_bytes(field(0)),
            accepted: u64::from_le_bytes(field(1)),
            rejected: u64::from_le_bytes(field(2)),
            best: f64::from_le_bytes(field(3)),
        }
    }
}

/// The totals of one series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SeriesRecord {
    id: u32,
    accepted: u64,
    rejected: BTreeMap<String, u64>,
    best_difficulty: f64,
    last_share: Option<u64>,
    first_seen: u64,
}

/// The pool's record and counters, kept under `META`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Meta {
    pool: SeriesRecord,
    next_id: u32,
    since: u64,
}

/// What is held in memory: the totals (all of them, loaded at open) and the buckets and
/// blocks not yet written.
#[derive(Debug, Default)]
struct Memory {
    meta: Meta,
    workers: HashMap<String, SeriesRecord>,
    /// (series id, finest bucket start) -> sums.
    buckets: HashMap<(u32, u64), Bucket>,
    blocks: Vec<BlockView>,
    outcomes: Vec<(String, String)>,
    evicted: Vec<(String, u32)>,
    dirty_workers: Vec<String>,
    last_prune_all: u64,
}

/// The history store.
pub struct History {
    db: Database,
    config: HistoryConfig,
    memory: Mutex<Memory>,
    /// Bumped whenever a block is added or its outcome changes (for live updates).
    blocks_version: AtomicU64,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("config", &self.config)
            .finish()
    }
}

fn bucket_start(t: u64, width: u64) -> u64 {
    t - t % width
}

impl History {
    /// Opens (or creates) the history at `path`; `now` dates a new one.
    pub fn open(path: &Path, config: HistoryConfig, now: u64) -> Result<Self, HistoryError> {
        let db = Database::create(path)?;
        let write = db.begin_write()?;
        let mut memory = Memory::default();
        {
            write.open_table(BUCKETS)?;
            write.open_table(BLOCKS)?;
            let meta = write.open_table(META)?;
            memory.meta = match meta.get("meta")? {
                Some(bytes) => serde_json::from_slice(bytes.value())?,
                None => Meta {
                    pool: SeriesRecord {
                        id: POOL_SERIES,
                        first_seen: now,
                        ..SeriesRecord::default()
                    },
                    next_id: POOL_SERIES + 1,
                    since: now,
                },
            };
            let workers = write.open_table(WORKERS)?;
            for entry in workers.iter()? {
                let (name, record) = entry?;
                memory.workers.insert(
                    name.value().to_owned(),
                    serde_json::from_slice(record.value())?,
                );
            }
        }
        write.commit()?;
        Ok(Self {
            db,
            config,
            memory: Mutex::new(memory),
            blocks_version: AtomicU64::new(0),
        })
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The worker's record, created (evicting the stalest worker when full) if new.
    fn worker<'m>(&self, memory: &'m mut Memory, name: &str, now: u64) -> &'m mut SeriesRecord {
        if !memory.workers.contains_key(name) {
            while memory.workers.len() >= self.config.max_workers.max(1) {
                let Some(stalest) = memory
                    .workers
                    .iter()
                    .min_by_key(|(_, r)| r.last_share.unwrap_or(r.first_seen))
                    .map(|(n, r)| (n.clone(), r.id))
                else {
                    break;
                };
                memory.workers.remove(&stalest.0);
                memory.buckets.retain(|(id, _), _| *id != stalest.1);
                memory.evicted.push(stalest);
            }
            let id = memory.meta.next_id;
            memory.meta.next_id = memory.meta.next_id.wrapping_add(1).max(1);
            memory.workers.insert(
                name.to_owned(),
                SeriesRecord {
                    id,
                    first_seen: now,
                    ..SeriesRecord::default()
                },
            );
        }
        memory.dirty_workers.push(name.to_owned());
        memory.workers.get_mut(name).expect("inserted above")
    }

    /// An accepted share of `worker`, credited `work`, whose hash reached `difficulty`.
    pub fn share(&self, worker: &str, work: f64, difficulty: f64, now: u64) {
        let mut memory = self.memory();
        let t = bucket_start(now, FINEST);
        let add = Bucket {
            work,
            accepted: 1,
            rejected: 0,
            best: difficulty,
        };
        let id = {
            let record = self.worker(&mut memory, worker, now);
            record.accepted += 1;
            record.best_difficulty = record.best_difficulty.max(difficulty);
            record.last_share = Some(now);
            record.id
        };
        let pool = &mut memory.meta.pool;
        pool.accepted += 1;
        pool.best_difficulty = pool.best_difficulty.max(difficulty);
        pool.last_share = Some(now);
        for series in [POOL_SERIES, id] {
            memory.buckets.entry((series, t)).or_default().add(&add);
        }
    }

    /// A rejected share, for `reason`; of `worker` when it is one the connection authorized
    /// (names never authorized do not create workers).
    pub fn reject(&self, worker: Option<&str>, reason: &str, now: u64) {
        let mut memory = self.memory();
        let t = bucket_start(now, FINEST);
        let add = Bucket {
            rejected: 1,
            ..Bucket::default()
        };
        let mut series = vec![POOL_SERIES];
        if let Some(worker) = worker {
            let record = self.worker(&mut memory, worker, now);
            *record.rejected.entry(reason.to_owned()).or_default() += 1;
            series.push(record.id);
        }
        *memory
            .meta
            .pool
            .rejected
            .entry(reason.to_owned())
            .or_default() += 1;
        for id in series {
            memory.buckets.entry((id, t)).or_default().add(&add);
        }
    }

    /// A found block (its outcome `pending` until [`History::block_outcome`]).
    pub fn block(&self, block: BlockView) {
        self.memory().blocks.push(block);
        self.blocks_version.fetch_add(1, Ordering::Relaxed);
    }

    /// The node's answer about block `hash` (or the resolution of an inconclusive one).
    pub fn block_outcome(&self, hash: &str, outcome: &str) {
        self.memory()
            .outcomes
            .push((hash.to_owned(), outcome.to_owned()));
        self.blocks_version.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes whenever a block is added or its outcome changes.
    pub fn blocks_version(&self) -> u64 {
        self.blocks_version.load(Ordering::Relaxed)
    }

    /// Writes what was recorded since the last flush, and prunes buckets older than their
    /// range, in one transaction. On an error the batch is lost, not retried.
    pub fn flush(&self, now: u64) -> Result<(), HistoryError> {
        let (buckets, blocks, outcomes, evicted, workers, meta, prune_all, series) = {
            let mut memory = self.memory();
            let mut dirty = std::mem::take(&mut memory.dirty_workers);
            dirty.sort();
            dirty.dedup();
            let workers: Vec<(String, SeriesRecord)> = dirty
                .into_iter()
                .filter_map(|n| memory.workers.get(&n).map(|r| (n, r.clone())))
                .collect();
            let prune_all = now.saturating_sub(memory.last_prune_all) >= PRUNE_ALL_EVERY_SECS;
            if prune_all {
                memory.last_prune_all = now;
            }
            let series: Vec<u32> = if prune_all {
                std::iter::once(POOL_SERIES)
                    .chain(memory.workers.values().map(|r| r.id))
                    .collect()
            } else {
                let mut ids: Vec<u32> = memory.buckets.keys().map(|(id, _)| *id).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            };
            (
                std::mem::take(&mut memory.buckets),
                std::mem::take(&mut memory.blocks),
                std::mem::take(&mut memory.outcomes),
                std::mem::take(&mut memory.evicted),
                workers,
                memory.meta.clone(),
                prune_all,
                series,
            )
        };
        if buckets.is_empty()
            && blocks.is_empty()
            && outcomes.is_empty()
            && evicted.is_empty()
            && workers.is_empty()
            && !prune_all
        {
            return Ok(());
        }
        let write = self.db.begin_write()?;
        {
            let mut table = write.open_table(BUCKETS)?;
            for ((id, t), add) in &buckets {
                for (index, (_, _, width)) in RANGES.iter().enumerate() {
                    let key = (*id, index as u8, bucket_start(*t, *width));
                    let mut bucket = table
                        .get(key)?
                        .map(|b| Bucket::decode(b.value()))
                        .unwrap_or_default();
                    bucket.add(add);
                    table.insert(key, bucket.encode().as_slice())?;
                }
            }
            for id in &series {
                for (index, (_, span, width)) in RANGES.iter().enumerate() {
                    let cutoff = bucket_start(now.saturating_sub(*span), *width);
                    let index = index as u8;
                    table.retain_in((*id, index, 0)..(*id, index, cutoff), |_, _| false)?;
                }
            }
            for (_, id) in &evicted {
                table.retain_in((*id, 0, 0)..=(*id, u8::MAX, u64::MAX), |_, _| false)?;
            }
            let mut table = write.open_table(WORKERS)?;
            for (name, _) in &evicted {
                table.remove(name.as_str())?;
            }
            for (name, record) in &workers {
                table.insert(name.as_str(), serde_json::to_vec(record)?.as_slice())?;
            }
            let mut table = write.open_table(BLOCKS)?;
            for block in &blocks {
                table.insert(block.hash.as_str(), serde_json::to_vec(block)?.as_slice())?;
            }
            for (hash, outcome) in &outcomes {
                let stored = table.get(hash.as_str())?.map(|b| b.value().to_vec());
                if let Some(bytes) = stored {
                    let mut block: BlockView = serde_json::from_slice(&bytes)?;
                    block.outcome = outcome.clone();
                    table.insert(hash.as_str(), serde_json::to_vec(&block)?.as_slice())?;
                }
            }
            if !blocks.is_empty() {
                let mut all: Vec<(u64, String)> = Vec::new();
                for entry in table.iter()? {
                    let (hash, bytes) = entry?;
                    let block: BlockView = serde_json::from_slice(bytes.value())?;
                    all.push((block.time, hash.value().to_owned()));
                }
                if all.len() > self.config.max_blocks {
                    all.sort();
                    let excess = all.len() - self.config.max_blocks;
                    for (_, hash) in &all[..excess] {
                        table.remove(hash.as_str())?;
                    }
                }
            }
            let mut table = write.open_table(META)?;
            table.insert("meta", serde_json::to_vec(&meta)?.as_slice())?;
        }
        write.commit()?;
        Ok(())
    }

    /// The buckets of series `id` in range `index` from `from` on, by start.
    fn buckets(
        &self,
        id: u32,
        index: u8,
        from: u64,
    ) -> Result<BTreeMap<u64, Bucket>, HistoryError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(BUCKETS)?;
        let mut out = BTreeMap::new();
        for entry in table.range((id, index, from)..=(id, index, u64::MAX))? {
            let (key, value) = entry?;
            out.insert(key.value().2, Bucket::decode(value.value()));
        }
        Ok(out)
    }

    /// Range `name`'s chart of series `id`, every bucket up to `now`'s.
    fn chart(&self, id: u32, name: &str, now: u64) -> Result<Chart, HistoryError> {
        let (index, (range, span, width)) = RANGES
            .iter()
            .copied()
            .enumerate()
            .find(|(_, (n, _, _))| *n == name)
            .unwrap_or((0, RANGES[0]));
        let last = bucket_start(now, width);
        let first = bucket_start(now.saturating_sub(span), width) + width;
        let stored = self.buckets(id, index as u8, first)?;
        let points = (first..=last)
            .step_by(width as usize)
            .map(|t| {
                let b = stored.get(&t).copied().unwrap_or_default();
                Point {
                    t,
                    work: b.work,
                    hash_rate: api::hash_rate(b.work, width),
                    accepted: b.accepted,
                    rejected: b.rejected,
                    best_difficulty: b.best,
                }
            })
            .collect();
        Ok(Chart {
            range: range.to_owned(),
            bucket_secs: width,
            points,
        })
    }

    /// Hash rates of series `id`, which has data since `since`.
    fn rates(&self, id: u32, since: u64, now: u64) -> Result<Rates, HistoryError> {
        let fine = self.buckets(id, 0, now.saturating_sub(3600))?;
        let coarse = self.buckets(id, 1, now.saturating_sub(86_400))?;
        let over = |buckets: &BTreeMap<u64, Bucket>, secs: u64, width: u64| {
            let from = now.saturating_sub(secs);
            let work: f64 = buckets
                .range(bucket_start(from, width)..)
                .map(|(_, b)| b.work)
                .sum();
            // A series younger than the window is rated over its life.
            let lived = now.saturating_sub(since).max(width);
            api::hash_rate(work, secs.min(lived))
        };
        Ok(Rates {
            m1: over(&fine, 60, FINEST),
            m10: over(&fine, 600, FINEST),
            h1: over(&fine, 3600, FINEST),
            h24: over(&coarse, 86_400, RANGES[1].2),
        })
    }

    fn worker_view(
        &self,
        name: &str,
        record: &SeriesRecord,
        now: u64,
    ) -> Result<WorkerView, HistoryError> {
        let minutes = self.chart(record.id, "24h", now)?;
        let sparkline = minutes
            .points
            .iter()
            .rev()
            .take(60)
            .rev()
            .map(|p| p.hash_rate)
            .collect();
        Ok(WorkerView {
            name: name.to_owned(),
            online: record
                .last_share
                .is_some_and(|t| now.saturating_sub(t) <= OFFLINE_AFTER_SECS),
            hash_rate: self.rates(record.id, record.first_seen, now)?,
            last_share: record.last_share,
            best_difficulty: record.best_difficulty,
            accepted: record.accepted,
            rejected: record.rejected.clone(),
            sparkline,
        })
    }

    /// `/api/v1/pool` (after a flush); `connections` comes from the caller.
    pub fn pool(&self, range: &str, now: u64, connections: u64) -> Result<PoolView, HistoryError> {
        self.flush(now)?;
        let (meta, online, workers) = {
            let memory = self.memory();
            let online = memory
                .workers
                .values()
                .filter(|r| {
                    r.last_share
                        .is_some_and(|t| now.saturating_sub(t) <= OFFLINE_AFTER_SECS)
                })
                .count() as u64;
            (memory.meta.clone(), online, memory.workers.len() as u64)
        };
        let blocks_found = {
            let read = self.db.begin_read()?;
            read.open_table(BLOCKS)?.len()?
        };
        Ok(PoolView {
            now,
            since: meta.since,
            hash_rate: self.rates(POOL_SERIES, meta.since, now)?,
            accepted: meta.pool.accepted,
            rejected: meta.pool.rejected.clone(),
            best_difficulty: meta.pool.best_difficulty,
            last_share: meta.pool.last_share,
            workers_online: online,
            workers,
            connections,
            blocks_found,
            chart: self.chart(POOL_SERIES, range, now)?,
        })
    }

    /// `/api/v1/workers` (after a flush).
    pub fn workers(&self, now: u64) -> Result<WorkersView, HistoryError> {
        self.flush(now)?;
        let records: Vec<(String, SeriesRecord)> = self
            .memory()
            .workers
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        let mut workers = records
            .iter()
            .map(|(name, record)| self.worker_view(name, record, now))
            .collect::<Result<Vec<_>, _>>()?;
        workers.sort_by(|a, b| {
            b.hash_rate
                .m10
                .total_cmp(&a.hash_rate.m10)
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(WorkersView { now, workers })
    }

    /// `/api/v1/worker/{name}` (after a flush); `None` for a worker the history does not hold.
    pub fn worker_detail(
        &self,
        name: &str,
        range: &str,
        now: u64,
    ) -> Result<Option<WorkerDetail>, HistoryError> {
        self.flush(now)?;
        let Some(record) = self.memory().workers.get(name).cloned() else {
            return Ok(None);
        };
        Ok(Some(WorkerDetail {
            now,
            worker: self.worker_view(name, &record, now)?,
            chart: self.chart(record.id, range, now)?,
        }))
    }

    /// `/api/v1/blocks` (after a flush), newest first.
    pub fn blocks(&self, now: u64) -> Result<BlocksView, HistoryError> {
        self.flush(now)?;
        let read = self.db.begin_read()?;
        let table = read.open_table(BLOCKS)?;
        let mut blocks = Vec::new();
        for entry in table.iter()? {
            let (_, bytes) = entry?;
            blocks.push(serde_json::from_slice::<BlockView>(bytes.value())?);
        }
        blocks.sort_by_key(|b| std::cmp::Reverse((b.time, b.height)));
        Ok(BlocksView {
            total: blocks.len() as u64,
            blocks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir, config: HistoryConfig, now: u64) -> History {
        History::open(&dir.path().join("history.redb"), config, now).unwrap()
    }

    fn block(hash: &str, height: u32, time: u64) -> BlockView {
        BlockView {
            height,
            hash: hash.into(),
            time,
            worker: "a.w1".into(),
            outcome: "pending".into(),
            reward_sats: 5_000_000_000,
            split: vec![dashboard::api::Payout {
                address: "a".into(),
                sats: 5_000_000_000,
            }],
        }
    }

    #[test]
    fn history_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = 1_000_000;
        {
            let history = open(&dir, HistoryConfig::default(), t0);
            for i in 0..30 {
                history.share("a.w1", 2.0, 3.0 + i as f64, t0 + i);
            }
            history.share("b.w2", 1.0, 100.0, t0 + 5);
            history.reject(Some("a.w1"), "stale", t0 + 6);
            history.reject(None, "unauthorized", t0 + 7);
            history.block(block("h1", 101, t0 + 8));
            history.block_outcome("h1", "accepted");
            history.flush(t0 + 30).unwrap();
        }
        let history = open(&dir, HistoryConfig::default(), t0 + 100);
        let now = t0 + 40;
        let pool = history.pool("1h", now, 0).unwrap();
        assert_eq!(pool.since, t0, "the creation time is kept");
        assert_eq!(pool.accepted, 31);
        assert_eq!(pool.rejected["stale"], 1);
        assert_eq!(pool.rejected["unauthorized"], 1);
        assert_eq!(pool.best_difficulty, 100.0);
        assert_eq!(pool.workers, 2);
        assert_eq!(pool.blocks_found, 1);
        let work: f64 = pool.chart.points.iter().map(|p| p.work).sum();
        assert_eq!(work, 61.0);
        assert_eq!(pool.chart.bucket_secs, 10);
        assert_eq!(pool.chart.points.len(), 360);
        // 61 work over the 40 s the pool has lived, for 1 min (the minute reaches back to
        // the first bucket).
        assert_eq!(pool.hash_rate.m1, api::hash_rate(61.0, 40));
        assert_eq!(pool.hash_rate.h1, pool.hash_rate.m10);
        let w1 = history.worker_detail("a.w1", "24h", now).unwrap().unwrap();
        assert_eq!(w1.worker.accepted, 30);
        assert_eq!(w1.worker.rejected["stale"], 1);
        assert_eq!(w1.worker.best_difficulty, 32.0);
        assert_eq!(w1.worker.last_share, Some(t0 + 29));
        assert!(w1.worker.online);
        assert_eq!(w1.chart.bucket_secs, 60);
        assert_eq!(w1.chart.points.iter().map(|p| p.work).sum::<f64>(), 60.0);
        assert_eq!(w1.worker.sparkline.len(), 60);
        let blocks = history.blocks(now).unwrap().blocks;
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            (blocks[0].height, blocks[0].outcome.as_str()),
            (101, "accepted")
        );
        assert!(history
            .worker_detail("nobody", "1h", now)
            .unwrap()
            .is_none());
        // Offline after five minutes without a share.
        let later = history.workers(t0 + 29 + OFFLINE_AFTER_SECS + 1).unwrap();
        assert!(later.workers.iter().all(|w| !w.online));
    }

    #[test]
    fn old_buckets_are_pruned_and_the_stalest_worker_evicted() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = 10_000_000;
        let history = open(
            &dir,
            HistoryConfig {
                max_workers: 2,
                max_blocks: 2,
            },
            t0,
        );
        history.share("a.w1", 1.0, 1.0, t0);
        history.share("a.w2", 1.0, 1.0, t0 + 1);
        history.flush(t0 + 1).unwrap();
        // Two hours later: the 10 s buckets of then are gone, the minute ones stay.
        let later = t0 + 7200;
        history.share("a.w2", 1.0, 1.0, later);
        history.flush(later).unwrap();
        assert!(history
            .buckets(POOL_SERIES, 0, 0)
            .unwrap()
            .keys()
            .all(|t| *t >= later - 3600));
        assert_eq!(history.buckets(POOL_SERIES, 1, 0).unwrap().len(), 2);
        // A third worker evicts a.w1 (its last share is the oldest), buckets and all.
        history.share("a.w3", 1.0, 1.0, later + 1);
        let names: Vec<String> = history
            .workers(later + 1)
            .unwrap()
            .workers
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names.len(), 2);
        assert!(!names.contains(&"a.w1".to_owned()), "{names:?}");
        assert!(history.buckets(1, 1, 0).unwrap().is_empty());
        // A week and a day later everything of then is pruned.
        let much_later = t0 + 8 * 86_400;
        history.flush(much_later).unwrap();
        assert!(history
            .buckets(POOL_SERIES, 2, 0)
            .unwrap()
            .keys()
            .all(|t| *t >= later));
        // Blocks: the newest two are kept.
        for (i, hash) in ["x", "y", "z"].iter().enumerate() {
            history.block(block(hash, i as u32, t0 + i as u64));
        }
        let kept: Vec<String> = history
            .blocks(much_later)
            .unwrap()
            .blocks
            .into_iter()
            .map(|b| b.hash)
            .collect();
        assert_eq!(kept, ["z", "y"]);
    }

    #[test]
    fn buckets_encode_round_trip() {
        let b = Bucket {
            work: 1.5,
            accepted: 7,
            rejected: 2,
            best: 1e9,
        };
        assert_eq!(Bucket::decode(&b.encode()), b);
        assert_eq!(Bucket::decode(&[1, 2]), Bucket::default());
    }
}
