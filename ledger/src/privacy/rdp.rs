//! Rényi-DP curves: the Poisson-subsampled Gaussian mechanism's per-step curve and composition.
//!
//! The per-order computation follows Mironov, Talwar and Zhang (2019), "Rényi Differential
//! Privacy of the Sampled Gaussian Mechanism", as implemented by dp-accounting: for an integer
//! order a binomial sum (their Section 3.3), for a fractional order the two-sided series split at
//! `z0` (Section 3.4), each in log space. Reductions run in a fixed order with `libm` only, so a
//! curve is bit-identical on every machine.

use super::orders::{NUM_ORDERS, ORDER_ARRAY};
use super::special::{log_abs_binom_real, log_add, log_binom_int, log_erfc};
use crate::error::LedgerError;

/// Most terms summed for one fractional order before giving up on it (dp-accounting's
/// `_MAX_STEPS_LOG_A_FRAC`).
///
/// The fractional series only decays polynomially (like `i^-(alpha+1)`) once its Gaussian factors
/// cancel, which for small orders and moderate `q` would take millions of terms. Such an order
/// gets RDP `+inf` and is skipped by the conversion; the small orders that hit the cap are not the
/// optimal ones in practice. The cap is part of the protocol: changing it changes which orders are
/// finite.
pub const MAX_SERIES_TERMS: u64 = 1000;

/// A fractional series stops once its terms are decreasing and below `e^-30` times the running
/// total, as in dp-accounting.
const SERIES_STOP_LOG_GAP: f64 = 30.0;

/// A Rényi-DP curve: one value per order of [`super::ORDERS`]; `+inf` where the guarantee is void
/// or could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub struct RdpCurve {
    values: [f64; NUM_ORDERS],
}

impl Default for RdpCurve {
    fn default() -> Self {
        Self::zero()
    }
}

impl RdpCurve {
    /// The curve of releasing nothing: 0 at every order.
    pub fn zero() -> Self {
        Self {
            values: [0.0; NUM_ORDERS],
        }
    }

    /// The curve with these values (one per order, each `>= 0` or `+inf`), as [`Self::values`]
    /// gave them; `None` for anything else.
    pub fn from_values(values: &[f64]) -> Option<Self> {
        let values: [f64; NUM_ORDERS] = values.try_into().ok()?;
        values.iter().all(|v| *v >= 0.0).then_some(Self { values })
    }

    /// The curve of a release without privacy: `+inf` at every order.
    pub fn infinite() -> Self {
        Self {
            values: [f64::INFINITY; NUM_ORDERS],
        }
    }

    /// The RDP of ONE step of the Poisson-subsampled Gaussian mechanism with sampling rate `q` and
    /// noise multiplier `sigma`.
    ///
    /// As in dp-accounting, `q == 0` (nothing sampled) gives 0 everywhere, even without noise;
    /// otherwise `sigma == 0` (no noise) gives `+inf` and `q == 1` the plain Gaussian
    /// `alpha / (2 sigma^2)`.
    ///
    /// # Errors
    /// [`LedgerError::InvalidInput`] if `q` is not in `[0, 1]` or `sigma` is negative, infinite or
    /// NaN.
    pub fn sampled_gaussian(q: f64, sigma: f64) -> Result<Self, LedgerError> {
        check_mechanism(q, sigma)?;
        if q == 0.0 {
            return Ok(Self::zero());
        }
        if sigma == 0.0 {
            return Ok(Self::infinite());
        }
        let mut values = [0.0; NUM_ORDERS];
        if q == 1.0 {
            let two_s2 = 2.0 * (sigma * sigma);
            for (v, &alpha) in values.iter_mut().zip(ORDER_ARRAY.iter()) {
                *v = finish(alpha / two_s2);
            }
            return Ok(Self { values });
        }
        let mech = Mechanism::new(q, sigma);
        for (v, &alpha) in values.iter_mut().zip(ORDER_ARRAY.iter()) {
            let log_a = if alpha.fract() == 0.0 {
                // Orders in ORDERS are at most 1024, so the cast is exact.
                Some(mech.log_a_int(alpha as u64))
            } else {
                mech.log_a_frac(alpha)
            };
            *v = match log_a {
                Some(l) => finish(l / (alpha - 1.0)),
                None => f64::INFINITY,
            };
        }
        Ok(Self { values })
    }

    /// Composition: `self += steps * per_step`, order by order. Zero steps add nothing (even to an
    /// infinite curve).
    pub fn add_steps(&mut self, per_step: &RdpCurve, steps: u64) {
        if steps == 0 {
            return;
        }
        // u64 -> f64 is exact up to 2^53 steps and deterministic beyond.
        let k = steps as f64;
        for (v, p) in self.values.iter_mut().zip(per_step.values.iter()) {
            *v += k * *p;
        }
    }

