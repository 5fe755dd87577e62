//! Criterion timings of every aggregation rule at n = 100 updates, f = 10, dimension 1,000,000
//! (override with FEDLEDGER_BENCH_DIM / FEDLEDGER_BENCH_N / FEDLEDGER_BENCH_F), one thread.
//! Run: `cargo bench -p fedledger-node --bench aggregate [-- RULE]`.
//!
//! With FEDLEDGER_BENCH_CPU=1 each iteration is timed by the thread's on-CPU time (Linux
//! /proc/thread-self/schedstat) instead of wall-clock time, which is what to compare with the
//! single-core targets on a machine shared with other work.

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

/// Nanoseconds this thread has spent on a CPU, if the kernel reports it.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn rules(c: &mut Criterion) {
    let cpu_time =
        std::env::var("FEDLEDGER_BENCH_CPU").is_ok_and(|v| v == "1") && thread_cpu_ns().is_some();
    let cfg = BenchConfig {
        updates: env_or("FEDLEDGER_BENCH_N", 100),
        dim: env_or("FEDLEDGER_BENCH_DIM", 1_000_000),
        byzantine: env_or("FEDLEDGER_BENCH_F", 10),
        runs: 1,
        seed: 42,
        rules: Vec::new(),
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
            if cpu_time {
                b.iter_custom(|iters| {
                    let start = thread_cpu_ns().unwrap_or(0);
                    for _ in 0..iters {
                        let _ = black_box(aggregate(&rule, black_box(&updates), cfg.byzantine));
                    }
                    Duration::from_nanos(thread_cpu_ns().unwrap_or(0).saturating_sub(start))
                })
            } else {
                b.iter(|| aggregate(black_box(&rule), black_box(&updates), cfg.byzantine))
            }
        });
    }
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
