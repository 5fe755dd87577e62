//! Bulyan (El Mhamdi et al. 2018): iterated Krum selects theta = n-2f updates, then per
//! coordinate the beta = theta-2f selected values closest to their median are averaged.

use super::columns::{self, LANES};
use super::error::AggregateError;
use super::gram;
use super::input::{self, Input};
use super::krum::{self, num};
use super::lanes::Lanes;
use super::network::Network;
use super::simd::{self, Kernel};
use super::sums::canon;
use super::Outcome;

/// Bulyan over the canonical rows (n >= 4f+3 checked earlier).
pub(crate) fn run(input: &Input<'_>) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
    let n = input.n();
    let f = input.f;
    let theta = n - 2 * f;
    let beta = theta - 2 * f;
    let d2 = gram::sq_distances(input)?;

    // Phase 1: Krum on the remaining set, theta times.
    let mut remaining: Vec<usize> = (0..n).collect();
    let mut chosen = Vec::with_capacity(theta);
    let mut last_score = vec![0.0f64; n];
    for _ in 0..theta {
        let sc = krum::scores(&d2, n, &remaining, f);
        for (&i, &s) in remaining.iter().zip(&sc) {
            last_score[i] = s;
        }
        let best = krum::ranking(&sc)[0];
        chosen.push(remaining.remove(best));
    }
    let last_winner = chosen.last().map_or(0.0, |&i| last_score[i]);
    chosen.sort_unstable();

    // Phase 2: per coordinate, average the beta sorted values nearest the median.
    let rows: Vec<&[f32]> = chosen.iter().map(|&i| input.rows[i]).collect();
    let out = simd::run(TrimmedAroundMedian {
        rows: &rows,
        dim: input.dim,
        beta,
    });

    let mut selected = vec![false; n];
    for &i in &chosen {
        selected[i] = true;
    }
    let outcomes = (0..n)
        .map(|i| {
            if selected[i] {
                input::included(1.0 / theta as f64, Some(last_score[i]))
            } else {
                krum::excluded(
                    last_score[i],
                    format!(
                        "not among the theta={theta} updates selected by iterated Krum (its last \
                         Krum score {} vs {} for the last one selected)",
                        num(last_score[i]),
                        num(last_winner)
                    ),
                )
            }
        })
        .collect();
    Ok((out, outcomes))
}

/// Phase 2 of Bulyan as a vectorised kernel.
struct TrimmedAroundMedian<'r, 'a> {
    rows: &'r [&'a [f32]],
    dim: usize,
    beta: usize,
}

impl Kernel for TrimmedAroundMedian<'_, '_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn run<O: Lanes>(self, ops: O) -> Vec<f32> {
        let net = Network::sort(self.rows.len());
        let mut out = vec![0.0f32; self.dim];
        // The Gram diagonal showed every value finite, so no block can fail.
        let _ = columns::for_each_block(
            self.rows,
            self.dim,
            &net,
            ops,
            #[inline(always)]
            |start, len, wires| {
                for (lane, o) in out[start..start + len].iter_mut().enumerate() {
                    *o = canon(closest_to_median_mean(wires, lane, self.beta));
                }
            },
        );
        out
    }
}

/// The mean of the `beta` values (of a lane of sorted wires) closest to their median, grown
/// outwards from the middle; on equal distance the smaller value is taken first. Summed in
/// ascending order in f64.
pub(crate) fn closest_to_median_mean(wires: &[[f32; LANES]], lane: usize, beta: usize) -> f32 {
    let theta = wires.len();
    let v = |i: usize| f64::from(wires[i][lane]);
    let median = (v((theta - 1) / 2) + v(theta / 2)) * 0.5;
    // Window [lo, hi) of taken values; it starts empty just above the lower middle.
    let mut lo = (theta - 1) / 2 + 1;
    let mut hi = lo;
    for _ in 0..beta {
        let take_low = lo > 0 && (hi >= theta || (median - v(lo - 1)) <= (v(hi) - median));
        if take_low {
            lo -= 1;
        } else {
            hi += 1;
        }
    }
    let sum: f64 = (lo..hi).map(v).sum();
    (sum / beta as f64) as f32
}
