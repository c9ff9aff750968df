//! `mining.submit` validation: is this share well-formed, for a live job, from a subscribed
//! and authorized session, new, and hard enough? And is it a block?
//!
//! [`validate`] checks, in this order, answering with the conventional stratum codes:
//!
//! | check | error | code |
//! | --- | --- | --- |
//! | the session subscribed | [`ShareError::NotSubscribed`] | 25 |
//! | the worker authorized on this session | [`ShareError::Unauthorized`] | 24 |
//! | the job is live: not retired ([`ShareError::Stale`]), not unknown ([`ShareError::UnknownJob`]) | 21 |
//! | extranonce2 size, ntime bounds, version bits within the BIP310 mask | [`ShareError::Malformed`] | 20 |
//! | the header hash meets the job's block target, or else the share target the session had when the job was sent to it | [`ShareError::LowDifficulty`] | 23 |
//! | the share was not accepted before, for this job or any other on the same previous block | [`ShareError::Duplicate`] | 22 |
//!
//! Each share is judged, and credited, at the difficulty of its job: stratum's
//! `mining.set_difficulty` applies to the jobs notified after it, so a share for an older job
//! still in flight is held to the difficulty that was in effect for that job
//! ([`Session::job_sent`], [`Session::target_for`]), as ckpool does. Neither a rise (which would
//! reject an honest miner's in-flight shares) nor a fall (which would credit them at less than
//! the work they took) changes what a share for an older job is worth. A job re-sent under an
//! alias (`<id>.<n>`, so that a difficulty change applies at once) is judged under each id at
//! the difficulty it was sent with. A job id the session was never sent is judged at the newest
//! difficulty.
//!
//! Once valid, a share that is not a block must also fit the connection's share rate limit
//! ([`crate::vardiff::Vardiff::admit`], checked by the server): else
//! [`ShareError::RateLimited`], code 20, not credited.
//!
//! Hex sizes (a nonce that is not 8 hex digits, ...) are caught when the request is parsed
//! ([`stratum::ClientRequest::parse`]); such a [`stratum::ParseError`] converts into
//! [`ShareError::Parse`], also code 20.
//!
//! Share targets come from [`stratum::ShareTarget`], so difficulties below 1 (down to the regtest
//! block target) work. The path allocates nothing except when the duplicate set grows.

use std::collections::VecDeque;
use std::sync::Arc;

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Target};
use stratum::ShareTarget;
use stratum::{ErrorCode, ParseError, StratumError, Submit};

use crate::jobs::{Job, JobBook, DEFAULT_LIVE_JOBS};

/// How many jobs a session remembers the difficulty of: more than a [`JobBook`] keeps live,
/// so every live job sent to the session is remembered.
pub const REMEMBERED_JOBS: usize = 2 * DEFAULT_LIVE_JOBS;

/// What validation needs to know about the submitting connection.
#[derive(Debug, Clone)]
pub struct Session {
    /// The extranonce1 handed out by `mining.subscribe`; `None` before subscribing.
    pub extranonce1: Option<Vec<u8>>,
    /// The extranonce2 size announced to the miner.
    pub extranonce2_size: usize,
    /// Worker names authorized on this connection.
    pub authorized: Vec<String>,
    /// The BIP310 version-rolling mask negotiated with `mining.configure` (0 = none).
    pub version_mask: u32,
    /// The share target in effect (from the difficulty last sent).
    pub target: ShareTarget,
    /// The share target of each job sent on this connection, newest last
    /// ([`Self::job_sent`]).
    pub job_targets: JobTargets,
}

/// The share target each recently sent job was sent at, bounded to [`REMEMBERED_JOBS`].
#[derive(Debug, Clone, Default)]
pub struct JobTargets(VecDeque<(String, ShareTarget)>);

impl Session {
    /// Records that the job `job_id` was just sent at the target in effect ([`Self::target`],
    /// set from the difficulty announced before it).
    pub fn job_sent(&mut self, job_id: &str) {
        let jobs = &mut self.job_targets.0;
        jobs.retain(|(id, _)| id != job_id);
        if jobs.len() == REMEMBERED_JOBS {
            jobs.pop_front();
        }
        jobs.push_back((job_id.to_owned(), self.target));
    }

