//! Reading a journal back: the replay state (unresolved blocks, shares in order) that both
//! recovery on open and the writer's compaction use, and the strict line-by-line reader.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::Path;

use super::{Entry, JournalError};

/// What a restart recovers.
#[derive(Debug, Default, PartialEq)]
pub struct Recovered {
    /// Blocks with no final outcome yet, oldest first: `(hash, height, hex)`.
    pub unsubmitted: Vec<(String, u32, String)>,
    /// Accepted shares, oldest first: `(script hex, difficulty)`.
    pub shares: Vec<(String, f64)>,
    /// Complete records read.
    pub lines: usize,
    /// Bytes of a torn last record that were cut off.
    pub torn_bytes: u64,
}

/// The journal's meaning so far: what recovery returns and compaction keeps.
#[derive(Debug, Default)]
pub(super) struct Replay {
    /// Blocks without a final outcome, oldest first: `(hash, height, hex)`.
    pub blocks: Vec<(String, u32, String)>,
    /// Every share since the last compaction, oldest first.
    pub shares: VecDeque<(String, f64)>,
}

impl Replay {
    /// Applies one record.
    pub fn apply(&mut self, entry: &Entry) {
        match entry {
            Entry::Block { hash, height, hex } => {
                self.blocks.push((hash.clone(), *height, hex.clone()))
            }
            Entry::Submitted { hash, .. } => self.blocks.retain(|(h, ..)| h != hash),
            Entry::Share { script, difficulty } => {
                self.shares.push_back((script.clone(), *difficulty))
            }
            Entry::Resolved { .. } | Entry::Compacted { .. } => {}
        }
    }

    /// Keeps only the last `keep` shares.
    pub fn keep_last_shares(&mut self, keep: usize) {
        let drop = self.shares.len().saturating_sub(keep);
        self.shares.drain(..drop);
    }

    /// A replay state holding what `recovered` holds.
    pub fn from_recovered(recovered: &Recovered) -> Self {
        Self {
            blocks: recovered.unsubmitted.clone(),
            shares: recovered.shares.iter().cloned().collect(),
        }
    }
}

/// Reads complete records from `reader`: returns what they mean and the length in bytes of the
/// complete part (a last line without its newline is torn: never acknowledged, so it is cut).
/// A complete line that does not decode is an error naming its line number.
pub(super) fn read(
    mut reader: impl BufRead,
    path: &Path,
) -> Result<(Recovered, u64), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    let mut replay = Replay::default();
    let mut line = Vec::new();
    let mut complete = 0u64;
    let mut lines = 0usize;
    let mut torn_bytes = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            torn_bytes = n as u64;
            break;
        }
        lines += 1;
        let entry: Entry =
            serde_json::from_slice(&line[..n - 1]).map_err(|e| JournalError::Corrupt {
                path: path.to_owned(),
                line: lines,
                reason: e.to_string(),
            })?;
        replay.apply(&entry);
        complete += n as u64;
    }
    Ok((
        Recovered {
            unsubmitted: replay.blocks,
            shares: replay.shares.into(),
            lines,
            torn_bytes,
        },
        complete,
    ))
}
