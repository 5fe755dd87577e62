//! A bounded cache of per-step RDP curves keyed by the exact bits of (q, sigma).

use super::rdp::{check_mechanism, RdpCurve};
use crate::error::LedgerError;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

/// Default number of distinct (q, sigma) settings a cache keeps.
pub const DEFAULT_CACHE_CAPACITY: usize = 64;

/// Per-step curves for recently used (q, sigma) settings.
///
/// Members reuse the same settings round after round, so the expensive series is computed once per
/// setting. Eviction is first-in-first-out; it only affects speed, never results (a curve is a pure
/// function of its key).
#[derive(Debug, Clone)]
pub struct RdpCache {
    capacity: usize,
    curves: HashMap<(u64, u64), RdpCurve>,
    /// Keys in insertion order, for eviction.
    order: VecDeque<(u64, u64)>,
}

impl Default for RdpCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl RdpCache {
    /// An empty cache holding at most `capacity` curves (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            // Grown as settings arrive: a verifier's cache is sized for 4096 curves of ~4.5 KiB,
            // and reserving all of it up front cost 18 MiB per `ChainState`, used or not.
            curves: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The per-step curve of the sampled Gaussian mechanism at (q, sigma), computed on a miss.
    ///
    /// # Errors
    /// [`LedgerError::InvalidInput`] for parameters [`RdpCurve::sampled_gaussian`] rejects.
    pub fn get(&mut self, q: f64, sigma: f64) -> Result<&RdpCurve, LedgerError> {
        // Validate first so a bad request cannot evict a good curve.
        check_mechanism(q, sigma)?;
        // +0.0 folds -0.0 into 0.0 so equal settings share one key.
        let key = ((q + 0.0).to_bits(), (sigma + 0.0).to_bits());
        if self.curves.len() >= self.capacity && !self.curves.contains_key(&key) {
            if let Some(old) = self.order.pop_front() {
                self.curves.remove(&old);
            }
        }
        match self.curves.entry(key) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let curve = RdpCurve::sampled_gaussian(q, sigma)?;
                self.order.push_back(key);
                Ok(e.insert(curve))
            }
        }
    }

    /// How many curves are cached.
    pub fn len(&self) -> usize {
        self.curves.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.curves.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_return_the_computed_curve_and_size_is_bounded() {
        let mut cache = RdpCache::new(2);
        let a = cache.get(0.01, 1.0).unwrap().clone();
        assert_eq!(a, RdpCurve::sampled_gaussian(0.01, 1.0).unwrap());
        assert_eq!(cache.get(0.01, 1.0).unwrap(), &a);
        cache.get(0.02, 1.0).unwrap();
        cache.get(0.03, 1.0).unwrap();
        assert_eq!(cache.len(), 2);
        // The evicted entry is recomputed identically.
        assert_eq!(cache.get(0.01, 1.0).unwrap(), &a);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn invalid_settings_are_not_cached() {
        let mut cache = RdpCache::new(4);
        assert!(cache.get(2.0, 1.0).is_err());
        assert!(cache.is_empty());
    }
}
