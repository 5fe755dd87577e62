//! Benchmarks of the privacy accountant: fresh per-step curves, conversion, warm-cache spends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fedledger_ledger::block::DpSpend;
use fedledger_ledger::privacy::{Accountant, Converter, RdpCurve};

fn per_step_curve(c: &mut Criterion) {
    let mut g = c.benchmark_group("rdp_curve_fresh");
    // Typical DP-SGD (MNIST-like), a harder small-sigma setting, and a q = 0.5 setting whose
    // smallest fractional orders run into the series cap.
    for (name, q, sigma) in [
        ("q0.0043_s1.1", 0.004_266_666_666_666_667, 1.1),
        ("q0.05_s0.9", 0.05, 0.9),
        ("q0.5_s1.0", 0.5, 1.0),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| RdpCurve::sampled_gaussian(black_box(q), black_box(sigma)))
        });
    }
    g.finish();
}

fn conversion(c: &mut Criterion) {
    let mut curve = RdpCurve::zero();
    curve.add_steps(
        &RdpCurve::sampled_gaussian(0.004_266_666_666_666_667, 1.1).unwrap(),
        14_063,
    );
    let conv = Converter::new(1e-5).unwrap();
    c.bench_function("converter_epsilon", |b| {
        b.iter(|| conv.epsilon(black_box(&curve)))
    });
    c.bench_function("converter_new", |b| {
        b.iter(|| Converter::new(black_box(1e-5)))
    });
}

fn warm_spend(c: &mut Criterion) {
    let spend = DpSpend {
        sampling_rate: 0.01,
        noise_multiplier: 1.0,
        steps: 100,
    };
    let mut acc = Accountant::new();
    acc.spend(&spend).unwrap();
    c.bench_function("accountant_spend_warm", |b| {
        b.iter(|| acc.spend(black_box(&spend)))
    });
}

criterion_group!(benches, per_step_curve, conversion, warm_spend);
criterion_main!(benches);
