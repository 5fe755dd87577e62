//! A member's running privacy spend: composed RDP curve plus a cache of per-step curves.

use super::cache::RdpCache;
use super::convert::{Converter, EpsilonAt};
use super::rdp::RdpCurve;
use crate::block::DpSpend;
use crate::error::LedgerError;

/// Per-step curves an accountant keeps (members use a handful of settings).
const ACCOUNTANT_CACHE_CAPACITY: usize = 8;

/// One member's cumulative spend over heterogeneous rounds.
///
/// Spends compose in the order they are added: `curve += steps * per_step(q, sigma)`.
#[derive(Debug, Clone)]
pub struct Accountant {
    curve: RdpCurve,
    cache: RdpCache,
}

impl Default for Accountant {
    fn default() -> Self {
        Self::new()
    }
}

impl Accountant {
    /// An accountant that has spent nothing.
    pub fn new() -> Self {
        Self {
            curve: RdpCurve::zero(),
            cache: RdpCache::new(ACCOUNTANT_CACHE_CAPACITY),
        }
    }

    /// Adds one recorded spend.
    ///
    /// # Errors
    /// [`LedgerError::InvalidInput`] for an invalid sampling rate or noise multiplier; the
    /// accountant is unchanged then.
    pub fn spend(&mut self, spend: &DpSpend) -> Result<(), LedgerError> {
        let per_step = self
            .cache
            .get(spend.sampling_rate, spend.noise_multiplier)?;
        self.curve.add_steps(per_step, spend.steps);
        Ok(())
    }

    /// Adds one recorded spend using a shared cache (e.g. an auditor's, across members) instead of
    /// this accountant's own.
    ///
    /// # Errors
    /// As [`Accountant::spend`].
    pub fn spend_with(&mut self, cache: &mut RdpCache, spend: &DpSpend) -> Result<(), LedgerError> {
        let per_step = cache.get(spend.sampling_rate, spend.noise_multiplier)?;
        self.curve.add_steps(per_step, spend.steps);
        Ok(())
    }

    /// The composed curve so far.
    pub fn curve(&self) -> &RdpCurve {
        &self.curve
    }

    /// Epsilon spent so far at `delta`.
    ///
    /// # Errors
    /// [`LedgerError::InvalidInput`] unless `0 < delta < 1`.
    pub fn epsilon(&self, delta: f64) -> Result<EpsilonAt, LedgerError> {
        Ok(Converter::new(delta)?.epsilon(&self.curve))
    }

    /// Epsilon at `delta` if `spend` were added, without adding it (to refuse work that would
    /// cross a cap).
    ///
    /// # Errors
    /// As [`Accountant::spend`] and [`Accountant::epsilon`].
    pub fn epsilon_after(&mut self, spend: &DpSpend, delta: f64) -> Result<EpsilonAt, LedgerError> {
        let converter = Converter::new(delta)?;
        let per_step = self
            .cache
            .get(spend.sampling_rate, spend.noise_multiplier)?;
        let mut next = self.curve.clone();
        next.add_steps(per_step, spend.steps);
        Ok(converter.epsilon(&next))
    }
}

/// Epsilon at `delta` of `rounds` composed in order.
///
/// # Errors
/// [`LedgerError::InvalidInput`] for an invalid spend or delta.
pub fn epsilon(rounds: &[DpSpend], delta: f64) -> Result<EpsilonAt, LedgerError> {
    let converter = Converter::new(delta)?;
    let mut acc = Accountant::new();
    for r in rounds {
        acc.spend(r)?;
    }
    Ok(converter.epsilon(acc.curve()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(q: f64, s: f64, steps: u64) -> DpSpend {
        DpSpend {
            sampling_rate: q,
            noise_multiplier: s,
            steps,
        }
    }

    #[test]
    fn epsilon_after_does_not_spend() {
        let mut acc = Accountant::new();
        acc.spend(&sp(0.01, 1.0, 100)).unwrap();
        let before = acc.epsilon(1e-5).unwrap();
        let after = acc.epsilon_after(&sp(0.01, 1.0, 100), 1e-5).unwrap();
        assert!(after.epsilon > before.epsilon);
        assert_eq!(acc.epsilon(1e-5).unwrap(), before);
        acc.spend(&sp(0.01, 1.0, 100)).unwrap();
        assert_eq!(acc.epsilon(1e-5).unwrap(), after);
    }

    #[test]
    fn rejected_spend_leaves_state_alone() {
        let mut acc = Accountant::new();
        acc.spend(&sp(0.01, 1.0, 100)).unwrap();
        let before = acc.curve().clone();
        assert!(acc.spend(&sp(1.2, 1.0, 100)).is_err());
        assert!(acc.spend(&sp(0.01, -1.0, 100)).is_err());
        assert_eq!(acc.curve(), &before);
        assert!(acc.epsilon(0.0).is_err());
    }

    #[test]
    fn nothing_spent_is_zero_and_no_noise_is_infinite() {
        assert_eq!(epsilon(&[], 1e-5).unwrap().epsilon, 0.0);
        assert_eq!(epsilon(&[sp(0.0, 1.0, 10)], 1e-5).unwrap().epsilon, 0.0);
        assert_eq!(epsilon(&[sp(0.1, 1.0, 0)], 1e-5).unwrap().epsilon, 0.0);
        assert_eq!(
            epsilon(&[sp(0.1, 0.0, 1)], 1e-5).unwrap().epsilon,
            f64::INFINITY
        );
    }

    #[test]
    fn shared_cache_gives_the_same_result() {
        let rounds = [sp(0.02, 1.2, 50), sp(0.05, 0.9, 20), sp(0.02, 1.2, 5)];
        let mut cache = RdpCache::new(4);
        let mut a = Accountant::new();
        let mut b = Accountant::new();
        for r in &rounds {
            a.spend(r).unwrap();
            b.spend_with(&mut cache, r).unwrap();
        }
        assert_eq!(a.curve(), b.curve());
        assert_eq!(cache.len(), 2);
    }
}
