//! Sorting and selection networks (Batcher's odd-even merge sort) applied lane-wise.
//!
//! A network is a fixed list of compare-exchanges, so running it on many coordinates at once
//! (one coordinate per lane) is branch-free and auto-vectorises; its result depends only on the
//! input values, never on the machine.

use super::lanes::{Lanes, WIDTH};

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

    /// Run the network on `wires` (each lane is independent), with `ops`' vector operations.
    /// Every compare-exchange is a pure permutation decided by an IEEE comparison, so the
    /// result is the same on every backend, down to which of two equal values (or of +0 and -0)
    /// ends up on which wire.
    #[inline(always)]
    pub fn apply<O: Lanes>(&self, wires: &mut [Wire], ops: O) {
        for group in wires.chunks_exact_mut(8).take(self.groups) {
            sort8(group, ops);
        }
        for &(a, b) in &self.comparators {
            let (lo, hi) = wires.split_at_mut(b);
            exchange(&mut lo[a], &mut hi[0], ops);
        }
    }
}

/// One wire: `LANES` coordinates' values on that wire.
pub(crate) type Wire = [f32; LANES];

/// Vectors per wire: 4 (64 lanes) halves the per-comparator loop overhead against 2, and one
/// block's wires still fit in L1 (n x 256 B: 25 KiB at n = 100). Measured at 100 x 1e6 on
/// AVX-512: trimmed mean 0.174 s -> 0.142 s, AVX2 0.209 s -> 0.155 s.
const PARTS: usize = 4;

/// Coordinates processed together (lanes per wire): `PARTS` 16-lane vectors.
pub(crate) const LANES: usize = PARTS * WIDTH;

/// A wire as its vectors' worth of values.
#[inline(always)]
fn parts(w: &Wire) -> [[f32; WIDTH]; PARTS] {
    pulp::cast(*w)
}

/// The compare-exchange of two vectors: `(min(y, x), max(x, y))` with x86's min/max, i.e.
/// `(y < x ? y : x, x > y ? x : y)`: swapped exactly when `y < x`.
#[inline(always)]
fn ce<O: Lanes>(ops: O, x: O::V, y: O::V) -> (O::V, O::V) {
    (ops.min(y, x), ops.max(x, y))
}

/// Compare-exchange two wires in memory.
#[inline(always)]
fn exchange<O: Lanes>(x: &mut Wire, y: &mut Wire, ops: O) {
    let (xs, ys) = (parts(x), parts(y));
    let mut lo = [[0.0f32; WIDTH]; PARTS];
    let mut hi = [[0.0f32; WIDTH]; PARTS];
    for c in 0..PARTS {
        let (l, h) = ce(ops, ops.load(&xs[c]), ops.load(&ys[c]));
        lo[c] = ops.store(l);
        hi[c] = ops.store(h);
    }
    *x = pulp::cast(lo);
    *y = pulp::cast(hi);
}

