//! Coordinate-wise median; for an even count, the mean of the two middle values.

use super::error::AggregateError;
use super::input::Input;
use super::network::Network;
use super::sums::canon;
use super::trimmed_mean::{coordinatewise, range_outcomes};
use super::Outcome;

/// The coordinate-wise median of the canonical rows, and per update the share of coordinates
/// where it lay outside the central n-2f values (what a trimmed mean would have dropped).
pub(crate) fn run(input: &Input<'_>) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
    let (out, outside) = with_counts(input)?;
    Ok((out, range_outcomes(input.n(), input.dim, &outside)))
}

/// [`run`]'s aggregate and, per canonical row, the coordinates where it lay outside the
/// central n-2f values.
pub(crate) fn with_counts(input: &Input<'_>) -> Result<(Vec<f32>, Vec<u64>), AggregateError> {
    let (n, f) = (input.n(), input.f);
    let (mid_lo, mid_hi) = ((n - 1) / 2, n / 2);
    let net = Network::select(n, &[mid_lo, mid_hi, f, n - 1 - f]);
    coordinatewise(
        input,
        &net,
        #[inline(always)]
        |dst, wires| {
            if mid_lo == mid_hi {
                for (o, &v) in dst.iter_mut().zip(&wires[mid_lo]) {
                    *o = canon(v);
                }
            } else {
                let (a, b) = (&wires[mid_lo], &wires[mid_hi]);
                for ((o, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                    *o = canon(((f64::from(x) + f64::from(y)) * 0.5) as f32);
                }
            }
        },
    )
}
