//! The node's side of the network: judging gossip (Accept, Reject or Ignore, never a panic),
//! serving blobs and blocks, and fetching what it misses.

use super::driver::{Internal, Node, PoolEntry, TARGET};
use super::wire::{Envelope, Gossip};
use crate::consensus::{self, Event, Message, Refusal};
use crate::p2p::{
    peer_of_org, ConsistencyAnswer, FetchRequest, FetchResponse, NetworkEvent, NetworkHandle,
    MAX_BLOCKS_PER_RESPONSE,
};
use fedledger_ledger::block::limits;
use fedledger_ledger::identity::{self, domain};
use fedledger_ledger::{codec, Block, Digest, OrgId};
use libp2p::gossipsub::MessageAcceptance;
use libp2p::PeerId;
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// Most update blobs fetched at once.
const MAX_BLOB_FETCHES: usize = 16;

impl Node {
    pub(super) async fn on_network(&mut self, ev: NetworkEvent) {
        match ev {
            NetworkEvent::Gossip {
                source,
                org,
                id,
                data,
            } => {
                let len = data.len() as u64;
                self.shared.update(|_, c| c.bytes_received += len);
                self.adversary_saw(&data);
                let verdict = self.on_gossip(source, org, &data);
                debug!(target: TARGET, %source, bytes = len, ?verdict, "gossip");
                let _ = self.net.report_validation(id, source, verdict).await;
            }
            NetworkEvent::Fetch {
                peer,
                request,
                channel,
            } => {
                let Some(channel) = self.adversary_fetch(peer, &request, channel) else {
                    return;
                };
                // Served by a bounded pool off this loop (see `serve.rs`); shed if it is full.
                self.fetch_server.serve(&self.net, peer, request, channel);
            }
            NetworkEvent::Connected(p) => {
                debug!(target: TARGET, peer = %p, "peer connected");
                self.peers.insert(p);
            }
            NetworkEvent::Disconnected(p) => {
                debug!(target: TARGET, peer = %p, "peer disconnected");
                self.peers.remove(&p);
            }
            NetworkEvent::Listening(a) => {
                let a = format!("{a}/p2p/{}", self.net.local_peer());
                info!(target: TARGET, address = %a, "listening");
                self.shared.update(|s, _| s.listen.push(a));
            }
        }
    }

    fn on_gossip(&mut self, source: PeerId, org: Option<OrgId>, data: &[u8]) -> MessageAcceptance {
        let env = match Envelope::decode(data) {
            Ok(e) => e,
            Err(e) => {
                self.warn_drop("malformed", &format!("from {source}: {e}"));
                return MessageAcceptance::Reject;
            }
        };
        match env.body {
            Gossip::Announce(c) => self.on_announce(c, Some(source)),
            Gossip::Request { request, signature } => self.on_request(request, signature),
            Gossip::Approval { request, approval } => self.on_approval(request, approval),
            Gossip::Consensus(m) => {
                let Some(from) = org else {
                    self.warn_drop("no-org-identity", &format!("{source}"));
                    return MessageAcceptance::Reject;
                };
                let chain = self.consensus.chain();
                if let Err(r) = consensus::judge(chain, self.consensus.height(), &m) {
                    return self.refuse_consensus(r, &m, source);
                }
                if self.stopped_at_max {
                    return MessageAcceptance::Ignore;
                }
                self.queue.push_back(Event::Message { from, message: m });
                MessageAcceptance::Accept
            }
        }
    }

    /// Count a refused consensus message; a provably bad one penalises the forwarder.
    fn refuse_consensus(&self, r: Refusal, m: &Message, source: PeerId) -> MessageAcceptance {
        let detail = format!("{} at height {} from {source}", m.kind_name(), m.height());
        match r {
            Refusal::Reject(reason) => {
                self.warn_drop(reason, &detail);
                MessageAcceptance::Reject
            }
            Refusal::Ignore(reason) => {
                debug!(target: TARGET, reason, detail, "consensus gossip ignored");
                self.shared.reject(reason);
                MessageAcceptance::Ignore
            }
        }
    }

