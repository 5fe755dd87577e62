//! ed25519 verification cost per signature: one by one versus batched, as the audit uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fedledger_ledger::identity::{batch_ok, domain, signing_bytes, verify_bytes, SignedItem};
use fedledger_ledger::testutil::test_key;
use fedledger_ledger::Digest;

fn items(n: usize) -> Vec<SignedItem> {
    let chain = Digest::of(b"bench");
    (0..n as u64)
        .map(|i| {
            let k = test_key(i % 16);
            let msg = signing_bytes(domain::FINALIZE, &chain, &i);
            let sig = k.sign(domain::FINALIZE, &chain, &i);
            (k.id(), msg, sig)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ed25519");
    g.sample_size(10);
    for n in [1usize, 27, 432] {
        let it = items(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("single", n), &it, |b, it| {
            b.iter(|| {
                it.iter()
                    .all(|(o, m, s)| verify_bytes(o, domain::FINALIZE, m, s).is_ok())
            })
        });
        g.bench_with_input(BenchmarkId::new("batch", n), &it, |b, it| {
            b.iter(|| batch_ok(it))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
