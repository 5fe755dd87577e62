//! Coordinate-wise median; for an even count, the mean of the two middle values.

use super::columns;
use super::error::AggregateError;
use super::input::Input;
use super::network::Network;
use super::sums::canon;
use super::trimmed_mean::range_outcomes;
use super::Outcome;

/// The coordinate-wise median of the canonical rows, and per update the share of coordinates
/// where it lay outside the central n-2f values (what a trimmed mean would have dropped).
pub(crate) fn run(input: &Input<'_>) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
    let n = input.n();
    let f = input.f;
    let (mid_lo, mid_hi) = ((n - 1) / 2, n / 2);
    let net = Network::select(n, &[mid_lo, mid_hi, f, n - 1 - f]);
    let mut out = vec![0.0f32; input.dim];
    let mut outside = vec![0u64; n];
    let scanned = columns::for_each_block(&input.rows, input.dim, &net, |start, len, wires| {
        let dst = &mut out[start..start + len];
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
        if f > 0 {
            columns::count_outside(
                &input.rows,
                start,
                len,
                &wires[f],
                &wires[n - 1 - f],
                &mut outside,
            );
        }
    });
    scanned.map_err(|_| input.non_finite())?;
    Ok((out, range_outcomes(input, &outside)))
}
