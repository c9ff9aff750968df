//! The journal on a disk that fills up (a 64 KiB tmpfs mounted by the test, as root): shares are
//! acknowledged while their records reach the disk; once a write fails the pool refuses to
//! acknowledge any share, and keeps refusing after space comes back (the journal's state is
//! then unknown: fail closed, until the proxy restarts and recovers it).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{
    error_code, find_nonce, push_job, regtest_address, submit_params, test_pool, Server,
};
use proxy::downstream::ServerConfig;
use proxy::journal::Entry;
use serde_json::json;
use std::str::FromStr;
use stratum::ShareTarget;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and must run as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = [0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        // The last partial chunk may have been taken byte by byte; take those too.
        while f.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes a valid journal (one `resolved` record, which recovery ignores) long enough that the
/// record of one share by `address` at `difficulty` ends it exactly on a 4 KiB page boundary.
fn pad_journal(path: &Path, address: &str, difficulty: f64) {
    let script = bitcoin::Address::from_str(address)
        .unwrap()
        .assume_checked()
        .script_pubkey();
    let share = Entry::Share {
        script: hex::encode(script.as_bytes()),
        difficulty,
    };
    let share_len = serde_json::to_string(&share).unwrap().len() + 1;
    let empty = Entry::Resolved {
        hash: String::new(),
        outcome: String::new(),
    };
    let empty_len = serde_json::to_string(&empty).unwrap().len() + 1;
    let pad = Entry::Resolved {
        hash: String::new(),
        outcome: "x".repeat(4096 - share_len - empty_len),
    };
    let line = serde_json::to_string(&pad).unwrap() + "\n";
    assert_eq!(line.len() + share_len, 4096);
    std::fs::write(path, line).unwrap();
}

#[tokio::test]
async fn a_full_journal_disk_makes_the_pool_refuse_shares_until_restarted() {
    let disk = SmallDisk::mount("64k");
    let worker_address = regtest_address(3);
    let difficulty = 1.0 / (1u64 << 20) as f64;
    pad_journal(
        &disk.path().join("journal.jsonl"),
        &worker_address,
        difficulty,
    );
    let pool = test_pool(disk.path());
    let server = Server::start_with(pool, ServerConfig::default(), None).await;
    let job = push_job(&server.pool, 1);
    let worker = format!("{worker_address}.rig");
    let ntime = job.template().curtime;
    let mut c = server.client().await;
    let en1 = c.handshake(&worker, difficulty).await;
    let target = ShareTarget::from_difficulty(difficulty).unwrap();
    let share = |en2: u32| {
        let en2 = en2.to_be_bytes();
        let nonce = find_nonce(&job, &en1, &en2, ntime, target, true);
        submit_params(&worker, job.id(), &en2, ntime, nonce)
    };

    let r = c.call("mining.submit", share(1)).await.unwrap();
    assert_eq!(r["result"], json!(true), "{r}");

    // The disk fills up; the journal's file ends on a page boundary (see `pad_journal`), so
    // the next record needs a page the disk no longer has.
    let filler = disk.fill();
    let r = c.call("mining.submit", share(2)).await.unwrap();
    assert_eq!(error_code(&r), Some(20), "{r}");
    assert!(r.to_string().contains("cannot record shares"), "{r}");

    // Space comes back; the journal stays closed.
    std::fs::remove_file(filler).unwrap();
    for en2 in 3..6 {
        let r = c.call("mining.submit", share(en2)).await.unwrap();
        assert_eq!(error_code(&r), Some(20), "{r}");
    }

    let stats = &server.pool.stats;
    let accepted = stats.accepted.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(accepted, 1);
    assert_eq!(
        stats.rejected.lock().unwrap().get("journal-failed"),
        Some(&4)
    );
    server.stop().await;

    // A restart recovers exactly the acknowledged share.
    let (_, recovered) = proxy::journal::Journal::open(&disk.path().join("journal.jsonl")).unwrap();
    assert_eq!(recovered.shares.len() as u64, accepted);
}
