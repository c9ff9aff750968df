//! Stratum jobs: one block template plus one coinbase, as miners see it and as the proxy needs
//! it back when a share arrives.
//!
//! A [`Job`] is built once per (template, coinbase) and shared (`Arc`) by every session. It owns:
//! * the merkle branch of the coinbase (computed once from the template's txids);
//! * the `mining.notify` parameters ([`Job::notify`]);
//! * the allowed header times ([`Job::ntime_range`], `mintime ..= curtime + 7200`);
//! * share -> header reconstruction ([`Job::header`]) without allocating;
//! * full block assembly for `submitblock` ([`Job::assemble_block`]);
//! * the set of shares already accepted, for duplicate detection: one [`SeenShares`] for every
//!   job on the same previous block hash, not one per job. Jobs on one tip are republished
//!   with byte-identical coinbases (same template, same payouts), so one hash found by a miner
//!   is a valid share for each of them; keyed by the header hash, the shared set credits it once
//!   whichever job ids it is sent to (a share for another coinbase or template is another
//!   header, another hash, other work).
//!
//! [`JobBook`] keeps the last few live jobs by id and drops them all when the previous block
//! hash changes (the `clean_jobs` case), starting a new duplicate set.
//!
//! One connection may be re-sent a job under an alias, `<id>.<n>` ([`Job::notify_line_as`]),
//! so that a difficulty change takes effect at once rather than with the next job (stratum's
//! `mining.set_difficulty` applies to the jobs after it): the book resolves an alias to its
//! job ([`base_id`]), and the session judges each id at the difficulty it was sent with.

use std::collections::{HashSet, VecDeque};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, OnceLock};

use bitcoin::block::{Header, Version};
use bitcoin::consensus::encode;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{BlockHash, CompactTarget, Target, TxMerkleNode};
use stratum::{Line, Notify, ServerMessage};

use crate::coinbase::{CoinbaseError, CoinbaseParts};
use crate::upstream::BlockTemplate;

/// How far past the node's current time a header time may be (consensus: two hours).
pub const MAX_FUTURE_BLOCK_TIME: u32 = 2 * 60 * 60;
/// Default number of live jobs a [`JobBook`] keeps.
pub const DEFAULT_LIVE_JOBS: usize = 16;

/// One stratum job.
#[derive(Debug)]
pub struct Job {
    id: String,
    template: Arc<BlockTemplate>,
    coinbase: CoinbaseParts,
    merkle_branch: Vec<[u8; 32]>,
    clean_jobs: bool,
    seen: Arc<SeenShares>,
    /// The `mining.notify` line as every connection gets it, serialized once (see
    /// [`Job::notify_line`]).
    notify_lines: OnceLock<[Line; 2]>,
}

/// Header hashes of the shares accepted on one previous block hash, across all its jobs. A
/// header hash commits to the extranonces (through the coinbase and merkle root), the
/// template's transactions, ntime, nonce and version, so it identifies the work in 32 bytes.
#[derive(Debug, Default)]
pub struct SeenShares(Mutex<HashSet<[u8; 32]>>);

impl SeenShares {
    /// Records a share by its header hash; false if it was already recorded.
    pub fn insert(&self, header_hash: &BlockHash) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(header_hash.to_byte_array())
    }

    /// How many shares are recorded.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The merkle branch of the first leaf (the coinbase) given the other leaves, in internal byte
/// order: the sibling at each level, bottom up.
pub fn merkle_branch(txids: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut branch = Vec::new();
    // `level` holds the nodes right of the coinbase's path at the current level.
    let mut level: Vec<[u8; 32]> = txids.to_vec();
    while let Some(&first) = level.first() {
        branch.push(first);
        level = level[1..]
            .chunks(2)
            .map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pair[0])))
            .collect();
    }
    branch
}

/// The length of [`merkle_branch`] for a block with `transactions` besides the coinbase:
/// one sibling per tree level above the leaves.
pub fn merkle_branch_len(transactions: usize) -> usize {
    (usize::BITS - transactions.leading_zeros()) as usize
}

