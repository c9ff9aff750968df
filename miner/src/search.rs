//! Parallel nonce search: one [`Engine`] on a rayon thread pool, fed jobs by
//! the caller's [`WorkSource`].
//!
//! A [`Searcher`] owns the pool (one worker per CPU unless told otherwise) and
//! runs jobs one after another on the calling thread with [`Searcher::run`],
//! which blocks until it is stopped or the source has no more work. For each
//! job the workers claim chunks of the nonce range from a shared atomic
//! counter; each chunk is a multiple of the engine's lanes and sized by the
//! worker to take about [`CHUNK_TIME`] (some 32Ki nonces at 30 MH/s), so the
//! workers check for cancellation often without the bookkeeping showing in
//! the hash rate. When a job's nonces are spent, or the job is abandoned with
//! [`SearchHandle::restart`], the searcher asks the source for the next job;
//! that is where a stratum client rolls extranonce2 or ntime.
//!
//! A [`SearchHandle`] (cheap to clone, `Send + Sync`) controls a searcher
//! from any thread, e.g. a tokio task: `restart` when a new job arrives,
//! `stop` to end the run, and per-worker hash counters to read at any time.
//! Hits go to the callback given to `run`, tagged with the job they belong to,
//! at most [`MAX_HITS_PER_CHUNK`] per chunk: a target so easy that more meet
//! it (a pool's `set_difficulty 1e-300`) cannot flood the caller; the excess
//! is counted ([`SearchHandle::hits_dropped`]), not reported.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::engine::{self, Engine, EngineError, Hit, Job, RolledJob, NONCE_SPACE};

/// How long a worker aims for one chunk of nonces to take; it bounds how late
/// a worker notices a restart or stop.
pub const CHUNK_TIME: Duration = Duration::from_millis(1);
/// Nonces in a worker's first chunk, before it has timed any.
const FIRST_CHUNK: u64 = 4 * 1024;
/// Bounds on a chunk's size; chunks are also multiples of the engine's lanes.
const MIN_CHUNK: u64 = 64;
const MAX_CHUNK: u64 = 256 * 1024;
/// Hits reported per chunk at most; the rest are counted as dropped. A chunk
/// is at most [`MAX_CHUNK`] nonces (times the versions of a version set), so
/// a target worth searching (a few hits per chunk at the most) never meets it.
pub const MAX_HITS_PER_CHUNK: usize = 256;
/// Stack for each worker: unoptimised builds of the unrolled SIMD kernels
/// need more than the default 2 MiB.
const WORKER_STACK: usize = 8 << 20;

/// The number of workers used when none is given: the CPUs this process may
/// run on, or 1 if that cannot be told.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Errors setting up a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The engine is unknown or this CPU cannot run it.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Zero threads were asked for.
    #[error("the thread count must be at least 1")]
    ZeroThreads,
    /// The worker thread pool could not be built.
    #[error("cannot start the search threads: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// One job for the searcher: a header's nonces, or a header's nonces in a
/// set of versions (BIP310 version rolling, searched with the engine's
/// version-rolling mode).
#[derive(Clone, Debug)]
// A job is made once per nonce range (seconds of hashing): its size is of no account.
#[allow(clippy::large_enum_variant)]
pub enum Work {
    /// A header's nonces, in the engine's nonce-only mode.
    Nonces(Job),
    /// A header's nonces times a set of versions, in the engine's version-rolling mode.
    Versions(RolledJob),
}

impl From<Job> for Work {
    fn from(job: Job) -> Self {
        Work::Nonces(job)
    }
}

impl From<RolledJob> for Work {
    fn from(job: RolledJob) -> Self {
        Work::Versions(job)
    }
}

impl Work {
    /// Headers hashed per nonce.
    pub fn versions(&self) -> u64 {
        match self {
            Work::Nonces(_) => 1,
            Work::Versions(job) => job.versions().len() as u64,
        }
    }
}

