//! RDP to (epsilon, delta): the Balle et al. 2020 bound, minimised over orders, as dp-accounting.

use super::orders::{NUM_ORDERS, ORDER_ARRAY};
use super::rdp::RdpCurve;
use crate::error::LedgerError;

/// Orders at or below this are skipped: the bound is numerically unstable as alpha -> 1
/// (dp-accounting's cut-off).
const MIN_USABLE_ORDER: f64 = 1.01;

/// An (epsilon, delta) guarantee's epsilon and the order that achieved it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpsilonAt {
    /// The smallest epsilon over all orders (`+inf` if no order gives a finite bound).
    pub epsilon: f64,
    /// The order achieving it (the first such order on ties; the first order if all are infinite).
    pub order: f64,
}

/// Converts curves to epsilon at one fixed delta.
///
/// For order `a > 1.01` and RDP `r`:
/// `epsilon = r + ln(1 - 1/a) - ln(delta a) / (a - 1)` (Balle et al. 2020, Prop. 12 as used by
/// dp-accounting), except that `epsilon = 0` when `delta^2 + expm1(-r) > 0` (the KL bound).
/// The delta-dependent terms are precomputed, so a conversion is two adds and a compare per order.
#[derive(Debug, Clone)]
pub struct Converter {
    delta: f64,
    /// `ln(1 - 1/a)`, added first (dp-accounting's evaluation order).
    log1p_term: [f64; NUM_ORDERS],
    /// `ln(delta a) / (a - 1)`, subtracted second; NaN marks an unusable order (a <= 1.01).
    delta_term: [f64; NUM_ORDERS],
    /// No curve value at or above this can satisfy the KL condition, so only smaller ones need the
    /// exact `expm1` test.
    kl_bound: f64,
}

impl Converter {
    /// Precomputes the conversion at `delta`.
    ///
    /// # Errors
    /// [`LedgerError::InvalidInput`] unless `0 < delta < 1`.
    pub fn new(delta: f64) -> Result<Self, LedgerError> {
        if !(delta > 0.0 && delta < 1.0) {
            return Err(LedgerError::InvalidInput {
                what: "delta",
                reason: format!("{delta} is not in (0, 1)"),
            });
        }
        let mut log1p_term = [0.0; NUM_ORDERS];
        let mut delta_term = [f64::NAN; NUM_ORDERS];
        for (k, &a) in ORDER_ARRAY.iter().enumerate() {
            if a > MIN_USABLE_ORDER {
                log1p_term[k] = libm::log1p(-1.0 / a);
                delta_term[k] = libm::log(delta * a) / (a - 1.0);
            }
        }
        // delta^2 + expm1(-r) > 0 means exp(-r) > 1 - delta^2, i.e. r < -ln(1 - delta^2). Twice
        // that is far outside any rounding of expm1, so above it the test is surely false.
        let kl_bound = 2.0 * -libm::log1p(-(delta * delta));
        Ok(Self {
            delta,
            log1p_term,
            delta_term,
            kl_bound,
        })
    }

    /// The delta this converter was built for.
    pub fn delta(&self) -> f64 {
        self.delta
    }

    /// The best epsilon over all orders for `curve` at this converter's delta.
    pub fn epsilon(&self, curve: &RdpCurve) -> EpsilonAt {
        let values = curve.array();
        let mut best = f64::INFINITY;
        let mut best_k = 0;
        let terms = self.log1p_term.iter().zip(self.delta_term.iter());
        for (k, (&r, (&add, &sub))) in values.iter().zip(terms).enumerate() {
            let eps = if r < self.kl_bound && self.delta * self.delta + libm::expm1(-r) > 0.0 {
                0.0
            } else {
                // Unusable orders carry NaN and infinite curve values give +inf; neither compares
                // below `best`.
                (r + add) - sub
            };
            if eps < best {
                best = eps;
                best_k = k;
            }
        }
        EpsilonAt {
            epsilon: best.max(0.0),
            order: ORDER_ARRAY[best_k],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formula evaluated directly, order by order, as dp-accounting's `compute_epsilon` does.
    fn reference(curve: &RdpCurve, delta: f64) -> EpsilonAt {
        let mut eps = Vec::new();
        for (&a, &r) in ORDER_ARRAY.iter().zip(curve.values()) {
            let e = if delta * delta + libm::expm1(-r) > 0.0 {
                0.0
            } else if a > 1.01 {
                r + libm::log1p(-1.0 / a) - libm::log(delta * a) / (a - 1.0)
            } else {
                f64::INFINITY
            };
            eps.push(e);
        }
        let mut k = 0;
        for (i, e) in eps.iter().enumerate() {
            if *e < eps[k] {
                k = i;
            }
        }
        EpsilonAt {
            epsilon: eps[k].max(0.0),
            order: ORDER_ARRAY[k],
        }
    }

    #[test]
    fn matches_the_direct_formula_bit_for_bit() {
        for (q, s, steps) in [(0.01, 1.0, 1000), (0.2, 3.0, 10), (0.001, 0.8, 50_000)] {
            let mut c = RdpCurve::zero();
            c.add_steps(&RdpCurve::sampled_gaussian(q, s).unwrap(), steps);
            for delta in [1e-5, 1e-9, 0.3] {
                let a = Converter::new(delta).unwrap().epsilon(&c);
                let b = reference(&c, delta);
                assert_eq!(a.epsilon.to_bits(), b.epsilon.to_bits());
                assert_eq!(a.order, b.order);
            }
        }
    }

    #[test]
    fn zero_and_infinite_curves() {
        let conv = Converter::new(1e-5).unwrap();
        let z = conv.epsilon(&RdpCurve::zero());
        assert_eq!(z.epsilon, 0.0);
        assert_eq!(z.order, ORDER_ARRAY[0]);
        let inf = conv.epsilon(&RdpCurve::infinite());
        assert_eq!(inf.epsilon, f64::INFINITY);
        assert_eq!(inf.order, ORDER_ARRAY[0]);
    }

    #[test]
    fn kl_branch_gives_zero_for_tiny_rdp() {
        // r just below -ln(1 - delta^2) gives epsilon 0 through the KL condition; far above it
        // does not.
        let delta = 0.1;
        let conv = Converter::new(delta).unwrap();
        let mut tiny = RdpCurve::zero();
        tiny.add_steps(&RdpCurve::sampled_gaussian(1.0, 1000.0).unwrap(), 1);
        assert_eq!(conv.epsilon(&tiny).epsilon, 0.0);
        assert_eq!(conv.epsilon(&tiny), reference(&tiny, delta));
    }

    #[test]
    fn bad_delta_is_rejected() {
        for d in [0.0, 1.0, -1e-5, f64::NAN, 2.0] {
            assert!(matches!(
                Converter::new(d),
                Err(LedgerError::InvalidInput { what: "delta", .. })
            ));
        }
    }
}
