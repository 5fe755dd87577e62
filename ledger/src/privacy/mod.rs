//! TEMPORARY accountant (integer orders only) until the full one from branch `accountant` merges.

use crate::error::LedgerError;

/// Orders.
pub const ORDERS: &[f64] = &[2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 16.0, 32.0, 64.0];

/// RDP per order.
#[derive(Debug, Clone, PartialEq)]
pub struct RdpCurve(Vec<f64>);

/// Epsilon and the order achieving it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpsilonAt {
    /// Epsilon.
    pub epsilon: f64,
    /// Order.
    pub order: f64,
}

impl RdpCurve {
    /// Zero.
    pub fn zero() -> Self {
        RdpCurve(vec![0.0; ORDERS.len()])
    }
    /// One step.
    pub fn sampled_gaussian(q: f64, sigma: f64) -> Result<Self, LedgerError> {
        if !(0.0..=1.0).contains(&q) || sigma.is_nan() || sigma < 0.0 {
            return Err(LedgerError::InvalidInput {
                what: "dp",
                reason: "bad q or sigma".into(),
            });
        }
        Ok(RdpCurve(
            ORDERS
                .iter()
                .map(|&a| {
                    if sigma == 0.0 {
                        return f64::INFINITY;
                    }
                    if q == 0.0 {
                        return 0.0;
                    }
                    let n = a as u64;
                    let mut acc = f64::NEG_INFINITY;
                    for i in 0..=n {
                        let i_f = i as f64;
                        let lb = libm::lgamma(a + 1.0)
                            - libm::lgamma(i_f + 1.0)
                            - libm::lgamma(a - i_f + 1.0);
                        let s = lb
                            + i_f * libm::log(q)
                            + (a - i_f) * libm::log1p(-q)
                            + (i_f * i_f - i_f) / (2.0 * sigma * sigma);
                        let (hi, lo) = if acc > s { (acc, s) } else { (s, acc) };
                        acc = if lo == f64::NEG_INFINITY {
                            hi
                        } else {
                            hi + libm::log1p(libm::exp(lo - hi))
                        };
                    }
                    acc / (a - 1.0)
                })
                .collect(),
        ))
    }
    /// Add steps.
    pub fn add_steps(&mut self, per_step: &RdpCurve, steps: u64) {
        for (a, b) in self.0.iter_mut().zip(&per_step.0) {
            *a += b * steps as f64;
        }
    }
    /// Values.
    pub fn values(&self) -> &[f64] {
        &self.0
    }
}

/// Converter.
#[derive(Debug, Clone)]
pub struct Converter {
    delta: f64,
}

impl Converter {
    /// New.
    pub fn new(delta: f64) -> Result<Self, LedgerError> {
        Ok(Converter { delta })
    }
    /// Epsilon.
    pub fn epsilon(&self, c: &RdpCurve) -> EpsilonAt {
        let mut best = EpsilonAt {
            epsilon: f64::INFINITY,
            order: 0.0,
        };
        for (&a, &r) in ORDERS.iter().zip(&c.0) {
            let e = r + libm::log1p(-1.0 / a) - libm::log(self.delta * a) / (a - 1.0);
            if e < best.epsilon {
                best = EpsilonAt {
                    epsilon: e.max(0.0),
                    order: a,
                };
            }
        }
        best
    }
}

/// Epsilon of a schedule.
pub fn epsilon(rounds: &[crate::block::DpSpend], delta: f64) -> Result<EpsilonAt, LedgerError> {
    let mut c = RdpCurve::zero();
    for r in rounds {
        c.add_steps(
            &RdpCurve::sampled_gaussian(r.sampling_rate, r.noise_multiplier)?,
            r.steps,
        );
    }
    Ok(Converter::new(delta)?.epsilon(&c))
}
