//! Sorting and selection networks (Batcher's odd-even merge sort) applied lane-wise.
//!
//! A network is a fixed list of compare-exchanges, so running it on many coordinates at once
//! (one coordinate per lane) is branch-free and auto-vectorises; its result depends only on the
//! input values, never on the machine.

/// A list of compare-exchanges `(lo, hi)` with `lo < hi`: afterwards wire `lo` holds the smaller
/// value.
///
/// Batcher's first three levels just sort each aligned group of 8 wires; for every full group
/// that prefix is replaced by an optimal 8-sorter run in registers (8 loads and 8 stores per
/// lane group instead of 4 memory operations per compare-exchange). Any sorting of a group
/// leaves the same values on the same wires, so the output is unchanged.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    /// Leading aligned groups of 8 wires sorted in registers before `comparators` run.
    groups: usize,
    comparators: Vec<(usize, usize)>,
}

impl Network {
    /// A network that sorts `n` wires ascending.
    pub fn sort(n: usize) -> Self {
        Network::with_prefix(n, batcher(n))
    }

    /// Split off the comparators that only sort full aligned groups of 8 (Batcher levels p < 8).
    fn with_prefix(n: usize, comparators: Vec<(usize, usize, usize)>) -> Self {
        let groups = n / 8;
        let in_group = |a: usize, b: usize, p: usize| p < 8 && b < groups * 8 && a / 8 == b / 8;
        Network {
            groups,
            comparators: comparators
                .into_iter()
                .filter(|&(a, b, p)| !in_group(a, b, p))
                .map(|(a, b, _)| (a, b))
                .collect(),
        }
    }

    /// A network after which the wires at `positions` hold the values a full sort would put
    /// there (other wires hold the rest, in some order). Pruned backwards from the full sort:
    /// compare-exchanges that cannot influence a needed wire are dropped.
    pub fn select(n: usize, positions: &[usize]) -> Self {
        let full = batcher(n);
        let mut needed = vec![false; n];
        for &p in positions {
            if p < n {
                needed[p] = true;
            }
        }
        let mut kept = Vec::with_capacity(full.len());
        for &(a, b, p) in full.iter().rev() {
            if needed[a] || needed[b] {
                needed[a] = true;
                needed[b] = true;
                kept.push((a, b, p));
            }
        }
        kept.reverse();
        Network::with_prefix(n, kept)
    }

    /// Number of compare-exchanges.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.comparators.len() + 19 * self.groups
    }

    /// Run the network on `wires` (one array of lanes per wire; each lane is independent).
    /// `wide` picks the compare-exchange that is fastest on the AVX2 path (see
    /// [`min_max_exchange`]); the outputs are the same either way.
    #[inline(always)]
    pub fn apply<const L: usize>(&self, wires: &mut [[f32; L]], wide: bool) {
        for group in wires.chunks_exact_mut(8).take(self.groups) {
            sort8(group);
        }
        if wide {
            self.apply_with(wires, min_max_exchange);
        } else {
            self.apply_with(wires, compare_exchange);
        }
    }

    #[inline(always)]
    fn apply_with<const L: usize>(
        &self,
        wires: &mut [[f32; L]],
        exchange: impl Fn(&mut [f32; L], &mut [f32; L]),
    ) {
        for &(a, b) in &self.comparators {
            let (lo, hi) = wires.split_at_mut(b);
            exchange(&mut lo[a], &mut hi[0]);
        }
    }
}

/// Lane-wise compare-exchange through `f32::min`/`max`. With AVX2, LLVM turns the select form
/// of [`compare_exchange`] into masked stores (vmaskmovps), 2-3x slower; min/max stay plain
/// vector operations. On finite inputs (checked before any network runs) the two differ only
/// in which of two equal values lands on which wire, and for `+0`/`-0` possibly in the sign of
/// a zero; no rule's output depends on either (outputs normalise `-0` to `+0`, sums never
/// produce `-0` from an `x + 0` step, comparisons treat the zeros as equal).
#[inline(always)]
fn min_max_exchange<const L: usize>(x: &mut [f32; L], y: &mut [f32; L]) {
    let (a, b) = (*x, *y);
    let mut lo = [0.0f32; L];
    let mut hi = [0.0f32; L];
    for l in 0..L {
        lo[l] = a[l].min(b[l]);
        hi[l] = a[l].max(b[l]);
    }
    *x = lo;
    *y = hi;
}

/// Lane-wise compare-exchange. A pure IEEE comparison decides each swap, so the pair is always
/// permuted, never altered (equal values and signed zeros stay put). Both results are built in
/// locals and written back whole: writing `x[l] = if swap {..} else {x[l]}` in place lets LLVM
/// turn it into per-lane conditional stores (branches), 20x slower than min/max.
#[inline(always)]
fn compare_exchange<const L: usize>(x: &mut [f32; L], y: &mut [f32; L]) {
    let (a, b) = (*x, *y);
    let mut lo = [0.0f32; L];
    let mut hi = [0.0f32; L];
    for l in 0..L {
        let swap = b[l] < a[l];
        lo[l] = if swap { b[l] } else { a[l] };
        hi[l] = if swap { a[l] } else { b[l] };
    }
    *x = lo;
    *y = hi;
}

