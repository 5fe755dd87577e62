//! Deterministic long sums: f64 accumulation in a fixed order, blocked so LLVM vectorises.

/// Coordinates per block: 1024 f64 accumulators (8 KiB) stay in L1 while all rows stream by.
const BLOCK: usize = 1024;

use super::simd;

/// `sum_i w_i * rows[i] / sum_i w_i`, per coordinate, accumulated in f64 in row order.
/// `weights` must have one entry per row and a positive total.
pub(crate) fn weighted_mean(rows: &[&[f32]], weights: &[f64], dim: usize) -> Vec<f64> {
    // Vectorised across coordinates; each coordinate's sum keeps its row order.
    simd::run_plain(
        #[inline(always)]
        || weighted_mean_blocked(rows, weights, dim),
    )
}

#[inline(always)]
fn weighted_mean_blocked(rows: &[&[f32]], weights: &[f64], dim: usize) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut out = vec![0.0f64; dim];
    for (b, out_block) in out.chunks_mut(BLOCK).enumerate() {
        let start = b * BLOCK;
        let mut acc = [0.0f64; BLOCK];
        let acc = &mut acc[..out_block.len()];
        for (row, &w) in rows.iter().zip(weights) {
            let src = &row[start..start + acc.len()];
            for (a, &x) in acc.iter_mut().zip(src) {
                *a += w * f64::from(x);
            }
        }
        for (o, a) in out_block.iter_mut().zip(acc.iter()) {
            *o = *a / total;
        }
    }
    out
}

/// `sum_i w_i * rows[i]`, per coordinate, accumulated in f64 in row order (no normalisation:
/// pre-aggregation weights already carry their scale).
pub(crate) fn weighted_sum(rows: &[&[f32]], weights: &[f64], dim: usize) -> Vec<f64> {
    simd::run_plain(
        #[inline(always)]
        || weighted_sum_blocked(rows, weights, dim),
    )
}

#[inline(always)]
fn weighted_sum_blocked(rows: &[&[f32]], weights: &[f64], dim: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; dim];
    for (b, out_block) in out.chunks_mut(BLOCK).enumerate() {
        let start = b * BLOCK;
        let acc = &mut out_block[..];
        for (row, &w) in rows.iter().zip(weights) {
            let src = &row[start..start + acc.len()];
            for (a, &x) in acc.iter_mut().zip(src) {
                *a += w * f64::from(x);
            }
        }
    }
    out
}

/// Unweighted mean of `rows`, per coordinate, accumulated in f64 in row order.
pub(crate) fn mean(rows: &[&[f32]], dim: usize) -> Vec<f64> {
    simd::run_plain(
        #[inline(always)]
        || mean_blocked(rows, dim),
    )
}

#[inline(always)]
fn mean_blocked(rows: &[&[f32]], dim: usize) -> Vec<f64> {
    let count = rows.len() as f64;
    let mut out = vec![0.0f64; dim];
    for (b, out_block) in out.chunks_mut(BLOCK).enumerate() {
        let start = b * BLOCK;
        let mut acc = [0.0f64; BLOCK];
        let acc = &mut acc[..out_block.len()];
        for row in rows {
            let src = &row[start..start + acc.len()];
            for (a, &x) in acc.iter_mut().zip(src) {
                *a += f64::from(x);
            }
        }
        for (o, a) in out_block.iter_mut().zip(acc.iter()) {
            *o = *a / count;
        }
    }
    out
}

/// Squared L2 distance between an f32 row and an f64 point, with four f64 lanes combined as
/// (l0 + l1) + (l2 + l3).
pub(crate) fn dist2(row: &[f32], v: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 4];
    let mut rc = row.chunks_exact(4);
    let mut vc = v.chunks_exact(4);
    for (r, p) in (&mut rc).zip(&mut vc) {
        for l in 0..4 {
            let d = f64::from(r[l]) - p[l];
            lanes[l] += d * d;
        }
    }
    for (l, (&r, &p)) in rc.remainder().iter().zip(vc.remainder()).enumerate() {
        let d = f64::from(r) - p;
        lanes[l] += d * d;
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// Round to f32 and turn -0 into +0, so equal results have equal bits.
pub(crate) fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| canon(x as f32)).collect()
}

/// -0 becomes +0; everything else is unchanged (x + 0.0 is exact for x != -0).
#[inline]
pub(crate) fn canon(x: f32) -> f32 {
    x + 0.0
}
