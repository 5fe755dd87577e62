//! The bounded table of membership requests seen on the network and the approvals they gathered.
//!
//! Requests are self-signed, so anyone can make one with a fresh key. The table keeps at most one
//! request per subject and a bounded number of joins; a full table makes room by evicting the
//! join that validators backed least, least recently re-sent by its subject. Leaves (by
//! validators, at most one each) always fit, and requests their subject stopped sending expire.

use fedledger_ledger::block::{MembershipAction, MembershipApproval, MembershipRequest};
use fedledger_ledger::{Digest, OrgId, Signature};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A request seen on the network and its approvals so far.
#[derive(Debug, Clone)]
pub(super) struct PendingRequest {
    pub request: MembershipRequest,
    pub signature: Signature,
    pub approvals: BTreeMap<OrgId, MembershipApproval>,
    /// The operator (or the auto policy) approved it here.
    pub admitted: bool,
    /// When its subject last sent it (subjects re-send theirs every few seconds).
    pub last_seen: Instant,
}

impl PendingRequest {
    fn is_join(&self) -> bool {
        matches!(self.request.action, MembershipAction::Join { .. })
    }
}

/// What [`RequestTable::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inserted {
    /// Known already: its subject is still asking.
    Refreshed,
    /// Added (replacing an older request of the same subject, if any).
    Added,
    /// Added after evicting another subject's join.
    Evicted(OrgId),
    /// Its subject has a newer request pending.
    Superseded,
    /// Full of joins validators approved: nothing to evict.
    Full,
}

/// Membership requests by request hash, bounded (see the module doc).
#[derive(Debug)]
pub(super) struct RequestTable {
    by_hash: BTreeMap<Digest, PendingRequest>,
    max_joins: usize,
    stale_after: Duration,
}

impl RequestTable {
    /// At most `max_joins` join requests; requests not re-sent for `stale_after` expire.
    pub(super) fn new(max_joins: usize, stale_after: Duration) -> Self {
        RequestTable {
            by_hash: BTreeMap::new(),
            max_joins,
            stale_after,
        }
    }

    /// Track a request whose subject signature was verified and which is still open (a leave
    /// is then by a validator). A newer request (higher nonce) of the same subject replaces the
    /// older one and its approvals.
    pub(super) fn insert(
        &mut self,
        request: MembershipRequest,
        signature: Signature,
        now: Instant,
    ) -> Inserted {
        let hash = request.hash();
        if let Some(p) = self.by_hash.get_mut(&hash) {
            p.last_seen = now;
            return Inserted::Refreshed;
        }
        let subject = request.subject;
        if let Some((old, nonce)) = self.of_subject(&subject) {
            if nonce >= request.nonce {
                return Inserted::Superseded;
            }
            self.by_hash.remove(&old);
        }
        let entry = PendingRequest {
            request,
            signature,
            approvals: BTreeMap::new(),
            admitted: false,
            last_seen: now,
        };
        let mut outcome = Inserted::Added;
        if entry.is_join() && self.joins() >= self.max_joins {
            match self.victim() {
                Some(h) => {
                    let gone = self.by_hash.remove(&h).map(|p| p.request.subject);
                    outcome = gone.map_or(Inserted::Added, Inserted::Evicted);
                }
                None => return Inserted::Full,
            }
        }
        self.by_hash.insert(hash, entry);
        outcome
    }

    /// The join to evict for a newcomer: one no validator approved, least recently re-sent
    /// (abandoned junk goes first; a live joiner keeps re-sending its request). Approved ones
    /// are kept: validators vouched for them.
    fn victim(&self) -> Option<Digest> {
        self.by_hash
            .iter()
            .filter(|(_, p)| p.is_join() && p.approvals.is_empty())
            .min_by_key(|(h, p)| (p.last_seen, **h))
            .map(|(h, _)| *h)
    }

    fn of_subject(&self, subject: &OrgId) -> Option<(Digest, u64)> {
        self.by_hash
            .iter()
            .find(|(_, p)| p.request.subject == *subject)
            .map(|(h, p)| (*h, p.request.nonce))
    }

    fn joins(&self) -> usize {
        self.by_hash.values().filter(|p| p.is_join()).count()
    }

    /// Drop requests their subject stopped sending; returns how many.
    pub(super) fn expire(&mut self, now: Instant) -> usize {
        let before = self.by_hash.len();
        let stale_after = self.stale_after;
        self.by_hash
            .retain(|_, p| now.saturating_duration_since(p.last_seen) < stale_after);
        before - self.by_hash.len()
    }

    /// Stop tracking request `hash` (e.g. settled on the chain).
    pub(super) fn remove(&mut self, hash: &Digest) {
        self.by_hash.remove(hash);
    }

    /// The request with hash `hash`.
    pub(super) fn get_mut(&mut self, hash: &Digest) -> Option<&mut PendingRequest> {
        self.by_hash.get_mut(hash)
    }