/// Where a [`Searcher`] gets its jobs: asked once at the start of a run and
/// again each time a job's nonce range is spent or abandoned.
///
/// Any `FnMut() -> Option<(Tag, W)>` closure is a source, where `W` is a
/// [`Job`], a [`RolledJob`] or a [`Work`].
pub trait WorkSource {
    /// Identifies a job in the hits reported for it (a stratum job id with
    /// its extranonce2 and ntime, say).
    type Tag: Clone + Send + Sync;

    /// The next job to search, or `None` to end the run.
    fn next_job(&mut self) -> Option<(Self::Tag, Work)>;
}

impl<T, W, F> WorkSource for F
where
    T: Clone + Send + Sync,
    W: Into<Work>,
    F: FnMut() -> Option<(T, W)>,
{
    type Tag = T;

    fn next_job(&mut self) -> Option<(T, Work)> {
        self().map(|(tag, work)| (tag, work.into()))
    }
}

/// A hit, with the job it was found in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found<T> {
    /// The tag the source gave the job.
    pub tag: T,
    /// The job's sequence number in this searcher: 1 for its first job.
    pub job: u64,
    /// The nonce and its hash.
    pub hit: Hit,
    /// The full header version of the hit, for version-rolled work
    /// ([`Work::Versions`]); `None` for nonce-only work.
    pub version: Option<u32>,
}

/// Why [`Searcher::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// [`SearchHandle::stop`] was called.
    Stopped,
    /// The source returned `None`.
    OutOfWork,
}

/// State shared by a searcher, its workers and its handles.
#[derive(Debug)]
struct Shared {
    /// Bumped by `restart`; a job runs until this changes.
    generation: AtomicU64,
    stop: AtomicBool,
    /// Nonces hashed by each worker, on its own cache line.
    hashed: Box<[CachePadded<AtomicU64>]>,
    /// Hits not reported because their chunk had more than [`MAX_HITS_PER_CHUNK`].
    dropped: AtomicU64,
}

impl Shared {
    fn cancelled(&self, generation: u64) -> bool {
        self.stop.load(Ordering::Relaxed) || self.generation.load(Ordering::Relaxed) != generation
    }
}

/// Controls a [`Searcher`] from other threads and reads its hash counters.
#[derive(Clone, Debug)]
pub struct SearchHandle {
    shared: Arc<Shared>,
}

impl SearchHandle {
    /// Abandons the running job: within a chunk's time the workers stop and
    /// the searcher asks its source for the next job. Call it after making a
    /// new job available to the source. Hits from chunks already under way
    /// are still reported, tagged with the old job.
    pub fn restart(&self) {
        self.shared.generation.fetch_add(1, Ordering::Release);
    }

