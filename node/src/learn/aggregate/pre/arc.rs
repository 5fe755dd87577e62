//! Adaptive robust clipping (Allouah et al., ICLR 2025): clip the k largest to the next norm.

use super::Mixing;

/// Clip the k = floor(2 (f/r) (r - f)) vectors of largest norm (ties: smaller index counts as
/// larger) to the norm of the largest remaining one; r is the number of vectors.
pub(super) fn apply(m: &mut Mixing, f: usize) {
    let r = m.rows();
    if r == 0 || f >= r {
        return;
    }
    let k = 2 * f * (r - f) / r;
    if k == 0 {
        return;
    }
    let norms: Vec<f64> = (0..r).map(|i| m.sq_norm(i).sqrt()).collect();
    let mut order: Vec<usize> = (0..r).collect();
    order.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]).then(a.cmp(&b)));
    let threshold = norms[order[k]];
    let mut c = vec![1.0f64; r];
    for &i in &order[..k] {
        if norms[i] > threshold {
            c[i] = threshold / norms[i];
        }
    }
    m.scale(&c);
}
