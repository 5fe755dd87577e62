//! Pairwise squared distances through the Gram matrix, in cache-blocked register tiles.
//!
//! ‖a-b‖² = ‖a‖² + ‖b‖² - 2a·b turns n²/2 distance passes into dot products computed T x T at a
//! time, so each loaded value feeds T fused multiply-adds. Products are accumulated in f32 in
//! `L` = 16 lanes (coordinate k in lane k mod 16) with one rounding per step (FMA) over chunks
//! of `CHUNK` coordinates (a fixed, coordinate-aligned layout), then each chunk is added to an
//! f64 total with a fixed lane-combine tree: the same bits for a·b whatever tile, order or
//! machine computes it, and identical rows give a distance of exactly 0.

use super::error::AggregateError;
use super::input::Input;
use super::lanes::{Lanes, WIDTH};
use super::simd::{self, CodePath, Kernel};

/// f32 partial-sum lanes per dot product: coordinate k goes to lane k mod 16 (one AVX-512
/// register, two AVX2 registers). This fixes the rounding, so it is part of the rule.
const L: usize = WIDTH;
/// Coordinates summed in f32 before flushing to f64: 64 fused steps per lane bound the f32
/// rounding error.
const CHUNK: usize = 1024;
/// Coordinates per cache block, a multiple of `CHUNK`: a tile's first rows (4 x 4 KiB) stay in
/// L1 while the tiles to their right stream by, and all n rows of the block (400 KiB at
/// n = 100) stay in L2. 1024 measured fastest at 100 x 1e6 (2048: +5%, 4096: +10%).
const BLOCK: usize = 1024;

/// The n x n matrix of squared distances between the canonical rows (row-major), symmetric
/// with a zero diagonal; fails naming the first NaN or infinity in the input.
pub(crate) fn sq_distances(input: &Input<'_>) -> Result<Vec<f64>, AggregateError> {
    let n = input.n();
    let g = gram(&input.rows, input.dim);
    // A NaN or infinity anywhere in a row makes its squared norm non-finite (squares are >= 0,
    // so nothing cancels it), which spares a separate finiteness pass over the input. A norm
    // can also overflow with finite values; then the scan finds nothing and we go on.
    if (0..n).any(|i| !g[i * n + i].is_finite()) {
        if let Some(e) = input.first_non_finite() {
            return Err(e);
        }
    }
    Ok(distances(&g, n))
}

/// Squared distances from a symmetric Gram matrix: `G[i][i] + G[j][j] - 2 G[i][j]`, clamped at
/// 0, with a zero diagonal.
pub(crate) fn distances(g: &[f64], n: usize) -> Vec<f64> {
    let mut d = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                // Clamp: rounding can make a tiny true distance slightly negative.
                d[i * n + j] = (g[i * n + i] + g[j * n + j] - 2.0 * g[i * n + j]).max(0.0);
            }
        }
    }
    d
}

/// The Gram matrix `G[i][j] = rows[i] · rows[j]` (row-major n x n), vectorised where the CPU
/// allows (same bits).
pub(crate) fn gram(rows: &[&[f32]], dim: usize) -> Vec<f64> {
    let mut g = vec![0.0f64; rows.len() * rows.len()];
    accumulate(rows, dim, &mut g);
    symmetrize(&mut g, rows.len());
    g
}

/// Add the rows' dot products over their `dim` coordinates to the upper triangle of `g` (n x n,
/// row-major), one [`BLOCK`] at a time. Called on consecutive column ranges that start at
/// multiples of [`BLOCK`], then [`symmetrize`]d, this gives the bits of [`gram`] over the whole
/// rows: the same chunks, lanes and order of f64 additions.
pub(crate) fn accumulate(rows: &[&[f32]], dim: usize, g: &mut [f64]) {
    simd::run(Gram { rows, dim, g })
}

/// Copy the upper triangle of `g` to the lower.
pub(crate) fn symmetrize(g: &mut [f64], n: usize) {
    for i in 0..n {
        for j in 0..i {
            g[i * n + j] = g[j * n + i];
        }
    }
}

/// [`accumulate`] as a kernel.
struct Gram<'r, 'a, 'g> {
    rows: &'r [&'a [f32]],
    dim: usize,
    g: &'g mut [f64],
}

impl Kernel for Gram<'_, '_, '_> {
    type Output = ();

    #[inline(always)]
    fn run<O: Lanes>(self, ops: O) {
        // Tile size T: T x T dot products share 2T loads per lane group, and the T² accumulators
        // must stay in registers (16 zmm with AVX-512; 2 ymm each with AVX2, of 16). The tile
        // never changes a result, only the speed.
        match O::PATH {
            CodePath::Avx512 => gram_blocked::<4, O>(self.rows, self.dim, self.g, ops),
            CodePath::Avx2 | CodePath::Baseline => {
                gram_blocked::<2, O>(self.rows, self.dim, self.g, ops)
            }
        }
    }
}