    /// Ends the current run, or the next one if none is running, within a
    /// chunk's time.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
    }

    /// Headers hashed so far by all workers (nonces times versions), over
    /// the searcher's lifetime.
    pub fn hashes(&self) -> u64 {
        self.shared
            .hashed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Hits not reported because a chunk had more than [`MAX_HITS_PER_CHUNK`],
    /// over the searcher's lifetime.
    pub fn hits_dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Headers hashed so far by each worker, over the searcher's lifetime.
    pub fn hashes_per_thread(&self) -> Vec<u64> {
        self.shared
            .hashed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// A pool of workers searching nonces with one engine.
#[derive(Debug)]
pub struct Searcher {
    engine: Engine,
    pool: rayon::ThreadPool,
    nonces: Range<u64>,
    shared: Arc<Shared>,
    jobs: u64,
}

impl Searcher {
    /// A searcher using `engine` on `threads` workers ([`default_threads`] if
    /// `None`). Fails if the CPU cannot run the engine.
    pub fn new(engine: Engine, threads: Option<usize>) -> Result<Self, SearchError> {
        let engine = engine.check()?;
        let threads = match threads {
            Some(0) => return Err(SearchError::ZeroThreads),
            Some(n) => n,
            None => default_threads(),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("miner-{i}"))
            .stack_size(WORKER_STACK)
            .build()?;
        let shared = Arc::new(Shared {
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            hashed: (0..threads).map(|_| Default::default()).collect(),
            dropped: AtomicU64::new(0),
        });
        Ok(Self {
            engine,
            pool,
            nonces: 0..NONCE_SPACE,
            shared,
            jobs: 0,
        })
    }

    /// Searches only `nonces` of each job instead of all 2^32 (to split the
    /// space with other miners, or to make tests short). Panics if the range
    /// is empty or goes beyond 2^32.
    pub fn with_nonce_range(mut self, nonces: Range<u64>) -> Self {
        assert!(
            nonces.start < nonces.end && nonces.end <= NONCE_SPACE,
            "bad nonce range {nonces:?}"
        );
        self.nonces = nonces;
        self
    }

    /// The engine the workers hash with.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.shared.hashed.len()
    }

    /// A handle to restart or stop this searcher and read its counters.
    pub fn handle(&self) -> SearchHandle {
        SearchHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Searches jobs from `source` until stopped or the source runs dry,
    /// calling `on_hit` (from the worker threads) for every nonce whose hash
    /// meets its job's target. Blocks the calling thread, which only waits
    /// and asks the source for jobs; the hashing happens on the pool.
    pub fn run<S, F>(&mut self, source: &mut S, on_hit: F) -> Outcome
    where
        S: WorkSource + ?Sized,
        F: Fn(Found<S::Tag>) + Sync,
    {
        let shared = &*self.shared;
        let outcome = loop {
            if shared.stop.load(Ordering::Acquire) {
                break Outcome::Stopped;
            }
            // Read before asking for the job, so that a restart made while the
            // source is being asked abandons the job it may have returned stale.
            let generation = shared.generation.load(Ordering::Acquire);
            let Some((tag, work)) = source.next_job() else {
                break Outcome::OutOfWork;
            };
            self.jobs += 1;
            let run = JobRun {
                engine: self.engine,
                work: &work,
                tag: &tag,
                seq: self.jobs,
                generation,
                next: AtomicU64::new(self.nonces.start),
                end: self.nonces.end,
                shared,
                on_hit: &on_hit,
            };
            tracing::trace!(job = run.seq, "searching");
            self.pool.broadcast(|ctx| run.work(ctx.index()));
        };
        // A stop that lands while the run is ending anyway is consumed too.
        if shared.stop.swap(false, Ordering::AcqRel) {
            Outcome::Stopped
        } else {
            outcome
        }
    }
}

/// One job being searched by all workers.
struct JobRun<'a, T, F> {
    engine: Engine,
    work: &'a Work,
    tag: &'a T,
    seq: u64,
    generation: u64,
    /// The first nonce not yet claimed by a worker.
    next: AtomicU64,
    end: u64,
    shared: &'a Shared,
    on_hit: &'a F,
}

impl<T: Clone, F: Fn(Found<T>)> JobRun<'_, T, F> {
    /// One worker's loop: claim a chunk, hash it, report its hits, until the
    /// range is spent or the job is cancelled.
    fn work(&self, worker: usize) {
        let lanes = self.engine.lanes();
        let counter = &self.shared.hashed[worker];
        let mut chunk = round_to_lanes(FIRST_CHUNK, lanes);
        let mut candidates = Vec::new();
        let mut rolled = Vec::new();
        let versions = self.work.versions();
        while !self.shared.cancelled(self.generation) {
            let start = self.next.fetch_add(chunk, Ordering::Relaxed);
            if start >= self.end {
                break;
            }
            let stop = (start + chunk).min(self.end);
            let began = Instant::now();
            match self.work {
                Work::Nonces(job) => {
                    candidates.clear();
                    self.engine.candidates(job, start..stop, &mut candidates);
                    counter.fetch_add(stop - start, Ordering::Relaxed);
                    let hits = engine::confirm(job, &candidates);
                    self.count_dropped(hits.len());
                    for hit in hits.into_iter().take(MAX_HITS_PER_CHUNK) {
                        self.report(hit, None);
                    }
                }
                Work::Versions(job) => {
                    rolled.clear();
                    self.engine.rolled_candidates(job, start..stop, &mut rolled);
                    counter.fetch_add((stop - start) * versions, Ordering::Relaxed);
                    let hits = engine::confirm_rolled(job, &rolled);
                    self.count_dropped(hits.len());
                    for hit in hits.into_iter().take(MAX_HITS_PER_CHUNK) {
                        self.report(hit.hit, Some(hit.version));
                    }
                }
            }
            if stop - start == chunk {
                chunk = next_chunk(chunk, began.elapsed(), lanes);
            }
        }
    }
}

