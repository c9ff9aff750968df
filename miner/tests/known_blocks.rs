//! Known-answer tests on real Bitcoin mainnet block headers.
//!
//! Each header is rebuilt field by field with the `bitcoin` crate and must hash
//! to its published block hash; then every engine this CPU can run must find
//! the block's real nonce again, at the block's own target and as a
//! difficulty-1 share, and nothing else in a small window around it.
//!
//! The blocks span the chain's history: the genesis block, two 2009 blocks,
//! block 100,000 (2010), a BIP9-era block with the plain `0x20000000` version
//! (2018), and two 2023 blocks whose versions carry BIP310 version-rolling
//! bits. The header fields were taken from public block data (Bitcoin Core
//! `getblock`/`getblockheader` output, raw headers, and the `bitcoin` crate's
//! own genesis constants); each block hash was checked against a second,
//! independent listing of that height's hash (client checkpoint tables, RPC
//! fixtures and explorer data).

use std::ops::Range;
use std::str::FromStr;

use bitcoin::block::{Header, Version};
use bitcoin::consensus::encode::serialize;
use bitcoin::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::pow::CompactTarget;
use bitcoin::{BlockHash, Network, TxMerkleNode};
use miner::engine::{confirm_rolled, RolledKernel, NONCE_SPACE};
use miner::{Engine, Hit, Job, ShareTarget};

/// One mainnet block header, in the usual display forms.
struct KnownBlock {
    height: u32,
    version: u32,
    /// Previous block hash, display (reversed) hex.
    prev: &'static str,
    /// Merkle root, display (reversed) hex.
    merkle_root: &'static str,
    time: u32,
    bits: u32,
    nonce: u32,
    /// The block hash, display (reversed) hex.
    hash: &'static str,
}

const BLOCKS: [KnownBlock; 7] = [
    // Genesis, 2009-01-03.
    KnownBlock {
        height: 0,
        version: 1,
        prev: "0000000000000000000000000000000000000000000000000000000000000000",
        merkle_root: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
        time: 1_231_006_505,
        bits: 0x1d00_ffff,
        nonce: 2_083_236_893,
        hash: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    },
    // The first mined block after genesis, 2009-01-09.
    KnownBlock {
        height: 1,
        version: 1,
        prev: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        merkle_root: "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098",
        time: 1_231_469_665,
        bits: 0x1d00_ffff,
        nonce: 2_573_394_689,
        hash: "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048",
    },
    // The first block with a non-coinbase transaction, 2009-01-12.
    KnownBlock {
        height: 170,
        version: 1,
        prev: "000000002a22cfee1f2c846adbd12b3e183d4f97683f85dad08a79780a84bd55",
        merkle_root: "7dac2c5666815c17a3b36427de37bb9d2e2c5ccec3f8633eb91a4205cb4c10ff",
        time: 1_231_731_025,
        bits: 0x1d00_ffff,
        nonce: 1_889_418_792,
        hash: "00000000d1145790a8694403d4063f323d499e655c83426834d4ce2f8dd4a2ee",
    },
    // 2010-12-29, the first retarget-era block with a small nonce.
    KnownBlock {
        height: 100_000,
        version: 1,
        prev: "000000000002d01c1fccc21636b607dfd930d31d01c3a62104612a1719011250",
        merkle_root: "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766",
        time: 1_293_623_863,
        bits: 0x1b04_864c,
        nonce: 274_148_111,
        hash: "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506",
    },
    // 2018-01-06, BIP9 version with no bits set.
    KnownBlock {
        height: 502_871,
        version: 0x2000_0000,
        prev: "00000000000000000061abcd4f51d81ddba5498cff67fed44b287de0990b7266",
        merkle_root: "871148c57dad60c0cde483233b099daa3e6492a91c13b337a5413a4c4f842978",
        time: 1_515_252_561,
        bits: 0x1800_91c1,
        nonce: 45_291_998,
        hash: "00000000000000000020cf2bdc6563fb25c424af588d5fb7223461e72715e4a9",
    },
    // 2023-06-13, one rolled version bit (bit 23); nonce near 2^32.
    KnownBlock {
        height: 794_143,
        version: 0x2080_0000,
        prev: "000000000000000000008adec925355277b1b98d19f08f6c41f460a1982b100e",
        merkle_root: "1b815a81b88ccb7b3fcdcaa5b02a126a36b1fd32971990fa1a4e020310949b3b",
        time: 1_686_638_166,
        bits: 0x1705_7e69,
        nonce: 4_257_857_639,
        hash: "0000000000000000000293bf6e86820d867cc4ca13cd98326af85bb3bebab9ac",
    },
    // 2023-07-24, many rolled version bits.
    KnownBlock {
        height: 800_000,
        version: 0x341d_6000,
        prev: "000000000000000000012117ad9f72c1c0e42227c2d042dca23e6b96bd9fbb55",
        merkle_root: "91f01a00530c8c83617190048ea8b0814d506cf24dfdbcf8893f8f0cab7f0855",
        time: 1_690_168_629,
        bits: 0x1705_3894,
        nonce: 106_861_918,
        hash: "00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054",
    },
];

