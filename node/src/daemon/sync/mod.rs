//! Catch-up: asking peers for the blocks past our tip without letting a lying or slow peer stall
//! the node. See "Catching up" in docs/node-protocol.md.

mod check;
mod peers;

pub use check::{check_blocks, check_next, check_raw, Checked, SyncFault};
pub use peers::{SyncPeers, LIAR_BACKOFF, MAX_BACKOFF, SLOW_BACKOFF};

use super::driver::{Internal, Node, TARGET};
use crate::p2p::{org_of_peer, peer_of_org, FetchRequest, FetchResponse, NetworkHandle};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::OrgId;
use libp2p::PeerId;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// Shortest sync timeout, whatever `network.fetch_timeout_ms` says (unless it is shorter).
pub const MIN_SYNC_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest sync timeout: a batch of blocks is far smaller than an update blob, and a slow peer
/// must not hold the only sync slot for long.
pub const MAX_SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// The per-request sync timeout derived from the blob fetch timeout: a quarter of it, within
/// [`MIN_SYNC_TIMEOUT`]..=[`MAX_SYNC_TIMEOUT`], and never longer than the fetch timeout itself.
pub fn sync_timeout(fetch_timeout: Duration) -> Duration {
    (fetch_timeout / 4)
        .clamp(MIN_SYNC_TIMEOUT, MAX_SYNC_TIMEOUT)
        .min(fetch_timeout)
}

/// What a finished sync attempt tells the event loop.
#[derive(Debug)]
pub(super) struct SyncReport {
    peer: PeerId,
    /// Blocks asked for and blocks that verified.
    asked: u32,
    got: usize,
    fault: Option<SyncFault>,
}

/// Ask `peer` for at most `max` blocks after `state`'s tip and check them against `state` on a
/// blocking worker thread. The timeout covers the network round trip only; checking is our own
/// work and bounded by the response size limit.
pub async fn fetch_checked(
    net: &NetworkHandle,
    peer: PeerId,
    mut state: ChainState,
    max: u32,
    timeout: Duration,
) -> Checked {
    let from = state.height().saturating_add(1);
    let failed = |fault| Checked {
        blocks: Vec::new(),
        fault: Some(fault),
    };
    let raw =
        match tokio::time::timeout(timeout, net.fetch(peer, FetchRequest::Blocks { from, max }))
            .await
        {
            Err(_) => return failed(SyncFault::Timeout),
            Ok(Err(e)) => return failed(SyncFault::Unreachable(e.to_string())),
            Ok(Ok(FetchResponse::Blocks(raw))) => raw,
            Ok(Ok(_)) => {
                return failed(SyncFault::Malformed(
                    "a blob, manifest or chunk for a block request".into(),
                ))
            }
        };
    if raw.is_empty() {
        return Checked {
            blocks: Vec::new(),
            fault: None,
        };
    }
    tokio::task::spawn_blocking(move || check_raw(&mut state, &raw, max))
        .await
        .unwrap_or_else(|e| failed(SyncFault::Malformed(format!("checking failed: {e}"))))
}

impl Node {
    /// Start a sync unless one is in flight: from `to`'s node if it is connected and not backed
    /// off, otherwise from the next eligible connected peer. Only verified blocks come back.
    pub(super) fn start_sync(&mut self, to: Option<OrgId>) {
        let connected: BTreeSet<PeerId> = self
            .peers
            .iter()
            .filter(|p| org_of_peer(p).is_some())
            .copied()
            .collect();
        let preferred = to.and_then(|o| peer_of_org(&o));
        let Some(peer) = self.sync.begin(preferred, &connected, Instant::now()) else {
            return;
        };
        let Some(org) = org_of_peer(&peer) else {
            self.sync.finish(peer, None, Instant::now());
            return;
        };
        let state = self.consensus.chain().clone();
        let max = self.sync.batch();
        let timeout = sync_timeout(self.fetch_timeout());
        let (net, tx) = (self.net.clone(), self.tx.clone());
        debug!(target: TARGET, %peer, from = state.height() + 1, max, "sync");
        tokio::spawn(async move {
            let checked = fetch_checked(&net, peer, state, max, timeout).await;
            let got = checked.blocks.len();
            if got > 0 {
                let _ = tx.send(Internal::Blocks {
                    org,
                    blocks: checked.blocks,
                });
            }
            let _ = tx.send(Internal::SyncDone(SyncReport {
                peer,
                asked: max,
                got,
                fault: checked.fault,
            }));
        });
    }

    /// Free the sync slot, count and back off a failure, and go straight on after a full batch.
    pub(super) fn on_sync_done(&mut self, r: SyncReport) {
        let backoff = self.sync.finish(r.peer, r.fault.as_ref(), Instant::now());
        if let Some(f) = &r.fault {
            self.shared.reject(f.reason());
            let backoff_s = backoff.map_or(0, |b| b.as_secs());
            if f.is_lie() {
                warn!(target: TARGET, peer = %r.peer, reason = f.reason(), kept = r.got, backoff_s, detail = %f, "sync answer dropped");
            } else {
                debug!(target: TARGET, peer = %r.peer, reason = f.reason(), backoff_s, detail = %f, "sync failed");
            }
        }
        let full = r.got > 0 && u32::try_from(r.got).is_ok_and(|g| g >= r.asked);
        if r.fault.is_none() && full {
            // More blocks are likely waiting; the blocks just received were committed before this
            // report (same channel, in order), so the next request starts past them.
            self.start_sync(org_of_peer(&r.peer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_timeout_is_a_bounded_quarter_of_the_fetch_timeout() {
        let ms = Duration::from_millis;
        assert_eq!(sync_timeout(ms(30_000)), ms(5_000));
        assert_eq!(sync_timeout(ms(10_000)), ms(2_500));
        assert_eq!(sync_timeout(ms(2_000)), ms(1_000));
        assert_eq!(sync_timeout(ms(300)), ms(300));
    }
}