    /// An update announcement: from a member in force, signed for this chain, for the current
    /// round (or the next, buffered). Repeats are ignored; a second, different update from one
    /// member in one round is rejected as equivocation.
    pub(super) fn on_announce(
        &mut self,
        c: fedledger_ledger::block::UpdateCommitment,
        source: Option<PeerId>,
    ) -> MessageAcceptance {
        let a = &c.announcement;
        if identity::verify(&a.org, domain::UPDATE, &self.chain_id, a, &c.signature).is_err() {
            self.warn_drop(
                "bad-signature",
                &format!("announcement claiming {}", a.org.short()),
            );
            return MessageAcceptance::Reject;
        }
        // Signed is not true: every claim is range-checked before it can reach a pool, a block
        // or a peer (one member's NaN loss once made every leader's block invalid).
        if let Err(e) = limits::check_announcement(a) {
            self.warn_drop(
                e.reason(),
                &format!(
                    "announcement of {} for round {}: {e}",
                    a.org.short(),
                    a.round
                ),
            );
            return MessageAcceptance::Reject;
        }
        let current = self.consensus.height();
        if a.round < current || a.round > current + 1 {
            self.shared.reject("wrong-round");
            debug!(target: TARGET, round = a.round, current, "announcement for another round");
            return MessageAcceptance::Ignore;
        }
        // Next round's validator set may differ (a joiner's first update reaching a node that
        // has not committed the block yet): buffered ones are checked when their round starts.
        if a.round == current && !self.consensus.chain().validators().contains(&a.org) {
            self.warn_drop("non-member", &format!("update from {}", a.org.short()));
            return MessageAcceptance::Reject;
        }
        let entry = PoolEntry {
            commitment: c.clone(),
            source,
        };
        if a.round == current + 1 {
            let buf = self.early.entry(a.round).or_default();
            if buf.len() < 4 * self.consensus.chain().validators().len() {
                buf.push(entry);
            }
            return MessageAcceptance::Accept;
        }
        self.add_to_pool(entry)
    }

    pub(super) fn add_to_pool(&mut self, entry: PoolEntry) -> MessageAcceptance {
        let a = &entry.commitment.announcement;
        if self.model.height + 1 == a.round && a.base_model != self.model.hash {
            self.warn_drop(
                "wrong-base-model",
                &format!("{} trained from {}", a.org.short(), a.base_model.short()),
            );
            return MessageAcceptance::Reject;
        }
        // The spend is a signed claim too: under a genesis `[dp.plan]` it must be the plan for
        // the member's example count, and it must fit the member's cap. Validators would refuse
        // a block recording either, so such an update is never pooled or forwarded.
        let chain = self.consensus.chain();
        if let Err(e) = chain.check_planned_spend(a) {
            self.warn_drop(
                "off-plan-spend",
                &format!("update of {} for round {}: {e}", a.org.short(), a.round),
            );
            return MessageAcceptance::Reject;
        }
        let fits = match (chain.epsilon_after(&a.org, &a.dp), chain.budget(&a.org)) {
            (Ok(eps), Some((_, cap))) => eps <= cap,
            _ => false,
        };
        if !fits {
            self.warn_drop(
                "over-budget",
                &format!(
                    "update of {} for round {} would cross its epsilon cap",
                    a.org.short(),
                    a.round
                ),
            );
            return MessageAcceptance::Reject;
        }
        match self.pool.get(&a.org) {
            Some(prev) if prev.commitment == entry.commitment => MessageAcceptance::Ignore,
            Some(_) => {
                self.warn_drop(
                    "equivocating-update",
                    &format!("second update from {}", a.org.short()),
                );
                MessageAcceptance::Reject
            }
            None => {
                debug!(target: TARGET, org = %a.org.short(), round = a.round, update = %a.update_hash.short(), "announcement");
                let (hash, org, src) = (a.update_hash, a.org, entry.source);
                self.pool.insert(org, entry);
                self.want_blob(hash, src.into_iter().chain(peer_of_org(&org)).collect());
                MessageAcceptance::Accept
            }
        }
    }

