//! Mimic (Karimireddy, He and Jaggi, ICLR 2022): every attacker copies the one honest update that
//! lies farthest along the honest updates' direction of largest spread, so under heterogeneous
//! data the aggregate over-represents that member while every update the rule sees is honest.

use super::stats;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, StandardNormal};

/// Power-iteration steps; fixed so the pick is a pure function of (updates, seed).
const POWER_ITERATIONS: usize = 100;

/// The index of the honest update to copy: z is the top principal direction of the centred
/// honest updates, found by power iteration from a start vector drawn from `seed`, and the pick
/// is argmax_i |z . (h_i - mean)|, ties to the smaller index. `honest` is non-empty.
pub(super) fn pick(honest: &[&[f32]], dim: usize, seed: u64) -> usize {
    let mean = stats::mean(honest, dim);
    let centred: Vec<Vec<f64>> = honest
        .iter()
        .map(|h| {
            h.iter()
                .zip(&mean)
                .map(|(&v, m)| f64::from(v) - m)
                .collect()
        })
        .collect();
    let z = top_direction(&centred, seed);
    let mut best = 0;
    let mut best_score = f64::NEG_INFINITY;
    for (i, c) in centred.iter().enumerate() {
        let score = stats::dot(&z, c).abs();
        if score > best_score {
            best = i;
            best_score = score;
        }
    }
    best
}

/// The top eigenvector of X^T X for the rows X of `centred`, computed in the k-dimensional row
/// space (power iteration on the Gram matrix X X^T, then z = X^T u normalised): the same
/// direction as iterating in the model's dimension, at k x k cost per step instead of k x dim.
/// All zeros when the rows are (every honest update equal).
fn top_direction(centred: &[Vec<f64>], seed: u64) -> Vec<f64> {
    let k = centred.len();
    let dim = centred.first().map_or(0, Vec::len);
    let mut gram = vec![0.0f64; k * k];
    for i in 0..k {
        for j in i..k {
            let v = stats::dot(&centred[i], &centred[j]);
            gram[i * k + j] = v;
            gram[j * k + i] = v;
        }
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut u: Vec<f64> = (0..k).map(|_| StandardNormal.sample(&mut rng)).collect();
    for _ in 0..POWER_ITERATIONS {
        let next: Vec<f64> = gram.chunks(k).map(|row| stats::dot(row, &u)).collect();
        let norm = stats::dot(&next, &next).sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            break;
        }
        u = next.into_iter().map(|v| v / norm).collect();
    }
    let mut z = vec![0.0f64; dim];
    for (c, &w) in centred.iter().zip(&u) {
        for (a, v) in z.iter_mut().zip(c) {
            *a += w * v;
        }
    }
    let norm = stats::dot(&z, &z).sqrt();
    if norm > 0.0 && norm.is_finite() {
        z.iter_mut().for_each(|a| *a /= norm);
    } else {
        z.iter_mut().for_each(|a| *a = 0.0);
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The top direction of 2-d points from the closed-form eigenvector of their 2 x 2 scatter
    /// matrix, and the pick it implies.
    fn naive_pick_2d(points: &[[f32; 2]]) -> usize {
        let n = points.len() as f64;
        let mx = points.iter().map(|p| f64::from(p[0])).sum::<f64>() / n;
        let my = points.iter().map(|p| f64::from(p[1])).sum::<f64>() / n;
        let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
        for p in points {
            let (x, y) = (f64::from(p[0]) - mx, f64::from(p[1]) - my);
            a += x * x;
            b += x * y;
            c += y * y;
        }
        // Largest eigenvalue of [[a, b], [b, c]] and its eigenvector (b, l - a).
        let l = (a + c) / 2.0 + (((a - c) / 2.0).powi(2) + b * b).sqrt();
        let (zx, zy) = if b.abs() > 0.0 {
            (b, l - a)
        } else if a >= c {
            (1.0, 0.0)
        } else {
            (0.0, 1.0)
        };
        let mut best = 0;
        let mut best_score = -1.0;
        for (i, p) in points.iter().enumerate() {
            let s = ((f64::from(p[0]) - mx) * zx + (f64::from(p[1]) - my) * zy).abs();
            if s > best_score {
                best = i;
                best_score = s;
            }
        }
        best
    }

    #[test]
    fn picks_the_update_farthest_along_the_main_spread() {
        // Spread mostly along the first axis; update 1 lies farthest from the mean along it
        // (update 0 is 0.06 closer because the axis tilts slightly), update 4 is farthest in
        // plain distance but across the spread.
        let h: [[f32; 2]; 5] = [
            [3.0, 0.0],
            [-3.0, 0.0],
            [2.9, 0.1],
            [-2.9, -0.1],
            [0.0, 4.5],
        ];
        let refs: Vec<&[f32]> = h.iter().map(|p| p.as_slice()).collect();
        for seed in 0..5 {
            assert_eq!(pick(&refs, 2, seed), 1, "seed {seed}");
        }
        assert_eq!(naive_pick_2d(&h), 1);
    }

    #[test]
    fn agrees_with_the_closed_form_on_tilted_clouds() {
        let clouds: [&[[f32; 2]]; 3] = [
            &[
                [1.0, 1.1],
                [2.0, 1.9],
                [-1.0, -1.2],
                [0.3, -0.1],
                [-2.4, -2.0],
            ],
            &[[0.5, -3.0], [0.4, 2.0], [-0.1, 0.2], [0.0, -0.5]],
            &[
                [3.0, -2.9],
                [-1.0, 1.2],
                [0.2, 0.1],
                [-2.5, 2.2],
                [0.5, 0.3],
                [1.0, -0.7],
            ],
        ];
        for c in clouds {
            let refs: Vec<&[f32]> = c.iter().map(|p| p.as_slice()).collect();
            assert_eq!(pick(&refs, 2, 11), naive_pick_2d(c), "{c:?}");
        }
    }

    #[test]
    fn ties_go_to_the_smaller_index() {
        // Two updates: symmetric about their mean, equally far along any direction.
        let a = [1.0f32, 0.0];
        let b = [-1.0f32, 0.0];
        assert_eq!(pick(&[&a, &b], 2, 3), 0);
        // All equal: no spread at all.
        assert_eq!(pick(&[&a, &a, &a], 2, 3), 0);
    }
}