impl<T: Clone, F: Fn(Found<T>)> JobRun<'_, T, F> {
    /// Counts the hits of a chunk of `hits` beyond [`MAX_HITS_PER_CHUNK`].
    fn count_dropped(&self, hits: usize) {
        if let Some(excess) = hits.checked_sub(MAX_HITS_PER_CHUNK).filter(|&n| n > 0) {
            self.shared
                .dropped
                .fetch_add(excess as u64, Ordering::Relaxed);
        }
    }

    fn report(&self, hit: Hit, version: Option<u32>) {
        (self.on_hit)(Found {
            tag: self.tag.clone(),
            job: self.seq,
            hit,
            version,
        });
    }
}

/// The size of a worker's next chunk, given how long the last one took:
/// aimed at [`CHUNK_TIME`], changing by at most a factor of two at a time.
fn next_chunk(chunk: u64, took: Duration, lanes: u64) -> u64 {
    let took = took.as_nanos().max(1);
    let aimed = u128::from(chunk) * CHUNK_TIME.as_nanos() / took;
    let aimed = u64::try_from(aimed).unwrap_or(u64::MAX);
    let size = aimed.clamp(chunk / 2, chunk.saturating_mul(2));
    round_to_lanes(size.clamp(MIN_CHUNK, MAX_CHUNK), lanes)
}