    /// The target shares for `job_id` are judged at: the one it was sent at, or the newest
    /// for a job not sent on this connection.
    pub fn target_for(&self, job_id: &str) -> ShareTarget {
        self.job_targets
            .0
            .iter()
            .rev()
            .find(|(id, _)| id == job_id)
            .map_or(self.target, |(_, t)| *t)
    }
}

/// Why a share was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShareError {
    /// No `mining.subscribe` yet (25).
    #[error("not subscribed")]
    NotSubscribed,
    /// The worker was not authorized on this connection (24).
    #[error("unauthorized worker")]
    Unauthorized,
    /// The job was handed out but is no longer live (21).
    #[error("job not found (stale)")]
    Stale,
    /// No such job was ever handed out (21).
    #[error("job not found (unknown)")]
    UnknownJob,
    /// A field has the wrong size or is out of range (20).
    #[error("malformed share: {0}")]
    Malformed(Malformed),
    /// The request did not parse (20).
    #[error("malformed share: {0}")]
    Parse(String),
    /// The hash does not meet the share target (23).
    #[error("low difficulty share: {difficulty} < {target_difficulty}")]
    LowDifficulty {
        /// The share's difficulty.
        difficulty: f64,
        /// The session's difficulty.
        target_difficulty: f64,
    },
    /// Already accepted, for this job or another on the same previous block (22).
    #[error("duplicate share")]
    Duplicate,
    /// Valid, but over the connection's share rate limit, and not a block (20).
    #[error("share rate above the limit of {limit} a second: raise the difficulty")]
    RateLimited {
        /// The limit, in shares a second.
        limit: f64,
    },
}

/// The malformed-share cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// extranonce2 has the wrong size.
    #[error("extranonce2 is {got} bytes, expected {expected}")]
    Extranonce2Size {
        /// Announced size.
        expected: usize,
        /// Submitted size.
        got: usize,
    },
    /// ntime outside the job's bounds.
    #[error("ntime {ntime} outside {min}..={max}")]
    Ntime {
        /// Submitted time.
        ntime: u32,
        /// Earliest allowed.
        min: u32,
        /// Latest allowed.
        max: u32,
    },
    /// Rolled version bits outside the negotiated mask.
    #[error("version bits {bits:08x} outside mask {mask:08x}")]
    VersionBits {
        /// Submitted bits.
        bits: u32,
        /// Negotiated mask.
        mask: u32,
    },
}

impl From<ParseError> for ShareError {
    fn from(e: ParseError) -> Self {
        Self::Parse(e.to_string())
    }
}

impl ShareError {
    /// The stratum error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotSubscribed => ErrorCode::NotSubscribed,
            Self::Unauthorized => ErrorCode::UnauthorizedWorker,
            Self::Stale | Self::UnknownJob => ErrorCode::JobNotFound,
            Self::Malformed(_) | Self::Parse(_) | Self::RateLimited { .. } => ErrorCode::Other,
            Self::LowDifficulty { .. } => ErrorCode::LowDifficulty,
            Self::Duplicate => ErrorCode::DuplicateShare,
        }
    }

    /// The error to answer the submit with.
    pub fn to_stratum(&self) -> StratumError {
        StratumError::new(self.code(), self.to_string())
    }
}

/// An accepted share.
#[derive(Debug, Clone)]
pub struct AcceptedShare {
    /// The job it was for (needed to assemble the block).
    pub job: Arc<Job>,
    /// The reconstructed header.
    pub header: Header,
    /// The header hash.
    pub hash: BlockHash,
    /// The share's own difficulty (`difficulty_1_target / hash`): at least the session's, or
    /// at least the network's for a block.
    pub difficulty: f64,
    /// The difficulty the share is credited with in PPLNS: the one its job was sent at (which it
    /// was judged against), but never more than the network difficulty of the job (a block
    /// found at a share difficulty set above it counts as one block's worth of work).
    pub credit: f64,
    /// The difficulty of the target the share was judged against (its job's): the work a
    /// miner searching at that target does per share, whatever the network difficulty. The
    /// dashboard's hash rates come from it (on regtest, where every share is a block, the
    /// credit is the tiny block difficulty and would understate them a million times).
    pub target_difficulty: f64,
    /// Whether the hash also meets the block target.
    pub is_block: bool,
}