/// Lane-wise compare-exchange of two 4-lane values held in locals.
#[inline(always)]
fn ce4(x: [f32; 4], y: [f32; 4]) -> ([f32; 4], [f32; 4]) {
    let mut lo = [0.0f32; 4];
    let mut hi = [0.0f32; 4];
    for l in 0..4 {
        let swap = y[l] < x[l];
        lo[l] = if swap { y[l] } else { x[l] };
        hi[l] = if swap { x[l] } else { y[l] };
    }
    (lo, hi)
}

/// Sort 8 wires lane-wise, 4 lanes at a time held in locals (registers), with Knuth's optimal
/// 19-comparator, depth-6 network written out so every index is a constant.
#[inline(always)]
fn sort8<const L: usize>(group: &mut [[f32; L]]) {
    macro_rules! ce {
        ($v:ident, $a:literal, $b:literal) => {
            ($v[$a], $v[$b]) = ce4($v[$a], $v[$b]);
        };
    }
    let mut start = 0;
    while start < L {
        // A constant length when L is a multiple of 4 lets the copies below compile to plain
        // vector loads and stores.
        let len = if L % 4 == 0 { 4 } else { 4.min(L - start) };
        let mut v = [[0.0f32; 4]; 8];
        for (vi, wi) in v.iter_mut().zip(group.iter()) {
            vi[..len].copy_from_slice(&wi[start..start + len]);
        }
        ce!(v, 0, 2);
        ce!(v, 1, 3);
        ce!(v, 4, 6);
        ce!(v, 5, 7);
        ce!(v, 0, 4);
        ce!(v, 1, 5);
        ce!(v, 2, 6);
        ce!(v, 3, 7);
        ce!(v, 0, 1);
        ce!(v, 2, 3);
        ce!(v, 4, 5);
        ce!(v, 6, 7);
        ce!(v, 2, 4);
        ce!(v, 3, 5);
        ce!(v, 1, 4);
        ce!(v, 3, 6);
        ce!(v, 1, 2);
        ce!(v, 3, 4);
        ce!(v, 5, 6);
        for (vi, wi) in v.iter().zip(group.iter_mut()) {
            wi[start..start + len].copy_from_slice(&vi[..len]);
        }
        start += len;
    }
}

/// Batcher's odd-even merge sort for the next power of two, restricted to the first `n` wires.
/// Padding wires would hold +inf, which no compare-exchange ever moves (the larger value always
/// goes to the higher wire), so any comparator touching a wire >= n is a no-op and is dropped.
/// Each comparator comes with its level `p` (the size of the sorted runs being merged).
fn batcher(n: usize) -> Vec<(usize, usize, usize)> {
    let size = n.next_power_of_two();
    let mut out = Vec::new();
    let mut p = 1;
    while p < size {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < size {
                for i in 0..k.min(size - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < n {
                        out.push((a, b, p));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn sorts_every_size_up_to_70_and_selects() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for n in 1..70 {
            let net = Network::sort(n);
            let sel = Network::select(n, &[(n - 1) / 2, n / 2]);
            assert!(sel.len() <= net.len());
            for _ in 0..20 {
                let vals: Vec<f32> = (0..n).map(|_| rng.gen_range(-3..4) as f32).collect();
                let mut wires: Vec<[f32; 2]> = vals.iter().map(|&v| [v, -v]).collect();
                let mut sel_wires = wires.clone();
                net.apply(&mut wires, false);
                sel.apply(&mut sel_wires, true);
                for lane in 0..2 {
                    let mut want: Vec<f32> = vals
                        .iter()
                        .map(|&v| if lane == 0 { v } else { -v })
                        .collect();
                    want.sort_by(f32::total_cmp);
                    let got: Vec<f32> = wires.iter().map(|w| w[lane]).collect();
                    assert_eq!(got, want, "n={n}");
                    assert_eq!(sel_wires[(n - 1) / 2][lane], want[(n - 1) / 2]);
                    assert_eq!(sel_wires[n / 2][lane], want[n / 2]);
                }
            }
        }
    }

    #[test]
    fn pruned_median_network_is_smaller() {
        let full = Network::sort(100).len();
        let median = Network::select(100, &[49, 50]).len();
        let median_and_range = Network::select(100, &[49, 50, 10, 89]).len();
        eprintln!("n=100: sort {full}, median {median}, median+range {median_and_range}");
        assert!(median < full && median <= median_and_range);
    }

    #[test]
    fn zero_one_principle_exhaustive_for_small_n() {
        // A comparator network sorts every input iff it sorts every 0/1 input.
        for n in 1..=17usize {
            let net = Network::sort(n);
            for mask in 0u32..(1 << n) {
                let mut wires: Vec<[f32; 1]> = (0..n).map(|i| [((mask >> i) & 1) as f32]).collect();
                net.apply(&mut wires, false);
                assert!(
                    wires.windows(2).all(|w| w[0][0] <= w[1][0]),
                    "n={n} mask={mask}"
                );
            }
        }
    }
}
