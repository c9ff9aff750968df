//! The pool's current work as a [`WorkSource`]: each job is the latest notify
//! with a fresh extranonce2 (or, with BIP310, fresh version bits) and the
//! current share difficulty. The search thread blocks here while there is no work.
//!
//! With an engine that has a version-rolling mode ([`Engine::versions`] > 1)
//! and a pool that granted enough version bits (at least that many version
//! patterns: 2 bits for every engine here), each job is a set of that many
//! versions of one header ([`Work::Versions`]); otherwise one header
//! ([`Work::Nonces`]), each with its own version bits when the pool allows.
//!
//! Nothing the pool sends is trusted to be sane: the share difficulty is
//! floored at [`MIN_SHARE_DIFFICULTY`] (a `set_difficulty 1e-300` would make
//! every hash a share), and every version mask is ANDed with BIP320's
//! general-purpose bits [`VERSION_ROLLING_MASK`].

use super::session::VERSION_ROLLING_MASK;
use crate::engine::{Engine, Job, Mode, RolledJob};
use crate::search::{Work, WorkSource};
use crate::target::ShareTarget;
use bitcoin::consensus::serialize;
use std::sync::{Arc, Condvar, Mutex};
use stratum::Notify;

/// What a share must echo back to the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobTag {
    /// The extranonce session this share belongs to (bumped on reconnect
    /// and `mining.set_extranonce`); a share from another epoch is useless.
    pub epoch: u64,
    /// The notify's job id.
    pub job_id: String,
    /// The extranonce2 the job's coinbase was built with (`extranonce2_size` bytes).
    pub extranonce2: Vec<u8>,
    /// The header time the job was built with (the notify's ntime).
    pub ntime: u32,
    /// The rolled version bits, all inside the negotiated mask (BIP310's
    /// `version_bits`); `None` without version rolling, and for a version
    /// set, whose hits each carry their own version.
    pub version_bits: Option<u32>,
    /// The notify's version and the mask the job was rolled in: a hit's
    /// version may differ from the former only inside the latter.
    pub job_version: u32,
    /// The version-rolling mask of the job's session (0: no version rolling).
    pub version_mask: u32,
}

impl JobTag {
    /// The BIP310 `version_bits` to submit for a hit with header `version`
    /// (`None` for a nonce-only hit): `Err` if the version differs from the
    /// job's outside the mask, which must never be submitted.
    pub fn version_bits_for(&self, version: Option<u32>) -> Result<Option<u32>, u32> {
        match version {
            None => Ok(self.version_bits),
            Some(v) if (v ^ self.job_version) & !self.version_mask == 0 => {
                Ok(Some(v & self.version_mask))
            }
            Some(v) => Err(v),
        }
    }
}

/// The session-level parameters a pool gave us.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// The pool's extranonce1 for this connection, as bytes.
    pub extranonce1: Vec<u8>,
    /// The length of the extranonce2 we roll, in bytes.
    pub extranonce2_size: usize,
    /// BIP310 mask the pool allows us to roll (0: no version rolling).
    pub version_mask: u32,
}

#[derive(Debug, Default)]
struct State {
    session: Option<Session>,
    notify: Option<Notify>,
    difficulty: Option<f64>,
    epoch: u64,
    /// Jobs handed out for the current notify: extranonce2 and version bits derive from it.
    counter: u64,
    closed: bool,
    /// Versions per job in the version-rolling mode (1: nonce-only).
    versions: usize,
}

/// Shared between the stratum session (which updates it) and the search
/// thread (which takes jobs from it).
#[derive(Clone, Debug, Default)]
pub struct PoolWork {
    inner: Arc<(Mutex<State>, Condvar)>,
}

/// Difficulty used until the pool sends `mining.set_difficulty` (the stratum default).
pub const DEFAULT_DIFFICULTY: f64 = 1.0;
/// The easiest share difficulty mined, whatever the pool asks for: 2^16 hashes
/// a share (some 300 shares a second at 20 MH/s). A share found at this target
/// also meets any easier one the pool set, so nothing valid is lost.
pub const MIN_SHARE_DIFFICULTY: f64 = 1.0 / 65_536.0;
/// Version bits rolled per extranonce2 at most (2^16 nonce spaces).
const MAX_VERSION_ROLLS: u64 = 1 << 16;

