//! Min-max and min-sum (Shejwalkar and Houmansadr, NDSS 2021): the aggregation-rule-agnostic
//! attacks that push the honest mean as far along a perturbation as the honest updates' own
//! spread lets them hide.

use super::stats;
use crate::learn::error::LearnError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The paper's starting gamma (its code's `lamda = 10`).
const GAMMA_INIT: f64 = 10.0;
/// The search stops once the last success and the current gamma are this close.
const GAMMA_TOLERANCE: f64 = 1e-5;

/// Which distance budget the malicious update must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Objective {
    /// Its largest distance to an honest update is at most the largest distance between two
    /// honest updates.
    MinMax,
    /// Its sum of squared distances to the honest updates is at most the largest such sum of an
    /// honest update.
    MinSum,
}

/// The direction the honest mean is pushed in (the paper's perturbation vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Perturbation {
    /// `-std(honest)` per coordinate (population standard deviation): the paper's "inverse
    /// standard deviation", its strongest in most settings.
    Std,
    /// `-mean / |mean|`, the inverse unit vector of the honest mean.
    Unit,
    /// `-sign(mean)` per coordinate (sign of 0 is 0).
    Sign,
}

impl fmt::Display for Perturbation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Perturbation::Std => "std",
            Perturbation::Unit => "unit",
            Perturbation::Sign => "sign",
        })
    }
}

impl FromStr for Perturbation {
    type Err = LearnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "std" => Ok(Perturbation::Std),
            "unit" => Ok(Perturbation::Unit),
            "sign" => Ok(Perturbation::Sign),
            _ => Err(LearnError::Config {
                what: "attack",
                reason: format!("perturbation {s:?}: expected std, unit or sign"),
            }),
        }
    }
}

