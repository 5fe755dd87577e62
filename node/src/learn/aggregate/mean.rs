//! Coordinate-wise arithmetic mean: the non-robust baseline.

use super::input::{self, Input};
use super::sums;
use super::Outcome;

/// The mean of the canonical rows, accumulated in f64 in canonical order.
pub(crate) fn run(input: &Input<'_>) -> (Vec<f32>, Vec<Outcome>) {
    let mean = sums::mean(&input.rows, input.dim);
    let w = 1.0 / input.n() as f64;
    (
        sums::to_f32(&mean),
        (0..input.n()).map(|_| input::included(w, None)).collect(),
    )
}