    /// Gossip `body`; false if no peer could take it (the caller may retry sooner).
    pub(super) async fn publish(&mut self, body: Gossip) -> bool {
        let is_announce = matches!(body, Gossip::Announce(_));
        self.nonce = self.nonce.wrapping_add(1);
        let bytes = Envelope {
            nonce: self.nonce,
            body,
        }
        .encode();
        let len = bytes.len() as u64;
        match self.net.publish(bytes).await {
            Ok(()) => {
                self.shared.update(|_, c| c.bytes_sent += len);
                true
            }
            // Typically "no peers subscribed" while the mesh forms; retries cover it.
            Err(e) => {
                debug!(target: TARGET, error = %e, "publish failed");
                if is_announce {
                    // Typically right after start, before peers' subscriptions are known: retry
                    // soon rather than at the next regular re-announcement.
                    self.last_reannounce = Instant::now()
                        .checked_sub(Duration::from_millis(2500))
                        .unwrap_or_else(Instant::now);
                }
                false
            }
        }
    }

    pub(super) async fn publish_consensus(&mut self, m: Message) {
        for m in self.adversary_outgoing(m) {
            let _ = self.publish(Gossip::Consensus(m)).await;
        }
    }

    /// Ask for the blocks after our tip: from `to`'s node, or another connected peer if it is
    /// not connected or backed off (see [`super::sync`]). `from` is where the caller believes our
    /// tip ends; the request always starts right after the chain's tip.
    pub(super) fn request_blocks(&mut self, to: Option<OrgId>, from: u64) {
        let next = self.consensus.chain().height().saturating_add(1);
        if from != next {
            debug!(target: TARGET, from, next, "sync asked from another height than our tip");
        }
        self.start_sync(to);
    }

    /// Whether the bytes of `hash` are stored, without reading them: remembered once seen, so
    /// the leader's readiness check does not re-read and re-hash megabytes on every event.
    pub(super) fn have_blob(&mut self, hash: &Digest) -> bool {
        if self.blobs_held.contains(hash) {
            return true;
        }
        // Stored blobs were checked against their hash on the way in, and are again whenever
        // they are read; reading hundreds of megabytes to answer "do we have it" would not do.
        let held = self.store.has_blob(hash).unwrap_or(false);
        if held {
            self.blobs_held.insert(*hash);
        }
        held
    }

    pub(super) fn fetch_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.network.fetch_timeout_ms)
    }

    /// Make sure the bytes of `hash` are (or will be) in the blob store, asking `first` before
    /// any other connected peer.
    pub(super) fn want_blob(&mut self, hash: Digest, first: Vec<PeerId>) {
        if self.have_blob(&hash)
            || self.blobs_in_flight.contains(&hash)
            || self.blobs_in_flight.len() >= MAX_BLOB_FETCHES
        {
            return;
        }
        let mut order = first;
        order.retain(|p| *p != self.net.local_peer());
        for p in &self.peers {
            if !order.contains(p) {
                order.push(*p);
            }
        }
        if order.is_empty() {
            return;
        }
        self.blobs_in_flight.insert(hash);
        let params = self.arch.num_params();
        let (net, tx, timeout) = (self.net.clone(), self.tx.clone(), self.fetch_timeout());
        let store = self.store.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let got = super::blob_fetch::fetch_blob(&net, order, hash, params, timeout).await;
            let fetched_ms = started.elapsed().as_millis() as u64;
            // Written (and synced) here rather than on the node's loop: hundreds of megabytes
            // take seconds to reach the disk.
            let stored = match got {
                None => Ok(None),
                Some(bytes) => tokio::task::spawn_blocking(move || {
                    store
                        .put_checked_blob(&hash, &bytes)
                        .map(|()| Some(bytes.len() as u64))
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(format!("storing blob {}: {e}", hash.short()))),
            };
            if let Ok(Some(bytes)) = &stored {
                debug!(target: TARGET, blob = %hash.short(), bytes, fetched_ms,
                    stored_ms = started.elapsed().as_millis() as u64, "blob fetched");
            }
            let _ = tx.send(Internal::Blob { hash, stored });
        });
    }

    pub(super) fn on_blob(
        &mut self,
        hash: Digest,
        stored: Result<Option<u64>, String>,
    ) -> Result<(), super::error::DaemonError> {
        self.blobs_in_flight.remove(&hash);
        match stored.map_err(super::error::DaemonError::State)? {
            Some(len) => {
                self.shared.update(|_, c| c.bytes_received += len);
                self.blobs_held.insert(hash);
                self.blobs_checked.insert(hash);
                self.blob_failures.remove(&hash);
            }
            None => {
                *self.blob_failures.entry(hash).or_default() += 1;
                // Announced but served by nobody (a member withholding its bytes, or a slow one).
                self.shared.reject("blob-unavailable");
                debug!(target: TARGET, blob = %hash.short(), "no peer served the blob yet");
            }
        }
        Ok(())
    }
}

