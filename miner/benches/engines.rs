//! Criterion benchmark of each available engine's hashing kernel alone
//! (one thread, no search bookkeeping): `cargo bench -p miner --bench engines`.

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use miner::{Engine, Job, ShareTarget};

fn engines(c: &mut Criterion) {
    let header: [u8; 80] = std::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3));
    // Difficulty 1: hits are rare, so this measures the kernel, not confirmation.
    let job = Job::new(header, ShareTarget::from_difficulty(1.0).unwrap());
    const NONCES: u64 = 1 << 16;
    let mut group = c.benchmark_group("sha256d_scan");
    group.throughput(Throughput::Elements(NONCES));
    for engine in Engine::available() {
        let mut out = Vec::new();
        group.bench_with_input(
            BenchmarkId::from_parameter(engine),
            &engine,
            |b, &engine| {
                b.iter(|| {
                    out.clear();
                    engine.candidates(&job, 0..NONCES, &mut out);
                    out.len()
                })
            },
        );
    }
    // The baseline the portable engine is measured against: a plain `sha2`
    // double hash of the whole header per nonce (three compressions).
    group.bench_function("sha2-plain-loop", |b| {
        use sha2::{Digest, Sha256};
        let mut h = header;
        b.iter(|| {
            let mut found = 0u32;
            for nonce in 0..NONCES as u32 {
                h[76..80].copy_from_slice(&nonce.to_le_bytes());
                let hash = Sha256::digest(Sha256::digest(h));
                found += u32::from(hash[31] == 0);
            }
            found
        })
    });
    group.finish();
}

// `criterion_group!` makes a `pub fn benches()`, which cannot carry a doc comment: in a
// private module it is not part of the file's public items.
mod group {
    criterion::criterion_group!(benches, super::engines);
}
criterion_main!(group::benches);