/// BIP9's top version bits (`001`) and BIP310's default version-rolling mask.
const BIP9_TOP_MASK: u32 = 0xe000_0000;
const BIP9_TOP_BITS: u32 = 0x2000_0000;
const BIP310_MASK: u32 = 0x1fff_e000;

/// Half-width of the windows scanned around a true nonce.
const HALF_WINDOW: u64 = 5_000;

impl KnownBlock {
    fn header(&self) -> Header {
        Header {
            version: Version::from_consensus(self.version as i32),
            prev_blockhash: BlockHash::from_str(self.prev).unwrap(),
            merkle_root: TxMerkleNode::from_str(self.merkle_root).unwrap(),
            time: self.time,
            bits: CompactTarget::from_consensus(self.bits),
            nonce: self.nonce,
        }
    }

    /// The consensus-serialized header with its nonce field set to `nonce`.
    fn bytes_with_nonce(&self, nonce: u32) -> [u8; 80] {
        let header = Header {
            nonce,
            ..self.header()
        };
        serialize(&header).try_into().expect("a header is 80 bytes")
    }

    fn block_hash(&self) -> BlockHash {
        BlockHash::from_str(self.hash).unwrap()
    }

    /// A job at the block's own target, with the header's nonce cleared.
    fn job(&self) -> Job {
        self.job_at(ShareTarget::from_compact(CompactTarget::from_consensus(
            self.bits,
        )))
    }

    fn job_at(&self, target: ShareTarget) -> Job {
        Job::new(self.bytes_with_nonce(0), target)
    }

    /// The expected single hit.
    fn hit(&self) -> Hit {
        Hit {
            nonce: self.nonce,
            hash: self.block_hash().to_byte_array(),
        }
    }
}

/// `lo..hi` clamped to the nonce space.
fn clamped(lo: i64, hi: i64) -> Range<u64> {
    let clamp = |x: i64| x.clamp(0, NONCE_SPACE as i64) as u64;
    clamp(lo)..clamp(hi)
}

/// Display (reversed) hex of a raw digest.
fn display_hex(hash: &[u8; 32]) -> String {
    let mut reversed = *hash;
    reversed.reverse();
    hex::encode(reversed)
}

fn engines() -> Vec<Engine> {
    let engines = Engine::available();
    assert!(engines.contains(&Engine::Portable));
    engines
}

/// Scans `range` with every engine and checks that the block's nonce is the
/// one and only hit, with the block's hash.
fn assert_only_true_nonce(block: &KnownBlock, job: &Job, range: Range<u64>) {
    let nonce = u64::from(block.nonce);
    assert!(range.contains(&nonce), "{range:?} misses {nonce}");
    for engine in engines() {
        let hits = engine.scan(job, range.clone());
        assert_eq!(
            hits,
            vec![block.hit()],
            "block {} with {engine} over {range:?}",
            block.height
        );
        assert_eq!(display_hex(&hits[0].hash), block.hash);
    }
}