/// Sort 8 wires lane-wise, one vector per wire held in registers, with Knuth's optimal
/// 19-comparator, depth-6 network written out so every index is a constant.
#[inline(always)]
fn sort8<O: Lanes>(group: &mut [Wire], ops: O) {
    macro_rules! ce {
        ($v:ident, $a:literal, $b:literal) => {
            ($v[$a], $v[$b]) = ce(ops, $v[$a], $v[$b]);
        };
    }
    let mut split: [[[f32; WIDTH]; PARTS]; 8] = [[[0.0; WIDTH]; PARTS]; 8];
    for (s, w) in split.iter_mut().zip(group.iter()) {
        *s = parts(w);
    }
    for c in 0..PARTS {
        let mut v: [O::V; 8] = std::array::from_fn(|i| ops.load(&split[i][c]));
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
        for (s, vi) in split.iter_mut().zip(v) {
            s[c] = ops.store(vi);
        }
    }
    for (w, s) in group.iter_mut().zip(split) {
        *w = pulp::cast(s);
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
    use super::super::lanes::Portable;
    use super::*;
    use rand::{Rng, SeedableRng};

    /// `f(ops)` on the portable backend and on every wider one this CPU has.
    fn each_backend(mut f: impl FnMut(&str, &mut dyn FnMut(&Network, &mut [Wire]))) {
        f("portable", &mut |net, w| net.apply(w, Portable));
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(v3) = pulp::x86::V3::try_new() {
                f("avx2", &mut |net, w| net.apply(w, v3));
            }
            if let Some(v4) = pulp::x86::V4::try_new() {
                f("avx512", &mut |net, w| net.apply(w, v4));
            }
        }
    }

    #[test]
    fn sorts_every_size_up_to_70_and_selects() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        each_backend(|name, apply| {
            for n in 1..70 {
                let net = Network::sort(n);
                let sel = Network::select(n, &[(n - 1) / 2, n / 2]);
                assert!(sel.len() <= net.len());
                for _ in 0..5 {
                    // Every lane its own random column, with many ties.
                    let mut wires: Vec<Wire> = (0..n)
                        .map(|_| std::array::from_fn(|_| rng.gen_range(-3..4) as f32))
                        .collect();
                    let cols: Vec<Vec<f32>> = (0..LANES)
                        .map(|l| wires.iter().map(|w| w[l]).collect())
                        .collect();
                    let mut sel_wires = wires.clone();
                    apply(&net, &mut wires);
                    apply(&sel, &mut sel_wires);
                    for (lane, col) in cols.iter().enumerate() {
                        let mut want = col.clone();
                        want.sort_by(f32::total_cmp);
                        let got: Vec<f32> = wires.iter().map(|w| w[lane]).collect();
                        assert_eq!(got, want, "{name} n={n}");
                        assert_eq!(sel_wires[(n - 1) / 2][lane], want[(n - 1) / 2], "{name}");
                        assert_eq!(sel_wires[n / 2][lane], want[n / 2], "{name}");
                    }
                }
            }
        });
    }

    #[test]
    fn exchanges_permute_equal_values_and_signed_zeros_alike() {
        // +0 and -0 compare equal: the network must leave them where an IEEE-comparison swap
        // would, on every backend.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let n = 37;
        let net = Network::sort(n);
        let wires: Vec<Wire> = (0..n)
            .map(|_| std::array::from_fn(|_| [0.0f32, -0.0, 1.0][rng.gen_range(0..3)]))
            .collect();
        let mut want = wires.clone();
        for group in want.chunks_exact_mut(8).take(net.groups) {
            for (a, b) in [
                (0, 2),
                (1, 3),
                (4, 6),
                (5, 7),
                (0, 4),
                (1, 5),
                (2, 6),
                (3, 7),
                (0, 1),
                (2, 3),
                (4, 5),
                (6, 7),
                (2, 4),
                (3, 5),
                (1, 4),
                (3, 6),
                (1, 2),
                (3, 4),
                (5, 6),
            ] {
                naive_exchange(group, a, b);
            }
        }
        for &(a, b) in &net.comparators {
            naive_exchange(&mut want, a, b);
        }
        let bits = |w: &[Wire]| -> Vec<u32> { w.iter().flatten().map(|x| x.to_bits()).collect() };
        each_backend(|name, apply| {
            let mut got = wires.clone();
            apply(&net, &mut got);
            assert_eq!(bits(&got), bits(&want), "{name}");
        });
    }

    fn naive_exchange(w: &mut [Wire], a: usize, b: usize) {
        let (lo, hi) = w.split_at_mut(b);
        for (x, y) in lo[a].iter_mut().zip(hi[0].iter_mut()) {
            if *y < *x {
                std::mem::swap(x, y);
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
        // A comparator network sorts every input iff it sorts every 0/1 input; each lane
        // carries one mask.
        for n in 1..=17usize {
            let net = Network::sort(n);
            let masks: Vec<u32> = (0u32..(1 << n)).collect();
            for batch in masks.chunks(LANES) {
                let mut wires: Vec<Wire> = (0..n)
                    .map(|i| {
                        std::array::from_fn(|l| batch.get(l).map_or(0.0, |m| ((m >> i) & 1) as f32))
                    })
                    .collect();
                net.apply(&mut wires, Portable);
                for l in 0..batch.len() {
                    assert!(
                        wires.windows(2).all(|w| w[0][l] <= w[1][l]),
                        "n={n} mask={}",
                        batch[l]
                    );
                }
            }
        }
    }
}
