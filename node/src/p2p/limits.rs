//! Connection, stream and queue limits of the network layer, and the load-shedding counters.

use libp2p::connection_limits::ConnectionLimits;
use libp2p::request_response::InboundRequestId;
use libp2p::PeerId;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

/// Established connections per peer: one each way, so two peers dialling each other at the same
/// moment both succeed.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;
/// Incoming connections still in their handshake (TCP + noise + yamux).
pub const MAX_PENDING_INCOMING: u32 = 64;
/// Outgoing dials under way (bootstrap peers and redials).
pub const MAX_PENDING_OUTGOING: u32 = 128;
/// Established incoming connections: a 100-member consortium (each member dials some of the
/// others) plus auditors and joiners fits with room.
pub const MAX_ESTABLISHED_INCOMING: u32 = 256;
/// Established connections in total.
pub const MAX_ESTABLISHED: u32 = 512;

/// Fetch streams (inbound and outbound share the budget) per connection. Above the node's own
/// outbound fetches to one peer (16 blobs and one block range) plus [`MAX_INBOUND_FETCHES_PER_PEER`],
/// so streams are refused by this cap only when the peer ignores ours.
pub const MAX_FETCH_STREAMS_PER_CONNECTION: usize = 48;
/// Inbound streams being negotiated per connection (before a protocol handler owns them). With
/// the per-protocol caps this bounds the streams, and so the yamux receive buffers (256 KiB of
/// unread data each at most), of one connection.
pub const MAX_NEGOTIATING_STREAMS: usize = 16;
/// Fetch requests received and not yet answered, over all peers: bounds the memory held by
/// responses in flight (each up to [`super::MAX_RESPONSE_BYTES`], an update blob in practice).
pub const MAX_INBOUND_FETCHES: usize = 64;
/// Fetch requests received and not yet answered from one peer, so one peer cannot take every
/// slot of [`MAX_INBOUND_FETCHES`].
pub const MAX_INBOUND_FETCHES_PER_PEER: usize = 24;
/// Events queued for the node (gossip awaiting validation, fetch requests). When the node falls
/// behind this far, new gossip and fetches are shed rather than waited for.
pub const EVENT_QUEUE: usize = 1024;
/// Commands queued for the network task.
pub const COMMAND_QUEUE: usize = 1024;

/// The connection limits above, for `libp2p::connection_limits`.
pub(super) fn limits_config() -> ConnectionLimits {
    ConnectionLimits::default()
        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
        .with_max_pending_outgoing(Some(MAX_PENDING_OUTGOING))
        .with_max_established_incoming(Some(MAX_ESTABLISHED_INCOMING))
        .with_max_established(Some(MAX_ESTABLISHED))
}

/// Counts of inputs the network layer shed under load, by reason. Shared by the network task,
/// the node's fetch-serving pool and the status listener.
#[derive(Debug, Default)]
pub struct NetworkStats {
    overload_gossip: AtomicU64,
    overload_fetch: AtomicU64,
}

impl NetworkStats {
    /// Gossip messages reported `Ignore` unseen because the node's queue was full.
    pub fn overload_gossip(&self) -> u64 {
        self.overload_gossip.load(Ordering::Relaxed)
    }

    /// Fetch requests dropped unanswered because the node or its serving pool was full.
    pub fn overload_fetch(&self) -> u64 {
        self.overload_fetch.load(Ordering::Relaxed)
    }

    /// Count a gossip message shed.
    pub fn count_overload_gossip(&self) {
        self.overload_gossip.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a fetch request shed (also by the node's serving pool).
    pub fn count_overload_fetch(&self) {
        self.overload_fetch.fetch_add(1, Ordering::Relaxed);
    }

    /// Every count with its reject reason, as `/metrics` shows them.
    pub fn reasons(&self) -> [(&'static str, u64); 2] {
        [
            ("overload-gossip", self.overload_gossip()),
            ("overload-fetch", self.overload_fetch()),
        ]
    }
}

/// Inbound fetch requests admitted and not yet answered (or failed), per peer and in total.
/// Keyed by the request id (generic so the accounting is testable without a swarm).
#[derive(Debug)]
pub(super) struct InboundFetches<K = InboundRequestId> {
    by_request: HashMap<K, PeerId>,
    by_peer: HashMap<PeerId, usize>,
}

impl<K> Default for InboundFetches<K> {
    fn default() -> Self {
        InboundFetches {
            by_request: HashMap::new(),
            by_peer: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq> InboundFetches<K> {
    /// Take a slot for `request` from `peer`; false if the peer or everyone is at the cap.
    pub(super) fn admit(&mut self, peer: PeerId, request: K) -> bool {
        let of_peer = self.by_peer.get(&peer).copied().unwrap_or(0);
        if self.by_request.len() >= MAX_INBOUND_FETCHES || of_peer >= MAX_INBOUND_FETCHES_PER_PEER {
            return false;
        }
        self.by_request.insert(request, peer);
        *self.by_peer.entry(peer).or_default() += 1;
        true
    }

    /// Free the slot of `request` (answered, failed, or never admitted: then nothing happens).
    pub(super) fn release(&mut self, request: &K) {
        let Some(peer) = self.by_request.remove(request) else {
            return;
        };
        if let Some(n) = self.by_peer.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_peer.remove(&peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_show_under_their_reasons() {
        let s = NetworkStats::default();
        s.count_overload_gossip();
        s.count_overload_fetch();
        s.count_overload_fetch();
        assert_eq!(s.reasons(), [("overload-gossip", 1), ("overload-fetch", 2)]);
    }

    #[test]
    fn inbound_fetches_are_capped_per_peer_and_in_total_and_slots_come_back() {
        let mut f = InboundFetches::<u64>::default();
        let a = PeerId::random();
        let mut id = 0u64;
        for _ in 0..MAX_INBOUND_FETCHES_PER_PEER {
            id += 1;
            assert!(f.admit(a, id));
        }
        assert!(!f.admit(a, 9999), "one peer is capped");
        // Unknown ids (requests that were never admitted) free nothing.
        f.release(&9999);
        assert!(!f.admit(a, 9999));
        f.release(&1);
        assert!(f.admit(a, 10_000), "an answered request frees its slot");
        // Other peers fill the rest, up to the total cap.
        let mut admitted = MAX_INBOUND_FETCHES_PER_PEER;
        while admitted < MAX_INBOUND_FETCHES {
            id += 1;
            assert!(f.admit(PeerId::random(), 100_000 + id));
            admitted += 1;
        }
        assert!(!f.admit(PeerId::random(), 1), "the total is capped");
        f.release(&10_000);
        assert!(f.admit(PeerId::random(), 1));
        assert_eq!(f.by_request.len(), MAX_INBOUND_FETCHES);
    }
}