fn hash_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut engine = sha256d::Hash::engine();
    engine.input(left);
    engine.input(right);
    sha256d::Hash::from_engine(engine).to_byte_array()
}

impl Job {
    /// A job for `template` with `coinbase` and a duplicate set of its own. `clean_jobs` tells
    /// miners to drop older jobs.
    pub fn new(
        id: impl Into<String>,
        template: Arc<BlockTemplate>,
        coinbase: CoinbaseParts,
        clean_jobs: bool,
    ) -> Self {
        Self::sharing(id, template, coinbase, clean_jobs, Arc::default())
    }

    /// [`Self::new`] recording its shares in `seen`, the set of every job on the same
    /// previous block hash.
    pub fn sharing(
        id: impl Into<String>,
        template: Arc<BlockTemplate>,
        coinbase: CoinbaseParts,
        clean_jobs: bool,
        seen: Arc<SeenShares>,
    ) -> Self {
        let txids: Vec<[u8; 32]> = template
            .transactions
            .iter()
            .map(|t| t.txid.to_byte_array())
            .collect();
        Self {
            id: id.into(),
            merkle_branch: merkle_branch(&txids),
            template,
            coinbase,
            clean_jobs,
            seen,
            notify_lines: OnceLock::new(),
        }
    }

    /// The job id miners echo in `mining.submit`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The template this job mines on.
    pub fn template(&self) -> &BlockTemplate {
        &self.template
    }

    /// The coinbase parts.
    pub fn coinbase(&self) -> &CoinbaseParts {
        &self.coinbase
    }

    /// The coinbase's merkle branch (internal byte order).
    pub fn merkle_branch(&self) -> &[[u8; 32]] {
        &self.merkle_branch
    }

    /// The previous block hash.
    pub fn prevhash(&self) -> BlockHash {
        self.template.previousblockhash
    }

    /// The template's block version (before any BIP310 rolling).
    pub fn version(&self) -> Version {
        self.template.version
    }

    /// The header's compact target.
    pub fn bits(&self) -> CompactTarget {
        self.template.bits
    }

    /// The block target (a share meeting it is a block).
    pub fn block_target(&self) -> Target {
        self.template.target
    }

    /// The network difficulty of the block target (`difficulty_1_target / target`, as
    /// [`bitcoin::Target::difficulty_float`]): no share difficulty handed out for this job
    /// should exceed it.
    pub fn network_difficulty(&self) -> f64 {
        self.template.target.difficulty_float()
    }

    /// Whether miners were told to drop older jobs.
    pub fn clean_jobs(&self) -> bool {
        self.clean_jobs
    }

    /// Header times a share may use: the template's `mintime` up to `curtime` + 2 h.
    pub fn ntime_range(&self) -> RangeInclusive<u32> {
        let t = &self.template;
        t.mintime..=t.curtime.saturating_add(MAX_FUTURE_BLOCK_TIME)
    }

    /// The `mining.notify` for this job (header time = the node's `curtime`).
    pub fn notify(&self) -> Notify {
        Notify {
            job_id: self.id.clone(),
            prevhash: self.prevhash(),
            coinb1: self.coinbase.coinb1.clone(),
            coinb2: self.coinbase.coinb2.clone(),
            merkle_branch: self.merkle_branch.clone(),
            version: self.version(),
            nbits: self.bits(),
            ntime: self.template.curtime,
            clean_jobs: self.clean_jobs,
        }
    }

    /// The serialized `mining.notify` for this job (with `clean_jobs` forced on when
    /// `force_clean`), built on first use and shared by every connection: a fan-out to
    /// thousands of miners copies bytes instead of hex-encoding and serializing per miner.
    pub fn notify_line(&self, force_clean: bool) -> &Line {
        let [plain, clean] = self.notify_lines.get_or_init(|| {
            let line = |force: bool| {
                let mut notify = self.notify();
                notify.clean_jobs |= force;
                Line::new(ServerMessage::Notify(notify).into_notification())
            };
            [line(false), line(true)]
        });
        if force_clean {
            clean
        } else {
            plain
        }
    }

