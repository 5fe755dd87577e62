//! Adapters from the simulator to the aggregation rules and the privacy accountant.
//! TEMPORARY SHIM until the `aggregate` and `accountant` branches are merged: only `mean`, and no
//! accounting (DP runs report an error).

use crate::learn::error::LearnError;
use crate::learn::simulate::UpdateOutcome;
use fedledger_ledger::block::DpSpend;
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

pub(super) fn epsilon(_spends: &[DpSpend], _delta: f64) -> Result<f64, LearnError> {
    Err(LearnError::Privacy("accountant not merged yet".into()))
}

pub(super) fn calibrate(_q: f64, _steps: u64, _rounds: u64, _target: f64, _delta: f64) -> Result<f64, LearnError> {
    Err(LearnError::Privacy("accountant not merged yet".into()))
}
