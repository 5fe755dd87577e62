//! The validator set in force at each height: genesis members plus recorded joins, minus leaves,
//! each taking effect at its recorded effective height.

use crate::block::{MembershipAction, MembershipChange};
use crate::genesis::{self, Genesis};
use crate::identity::OrgId;
use std::collections::BTreeMap;

/// Recorded changes not in force yet: effective height, then (org, join) in ledger order.
pub type Pending = Vec<(u64, Vec<(OrgId, bool)>)>;

/// Tracks who validates at the next height and which changes are pending.
#[derive(Debug, Clone)]
pub struct ValidatorSet {
    f: u32,
    current: Vec<OrgId>,
    /// effective height -> changes taking effect then (in ledger order).
    pending: BTreeMap<u64, Vec<(OrgId, bool)>>,
}

impl ValidatorSet {
    /// The founding set.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        ValidatorSet {
            f: genesis.f,
            current: genesis.member_ids(),
            pending: BTreeMap::new(),
        }
    }

    /// The set as plain data: in force (sorted) and pending by effective height.
    pub(super) fn parts(&self) -> (Vec<OrgId>, Pending) {
        let pending = self.pending.iter().map(|(h, c)| (*h, c.clone())).collect();
        (self.current.clone(), pending)
    }

    /// Rebuild from [`Self::parts`]; `current` must be sorted and free of repeats.
    pub(super) fn from_parts(f: u32, current: Vec<OrgId>, pending: Pending) -> Option<Self> {
        if current.windows(2).any(|w| w[0] >= w[1]) {
            return None;
        }
        Some(ValidatorSet {
            f,
            current,
            pending: pending.into_iter().collect(),
        })
    }

    /// Validators in force, sorted by id.
    pub fn members(&self) -> &[OrgId] {
        &self.current
    }

    /// Whether `org` is in force.
    pub fn contains(&self, org: &OrgId) -> bool {
        self.current.binary_search(org).is_ok()
    }

    /// Votes needed for a certificate.
    pub fn quorum(&self) -> usize {
        genesis::quorum(self.current.len(), self.f)
    }

    /// Whether `org` validates at `height` (at or after the next height), counting only the
    /// changes recorded so far: the last recorded change for `org` effective by then decides.
    pub fn contains_at(&self, org: &OrgId, height: u64) -> bool {
        let mut inside = self.contains(org);
        for (o, join) in self.pending.range(..=height).flat_map(|(_, c)| c) {
            if o == org {
                inside = *join;
            }
        }
        inside
    }

    /// Size of the set at `height` (at or after the next height), counting only the changes
    /// recorded so far.
    pub fn len_at(&self, height: u64) -> usize {
        let mut at = self.clone();
        at.advance_to(height);
        at.current.len()
    }

    /// Votes needed for a certificate at `height`, counting only the changes recorded so far.
    pub fn quorum_at(&self, height: u64) -> usize {
        genesis::quorum(self.len_at(height), self.f)
    }

    /// Leader of `(height, view)`: `members[(height + view) mod n]`.
    pub fn leader(&self, height: u64, view: u64) -> Option<OrgId> {
        let n = self.current.len() as u64;
        if n == 0 {
            return None;
        }
        let i = height.wrapping_add(view) % n;
        self.current.get(usize::try_from(i).ok()?).copied()
    }

    /// Whether `org` has a join or leave waiting to take effect.
    pub fn is_pending(&self, org: &OrgId) -> bool {
        self.pending.values().flatten().any(|(o, _)| o == org)
    }

    /// Size of the set once every pending change has taken effect.
    pub fn size_after_pending(&self) -> usize {
        let mut n = self.current.len() as i64;
        for (_, join) in self.pending.values().flatten() {
            n += if *join { 1 } else { -1 };
        }
        usize::try_from(n.max(0)).unwrap_or(0)
    }

    /// Record a change from a verified block; it takes effect at `change.effective_height`.
    pub fn schedule(&mut self, change: &MembershipChange) {
        let join = matches!(change.request.action, MembershipAction::Join { .. });
        self.pending
            .entry(change.effective_height)
            .or_default()
            .push((change.request.subject, join));
    }

    /// Apply every change effective at or before `height` (call when moving to `height`).
    pub fn advance_to(&mut self, height: u64) {
        let due: Vec<u64> = self.pending.range(..=height).map(|(h, _)| *h).collect();
        for h in due {
            for (org, join) in self.pending.remove(&h).unwrap_or_default() {
                match (join, self.current.binary_search(&org)) {
                    (true, Err(pos)) => self.current.insert(pos, org),
                    (false, Ok(pos)) => {
                        self.current.remove(pos);
                    }
                    _ => {}
                }
            }
        }
    }
}
