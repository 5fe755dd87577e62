//! Sixteen f32 lanes as one value: AVX-512, two AVX2 registers, or a plain array; same bits.
//!
//! Every operation is lane-wise IEEE-754 single precision with one correctly rounded result
//! (`fma` included: a fused multiply-add is rounded once, by definition), so a kernel written
//! against [`Lanes`] computes identical bits on every backend; only the number of instructions
//! differs. Explicit vectors keep LLVM from "vectorising" a kernel across the
//! wrong loop (it did: gathers across a 4x4 tile instead of lanes, 10x slower).

use super::simd::CodePath;

/// Number of lanes in one [`Lanes::V`].
pub(crate) const WIDTH: usize = 16;

/// Lane-wise operations on 16 f32 lanes. `min`/`max` follow x86's convention (`a < b ? a : b`,
/// `a > b ? a : b`), which on finite inputs makes `(min(y, x), max(x, y))` a pure permutation
/// of `(x, y)`: equal values and signed zeros stay on their wires.
pub(crate) trait Lanes: Copy {
    /// The code path this backend belongs to.
    const PATH: CodePath;
    /// One vector of 16 lanes.
    type V: Copy;
    /// Lanes from exactly 16 values.
    fn load(self, x: &[f32; WIDTH]) -> Self::V;
    /// All lanes +0.
    fn zero(self) -> Self::V;
    /// The lanes as an array.
    fn store(self, v: Self::V) -> [f32; WIDTH];
    /// `a * b + c` with one rounding.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a < b ? a : b`.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a > b ? a : b`.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
}

/// The portable backend: arrays and plain loops (SSE2 after LLVM is done with it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Portable;

impl Lanes for Portable {
    const PATH: CodePath = CodePath::Baseline;
    type V = [f32; WIDTH];

    #[inline(always)]
    fn load(self, x: &[f32; WIDTH]) -> Self::V {
        *x
    }
    #[inline(always)]
    fn zero(self) -> Self::V {
        [0.0; WIDTH]
    }
    #[inline(always)]
    fn store(self, v: Self::V) -> [f32; WIDTH] {
        v
    }
    #[inline(always)]
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        std::array::from_fn(|l| fused(a[l], b[l], c[l]))
    }
    #[inline(always)]
    fn min(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| if a[l] < b[l] { a[l] } else { b[l] })
    }
    #[inline(always)]
    fn max(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| if a[l] > b[l] { a[l] } else { b[l] })
    }
}

/// `a * b + c` rounded once. aarch64 (FMA is in its base ISA) and other targets use the
/// compiler's fused multiply-add; x86-64 CPUs without FMA (pre-2013, VMs that hide it, or
/// `--path baseline`) use [`fma_by_round_to_odd`], exact and branch-free but ~15x the cost.
#[inline(always)]
fn fused(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        fma_by_round_to_odd(a, b, c)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        a.mul_add(b, c)
    }
}

