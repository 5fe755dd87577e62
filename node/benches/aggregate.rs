//! Criterion timings of every aggregation rule at n = 100 updates, f = 10, dimension 1,000,000
//! (override with FEDLEDGER_BENCH_DIM / FEDLEDGER_BENCH_N / FEDLEDGER_BENCH_F), one thread.
//! Run: `cargo bench -p fedledger-node --bench aggregate [-- RULE]`.

use criterion::{criterion_group, criterion_main, Criterion};
use fedledger_node::learn::aggregate::bench::{make_updates, BenchConfig};
use fedledger_node::learn::aggregate::{aggregate, Rule, UpdateRef};
use std::hint::black_box;
use std::time::Duration;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rules(c: &mut Criterion) {
    let cfg = BenchConfig {
        updates: env_or("FEDLEDGER_BENCH_N", 100),
        dim: env_or("FEDLEDGER_BENCH_DIM", 1_000_000),
        byzantine: env_or("FEDLEDGER_BENCH_F", 10),
        runs: 1,
        seed: 42,
    };
    let (rows, ids) = make_updates(&cfg);
    let updates: Vec<UpdateRef<'_>> = rows
        .iter()
        .zip(&ids)
        .map(|(r, &id)| UpdateRef { id, delta: r })
        .collect();
    let mut group = c.benchmark_group(format!(
        "aggregate_n{}_d{}_f{}",
        cfg.updates, cfg.dim, cfg.byzantine
    ));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for rule in Rule::ALL {
        if rule.check(cfg.updates, cfg.byzantine).is_err() {
            continue;
        }
        group.bench_function(rule.name(), |b| {
            b.iter(|| aggregate(black_box(&rule), black_box(&updates), cfg.byzantine))
        });
    }
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