impl PoolWork {
    /// Work for nonce-only search.
    pub fn new() -> Self {
        Self::default()
    }

    /// Work for `engine`: version sets of [`Engine::versions`] whenever the
    /// pool grants enough version bits.
    pub fn for_engine(engine: Engine) -> Self {
        let work = Self::default();
        work.update(|s| s.versions = engine.versions());
        work
    }

    /// The mode the search runs in with the current session's mask.
    pub fn mode(&self) -> Mode {
        let state = self.inner.0.lock().unwrap_or_else(|e| e.into_inner());
        let mask = state.session.as_ref().map_or(0, |s| s.version_mask);
        mode_for(mask, state.versions)
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let (lock, ready) = &*self.inner;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state);
        ready.notify_all();
    }

    /// A new connection's extranonce and version mask (ANDed with
    /// [`VERSION_ROLLING_MASK`]); drops the old work.
    pub fn set_session(&self, mut session: Session) {
        session.version_mask &= VERSION_ROLLING_MASK;
        self.update(|s| {
            s.session = Some(session);
            s.notify = None;
            s.epoch += 1;
            s.counter = 0;
        });
    }

    /// `mining.set_extranonce`: keeps the job but restarts extranonce2 rolling.
    pub fn set_extranonce(&self, extranonce1: Vec<u8>, extranonce2_size: usize) {
        self.update(|s| {
            if let Some(session) = &mut s.session {
                session.extranonce1 = extranonce1;
                session.extranonce2_size = extranonce2_size;
            }
            s.epoch += 1;
            s.counter = 0;
        });
    }

    /// `mining.set_version_mask`: only bits inside [`VERSION_ROLLING_MASK`]
    /// are ever rolled, whatever the pool sends.
    pub fn set_version_mask(&self, mask: u32) {
        self.update(|s| {
            if let Some(session) = &mut s.session {
                session.version_mask = mask & VERSION_ROLLING_MASK;
            }
        });
    }

    /// The version mask jobs are rolled in now (0: none, or no session).
    pub fn version_mask(&self) -> u32 {
        let state = self.inner.0.lock().unwrap_or_else(|e| e.into_inner());
        state.session.as_ref().map_or(0, |s| s.version_mask)
    }

    /// `mining.set_difficulty`: applies to the jobs made from now on, floored
    /// at [`MIN_SHARE_DIFFICULTY`]. Returns the difficulty mined.
    pub fn set_difficulty(&self, difficulty: f64) -> f64 {
        let mined = share_difficulty(difficulty);
        self.update(|s| s.difficulty = Some(mined));
        mined
    }

    /// A new `mining.notify`: the next job comes from it.
    pub fn set_notify(&self, notify: Notify) {
        self.update(|s| {
            s.notify = Some(notify);
            s.counter = 0;
        });
    }

    /// The connection is gone: no work until the next session.
    pub fn clear(&self) {
        self.update(|s| {
            s.notify = None;
            s.epoch += 1;
        });
    }

    /// Ends the search: `next_job` returns `None` from now on.
    pub fn close(&self) {
        self.update(|s| s.closed = true);
    }

    /// The epoch shares must carry to still be worth submitting.
    pub fn epoch(&self) -> u64 {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner()).epoch
    }

    /// Builds the next job, or `None` when there is no work yet.
    fn make_job(state: &mut State) -> Option<(JobTag, Work)> {
        let (session, notify) = (state.session.as_ref()?, state.notify.as_ref()?);
        let difficulty = share_difficulty(state.difficulty.unwrap_or(DEFAULT_DIFFICULTY));
        let target = ShareTarget::from_difficulty(difficulty)
            .expect("share_difficulty is finite and positive");
        let mask = session.version_mask;
        let rolled = mode_for(mask, state.versions) == Mode::VersionRolling;
        // A job takes one version pattern, or a set of `versions` of them.
        let per_job = if rolled { state.versions as u64 } else { 1 };
        let jobs_per_en2 = version_rolls(mask) / per_job;
        let n = state.counter;
        state.counter += 1;
        let (en2_counter, roll) = (n / jobs_per_en2, (n % jobs_per_en2) * per_job);
        let extranonce2 = counter_bytes(en2_counter, session.extranonce2_size);
        let coinbase = notify.coinbase(&session.extranonce1, &extranonce2);
        let merkle_root = notify.merkle_root(&coinbase);
        let job_version = notify.version.to_consensus() as u32;
        if rolled {
            let versions: Vec<u32> = (roll..roll + per_job)
                .map(|r| (job_version & !mask) | deposit(r as u32, mask))
                .collect();
            let version = bitcoin::block::Version::from_consensus(versions[0] as i32);
            let header = notify.header(merkle_root, version, notify.ntime, 0);
            let bytes: [u8; 80] = serialize(&header).try_into().expect("headers are 80 bytes");
            let tag = JobTag {
                epoch: state.epoch,
                job_id: notify.job_id.clone(),
                extranonce2,
                ntime: notify.ntime,
                version_bits: None,
                job_version,
                version_mask: mask,
            };
            return Some((tag, RolledJob::new(bytes, &versions, target).into()));
        }
        // BIP310: the share carries only the rolled bits (inside the mask).
        let version_bits =
            (session.version_mask != 0).then(|| deposit(roll as u32, session.version_mask));
        let version = bitcoin::block::Version::from_consensus(match version_bits {
            Some(bits) => ((job_version & !session.version_mask) | bits) as i32,
            None => job_version as i32,
        });
        let header = notify.header(merkle_root, version, notify.ntime, 0);
        let bytes: [u8; 80] = serialize(&header).try_into().expect("headers are 80 bytes");
        let tag = JobTag {
            epoch: state.epoch,
            job_id: notify.job_id.clone(),
            extranonce2,
            ntime: notify.ntime,
            version_bits,
            job_version,
            version_mask: mask,
        };
        Some((tag, Job::new(bytes, target).into()))
    }
}

