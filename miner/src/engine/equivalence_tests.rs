//! Every engine against the portable one: random headers, targets and nonce
//! ranges, plus the edges (nonce wrap at 2^32, hits in the last lane, several
//! hits in one batch, ranges shorter than the lane count).

use super::*;
use crate::target::{hash_top_word, ShareTarget};
use proptest::prelude::*;

fn simd_engines() -> Vec<Engine> {
    Engine::available()
        .into_iter()
        .filter(|e| *e != Engine::Portable)
        .collect()
}

/// The reference: every nonce hashed in full.
fn reference(job: &Job, range: Range<u64>) -> (Vec<u32>, Vec<Hit>) {
    let mut cands = Vec::new();
    portable::scan(job, range, &mut cands);
    let hits = confirm(job, &cands);
    (cands, hits)
}

fn check(header: [u8; 80], difficulty: f64, range: Range<u64>) {
    let job = Job::new(header, ShareTarget::from_difficulty(difficulty).unwrap());
    let (cands, hits) = reference(&job, range.clone());
    for nonce in range.clone() {
        let top = hash_top_word(&job.hash(nonce as u32));
        assert_eq!(
            cands.contains(&(nonce as u32)),
            top <= job.target().top_word(),
            "portable candidate set wrong at {nonce:#x}"
        );
    }
    for engine in simd_engines() {
        let mut got = Vec::new();
        engine.candidates(&job, range.clone(), &mut got);
        assert_eq!(got, cands, "{engine} candidates differ on {range:?}");
        assert_eq!(
            engine.scan(&job, range.clone()),
            hits,
            "{engine} hits differ"
        );
    }
    // The sha-ni engine's kernel for SHA CPUs without AVX runs here too.
    if Engine::ShaNi.is_available() {
        let mut got = Vec::new();
        sha_ni::scan_sse(&job, range.clone(), &mut got);
        assert_eq!(
            got, cands,
            "sha-ni SSE kernel candidates differ on {range:?}"
        );
    }
}

/// Scans a range of a job and returns the candidate nonces.
type Scan = Box<dyn Fn(&Job, Range<u64>) -> Vec<u32>>;

/// A kernel the engines dispatch to on this CPU.
struct Kernel {
    name: String,
    /// Nonces per batch.
    lanes: u64,
    candidates: Scan,
}

/// Every SIMD engine's kernel, plus the sha-ni engine's kernel for SHA CPUs
/// without AVX.
fn kernels() -> Vec<Kernel> {
    let mut kernels: Vec<Kernel> = simd_engines()
        .into_iter()
        .map(|engine| Kernel {
            name: engine.to_string(),
            lanes: engine.lanes(),
            candidates: Box::new(move |job, range| {
                let mut out = Vec::new();
                engine.candidates(job, range, &mut out);
                out
            }),
        })
        .collect();
    if Engine::ShaNi.is_available() {
        kernels.push(Kernel {
            name: "sha-ni (SSE kernel)".into(),
            lanes: sha_ni::SSE_LANES as u64,
            candidates: Box::new(|job, range| {
                let mut out = Vec::new();
                sha_ni::scan_sse(job, range, &mut out);
                out
            }),
        });
    }
    kernels
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn engines_match_portable(
        header in proptest::collection::vec(any::<u8>(), 80),
        start in any::<u32>(),
        len in 0u64..200,
        // From "every nonce is a candidate" to "almost none are".
        log_difficulty in -33.0f64..-2.0,
    ) {
        let header: [u8; 80] = header.try_into().unwrap();
        let start = u64::from(start);
        let end = (start + len).min(NONCE_SPACE);
        check(header, 2f64.powf(log_difficulty), start..end);
    }
}

fn header(seed: u8) -> [u8; 80] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
}

#[test]
fn range_ending_at_nonce_space_and_wrapping_batches() {
    // The last lanes of the final batch would wrap to nonce 0: they must be masked.
    for len in [1, 3, 15, 16, 17, 33] {
        check(header(7), 1.0 / 16.0, NONCE_SPACE - len..NONCE_SPACE);
    }
}

#[test]
fn ranges_shorter_than_lanes_and_empty() {
    for len in 0..20u64 {
        check(header(11), 1.0 / 4.0, 1000..1000 + len);
    }
}

#[test]
fn every_nonce_of_several_batches_a_hit() {
    // A difficulty so low that every nonce is a hit.
    let job = Job::new(header(3), ShareTarget::from_difficulty(1e-12).unwrap());
    for engine in Engine::available() {
        let hits = engine.scan(&job, 16..48);
        assert_eq!(hits.len(), 32, "{engine}");
        assert!(hits.iter().map(|h| h.nonce).eq(16..48u32), "{engine}");
    }
}