    /// This job's `mining.notify` under the alias `id` (see the module docs), without
    /// `clean_jobs`: built for one connection.
    pub fn notify_line_as(&self, id: &str) -> Line {
        let mut notify = self.notify();
        notify.job_id = id.to_owned();
        notify.clean_jobs = false;
        Line::new(ServerMessage::Notify(notify).into_notification())
    }

    /// The merkle root for a coinbase with these extranonces (no allocation).
    pub fn merkle_root(&self, extranonce1: &[u8], extranonce2: &[u8]) -> TxMerkleNode {
        let mut node = self.coinbase.txid(extranonce1, extranonce2).to_byte_array();
        for step in &self.merkle_branch {
            node = hash_pair(&node, step);
        }
        TxMerkleNode::from_byte_array(node)
    }

    /// The 80-byte header a share commits to. `version` is the header version after BIP310
    /// rolling (see [`stratum::Submit::header_version`]).
    pub fn header(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
        version: Version,
        ntime: u32,
        nonce: u32,
    ) -> Header {
        Header {
            version,
            prev_blockhash: self.prevhash(),
            merkle_root: self.merkle_root(extranonce1, extranonce2),
            time: ntime,
            bits: self.bits(),
            nonce,
        }
    }

    /// The serialized block for `submitblock`: the header, the transaction count, the coinbase
    /// (with its witness reserved value when segwit) and the template's transactions as given.
    pub fn assemble_block(
        &self,
        header: &Header,
        extranonce1: &[u8],
        extranonce2: &[u8],
    ) -> Result<Vec<u8>, CoinbaseError> {
        let coinbase = self.coinbase.transaction(extranonce1, extranonce2)?;
        let txs = &self.template.transactions;
        let mut block = encode::serialize(header);
        block.extend(encode::serialize(&encode::VarInt(1 + txs.len() as u64)));
        block.extend(encode::serialize(&coinbase));
        for tx in txs {
            block.extend_from_slice(&tx.data);
        }
        Ok(block)
    }

    /// [`Self::assemble_block`] as the hex `submitblock` takes.
    pub fn block_hex(
        &self,
        header: &Header,
        extranonce1: &[u8],
        extranonce2: &[u8],
    ) -> Result<String, CoinbaseError> {
        self.assemble_block(header, extranonce1, extranonce2)
            .map(hex::encode)
    }

    /// Records an accepted share by its header hash, in the set shared by every job on this
    /// previous block hash; false if it was already recorded (for this job or another).
    pub fn record_share(&self, header_hash: &BlockHash) -> bool {
        self.seen.insert(header_hash)
    }
}

/// The job an id names: itself, or for an alias `<id>.<n>` the part before the dot.
pub fn base_id(id: &str) -> &str {
    id.split_once('.').map_or(id, |(base, _)| base)
}

/// The live jobs, newest last, bounded; emptied when the previous block hash changes.
///
/// A clone is a cheap snapshot (the jobs are shared, duplicate sets included): share
/// validation takes one under the pool's lock and hashes against it after letting go.
#[derive(Debug, Clone)]
pub struct JobBook {
    jobs: VecDeque<Arc<Job>>,
    capacity: usize,
    prevhash: Option<BlockHash>,
    /// The duplicate set of the jobs on `prevhash`.
    seen: Arc<SeenShares>,
    next_id: u64,
}

impl Default for JobBook {
    fn default() -> Self {
        Self::new(DEFAULT_LIVE_JOBS)
    }
}

impl JobBook {
    /// A book keeping at most `capacity` (at least 1) jobs.
    pub fn new(capacity: usize) -> Self {
        Self {
            jobs: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            prevhash: None,
            seen: Arc::default(),
            next_id: 0,
        }
    }

