//! Krum (Blanchard et al. 2017): pick the update closest to its n-f-2 nearest neighbours.

use super::error::AggregateError;
use super::gram;
use super::input::{self, Input};
use super::sums;
use super::Outcome;

/// Krum scores of the `members` (canonical indices) among themselves: for each, the sum of its
/// `max(r - f - 2, 0)` smallest squared distances to the other members (r = members.len()),
/// summed in ascending order so the score depends only on the distances.
pub(crate) fn scores(d2: &[f64], n: usize, members: &[usize], f: usize) -> Vec<f64> {
    let k = members.len().saturating_sub(f + 2);
    let mut buf = Vec::with_capacity(members.len());
    members
        .iter()
        .map(|&i| {
            buf.clear();
            buf.extend(members.iter().filter(|&&j| j != i).map(|&j| d2[i * n + j]));
            if k < buf.len() {
                buf.select_nth_unstable_by(k, f64::total_cmp);
            }
            let nearest = &mut buf[..k];
            nearest.sort_by(f64::total_cmp);
            nearest.iter().sum()
        })
        .collect()
}

/// Positions into `scores` ordered best first: lowest score, then lowest canonical index
/// (canonical order is by update id, so this breaks ties by the smaller id).
pub(crate) fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    order
}

/// A number for a reason string, short and the same on every machine (Rust's float formatting
/// is exact): six decimals with trailing zeros dropped (579.41, 1.43), scientific notation
/// outside [1e-3, 1e9).
pub(crate) fn num(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e9).contains(&a) {
        return format!("{x:.4e}");
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Krum over the canonical rows.
pub(crate) fn run(input: &Input<'_>) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
    let d2 = gram::sq_distances(input)?;
    let (best, outcomes) = select(&d2, input.n(), input.f);
    let aggregate = input.rows[best].iter().map(|&x| sums::canon(x)).collect();
    Ok((aggregate, outcomes))
}

/// The canonical row Krum picks from the squared distances `d2` (n x n), and the outcomes in
/// canonical order.
pub(crate) fn select(d2: &[f64], n: usize, f: usize) -> (usize, Vec<Outcome>) {
    let all: Vec<usize> = (0..n).collect();
    let sc = scores(d2, n, &all, f);
    let best = ranking(&sc)[0];
    let outcomes = (0..n)
        .map(|i| {
            if i == best {
                input::included(1.0, Some(sc[i]))
            } else {
                let why = if sc[i] == sc[best] {
                    format!(
                        "Krum score {} ties the lowest; the smaller update id wins",
                        num(sc[i])
                    )
                } else {
                    format!(
                        "Krum score {} is not the lowest ({})",
                        num(sc[i]),
                        num(sc[best])
                    )
                };
                excluded(sc[i], why)
            }
        })
        .collect();
    (best, outcomes)
}

/// An excluded update's outcome.
pub(crate) fn excluded(score: f64, reason: String) -> Outcome {
    Outcome {
        index: 0,
        included: false,
        weight: 0.0,
        score: Some(score),
        reason: Some(reason),
    }
}
