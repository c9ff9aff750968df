//! The journal's writer thread and the file it writes: group commit of appends, compaction into
//! a snapshot by write-sync-rename, and the fail-closed rule (after a failed write or `fsync`
//! nothing more is acknowledged, as the file's state on disk is then unknown).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::recover::{self, Recovered, Replay};
use super::{Entry, JournalError};

/// A request to the writer thread.
pub(super) enum Msg {
    /// Append a record and acknowledge once it is on disk.
    Append(Entry, oneshot::Sender<Result<(), String>>),
    /// Rewrite the file as its snapshot, keeping the last `keep_shares` shares.
    Compact { keep_shares: usize },
}

/// Why a compaction did not happen.
#[derive(Debug)]
pub(super) struct ReplaceError {
    /// Whether the new file had already replaced the old one (then the journal's state on disk
    /// is uncertain and the journal fails closed); before that the old file is intact.
    pub swapped: bool,
    pub source: std::io::Error,
}

/// Where the writer puts records: the journal file, or a failing one in tests.
pub(super) trait Segment: Send + 'static {
    /// Appends `bytes` and syncs them to disk.
    fn append_synced(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Atomically replaces the whole journal with `bytes` (synced), appending after them.
    fn replace(&mut self, bytes: &[u8]) -> Result<(), ReplaceError>;
}

/// The journal file on disk.
pub(super) struct FileSegment {
    path: PathBuf,
    file: File,
}

impl FileSegment {
    /// Opens (creating) the file, reads it back and cuts a torn last record.
    pub fn open(path: &Path) -> Result<(Self, Recovered), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let (recovered, complete) = recover::read(BufReader::new(&file), path)?;
        if recovered.torn_bytes > 0 {
            warn!(
                path = %path.display(),
                bytes = recovered.torn_bytes,
                "journal: cutting a torn last record (a crash mid-write; it was never acknowledged)"
            );
            file.set_len(complete).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok((
            Self {
                path: path.to_owned(),
                file,
            },
            recovered,
        ))
    }

    /// Where a compaction writes its snapshot before renaming it over the journal.
    fn snapshot_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".compact");
        self.path.with_file_name(name)
    }

    fn swap_in(&mut self, bytes: &[u8]) -> Result<(), ReplaceError> {
        let before = |source| ReplaceError {
            swapped: false,
            source,
        };
        let after = |source| ReplaceError {
            swapped: true,
            source,
        };
        let tmp = self.snapshot_path();
        let mut new = File::create(&tmp).map_err(before)?;
        new.write_all(bytes).map_err(before)?;
        new.sync_all().map_err(before)?;
        std::fs::rename(&tmp, &self.path).map_err(before)?;
        let dir = match self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d.to_owned(),
            None => PathBuf::from("."),
        };
        File::open(&dir).and_then(|d| d.sync_all()).map_err(after)?;
        // Appends continue on the new file (the handle still points at the old, unlinked one).
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(after)?;
        Ok(())
    }
}

impl Segment for FileSegment {
    fn append_synced(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.file.sync_data()
    }

    fn replace(&mut self, bytes: &[u8]) -> Result<(), ReplaceError> {
        let result = self.swap_in(bytes);
        if result.as_ref().is_err_and(|e| !e.swapped) {
            let _ = std::fs::remove_file(self.snapshot_path());
        }
        result
    }
}

/// One journal line, newline included.
fn line(entry: &Entry) -> String {
    let mut s = serde_json::to_string(entry).expect("journal entries serialize");
    s.push('\n');
    s
}

/// The writer: every message in arrival order; appends between compactions are written and
/// synced once per batch, then acknowledged.
pub(super) fn run(mut segment: impl Segment, mut state: Replay, rx: std_mpsc::Receiver<Msg>) {
    let mut failed: Option<String> = None;
    let mut buf = String::new();
    let mut waiters = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        for msg in batch {
            match msg {
                Msg::Append(entry, done) => {
                    buf.push_str(&line(&entry));
                    state.apply(&entry);
                    waiters.push(done);
                }
                Msg::Compact { keep_shares } => {
                    flush(&mut segment, &mut failed, &mut buf, &mut waiters);
                    if failed.is_none() {
                        compact(&mut segment, &mut state, &mut failed, keep_shares);
                    }
                }
            }
        }
        flush(&mut segment, &mut failed, &mut buf, &mut waiters);
    }
}

/// Writes and syncs what is buffered, then answers its waiters; a failure is sticky.
fn flush(
    segment: &mut impl Segment,
    failed: &mut Option<String>,
    buf: &mut String,
    waiters: &mut Vec<oneshot::Sender<Result<(), String>>>,
) {
    if waiters.is_empty() {
        return;
    }
    let result = match failed {
        Some(e) => Err(e.clone()),
        None => segment.append_synced(buf.as_bytes()).map_err(|e| {
            let e = e.to_string();
            error!(
                error = %e,
                "journal write or fsync failed: refusing to acknowledge shares from now on \
                 (restart the proxy once the disk is healthy)"
            );
            *failed = Some(e.clone());
            e
        }),
    };
    buf.clear();
    for done in waiters.drain(..) {
        let _ = done.send(result.clone());
    }
}

/// Rewrites the journal as `Compacted`, the unresolved blocks, and the last `keep` shares.
fn compact(
    segment: &mut impl Segment,
    state: &mut Replay,
    failed: &mut Option<String>,
    keep: usize,
) {
    let keep = keep.min(state.shares.len());
    let mut snapshot = line(&Entry::Compacted {
        blocks: state.blocks.len(),
        shares: keep,
    });
    for (hash, height, hex) in &state.blocks {
        snapshot.push_str(&line(&Entry::Block {
            hash: hash.clone(),
            height: *height,
            hex: hex.clone(),
        }));
    }
    for (script, difficulty) in state.shares.iter().skip(state.shares.len() - keep) {
        snapshot.push_str(&line(&Entry::Share {
            script: script.clone(),
            difficulty: *difficulty,
        }));
    }
    match segment.replace(snapshot.as_bytes()) {
        Ok(()) => {
            state.keep_last_shares(keep);
            info!(
                blocks = state.blocks.len(),
                shares = keep,
                bytes = snapshot.len(),
                "journal compacted"
            );
        }
        Err(e) if !e.swapped => {
            warn!(error = %e.source, "journal compaction failed; the old journal is intact")
        }
        Err(e) => {
            let e = e.source.to_string();
            error!(error = %e, "journal compaction failed after the swap: failing closed");
            *failed = Some(e);
        }
    }
}
