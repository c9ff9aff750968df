//! Journal recovery time on start: a journal of 10^6 accepted shares (and a few blocks), read
//! back as the proxy does on start, against the same journal after compaction (its unresolved
//! blocks and a full default PPLNS window of 8,640 shares). Compaction bounds the file at the
//! window plus `JournalOptions::compact_every` (100,000) records, so the first figure is what
//! an uncompacted journal costs after about a day of a busy pool, and the second what every
//! start costs now.

use std::io::Write;
use std::path::Path;

use criterion::{criterion_main, Criterion};
use proxy::journal::{Entry, Journal};

const SHARES: usize = 1_000_000;
const WINDOW: usize = 8_640;

/// Writes `SHARES` share records (400 distinct payout scripts) and 10 blocks, 5 unresolved.
fn write_journal(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..SHARES {
        let entry = Entry::Share {
            script: format!("0014{:040x}", i % 400),
            difficulty: 0.5 + (i % 7) as f64,
        };
        serde_json::to_writer(&mut out, &entry).unwrap();
        out.write_all(b"\n").unwrap();
        if i % (SHARES / 10) == 0 {
            let hash = format!("{i:064x}");
            for entry in [
                Entry::Block {
                    hash: hash.clone(),
                    height: 1,
                    hex: "00".repeat(300),
                },
                Entry::Submitted {
                    hash,
                    outcome: "accepted".into(),
                },
            ]
            .iter()
            .take(if i % (SHARES / 5) == 0 { 2 } else { 1 })
            {
                serde_json::to_writer(&mut out, entry).unwrap();
                out.write_all(b"\n").unwrap();
            }
        }
    }
    out.flush().unwrap();
}

fn recovery(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    write_journal(&full);
    let compacted = dir.path().join("compacted.jsonl");
    std::fs::copy(&full, &compacted).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    {
        let (journal, recovered) = Journal::open(&compacted).unwrap();
        assert_eq!(recovered.shares.len(), SHARES);
        journal.compact(WINDOW);
        // Queued behind the compaction: once durable, the compaction has run.
        runtime
            .block_on(journal.append(&Entry::Resolved {
                hash: "00".into(),
                outcome: "stale".into(),
            }))
            .unwrap();
    }
    let sizes = [&full, &compacted].map(|p| std::fs::metadata(p).unwrap().len());
    eprintln!(
        "journal bytes: {} before compaction, {} after",
        sizes[0], sizes[1]
    );

    let mut group = c.benchmark_group("journal_recovery");
    group.sample_size(10);
    group.bench_function("1e6_shares", |b| {
        b.iter(|| {
            let (_, recovered) = Journal::open(&full).unwrap();
            assert_eq!(recovered.shares.len(), SHARES);
            assert_eq!(recovered.unsubmitted.len(), 5);
        })
    });
    group.bench_function("compacted_8640_window", |b| {
        b.iter(|| {
            let (_, recovered) = Journal::open(&compacted).unwrap();
            assert_eq!(recovered.shares.len(), WINDOW);
            assert_eq!(recovered.unsubmitted.len(), 5);
        })
    });
    group.finish();
}

// `criterion_group!` makes a `pub fn benches()`, which cannot carry a doc comment: in a
// private module it is not part of the file's public items.
mod group {
    criterion::criterion_group!(benches, super::recovery);
}
criterion_main!(group::benches);
