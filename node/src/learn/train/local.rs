//! The local training loop (reproducible for a given seed: ChaCha20 for sampling and noise,
//! single-threaded arithmetic).

use crate::learn::data::Dataset;
use crate::learn::error::LearnError;
use crate::learn::model::{batch_gradient, Architecture};
use crate::learn::train::{TrainConfig, TrainOutput};
use fedledger_ledger::block::DpSpend;
use ndarray::Axis;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Geometric, StandardNormal};

/// Poisson sampling: every index in `0..n` independently with probability `q`, drawn as geometric
/// gaps between selected indices so a step costs O(batch) rather than O(n).
fn poisson_sample(
    rng: &mut ChaCha20Rng,
    n: usize,
    q: f64,
    out: &mut Vec<usize>,
) -> Result<(), LearnError> {
    out.clear();
    if q >= 1.0 {
        out.extend(0..n);
        return Ok(());
    }
    let gaps = Geometric::new(q).map_err(|e| LearnError::Config {
        what: "sampling rate",
        reason: format!("{q}: {e}"),
    })?;
    let mut i = gaps.sample(rng);
    while i < n as u64 {
        out.push(i as usize);
        i = i.saturating_add(1).saturating_add(gaps.sample(rng));
    }
    Ok(())
}

/// Train from `global` on `data` and return the delta. With `cfg.dp`, each step samples every
/// example independently with probability q (Poisson sampling), clips each example's gradient to
/// C, adds N(0, (sigma C)^2) noise to the sum and divides by the expected batch size q N; without
/// it, each epoch walks a fresh shuffle in minibatches and uses the mean gradient.
pub fn train_local(
    arch: &Architecture,
    global: &[f32],
    data: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<TrainOutput, LearnError> {
    arch.check(global)?;
    if data.is_empty() {
        return Err(LearnError::Config {
            what: "training data",
            reason: "no local examples".into(),
        });
    }
    let usable = cfg.lr.is_finite() && cfg.lr > 0.0 && (0.0..1.0).contains(&cfg.momentum);
    if !usable || cfg.batch_size == 0 || cfg.local_epochs == 0 {
        return Err(LearnError::Config {
            what: "training",
            reason: format!(
                "need lr > 0, momentum in [0, 1), batch >= 1 and epochs >= 1 (got lr {}, momentum {}, batch {}, epochs {})",
                cfg.lr, cfg.momentum, cfg.batch_size, cfg.local_epochs
            ),
        });
    }
    if let Some(dp) = &cfg.dp {
        let clip_ok = dp.clip_norm.is_finite() && dp.clip_norm > 0.0;
        let sigma_ok = dp.noise_multiplier.is_finite() && dp.noise_multiplier >= 0.0;
        if !(clip_ok && sigma_ok) {
            return Err(LearnError::Config {
                what: "dp",
                reason: format!(
                    "need clip > 0 and noise multiplier >= 0 (got {} and {})",
                    dp.clip_norm, dp.noise_multiplier
                ),
            });
        }
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = data.len();
    let mut params = global.to_vec();
    let mut velocity = vec![0.0f32; params.len()];
    let mut loss_sum = 0.0f64;
    let mut loss_count = 0usize;
    let mut clipped = 0usize;
    let mut sampled = 0usize;
    let mut step = |params: &mut Vec<f32>, grad: &[f32]| {
        for ((p, v), g) in params.iter_mut().zip(velocity.iter_mut()).zip(grad) {
            *v = cfg.momentum * *v + g;
            *p -= cfg.lr * *v;
        }
    };
    let spend = match &cfg.dp {
        Some(dp) => {
            let (q, steps) = cfg.schedule(n);
            let expected = (q * n as f64) as f32;
            let noise_std = dp.noise_multiplier * f64::from(dp.clip_norm);
            let mut batch = Vec::with_capacity(cfg.batch_size * 2);
            for _ in 0..steps {
                poisson_sample(&mut rng, n, q, &mut batch)?;
                let mut grad = if batch.is_empty() {
                    vec![0.0f32; params.len()]
                } else {
                    let x = data.x.select(Axis(0), &batch);
                    let y: Vec<u32> = batch.iter().map(|&i| data.y[i]).collect();
                    let g = batch_gradient(arch, &params, x.view(), &y, Some(dp.clip_norm))?;
                    loss_sum += g.loss_sum;
                    loss_count += batch.len();
                    clipped += g.clipped;
                    sampled += batch.len();
                    g.sum
                };
                // Noise is added even to an empty batch: skipping it would leak that the batch
                // was empty.
                if noise_std > 0.0 {
                    for g in &mut grad {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        *g += (z * noise_std) as f32;
                    }
                }
                for g in &mut grad {
                    *g /= expected;
                }
                step(&mut params, &grad);
            }
            DpSpend {
                sampling_rate: q,
                noise_multiplier: dp.noise_multiplier,
                steps,
            }
        }
        None => {
            let mut order: Vec<usize> = (0..n).collect();
            let mut steps = 0u64;
            for _ in 0..cfg.local_epochs {
                order.shuffle(&mut rng);
                for chunk in order.chunks(cfg.batch_size) {
                    let x = data.x.select(Axis(0), chunk);
                    let y: Vec<u32> = chunk.iter().map(|&i| data.y[i]).collect();
                    let g = batch_gradient(arch, &params, x.view(), &y, None)?;
                    loss_sum += g.loss_sum;
                    loss_count += chunk.len();
                    let m = chunk.len() as f32;
                    let grad: Vec<f32> = g.sum.iter().map(|v| v / m).collect();
                    step(&mut params, &grad);
                    steps += 1;
                }
            }
            DpSpend {
                sampling_rate: (cfg.batch_size as f64 / n as f64).min(1.0),
                noise_multiplier: 0.0,
                steps,
            }
        }
    };
    let delta: Vec<f32> = params.iter().zip(global).map(|(p, g)| p - g).collect();
    if delta.iter().any(|v| !v.is_finite()) {
        return Err(LearnError::Shape {
            reason: "training diverged (non-finite parameters); lower the learning rate".into(),
        });
    }
    Ok(TrainOutput {
        delta,
        spend,
        mean_loss: if loss_count == 0 {
            0.0
        } else {
            loss_sum / loss_count as f64
        },
        clipped_fraction: if sampled == 0 {
            0.0
        } else {
            clipped as f64 / sampled as f64
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::data::synth;
    use crate::learn::model::{loss_and_gradient, ModelKind};
    use crate::learn::train::DpSettings;

    fn setup() -> (Architecture, Dataset) {
        let t = synth::generate(&synth::SynthConfig {
            orgs: 1,
            rows_per_org: 800,
            seed: 2,
        });
        let d = t.encode(&synth::schema()).unwrap();
        (
            Architecture::new(ModelKind::Logistic, d.num_features(), 2, vec![]).unwrap(),
            d,
        )
    }

    fn loss_after(arch: &Architecture, d: &Dataset, global: &[f32], delta: &[f32]) -> f64 {
        let p: Vec<f32> = global.iter().zip(delta).map(|(g, u)| g + u).collect();
        loss_and_gradient(arch, &p, d.x.view(), &d.y).unwrap().0
    }

    #[test]
    fn sgd_and_dp_sgd_reduce_loss_reproducibly_for_every_model() {
        let (_, d) = setup();
        let f = d.num_features();
        let archs = [
            Architecture::new(ModelKind::Logistic, f, 2, vec![]).unwrap(),
            Architecture::new(ModelKind::Softmax, f, 2, vec![]).unwrap(),
            Architecture::new(ModelKind::Mlp, f, 2, vec![16]).unwrap(),
            Architecture::new(ModelKind::Mlp, f, 2, vec![16, 8]).unwrap(),
        ];
        for arch in archs {
            let g = arch.init(1);
            let before = loss_and_gradient(&arch, &g, d.x.view(), &d.y).unwrap().0;
            for dp in [
                None,
                Some(DpSettings {
                    clip_norm: 1.0,
                    noise_multiplier: 1.0,
                }),
            ] {
                let cfg = TrainConfig {
                    local_epochs: 5,
                    dp,
                    ..TrainConfig::default()
                };
                let out = train_local(&arch, &g, &d, &cfg, 9).unwrap();
                assert_eq!(out, train_local(&arch, &g, &d, &cfg, 9).unwrap());
                assert_ne!(
                    out.delta,
                    train_local(&arch, &g, &d, &cfg, 10).unwrap().delta
                );
                let after = loss_after(&arch, &d, &g, &out.delta);
                assert!(
                    after < before - 0.02,
                    "{:?} {dp:?}: {before} -> {after}",
                    arch.kind
                );
            }
        }
    }

    #[test]
    fn dp_spend_reports_the_schedule() {
        let (arch, d) = setup();
        let cfg = TrainConfig {
            batch_size: 50,
            local_epochs: 3,
            dp: Some(DpSettings {
                clip_norm: 0.5,
                noise_multiplier: 1.3,
            }),
            ..TrainConfig::default()
        };
        let out = train_local(&arch, &arch.init(0), &d, &cfg, 1).unwrap();
        assert_eq!(
            out.spend,
            DpSpend {
                sampling_rate: 50.0 / 800.0,
                noise_multiplier: 1.3,
                steps: 48
            }
        );
        assert!(out.clipped_fraction > 0.0 && out.clipped_fraction <= 1.0);
    }

    /// With huge noise and no signal the delta is dominated by noise of the calibrated scale:
    /// per coordinate, std of the step ~ lr * sigma * C / (q N) (first step, zero momentum).
    #[test]
    fn noise_scale_matches_sigma_c_over_expected_batch() {
        let (arch, d) = setup();
        let cfg = TrainConfig {
            lr: 1.0,
            momentum: 0.0,
            batch_size: 800,
            local_epochs: 1,
            dp: Some(DpSettings {
                clip_norm: 1.0,
                noise_multiplier: 1000.0,
            }),
        };
        let mut sq = 0.0f64;
        let trials = 200;
        for s in 0..trials {
            let out = train_local(&arch, &arch.init(0), &d, &cfg, s).unwrap();
            assert_eq!(out.spend.steps, 1);
            sq += out.delta.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>()
                / out.delta.len() as f64;
        }
        let std = (sq / f64::from(trials as u32)).sqrt();
        let expect = 1000.0 / 800.0;
        assert!(
            (std / expect - 1.0).abs() < 0.05,
            "std {std} expected {expect}"
        );
    }

    #[test]
    fn poisson_sampling_has_rate_q_per_index() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let (n, q, trials) = (200usize, 0.1, 2000);
        let mut hits = vec![0u32; n];
        let mut buf = Vec::new();
        for _ in 0..trials {
            poisson_sample(&mut rng, n, q, &mut buf).unwrap();
            assert!(buf.windows(2).all(|w| w[0] < w[1]));
            for &i in &buf {
                hits[i] += 1;
            }
        }
        // Each index ~ Binomial(2000, 0.1): mean 200, sd ~13.4; the first and last must not be
        // biased (an off-by-one in the gaps would show there).
        let total: u32 = hits.iter().sum();
        assert!((f64::from(total) / (n * trials) as f64 - q).abs() < 0.005);
        for i in [0, 1, n - 1] {
            assert!((140..260).contains(&hits[i]), "index {i}: {}", hits[i]);
        }
        poisson_sample(&mut rng, n, 1.0, &mut buf).unwrap();
        assert_eq!(buf.len(), n);
    }

    #[test]
    fn rejects_bad_config() {
        let (arch, d) = setup();
        let g = arch.init(0);
        let bad = TrainConfig {
            lr: -1.0,
            ..TrainConfig::default()
        };
        assert!(train_local(&arch, &g, &d, &bad, 0).is_err());
        let bad = TrainConfig {
            dp: Some(DpSettings {
                clip_norm: 0.0,
                noise_multiplier: 1.0,
            }),
            ..TrainConfig::default()
        };
        assert!(train_local(&arch, &g, &d, &bad, 0).is_err());
        assert!(train_local(&arch, &g[1..], &d, &TrainConfig::default(), 0).is_err());
    }
}
