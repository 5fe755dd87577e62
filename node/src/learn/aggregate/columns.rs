//! Column selection: runs a network over blocks of coordinates (one coordinate per lane).
//!
//! Rows are copied block by block into wire-major scratch (wire i = row i's block), so no
//! transpose is needed and the scratch (n x LANES f32) stays in L1.

use super::network::Network;

/// Coordinates processed together; one wire is `LANES` f32.
pub(crate) const LANES: usize = 32;

/// For every block of up to [`LANES`] coordinates starting at `start`, load the rows' values,
/// run `net`, and hand the wires to `visit(start, len, wires)`. Lanes `len..LANES` of the last
/// block are padding and must be ignored.
pub(crate) fn for_each_block(
    rows: &[&[f32]],
    dim: usize,
    net: &Network,
    mut visit: impl FnMut(usize, usize, &[[f32; LANES]]),
) {
    let mut wires = vec![[0.0f32; LANES]; rows.len()];
    let mut start = 0;
    while start < dim {
        let len = LANES.min(dim - start);
        for (wire, row) in wires.iter_mut().zip(rows) {
            wire[..len].copy_from_slice(&row[start..start + len]);
            wire[len..].fill(0.0);
        }
        net.apply(&mut wires);
        visit(start, len, &wires);
        start += len;
    }
}

/// For each row, count the coordinates of the block where its value lies strictly outside
/// `[lo, hi]` (lane-wise bounds), adding to `counts`.
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