/// Correctly rounded f32 `a * b + c` from f64 arithmetic (Boldo & Melquiond, "Emulation of FMA
/// and correctly rounded sums: proved algorithms using rounding to odd", 2008): the product is
/// exact in f64; the sum is rounded to f64 *to odd* (round to nearest, then, if inexact and the
/// last bit is even, step one ulp towards the exact value, known from the exact TwoSum error);
/// rounding that to f32 gives the correctly rounded result because f64 has more than
/// 2 x 24 + 2 bits. Finite inputs only (the aggregation rules reject NaN and infinities).
#[inline(always)]
pub(crate) fn fma_by_round_to_odd(a: f32, b: f32, c: f32) -> f32 {
    let p = f64::from(a) * f64::from(b);
    let c = f64::from(c);
    let s = p + c;
    // Knuth's TwoSum: e is exactly (p + c) - s.
    let bv = s - p;
    let e = (p - (s - bv)) + (c - bv);
    let bits = s.to_bits();
    let inexact_even = (e != 0.0) & (bits & 1 == 0);
    // Sign-magnitude: +1 grows |s|, -1 shrinks it; s != 0 whenever e != 0.
    let towards = if (e > 0.0) == (s > 0.0) {
        bits.wrapping_add(1)
    } else {
        bits.wrapping_sub(1)
    };
    f64::from_bits(if inexact_even { towards } else { bits }) as f32
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{CodePath, Lanes, WIDTH};
    use pulp::{f32x16, f32x8, x86::V3, x86::V4};

    impl Lanes for V4 {
        const PATH: CodePath = CodePath::Avx512;
        type V = f32x16;

        #[inline(always)]
        fn load(self, x: &[f32; WIDTH]) -> f32x16 {
            pulp::cast(*x)
        }
        #[inline(always)]
        fn zero(self) -> f32x16 {
            self.splat_f32x16(0.0)
        }
        #[inline(always)]
        fn store(self, v: f32x16) -> [f32; WIDTH] {
            pulp::cast(v)
        }
        #[inline(always)]
        fn fma(self, a: f32x16, b: f32x16, c: f32x16) -> f32x16 {
            self.mul_add_f32x16(a, b, c)
        }
        #[inline(always)]
        fn min(self, a: f32x16, b: f32x16) -> f32x16 {
            self.min_f32x16(a, b)
        }
        #[inline(always)]
        fn max(self, a: f32x16, b: f32x16) -> f32x16 {
            self.max_f32x16(a, b)
        }
    }

    impl Lanes for V3 {
        const PATH: CodePath = CodePath::Avx2;
        type V = [f32x8; 2];

        #[inline(always)]
        fn load(self, x: &[f32; WIDTH]) -> [f32x8; 2] {
            pulp::cast(*x)
        }
        #[inline(always)]
        fn zero(self) -> [f32x8; 2] {
            [self.splat_f32x8(0.0); 2]
        }
        #[inline(always)]
        fn store(self, v: [f32x8; 2]) -> [f32; WIDTH] {
            pulp::cast(v)
        }
        #[inline(always)]
        fn fma(self, a: [f32x8; 2], b: [f32x8; 2], c: [f32x8; 2]) -> [f32x8; 2] {
            [
                self.mul_add_f32x8(a[0], b[0], c[0]),
                self.mul_add_f32x8(a[1], b[1], c[1]),
            ]
        }
        #[inline(always)]
        fn min(self, a: [f32x8; 2], b: [f32x8; 2]) -> [f32x8; 2] {
            [self.min_f32x8(a[0], b[0]), self.min_f32x8(a[1], b[1])]
        }
        #[inline(always)]
        fn max(self, a: [f32x8; 2], b: [f32x8; 2]) -> [f32x8; 2] {
            [self.max_f32x8(a[0], b[0]), self.max_f32x8(a[1], b[1])]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every backend this CPU has agrees with the portable one bit for bit, including on
    /// ties and signed zeros for min/max.
    #[test]
    fn backends_agree_with_portable() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let vals = [0.0f32, -0.0, 1.0, -1.0, 0.5, 1e-40, -1e-40, 3.4e38, -3.4e38];
        for _ in 0..2000 {
            let a: [f32; WIDTH] = std::array::from_fn(|_| {
                if rng.gen_bool(0.5) {
                    vals[rng.gen_range(0..vals.len())]
                } else {
                    rng.gen_range(-10.0..10.0)
                }
            });
            let b: [f32; WIDTH] =
                std::array::from_fn(|l| if rng.gen_bool(0.3) { a[l] } else { -a[l] * 0.7 });
            check(Portable, &a, &b);
            #[cfg(target_arch = "x86_64")]
            {
                if let Some(v3) = pulp::x86::V3::try_new() {
                    check(v3, &a, &b);
                }
                if let Some(v4) = pulp::x86::V4::try_new() {
                    check(v4, &a, &b);
                }
            }
        }
    }

    #[test]
    fn round_to_odd_fma_matches_libm_fmaf() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut hard = 0;
        for i in 0..400_000u32 {
            let a = f32::from_bits(rng.gen::<u32>() & 0xbfff_ffff); // |a| < 2: no overflow
            let b = f32::from_bits(rng.gen::<u32>() & 0xbfff_ffff);
            // Half the cases put c next to -a*b, where cancellation and ties live.
            let c = if i % 2 == 0 {
                let t = -(a * b);
                f32::from_bits(t.to_bits().wrapping_add(rng.gen_range(0..5)))
            } else {
                f32::from_bits(rng.gen::<u32>() & 0xbfff_ffff)
            };
            let want = libm::fmaf(a, b, c);
            let got = fma_by_round_to_odd(a, b, c);
            assert_eq!(got.to_bits(), want.to_bits(), "{a:e} * {b:e} + {c:e}");
            if (f64::from(a) * f64::from(b) + f64::from(c)) as f32 != want {
                hard += 1; // double rounding through f64 would have been wrong here
            }
        }
        // Constructed double-rounding traps: a * b = (u/2)(1 - 2^-2k) with u = ulp(c), so the
        // exact sum lies a hair below (or above) the midpoint c + u/2 and rounding it to f64
        // first lands exactly on the midpoint.
        for _ in 0..20_000 {
            let c = f32::from_bits(0x3f80_0000 | rng.gen_range(0..1u32 << 23))
                * [1.0, -1.0][rng.gen_range(0..2)];
            let k = rng.gen_range(15..=22);
            let eps = 2f32.powi(-k);
            let half_ulp = f32::from_bits(c.abs().to_bits() & 0x7f80_0000) * 2f32.powi(-24);
            let sign = [1.0f32, -1.0][rng.gen_range(0..2)];
            let (a, b) = ((1.0 + eps) * half_ulp * sign, 1.0 - eps);
            let want = libm::fmaf(a, b, c);
            assert_eq!(
                fma_by_round_to_odd(a, b, c).to_bits(),
                want.to_bits(),
                "{a:e} * {b:e} + {c:e}"
            );
            if (f64::from(a) * f64::from(b) + f64::from(c)) as f32 != want {
                hard += 1;
            }
            // Hardware FMA on the wide backends agrees on the traps too.
            #[cfg(target_arch = "x86_64")]
            {
                let (va, vb, vc) = ([a; WIDTH], [b; WIDTH], [c; WIDTH]);
                if let Some(v3) = pulp::x86::V3::try_new() {
                    let got = v3.store(v3.fma(v3.load(&va), v3.load(&vb), v3.load(&vc)));
                    assert_eq!(got[0].to_bits(), want.to_bits());
                }
                if let Some(v4) = pulp::x86::V4::try_new() {
                    let got = v4.store(v4.fma(v4.load(&va), v4.load(&vb), v4.load(&vc)));
                    assert_eq!(got[0].to_bits(), want.to_bits());
                }
            }
        }
        assert!(hard > 0, "the traps must catch naive evaluation");
        eprintln!("cases where naive f64 evaluation double-rounds: {hard}");
    }

    fn check<O: Lanes>(o: O, a: &[f32; WIDTH], b: &[f32; WIDTH]) {
        let p = Portable;
        let bits = |x: [f32; WIDTH]| x.map(f32::to_bits);
        let (va, vb) = (o.load(a), o.load(b));
        assert_eq!(bits(o.store(o.min(va, vb))), bits(p.min(*a, *b)));
        assert_eq!(bits(o.store(o.max(va, vb))), bits(p.max(*a, *b)));
        assert_eq!(bits(o.store(o.zero())), [0u32; WIDTH]);
        let c: [f32; WIDTH] = std::array::from_fn(|l| a[(l + 5) % WIDTH] * 0.3);
        assert_eq!(
            bits(o.store(o.fma(va, vb, o.load(&c)))),
            bits(p.fma(*a, *b, c))
        );
        for l in 0..WIDTH {
            let (x, y) = (a[l], b[l]);
            // The fused result against an exact reference: a * b is exact in f64, and the sum
            // is rounded to f64 and then to f32; when no double rounding can interfere (the
            // f64 sum is not within 2^-29 ulp of an f32 midpoint) the two must agree.
            let exact = f64::from(x) * f64::from(y) + f64::from(c[l]);
            let once = p.fma(*a, *b, c)[l];
            if exact.is_finite() && exact.abs() > 1e-30 {
                let (lo, hi) = (exact * (1.0 - 1e-14), exact * (1.0 + 1e-14));
                if lo as f32 == hi as f32 {
                    assert_eq!(
                        once.to_bits(),
                        (exact as f32).to_bits(),
                        "{x} * {y} + {}",
                        c[l]
                    );
                }
            }
        }
    }
}