#[test]
fn a_hit_in_the_last_lane_of_a_batch() {
    for kernel in kernels() {
        // The nonce in the last lane of the second batch, and a header where
        // it has the lowest top word of both batches, so a target between
        // that word and the others' makes it the only hit.
        let last = 2 * kernel.lanes - 1;
        let (header, top) = (1u16..4096)
            .map(|seed| -> [u8; 80] {
                std::array::from_fn(|i| (seed.wrapping_mul(i as u16 + 7) >> 3) as u8)
            })
            .find_map(|h| {
                let job = Job::new(h, ShareTarget::from_difficulty(1.0).unwrap());
                let tops: Vec<u32> = (0..=last as u32)
                    .map(|n| hash_top_word(&job.hash(n)))
                    .collect();
                let (others, own) = tops.split_at(last as usize);
                (own[0] < *others.iter().min().unwrap()).then_some((h, own[0]))
            })
            .expect("some header puts the lowest hash in the last lane");
        let mut be = [0xffu8; 32];
        be[..4].copy_from_slice(&top.to_be_bytes());
        let job = Job::new(
            header,
            ShareTarget::new(bitcoin::pow::Target::from_be_bytes(be)),
        );
        assert_eq!(
            (kernel.candidates)(&job, 0..last + 1),
            vec![last as u32],
            "{}",
            kernel.name
        );
    }
}

#[test]
fn hits_carry_the_real_hash() {
    let job = Job::new(
        header(9),
        ShareTarget::from_difficulty(1.0 / 1024.0).unwrap(),
    );
    for engine in Engine::available() {
        for hit in engine.scan(&job, 0..20_000) {
            assert_eq!(hit.hash, job.hash(hit.nonce));
            assert!(job.target().is_met_by(&hit.hash));
        }
    }
}

#[test]
fn engine_names_parse_and_unknown_is_an_error() {
    for e in Engine::ALL {
        assert_eq!(e.name().parse::<Engine>().unwrap(), e);
    }
    assert_eq!("SHA_NI".parse::<Engine>().unwrap(), Engine::ShaNi);
    assert!(matches!(
        "gpu".parse::<Engine>(),
        Err(EngineError::Unknown(_))
    ));
    assert!(Engine::Portable.check().is_ok());
}

/// Engines this CPU cannot run, named in the test output instead of passing
/// silently.
fn report_skipped(test: &str) {
    for engine in Engine::ALL {
        if !engine.is_available() {
            eprintln!(
                "{test}: skipped engine {engine} (this CPU lacks {})",
                engine.requirement()
            );
        }
    }
    if Engine::ShaNi.is_available() && !std::arch::is_x86_feature_detected!("avx") {
        eprintln!("{test}: skipped the sha-ni version-rolling AVX kernel (this CPU lacks AVX)");
    }
}

/// `count` versions of `base` inside `mask`, from roll index `first`.
fn versions_in(base: u32, mask: u32, first: u32, count: u32) -> Vec<u32> {
    (first..first + count)
        .map(|r| (base & !mask) | crate::pool::work::deposit(r, mask))
        .collect()
}

/// The rolled reference: each version scanned by the portable engine.
fn rolled_reference(job: &RolledJob, range: Range<u64>) -> Vec<RolledCandidate> {
    let mut out = Vec::new();
    for (v, j) in job.jobs().iter().enumerate() {
        let mut cands = Vec::new();
        portable::scan(j, range.clone(), &mut cands);
        out.extend(cands.into_iter().map(|nonce| RolledCandidate {
            version: v as u32,
            nonce,
        }));
    }
    out
}

