//! f64 statistics of the honest updates the colluding attacks start from, summed in input order
//! so an attack crafts the same bits on every machine.

/// Coordinate-wise mean of `rows` (all of length `dim`; `rows` non-empty).
pub(super) fn mean(rows: &[&[f32]], dim: usize) -> Vec<f64> {
    let mut m = vec![0.0f64; dim];
    for r in rows {
        for (a, &v) in m.iter_mut().zip(r.iter()) {
            *a += f64::from(v);
        }
    }
    let k = rows.len() as f64;
    m.iter_mut().for_each(|a| *a /= k);
    m
}

/// Coordinate-wise population standard deviation (dividing by the count) around `mean`.
pub(super) fn std(rows: &[&[f32]], mean: &[f64]) -> Vec<f64> {
    let mut var = vec![0.0f64; mean.len()];
    for r in rows {
        for ((s, &v), mu) in var.iter_mut().zip(r.iter()).zip(mean) {
            *s += (f64::from(v) - mu).powi(2);
        }
    }
    let k = rows.len() as f64;
    var.into_iter().map(|s| (s / k).sqrt()).collect()
}

/// Squared Euclidean distance between an f64 vector and an update.
pub(super) fn sq_dist(a: &[f64], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, &y)| (x - f64::from(y)).powi(2))
        .sum()
}

/// Squared Euclidean distance between two updates.
pub(super) fn sq_dist_f32(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum()
}

/// Dot product in f64.
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
