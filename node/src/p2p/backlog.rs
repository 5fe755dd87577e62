//! Connection and listen events waiting for room in the node's queue: never dropped, and
//! bounded because a connect cancels a pending disconnect of the same peer and vice versa.

use super::service::NetworkEvent;
use std::collections::VecDeque;

/// Pending control events, oldest first.
///
/// Per peer, connects and disconnects alternate; a pending one followed by its opposite is a
/// no-op for the node (whose peer set ends where it started), so both go. What stays pending is
/// then at most one event per peer whose state the node has not seen yet, plus the listen
/// addresses, bounded by the connection limits rather than by connection churn.
#[derive(Debug, Default)]
pub(super) struct ControlBacklog {
    queue: VecDeque<NetworkEvent>,
}

impl ControlBacklog {
    /// Queue `event`, cancelling its pending opposite if there is one.
    pub(super) fn push(&mut self, event: NetworkEvent) {
        let opposite = self.queue.iter().position(|e| match (&event, e) {
            (NetworkEvent::Connected(p), NetworkEvent::Disconnected(q))
            | (NetworkEvent::Disconnected(p), NetworkEvent::Connected(q)) => p == q,
            _ => false,
        });
        match opposite {
            Some(i) => {
                self.queue.remove(i);
            }
            None => self.queue.push_back(event),
        }
    }

    /// The oldest pending event.
    pub(super) fn pop(&mut self) -> Option<NetworkEvent> {
        self.queue.pop_front()
    }

    /// Put back an event that found no room, in front.
    pub(super) fn unpop(&mut self, event: NetworkEvent) {
        self.queue.push_front(event);
    }

    /// Whether nothing is pending.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Forget everything (the node stopped listening).
    pub(super) fn clear(&mut self) {
        self.queue.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::PeerId;

    #[test]
    fn churn_of_one_peer_leaves_at_most_one_pending_event() {
        let mut b = ControlBacklog::default();
        let (p, q) = (PeerId::random(), PeerId::random());
        b.push(NetworkEvent::Connected(q));
        for _ in 0..1000 {
            b.push(NetworkEvent::Connected(p));
            b.push(NetworkEvent::Disconnected(p));
        }
        assert_eq!(b.len(), 1, "connect/disconnect pairs of p cancel out");
        b.push(NetworkEvent::Connected(p));
        b.push(NetworkEvent::Listening(
            "/ip4/127.0.0.1/tcp/1".parse().unwrap(),
        ));
        b.push(NetworkEvent::Disconnected(q));
        // q's connect and disconnect cancelled; p's connect and the address remain, in order.
        assert_eq!(b.len(), 2);
        assert!(matches!(b.pop(), Some(NetworkEvent::Connected(x)) if x == p));
        let e = b.pop();
        assert!(matches!(e, Some(NetworkEvent::Listening(_))));
        b.unpop(e.unwrap());
        assert!(!b.is_empty());
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn a_disconnect_after_a_delivered_connect_is_kept() {
        let mut b = ControlBacklog::default();
        let p = PeerId::random();
        b.push(NetworkEvent::Connected(p));
        assert!(b.pop().is_some()); // delivered
        b.push(NetworkEvent::Disconnected(p));
        assert!(matches!(b.pop(), Some(NetworkEvent::Disconnected(x)) if x == p));
    }
}
