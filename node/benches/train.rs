//! DP-SGD throughput (examples per second): one local epoch of Poisson-sampled, per-example
//! clipped, noised SGD on synthetic customer data, for logistic regression and MLPs.
//! Run: `cargo bench -p fedledger-node --bench train`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fedledger_node::learn::data::synth;
use fedledger_node::learn::model::{Architecture, ModelKind};
use fedledger_node::learn::train::{train_local, DpSettings, TrainConfig};

fn dp_sgd(c: &mut Criterion) {
    let table = synth::generate(&synth::SynthConfig {
        orgs: 1,
        rows_per_org: 10_000,
        seed: 1,
    });
    let data = match table.encode(&synth::schema()) {
        Ok(d) => d,
        Err(e) => panic!("synthetic data encodes: {e}"),
    };
    let models = [
        ("logistic", ModelKind::Logistic, vec![]),
        ("mlp-64", ModelKind::Mlp, vec![64]),
        ("mlp-64-32", ModelKind::Mlp, vec![64, 32]),
    ];
    let mut group = c.benchmark_group("dp_sgd_epoch");
    group.sample_size(10);
    for batch in [64usize, 256] {
        for (name, kind, hidden) in &models {
            let arch = match Architecture::new(*kind, data.num_features(), 2, hidden.clone()) {
                Ok(a) => a,
                Err(e) => panic!("valid architecture: {e}"),
            };
            let global = arch.init(0);
            let cfg = TrainConfig {
                lr: 0.05,
                momentum: 0.9,
                batch_size: batch,
                local_epochs: 1,
                dp: Some(DpSettings {
                    clip_norm: 1.0,
                    noise_multiplier: 1.0,
                }),
            };
            group.throughput(Throughput::Elements(data.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(*name, format!("batch{batch}")),
                &cfg,
                |b, cfg| {
                    b.iter(|| {
                        train_local(&arch, black_box(&global), &data, cfg, 7).map(|o| o.delta.len())
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, dp_sgd);
criterion_main!(benches);
