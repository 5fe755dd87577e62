//! Adapters from the simulator to the aggregation rules and the privacy accountant.
//! TEMPORARY SHIM for aggregation until the `aggregate` branch is merged: only `mean`.

use crate::learn::error::LearnError;
use crate::learn::simulate::UpdateOutcome;
use fedledger_ledger::block::DpSpend;
use fedledger_ledger::privacy::{self, Accountant};
use fedledger_ledger::Digest;

/// A checked rule name.
#[derive(Debug, Clone)]
pub(super) struct RuleHandle(String);

pub(super) fn parse_rule(name: &str, n: usize, f: usize) -> Result<RuleHandle, LearnError> {
    fedledger_ledger::genesis::check_rule(name, n as u64, f as u32).map_err(LearnError::Aggregation)?;
    if name != "mean" {
        return Err(LearnError::Aggregation(format!("{name}: not available yet")));
    }
    Ok(RuleHandle(name.into()))
}

pub(super) fn rule_name(rule: &RuleHandle) -> String {
    rule.0.clone()
}

pub(super) fn aggregate(
    _rule: &RuleHandle,
    updates: &[(Digest, &[f32])],
    _f: usize,
) -> Result<(Vec<f32>, Vec<UpdateOutcome>), LearnError> {
    let dim = updates.first().map(|u| u.1.len()).unwrap_or(0);
    let mut acc = vec![0.0f64; dim];
    for (_, d) in updates {
        for (a, v) in acc.iter_mut().zip(d.iter()) {
            *a += f64::from(*v);
        }
    }
    let n = updates.len() as f64;
    let outcomes = (0..updates.len())
        .map(|index| UpdateOutcome { index, included: true, weight: 1.0 / n, score: None, reason: String::new() })
        .collect();
    Ok((acc.iter().map(|a| (a / n) as f32).collect(), outcomes))
}

/// Add `spend` to a member's accountant and return its cumulative epsilon at `delta`.
pub(super) fn spend(acc: &mut Accountant, spend: &DpSpend, delta: f64) -> Result<f64, LearnError> {
    acc.spend(spend).map_err(|e| LearnError::Privacy(e.to_string()))?;
    Ok(acc.epsilon(delta).map_err(|e| LearnError::Privacy(e.to_string()))?.epsilon)
}

/// The smallest noise multiplier keeping `rounds` rounds of `steps` steps at rate `q` within
/// `target` epsilon at `delta`.
pub(super) fn calibrate(q: f64, steps: u64, rounds: u64, target: f64, delta: f64) -> Result<f64, LearnError> {
    privacy::calibrate_noise(q, steps, rounds, target, delta).map_err(|e| LearnError::Privacy(e.to_string()))
}
