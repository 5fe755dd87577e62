//! `vote-flood`: fresh peer ids (peer ids cost nothing) that gossip far-future and next-height
//! votes and proposals signed by their own, non-member keys.

use crate::consensus::{Message, Proposal, SignedVote, VoteKind};
use crate::daemon::wire::{Envelope, Gossip};
use crate::p2p::{NetworkConfig, NetworkEvent, NetworkService};
use fedledger_ledger::block::BlockPlan;
use fedledger_ledger::{Digest, OrgKey};
use libp2p::gossipsub::MessageAcceptance;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// How many fresh peer ids flood.
pub const FLOOD_PEERS: usize = 50;
/// How often each publishes a burst.
const BURST_EVERY: Duration = Duration::from_millis(250);

/// The running flooders.
#[derive(Debug)]
pub struct Flood {
    height: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Flood {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Flood {
    /// Start `peers` swarms with fresh keys, dialling `bootstrap`, on the chain's topic.
    pub fn start(chain_id: Digest, bootstrap: &[String], peers: usize) -> Flood {
        let height = Arc::new(AtomicU64::new(1));
        let bootstrap: Vec<libp2p::Multiaddr> =
            bootstrap.iter().filter_map(|a| a.parse().ok()).collect();
        let mut tasks = Vec::with_capacity(peers);
        for i in 0..peers {
            let key = OrgKey::generate(format!("flood-{i}"));
            let cfg = NetworkConfig {
                listen: vec![],
                bootstrap: bootstrap.clone(),
                topic: format!("fedledger/{}", chain_id.to_hex()),
                heartbeat: Duration::from_millis(500),
                redial_every: Duration::from_secs(2),
            };
            let (service, handle, mut events) = match NetworkService::new(&key, cfg) {
                Ok(s) => s,
                Err(e) => {
                    warn!(target: "fedledger::node", error = %e, "ADVERSARY vote-flood: a flooder could not start");
                    continue;
                }
            };
            let height = height.clone();
            tasks.push(tokio::spawn(async move {
                tokio::spawn(service.run());
                let mut burst = tokio::time::interval(BURST_EVERY);
                let mut nonce = rand::random::<u64>();
                loop {
                    tokio::select! {
                        ev = events.recv() => match ev {
                            // Everything it hears is ignored (and never forwarded).
                            Some(NetworkEvent::Gossip { id, source, .. }) => {
                                let _ = handle.report_validation(id, source, MessageAcceptance::Ignore).await;
                            }
                            Some(_) => {}
                            None => break,
                        },
                        _ = burst.tick() => {
                            let h = height.load(Ordering::Relaxed);
                            for m in burst_messages(&key, &chain_id, h) {
                                nonce = nonce.wrapping_add(1);
                                let bytes = Envelope { nonce, body: Gossip::Consensus(m) }.encode();
                                let _ = handle.publish(bytes).await;
                            }
                        }
                    }
                }
            }));
        }
        warn!(target: "fedledger::node", peers, "ADVERSARY vote-flood: fresh peer ids flooding");
        Flood { height, tasks }
    }

    /// The height the honest nodes are at (the flood aims just past it and far beyond).
    pub fn set_height(&self, h: u64) {
        self.height.store(h, Ordering::Relaxed);
    }
}

/// One burst: next-height votes (the buffer a node keeps for the next height), far-future
/// votes (sync triggers), and far-future proposals, all signed by a non-member.
fn burst_messages(key: &OrgKey, chain_id: &Digest, h: u64) -> Vec<Message> {
    let mut out = Vec::with_capacity(8);
    for k in 0..3u64 {
        out.push(Message::Vote(SignedVote::sign(
            VoteKind::Notarize,
            h + 1,
            k,
            Digest::of(&rand::random::<[u8; 8]>()),
            key,
            chain_id,
        )));
        out.push(Message::Vote(SignedVote::sign(
            VoteKind::Finalize,
            h + 1000 + k,
            0,
            Digest::of(&rand::random::<[u8; 8]>()),
            key,
            chain_id,
        )));
    }
    let (header, entries) = BlockPlan {
        chain_id: *chain_id,
        height: h + 500,
        view: 0,
        prev_hash: Digest::of(&h.to_le_bytes()),
        model_hash: Digest::ZERO,
        proposer: key.id(),
        timestamp_ms: 0,
    }
    .seal(vec![]);
    out.push(Message::Propose(Box::new(Proposal::sign(
        header, entries, key,
    ))));
    out
}
