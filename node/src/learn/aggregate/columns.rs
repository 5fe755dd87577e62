//! Column selection: runs a network over blocks of coordinates (one coordinate per lane).
//!
//! Rows are copied into wire-major scratch (wire i = row i's values for a block of `LANES`
//! coordinates), so no transpose is needed and one block's wires (n x LANES f32) fit in L1.

use super::lanes::Lanes;
use super::network::Network;

pub(crate) use super::network::LANES;

/// A block held a NaN or an infinity (the caller finds and names it).
#[derive(Debug)]
pub(crate) struct NonFinite;

/// Coordinates loaded per super-block. Each update's span of `SUPER` values is read
/// contiguously (4 KiB: friendly to the hardware prefetcher) and scattered into the wire-major
/// scratch of all `SUPER / LANES` blocks; reading 128 bytes of each of n rows per block instead
/// leaves the prefetcher behind n streams and doubles the load time.
const SUPER: usize = 1024;

/// For every block of up to [`LANES`] coordinates starting at `start`, load the rows' values,
/// check they are finite, run `net`, and hand the wires to `visit(start, len, wires)`. Lanes
/// `len..LANES` of the last block are padding and must be ignored. Stops at the first
/// super-block holding a non-finite value. `ops`: see [`Network::apply`].
#[inline(always)]
pub(crate) fn for_each_block<O: Lanes>(
    rows: &[&[f32]],
    dim: usize,
    net: &Network,
    ops: O,
    mut visit: impl FnMut(usize, usize, &[[f32; LANES]]),
) -> Result<(), NonFinite> {
    let n = rows.len();
    if n == 0 {
        return Ok(());
    }
    // scratch[b * n + i] is row i's part of block b within the current super-block.
    let mut scratch = vec![[0.0f32; LANES]; n * (SUPER / LANES)];
    let mut start = 0;
    while start < dim {
        let len = SUPER.min(dim - start);
        let mut finite = true;
        for (i, row) in rows.iter().enumerate() {
            let span = &row[start..start + len];
            // One pass: each full wire is copied with a constant length (a plain vector copy,
            // not a memmove call) and checked while it is in registers.
            let mut chunks = span.chunks_exact(LANES);
            for (b, chunk) in (&mut chunks).enumerate() {
                let wire = &mut scratch[b * n + i];
                wire.copy_from_slice(chunk);
                finite &= wire.iter().fold(true, |ok, x| ok & x.is_finite());
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let wire = &mut scratch[(len / LANES) * n + i];
                wire[..rest.len()].copy_from_slice(rest);
                wire[rest.len()..].fill(0.0);
                finite &= rest.iter().fold(true, |ok, x| ok & x.is_finite());
            }
        }
        if !finite {
            return Err(NonFinite);
        }
        let blocks = len.div_ceil(LANES);
        for (b, wires) in scratch.chunks_exact_mut(n).take(blocks).enumerate() {
            let block_start = start + b * LANES;
            net.apply(wires, ops);
            visit(block_start, LANES.min(dim - block_start), wires);
        }
        start += len;
    }
    Ok(())
}

/// For each row, count the coordinates of the block where its value lies strictly outside
/// `[lo, hi]` (lane-wise bounds), adding to `counts`.
#[inline(always)]
pub(crate) fn count_outside(
    rows: &[&[f32]],
    start: usize,
    len: usize,
    lo: &[f32; LANES],
    hi: &[f32; LANES],
    counts: &mut [u64],
) {
    for (row, count) in rows.iter().zip(counts.iter_mut()) {
        let vals = &row[start..start + len];
        let mut c = 0u32;
        for ((&x, &a), &b) in vals.iter().zip(lo).zip(hi) {
            c += u32::from((x < a) | (x > b));
        }
        *count += u64::from(c);
    }
}
