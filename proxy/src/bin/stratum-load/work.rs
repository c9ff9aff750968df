//! A share as an honest miner finds one, without I/O: the header a job commits to for this
//! connection's extranonce1 and a chosen extranonce2 (built by [`stratum::Notify`]), and a
//! nonce search over it with `sha2`'s double SHA-256, judged by [`stratum::ShareTarget`].
//! The generator runs [`Work::search`] on the threads of a [`HashPool`], never on the runtime.

use bitcoin::block::Header;
use sha2::{Digest, Sha256};
use std::ops::RangeInclusive;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use stratum::target::hash_top_word;
use stratum::{Notify, ShareTarget, Submit, TargetError};

/// One job's header for one extranonce2, and the target a share for it must meet.
#[derive(Debug, Clone)]
pub struct Work {
    /// The job the share is for.
    pub job_id: String,
    /// The extranonce2 bytes in the coinbase.
    pub extranonce2: Vec<u8>,
    /// The header, nonce 0.
    pub header: Header,
    /// The share target (the difficulty the job was sent at).
    pub target: ShareTarget,
}

/// A nonce whose header hash meets the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The header nonce.
    pub nonce: u32,
    /// The double SHA-256 of the header, as hashed (not reversed).
    pub hash: [u8; 32],
    /// How many nonces were tried, this one included.
    pub hashes: u64,
}

impl Work {
    /// The work `notify` gives a connection with `extranonce1` that picked `extranonce2`, at
    /// share `difficulty`.
    pub fn new(
        notify: &Notify,
        extranonce1: &[u8],
        extranonce2: &[u8],
        difficulty: f64,
    ) -> Result<Self, TargetError> {
        let coinbase = notify.coinbase(extranonce1, extranonce2);
        let root = notify.merkle_root(&coinbase);
        Ok(Self {
            job_id: notify.job_id.clone(),
            extranonce2: extranonce2.to_vec(),
            header: notify.header(root, notify.version, notify.ntime, 0),
            target: ShareTarget::from_difficulty(difficulty)?,
        })
    }

    /// The first nonce in `nonces` whose header meets the target. The first 64 header bytes
    /// do not depend on the nonce: their SHA-256 state is computed once.
    pub fn search(&self, nonces: RangeInclusive<u32>) -> Option<Found> {
        let bytes = bitcoin::consensus::encode::serialize(&self.header);
        let (head, tail) = bytes.split_at(64);
        let mut tail: [u8; 16] = tail.try_into().expect("an 80-byte header");
        let midstate = Sha256::new_with_prefix(head);
        let top = self.target.top_word();
        for (tried, nonce) in nonces.enumerate() {
            tail[12..].copy_from_slice(&nonce.to_le_bytes());
            let first = midstate.clone().chain_update(tail).finalize();
            let hash: [u8; 32] = Sha256::digest(first).into();
            if hash_top_word(&hash) <= top && self.target.is_met_by(&hash) {
                return Some(Found {
                    nonce,
                    hash,
                    hashes: tried as u64 + 1,
                });
            }
        }
        None
    }

    /// The `mining.submit` for `found` by `worker`.
    pub fn submit(&self, worker: &str, found: &Found) -> Submit {
        Submit {
            worker: worker.to_owned(),
            job_id: self.job_id.clone(),
            extranonce2: self.extranonce2.clone(),
            ntime: self.header.time,
            nonce: found.nonce,
            version_bits: None,
        }
    }
}

/// The `n`th extranonce2 of `size` bytes: `n` big-endian, truncated to the low bytes (a
/// connection counts through its extranonce2 space).
pub fn extranonce2(n: u64, size: usize) -> Vec<u8> {
    let be = n.to_be_bytes();
    if size >= be.len() {
        let mut v = vec![0; size - be.len()];
        v.extend_from_slice(&be);
        v
    } else {
        be[be.len() - size..].to_vec()
    }
}

/// Threads that run searches off the async runtime, behind a bounded queue: a search offered
/// while the queue is full is refused ([`HashPool::offer`]), so a generator that cannot hash
/// as fast as asked reports a lower rate instead of queuing without bound.
pub struct HashPool {
    queue: SyncSender<Box<dyn FnOnce() + Send>>,
}

