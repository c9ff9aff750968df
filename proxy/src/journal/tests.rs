//! The journal's recovery, repair, fail-closed and compaction rules.

use super::writer::{ReplaceError, Segment};
use super::*;
use std::io::Write;

fn block(h: &str) -> Entry {
    Entry::Block {
        hash: h.into(),
        height: 7,
        hex: "00".into(),
    }
}

fn share(i: usize) -> Entry {
    Entry::Share {
        script: format!("{i:08x}"),
        difficulty: 1.0 + i as f64,
    }
}

fn submitted(h: &str) -> Entry {
    Entry::Submitted {
        hash: h.into(),
        outcome: "accepted".into(),
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn blocks_without_outcome_and_shares_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/journal.jsonl");
    let (j, rec) = Journal::open(&path).unwrap();
    assert_eq!(rec, Recovered::default());
    j.append(&block("aa")).await.unwrap();
    j.append(&block("bb")).await.unwrap();
    j.append(&submitted("aa")).await.unwrap();
    j.append(&Entry::Share {
        script: "0014ab".into(),
        difficulty: 0.5,
    })
    .await
    .unwrap();
    drop(j);
    let (_j, rec) = Journal::open(&path).unwrap();
    assert_eq!(rec.unsubmitted, vec![("bb".into(), 7, "00".into())]);
    assert_eq!(rec.shares, vec![("0014ab".into(), 0.5)]);
    assert_eq!((rec.lines, rec.torn_bytes), (4, 0));
}

#[tokio::test]
async fn a_torn_last_record_is_cut_so_the_next_one_is_not_glued_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let (j, _) = Journal::open(&path).unwrap();
    j.append(&share(1)).await.unwrap();
    drop(j);
    // A crash mid-line leaves a torn tail.
    let torn = b"{\"type\":\"blo";
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn)
        .unwrap();
    let (j, rec) = Journal::open(&path).unwrap();
    assert_eq!(rec.torn_bytes, torn.len() as u64);
    assert_eq!(rec.shares.len(), 1);
    j.append(&block("cc")).await.unwrap();
    drop(j);
    // Without the repair the block's line would start with the fragment and the reopen
    // would fail (or lose the block).
    let (_j, rec) = Journal::open(&path).unwrap();
    assert_eq!(rec.torn_bytes, 0);
    assert_eq!(rec.unsubmitted, vec![("cc".into(), 7, "00".into())]);
    assert_eq!(lines(&path).len(), 2);
}

#[tokio::test]
async fn an_undecodable_line_in_the_middle_stops_recovery_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let (j, _) = Journal::open(&path).unwrap();
    j.append(&share(1)).await.unwrap();
    drop(j);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"type\":\"garbage\"}\n").unwrap();
    drop(f);
    let corrupt_at_line_2 = |path: &Path| match Journal::open(path) {
        Err(JournalError::Corrupt { line, reason, .. }) => line == 2 && !reason.is_empty(),
        other => panic!("expected a corrupt-line error, got {other:?}"),
    };
    assert!(corrupt_at_line_2(&path));
    let before = std::fs::read(&path).unwrap();
    // A block after the bad line must not be silently dropped: opening still fails.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(format!("{}\n", serde_json::to_string(&block("dd")).unwrap()).as_bytes())
        .unwrap();
    assert!(corrupt_at_line_2(&path));
    assert!(
        std::fs::read(&path).unwrap().starts_with(&before),
        "file left as it was"
    );
}

#[tokio::test]
async fn concurrent_appends_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let (j, _) = Journal::open(&path).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let j = j.clone();
            tokio::spawn(async move { j.append(&share(i)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (_, rec) = Journal::open(&path).unwrap();
    assert_eq!(rec.shares.len(), 200);
}

/// A disk that accepts `ok` appends, then fails every write (as a full or dying disk does).
struct FailingDisk {
    ok: usize,
    written: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Segment for FailingDisk {
    fn append_synced(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.ok == 0 {
            return Err(std::io::Error::other("fsync: input/output error"));
        }
        self.ok -= 1;
        self.written.lock().unwrap().extend_from_slice(bytes);
        Ok(())
    }

    fn replace(&mut self, _: &[u8]) -> Result<(), ReplaceError> {
        unreachable!("not compacted in this test")
    }
}

#[tokio::test]
async fn after_a_failed_fsync_nothing_more_is_acknowledged() {
    let written = std::sync::Arc::default();
    let disk = FailingDisk {
        ok: 1,
        written: std::sync::Arc::clone(&written),
    };
    let j = Journal::start(disk, &Recovered::default(), JournalOptions::default()).unwrap();
    j.append(&share(1)).await.unwrap();
    let err = j.append(&share(2)).await.unwrap_err();
    assert!(matches!(err, JournalError::Failed(ref e) if e.contains("input/output")));
    // Sticky: even though the disk is not asked again, later appends fail too.
    for i in 3..6 {
        assert!(matches!(
            j.append(&share(i)).await,
            Err(JournalError::Failed(_))
        ));
    }
    let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 1);
}

#[tokio::test]
async fn compaction_keeps_unresolved_blocks_and_the_window_and_bounds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let options = JournalOptions { compact_every: 500 };
    let (j, _) = Journal::open_with(&path, options).unwrap();
    j.append(&block("b1")).await.unwrap();
    j.append(&block("b2")).await.unwrap();
    for i in 0..1000 {
        j.enqueue(share(i));
    }
    j.append(&submitted("b1")).await.unwrap();
    assert!(j.compaction_due());
    // Queued behind every append above: all of them are in the snapshot or before it.
    j.compact(10);
    assert!(!j.compaction_due());
    j.append(&share(5000)).await.unwrap();
    let text = lines(&path);
    assert_eq!(text.len(), 1 + 1 + 10 + 1, "{text:?}");
    assert_eq!(
        serde_json::from_str::<Entry>(&text[0]).unwrap(),
        Entry::Compacted {
            blocks: 1,
            shares: 10
        }
    );
    assert!(!path.with_file_name("journal.jsonl.compact").exists());
    drop(j);
    let (_, rec) = Journal::open(&path).unwrap();
    assert_eq!(rec.unsubmitted, vec![("b2".into(), 7, "00".into())]);
    let expected: Vec<(String, f64)> = (990..1000)
        .chain([5000])
        .map(|i| match share(i) {
            Entry::Share { script, difficulty } => (script, difficulty),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(rec.shares, expected);
}

#[tokio::test]
async fn a_compaction_that_cannot_write_leaves_the_old_journal_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let (j, _) = Journal::open(&path).unwrap();
    for i in 0..5 {
        j.append(&share(i)).await.unwrap();
    }
    // The snapshot's temporary name is taken by a directory: the compaction cannot start.
    std::fs::create_dir(path.with_file_name("journal.jsonl.compact")).unwrap();
    j.compact(2);
    j.append(&share(9)).await.unwrap();
    drop(j);
    let (_, rec) = Journal::open(&path).unwrap();
    assert_eq!(rec.shares.len(), 6);
}