#[inline(always)]
fn gram_blocked<const T: usize, O: Lanes>(rows: &[&[f32]], dim: usize, g: &mut [f64], ops: O)
where
    Tiles: Tile<T>,
{
    let n = rows.len();
    if n == 0 {
        return;
    }
    let tiles: Vec<usize> = (0..n).step_by(T).collect();
    let mut start = 0;
    while start < dim {
        let end = dim.min(start + BLOCK);
        for (ti, &i0) in tiles.iter().enumerate() {
            for &j0 in &tiles[ti..] {
                // Rows past the end repeat the last row; their results are discarded.
                let a: [&[f32]; T] =
                    std::array::from_fn(|r| &rows[(i0 + r).min(n - 1)][start..end]);
                let b: [&[f32]; T] =
                    std::array::from_fn(|s| &rows[(j0 + s).min(n - 1)][start..end]);
                let mut tile = [[0.0f64; T]; T];
                Tiles::dot(ops, &a, &b, &mut tile);
                for (r, row) in tile.iter().enumerate() {
                    for (s, &v) in row.iter().enumerate() {
                        let (i, j) = (i0 + r, j0 + s);
                        if i < n && j < n && i <= j {
                            g[i * n + j] += v;
                        }
                    }
                }
            }
        }
        start = end;
    }
}

/// Defines `fn $name(ops, a: &[&[f32]; T], b: &[&[f32]; T], out: &mut [[f64; T]; T])`:
/// `out[r][s] += a[r] · b[s]` over one block (all slices the same length, block start aligned
/// to `CHUNK`). Written out per tile size with constant indices so the T² accumulators are
/// plain locals the register allocator keeps.
macro_rules! dot_tile {
    ($name:ident, $t:literal, [$($r:literal),*], [$(($i:literal, $j:literal)),*]) => {
        #[inline(always)]
        fn $name<O: Lanes>(
            ops: O,
            a: &[&[f32]; $t],
            b: &[&[f32]; $t],
            out: &mut [[f64; $t]; $t],
        ) {
            let len = a[0].len();
            let mut off = 0;
            while off < len {
                let clen = CHUNK.min(len - off);
                let full = clen / L * L;
                let ac: [&[f32]; $t] = [$(&a[$r][off..off + full]),*];
                let bc: [&[f32]; $t] = [$(&b[$r][off..off + full]),*];
                let mut acc = [[ops.zero(); $t]; $t];
                let mut k = 0;
                while k < full {
                    let av: [O::V; $t] = [$(ops.load(&lanes(&ac[$r][k..k + L]))),*];
                    let bv: [O::V; $t] = [$(ops.load(&lanes(&bc[$r][k..k + L]))),*];
                    $(acc[$i][$j] = ops.fma(av[$i], bv[$j], acc[$i][$j]);)*
                    k += L;
                }
                // Ragged end of the last chunk: coordinate off+full+l goes to lane l, as
                // anywhere else; the other lanes add 0 * 0, which changes no bits (an
                // accumulator starts at +0 and never becomes -0).
                if full < clen {
                    let av: [O::V; $t] = [$(ops.load(&padded(&a[$r][off + full..off + clen]))),*];
                    let bv: [O::V; $t] = [$(ops.load(&padded(&b[$r][off + full..off + clen]))),*];
                    $(acc[$i][$j] = ops.fma(av[$i], bv[$j], acc[$i][$j]);)*
                }
                $(out[$i][$j] += combine(&ops.store(acc[$i][$j]));)*
                off += clen;
            }
        }
    };
}

dot_tile!(dot_tile2, 2, [0, 1], [(0, 0), (0, 1), (1, 0), (1, 1)]);
dot_tile!(
    dot_tile4,
    4,
    [0, 1, 2, 3],
    [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 0),
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 0),
        (2, 1),
        (2, 2),
        (2, 3),
        (3, 0),
        (3, 1),
        (3, 2),
        (3, 3)
    ]
);

/// A tile size with its kernel.
trait Tile<const T: usize> {
    fn dot<O: Lanes>(ops: O, a: &[&[f32]; T], b: &[&[f32]; T], out: &mut [[f64; T]; T]);
}

/// The tile kernels by size.
struct Tiles;

impl Tile<2> for Tiles {
    #[inline(always)]
    fn dot<O: Lanes>(ops: O, a: &[&[f32]; 2], b: &[&[f32]; 2], out: &mut [[f64; 2]; 2]) {
        dot_tile2(ops, a, b, out);
    }
}

impl Tile<4> for Tiles {
    #[inline(always)]
    fn dot<O: Lanes>(ops: O, a: &[&[f32]; 4], b: &[&[f32]; 4], out: &mut [[f64; 4]; 4]) {
        dot_tile4(ops, a, b, out);
    }
}

/// Lanes to f64 in a fixed halving tree: lane l += lane l + 8, then l += l + 4, l += l + 2,
/// l += l + 1 (vector halves added, which is cheap on every backend).
#[inline(always)]
fn combine(lanes: &[f32; L]) -> f64 {
    let mut v = [0.0f64; L];
    for (d, &x) in v.iter_mut().zip(lanes) {
        *d = f64::from(x);
    }
    let mut width = L;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            v[i] += v[i + width];
        }
    }
    v[0]
}

/// `L` consecutive values as an array (the slice has exactly `L` elements).
#[inline(always)]
fn lanes(x: &[f32]) -> [f32; L] {
    let mut v = [0.0f32; L];
    v.copy_from_slice(x);
    v
}

/// Up to `L` values in the first lanes, zeros after.
#[inline(always)]
fn padded(x: &[f32]) -> [f32; L] {
    let mut v = [0.0f32; L];
    v[..x.len()].copy_from_slice(x);
    v
}
