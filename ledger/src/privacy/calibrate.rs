//! Noise calibration: the smallest noise multiplier that keeps a planned training within budget.

use super::convert::Converter;
use super::rdp::RdpCurve;
use crate::error::LedgerError;

/// Bisection stops when the bracket is narrower than this fraction of its upper end.
const RELATIVE_TOLERANCE: f64 = 1e-5;
/// Largest noise multiplier tried before declaring the target unreachable.
const MAX_SIGMA: f64 = 1_048_576.0; // 2^20
/// Smallest noise multiplier tried before declaring the target meaninglessly loose.
const MIN_SIGMA: f64 = 1.0 / 1_048_576.0; // 2^-20

/// The smallest noise multiplier (to 1e-5 relative, by bisection; the value returned is always on
/// the feasible side) such that `rounds` rounds of `steps_per_round` steps at sampling rate `q`
/// stay within `target_epsilon` at `delta`.
///
/// # Errors
/// [`LedgerError::InvalidInput`] if `q` is not in (0, 1] (at q = 0 nothing is spent and any noise
/// will do), there are no steps or their count overflows, `target_epsilon` is not finite and
/// positive, `delta` is not in (0, 1), or no multiplier in [2^-20, 2^20] brackets the target.
pub fn calibrate_noise(
    q: f64,
    steps_per_round: u64,
    rounds: u64,
    target_epsilon: f64,
    delta: f64,
) -> Result<f64, LedgerError> {
    if !(q > 0.0 && q <= 1.0) {
        return Err(LedgerError::InvalidInput {
            what: "sampling rate",
            reason: format!("{q} is not in (0, 1]; calibration needs something to protect"),
        });
    }
    let steps = steps_per_round
        .checked_mul(rounds)
        .filter(|&s| s > 0)
        .ok_or_else(|| LedgerError::InvalidInput {
            what: "steps",
            reason: format!("{steps_per_round} steps x {rounds} rounds is zero or overflows"),
        })?;
    if !(target_epsilon.is_finite() && target_epsilon > 0.0) {
        return Err(LedgerError::InvalidInput {
            what: "target epsilon",
            reason: format!("{target_epsilon} is not a finite positive number"),
        });
    }
    let converter = Converter::new(delta)?;
    let within = |sigma: f64| -> Result<bool, LedgerError> {
        let mut curve = RdpCurve::zero();
        curve.add_steps(&RdpCurve::sampled_gaussian(q, sigma)?, steps);
        Ok(converter.epsilon(&curve).epsilon <= target_epsilon)
    };

    // Bracket: `lo` over budget, `hi` within it. Epsilon decreases as sigma grows.
    let (mut lo, mut hi) = (1.0_f64, 1.0_f64);
    if within(hi)? {
        loop {
            lo = hi / 2.0;
            if !within(lo)? {
                break;
            }
            hi = lo;
            if hi <= MIN_SIGMA {
                return Err(LedgerError::InvalidInput {
                    what: "target epsilon",
                    reason: format!(
                        "{target_epsilon} is met even with noise multiplier {hi}; nothing to calibrate"
                    ),
                });
            }
        }
    } else {
        loop {
            hi = lo * 2.0;
            if within(hi)? {
                break;
            }
            lo = hi;
            if lo >= MAX_SIGMA {
                return Err(LedgerError::InvalidInput {
                    what: "target epsilon",
                    reason: format!(
                        "{target_epsilon} at delta {delta} is not reachable with noise multiplier \
                         up to {MAX_SIGMA} for q = {q} and {steps} steps"
                    ),
                });
            }
        }
    }
    while hi - lo > RELATIVE_TOLERANCE * hi {
        let mid = lo + (hi - lo) / 2.0;
        if within(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(q: f64, sigma: f64, steps: u64, delta: f64) -> f64 {
        let mut c = RdpCurve::zero();
        c.add_steps(&RdpCurve::sampled_gaussian(q, sigma).unwrap(), steps);
        Converter::new(delta).unwrap().epsilon(&c).epsilon
    }

    #[test]
    fn calibrated_noise_is_tight() {
        let (q, spr, rounds, target, delta) = (0.01, 100, 10, 2.0, 1e-5);
        let sigma = calibrate_noise(q, spr, rounds, target, delta).unwrap();
        assert!(eps(q, sigma, spr * rounds, delta) <= target);
        assert!(eps(q, sigma * (1.0 - 1e-4), spr * rounds, delta) > target);
    }

    #[test]
    fn loose_targets_go_below_one() {
        let sigma = calibrate_noise(0.01, 10, 1, 50.0, 1e-5).unwrap();
        assert!(sigma < 1.0);
        assert!(eps(0.01, sigma, 10, 1e-5) <= 50.0);
    }

    #[test]
    fn invalid_requests_are_rejected() {
        assert!(calibrate_noise(0.0, 10, 10, 1.0, 1e-5).is_err());
        assert!(calibrate_noise(1.5, 10, 10, 1.0, 1e-5).is_err());
        assert!(calibrate_noise(0.1, 0, 10, 1.0, 1e-5).is_err());
        assert!(calibrate_noise(0.1, u64::MAX, 2, 1.0, 1e-5).is_err());
        assert!(calibrate_noise(0.1, 10, 10, 0.0, 1e-5).is_err());
        assert!(calibrate_noise(0.1, 10, 10, f64::INFINITY, 1e-5).is_err());
        assert!(calibrate_noise(0.1, 10, 10, 1.0, 1.0).is_err());
    }
}
