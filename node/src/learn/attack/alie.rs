//! A Little Is Enough (Baruch et al. 2019): `mean - z * std` of the honest updates, with the
//! paper's z or, adaptively, the z that moves the configured rule's aggregate the farthest.

use super::{stats, Oracle};
use crate::learn::error::LearnError;

/// The inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9), for ALIE's z.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail(libm::sqrt(-2.0 * libm::log(p)))
    } else if p > 1.0 - 0.02425 {
        -tail(libm::sqrt(-2.0 * libm::log(1.0 - p)))
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// ALIE's z for n participants of which f attack: with s = floor(n/2 + 1) - f supporters needed,
/// z = Phi^-1((n - s) / n) (Baruch et al. 2019, Algorithm 3).
pub fn alie_z(n: usize, f: usize) -> f64 {
    let s = (n / 2 + 1).saturating_sub(f);
    inverse_normal_cdf((n - s.min(n)) as f64 / n.max(1) as f64)
}

/// The adaptive variant's grid of z: 0.25, 0.5, ..., 5 (20 values); the paper's z for (n, f)
/// is added to it.
pub const ADAPTIVE_GRID: [f64; 20] = [
    0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0, 4.25,
    4.5, 4.75, 5.0,
];

/// `mean - z * std`, rounded to f32.
fn shifted(mean: &[f64], std: &[f64], z: f64) -> Vec<f32> {
    mean.iter()
        .zip(std)
        .map(|(m, s)| (m - z * s) as f32)
        .collect()
}

/// Plain ALIE with the given z (`honest` non-empty, all of length `dim`).
pub(super) fn craft(honest: &[&[f32]], dim: usize, z: f64) -> Vec<f32> {
    let mean = stats::mean(honest, dim);
    let std = stats::std(honest, &mean);
    shifted(&mean, &std, z)
}

/// Adaptive ALIE: for every z of the grid and the paper's z (ascending), aggregate the honest
/// updates followed by `f` copies of `mean - z * std` with `oracle`, and keep the z whose
/// aggregate lies farthest (Euclidean) from the honest mean, ties to the smaller z. Returns the
/// z and the update.
pub(super) fn craft_adaptive(
    honest: &[&[f32]],
    dim: usize,
    n: usize,
    f: usize,
    oracle: &Oracle<'_>,
) -> Result<(f64, Vec<f32>), LearnError> {
    let mean = stats::mean(honest, dim);
    let std = stats::std(honest, &mean);
    let mut grid = ADAPTIVE_GRID.to_vec();
    let paper = alie_z(n, f);
    if !grid.contains(&paper) {
        grid.push(paper);
    }
    grid.sort_by(f64::total_cmp);
    let mut best: Option<(f64, f64, Vec<f32>)> = None;
    for z in grid {
        let candidate = shifted(&mean, &std, z);
        let mut set: Vec<&[f32]> = honest.to_vec();
        set.extend(std::iter::repeat_n(candidate.as_slice(), f));
        let aggregate = oracle(&set)?;
        if aggregate.len() != dim {
            return Err(LearnError::Shape {
                reason: format!(
                    "the aggregation oracle returned {} values for updates of {dim}",
                    aggregate.len()
                ),
            });
        }
        let moved = stats::sq_dist(&mean, &aggregate);
        // Strictly farther only: ties keep the smaller z; a NaN distance never wins.
        if best
            .as_ref()
            .map_or(moved.is_finite(), |(d, _, _)| moved > *d)
        {
            best = Some((moved, z, candidate));
        }
    }
    match best {
        Some((moved, z, update)) => {
            tracing::debug!(target: "fedledger::attack", z, moved = moved.sqrt(), "adaptive ALIE picked z");
            Ok((z, update))
        }
        None => Err(LearnError::Config {
            what: "attack",
            reason: "alie-adaptive: the aggregation oracle gave no finite aggregate for any z"
                .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_cdf_and_alie_z_match_known_values() {
        assert!(inverse_normal_cdf(0.5).abs() < 1e-9);
        assert!((inverse_normal_cdf(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((inverse_normal_cdf(0.01) + 2.326_347_874).abs() < 1e-8);
        // n = 50, f = 24 in the paper: s = 2, z = Phi^-1(48/50) ~ 1.75.
        assert!((alie_z(50, 24) - 1.750_686_07).abs() < 1e-6);
        // n = 8, f = 2: s = 3, z = Phi^-1(5/8).
        assert!((alie_z(8, 2) - 0.318_639_364).abs() < 1e-8);
    }

    /// Coordinate-wise median (mean of the middle two for an even count), written plainly.
    fn median(set: &[&[f32]]) -> Result<Vec<f32>, LearnError> {
        let dim = set[0].len();
        Ok((0..dim)
            .map(|k| {
                let mut col: Vec<f32> = set.iter().map(|u| u[k]).collect();
                col.sort_by(f32::total_cmp);
                let m = col.len() / 2;
                if col.len() % 2 == 1 {
                    col[m]
                } else {
                    (col[m - 1] + col[m]) / 2.0
                }
            })
            .collect())
    }

    fn mean_rule(set: &[&[f32]]) -> Result<Vec<f32>, LearnError> {
        let dim = set[0].len();
        Ok((0..dim)
            .map(|k| (set.iter().map(|u| f64::from(u[k])).sum::<f64>() / set.len() as f64) as f32)
            .collect())
    }

    fn honest_set() -> Vec<Vec<f32>> {
        vec![
            vec![0.10, -0.20, 0.05],
            vec![0.30, -0.10, 0.00],
            vec![0.05, -0.25, 0.10],
            vec![0.20, -0.15, 0.02],
            vec![0.12, -0.60, 0.08],
            vec![0.90, -0.05, 0.07],
        ]
    }

    /// Brute force over the grid: the z whose aggregate moves farthest from the honest mean.
    fn brute_force(h: &[Vec<f32>], f: usize, rule: &Oracle<'_>) -> Vec<f32> {
        let k = h.len() as f64;
        let mean: Vec<f64> = (0..3)
            .map(|j| h.iter().map(|r| f64::from(r[j])).sum::<f64>() / k)
            .collect();
        let std: Vec<f64> = (0..3)
            .map(|j| {
                (h.iter()
                    .map(|r| (f64::from(r[j]) - mean[j]).powi(2))
                    .sum::<f64>()
                    / k)
                    .sqrt()
            })
            .collect();
        let mut zs: Vec<f64> = (1..=20).map(|i| 0.25 * f64::from(i)).collect();
        zs.push(alie_z(h.len() + f, f));
        zs.sort_by(f64::total_cmp);
        let mut best = (f64::NEG_INFINITY, Vec::new());
        for z in zs {
            let cand: Vec<f32> = (0..3).map(|j| (mean[j] - z * std[j]) as f32).collect();
            let mut set: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
            for _ in 0..f {
                set.push(&cand);
            }
            let agg = rule(&set).unwrap();
            let d: f64 = (0..3).map(|j| (f64::from(agg[j]) - mean[j]).powi(2)).sum();
            if d > best.0 {
                best = (d, cand);
            }
        }
        best.1
    }

    #[test]
    fn adaptive_z_is_the_grid_argmax() {
        let h = honest_set();
        let refs: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
        for f in [1, 2, 3] {
            let (z, update) = craft_adaptive(&refs, 3, h.len() + f, f, &median).unwrap();
            assert_eq!(update, brute_force(&h, f, &median), "median, f = {f}");
            // The median saturates at an honest value; past that every z ties and the smallest
            // of the tied ones is kept, so the pick is interior to the grid.
            assert!(z < 5.0, "median, f = {f}: {z}");
            // Under the mean the aggregate moves linearly in z: the largest z wins.
            let (z, update) = craft_adaptive(&refs, 3, h.len() + f, f, &mean_rule).unwrap();
            assert_eq!(update, brute_force(&h, f, &mean_rule), "mean, f = {f}");
            assert_eq!(z, 5.0);
        }
    }

    #[test]
    fn oracle_errors_and_bad_shapes_are_reported() {
        let h = honest_set();
        let refs: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
        let failing = |_: &[&[f32]]| -> Result<Vec<f32>, LearnError> {
            Err(LearnError::Aggregation("refused".into()))
        };
        assert!(matches!(
            craft_adaptive(&refs, 3, 8, 2, &failing),
            Err(LearnError::Aggregation(_))
        ));
        let short = |_: &[&[f32]]| -> Result<Vec<f32>, LearnError> { Ok(vec![0.0]) };
        assert!(matches!(
            craft_adaptive(&refs, 3, 8, 2, &short),
            Err(LearnError::Shape { .. })
        ));
    }
}