impl HashPool {
    /// `threads` threads named `name-N`, with `queue` searches waiting at most.
    pub fn new(name: &str, threads: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<Box<dyn FnOnce() + Send>>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match next {
                        Ok(search) => search(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(Self { queue: tx })
    }

    /// Queues `search`; false when the queue is full.
    pub fn offer(&self, search: impl FnOnce() + Send + 'static) -> bool {
        self.queue.try_send(Box::new(search)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::block::Version;
    use bitcoin::hashes::{sha256d, Hash};
    use bitcoin::{BlockHash, CompactTarget};

    /// A job as the proxy sends one on signet: a coinbase cut around 8 extranonce bytes.
    fn notify() -> Notify {
        Notify {
            job_id: "2a".into(),
            prevhash: BlockHash::from_byte_array([7; 32]),
            coinb1: b"\x01\x00\x00\x00coinbase before the extranonces".to_vec(),
            coinb2: b"and after them\xff\xff\xff\xff".to_vec(),
            merkle_branch: vec![[3; 32], [9; 32]],
            version: Version::from_consensus(0x2000_0000),
            nbits: CompactTarget::from_consensus(0x1e03_77ae),
            ntime: 1_700_000_000,
            clean_jobs: true,
        }
    }

    #[test]
    fn a_found_share_meets_the_target_of_the_header_the_pool_rebuilds() {
        let job = notify();
        let en1 = [0xde, 0xad, 0xbe, 0xef];
        let en2 = extranonce2(5, 4);
        let difficulty = 1.0 / 65_536.0;
        let work = Work::new(&job, &en1, &en2, difficulty).unwrap();
        let found = work.search(0..=u32::MAX).expect("a share at 2^-16");
        let submit = work.submit("w", &found);
        // The pool's side: rebuild the header from the job and the submit's fields alone.
        let root = job.merkle_root(&job.coinbase(&en1, &submit.extranonce2));
        let header = job.header(root, job.version, submit.ntime, submit.nonce);
        let hash = header.block_hash().to_byte_array();
        assert_eq!(hash, found.hash);
        let bytes = bitcoin::consensus::encode::serialize(&header);
        assert_eq!(sha256d::Hash::hash(&bytes).to_byte_array(), found.hash);
        assert!(ShareTarget::from_difficulty(difficulty)
            .unwrap()
            .is_met_by(&hash));
        // The nonce before it did not meet the target: the search stops at the first.
        if found.nonce > 0 {
            let before = job.header(root, job.version, submit.ntime, found.nonce - 1);
            assert!(!work.target.is_met_by(&before.block_hash().to_byte_array()));
        }
        assert_eq!(found.hashes, u64::from(found.nonce) + 1);
        assert_eq!(submit.job_id, "2a");
        assert_eq!(submit.extranonce2, vec![0, 0, 0, 5]);
        // Another extranonce2 is another header.
        let other = Work::new(&job, &en1, &extranonce2(6, 4), difficulty).unwrap();
        assert_ne!(other.header.merkle_root, work.header.merkle_root);
    }

    #[test]
    fn a_harder_target_is_not_met_by_a_short_search() {
        let work = Work::new(&notify(), &[1, 2, 3, 4], &[0; 4], 1.0).unwrap();
        // Difficulty 1 takes 2^32 hashes on average: 4,096 nonces find nothing (p < 1e-6).
        assert_eq!(work.search(0..=4095), None);
        assert!(Work::new(&notify(), &[], &[], 0.0).is_err());
    }

    #[test]
    fn the_pool_runs_what_it_takes_and_refuses_beyond_its_queue() {
        let pool = HashPool::new("test-hash", 1, 1).unwrap();
        let (gate_tx, gate) = std::sync::mpsc::channel::<()>();
        let (done_tx, done) = std::sync::mpsc::channel();
        let (started_tx, started) = std::sync::mpsc::channel();
        // The thread blocks in the first search; one more waits in the queue; a third is refused.
        let d = done_tx.clone();
        assert!(pool.offer(move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
            d.send(1).unwrap();
        }));
        started.recv().unwrap();
        let d = done_tx.clone();
        assert!(pool.offer(move || d.send(2).unwrap()));
        assert!(!pool.offer(move || done_tx.send(3).unwrap()));
        gate_tx.send(()).unwrap();
        assert_eq!(done.recv().unwrap(), 1);
        assert_eq!(done.recv().unwrap(), 2);
        assert!(done.recv().is_err(), "the refused search never ran");
    }

    #[test]
    fn extranonce2_counts_big_endian_in_its_size() {
        assert_eq!(extranonce2(0x0102_0304, 4), vec![1, 2, 3, 4]);
        assert_eq!(extranonce2(0x0102_0304_0506, 4), vec![3, 4, 5, 6]);
        assert_eq!(extranonce2(1, 2), vec![0, 1]);
        assert_eq!(extranonce2(1, 10), vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
