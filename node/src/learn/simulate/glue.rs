//! Adapters from the simulator to the aggregation rules and the privacy accountant: error
//! mapping and the conversion of rule outcomes into report form.

use crate::learn::aggregate::{Aggregator, UpdateRef};
use crate::learn::error::LearnError;
use crate::learn::simulate::UpdateOutcome;
use fedledger_ledger::block::DpSpend;
use fedledger_ledger::privacy::{self, Accountant};
use fedledger_ledger::Digest;

/// Parse a rule name and check it accepts `n` updates with `f` Byzantine.
pub(super) fn parse_rule(name: &str, n: usize, f: usize) -> Result<Aggregator, LearnError> {
    let rule = Aggregator::parse(name).map_err(|e| LearnError::Aggregation(e.to_string()))?;
    fedledger_ledger::genesis::check_rule(name, n as u64, f as u32)
        .map_err(LearnError::Aggregation)?;
    Ok(rule)
}

/// Whether a simulation of `n` organizations could run the rule named `name` with f = `f`: the
/// very check [`super::Simulation::new`] makes, so a caller (a benchmark grid) can refuse bad
/// names and impossible (n, f) before running anything.
pub fn check_rule(name: &str, n: usize, f: usize) -> Result<(), LearnError> {
    parse_rule(name, n, f).map(|_| ())
}

/// Aggregate `(id, delta)` pairs (in organization order) with `rule`; `seed` drives bucketing.
pub(super) fn aggregate(
    rule: &Aggregator,
    updates: &[(Digest, &[f32])],
    f: usize,
    seed: &Digest,
) -> Result<(Vec<f32>, Vec<UpdateOutcome>), LearnError> {
    let refs: Vec<UpdateRef<'_>> = updates
        .iter()
        .map(|&(id, delta)| UpdateRef { id, delta })
        .collect();
    let agg = rule
        .run(&refs, f, seed)
        .map_err(|e| LearnError::Aggregation(e.to_string()))?;
    let outcomes = agg
        .outcomes
        .into_iter()
        .map(|o| UpdateOutcome {
            index: o.index,
            included: o.included,
            weight: o.weight,
            score: o.score,
            reason: o.reason.unwrap_or_default(),
        })
        .collect();
    Ok((agg.aggregate, outcomes))
}

/// Add `spend` to a member's accountant and return its cumulative epsilon at `delta`.
pub(super) fn spend(acc: &mut Accountant, spend: &DpSpend, delta: f64) -> Result<f64, LearnError> {
    acc.spend(spend)
        .map_err(|e| LearnError::Privacy(e.to_string()))?;
    Ok(acc
        .epsilon(delta)
        .map_err(|e| LearnError::Privacy(e.to_string()))?
        .epsilon)
}

/// The smallest noise multiplier keeping `rounds` rounds of `steps` steps at rate `q` within
/// `target` epsilon at `delta`.
pub(super) fn calibrate(
    q: f64,
    steps: u64,
    rounds: u64,
    target: f64,
    delta: f64,
) -> Result<f64, LearnError> {
    privacy::calibrate_noise(q, steps, rounds, target, delta)
        .map_err(|e| LearnError::Privacy(e.to_string()))
}
