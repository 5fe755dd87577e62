//! The weights `W` that express the current vectors in the original updates, and their Gram matrix.

use crate::learn::aggregate::sums;

/// `rows` vectors, each `sum_j w[i][j] x_j` over `n` original updates, and optionally their
/// Gram matrix (`rows x rows`, kept only when some step needs it).
#[derive(Debug, Clone)]
pub(crate) struct Mixing {
    /// Original updates.
    n: usize,
    /// Current vectors.
    rows: usize,
    /// Row-major `rows x n` weights.
    w: Vec<f64>,
    /// Row-major `rows x rows` Gram matrix of the current vectors, if tracked.
    gram: Option<Vec<f64>>,
}

impl Mixing {
    /// The identity over `n` updates, tracking `gram` (their `n x n` Gram matrix) if given.
    pub fn identity(n: usize, gram: Option<Vec<f64>>) -> Self {
        let mut w = vec![0.0; n * n];
        for i in 0..n {
            w[i * n + i] = 1.0;
        }
        Mixing {
            n,
            rows: n,
            w,
            gram,
        }
    }

    /// Number of original updates.
    pub fn originals(&self) -> usize {
        self.n
    }

    /// Number of current vectors.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Row `i` of the weights (one entry per original update).
    pub fn weights(&self, i: usize) -> &[f64] {
        &self.w[i * self.n..(i + 1) * self.n]
    }

    /// Squared norm of current vector `i` (0 when the Gram matrix is not tracked).
    pub fn sq_norm(&self, i: usize) -> f64 {
        self.gram
            .as_ref()
            .map_or(0.0, |g| g[i * self.rows + i].max(0.0))
    }

    /// Squared distances between the current vectors (`rows x rows`, zero diagonal, clamped at
    /// 0 against rounding), or `None` when the Gram matrix is not tracked.
    pub fn sq_distances(&self) -> Option<Vec<f64>> {
        let g = self.gram.as_ref()?;
        let r = self.rows;
        let mut d = vec![0.0f64; r * r];
        for i in 0..r {
            for j in 0..r {
                if i != j {
                    d[i * r + j] = (g[i * r + i] + g[j * r + j] - 2.0 * g[i * r + j]).max(0.0);
                }
            }
        }
        Some(d)
    }

    /// Multiply current vector `i` by `c[i]`.
    pub fn scale(&mut self, c: &[f64]) {
        let (n, r) = (self.n, self.rows);
        for (i, &ci) in c.iter().enumerate().take(r) {
            for x in &mut self.w[i * n..(i + 1) * n] {
                *x *= ci;
            }
        }
        if let Some(g) = &mut self.gram {
            for i in 0..r {
                for j in 0..r {
                    g[i * r + j] *= c[i] * c[j];
                }
            }
        }
    }

    /// Replace the vectors by the means of `groups` (each a non-empty, ascending list of current
    /// vector indices): new vector k = (sum over l in groups[k] of vector l) / |groups[k]|.
    pub fn average(&mut self, groups: &[Vec<usize>]) {
        let (n, r) = (self.n, self.rows);
        let k = groups.len();
        let mut w = vec![0.0f64; k * n];
        for (gi, group) in groups.iter().enumerate() {
            let out = &mut w[gi * n..(gi + 1) * n];
            for &l in group {
                for (o, &x) in out.iter_mut().zip(&self.w[l * n..(l + 1) * n]) {
                    *o += x;
                }
            }
            let size = group.len().max(1) as f64;
            out.iter_mut().for_each(|o| *o /= size);
        }
        if let Some(g) = &self.gram {
            // T = A G (k x r), then G' = T A^T (k x k), upper triangle mirrored so G' is exactly
            // symmetric.
            let mut t = vec![0.0f64; k * r];
            for (gi, group) in groups.iter().enumerate() {
                let out = &mut t[gi * r..(gi + 1) * r];
                for &l in group {
                    for (o, &x) in out.iter_mut().zip(&g[l * r..(l + 1) * r]) {
                        *o += x;
                    }
                }
                let size = group.len().max(1) as f64;
                out.iter_mut().for_each(|o| *o /= size);
            }
            let mut g2 = vec![0.0f64; k * k];
            for a in 0..k {
                for (b, group) in groups.iter().enumerate().skip(a) {
                    let mut s = 0.0f64;
                    for &p in group {
                        s += t[a * r + p];
                    }
                    let v = s / group.len().max(1) as f64;
                    g2[a * k + b] = v;
                    g2[b * k + a] = v;
                }
            }
            self.gram = Some(g2);
        }
        self.w = w;
        self.rows = k;
    }

    /// The current vectors, each summed in f64 over the updates with a non-zero weight in
    /// ascending order and rounded to f32.
    pub fn materialize(&self, updates: &[&[f32]], dim: usize) -> Vec<Vec<f32>> {
        (0..self.rows)
            .map(|i| sums::to_f32(&combine_rows(updates, self.weights(i), dim)))
            .collect()
    }

    /// The weights over the original updates of `sum_i c[i] * vector i` (combined in f64 over i
    /// ascending); [`combine_rows`] then sums the updates with them.
    pub fn combined_weights(&self, c: &[f64]) -> Vec<f64> {
        let mut w = vec![0.0f64; self.n];
        for (i, &ci) in c.iter().enumerate().take(self.rows) {
            if ci != 0.0 {
                for (o, &x) in w.iter_mut().zip(self.weights(i)) {
                    *o += ci * x;
                }
            }
        }
        w
    }
}

/// `sum_j w[j] * updates[j]` over the non-zero weights, ascending j, in f64.
pub(crate) fn combine_rows(updates: &[&[f32]], w: &[f64], dim: usize) -> Vec<f64> {
    let (rows, weights): (Vec<&[f32]>, Vec<f64>) = updates
        .iter()
        .zip(w)
        .filter(|(_, &x)| x != 0.0)
        .map(|(u, &x)| (*u, x))
        .unzip();
    sums::weighted_sum(&rows, &weights, dim)
}
