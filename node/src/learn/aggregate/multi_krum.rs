//! Multi-Krum: the unweighted mean of the m updates with the lowest Krum scores (m = n-f).

use super::error::AggregateError;
use super::gram;
use super::input::{self, Input};
use super::krum::{self, num};
use super::sums;
use super::Outcome;

/// Multi-Krum over the canonical rows, averaging the `m` best (1 <= m <= n, checked earlier).
pub(crate) fn run(input: &Input<'_>, m: usize) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
    let d2 = gram::sq_distances(input)?;
    let (chosen, outcomes) = select(&d2, input.n(), input.f, m);
    let rows: Vec<&[f32]> = chosen.iter().map(|&i| input.rows[i]).collect();
    let mean = sums::mean(&rows, input.dim);
    Ok((sums::to_f32(&mean), outcomes))
}

/// The canonical rows Multi-Krum averages (ascending, so the sum runs in canonical order
/// whatever the ranking) from the squared distances `d2` (n x n), and the outcomes in canonical
/// order.
pub(crate) fn select(d2: &[f64], n: usize, f: usize, m: usize) -> (Vec<usize>, Vec<Outcome>) {
    let m = m.clamp(1, n);
    let all: Vec<usize> = (0..n).collect();
    let sc = krum::scores(d2, n, &all, f);
    let rank = krum::ranking(&sc);
    let mut chosen = rank[..m].to_vec();
    chosen.sort_unstable();
    let last = sc[rank[m - 1]];
    let mut selected = vec![false; n];
    for &i in &chosen {
        selected[i] = true;
    }
    let outcomes = (0..n)
        .map(|i| {
            if selected[i] {
                input::included(1.0 / m as f64, Some(sc[i]))
            } else {
                krum::excluded(
                    sc[i],
                    format!(
                        "Krum score {} is not among the {m} lowest (highest selected {})",
                        num(sc[i]),
                        num(last)
                    ),
                )
            }
        })
        .collect();
    (chosen, outcomes)
}
