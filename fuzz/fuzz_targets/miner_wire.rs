//! The miner's side of the wire: any lines a pool could send (`mining.notify`,
//! `mining.set_difficulty`, `mining.set_version_mask`, `mining.set_extranonce`,
//! `client.reconnect`, and responses read as `mining.subscribe` and
//! `mining.configure` results), through the session's own handling into the
//! work it mines. Nothing may panic, and every job made stays bounded: a share
//! target no easier than the miner's floor, version bits inside BIP320's
//! `1fffe000`, an extranonce2 of at most 32 bytes, at most 16 live job ids.

#![no_main]

use bitcoin::pow::Target;
use libfuzzer_sys::fuzz_target;
use miner::pool::policy::{PoolPolicy, Reconnect, MAX_RECONNECT_WAIT};
use miner::pool::session::{
    apply, configured_mask, subscribed, Endpoint, LiveJobs, SessionEnd, VERSION_ROLLING_MASK,
};
use miner::pool::work::MIN_SHARE_DIFFICULTY;
use miner::pool::PoolWork;
use miner::{Engine, SearchHandle, Searcher, ShareTarget, Work};
use std::sync::OnceLock;
use stratum::{Message, ServerMessage};

/// A searcher's handle, never run: `apply` restarts it, which only bumps a counter.
fn search() -> &'static SearchHandle {
    static SEARCH: OnceLock<SearchHandle> = OnceLock::new();
    SEARCH.get_or_init(|| {
        Searcher::new(Engine::Portable, Some(1))
            .expect("the portable engine runs anywhere")
            .handle()
    })
}

fn floor() -> Target {
    ShareTarget::from_difficulty(MIN_SHARE_DIFFICULTY)
        .unwrap()
        .target()
}

fn check_job(work: &PoolWork, live: &LiveJobs) {
    assert!(live.len() <= 16, "{} live jobs", live.len());
    assert_eq!(work.version_mask() & !VERSION_ROLLING_MASK, 0);
    let Some((tag, job)) = work.try_next_job() else {
        return;
    };
    assert!(tag.extranonce2.len() <= 32);
    assert_eq!(tag.version_mask & !VERSION_ROLLING_MASK, 0);
    let bits = tag.version_bits.unwrap_or(0);
    assert_eq!(bits & !tag.version_mask, 0, "bits {bits:08x}");
    let targets: Vec<Target> = match &job {
        Work::Nonces(j) => vec![j.target().target()],
        Work::Versions(j) => {
            for v in j.versions() {
                assert_eq!((v ^ tag.job_version) & !tag.version_mask, 0, "{v:08x}");
            }
            j.jobs().iter().map(|j| j.target().target()).collect()
        }
    };
    for t in targets {
        assert!(t <= floor(), "share target easier than the floor");
    }
}

fuzz_target!(|data: &[u8]| {
    // The widest engine: version sets whenever the pool grants the bits.
    let engine = Engine::ALL
        .into_iter()
        .max_by_key(|e| e.versions())
        .unwrap();
    let work = PoolWork::for_engine(engine);
    let mut live = LiveJobs::default();
    let here = Endpoint {
        host: "pool.example".into(),
        port: 3333,
        user: "user".into(),
        password: "secret".into(),
    };
    for line in data.split(|&b| b == b'\n') {
        let Ok(message) = Message::from_slice(line) else {
            continue;
        };
        let msg = match message {
            Message::Response(resp) => {
                // Read both ways: as the configure answer and the subscribe answer.
                let mask = configured_mask(&resp);
                assert_eq!(mask & !VERSION_ROLLING_MASK, 0);
                let _ = subscribed(&resp, mask, &work, search(), &mut live);
                None
            }
            Message::Notification(n) => ServerMessage::from_notification(&n).ok(),
            Message::Request(r) => ServerMessage::parse(&r.method, &r.params).ok(),
        };
        if let Some(msg) = msg {
            if let Some(SessionEnd::Reconnect { to, wait }) = apply(msg, &work, search(), &mut live)
            {
                match PoolPolicy::default().reconnect(&here, to, wait) {
                    Reconnect::Follow(next, wait) => {
                        assert!(wait <= MAX_RECONNECT_WAIT);
                        assert!(next.host.eq_ignore_ascii_case(&here.host), "{next:?}");
                    }
                    Reconnect::Refused { stay, wait, .. } => {
                        assert!(wait <= MAX_RECONNECT_WAIT);
                        assert_eq!(stay, here);
                    }
                }
            }
        }
        check_job(&work, &live);
    }
});