impl PoolWork {
    /// The next job if there is work now, without waiting (`None` otherwise,
    /// and once closed).
    pub fn try_next_job(&self) -> Option<(JobTag, Work)> {
        let mut state = self.inner.0.lock().unwrap_or_else(|e| e.into_inner());
        if state.closed {
            return None;
        }
        Self::make_job(&mut state)
    }
}

impl WorkSource for PoolWork {
    type Tag = JobTag;

    /// Blocks until there is work or the client closes.
    fn next_job(&mut self) -> Option<(JobTag, Work)> {
        let (lock, ready) = &*self.inner;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.closed {
                return None;
            }
            if let Some(job) = Self::make_job(&mut state) {
                return Some(job);
            }
            state = ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The difficulty mined for a pool's `difficulty`: at least
/// [`MIN_SHARE_DIFFICULTY`]; [`DEFAULT_DIFFICULTY`] for a value that is no
/// difficulty at all (NaN, infinite, not positive).
pub fn share_difficulty(difficulty: f64) -> f64 {
    if difficulty.is_finite() && difficulty > 0.0 {
        difficulty.max(MIN_SHARE_DIFFICULTY)
    } else {
        DEFAULT_DIFFICULTY
    }
}

/// The mode for a pool's version `mask` and an engine sharing schedules over
/// `versions` versions: version-rolling when the mask has at least that many
/// patterns (and the engine has the mode), else nonce-only.
pub fn mode_for(mask: u32, versions: usize) -> Mode {
    if versions > 1 && version_rolls(mask) >= versions as u64 {
        Mode::VersionRolling
    } else {
        Mode::NonceOnly
    }
}

/// How many distinct version-bit patterns to roll per extranonce2.
fn version_rolls(mask: u32) -> u64 {
    (1u64 << mask.count_ones()).min(MAX_VERSION_ROLLS)
}

/// Scatters the low bits of `value` into the set bits of `mask` (lowest first).
pub(crate) fn deposit(mut value: u32, mask: u32) -> u32 {
    let mut out = 0;
    let mut m = mask;
    while m != 0 && value != 0 {
        let bit = m & m.wrapping_neg();
        if value & 1 == 1 {
            out |= bit;
        }
        value >>= 1;
        m &= m - 1;
    }
    out
}

/// `counter` as `size` little-endian bytes (wrapping in that many bytes).
fn counter_bytes(counter: u64, size: usize) -> Vec<u8> {
    let le = counter.to_le_bytes();
    (0..size).map(|i| le.get(i).copied().unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::block::Version;
    use bitcoin::hashes::Hash;
    use bitcoin::{BlockHash, CompactTarget};

    pub(crate) fn notify(job_id: &str, clean: bool) -> Notify {
        Notify {
            job_id: job_id.into(),
            prevhash: BlockHash::from_byte_array([7; 32]),
            coinb1: vec![1, 2, 3],
            coinb2: vec![4, 5],
            merkle_branch: vec![[9; 32]],
            version: Version::from_consensus(0x2000_0000),
            nbits: CompactTarget::from_consensus(0x207f_ffff),
            ntime: 1_700_000_000,
            clean_jobs: clean,
        }
    }

    fn session(mask: u32) -> Session {
        Session {
            extranonce1: vec![0xaa, 0xbb],
            extranonce2_size: 4,
            version_mask: mask,
        }
    }

    #[test]
    fn jobs_roll_extranonce2_and_commit_to_it() {
        let mut work = PoolWork::new();
        work.set_session(session(0));
        work.set_difficulty(0.5);
        let n = notify("j1", true);
        work.set_notify(n.clone());
        let (t1, Work::Nonces(j1)) = work.next_job().unwrap() else {
            panic!("rolled work")
        };
        let (t2, Work::Nonces(j2)) = work.next_job().unwrap() else {
            panic!("rolled work")
        };
        assert_eq!(t1.extranonce2, vec![0, 0, 0, 0]);
        assert_eq!(t2.extranonce2, vec![1, 0, 0, 0]);
        assert_eq!(t1.version_bits, None);
        assert_ne!(j1.header(), j2.header());
        // The header commits to coinb1 | en1 | en2 | coinb2 through the branch.
        let root = n.merkle_root(&n.coinbase(&[0xaa, 0xbb], &t2.extranonce2));
        let header: bitcoin::block::Header = bitcoin::consensus::deserialize(j2.header()).unwrap();
        assert_eq!(header.merkle_root, root);
        assert_eq!(header.time, n.ntime);
        assert_eq!(*j2.target(), ShareTarget::from_difficulty(0.5).unwrap());
    }

    #[test]
    fn an_absurdly_low_difficulty_is_floored() {
        let mut work = PoolWork::new();
        work.set_session(session(0));
        work.set_notify(notify("j1", true));
        let floor = ShareTarget::from_difficulty(MIN_SHARE_DIFFICULTY).unwrap();
        for asked in [1e-300, f64::MIN_POSITIVE, 1e-9, MIN_SHARE_DIFFICULTY / 2.0] {
            assert_eq!(work.set_difficulty(asked), MIN_SHARE_DIFFICULTY);
            let (_, Work::Nonces(job)) = work.next_job().unwrap() else {
                panic!("rolled work")
            };
            assert_eq!(*job.target(), floor, "{asked}");
        }
        // At or above the floor, the pool's difficulty is mined as sent.
        assert_eq!(work.set_difficulty(0.001), 0.001);
        let (_, Work::Nonces(job)) = work.next_job().unwrap() else {
            panic!("rolled work")
        };
        assert_eq!(*job.target(), ShareTarget::from_difficulty(0.001).unwrap());
        assert_eq!(share_difficulty(f64::NAN), DEFAULT_DIFFICULTY);
        assert_eq!(share_difficulty(-1.0), DEFAULT_DIFFICULTY);
    }

    #[test]
    fn version_masks_are_anded_with_bip320_bits() {
        let mut work = PoolWork::new();
        // A pool granting every bit: only 1fffe000 is rolled.
        work.set_session(session(0xffff_ffff));
        assert_eq!(work.version_mask(), VERSION_ROLLING_MASK);
        work.set_notify(notify("j1", true));
        for _ in 0..64 {
            let (tag, _) = work.next_job().unwrap();
            assert_eq!(tag.version_mask, VERSION_ROLLING_MASK);
            assert_eq!(tag.version_bits.unwrap() & !VERSION_ROLLING_MASK, 0);
        }
        // And a later set_version_mask with bits outside it.
        work.set_version_mask(0xe000_1fff | 0x0000_6000);
        assert_eq!(work.version_mask(), 0x0000_6000);
        work.set_notify(notify("j2", true));
        for _ in 0..8 {
            let (tag, Work::Nonces(job)) = work.next_job().unwrap() else {
                panic!("rolled work")
            };
            assert_eq!(tag.version_bits.unwrap() & !0x6000, 0);
            let version = u32::from_le_bytes(job.header()[..4].try_into().unwrap());
            assert_eq!(version & !0x6000, 0x2000_0000, "{version:08x}");
        }
    }

    #[test]
    fn version_bits_roll_inside_the_mask_first() {
        let mut work = PoolWork::new();
        work.set_session(session(0x0000_6000));
        work.set_notify(notify("j1", true));
        let tags: Vec<JobTag> = (0..5).map(|_| work.next_job().unwrap().0).collect();
        let bits: Vec<u32> = tags.iter().map(|t| t.version_bits.unwrap()).collect();
        assert_eq!(bits, vec![0, 0x2000, 0x4000, 0x6000, 0]);
        assert_eq!(tags[3].extranonce2, vec![0, 0, 0, 0]);
        assert_eq!(tags[4].extranonce2, vec![1, 0, 0, 0]);
    }

    #[test]
    fn version_sets_roll_inside_the_mask_when_the_pool_grants_enough_bits() {
        let engine = Engine::ShaNi;
        let k = engine.versions();
        // One bit is two patterns: too few for a set, so nonce-only.
        let mut work = PoolWork::for_engine(engine);
        work.set_session(session(0x0000_2000));
        work.set_notify(notify("j1", true));
        assert_eq!(work.mode(), Mode::NonceOnly);
        assert!(matches!(work.next_job().unwrap().1, Work::Nonces(_)));
        // Two bits (four patterns) hold one set of three; the fourth goes unused.
        work.set_session(session(0x0000_6000));
        work.set_notify(notify("j1", true));
        assert_eq!(work.mode(), Mode::VersionRolling);
        let mut seen = Vec::new();
        for en2 in 0..3u8 {
            let (tag, Work::Versions(job)) = work.next_job().unwrap() else {
                panic!("nonce-only")
            };
            assert_eq!(tag.extranonce2, vec![en2, 0, 0, 0]);
            assert_eq!(tag.version_bits, None);
            assert_eq!(job.versions().len(), k);
            assert_eq!(
                job.versions(),
                &[0x2000_0000, 0x2000_2000, 0x2000_4000][..k]
            );
            for (v, j) in job.versions().iter().zip(job.jobs()) {
                assert_eq!(v & !0x6000, 0x2000_0000, "outside the mask");
                assert_eq!(j.header()[..4], v.to_le_bytes());
                assert_eq!(tag.version_bits_for(Some(*v)), Ok(Some(v & 0x6000)));
            }
            seen.extend_from_slice(job.versions());
        }
        // A version outside the mask is refused, never submitted.
        let (tag, _) = work.next_job().unwrap();
        assert_eq!(tag.version_bits_for(Some(0x2000_8000)), Err(0x2000_8000));
        // The full mask: consecutive sets, then the next extranonce2.
        work.set_session(session(0x1fff_e000));
        work.set_notify(notify("j2", true));
        let a = work.next_job().unwrap();
        let b = work.next_job().unwrap();
        let (Work::Versions(ja), Work::Versions(jb)) = (&a.1, &b.1) else {
            panic!()
        };
        assert_eq!(ja.versions()[k - 1] + 0x2000, jb.versions()[0]);
        assert_eq!(a.0.extranonce2, b.0.extranonce2);
        assert_eq!(mode_for(0x1fff_e000, 1), Mode::NonceOnly);
    }

    #[test]
    fn no_work_blocks_until_notify_and_close_ends() {
        let work = PoolWork::new();
        let mut source = work.clone();
        let waiter = std::thread::spawn(move || source.next_job().map(|(t, _)| t.job_id));
        std::thread::sleep(std::time::Duration::from_millis(20));
        work.set_session(session(0));
        work.set_notify(notify("late", true));
        assert_eq!(waiter.join().unwrap().as_deref(), Some("late"));

        work.clear();
        let mut source = work.clone();
        let waiter = std::thread::spawn(move || source.next_job().is_none());
        std::thread::sleep(std::time::Duration::from_millis(20));
        work.close();
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn deposit_and_counter_helpers() {
        assert_eq!(deposit(0b101, 0b1011_0000), 0b1000_0000 | 0b1_0000);
        assert_eq!(version_rolls(0x1fff_e000), MAX_VERSION_ROLLS);
        assert_eq!(version_rolls(0), 1);
        assert_eq!(counter_bytes(0x0102, 3), vec![2, 1, 0]);
        assert_eq!(counter_bytes(0x0102, 1), vec![2]);
        assert_eq!(counter_bytes(5, 10).len(), 10);
    }
}