#[test]
fn headers_hash_to_the_known_block_hashes() {
    for block in &BLOCKS {
        let header = block.header();
        assert_eq!(
            header.block_hash(),
            block.block_hash(),
            "block {}",
            block.height
        );
        assert_eq!(header.block_hash().to_string(), block.hash);
        // The hash really meets the block's target: these are mined headers.
        assert_eq!(header.validate_pow(header.target()), Ok(block.block_hash()));

        let bytes = block.bytes_with_nonce(block.nonce);
        assert_eq!(&bytes[76..], &block.nonce.to_le_bytes());
        assert_eq!(
            BlockHash::hash(&bytes),
            block.block_hash(),
            "block {} raw bytes",
            block.height
        );
    }
}

#[test]
fn genesis_matches_the_bitcoin_crate_constant() {
    let genesis = &BLOCKS[0];
    assert_eq!(genesis.height, 0);
    assert_eq!(genesis.header(), genesis_block(Network::Bitcoin).header);
}

#[test]
fn blocks_cover_the_version_eras() {
    let versions: Vec<u32> = BLOCKS.iter().map(|b| b.version).collect();
    assert!(versions.contains(&1), "a version-1 block");
    assert!(
        versions.contains(&BIP9_TOP_BITS),
        "a BIP9 block with no bits set"
    );
    let rolled: Vec<u32> = versions
        .iter()
        .copied()
        .filter(|v| v & BIP9_TOP_MASK == BIP9_TOP_BITS && v & BIP310_MASK != 0)
        .collect();
    assert!(rolled.len() >= 2, "version-rolled blocks: {rolled:x?}");
    // Block 800,000 rolled several bits of the mask.
    assert!(rolled.iter().any(|v| (v & BIP310_MASK).count_ones() >= 5));
}

#[test]
fn job_hash_of_the_true_nonce_is_the_block_hash() {
    for block in &BLOCKS {
        let job = block.job();
        let hash = job.hash(block.nonce);
        assert_eq!(display_hex(&hash), block.hash, "block {}", block.height);
        assert!(job.target().is_met_by(&hash));
        assert_eq!(
            job.header_with_nonce(block.nonce),
            block.bytes_with_nonce(block.nonce)
        );
    }
}

#[test]
fn every_engine_finds_the_true_nonce_around_it() {
    for block in &BLOCKS {
        let nonce = i64::from(block.nonce);
        let range = clamped(nonce - HALF_WINDOW as i64, nonce + HALF_WINDOW as i64);
        assert_only_true_nonce(block, &block.job(), range);
    }
}

#[test]
fn every_engine_finds_the_true_nonce_at_window_edges() {
    for block in &BLOCKS {
        let job = block.job();
        let nonce = i64::from(block.nonce);
        // The true nonce first, then last, then alone; odd lengths leave
        // partial lane batches at the ends.
        for window in [2 * HALF_WINDOW as i64 + 1, 17, 1] {
            assert_only_true_nonce(block, &job, clamped(nonce, nonce + window));
            assert_only_true_nonce(block, &job, clamped(nonce + 1 - window, nonce + 1));
        }
    }
}

#[test]
fn nothing_is_found_next_to_the_true_nonce() {
    for block in &BLOCKS {
        let job = block.job();
        let nonce = i64::from(block.nonce);
        for engine in engines() {
            let below = clamped(nonce - HALF_WINDOW as i64, nonce);
            let above = clamped(nonce + 1, nonce + 1 + HALF_WINDOW as i64);
            assert_eq!(engine.scan(&job, below), vec![], "{engine}");
            assert_eq!(engine.scan(&job, above), vec![], "{engine}");
        }
    }
}

#[test]
fn the_header_nonce_field_is_ignored() {
    for block in &BLOCKS {
        let target = ShareTarget::from_compact(CompactTarget::from_consensus(block.bits));
        let nonce = i64::from(block.nonce);
        let range = clamped(nonce - 100, nonce + 100);
        for junk in [block.nonce, u32::MAX, 0x5a5a_5a5a] {
            let job = Job::new(block.bytes_with_nonce(junk), target);
            for engine in engines() {
                assert_eq!(
                    engine.scan(&job, range.clone()),
                    vec![block.hit()],
                    "{engine}"
                );
            }
        }
    }
}

