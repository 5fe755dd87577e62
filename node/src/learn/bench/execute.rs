//! Running a plan's simulations on a bounded pool of worker threads.

use super::plan::{Plan, PlannedRun};
use crate::learn::error::LearnError;
use crate::learn::metrics::Metrics;
use crate::learn::simulate::{SimReport, Simulation};
use rayon::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one simulation measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    /// The final global model on the pooled holdout.
    pub metrics: Metrics,
    /// AUC of the centralized baseline (same model and epochs on the pooled training data, no
    /// DP, no attack).
    pub centralized_auc: f64,
    /// Updates the attackers sent over all rounds.
    pub attacker_sent: u64,
    /// Of those, how many the rule excluded.
    pub attacker_excluded: u64,
    /// Updates honest organizations sent over all rounds.
    pub honest_sent: u64,
    /// Of those, how many the rule excluded (false positives).
    pub honest_excluded: u64,
    /// Largest epsilon an honest organization spent (`None` without DP).
    pub epsilon_spent: Option<f64>,
    /// Hash of the final model (hex): equal hashes, equal runs.
    pub final_model_hash: String,
}

impl RunResult {
    fn from_report(run: &PlannedRun, r: &SimReport) -> Self {
        let rounds = r.rounds.len() as u64;
        let attackers = run.cfg.byzantine as u64;
        let honest = (run.cfg.orgs - run.cfg.byzantine) as u64;
        let attacker_excluded: u64 = r.rounds.iter().map(|x| x.excluded_byzantine as u64).sum();
        let excluded: u64 = r.rounds.iter().map(|x| x.excluded as u64).sum();
        RunResult {
            metrics: r.final_metrics.clone(),
            centralized_auc: r.centralized.auc,
            attacker_sent: rounds * attackers,
            attacker_excluded,
            honest_sent: rounds * honest,
            honest_excluded: excluded - attacker_excluded,
            epsilon_spent: r.rounds.last().and_then(|x| x.epsilon),
            final_model_hash: r.final_model_hash.clone(),
        }
    }
}

/// A short description of a run for error messages.
pub(super) fn describe(run: &PlannedRun) -> String {
    let eps = run
        .epsilon
        .map_or_else(|| "none".to_string(), |e| e.to_string());
    format!(
        "{} / {} / n={} f={} attackers={} / epsilon {eps} / seed {}",
        run.rule.name(),
        run.attack,
        run.cfg.orgs,
        run.f,
        run.attackers,
        run.cfg.seed
    )
}

fn one(run: &PlannedRun) -> Result<RunResult, LearnError> {
    let failed = |e: LearnError| LearnError::Config {
        what: "benchmark run",
        reason: format!("{}: {e}", describe(run)),
    };
    let sim = Simulation::new(run.cfg.clone()).map_err(failed)?;
    let report = sim.run(|_, _| Ok(())).map_err(failed)?;
    Ok(RunResult::from_report(run, &report))
}

/// Run every simulation of `plan` on `jobs` worker threads, calling `progress(done, total)`
/// after each one finishes. Results are in plan order and do not depend on `jobs`. The first
/// run is prepared once up front so that unusable data fails before any work starts.
pub fn execute(
    plan: &Plan,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<RunResult>, LearnError> {
    if jobs == 0 {
        return Err(LearnError::Config {
            what: "jobs",
            reason: "need at least one worker thread".into(),
        });
    }
    if let Some(first) = plan.runs.first() {
        Simulation::new(first.cfg.clone())?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("bench-{i}"))
        .build()
        .map_err(|e| LearnError::Config {
            what: "jobs",
            reason: format!("cannot start {jobs} worker threads: {e}"),
        })?;
    let total = plan.runs.len();
    let done = AtomicUsize::new(0);
    pool.install(|| {
        plan.runs
            .par_iter()
            .map(|run| {
                let r = one(run)?;
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                Ok(r)
            })
            .collect()
    })
}