/// The perturbation vector for the honest `mean` (and `std` when it is needed).
fn perturbation(kind: Perturbation, honest: &[&[f32]], mean: &[f64]) -> Vec<f64> {
    match kind {
        Perturbation::Std => stats::std(honest, mean).into_iter().map(|s| -s).collect(),
        Perturbation::Unit => {
            let norm = stats::dot(mean, mean).sqrt();
            // A zero mean has no direction: the attack then sends the mean itself.
            if norm > 0.0 {
                mean.iter().map(|m| -m / norm).collect()
            } else {
                vec![0.0; mean.len()]
            }
        }
        Perturbation::Sign => mean
            .iter()
            .map(|&m| {
                if m > 0.0 {
                    -1.0
                } else if m < 0.0 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect(),
    }
}

/// The paper's Algorithm 1 halving search: the largest gamma in (0, 2 * GAMMA_INIT) it finds for
/// which `fits(gamma)` holds, or 0 if none.
fn search_gamma(mut fits: impl FnMut(f64) -> bool) -> f64 {
    let mut gamma = GAMMA_INIT;
    let mut step = GAMMA_INIT;
    let mut success = 0.0f64;
    // Terminates: the gap is bounded by the step, which halves every iteration (~21 of them).
    while (success - gamma).abs() > GAMMA_TOLERANCE {
        if fits(gamma) {
            success = gamma;
            gamma += step / 2.0;
        } else {
            gamma -= step / 2.0;
        }
        step /= 2.0;
    }
    success
}

/// `mean + gamma * p`.
fn candidate(mean: &[f64], p: &[f64], gamma: f64) -> Vec<f64> {
    mean.iter().zip(p).map(|(m, q)| m + gamma * q).collect()
}

/// The honest updates' budget: the largest pairwise squared distance (min-max) or the largest
/// sum of squared distances from one honest update to all others (min-sum).
fn budget(objective: Objective, honest: &[&[f32]]) -> f64 {
    let k = honest.len();
    let mut d = vec![0.0f64; k * k];
    for i in 0..k {
        for j in i + 1..k {
            let v = stats::sq_dist_f32(honest[i], honest[j]);
            d[i * k + j] = v;
            d[j * k + i] = v;
        }
    }
    match objective {
        Objective::MinMax => d.iter().copied().fold(0.0, f64::max),
        Objective::MinSum => d
            .chunks(k.max(1))
            .map(|row| row.iter().sum::<f64>())
            .fold(0.0, f64::max),
    }
}

/// The malicious update's cost under `objective`, to compare with the budget.
fn cost(objective: Objective, m: &[f64], honest: &[&[f32]]) -> f64 {
    let dists = honest.iter().map(|h| stats::sq_dist(m, h));
    match objective {
        Objective::MinMax => dists.fold(0.0, f64::max),
        Objective::MinSum => dists.sum(),
    }
}

/// The gamma the search settles on and the update every attacker sends (`honest` non-empty,
/// all of one length).
pub(super) fn craft(
    objective: Objective,
    kind: Perturbation,
    honest: &[&[f32]],
    dim: usize,
) -> (f64, Vec<f32>) {
    let mean = stats::mean(honest, dim);
    let p = perturbation(kind, honest, &mean);
    let limit = budget(objective, honest);
    let gamma = search_gamma(|g| cost(objective, &candidate(&mean, &p, g), honest) <= limit);
    tracing::debug!(target: "fedledger::attack", ?objective, perturbation = %kind, gamma, "min-max/min-sum search done");
    let update = candidate(&mean, &p, gamma)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    (gamma, update)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain reference: every pair, every row, written out.
    fn naive_fits(objective: Objective, m: &[f64], h: &[Vec<f32>]) -> bool {
        let d = |a: &[f64], b: &[f64]| -> f64 {
            let mut s = 0.0;
            for k in 0..a.len() {
                s += (a[k] - b[k]) * (a[k] - b[k]);
            }
            s
        };
        let h64: Vec<Vec<f64>> = h
            .iter()
            .map(|r| r.iter().map(|&v| f64::from(v)).collect())
            .collect();
        match objective {
            Objective::MinMax => {
                let mut budget = 0.0f64;
                for a in &h64 {
                    for b in &h64 {
                        budget = budget.max(d(a, b));
                    }
                }
                h64.iter().all(|r| d(m, r) <= budget)
            }
            Objective::MinSum => {
                let mut budget = 0.0f64;
                for a in &h64 {
                    budget = budget.max(h64.iter().map(|b| d(a, b)).sum());
                }
                h64.iter().map(|r| d(m, r)).sum::<f64>() <= budget
            }
        }
    }

    fn honest_set() -> Vec<Vec<f32>> {
        vec![
            vec![0.10, -0.20, 0.05, 0.30],
            vec![0.15, -0.10, 0.00, 0.25],
            vec![0.05, -0.25, 0.10, 0.40],
            vec![0.20, -0.15, 0.02, 0.20],
            vec![0.12, -0.30, 0.08, 0.35],
        ]
    }

    fn naive_mean_std(h: &[Vec<f32>]) -> (Vec<f64>, Vec<f64>) {
        let n = h.len() as f64;
        let dim = h[0].len();
        let mean: Vec<f64> = (0..dim)
            .map(|k| h.iter().map(|r| f64::from(r[k])).sum::<f64>() / n)
            .collect();
        let std = (0..dim)
            .map(|k| {
                (h.iter()
                    .map(|r| (f64::from(r[k]) - mean[k]).powi(2))
                    .sum::<f64>()
                    / n)
                    .sqrt()
            })
            .collect();
        (mean, std)
    }

    #[test]
    fn gamma_is_the_edge_of_the_constraint_for_every_objective_and_perturbation() {
        let h = honest_set();
        let refs: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
        let (mean, std) = naive_mean_std(&h);
        let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
        for objective in [Objective::MinMax, Objective::MinSum] {
            for kind in [Perturbation::Std, Perturbation::Unit, Perturbation::Sign] {
                let p: Vec<f64> = match kind {
                    Perturbation::Std => std.iter().map(|s| -s).collect(),
                    Perturbation::Unit => mean.iter().map(|m| -m / norm).collect(),
                    Perturbation::Sign => mean.iter().map(|m| -m.signum()).collect(),
                };
                let at =
                    |g: f64| -> Vec<f64> { mean.iter().zip(&p).map(|(m, q)| m + g * q).collect() };
                let (gamma, update) = craft(objective, kind, &refs, 4);
                assert!(
                    gamma > 0.05 && gamma < 19.0,
                    "{objective:?} {kind}: {gamma}"
                );
                assert!(
                    naive_fits(objective, &at(gamma), &h),
                    "{objective:?} {kind}"
                );
                assert!(
                    !naive_fits(objective, &at(gamma * (1.0 + 1e-3)), &h),
                    "{objective:?} {kind}: gamma {gamma} is not the largest"
                );
                let want: Vec<f32> = at(gamma).iter().map(|&v| v as f32).collect();
                assert_eq!(update, want, "{objective:?} {kind}");
            }
        }
    }

    #[test]
    fn search_follows_the_papers_halving_steps() {
        // Feasible up to 3.3: the search visits 10, 5, 2.5, 3.75, 3.125, ... and ends within the
        // tolerance below the edge.
        let mut visited = Vec::new();
        let g = search_gamma(|g| {
            visited.push(g);
            g <= 3.3
        });
        assert_eq!(&visited[..5], &[10.0, 5.0, 2.5, 3.75, 3.125]);
        assert!(g <= 3.3 && 3.3 - g < 2e-5, "{g}");
        // Never feasible: 0. Always feasible: just under 2 * GAMMA_INIT.
        assert_eq!(search_gamma(|_| false), 0.0);
        let top = search_gamma(|_| true);
        assert!(top < 20.0 && 20.0 - top < 2e-5, "{top}");
    }

    #[test]
    fn identical_honest_updates_leave_no_room() {
        let h = [0.5f32, -1.0];
        let refs: Vec<&[f32]> = vec![&h, &h, &h];
        for kind in [Perturbation::Std, Perturbation::Unit, Perturbation::Sign] {
            // std is zero, so any gamma leaves the mean in place; unit and sign would move
            // away from it, which the zero budget forbids, so gamma ends at 0.
            let (_, update) = craft(Objective::MinMax, kind, &refs, 2);
            assert_eq!(update, h, "{kind}");
        }
    }

    #[test]
    fn perturbation_names_round_trip() {
        for p in [Perturbation::Std, Perturbation::Unit, Perturbation::Sign] {
            assert_eq!(p.to_string().parse::<Perturbation>().unwrap(), p);
        }
        assert!("Std".parse::<Perturbation>().is_err());
    }
}
