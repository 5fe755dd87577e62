//! Timing every rule on random data, so operators can size a deployment
//! (`fedledger bench aggregate`).

use super::{Aggregator, Rule, UpdateRef};
use fedledger_ledger::Digest;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;
use std::time::Instant;

/// What to time.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Number of updates n.
    pub updates: usize,
    /// Dimension of each update.
    pub dim: usize,
    /// f: how many of the updates are Byzantine (sign-flipped and scaled by 10).
    pub byzantine: usize,
    /// Timed runs per rule (at least 1); the median is reported.
    pub runs: usize,
    /// Seed of the random updates.
    pub seed: u64,
    /// Rules (with any pre-aggregation) to time; empty means every plain rule.
    pub rules: Vec<Aggregator>,
}

/// Wall-clock seconds of one rule over `runs` runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTiming {
    /// The rule's CLI name.
    pub rule: String,
    /// Median over the runs.
    pub median_s: f64,
    /// Fastest run.
    pub min_s: f64,
    /// Slowest run.
    pub max_s: f64,
}

/// Random updates: honest ones N(0, 1) per coordinate, the first `byzantine` ones replaced by
/// -10 times an honest-looking vector. Ids are hashes of the index.
pub fn make_updates(cfg: &BenchConfig) -> (Vec<Vec<f32>>, Vec<Digest>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let normal = Normal::new(0.0f32, 1.0).unwrap_or_else(|e| panic!("N(0,1) is valid: {e}"));
    let rows = (0..cfg.updates)
        .map(|i| {
            let scale = if i < cfg.byzantine { -10.0 } else { 1.0 };
            (0..cfg.dim)
                .map(|_| scale * normal.sample(&mut rng))
                .collect()
        })
        .collect();
    let ids = (0..cfg.updates)
        .map(|i| Digest::of(&(i as u64).to_le_bytes()))
        .collect();
    (rows, ids)
}

/// Time every configured rule whose (n, f) requirement holds (others are skipped and logged),
/// handing each timing to `progress` as soon as it is measured.
pub fn run(cfg: &BenchConfig, progress: &mut dyn FnMut(&RuleTiming)) -> Vec<RuleTiming> {
    let (rows, ids) = make_updates(cfg);
    let updates: Vec<UpdateRef<'_>> = rows
        .iter()
        .zip(&ids)
        .map(|(r, &id)| UpdateRef { id, delta: r })
        .collect();
    let seed = Digest::of(&cfg.seed.to_le_bytes());
    let mut out = Vec::new();
    let rules = if cfg.rules.is_empty() {
        Rule::ALL.into_iter().map(Aggregator::plain).collect()
    } else {
        cfg.rules.clone()
    };
    for rule in rules {
        if let Err(e) = rule.check(cfg.updates, cfg.byzantine) {
            tracing::warn!(target: "fedledger::aggregate", rule = rule.name(), "skipped: {e}");
            continue;
        }
        let mut times = Vec::with_capacity(cfg.runs.max(1));
        for _ in 0..cfg.runs.max(1) {
            let t = Instant::now();
            let result = rule.run(&updates, cfg.byzantine, &seed);
            times.push(t.elapsed().as_secs_f64());
            if let Err(e) = result {
                tracing::warn!(target: "fedledger::aggregate", rule = rule.name(), "failed: {e}");
                break;
            }
        }
        times.sort_by(f64::total_cmp);
        let timing = RuleTiming {
            rule: rule.name().to_string(),
            median_s: times[times.len() / 2],
            min_s: times[0],
            max_s: times[times.len() - 1],
        };
        progress(&timing);
        out.push(timing);
    }
    out
}