#[test]
fn the_true_nonce_is_a_difficulty_one_share() {
    let share = ShareTarget::from_difficulty(1.0).unwrap();
    for block in &BLOCKS {
        let job = block.job_at(share);
        let nonce = i64::from(block.nonce);
        let range = clamped(nonce - HALF_WINDOW as i64, nonce + HALF_WINDOW as i64);
        let portable = Engine::Portable.scan(&job, range.clone());
        assert!(
            portable.contains(&block.hit()),
            "block {}: {portable:?}",
            block.height
        );
        for hit in &portable {
            assert!(share.is_met_by(&hit.hash));
            assert_eq!(hit.hash, job.hash(hit.nonce));
        }
        for engine in engines() {
            assert_eq!(
                engine.scan(&job, range.clone()),
                portable,
                "block {} with {engine}",
                block.height
            );
        }
    }
}

/// Engines this CPU cannot run, named in the output rather than passed silently.
fn report_skipped(test: &str) {
    for engine in Engine::ALL {
        if !engine.is_available() {
            eprintln!(
                "{test}: skipped engine {engine} (this CPU lacks {})",
                engine.requirement()
            );
        }
    }
}

/// The version-rolled blocks (794143, 800000) in the version-rolling mode:
/// version sets around the true version, with it first, in the middle and
/// last, and a window around the true nonce. Every engine must find the
/// block, with its true version and nonce, and nothing else.
#[test]
fn version_rolling_mode_finds_the_rolled_blocks() {
    report_skipped("version_rolling_mode_finds_the_rolled_blocks");
    let rolled: Vec<&KnownBlock> = BLOCKS
        .iter()
        .filter(|b| b.height == 794_143 || b.height == 800_000)
        .collect();
    assert_eq!(rolled.len(), 2);
    for block in rolled {
        assert_ne!(
            block.version & BIP310_MASK,
            0,
            "block {} is not rolled",
            block.height
        );
        let target = ShareTarget::from_compact(CompactTarget::from_consensus(block.bits));
        // Neighbouring versions: the true one with its lowest rolled bit
        // stepped up and down inside the mask.
        let step = 1u32 << BIP310_MASK.trailing_zeros();
        let around = |offset: i64| -> u32 {
            let rolled = (block.version & BIP310_MASK) as i64 + offset * i64::from(step);
            (block.version & !BIP310_MASK) | (rolled as u32 & BIP310_MASK)
        };
        let nonce = i64::from(block.nonce);
        for engine in engines() {
            let k = engine.versions().max(3) as i64;
            for position in [0, k / 2, k - 1] {
                let versions: Vec<u32> = (0..k).map(|i| around(i - position)).collect();
                assert_eq!(versions[position as usize], block.version);
                let job = miner::RolledJob::new(block.bytes_with_nonce(0), &versions, target);
                for range in [
                    clamped(nonce - 2_000, nonce + 2_000),
                    clamped(nonce, nonce + 1),
                    clamped(nonce - 16, nonce + 1),
                ] {
                    let hits = engine.scan_rolled(&job, range.clone());
                    assert_eq!(
                        hits.len(),
                        1,
                        "block {} with {engine}: {hits:?}",
                        block.height
                    );
                    assert_eq!(hits[0].version, block.version);
                    assert_eq!(
                        hits[0].hit,
                        block.hit(),
                        "block {} with {engine}",
                        block.height
                    );
                }
            }
        }
        // Every sha-ni version-rolling kernel, not only the default one.
        if Engine::ShaNi.is_available() {
            for kernel in RolledKernel::ALL {
                let k = kernel.versions() as i64;
                for position in [0, k / 2, k - 1] {
                    let versions: Vec<u32> = (0..k).map(|i| around(i - position)).collect();
                    let job = miner::RolledJob::new(block.bytes_with_nonce(0), &versions, target);
                    for range in [
                        clamped(nonce - 2_000, nonce + 2_000),
                        clamped(nonce, nonce + 1),
                        clamped(nonce - 16, nonce + 1),
                    ] {
                        let mut candidates = Vec::new();
                        kernel.candidates(&job, range, &mut candidates);
                        let hits = confirm_rolled(&job, &candidates);
                        let name = kernel.name();
                        assert_eq!(hits.len(), 1, "block {} with {name}", block.height);
                        assert_eq!(hits[0].version, block.version);
                        assert_eq!(
                            hits[0].hit,
                            block.hit(),
                            "block {} with {name}",
                            block.height
                        );
                    }
                }
            }
        }
    }
}
