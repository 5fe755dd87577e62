//! Deterministic simulation of the consensus protocol: n nodes in one thread over a seeded
//! virtual network (latency, jitter, loss, partitions), with crashes and restarts from persisted
//! state and Byzantine members, checking agreement, validity, liveness and determinism.

mod app;
mod check;
mod scenario;
mod world;

pub use app::{aggregate, expected_model, SimApp, SPEND};
pub use check::RunOutcome;
pub use scenario::{Byzantine, Crash, NetConfig, Partition, Scenario, Setup};
pub use world::{sim_genesis, sim_key};

use crate::consensus::config::Faults;
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;
use world::World;

/// Run `scenario` with `seed`.
pub fn run(scenario: Scenario, seed: u64) -> RunOutcome {
    run_with(scenario, seed, Faults::default())
}

/// Run with some honest safety rules switched off (tests of the checks themselves).
pub(crate) fn run_with(scenario: Scenario, seed: u64, faults: Faults) -> RunOutcome {
    let mut o = World::new(scenario, seed, faults).run();
    o.scenario = scenario.name();
    o.seed = seed;
    o
}

/// A safety rule honest nodes can be told to break, to watch the checks fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenRule {
    /// Notarize every valid proposal of a view and finalize every notarized block of a height.
    VoteTwice,
}

/// Totals over many seeds of one scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: &'static str,
    /// Runs.
    pub runs: u64,
    /// Heights finalized (sum over runs of the lowest honest height).
    pub heights: u64,
    /// Views changed (sum over runs).
    pub view_changes: u64,
    /// Runs violating agreement.
    pub agreement: u64,
    /// Runs violating validity.
    pub validity: u64,
    /// Runs violating liveness.
    pub liveness: u64,
    /// Re-runs whose trace differed.
    pub determinism: u64,
    /// Re-runs done for the determinism check.
    pub determinism_checked: u64,
    /// Messages dropped by honest nodes, by reason.
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Seeds that violated something, with the first message.
    pub failures: Vec<(u64, String)>,
    /// Wall-clock time (ms).
    pub wall_ms: u64,
}

impl Summary {
    /// Whether any property was violated.
    pub fn failed(&self) -> bool {
        self.agreement + self.validity + self.liveness + self.determinism > 0
    }
}

/// Run `seeds` of `scenario` in parallel; every `determinism_every`-th seed (0 = none) is run
/// twice and the traces compared.
pub fn run_many(
    scenario: Scenario,
    seeds: std::ops::Range<u64>,
    determinism_every: u64,
) -> Summary {
    run_many_broken(scenario, seeds, determinism_every, None)
}

/// [`run_many`] with honest nodes breaking `broken` (if any).
pub fn run_many_broken(
    scenario: Scenario,
    seeds: std::ops::Range<u64>,
    determinism_every: u64,
    broken: Option<BrokenRule>,
) -> Summary {
    let faults = Faults {
        vote_twice: broken == Some(BrokenRule::VoteTwice),
    };
    let start = Instant::now();
    let results: Vec<(RunOutcome, Option<bool>)> = seeds
        .into_par_iter()
        .map(|seed| {
            let o = run_with(scenario, seed, faults);
            let same = (determinism_every > 0 && seed % determinism_every == 0)
                .then(|| run_with(scenario, seed, faults).trace == o.trace);
            (o, same)
        })
        .collect();
    let mut s = Summary {
        scenario: scenario.name(),
        ..Summary::default()
    };
    for (o, same) in results {
        s.runs += 1;
        s.heights += o.min_height;
        s.view_changes += o.view_changes;
        s.agreement += u64::from(!o.agreement.is_empty());
        s.validity += u64::from(!o.validity.is_empty());
        s.liveness += u64::from(!o.liveness.is_empty());
        for (k, v) in &o.drops {
            *s.drops.entry(k.clone()).or_default() += v;
        }
        if let Some(same) = same {
            s.determinism_checked += 1;
            if !same {
                s.determinism += 1;
                s.failures
                    .push((o.seed, "trace differs between two runs".into()));
            }
        }
        if let Some(first) = o
            .agreement
            .first()
            .map(|m| format!("agreement: {m}"))
            .or_else(|| o.validity.first().map(|m| format!("validity: {m}")))
            .or_else(|| o.liveness.first().map(|m| format!("liveness: {m}")))
        {
            s.failures.push((o.seed, first));
        }
    }
    s.wall_ms = start.elapsed().as_millis() as u64;
    s
}

#[cfg(test)]
mod tests;
