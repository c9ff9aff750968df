//! The journal of found blocks and accepted shares (JSON lines, one file).
//!
//! A found block is written and `fsync`ed before it is submitted, and its submission outcome is
//! appended once the node answers (and, for an `inconclusive` answer, what became of the block
//! once checked again); on start the proxy resubmits every block without a final outcome, so a
//! crash between finding and submitting loses nothing. Accepted shares are journaled the same way,
//! before the miner is told "accepted", so a restart keeps the PPLNS window. A writer thread
//! batches concurrent appends into one `fsync` (group commit).
//!
//! Failure rules: a torn last line (a crash mid-write) is cut off on open so the next record is
//! not glued to it ([`recover`]); an undecodable complete line is an error, never skipped; once
//! a write or `fsync` fails the journal refuses every later append (fail closed: the file's
//! state is unknown, see [`writer`]). The file is compacted into a snapshot of what recovery
//! needs (unresolved blocks and the PPLNS window's shares) every
//! [`JournalOptions::compact_every`] appends, so its size and recovery time stay bounded.

mod recover;
mod writer;

pub use recover::Recovered;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

use writer::{FileSegment, Msg, Segment};

/// One journal line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// A block found by a miner, as `submitblock` takes it.
    Block {
        /// The block hash, hex in display order.
        hash: String,
        /// The block's height.
        height: u32,
        /// The serialized block, hex.
        hex: String,
    },
    /// The node's final answer for a block (`accepted`, `duplicate`, or a rejection reason).
    Submitted {
        /// The block hash, as in its [`Entry::Block`].
        hash: String,
        /// The answer.
        outcome: String,
    },
    /// What became of a block the node answered `inconclusive` for: `accepted` (in the best
    /// chain) or `stale` (not, after the bounded checks).
    Resolved {
        /// The block hash, as in its [`Entry::Block`].
        hash: String,
        /// `accepted` or `stale`.
        outcome: String,
    },
    /// An accepted share: the payout script (hex) and the share difficulty.
    Share {
        /// The payout script of the share's worker, hex.
        script: String,
        /// The share difficulty.
        difficulty: f64,
    },
    /// The first line of a compacted journal: what the snapshot below it holds.
    Compacted {
        /// Unresolved blocks in the snapshot.
        blocks: usize,
        /// PPLNS window shares in the snapshot.
        shares: usize,
    },
}

/// Errors opening, reading or writing the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Opening the journal failed: creating, reading or cutting the file, or starting the
    /// writer thread.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file (`<journal thread>` when the thread could not start).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A complete line of the file does not decode as an [`Entry`].
    #[error(
        "journal {path}, line {line}: cannot decode a complete record ({reason}); \
         refusing to start rather than drop the records after it (move the file aside to start \
         empty, or repair the line)"
    )]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// The decoder's error.
        reason: String,
    },
    /// A write or `fsync` failed, now or before (the journal fails closed): the error.
    #[error("journal write failed, nothing more is acknowledged: {0}")]
    Failed(String),
    /// The writer thread is gone.
    #[error("journal writer has stopped")]
    Closed,
}

/// How the journal keeps itself bounded.
#[derive(Clone, Copy, Debug)]
pub struct JournalOptions {
    /// Appends after which the pool compacts the journal (see [`Journal::compaction_due`]).
    pub compact_every: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        // 100,000 lines is about 12 MB of shares and a recovery of well under a second; the
        // file then holds at most this many lines beyond the snapshot.
        Self {
            compact_every: 100_000,
        }
    }
}

/// A handle to the journal writer; cheap to clone.
#[derive(Clone, Debug)]
pub struct Journal {
    tx: std_mpsc::Sender<Msg>,
    since_compaction: Arc<AtomicUsize>,
    options: JournalOptions,
}

/// An append queued on the writer; await it to know the record is on disk.
pub struct Pending(oneshot::Receiver<Result<(), String>>);

impl Pending {
    /// Waits until the record is on disk, or the journal has failed.
    pub async fn durable(self) -> Result<(), JournalError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JournalError::Failed(e)),
            Err(_) => Err(JournalError::Closed),
        }
    }
}

impl Journal {
    /// Opens (creating) the journal at `path` with the default options, returning what it holds.
    pub fn open(path: &Path) -> Result<(Self, Recovered), JournalError> {
        Self::open_with(path, JournalOptions::default())
    }

    /// Opens (creating) the journal at `path`: repairs a torn tail, recovers the records (an
    /// undecodable one is an error), then starts the writer.
    pub fn open_with(
        path: &Path,
        options: JournalOptions,
    ) -> Result<(Self, Recovered), JournalError> {
        let (segment, recovered) = FileSegment::open(path)?;
        Ok((Self::start(segment, &recovered, options)?, recovered))
    }

    fn start(
        segment: impl Segment,
        recovered: &Recovered,
        options: JournalOptions,
    ) -> Result<Self, JournalError> {
        let (tx, rx) = std_mpsc::channel::<Msg>();
        let state = recover::Replay::from_recovered(recovered);
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer::run(segment, state, rx))
            .map_err(|source| JournalError::Io {
                path: PathBuf::from("<journal thread>"),
                source,
            })?;
        Ok(Self {
            tx,
            since_compaction: Arc::new(AtomicUsize::new(recovered.lines)),
            options,
        })
    }

    /// Queues `entry` behind every entry queued before it (callers that need an order between
    /// the journal and their own state call this under their lock) and returns its receipt.
    pub fn enqueue(&self, entry: Entry) -> Pending {
        let (done, wait) = oneshot::channel();
        self.since_compaction.fetch_add(1, Ordering::Relaxed);
        // A stopped writer drops `done`, which `durable` reports as `Closed`.
        let _ = self.tx.send(Msg::Append(entry, done));
        Pending(wait)
    }

    /// Appends `entry` and waits until it is on disk.
    pub async fn append(&self, entry: &Entry) -> Result<(), JournalError> {
        self.enqueue(entry.clone()).durable().await
    }

    /// Whether enough has been appended since the last compaction to compact again.
    pub fn compaction_due(&self) -> bool {
        self.since_compaction.load(Ordering::Relaxed) >= self.options.compact_every
    }

    /// Rewrites the journal as its unresolved blocks plus the last `keep_shares` shares
    /// appended (the PPLNS window: the caller holds the window's lock, so that the window is
    /// exactly that suffix of the journal's shares), then appends continue after them.
    pub fn compact(&self, keep_shares: usize) {
        self.since_compaction.store(0, Ordering::Relaxed);
        let _ = self.tx.send(Msg::Compact { keep_shares });
    }
}

#[cfg(test)]
mod tests;
