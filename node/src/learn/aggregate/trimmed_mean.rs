//! Coordinate-wise trimmed mean: drop the f smallest and f largest values, average the rest.

use super::columns::{self, LANES};
use super::error::AggregateError;
use super::input::Input;
use super::lanes::Lanes;
use super::network::Network;
use super::simd::{self, Kernel};
use super::sums::canon;
use super::Outcome;

/// The trimmed mean of the canonical rows. Each coordinate's kept values are summed in f64 in
/// ascending order (they come out of a full sorting network), so the result is a function of
/// the values alone.
pub(crate) fn run(input: &Input<'_>) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
    let (out, outside) = with_counts(input)?;
    Ok((out, range_outcomes(input.n(), input.dim, &outside)))
}

/// [`run`]'s aggregate and, per canonical row, the coordinates where it lay outside the kept
/// range (what [`range_outcomes`] turns into outcomes).
pub(crate) fn with_counts(input: &Input<'_>) -> Result<(Vec<f32>, Vec<u64>), AggregateError> {
    let (n, f) = (input.n(), input.f);
    let kept = (n - 2 * f) as f64;
    coordinatewise(
        input,
        &Network::sort(n),
        #[inline(always)]
        |dst, wires| {
            let mut acc = [0.0f64; LANES];
            for wire in &wires[f..n - f] {
                for (a, &x) in acc.iter_mut().zip(wire) {
                    *a += f64::from(x);
                }
            }
            for (o, a) in dst.iter_mut().zip(acc) {
                *o = canon((a / kept) as f32);
            }
        },
    )
}

/// Drives a coordinate-wise rule: `fill` writes one block of outputs from that block's wires
/// (the network's outputs, in the order it sorts them); for the outcomes, it counts per update
/// the coordinates where it lay outside the central n-2f values (wires f and n-1-f).
pub(crate) fn coordinatewise(
    input: &Input<'_>,
    net: &Network,
    fill: impl FnMut(&mut [f32], &[[f32; LANES]]),
) -> Result<(Vec<f32>, Vec<u64>), AggregateError> {
    simd::run(Coordinatewise { input, net, fill }).map_err(|_| input.non_finite())
}

/// The block loop of [`coordinatewise`], as a kernel so it runs vectorised.
struct Coordinatewise<'i, 'a, F> {
    input: &'i Input<'a>,
    net: &'i Network,
    fill: F,
}

impl<F: FnMut(&mut [f32], &[[f32; LANES]])> Kernel for Coordinatewise<'_, '_, F> {
    type Output = Result<(Vec<f32>, Vec<u64>), columns::NonFinite>;

    #[inline(always)]
    fn run<O: Lanes>(mut self, ops: O) -> Self::Output {
        let input = self.input;
        let (n, f) = (input.n(), input.f);
        let mut out = vec![0.0f32; input.dim];
        let mut outside = vec![0u64; n];
        columns::for_each_block(
            &input.rows,
            input.dim,
            self.net,
            ops,
            #[inline(always)]
            |start, len, wires| {
                (self.fill)(&mut out[start..start + len], wires);
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
            },
        )?;
        Ok((out, outside))
    }
}

/// Outcomes for coordinate-wise rules: every update stays included; its weight is its share of
/// coordinates inside the central range, over n; a reason is given when it was outside in at
/// least half of the coordinates.
pub(crate) fn range_outcomes(n: usize, dim: usize, outside: &[u64]) -> Vec<Outcome> {
    let (n, coordinates) = (n as f64, dim);
    let dim = dim.max(1) as f64;
    outside
        .iter()
        .map(|&c| {
            let share = c as f64 / dim;
            Outcome {
                index: 0,
                included: true,
                weight: (1.0 - share) / n,
                score: Some(share),
                reason: (share >= 0.5).then(|| {
                    format!(
                        "outside the central n-2f values in {:.1}% of coordinates ({c} of {})",
                        share * 100.0,
                        coordinates
                    )
                }),
            }
        })
        .collect()
}