    /// The values, aligned with [`super::ORDERS`].
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The values as a fixed-size array (for the converter's hot loop).
    pub(crate) fn array(&self) -> &[f64; NUM_ORDERS] {
        &self.values
    }
}

/// Validates a mechanism's parameters.
pub(crate) fn check_mechanism(q: f64, sigma: f64) -> Result<(), LedgerError> {
    if !(0.0..=1.0).contains(&q) {
        return Err(LedgerError::InvalidInput {
            what: "sampling rate",
            reason: format!("{q} is not in [0, 1]"),
        });
    }
    if !sigma.is_finite() || sigma < 0.0 {
        return Err(LedgerError::InvalidInput {
            what: "noise multiplier",
            reason: format!("{sigma} is not a finite number >= 0"),
        });
    }
    Ok(())
}

/// Turns a computed RDP value into a curve entry: NaN (an overflow somewhere) becomes `+inf`, and a
/// tiny negative value (rounding: `A_alpha >= 1`, so RDP >= 0) becomes 0.
fn finish(rdp: f64) -> f64 {
    if rdp.is_nan() {
        f64::INFINITY
    } else if rdp < 0.0 {
        0.0
    } else {
        rdp
    }
}

/// The sampled Gaussian mechanism's parameters with the per-order constants hoisted.
struct Mechanism {
    log_q: f64,
    log_1mq: f64,
    /// `2 sigma^2`.
    two_s2: f64,
    /// `sqrt(2) sigma`.
    sqrt2_sigma: f64,
    /// Where the two Gaussians' densities, weighted by `q` and `1 - q`, cross: the split point of
    /// the fractional series, `sigma^2 ln(1/q - 1) + 1/2`.
    z0: f64,
}

impl Mechanism {
    fn new(q: f64, sigma: f64) -> Self {
        let log_q = libm::log(q);
        let log_1mq = libm::log1p(-q);
        let s2 = sigma * sigma;
        Self {
            log_q,
            log_1mq,
            two_s2: 2.0 * s2,
            sqrt2_sigma: std::f64::consts::SQRT_2 * sigma,
            z0: s2 * (log_1mq - log_q) + 0.5,
        }
    }

    /// `ln A_alpha` for integer `alpha`:
    /// `ln sum_i C(alpha, i) q^i (1-q)^(alpha-i) exp((i^2 - i) / (2 sigma^2))`.
    ///
    /// Summed as a streaming log-sum-exp in increasing `i` (one `exp` per term, the running maximum
    /// factored out), which is exact in its order of operations and never overflows.
    fn log_a_int(&self, alpha: u64) -> f64 {
        let a = alpha as f64;
        let mut max = f64::NEG_INFINITY;
        let mut sum = 0.0_f64;
        for i in 0..=alpha {
            let fi = i as f64;
            let t = log_binom_int(alpha, i)
                + fi * self.log_q
                + (a - fi) * self.log_1mq
                + (fi * fi - fi) / self.two_s2;
            if t > max {
                sum = sum * libm::exp(max - t) + 1.0;
                max = t;
            } else {
                sum += libm::exp(t - max);
            }
        }
        max + libm::log(sum)
    }