fn check_rolled(header: [u8; 80], versions: &[u32], difficulty: f64, range: Range<u64>) {
    let target = ShareTarget::from_difficulty(difficulty).unwrap();
    let job = RolledJob::new(header, versions, target);
    let expected = rolled_reference(&job, range.clone());
    for engine in Engine::available() {
        let mut got = Vec::new();
        engine.rolled_candidates(&job, range.clone(), &mut got);
        assert_eq!(
            got, expected,
            "{engine} version-rolling candidates differ on {range:?}, versions {versions:x?}"
        );
        let hits = engine.scan_rolled(&job, range.clone());
        for h in &hits {
            let mut full = header;
            full[..4].copy_from_slice(&h.version.to_le_bytes());
            full[76..].copy_from_slice(&h.hit.nonce.to_le_bytes());
            assert_eq!(h.hit.hash, crate::sha256::sha256d(&full), "{engine}");
            assert!(target.is_met_by(&h.hit.hash));
        }
    }
    if Engine::ShaNi.is_available() {
        // Every version-rolling kernel of sha-ni, not only the one it runs.
        for kernel in RolledKernel::ALL {
            let mut got = Vec::new();
            kernel.candidates(&job, range.clone(), &mut got);
            assert_eq!(
                got,
                expected,
                "sha-ni version-rolling kernel {} differs on {range:?}, versions {versions:x?}",
                kernel.name()
            );
        }
        // The fallback for SHA CPUs without AVX, whatever this CPU has.
        let mut got = Vec::new();
        for (v, j) in job.jobs().iter().enumerate() {
            let mut nonces = Vec::new();
            sha_ni::scan_sse(j, range.clone(), &mut nonces);
            got.extend(nonces.into_iter().map(|nonce| RolledCandidate {
                version: v as u32,
                nonce,
            }));
        }
        assert_eq!(got, expected, "sha-ni SSE kernel, rolled versions");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn version_rolling_matches_portable(
        header in proptest::collection::vec(any::<u8>(), 80),
        mask in any::<u32>(),
        first in 0u32..1000,
        count in 1u32..10,
        start in any::<u32>(),
        len in 0u64..80,
        log_difficulty in -33.0f64..-2.0,
    ) {
        let header: [u8; 80] = header.try_into().unwrap();
        let base = u32::from_le_bytes(header[..4].try_into().unwrap());
        let mask = mask | 0x1; // at least one bit to roll
        let versions = versions_in(base, mask, first, count);
        let start = u64::from(start);
        let end = (start + len).min(NONCE_SPACE);
        check_rolled(header, &versions, 2f64.powf(log_difficulty), start..end);
    }
}

#[test]
fn version_rolling_edges() {
    report_skipped("version_rolling_edges");
    let versions = versions_in(0x2000_0000, 0x1fff_e000, 5, 7);
    // Nonce wrap at 2^32, short and empty ranges, sets of 1..=9 versions.
    for len in [1, 3, 16, 17, 33] {
        check_rolled(
            header(7),
            &versions,
            1.0 / 16.0,
            NONCE_SPACE - len..NONCE_SPACE,
        );
    }
    for len in 0..6u64 {
        check_rolled(header(11), &versions, 1.0 / 4.0, 1000..1000 + len);
    }
    for count in 1..=9 {
        let v = versions_in(0x2000_0000, 0x1fff_e000, 0, count);
        check_rolled(header(13), &v, 1.0 / 8.0, 0..40);
    }
    // Every (version, nonce) a hit: several hits per batch.
    let job = RolledJob::new(
        header(3),
        &versions,
        ShareTarget::from_difficulty(1e-12).unwrap(),
    );
    for engine in Engine::available() {
        let hits = engine.scan_rolled(&job, 16..48);
        assert_eq!(hits.len(), 32 * versions.len(), "{engine}");
    }
    if Engine::ShaNi.is_available() {
        for kernel in RolledKernel::ALL {
            let mut got = Vec::new();
            kernel.candidates(&job, 16..48, &mut got);
            assert_eq!(got.len(), 32 * versions.len(), "{}", kernel.name());
        }
    }
}

#[test]
fn version_rolling_hit_on_the_last_version_of_a_set_and_last_lane() {
    report_skipped("version_rolling_hit_on_the_last_version_of_a_set_and_last_lane");
    for engine in Engine::available() {
        hit_on_the_last_version_and_lane(
            &engine.to_string(),
            engine.versions().max(3) as u32,
            engine.lanes(),
            |job, range, out| engine.rolled_candidates(job, range, out),
        );
    }
    if Engine::ShaNi.is_available() {
        for kernel in RolledKernel::ALL {
            hit_on_the_last_version_and_lane(
                kernel.name(),
                kernel.versions() as u32,
                kernel.nonces(),
                |job, range, out| kernel.candidates(job, range, out),
            );
        }
    }
}

/// A version-rolling kernel of `k` versions and `lanes` nonces per batch
/// (`scan`) finds a hit on the last version of a set in the last lane.
fn hit_on_the_last_version_and_lane(
    name: &str,
    k: u32,
    lanes: u64,
    scan: impl Fn(&RolledJob, Range<u64>, &mut Vec<RolledCandidate>),
) {
    let last = (2 * lanes - 1) as u32;
    // A header whose lowest top word over all (version, nonce) of two
    // batches is at the last version of the set and the last nonce.
    let found = (1u16..8192).find_map(|seed| {
        let h: [u8; 80] = std::array::from_fn(|i| (seed.wrapping_mul(i as u16 + 3) >> 2) as u8);
        let versions = versions_in(0x2000_0000, 0x1fff_e000, 0, k);
        let job = RolledJob::new(h, &versions, ShareTarget::from_difficulty(1.0).unwrap());
        let mut best = (u32::MAX, 0, 0);
        for (v, j) in job.jobs().iter().enumerate() {
            for n in 0..=last {
                let top = hash_top_word(&j.hash(n));
                if top < best.0 {
                    best = (top, v as u32, n);
                }
            }
        }
        (best.1 == k - 1 && best.2 == last).then_some((h, versions, best.0))
    });
    let (h, versions, top) = found.expect("some header puts the lowest hash there");
    let mut be = [0xffu8; 32];
    be[..4].copy_from_slice(&top.to_be_bytes());
    let job = RolledJob::new(
        h,
        &versions,
        ShareTarget::new(bitcoin::pow::Target::from_be_bytes(be)),
    );
    let mut got = Vec::new();
    scan(&job, 0..u64::from(last) + 1, &mut got);
    assert_eq!(
        got,
        vec![RolledCandidate {
            version: k - 1,
            nonce: last
        }],
        "{name}"
    );
}