/// `n` rounded down to a multiple of `lanes`, but at least `lanes`.
fn round_to_lanes(n: u64, lanes: u64) -> u64 {
    (n / lanes * lanes).max(lanes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ShareTarget;
    use bitcoin::pow::Target;
    use std::sync::mpsc;
    use std::sync::Mutex;

    fn header(seed: u8) -> [u8; 80] {
        std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
    }

    /// About one hash in 256 meets this.
    fn easy() -> ShareTarget {
        ShareTarget::from_difficulty(1.0 / (1u64 << 24) as f64).unwrap()
    }

    /// No hash meets this (short of a 2^-256 chance).
    fn impossible() -> ShareTarget {
        ShareTarget::new(Target::ZERO)
    }

    fn engines() -> Vec<Engine> {
        Engine::available()
    }

    #[test]
    fn finds_every_hit_the_portable_scan_finds() {
        let job = Job::new(header(7), easy());
        let range = 1_003..31_007;
        let expected = Engine::Portable.scan(&job, range.clone());
        assert!(
            expected.len() > 20,
            "too few hits to compare: {}",
            expected.len()
        );
        for engine in engines() {
            let mut searcher = Searcher::new(engine, Some(2))
                .unwrap()
                .with_nonce_range(range.clone());
            let hits = Mutex::new(Vec::new());
            let mut jobs = vec![("only", job.clone())];
            let outcome = searcher.run(&mut || jobs.pop(), |f| hits.lock().unwrap().push(f));
            assert_eq!(outcome, Outcome::OutOfWork);
            let mut hits = hits.into_inner().unwrap();
            hits.sort_by_key(|f| f.hit.nonce);
            assert!(hits.iter().all(|f| f.tag == "only" && f.job == 1));
            let hits: Vec<Hit> = hits.into_iter().map(|f| f.hit).collect();
            assert_eq!(hits, expected, "{engine}");
            assert_eq!(
                searcher.handle().hashes(),
                range.end - range.start,
                "{engine}"
            );
        }
    }

    #[test]
    fn rolls_to_the_next_job_when_the_range_is_spent() {
        let range = 0..6_000;
        let jobs: Vec<Job> = (0..3).map(|i| Job::new(header(i), easy())).collect();
        let mut searcher = Searcher::new(Engine::best(), Some(2))
            .unwrap()
            .with_nonce_range(range.clone());
        let mut served = 0usize;
        let mut source = || {
            let job = jobs.get(served).cloned()?;
            served += 1;
            Some((served - 1, job))
        };
        let (tx, rx) = mpsc::channel();
        let outcome = searcher.run(&mut source, |f| tx.send(f).unwrap());
        drop(tx);
        assert_eq!(outcome, Outcome::OutOfWork);
        assert_eq!(served, 3);
        let mut found: Vec<Found<usize>> = rx.into_iter().collect();
        found.sort_by_key(|f| (f.tag, f.hit.nonce));
        for (i, job) in jobs.iter().enumerate() {
            let expected = Engine::Portable.scan(job, range.clone());
            assert!(!expected.is_empty());
            let got: Vec<Hit> = found
                .iter()
                .filter(|f| f.tag == i)
                .inspect(|f| assert_eq!(f.job, i as u64 + 1))
                .map(|f| f.hit)
                .collect();
            assert_eq!(got, expected, "job {i}");
        }
    }

    #[test]
    fn a_target_every_hash_meets_reports_a_bounded_number_of_hits_per_chunk() {
        // Every hash meets the easiest target. One worker's first chunk is
        // FIRST_CHUNK nonces (rounded to lanes): nearly the whole range, so one
        // chunk of ~4096 hits, and the few nonces left over in a second chunk.
        let every = ShareTarget::new(Target::from_be_bytes([0xff; 32]));
        for engine in engines() {
            let mut searcher = Searcher::new(engine, Some(1))
                .unwrap()
                .with_nonce_range(0..FIRST_CHUNK);
            let handle = searcher.handle();
            let reported = Mutex::new(Vec::new());
            let mut once = Some(((), Job::new(header(5), every)));
            searcher.run(&mut || once.take(), |f| reported.lock().unwrap().push(f));
            let reported = reported.into_inner().unwrap().len() as u64;
            let first = round_to_lanes(FIRST_CHUNK, engine.lanes());
            let rest = FIRST_CHUNK - first;
            assert_eq!(reported, MAX_HITS_PER_CHUNK as u64 + rest, "{engine}");
            assert_eq!(
                handle.hits_dropped(),
                first - MAX_HITS_PER_CHUNK as u64,
                "{engine}"
            );
            assert_eq!(handle.hashes(), FIRST_CHUNK, "{engine}");
        }
    }

    #[test]
    fn counters_add_up_to_the_nonces_hashed() {
        let range = 100..20_100;
        let mut searcher = Searcher::new(Engine::best(), Some(2))
            .unwrap()
            .with_nonce_range(range.clone());
        let handle = searcher.handle();
        assert_eq!(handle.hashes_per_thread(), vec![0, 0]);
        let mut left = 4;
        let job = Job::new(header(1), impossible());
        let mut source = || {
            left -= 1;
            (left >= 0).then(|| ((), job.clone()))
        };
        searcher.run(&mut source, |_| {});
        let per_thread = handle.hashes_per_thread();
        assert_eq!(per_thread.len(), 2);
        assert_eq!(
            per_thread.iter().sum::<u64>(),
            4 * (range.end - range.start)
        );
        assert_eq!(handle.hashes(), 4 * (range.end - range.start));
    }

    /// Runs `searcher` on its own thread with an endless source of
    /// impossible jobs, reporting each job served on the channel.
    fn spawn_endless(
        mut searcher: Searcher,
    ) -> (std::thread::JoinHandle<Outcome>, mpsc::Receiver<Instant>) {
        let (tx, rx) = mpsc::channel();
        let job = Job::new(header(3), impossible());
        let thread = std::thread::spawn(move || {
            let mut source = || {
                tx.send(Instant::now()).unwrap();
                Some(((), job.clone()))
            };
            searcher.run(&mut source, |f| panic!("impossible hit {f:?}"))
        });
        (thread, rx)
    }

    #[test]
    fn stop_ends_a_running_search_quickly() {
        let searcher = Searcher::new(Engine::Portable, Some(2)).unwrap();
        let handle = searcher.handle();
        let (thread, jobs) = spawn_endless(searcher);
        jobs.recv().unwrap();
        // Let the workers settle into their timed chunk sizes (on a loaded
        // machine their first chunk may take longer than that).
        std::thread::sleep(Duration::from_millis(150));
        let waited = Instant::now();
        while handle.hashes() == 0 {
            assert!(waited.elapsed() < Duration::from_secs(10), "nothing hashed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let asked = Instant::now();
        handle.stop();
        while !thread.is_finished() {
            assert!(
                asked.elapsed() < Duration::from_secs(5),
                "search did not stop"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let latency = asked.elapsed();
        assert_eq!(thread.join().unwrap(), Outcome::Stopped);
        assert!(
            latency < Duration::from_millis(50),
            "stopped after {latency:?}"
        );
        // Only one job was ever served: the first was not spent.
        assert!(jobs.try_recv().is_err());
    }

    #[test]
    fn restart_switches_jobs_quickly_and_stop_is_consumed_by_the_run() {
        let searcher = Searcher::new(Engine::best(), Some(2)).unwrap();
        let handle = searcher.handle();
        let (thread, jobs) = spawn_endless(searcher);
        jobs.recv().unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let asked = Instant::now();
        handle.restart();
        let served = jobs.recv_timeout(Duration::from_secs(5)).unwrap();
        let latency = served - asked;
        assert!(
            latency < Duration::from_millis(50),
            "next job after {latency:?}"
        );
        handle.stop();
        assert_eq!(thread.join().unwrap(), Outcome::Stopped);
    }

    #[test]
    fn stop_before_run_ends_the_next_run_at_once() {
        let mut searcher = Searcher::new(Engine::Portable, Some(1)).unwrap();
        searcher.handle().stop();
        let job = Job::new(header(0), impossible());
        let mut source = || Some(((), job.clone()));
        assert_eq!(searcher.run(&mut source, |_| {}), Outcome::Stopped);
        // The stop was used up: a later run searches until its source is dry.
        let mut searcher = searcher.with_nonce_range(0..100);
        let mut once = Some(((), job.clone()));
        assert_eq!(
            searcher.run(&mut || once.take(), |_| {}),
            Outcome::OutOfWork
        );
        assert_eq!(searcher.handle().hashes(), 100);
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(matches!(
            Searcher::new(Engine::Portable, Some(0)),
            Err(SearchError::ZeroThreads)
        ));
        assert_eq!(
            Searcher::new(Engine::Portable, None).unwrap().threads(),
            default_threads()
        );
    }

    #[test]
    fn chunks_track_the_time_target_in_lane_multiples() {
        // Far too fast: grows, by at most double.
        assert_eq!(next_chunk(4096, Duration::from_micros(10), 16), 8192);
        // Far too slow: shrinks, by at most half.
        assert_eq!(next_chunk(4096, Duration::from_millis(100), 16), 2048);
        // Near the target: stays near, a lane multiple.
        let n = next_chunk(4096, CHUNK_TIME * 9 / 10, 12);
        assert!(n.is_multiple_of(12) && (4500..=4560).contains(&n), "{n}");
        assert_eq!(next_chunk(MAX_CHUNK, Duration::ZERO, 16), MAX_CHUNK);
        assert_eq!(next_chunk(MIN_CHUNK, Duration::from_secs(1), 16), MIN_CHUNK);
    }
}