    /// An upper bound on `ln A_alpha` for fractional `alpha`, or `None` if the series did not
    /// settle within [`MAX_SERIES_TERMS`] terms.
    ///
    /// `A_alpha = A0 + A1` with
    /// `A0 = sum_i C(alpha,i) q^i (1-q)^(alpha-i) exp((i^2-i)/(2 sigma^2)) erfc((i-z0)/(sqrt2 sigma))/2`
    /// and `A1` the mirror image with `j = alpha - i`. Past `i = alpha + 1` the binomials alternate
    /// in sign; like current dp-accounting we add their magnitudes, which bounds `A_alpha` from
    /// above (conservative for privacy) and cannot cancel catastrophically. The sum stops once both
    /// halves' terms are decreasing and more than `e^30` below the running total.
    fn log_a_frac(&self, alpha: f64) -> Option<f64> {
        let lgamma_alpha_plus_1 = libm::lgamma(alpha + 1.0);
        let mut log_a0 = f64::NEG_INFINITY;
        let mut log_a1 = f64::NEG_INFINITY;
        let mut last_s0 = f64::NEG_INFINITY;
        let mut last_s1 = f64::NEG_INFINITY;
        for i in 0..MAX_SERIES_TERMS {
            let fi = i as f64;
            let log_coef = log_abs_binom_real(lgamma_alpha_plus_1, alpha, i);
            let j = alpha - fi;

            let log_t0 = log_coef + fi * self.log_q + j * self.log_1mq;
            let log_t1 = log_coef + j * self.log_q + fi * self.log_1mq;

            let log_e0 = -std::f64::consts::LN_2 + log_erfc((fi - self.z0) / self.sqrt2_sigma);
            let log_e1 = -std::f64::consts::LN_2 + log_erfc((self.z0 - j) / self.sqrt2_sigma);

            let log_s0 = log_t0 + (fi * fi - fi) / self.two_s2 + log_e0;
            let log_s1 = log_t1 + (j * j - j) / self.two_s2 + log_e1;

            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);

            // NaN anywhere fails these comparisons, so a broken series runs into the cap.
            if log_s0 < last_s0 && log_s1 < last_s1 {
                let total = log_add(log_a0, log_a1);
                if log_s0.max(log_s1) < total - SERIES_STOP_LOG_GAP {
                    return Some(total);
                }
            }
            last_s0 = log_s0;
            last_s1 = log_s1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::ORDERS;

    #[test]
    fn full_batch_is_the_plain_gaussian() {
        let c = RdpCurve::sampled_gaussian(1.0, 2.0).unwrap();
        for (v, a) in c.values().iter().zip(ORDERS) {
            assert_eq!(*v, a / 8.0);
        }
    }

    #[test]
    fn degenerate_mechanisms() {
        assert_eq!(
            RdpCurve::sampled_gaussian(0.0, 1.0).unwrap(),
            RdpCurve::zero()
        );
        assert_eq!(
            RdpCurve::sampled_gaussian(0.3, 0.0).unwrap(),
            RdpCurve::infinite()
        );
        // Nothing sampled means nothing released, noise or not (dp-accounting's precedence).
        assert_eq!(
            RdpCurve::sampled_gaussian(0.0, 0.0).unwrap(),
            RdpCurve::zero()
        );
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        for (q, s) in [
            (-0.1, 1.0),
            (1.5, 1.0),
            (f64::NAN, 1.0),
            (0.1, -1.0),
            (0.1, f64::NAN),
            (0.1, f64::INFINITY),
        ] {
            assert!(
                matches!(
                    RdpCurve::sampled_gaussian(q, s),
                    Err(LedgerError::InvalidInput { .. })
                ),
                "q={q} sigma={s}"
            );
        }
    }

    #[test]
    fn small_q_matches_the_leading_order_approximation() {
        // For small q and moderate alpha, RDP ~ q^2 alpha / sigma^2 (Mironov et al. 2019, Sec. 3.3:
        // A_alpha ~ 1 + alpha(alpha-1) q^2 (e^{1/sigma^2} - 1) / 2). Check the integer order 2
        // exactly: A_2 = 1 + q^2 (e^{1/sigma^2} - 1).
        let (q, sigma) = (0.01, 2.0);
        let c = RdpCurve::sampled_gaussian(q, sigma).unwrap();
        let idx = ORDERS.iter().position(|&a| a == 2.0).unwrap();
        let want = libm::log1p(q * q * libm::expm1(1.0 / (sigma * sigma)));
        let got = c.values()[idx];
        // The log-sum-exp adds terms near 1 to get 1 + 2.8e-5, so it keeps ~11 digits of the
        // excess, not 16.
        assert!(((got - want) / want).abs() < 1e-10, "{got} vs {want}");
    }

    #[test]
    fn fractional_orders_interpolate_their_integer_neighbours() {
        // RDP is non-decreasing in the order; fractional values must sit between the integers.
        let c = RdpCurve::sampled_gaussian(0.02, 1.0).unwrap();
        let v = c.values();
        for w in v.windows(2) {
            if w[0].is_finite() && w[1].is_finite() {
                assert!(w[0] <= w[1] * (1.0 + 1e-12), "{w:?}");
            }
        }
    }

    #[test]
    fn non_convergent_orders_become_infinite_not_errors() {
        // q = 0.5 with moderate noise: the split point z0 = 1/2, so the smallest fractional orders'
        // series decay only polynomially and hit the cap.
        let c = RdpCurve::sampled_gaussian(0.5, 1.0).unwrap();
        let v = c.values();
        assert!(
            v[0].is_infinite(),
            "order 1.1 should not converge: {}",
            v[0]
        );
        assert!(v.iter().filter(|x| x.is_finite()).count() > 100);
        // Integer orders always sum finitely.
        let idx = ORDERS.iter().position(|&a| a == 2.0).unwrap();
        assert!(v[idx].is_finite());
    }

    #[test]
    fn extreme_parameters_never_give_nan_or_negative() {
        // Underflowing sigma^2, overflowing sigma^2, subnormal q, q a hair below 1: every value
        // must be a number >= 0 or +inf, never NaN (which would poison comparisons downstream).
        for q in [5e-324, 1e-300, 1e-6, 0.5, 0.99, 1.0 - 1e-16] {
            for s in [1e-300, 1e-10, 0.1, 1.0, 1e8, 1e300, f64::MAX] {
                let c = RdpCurve::sampled_gaussian(q, s).unwrap();
                assert!(
                    c.values().iter().all(|v| *v >= 0.0),
                    "q={q} sigma={s}: {:?}",
                    c.values()
                );
            }
        }
        // sigma^2 underflows to 0: no usable noise, so no guarantee.
        assert_eq!(
            RdpCurve::sampled_gaussian(0.1, 1e-300).unwrap(),
            RdpCurve::infinite()
        );
    }

    #[test]
    fn add_steps_composes_linearly() {
        let p = RdpCurve::sampled_gaussian(0.01, 1.0).unwrap();
        let mut c = RdpCurve::zero();
        c.add_steps(&p, 3);
        for (x, y) in c.values().iter().zip(p.values()) {
            assert_eq!(*x, 3.0 * y);
        }
        let mut inf = RdpCurve::zero();
        inf.add_steps(&RdpCurve::infinite(), 0);
        assert_eq!(inf, RdpCurve::zero());
    }
}
