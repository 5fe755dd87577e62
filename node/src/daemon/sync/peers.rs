//! Which peer to ask for blocks next: one sync at a time, round-robin, with a backoff per peer.

use super::check::SyncFault;
use libp2p::PeerId;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};
use std::time::{Duration, Instant};

/// Backoff after a first timeout or unreachable peer: it may just be slow or restarting.
pub const SLOW_BACKOFF: Duration = Duration::from_secs(2);
/// Backoff after a first lie (bad block or certificate, gap, malformed answer).
pub const LIAR_BACKOFF: Duration = Duration::from_secs(30);
/// No backoff grows beyond this: a peer may have been restarted with a repaired ledger.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Most peers remembered; the oldest penalty is forgotten first.
const MAX_REMEMBERED: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Penalty {
    /// Not asked again before this.
    until: Instant,
    /// Consecutive failures; each doubles the backoff.
    strikes: u32,
}

/// The sync slot and the memory of which peers failed it.
#[derive(Debug)]
pub struct SyncPeers {
    in_flight: Option<PeerId>,
    /// The peer asked last, so the next choice rotates past it.
    last: Option<PeerId>,
    penalties: BTreeMap<PeerId, Penalty>,
    /// Blocks to ask for: halved after a timeout (a slow link still makes progress with smaller
    /// batches), back to the maximum after an answer.
    batch: u32,
    max_batch: u32,
}

impl SyncPeers {
    /// Nobody penalized, nothing in flight; batches of at most `max_batch` (at least 1) blocks.
    pub fn new(max_batch: u32) -> Self {
        SyncPeers {
            in_flight: None,
            last: None,
            penalties: BTreeMap::new(),
            batch: max_batch.max(1),
            max_batch: max_batch.max(1),
        }
    }

    /// Whether a sync is in flight.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// How many blocks to ask for.
    pub fn batch(&self) -> u32 {
        self.batch
    }

    /// Whether `peer` is serving a backoff at `now`.
    pub fn penalized(&self, peer: &PeerId, now: Instant) -> bool {
        self.penalties.get(peer).is_some_and(|p| now < p.until)
    }

    /// Take the sync slot for a peer: `preferred` if it is connected and not penalized, otherwise
    /// the next eligible connected peer after the one asked last (so a failed peer's successor is
    /// tried next). `None` if a sync is in flight or no peer is eligible.
    pub fn begin(
        &mut self,
        preferred: Option<PeerId>,
        connected: &BTreeSet<PeerId>,
        now: Instant,
    ) -> Option<PeerId> {
        if self.busy() {
            return None;
        }
        let eligible = |p: &&PeerId| !self.penalized(p, now);
        let rotated = self.last.and_then(|l| {
            connected
                .range((Excluded(l), Unbounded))
                .find(eligible)
                .copied()
        });
        let peer = preferred
            .filter(|p| connected.contains(p) && !self.penalized(p, now))
            .or(rotated)
            .or_else(|| connected.iter().find(eligible).copied())?;
        self.in_flight = Some(peer);
        self.last = Some(peer);
        Some(peer)
    }

