//! Geometric median by smoothed Weiszfeld iterations (Pillutla, Kakade, Harchaoui: RFA).
//!
//! Starting from the mean, repeat v <- sum_i w_i x_i / sum_i w_i with
//! w_i = 1 / max(nu, ‖v - x_i‖), at most [`MAX_ITER`] times, stopping once the objective
//! sum_i ‖v - x_i‖ changes by at most [`FTOL`] relative. Unweighted: every update starts with
//! the same weight.

use super::input::Input;
use super::krum::num;
use super::sums;
use super::Outcome;

/// Smoothing nu: distances below it count as nu, so a point coinciding with v cannot take all
/// the weight (RFA's default).
pub const NU: f64 = 1e-6;
/// Iteration cap.
pub const MAX_ITER: usize = 100;
/// Relative change of the objective below which the iteration stops.
pub const FTOL: f64 = 1e-10;

/// The smoothed-Weiszfeld geometric median of the canonical rows.
pub(crate) fn run(input: &Input<'_>) -> (Vec<f32>, Vec<Outcome>) {
    let n = input.n();
    let mut v = sums::mean(&input.rows, input.dim);
    let mut dist = distances(input, &v);
    let mut objective: f64 = dist.iter().sum();
    for _ in 0..MAX_ITER {
        let w: Vec<f64> = dist.iter().map(|&d| 1.0 / d.max(NU)).collect();
        v = sums::weighted_mean(&input.rows, &w, input.dim);
        dist = distances(input, &v);
        let next: f64 = dist.iter().sum();
        let done = (objective - next).abs() <= FTOL * next;
        objective = next;
        if done {
            break;
        }
    }
    let w: Vec<f64> = dist.iter().map(|&d| 1.0 / d.max(NU)).collect();
    let total: f64 = w.iter().sum();
    let mut sorted = dist.clone();
    sorted.sort_by(f64::total_cmp);
    let median_dist = (sorted[(n - 1) / 2] + sorted[n / 2]) * 0.5;
    let outcomes = w
        .iter()
        .zip(&dist)
        .map(|(&wi, &d)| {
            let weight = wi / total;
            Outcome {
                index: 0,
                included: true,
                weight,
                score: Some(d),
                reason: (weight < 0.5 / n as f64).then(|| {
                    format!(
                        "down-weighted to {} (uniform {}): distance {} from the geometric median, \
                         median distance {}",
                        num(weight),
                        num(1.0 / n as f64),
                        num(d),
                        num(median_dist)
                    )
                }),
            }
        })
        .collect();
    (sums::to_f32(&v), outcomes)
}

/// ‖x_i - v‖ for every canonical row.
fn distances(input: &Input<'_>, v: &[f64]) -> Vec<f64> {
    input
        .rows
        .iter()
        .map(|r| libm::sqrt(sums::dist2(r, v)))
        .collect()
}