/// The difficulty a hash achieves: `difficulty_1_target / hash` (infinite for a zero hash).
pub fn hash_difficulty(hash: &BlockHash) -> f64 {
    Target::from_le_bytes(hash.to_byte_array()).difficulty_float()
}

/// Validates `submit` from `session` against the live jobs.
pub fn validate(
    book: &JobBook,
    session: &Session,
    submit: &Submit,
) -> Result<AcceptedShare, ShareError> {
    let extranonce1 = session
        .extranonce1
        .as_deref()
        .ok_or(ShareError::NotSubscribed)?;
    if !session.authorized.contains(&submit.worker) {
        return Err(ShareError::Unauthorized);
    }
    let job = book.get(&submit.job_id).ok_or_else(|| {
        if book.was_issued(&submit.job_id) {
            ShareError::Stale
        } else {
            ShareError::UnknownJob
        }
    })?;
    validate_for_job(job, extranonce1, session, submit)
}

/// [`validate`] once the session and job are known (subscription and authorization checked).
pub fn validate_for_job(
    job: &Arc<Job>,
    extranonce1: &[u8],
    session: &Session,
    submit: &Submit,
) -> Result<AcceptedShare, ShareError> {
    if submit.extranonce2.len() != session.extranonce2_size
        || extranonce1.len() + submit.extranonce2.len()
            != job.coinbase().extranonce1_size + job.coinbase().extranonce2_size
    {
        return Err(ShareError::Malformed(Malformed::Extranonce2Size {
            expected: session.extranonce2_size,
            got: submit.extranonce2.len(),
        }));
    }
    let times = job.ntime_range();
    if !times.contains(&submit.ntime) {
        return Err(ShareError::Malformed(Malformed::Ntime {
            ntime: submit.ntime,
            min: *times.start(),
            max: *times.end(),
        }));
    }
    if let Some(bits) = submit.version_bits {
        // BIP310 miners send the rolled bits only; some send the whole version.
        // Either way no bit outside the mask may differ from the job's.
        let job_version = job.version().to_consensus() as u32;
        let outside = !session.version_mask;
        if bits & outside != 0 && (bits ^ job_version) & outside != 0 {
            return Err(ShareError::Malformed(Malformed::VersionBits {
                bits,
                mask: session.version_mask,
            }));
        }
    }
    let version = submit.header_version(job.version(), session.version_mask);
    let header = job.header(
        extranonce1,
        &submit.extranonce2,
        version,
        submit.ntime,
        submit.nonce,
    );
    let hash = header.block_hash();
    let raw = hash.as_byte_array();
    // By the id the miner echoes: a job re-sent under an alias has a difficulty of its own.
    let target = session.target_for(&submit.job_id);
    // The block target first: a block is never lost to a share target set above the
    // network difficulty. Otherwise the cheap reject on the top word, as the engines do.
    let is_block = job.block_target().is_met_by(hash);
    if !is_block
        && (stratum::target::hash_top_word(raw) > target.top_word() || !target.is_met_by(raw))
    {
        return Err(ShareError::LowDifficulty {
            difficulty: hash_difficulty(&hash),
            target_difficulty: target.difficulty(),
        });
    }
    if !job.record_share(&hash) {
        return Err(ShareError::Duplicate);
    }
    if is_block {
        tracing::info!(%hash, job = job.id(), worker = %submit.worker, "share is a block");
    }
    Ok(AcceptedShare {
        job: Arc::clone(job),
        header,
        hash,
        difficulty: hash_difficulty(&hash),
        credit: target.difficulty().min(job.network_difficulty()),
        target_difficulty: target.difficulty(),
        is_block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::tests::{coinbase_for, fake_template};
    use bitcoin::CompactTarget;
    use miner::{Engine, Job as MinerJob};
    use serde_json::json;

    const EN1: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

    fn session(target: ShareTarget) -> Session {
        Session {
            extranonce1: Some(EN1.to_vec()),
            extranonce2_size: 4,
            authorized: vec!["alice.rig".into()],
            version_mask: 0x1fff_e000,
            target,
            job_targets: JobTargets::default(),
        }
    }

    fn submit(job: &Job, nonce: u32) -> Submit {
        Submit {
            worker: "alice.rig".into(),
            job_id: job.id().into(),
            extranonce2: vec![0, 0, 0, 1],
            ntime: job.template().curtime,
            nonce,
            version_bits: None,
        }
    }

    /// A nonce whose header meets `target` for `sub`'s fields.
    fn mine(job: &Job, sub: &Submit, mask: u32, target: ShareTarget) -> (u32, [u8; 32]) {
        let version = sub.header_version(job.version(), mask);
        let header = job.header(&EN1, &sub.extranonce2, version, sub.ntime, 0);
        let bytes: [u8; 80] = bitcoin::consensus::encode::serialize(&header)
            .try_into()
            .unwrap();
        let mj = MinerJob::new(bytes, target);
        // Scan in small chunks: at the regtest target every other nonce is a hit.
        let hit = (0..256u64)
            .find_map(|i| {
                Engine::Portable
                    .scan(&mj, i << 16..(i + 1) << 16)
                    .first()
                    .copied()
            })
            .expect("a hit within 2^24 nonces");
        (hit.nonce, hit.hash)
    }

    /// A nonce for `sub`'s fields whose hash meets `target` and satisfies `keep` (by its
    /// difficulty).
    fn mine_where(job: &Job, sub: &Submit, target: ShareTarget, keep: impl Fn(f64) -> bool) -> u32 {
        let header = job.header(&EN1, &sub.extranonce2, job.version(), sub.ntime, 0);
        let bytes: [u8; 80] = bitcoin::consensus::encode::serialize(&header)
            .try_into()
            .unwrap();
        let mj = MinerJob::new(bytes, target);
        (0..4096u64)
            .find_map(|i| {
                Engine::Portable
                    .scan(&mj, i << 16..(i + 1) << 16)
                    .into_iter()
                    .find(|h| keep(hash_difficulty(&BlockHash::from_byte_array(h.hash))))
            })
            .expect("a hit within 2^28 nonces")
            .nonce
    }

    #[test]
    fn one_share_sent_to_every_live_job_is_credited_once() {
        // Jobs republished on one tip have byte-identical coinbases: the same header is a
        // share for each of them.
        let (mut book, first) = book_with_hard_job();
        let t = Arc::new(first.template().clone());
        let again = book.push(Arc::clone(&t), coinbase_for(&t));
        let third = book.push(Arc::clone(&t), coinbase_for(&t));
        let share = ShareTarget::from_difficulty(1.0 / 65536.0).unwrap();
        let mut s = session(share);
        for job in [&first, &again, &third] {
            s.job_sent(job.id());
        }
        let mut sub = submit(&first, 0);
        let (nonce, _) = mine(&first, &sub, s.version_mask, share);
        sub.nonce = nonce;
        let ok = validate(&book, &s, &sub).expect("the first submission counts");
        for job in [&again, &third] {
            let mut other = sub.clone();
            other.job_id = job.id().into();
            let header = job.header(&EN1, &other.extranonce2, job.version(), other.ntime, nonce);
            assert_eq!(header.block_hash(), ok.hash, "the same work");
            assert_eq!(
                validate(&book, &s, &other).unwrap_err(),
                ShareError::Duplicate,
                "job {}",
                job.id()
            );
        }
        // Other work on any of them still counts.
        let mut next = submit(&third, 0);
        next.extranonce2 = vec![0, 0, 0, 7];
        next.nonce = mine(&third, &next, s.version_mask, share).0;
        validate(&book, &s, &next).expect("a different share");
    }

    #[test]
    fn a_share_is_judged_and_credited_at_its_jobs_difficulty() {
        let (mut book, old) = book_with_hard_job();
        let t = Arc::new(old.template().clone());
        let easy = ShareTarget::from_difficulty(1.0 / 1_048_576.0).unwrap();
        let hard = ShareTarget::from_difficulty(1.0 / 65_536.0).unwrap();
        let mut s = session(easy);
        s.job_sent(old.id());
        // The difficulty rises (set_difficulty, then the next job).
        s.target = hard;
        let new = book.push(Arc::clone(&t), coinbase_for(&t));
        s.job_sent(new.id());
        let below_hard = |d: f64| d < hard.difficulty();
        // A share for the older job still in flight: held to, and credited at, its difficulty.
        let mut sub = submit(&old, 0);
        sub.nonce = mine_where(&old, &sub, easy, below_hard);
        let ok = validate(&book, &s, &sub).expect("judged at the old job's difficulty");
        assert_eq!(ok.credit, easy.difficulty());
        // The same work level for the new job is too low.
        let mut sub = submit(&new, 0);
        sub.extranonce2 = vec![0, 0, 0, 2];
        sub.nonce = mine_where(&new, &sub, easy, below_hard);
        assert!(matches!(
            validate(&book, &s, &sub),
            Err(ShareError::LowDifficulty { target_difficulty, .. })
                if target_difficulty == hard.difficulty()
        ));
        // The difficulty falls: a share for the job sent at the higher one is credited at it.
        s.target = easy;
        let newest = book.push(Arc::clone(&t), coinbase_for(&t));
        s.job_sent(newest.id());
        let mut sub = submit(&new, 0);
        sub.extranonce2 = vec![0, 0, 0, 3];
        sub.nonce = mine_where(&new, &sub, hard, |_| true);
        assert_eq!(validate(&book, &s, &sub).unwrap().credit, hard.difficulty());
        // ... and one below it is still low for that job, though it meets the newest.
        let mut sub = submit(&new, 0);
        sub.extranonce2 = vec![0, 0, 0, 4];
        sub.nonce = mine_where(&new, &sub, easy, below_hard);
        assert_eq!(
            validate(&book, &s, &sub).unwrap_err().code(),
            ErrorCode::LowDifficulty
        );
        // A job never sent on this connection is judged at the newest difficulty.
        let unsent = book.push(Arc::clone(&t), coinbase_for(&t));
        let mut sub = submit(&unsent, 0);
        sub.extranonce2 = vec![0, 0, 0, 5];
        sub.nonce = mine_where(&unsent, &sub, easy, below_hard);
        assert_eq!(validate(&book, &s, &sub).unwrap().credit, easy.difficulty());
        // The memory is bounded and keeps the newest.
        for i in 0..3 * REMEMBERED_JOBS {
            s.job_sent(&format!("j{i}"));
        }
        assert_eq!(s.job_targets.0.len(), REMEMBERED_JOBS);
        assert!(s.job_targets.0.iter().all(|(id, _)| id != old.id()));
    }

    #[test]
    fn a_job_resent_under_an_alias_is_judged_at_each_ids_difficulty() {
        let (book, job) = book_with_hard_job();
        let easy = ShareTarget::from_difficulty(1.0 / 1_048_576.0).unwrap();
        let hard = ShareTarget::from_difficulty(1.0 / 65_536.0).unwrap();
        let mut s = session(easy);
        s.job_sent(job.id());
        // The difficulty rises at once: the same job again, under an alias.
        s.target = hard;
        let alias = format!("{}.1", job.id());
        s.job_sent(&alias);
        let below_hard = |d: f64| d < hard.difficulty();
        // In flight under the job's own id: the easy difficulty.
        let mut sub = submit(&job, 0);
        sub.nonce = mine_where(&job, &sub, easy, below_hard);
        assert_eq!(validate(&book, &s, &sub).unwrap().credit, easy.difficulty());
        // Under the alias, the same work level is low ...
        let mut sub = submit(&job, 0);
        sub.job_id = alias.clone();
        sub.extranonce2 = vec![0, 0, 0, 2];
        sub.nonce = mine_where(&job, &sub, easy, below_hard);
        assert_eq!(
            validate(&book, &s, &sub).unwrap_err().code(),
            ErrorCode::LowDifficulty
        );
        // ... and a share meeting the new difficulty is credited at it.
        sub.nonce = mine_where(&job, &sub, hard, |_| true);
        assert_eq!(validate(&book, &s, &sub).unwrap().credit, hard.difficulty());
        // One share is one share, whichever of the two ids it is sent under.
        sub.job_id = job.id().to_owned();
        assert_eq!(
            validate(&book, &s, &sub).unwrap_err(),
            ShareError::Duplicate
        );
    }

    fn book_with_job() -> (JobBook, Arc<Job>) {
        let mut book = JobBook::default();
        let t = Arc::new(fake_template(2, 1));
        let job = book.push(Arc::clone(&t), coinbase_for(&t));
        (book, job)
    }

    #[test]
    fn accepts_fractional_difficulty_and_flags_blocks() {
        let (book, job) = book_with_job();
        // Regtest block target: every share at that difficulty is a block.
        let regtest = ShareTarget::from_compact(CompactTarget::from_consensus(0x207f_ffff));
        let s = session(regtest);
        let mut sub = submit(&job, 0);
        let (nonce, hash) = mine(&job, &sub, s.version_mask, regtest);
        sub.nonce = nonce;
        let ok = validate(&book, &s, &sub).unwrap();
        assert_eq!(ok.hash.to_byte_array(), hash);
        assert!(ok.is_block);
        assert!(ok.difficulty >= regtest.difficulty());
        assert_eq!(ok.header.nonce, nonce);
        // Resubmitting is a duplicate.
        let dup = validate(&book, &s, &sub).unwrap_err();
        assert_eq!(dup, ShareError::Duplicate);
        assert_eq!(dup.code(), ErrorCode::DuplicateShare);
    }

    #[test]
    fn block_is_accepted_at_a_share_difficulty_above_the_network() {
        let (book, job) = book_with_job();
        let regtest = ShareTarget::from_compact(CompactTarget::from_consensus(0x207f_ffff));
        // A session whose share difficulty is far above the (regtest) block difficulty.
        let s = session(ShareTarget::from_difficulty(1e9).unwrap());
        let mut sub = submit(&job, 0);
        // A hash meeting the block target only (a 2^-30-difficulty hash: never 1e9).
        let (nonce, _) = mine(&job, &sub, s.version_mask, regtest);
        sub.nonce = nonce;
        let ok = validate(&book, &s, &sub).expect("a block is accepted");
        assert!(ok.is_block);
        assert!(ok.difficulty < 1e9);
        // Credited at the network difficulty, not at the session's 1e9.
        assert_eq!(ok.credit, job.network_difficulty());
        assert!((ok.credit / crate::vardiff::REGTEST_DIFFICULTY - 1.0).abs() < 1e-9);
        // The work behind it, for hash rates, is the session's target.
        assert_eq!(ok.target_difficulty, 1e9);
        // Still a duplicate the second time.
        assert_eq!(
            validate(&book, &s, &sub).unwrap_err(),
            ShareError::Duplicate
        );
        // A session below the network difficulty is credited at its own difficulty.
        let easy = session(regtest);
        sub.extranonce2 = vec![0, 0, 0, 9];
        let (nonce, _) = mine(&job, &sub, easy.version_mask, regtest);
        sub.nonce = nonce;
        let ok = validate(&book, &easy, &sub).unwrap();
        assert_eq!(
            ok.credit,
            regtest.difficulty().min(job.network_difficulty())
        );
    }

    #[test]
    fn share_below_block_target_is_not_a_block() {
        // A mainnet-like block target, far harder than the share target.
        let (book, job) = book_with_hard_job();
        let share = ShareTarget::from_difficulty(1.0 / 65536.0).unwrap();
        let s = session(share);
        let mut sub = submit(&job, 0);
        sub.version_bits = Some(0x0000_e000);
        let (nonce, _) = mine(&job, &sub, s.version_mask, share);
        sub.nonce = nonce;
        let ok = validate(&book, &s, &sub).unwrap();
        assert!(!ok.is_block);
        assert_eq!(
            ok.header.version.to_consensus() as u32,
            0x2000_e000,
            "rolled bits in the header"
        );
        // Another share, checked at a session difficulty far above what it reaches, is low.
        sub.extranonce2 = vec![0, 0, 0, 2];
        let (nonce, _) = mine(&job, &sub, s.version_mask, share);
        sub.nonce = nonce;
        let hard = session(ShareTarget::from_difficulty(1e9).unwrap());
        let err = validate(&book, &hard, &sub).unwrap_err();
        assert_eq!(err.code(), ErrorCode::LowDifficulty);
    }

    /// A book with one job at a mainnet-like block target: no test share is a block.
    fn book_with_hard_job() -> (JobBook, Arc<Job>) {
        let mut book = JobBook::default();
        let mut t = fake_template(2, 1);
        t.bits = CompactTarget::from_consensus(0x1d00_ffff);
        t.target = Target::from_compact(t.bits);
        let t = Arc::new(t);
        let job = book.push(Arc::clone(&t), coinbase_for(&t));
        (book, job)
    }

    #[test]
    fn rejection_codes() {
        let (book, job) = book_with_hard_job();
        let s = session(ShareTarget::from_difficulty(1.0).unwrap());
        let code = |s: &Session, sub: &Submit| validate(&book, s, sub).unwrap_err().code();

        let mut unsub = s.clone();
        unsub.extranonce1 = None;
        assert_eq!(code(&unsub, &submit(&job, 0)), ErrorCode::NotSubscribed);

        let mut stranger = submit(&job, 0);
        stranger.worker = "mallory".into();
        assert_eq!(code(&s, &stranger), ErrorCode::UnauthorizedWorker);

        let mut stale = submit(&job, 0);
        stale.job_id = "ffff".into();
        assert_eq!(code(&s, &stale), ErrorCode::JobNotFound);

        let mut short = submit(&job, 0);
        short.extranonce2 = vec![1, 2, 3];
        assert_eq!(code(&s, &short), ErrorCode::Other);

        let range = job.ntime_range();
        for ntime in [*range.start() - 1, *range.end() + 1] {
            let mut late = submit(&job, 0);
            late.ntime = ntime;
            assert!(matches!(
                validate(&book, &s, &late),
                Err(ShareError::Malformed(Malformed::Ntime { .. }))
            ));
        }

        let mut rolled = submit(&job, 0);
        rolled.version_bits = Some(0x4000_0000);
        assert!(matches!(
            validate(&book, &s, &rolled),
            Err(ShareError::Malformed(Malformed::VersionBits { .. }))
        ));
        // Some miners send the whole rolled version: accepted when only masked bits differ.
        let mut full = submit(&job, 0);
        full.version_bits = Some((job.version().to_consensus() as u32) | (s.version_mask & 0x2000));
        assert_ne!(code(&s, &full), ErrorCode::Other);
        let mut no_mask = s.clone();
        no_mask.version_mask = 0;
        rolled.version_bits = Some(0x0000_2000);
        assert_eq!(code(&no_mask, &rolled), ErrorCode::Other);

        // Difficulty 1 is ~2^32 hashes: nonce 0 will not make it.
        assert_eq!(code(&s, &submit(&job, 0)), ErrorCode::LowDifficulty);

        // A nonce that is not 8 hex digits fails parsing, also code 20.
        let bad = stratum::ClientRequest::parse(
            "mining.submit",
            &[
                json!("alice.rig"),
                json!(job.id()),
                json!("00000001"),
                json!("6553f100"),
                json!("123456"),
            ],
        )
        .unwrap_err();
        assert_eq!(ShareError::from(bad).code(), ErrorCode::Other);
    }

    #[test]
    fn stale_after_new_prevhash() {
        let (mut book, job) = book_with_job();
        let s = session(ShareTarget::from_compact(CompactTarget::from_consensus(
            0x207f_ffff,
        )));
        let t2 = Arc::new(fake_template(0, 9));
        book.push(Arc::clone(&t2), coinbase_for(&t2));
        assert_eq!(
            validate(&book, &s, &submit(&job, 0)).unwrap_err(),
            ShareError::Stale
        );
        // A job id never handed out is unknown, not stale (it counts towards the ban).
        let mut never = submit(&job, 0);
        for id in ["ffff", "01", "x"] {
            never.job_id = id.into();
            assert_eq!(
                validate(&book, &s, &never).unwrap_err(),
                ShareError::UnknownJob
            );
        }
    }
}
