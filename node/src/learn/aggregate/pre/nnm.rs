//! Nearest-neighbour mixing (Allouah et al., AISTATS 2023): each vector becomes its neighbours' mean.

use super::Mixing;

/// Replace each vector by the mean of its r - f nearest vectors (itself included; squared
/// distances from the Gram matrix; ties to the smaller index), r the number of vectors.
pub(super) fn apply(m: &mut Mixing, f: usize) {
    let r = m.rows();
    let Some(d) = m.sq_distances() else {
        return;
    };
    let k = r.saturating_sub(f).max(1);
    let groups: Vec<Vec<usize>> = (0..r)
        .map(|i| {
            let mut order: Vec<usize> = (0..r).collect();
            order.sort_by(|&a, &b| d[i * r + a].total_cmp(&d[i * r + b]).then(a.cmp(&b)));
            let mut near = order[..k].to_vec();
            near.sort_unstable();
            near
        })
        .collect();
    m.average(&groups);
}
