//! Timing one whole round over updates stored on disk, with its peak memory
//! (`fedledger bench round`): how large a consortium a node's memory can take.

use super::compute::{compute_round, DeltaSource};
use crate::daemon::stored_deltas::StoredDeltas;
use crate::learn::aggregate::{Aggregator, UpdateRef};
use crate::learn::model::{decode_update, encode_update, model_hash};
use fedledger_ledger::block::{DpSpend, LocalMetrics, UpdateAnnouncement, UpdateCommitment};
use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::testutil::TestChain;
use fedledger_ledger::Digest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// What to time.
#[derive(Debug, Clone)]
pub struct RoundBenchConfig {
    /// Members contributing (n).
    pub updates: usize,
    /// Parameters per update.
    pub dim: usize,
    /// Byzantine updates to tolerate (the genesis f).
    pub f: u32,
    /// Aggregation (CLI name).
    pub rule: String,
    /// Timed runs of each way (at least 1); the median is reported.
    pub runs: usize,
    /// Directory for the blob store (n x dim x 4 bytes are written there).
    pub dir: PathBuf,
    /// Also time the old way (every update decoded whole first), for the ratio.
    pub compare_whole: bool,
}

/// One way of computing the round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WayTiming {
    /// `column-blocks` (the node's way) or `whole` (every update decoded first).
    pub way: &'static str,
    /// Median wall-clock seconds over the runs.
    pub median_s: f64,
    /// Peak resident memory of this process while computing, MiB (Linux; 0 elsewhere).
    pub peak_rss_mib: f64,
    /// The model hash it produced (both ways must agree).
    pub model_hash: String,
}

/// The result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundBench {
    /// Seconds to write the updates to the store (not part of a round).
    pub write_s: f64,
    /// Bytes of updates in the round.
    pub update_bytes: u64,
    /// Resident memory before the round: the model and the process, MiB.
    pub baseline_rss_mib: f64,
    /// Each way timed.
    pub ways: Vec<WayTiming>,
}

/// Write `cfg.updates` random updates to a blob store under `cfg.dir`, then compute the round
/// from them `cfg.runs` times, as a validator does. `progress` gets a line per step.
pub fn run(cfg: &RoundBenchConfig, progress: &mut dyn FnMut(&str)) -> Result<RoundBench, String> {
    if cfg.updates == 0 || cfg.dim == 0 || cfg.runs == 0 {
        return Err("updates, dim and runs must be at least 1".into());
    }
    let rule = Aggregator::parse(&cfg.rule).map_err(|e| e.to_string())?;
    rule.check(cfg.updates, cfg.f as usize)
        .map_err(|e| e.to_string())?;
    let store = SledStore::open(&cfg.dir.join("ledger")).map_err(|e| e.to_string())?;
    let chain = TestChain::new(cfg.updates, cfg.f, &cfg.rule);
    let started = Instant::now();
    let mut contributions = Vec::with_capacity(cfg.updates);
    for (i, org) in chain.state.validators().iter().enumerate() {
        let delta = random_delta(i as u64, cfg.dim);
        let hash = store
            .put_blob(&encode_update(&delta))
            .map_err(|e| e.to_string())?;
        drop(delta);
        contributions.push(announce(&chain, *org, hash));
        progress(&format!("wrote update {} of {}", i + 1, cfg.updates));
    }
    let write_s = started.elapsed().as_secs_f64();
    let model = vec![0.0f32; cfg.dim];
    let baseline_rss_mib = reset_peak_rss();
    let deltas = StoredDeltas::new(store.clone());
    let mut ways = vec![time_way(cfg, "column-blocks", progress, || {
        compute_round(
            &chain.state,
            &rule,
            cfg.f,
            &model,
            contributions.clone(),
            &deltas,
        )
        .map(|r| r.model_hash)
    })?];
    if cfg.compare_whole {
        ways.push(time_way(cfg, "whole", progress, || {
            whole_round(&chain, &rule, cfg.f, &model, &contributions, &store)
        })?);
    }
    Ok(RoundBench {
        write_s,
        update_bytes: (cfg.updates * cfg.dim * 4) as u64,
        baseline_rss_mib,
        ways,
    })
}

fn time_way(
    cfg: &RoundBenchConfig,
    way: &'static str,
    progress: &mut dyn FnMut(&str),
    mut round: impl FnMut() -> Result<Digest, String>,
) -> Result<WayTiming, String> {
    reset_peak_rss();
    let mut times = Vec::with_capacity(cfg.runs);
    let mut hash = Digest::default();
    for r in 0..cfg.runs {
        let t = Instant::now();
        hash = round()?;
        times.push(t.elapsed().as_secs_f64());
        progress(&format!(
            "{way}: run {} of {}: {:.2} s",
            r + 1,
            cfg.runs,
            times[r]
        ));
    }
    times.sort_by(f64::total_cmp);
    Ok(WayTiming {
        way,
        median_s: times[times.len() / 2],
        peak_rss_mib: peak_rss_mib(),
        model_hash: hash.to_hex(),
    })
}

/// The old way: every update read and decoded whole, then the rule over whole updates.
fn whole_round(
    chain: &TestChain,
    rule: &Aggregator,
    f: u32,
    model: &[f32],
    contributions: &[UpdateCommitment],
    store: &SledStore,
) -> Result<Digest, String> {
    let mut map: BTreeMap<Digest, Vec<f32>> = BTreeMap::new();
    for c in contributions {
        let h = c.announcement.update_hash;
        let bytes = store
            .blob(&h)
            .map_err(|e| e.to_string())?
            .ok_or("blob missing")?;
        map.insert(h, decode_update(&bytes).map_err(|e| e.to_string())?);
    }
    let mut sorted = contributions.to_vec();
    sorted.sort_by_key(|c| c.announcement.org);
    let whole: Vec<_> = sorted
        .iter()
        .map(|c| map.whole(&c.announcement.update_hash))
        .collect::<Result<_, _>>()?;
    let refs: Vec<UpdateRef<'_>> = sorted
        .iter()
        .zip(&whole)
        .map(|(c, d)| UpdateRef {
            id: c.announcement.update_hash,
            delta: d,
        })
        .collect();
    let agg = rule
        .run(&refs, f as usize, &chain.state.tip_hash())
        .map_err(|e| e.to_string())?;
    let next: Vec<f32> = model
        .iter()
        .zip(&agg.aggregate)
        .map(|(m, a)| m + a)
        .collect();
    Ok(model_hash(&next))
}

/// Small pseudo-random values (xorshift: generating 10^9 normals would dominate the run).
fn random_delta(seed: u64, dim: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02
        })
        .collect()
}

fn announce(chain: &TestChain, org: fedledger_ledger::OrgId, hash: Digest) -> UpdateCommitment {
    UpdateAnnouncement {
        round: 1,
        org,
        update_hash: hash,
        base_model: chain.state.model_hash(),
        num_examples: 1000,
        dp: DpSpend {
            sampling_rate: 0.05,
            noise_multiplier: 1.0,
            steps: 20,
        },
        metrics: LocalMetrics {
            examples: 200,
            loss: 0.5,
            accuracy: 0.8,
            auc: 0.85,
            groups: vec![],
        },
    }
    .sign(chain.key(&org), &chain.chain_id())
}

/// Reset the kernel's peak-RSS mark (Linux `clear_refs`), returning the current RSS in MiB.
fn reset_peak_rss() -> f64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_mib("VmRSS:")
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
