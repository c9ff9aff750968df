//! The append-only journal of found blocks and accepted shares (JSON lines).
//!
//! A found block is written and `fsync`ed before it is submitted, and its
//! submission outcome is appended once the node answers (and, for an
//! `inconclusive` answer, what became of the block once checked again); on start the proxy
//! resubmits every block without a final outcome, so a crash between finding
//! and submitting loses nothing. Accepted shares are journaled the same way
//! (before the miner is told "accepted") so a restart keeps the PPLNS window.
//! A writer thread batches concurrent appends into one `fsync` (group commit).

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use tokio::sync::oneshot;
use tracing::warn;

/// One journal line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// A block found by a miner, as `submitblock` takes it.
    Block {
        hash: String,
        height: u32,
        hex: String,
    },
    /// The node's final answer for a block (`accepted`, `duplicate`, or a rejection reason).
    Submitted { hash: String, outcome: String },
    /// What became of a block the node answered `inconclusive` for: `accepted` (in the best
    /// chain) or `stale` (not, after the bounded checks).
    Resolved { hash: String, outcome: String },
    /// An accepted share: the payout script (hex) and the share difficulty.
    Share { script: String, difficulty: f64 },
}

/// Errors opening or reading the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal writer has stopped")]
    Closed,
}

/// What a restart recovers.
#[derive(Debug, Default, PartialEq)]
pub struct Recovered {
    /// Blocks with no final outcome yet, oldest first: `(hash, height, hex)`.
    pub unsubmitted: Vec<(String, u32, String)>,
    /// Accepted shares, oldest first: `(script hex, difficulty)`.
    pub shares: Vec<(String, f64)>,
}

type Write_ = (String, oneshot::Sender<Result<(), String>>);

/// A handle to the journal writer; cheap to clone.
#[derive(Clone, Debug)]
pub struct Journal {
    tx: std_mpsc::Sender<Write_>,
}

impl Journal {
    /// Opens (creating) the journal at `path`, returning what it already holds.
    pub fn open(path: &Path) -> Result<(Self, Recovered), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let recovered = if path.exists() {
            recover(BufReader::new(File::open(path).map_err(io)?))
        } else {
            Recovered::default()
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let (tx, rx) = std_mpsc::channel::<Write_>();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer(file, rx))
            .map_err(io)?;
        Ok((Self { tx }, recovered))
    }

    /// Appends `entry` and waits until it is on disk.
    pub async fn append(&self, entry: &Entry) -> Result<(), JournalError> {
        let line = serde_json::to_string(entry).expect("journal entries serialize");
        let (done, wait) = oneshot::channel();
        self.tx
            .send((line, done))
            .map_err(|_| JournalError::Closed)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JournalError::Io {
                path: PathBuf::from("<journal>"),
                source: std::io::Error::other(e),
            }),
            Err(_) => Err(JournalError::Closed),
        }
    }
}

/// Writes every queued line, syncs once, then acknowledges them all.
fn writer(mut file: File, rx: std_mpsc::Receiver<Write_>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let mut buf = String::new();
        for (line, _) in &batch {
            buf.push_str(line);
            buf.push('\n');
        }
        let result = file
            .write_all(buf.as_bytes())
            .and_then(|_| file.sync_data())
            .map_err(|e| e.to_string());
        if let Err(e) = &result {
            warn!(error = %e, "journal write failed");
        }
        for (_, done) in batch {
            let _ = done.send(result.clone());
        }
    }
}

/// Reads the journal; a torn last line (crash mid-write) is skipped.
fn recover(reader: impl BufRead) -> Recovered {
    let mut blocks: Vec<(String, u32, String)> = Vec::new();
    let mut done = std::collections::HashSet::new();
    let mut shares = Vec::new();
    for line in reader.lines().map_while(Result::ok) {
        match serde_json::from_str::<Entry>(&line) {
            Ok(Entry::Block { hash, height, hex }) => blocks.push((hash, height, hex)),
            Ok(Entry::Submitted { hash, .. }) => {
                done.insert(hash);
            }
            Ok(Entry::Share { script, difficulty }) => shares.push((script, difficulty)),
            Ok(Entry::Resolved { .. }) => {}
            Err(e) => warn!(error = %e, "skipping an unreadable journal line"),
        }
    }
    Recovered {
        unsubmitted: blocks
            .into_iter()
            .filter(|(h, ..)| !done.contains(h))
            .collect(),
        shares,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_without_outcome_and_shares_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/journal.jsonl");
        let (j, rec) = Journal::open(&path).unwrap();
        assert_eq!(rec, Recovered::default());
        let block = |h: &str| Entry::Block {
            hash: h.into(),
            height: 7,
            hex: "00".into(),
        };
        j.append(&block("aa")).await.unwrap();
        j.append(&block("bb")).await.unwrap();
        j.append(&Entry::Submitted {
            hash: "aa".into(),
            outcome: "accepted".into(),
        })
        .await
        .unwrap();
        j.append(&Entry::Share {
            script: "0014ab".into(),
            difficulty: 0.5,
        })
        .await
        .unwrap();
        drop(j);
        // A crash mid-line leaves a torn tail.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"type\":\"blo")
            .unwrap();
        let (_j, rec) = Journal::open(&path).unwrap();
        assert_eq!(rec.unsubmitted, vec![("bb".into(), 7, "00".into())]);
        assert_eq!(rec.shares, vec![("0014ab".into(), 0.5)]);
    }

    #[tokio::test]
    async fn concurrent_appends_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (j, _) = Journal::open(&path).unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let j = j.clone();
                tokio::spawn(async move {
                    j.append(&Entry::Share {
                        script: format!("{i:04x}"),
                        difficulty: 1.0,
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let (_, rec) = Journal::open(&path).unwrap();
        assert_eq!(rec.shares.len(), 200);
    }
}
