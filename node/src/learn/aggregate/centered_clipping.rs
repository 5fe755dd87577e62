//! Centered clipping (Karimireddy, He, Jaggi 2021): v <- v + mean_i clip(x_i - v, tau).
//!
//! Starts from the mean of the updates, or from a reference the caller supplies (e.g. the
//! previous round's aggregate) via [`aggregate_from`], and runs [`ITERATIONS`] steps. Each step
//! scales x_i - v down to length tau when longer. tau is the rule's radius when given;
//! otherwise it is the median of the distances ‖x_i - v‖ at that step, which needs no tuning
//! and, with f < n/2, is always an honest update's distance, so the Byzantine pull on v shrinks
//! by a factor of at most 2f/n per step.

use super::error::AggregateError;
use super::input::Input;
use super::krum::num;
use super::rule::Rule;
use super::sums;
use super::{Aggregation, Outcome, UpdateRef};

/// Clipping steps per aggregation.
pub const ITERATIONS: usize = 10;

/// Centered clipping started from `reference` instead of the mean. `reference` must have the
/// updates' dimension and be finite.
pub fn aggregate_from(
    updates: &[UpdateRef<'_>],
    f: usize,
    radius: Option<f64>,
    reference: &[f32],
) -> Result<Aggregation, AggregateError> {
    let rule = Rule::CenteredClipping { radius };
    let input = Input::new(&rule, updates, f)?;
    if reference.len() != input.dim {
        return Err(AggregateError::InvalidParameter {
            rule: rule.name(),
            name: "reference length",
            value: reference.len() as f64,
            reason: format!(
                "the reference must have the updates' dimension {}",
                input.dim
            ),
        });
    }
    if let Some(&bad) = reference.iter().find(|x| !x.is_finite()) {
        return Err(AggregateError::InvalidParameter {
            rule: rule.name(),
            name: "reference",
            value: f64::from(bad),
            reason: "the reference must be finite".into(),
        });
    }
    let (aggregate, canonical) = run(&input, radius, Some(reference));
    Ok(Aggregation {
        aggregate,
        outcomes: input.to_input_order(canonical),
    })
}

/// Centered clipping over the canonical rows.
pub(crate) fn run(
    input: &Input<'_>,
    radius: Option<f64>,
    reference: Option<&[f32]>,
) -> (Vec<f32>, Vec<Outcome>) {
    let n = input.n();
    let mut v: Vec<f64> = match reference {
        Some(r) => r.iter().map(|&x| f64::from(x)).collect(),
        None => sums::mean(&input.rows, input.dim),
    };
    let mut scale = vec![1.0f64; n];
    let mut dist = vec![0.0f64; n];
    let mut tau = 0.0;
    for _ in 0..ITERATIONS {
        for (d, r) in dist.iter_mut().zip(&input.rows) {
            *d = libm::sqrt(sums::dist2(r, &v));
        }
        tau = radius.unwrap_or_else(|| median(&dist));
        for (s, &d) in scale.iter_mut().zip(&dist) {
            *s = if d > tau { tau / d } else { 1.0 };
        }
        // v + (1/n) sum_i s_i (x_i - v) = (1 - S/n) v + (1/n) sum_i s_i x_i, S = sum_i s_i.
        let total: f64 = scale.iter().sum();
        let pulled = sums::weighted_mean(&input.rows, &scale, input.dim);
        let keep = 1.0 - total / n as f64;
        let share = total / n as f64;
        for (vc, pc) in v.iter_mut().zip(&pulled) {
            *vc = keep * *vc + share * *pc;
        }
    }
    let outcomes = scale
        .iter()
        .zip(&dist)
        .map(|(&s, &d)| Outcome {
            index: 0,
            included: true,
            weight: s / n as f64,
            score: Some(d),
            reason: (s < 1.0).then(|| {
                format!(
                    "clipped in the last step: distance {} > radius {} (scale {})",
                    num(d),
                    num(tau),
                    num(s)
                )
            }),
        })
        .collect();
    (sums::to_f32(&v), outcomes)
}

/// Median of a short list (mean of the two middle values for an even count).
fn median(values: &[f64]) -> f64 {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    (s[(n - 1) / 2] + s[n / 2]) * 0.5
}