    /// Whether request `hash` is tracked.
    #[cfg(test)]
    fn contains(&self, hash: &Digest) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Requests by hash.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Digest, &PendingRequest)> {
        self.by_hash.iter()
    }

    /// The requests.
    pub(super) fn values(&self) -> impl Iterator<Item = &PendingRequest> {
        self.by_hash.values()
    }

    /// Requests tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_hash.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedledger_ledger::identity::domain;
    use fedledger_ledger::OrgKey;

    fn key(i: u64) -> OrgKey {
        let mut secret = [0u8; 32];
        secret[..8].copy_from_slice(&i.to_le_bytes());
        secret[31] = 0x77;
        OrgKey::from_secret(secret, format!("k{i}"))
    }

    fn request(k: &OrgKey, action: MembershipAction, nonce: u64) -> (MembershipRequest, Signature) {
        let r = MembershipRequest {
            subject: k.id(),
            action,
            nonce,
        };
        let s = k.sign(domain::MEMBERSHIP_REQUEST, &Digest::ZERO, &r);
        (r, s)
    }

    fn join(k: &OrgKey, nonce: u64) -> (MembershipRequest, Signature) {
        let action = MembershipAction::Join {
            name: k.name.clone(),
            epsilon_max: 1.0,
            schema_hash: Digest::ZERO,
        };
        request(k, action, nonce)
    }

    fn insert(
        t: &mut RequestTable,
        (r, s): (MembershipRequest, Signature),
        at: Instant,
    ) -> Inserted {
        t.insert(r, s, at)
    }

    fn approve(t: &mut RequestTable, r: &MembershipRequest, by: &OrgKey) {
        let p = t.get_mut(&r.hash()).unwrap();
        p.approvals.insert(
            by.id(),
            MembershipApproval {
                approver: by.id(),
                signature: by.sign(domain::MEMBERSHIP_APPROVAL, &Digest::ZERO, &r.hash()),
            },
        );
    }

    const MAX: usize = 64;

    #[test]
    fn a_junk_flood_cannot_lock_out_a_leave_or_a_real_joiner() {
        let t0 = Instant::now();
        let mut t = RequestTable::new(MAX, Duration::from_secs(600));
        for i in 0..MAX as u64 {
            let at = t0 + Duration::from_millis(i);
            assert_eq!(
                insert(&mut t, join(&key(1_000 + i), 1), at),
                Inserted::Added
            );
        }
        let later = t0 + Duration::from_secs(1);
        // A validator's leave fits on top of the joins.
        let member = key(1);
        assert_eq!(
            insert(&mut t, request(&member, MembershipAction::Leave, 1), later),
            Inserted::Added
        );
        // A real joiner evicts the oldest junk.
        let joiner = key(2);
        assert_eq!(
            insert(&mut t, join(&joiner, 1), later),
            Inserted::Evicted(key(1_000).id())
        );
        assert_eq!(t.len(), MAX + 1);
        // The joiner keeps re-sending; a further flood evicts abandoned junk, not its request.
        for i in 0..(2 * MAX) as u64 {
            let at = later + Duration::from_millis(1 + i);
            insert(&mut t, join(&joiner, 1), at);
            assert!(matches!(
                insert(&mut t, join(&key(5_000 + i), 1), at),
                Inserted::Evicted(_)
            ));
        }
        let subjects: Vec<OrgId> = t.iter().map(|(_, p)| p.request.subject).collect();
        assert!(subjects.contains(&joiner.id()) && subjects.contains(&member.id()));
        assert_eq!(t.len(), MAX + 1);
    }

    #[test]
    fn approved_joins_are_kept_and_one_request_per_subject() {
        let t0 = Instant::now();
        let mut t = RequestTable::new(2, Duration::from_secs(600));
        let (a, b, validator) = (key(10), key(11), key(1));
        let (ra, sa) = join(&a, 1);
        assert_eq!(t.insert(ra.clone(), sa, t0), Inserted::Added);
        let (rb, sb) = join(&b, 1);
        assert_eq!(t.insert(rb.clone(), sb, t0), Inserted::Added);
        approve(&mut t, &ra, &validator);
        approve(&mut t, &rb, &validator);
        assert_eq!(insert(&mut t, join(&key(12), 1), t0), Inserted::Full);
        // A newer request replaces its subject's older one; an older one is refused.
        assert_eq!(insert(&mut t, join(&a, 2), t0), Inserted::Added);
        assert_eq!(insert(&mut t, join(&a, 1), t0), Inserted::Superseded);
        let of_a = t
            .iter()
            .filter(|(_, p)| p.request.subject == a.id())
            .count();
        assert_eq!(of_a, 1);
        assert!(!t.contains(&ra.hash()));
    }

    #[test]
    fn requests_their_subject_stopped_sending_expire() {
        let t0 = Instant::now();
        let mut t = RequestTable::new(MAX, Duration::from_secs(60));
        insert(&mut t, join(&key(10), 1), t0);
        insert(&mut t, join(&key(11), 1), t0);
        insert(&mut t, join(&key(11), 1), t0 + Duration::from_secs(50));
        assert_eq!(t.expire(t0 + Duration::from_secs(70)), 1);
        assert_eq!(t.len(), 1);
        let (h, _) = t.iter().next().map(|(h, p)| (*h, p.clone())).unwrap();
        t.remove(&h);
        assert_eq!(t.len(), 0);
    }
}