    /// Release the slot taken for `peer`: forgive it after an answer, or back it off after a
    /// fault. Returns the backoff imposed, if any. A report for another peer (not in flight) is
    /// ignored.
    pub fn finish(
        &mut self,
        peer: PeerId,
        fault: Option<&SyncFault>,
        now: Instant,
    ) -> Option<Duration> {
        if self.in_flight != Some(peer) {
            return None;
        }
        self.in_flight = None;
        let Some(fault) = fault else {
            self.penalties.remove(&peer);
            self.batch = self.max_batch;
            return None;
        };
        if matches!(fault, SyncFault::Timeout) {
            self.batch = (self.batch / 2).max(1);
        }
        let strikes = self
            .penalties
            .get(&peer)
            .map_or(1, |p| p.strikes.saturating_add(1));
        let base = if fault.is_lie() {
            LIAR_BACKOFF
        } else {
            SLOW_BACKOFF
        };
        let backoff = base
            .saturating_mul(1u32 << strikes.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        self.forget_old(now);
        self.penalties.insert(
            peer,
            Penalty {
                until: now + backoff,
                strikes,
            },
        );
        Some(backoff)
    }

    /// Bound the memory: drop penalties long expired, then the soonest-expiring if still full.
    fn forget_old(&mut self, now: Instant) {
        self.penalties
            .retain(|_, p| now.saturating_duration_since(p.until) < MAX_BACKOFF);
        while self.penalties.len() >= MAX_REMEMBERED {
            let Some(oldest) = self
                .penalties
                .iter()
                .min_by_key(|(_, p)| p.until)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.penalties.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> (Vec<PeerId>, BTreeSet<PeerId>) {
        let set: BTreeSet<PeerId> = (0..n).map(|_| PeerId::random()).collect();
        (set.iter().copied().collect(), set)
    }

    fn bad() -> SyncFault {
        SyncFault::Gap {
            expected: 5,
            found: 9,
        }
    }

    #[test]
    fn one_sync_at_a_time() {
        let (ps, set) = peers(3);
        let now = Instant::now();
        let mut s = SyncPeers::new(64);
        assert_eq!(s.begin(Some(ps[1]), &set, now), Some(ps[1]));
        assert!(s.busy());
        assert_eq!(s.begin(None, &set, now), None);
        // A stale report about another peer does not free the slot.
        assert_eq!(s.finish(ps[0], None, now), None);
        assert!(s.busy());
        assert_eq!(s.finish(ps[1], None, now), None);
        assert!(!s.busy());
    }

    #[test]
    fn rotates_through_connected_peers() {
        let (ps, set) = peers(3);
        let now = Instant::now();
        let mut s = SyncPeers::new(64);
        let mut asked = Vec::new();
        for _ in 0..4 {
            let p = s.begin(None, &set, now).unwrap();
            s.finish(p, None, now);
            asked.push(p);
        }
        assert_eq!(asked, vec![ps[0], ps[1], ps[2], ps[0]]);
    }

    #[test]
    fn a_liar_is_skipped_even_when_preferred_until_its_backoff_ends() {
        let (ps, set) = peers(3);
        let t0 = Instant::now();
        let mut s = SyncPeers::new(64);
        assert_eq!(s.begin(Some(ps[0]), &set, t0), Some(ps[0]));
        assert_eq!(s.finish(ps[0], Some(&bad()), t0), Some(LIAR_BACKOFF));
        assert!(s.penalized(&ps[0], t0));
        // Consensus asks for the liar again: another peer is asked instead.
        let next = s.begin(Some(ps[0]), &set, t0).unwrap();
        assert_ne!(next, ps[0]);
        s.finish(next, None, t0);
        for _ in 0..5 {
            let p = s.begin(None, &set, t0).unwrap();
            assert_ne!(p, ps[0]);
            s.finish(p, None, t0);
        }
        let later = t0 + LIAR_BACKOFF;
        assert!(!s.penalized(&ps[0], later));
        assert_eq!(s.begin(Some(ps[0]), &set, later), Some(ps[0]));
    }

    #[test]
    fn backoff_doubles_per_strike_up_to_the_cap_and_resets_on_success() {
        let (_, set) = peers(1);
        let mut now = Instant::now();
        let mut s = SyncPeers::new(64);
        let mut seen = Vec::new();
        for _ in 0..6 {
            let p = s.begin(None, &set, now).unwrap();
            let b = s.finish(p, Some(&bad()), now).unwrap();
            seen.push(b.as_secs());
            now += b;
        }
        assert_eq!(seen, vec![30, 60, 120, 240, 300, 300]);
        let p = s.begin(None, &set, now).unwrap();
        assert_eq!(s.finish(p, None, now), None);
        let p = s.begin(None, &set, now).unwrap();
        assert_eq!(
            s.finish(p, Some(&SyncFault::Timeout), now),
            Some(SLOW_BACKOFF)
        );
    }

    #[test]
    fn no_eligible_peer_means_no_sync() {
        let (ps, set) = peers(2);
        let now = Instant::now();
        let mut s = SyncPeers::new(64);
        for _ in 0..2 {
            let p = s.begin(None, &set, now).unwrap();
            s.finish(p, Some(&SyncFault::Timeout), now);
        }
        assert!(ps.iter().all(|p| s.penalized(p, now)));
        assert_eq!(s.begin(None, &set, now), None);
        assert!(!s.busy());
        assert_eq!(s.begin(None, &BTreeSet::new(), now), None);
    }

    #[test]
    fn timeouts_shrink_the_batch_and_an_answer_restores_it() {
        let (_, set) = peers(1);
        let mut now = Instant::now();
        let mut s = SyncPeers::new(64);
        for want in [32, 16, 8, 4, 2, 1, 1] {
            let p = s.begin(None, &set, now).unwrap();
            now += s.finish(p, Some(&SyncFault::Timeout), now).unwrap();
            assert_eq!(s.batch(), want);
        }
        // A lie does not change the batch; an answer restores it.
        let p = s.begin(None, &set, now).unwrap();
        now += s.finish(p, Some(&bad()), now).unwrap();
        assert_eq!(s.batch(), 1);
        let p = s.begin(None, &set, now).unwrap();
        s.finish(p, None, now);
        assert_eq!(s.batch(), 64);
    }
}