/// Fetch and decode blocks `from..` from `peer`. Decoding failures are the peer's fault; the
/// state machine verifies every block before applying it.
pub async fn fetch_blocks(
    net: &NetworkHandle,
    peer: PeerId,
    from: u64,
    timeout: Duration,
) -> Result<Vec<Block>, String> {
    let r = tokio::time::timeout(
        timeout,
        net.fetch(
            peer,
            FetchRequest::Blocks {
                from,
                max: MAX_BLOCKS_PER_RESPONSE,
            },
        ),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|e| e.to_string())?;
    match r {
        FetchResponse::Blocks(raw) => raw
            .iter()
            .map(|b| codec::decode::<Block>(b, "block").map_err(|e| e.to_string()))
            .collect(),
        other => Err(format!("answered a block request with {}", other.kind())),
    }
}

/// Ask `peer` for `request`, within `timeout`. A node older than the request fails to decode
/// it and drops the stream, which surfaces here as a failed request.
async fn ask(
    net: &NetworkHandle,
    peer: PeerId,
    request: FetchRequest,
    timeout: Duration,
) -> Result<FetchResponse, String> {
    tokio::time::timeout(timeout, net.fetch(peer, request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())
}

/// Fetch `peer`'s latest signed checkpoint note (`None` before its first block). The note is
/// the peer's word: open it with `fedledger_ledger::tlog::open_checkpoint` before using it.
/// Its size was checked against `MAX_NOTE_BYTES` by the codec.
pub async fn fetch_checkpoint(
    net: &NetworkHandle,
    peer: PeerId,
    timeout: Duration,
) -> Result<Option<String>, String> {
    match ask(net, peer, FetchRequest::Checkpoint, timeout).await? {
        FetchResponse::Checkpoint(note) => Ok(note),
        other => Err(format!(
            "answered a checkpoint request with {}",
            other.kind()
        )),
    }
}

/// Fetch the consistency proof of `peer`'s log from size `old` to size `new`. An answer for
/// other sizes than asked is an error, and so is the peer's refusal (its reason is included).
/// The roots and proof are the peer's word: compare the roots with signed checkpoints and
/// check the proof with `fedledger_ledger::tlog::verify_consistency`.
pub async fn fetch_consistency(
    net: &NetworkHandle,
    peer: PeerId,
    old: u64,
    new: u64,
    timeout: Duration,
) -> Result<ConsistencyAnswer, String> {
    match ask(net, peer, FetchRequest::Consistency { old, new }, timeout).await? {
        FetchResponse::Consistency(Ok(a)) if (a.old_size, a.new_size) == (old, new) => Ok(a),
        FetchResponse::Consistency(Ok(a)) => Err(format!(
            "answered a request for sizes {old} to {new} with a proof for {} to {}",
            a.old_size, a.new_size
        )),
        FetchResponse::Consistency(Err(reason)) => Err(format!(
            "refused a proof from size {old} to {new}: {}",
            reason.escape_debug()
        )),
        other => Err(format!(
            "answered a consistency request with {}",
            other.kind()
        )),
    }
}