    /// Makes a job for `template` and `coinbase` with a fresh id and adds it. When the
    /// template builds on a new previous block, every older job is dropped and the new job
    /// has `clean_jobs` set.
    pub fn push(&mut self, template: Arc<BlockTemplate>, coinbase: CoinbaseParts) -> Arc<Job> {
        let clean = self.prevhash != Some(template.previousblockhash);
        if clean {
            if self.prevhash.is_some() {
                tracing::debug!(
                    dropped = self.jobs.len(),
                    prevhash = %template.previousblockhash,
                    "new previous block, dropping live jobs"
                );
            }
            self.jobs.clear();
            self.prevhash = Some(template.previousblockhash);
            self.seen = Arc::default();
        }
        let id = format!("{:x}", self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let job = Arc::new(Job::sharing(
            id,
            template,
            coinbase,
            clean,
            Arc::clone(&self.seen),
        ));
        if self.jobs.len() == self.capacity {
            self.jobs.pop_front();
        }
        self.jobs.push_back(Arc::clone(&job));
        job
    }

    /// A live job by id or alias ([`base_id`]).
    pub fn get(&self, id: &str) -> Option<&Arc<Job>> {
        let id = base_id(id);
        self.jobs.iter().rev().find(|j| j.id == id)
    }

    /// Whether `id` (or the job an alias names) is a job this book handed out (live or
    /// retired), as opposed to an id it never issued.
    pub fn was_issued(&self, id: &str) -> bool {
        let id = base_id(id);
        u64::from_str_radix(id, 16).is_ok_and(|n| n < self.next_id && format!("{n:x}") == id)
    }

    /// The newest job.
    pub fn latest(&self) -> Option<&Arc<Job>> {
        self.jobs.back()
    }

    /// How many jobs are live.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no job is live.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::coinbase::CoinbaseConfig;
    use crate::upstream::TemplateTransaction;
    use bitcoin::hashes::Hash;
    use bitcoin::{Amount, Block, ScriptBuf, Transaction, TxOut, Txid};

    /// A template with `n` fake (non-decodable) transactions of distinct txids.
    pub(crate) fn fake_template(n: usize, prev: u8) -> BlockTemplate {
        let transactions = (0..n)
            .map(|i| TemplateTransaction {
                data: vec![i as u8; 3],
                txid: Txid::from_byte_array([i as u8 + 1; 32]),
                hash: None,
                fee: Amount::ZERO,
                depends: vec![],
                weight: None,
                sigops: None,
            })
            .collect();
        BlockTemplate {
            version: Version::from_consensus(0x2000_0000),
            previousblockhash: BlockHash::from_byte_array([prev; 32]),
            transactions,
            coinbasevalue: Amount::from_sat(5_000_000_000),
            target: Target::from_compact(CompactTarget::from_consensus(0x207f_ffff)),
            mintime: 1_700_000_000,
            curtime: 1_700_000_100,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            height: 200,
            longpollid: None,
            default_witness_commitment: None,
            rules: vec![],
            vbavailable: None,
            coinbaseaux: None,
            sizelimit: None,
            weightlimit: None,
            sigoplimit: None,
        }
    }

    pub(crate) fn coinbase_for(t: &BlockTemplate) -> CoinbaseParts {
        CoinbaseParts::build(
            &CoinbaseConfig::default(),
            t.height,
            t.coinbasevalue,
            vec![TxOut {
                value: t.coinbasevalue,
                script_pubkey: ScriptBuf::new_op_return([1u8; 4]),
            }],
            t.default_witness_commitment.as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn branch_folds_to_the_block_merkle_root() {
        for n in 0..12usize {
            let t = fake_template(n, 1);
            let parts = coinbase_for(&t);
            let job = Job::new("1", Arc::new(t.clone()), parts.clone(), true);
            let (en1, en2) = ([7u8; 4], [9u8; 4]);
            // Reference: a block whose txdata has the coinbase followed by transactions with
            // the template's txids. Build the root from txids with the crate's merkle tree.
            let coinbase_txid = parts.txid(&en1, &en2).to_raw_hash();
            let hashes = std::iter::once(coinbase_txid)
                .chain(t.transactions.iter().map(|tx| tx.txid.to_raw_hash()));
            let expected: TxMerkleNode =
                bitcoin::merkle_tree::calculate_root(hashes).unwrap().into();
            assert_eq!(job.merkle_root(&en1, &en2), expected, "{n} transactions");
            // And the stratum crate's fold over the notify agrees.
            let notify = job.notify();
            assert_eq!(
                notify.merkle_root(&parts.serialize(&en1, &en2)),
                expected,
                "{n}"
            );
            assert_eq!(job.merkle_branch().len(), merkle_branch_len(n), "{n}");
        }
    }

    #[test]
    fn the_cached_notify_line_is_the_notify_serialized() {
        let t = fake_template(3, 2);
        let job = Job::new("ab", Arc::new(t.clone()), coinbase_for(&t), false);
        for force in [false, true] {
            let mut notify = job.notify();
            notify.clean_jobs |= force;
            let direct = Line::new(ServerMessage::Notify(notify).into_notification());
            assert_eq!(job.notify_line(force), &direct);
        }
        assert_ne!(job.notify_line(false), job.notify_line(true));
    }

    #[test]
    fn notify_fields_and_header() {
        let t = fake_template(3, 2);
        let job = Job::new("ab", Arc::new(t.clone()), coinbase_for(&t), true);
        let n = job.notify();
        let params = stratum::ServerMessage::Notify(n.clone()).to_params();
        assert_eq!(params[0], "ab");
        assert_eq!(
            params[1],
            stratum::encoding::prevhash_to_stratum(&t.previousblockhash)
        );
        assert_eq!(params[5], "20000000");
        assert_eq!(params[6], "207fffff");
        assert_eq!(params[7], format!("{:08x}", t.curtime));
        assert_eq!(params[8], true);
        assert_eq!(*job.ntime_range().end(), t.curtime + MAX_FUTURE_BLOCK_TIME);
        assert_eq!(*job.ntime_range().start(), t.mintime);
        let h = job.header(&[0; 4], &[1; 4], t.version, t.curtime, 42);
        let expected = n.header(
            n.merkle_root(&n.coinbase(&[0; 4], &[1; 4])),
            t.version,
            t.curtime,
            42,
        );
        assert_eq!(h, expected);
    }

    #[test]
    fn assembled_block_without_segwit_decodes() {
        // Real (decodable) transactions this time.
        let mut t = fake_template(0, 3);
        for i in 0..3u8 {
            let tx = Transaction {
                version: bitcoin::transaction::Version::TWO,
                lock_time: bitcoin::absolute::LockTime::ZERO,
                input: vec![bitcoin::TxIn {
                    previous_output: bitcoin::OutPoint::new(Txid::from_byte_array([i; 32]), 0),
                    ..Default::default()
                }],
                output: vec![TxOut {
                    value: Amount::from_sat(1000),
                    script_pubkey: ScriptBuf::new_op_return([i]),
                }],
            };
            t.transactions.push(TemplateTransaction {
                data: encode::serialize(&tx),
                txid: tx.compute_txid(),
                hash: None,
                fee: Amount::ZERO,
                depends: vec![],
                weight: None,
                sigops: None,
            });
        }
        let job = Job::new("0", Arc::new(t.clone()), coinbase_for(&t), true);
        let header = job.header(&[1; 4], &[2; 4], t.version, t.curtime, 7);
        let hex = job.block_hex(&header, &[1; 4], &[2; 4]).unwrap();
        let block: Block = encode::deserialize(&hex::decode(hex).unwrap()).unwrap();
        assert_eq!(block.header, header);
        assert_eq!(block.txdata.len(), 4);
        assert!(block.check_merkle_root());
        assert_eq!(block.bip34_block_height().unwrap(), 200);
    }

    #[test]
    fn book_is_bounded_and_cleans_on_new_prevhash() {
        let mut book = JobBook::new(3);
        let t1 = Arc::new(fake_template(1, 1));
        let first = book.push(Arc::clone(&t1), coinbase_for(&t1));
        assert!(first.clean_jobs());
        let ids: Vec<String> = (0..4)
            .map(|_| {
                book.push(Arc::clone(&t1), coinbase_for(&t1))
                    .id()
                    .to_owned()
            })
            .collect();
        assert_eq!(book.len(), 3);
        assert!(book.get(first.id()).is_none(), "oldest evicted");
        assert!(book.get(&ids[0]).is_none());
        assert!(!book.get(&ids[3]).unwrap().clean_jobs());
        assert_eq!(book.latest().unwrap().id(), ids[3]);
        let t2 = Arc::new(fake_template(1, 2));
        let fresh = book.push(Arc::clone(&t2), coinbase_for(&t2));
        assert!(fresh.clean_jobs());
        assert_eq!(book.len(), 1);
        assert!(book.get(&ids[3]).is_none());
        assert!(book.get(fresh.id()).is_some());
    }

    #[test]
    fn a_snapshot_shares_its_jobs_with_the_book() {
        let t = Arc::new(fake_template(0, 1));
        let mut book = JobBook::new(2);
        let job = book.push(Arc::clone(&t), coinbase_for(&t));
        let snapshot = book.clone();
        // A share recorded through the snapshot is a duplicate in the book, and back.
        let h = job
            .header(&[0; 4], &[0; 4], t.version, t.curtime, 1)
            .block_hash();
        assert!(snapshot.get(job.id()).unwrap().record_share(&h));
        assert!(!book.get(job.id()).unwrap().record_share(&h));
        // Jobs pushed later are not in the snapshot; retired ones still count as issued there.
        let newer = book.push(Arc::clone(&t), coinbase_for(&t));
        assert!(snapshot.get(newer.id()).is_none());
        assert!(book.get(newer.id()).is_some());
        assert!(snapshot.was_issued(job.id()));
    }

    #[test]
    fn duplicate_shares_are_detected_across_the_jobs_of_one_tip() {
        let mut book = JobBook::new(4);
        let t = Arc::new(fake_template(0, 1));
        // Republished jobs on one tip: byte-identical coinbases, so the same header.
        let a = book.push(Arc::clone(&t), coinbase_for(&t));
        let b = book.push(Arc::clone(&t), coinbase_for(&t));
        assert_eq!(a.notify().coinb1, b.notify().coinb1);
        let h = a
            .header(&[0; 4], &[0; 4], t.version, t.curtime, 1)
            .block_hash();
        assert_eq!(
            b.header(&[0; 4], &[0; 4], t.version, t.curtime, 1)
                .block_hash(),
            h
        );
        assert!(a.record_share(&h));
        assert!(!a.record_share(&h));
        assert!(!b.record_share(&h), "the same work through another job id");
        // A job pushed later on the same tip shares the set too.
        let c = book.push(Arc::clone(&t), coinbase_for(&t));
        assert!(!c.record_share(&h));
        // A new tip starts afresh (the old hash is not a share there anyway).
        let t2 = Arc::new(fake_template(0, 2));
        let d = book.push(Arc::clone(&t2), coinbase_for(&t2));
        assert!(d.record_share(&h));
        // Jobs made on their own keep their own sets.
        let lone = Job::new("x", Arc::clone(&t), coinbase_for(&t), true);
        assert!(lone.record_share(&h));
    }

    #[test]
    fn an_alias_names_its_job_and_carries_its_own_id() {
        let mut book = JobBook::new(4);
        let t = Arc::new(fake_template(0, 1));
        let job = book.push(Arc::clone(&t), coinbase_for(&t));
        let alias = format!("{}.1", job.id());
        assert!(Arc::ptr_eq(book.get(&alias).unwrap(), &job));
        assert!(book.was_issued(&alias));
        assert!(book.get("ff.1").is_none() && !book.was_issued("ff.1"));
        let line = job.notify_line_as(&alias);
        let sent: serde_json::Value = serde_json::from_slice(line.as_bytes()).unwrap();
        let params = sent["params"].as_array().unwrap();
        assert_eq!(params[0], alias.as_str());
        // The same work as the job itself, without clean_jobs.
        let plain: serde_json::Value =
            serde_json::from_slice(job.notify_line(false).as_bytes()).unwrap();
        assert_eq!(params[1..8], plain["params"].as_array().unwrap()[1..8]);
        assert_eq!(params[8], false);
    }
}
