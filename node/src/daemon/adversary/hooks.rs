//! Where the adversary bends the honest node: the claims it signs, the messages it sends, the
//! fetches it answers and what it does every tick.

use super::{flood::Flood, Misbehaviour as M};
use crate::consensus::{Message, Proposal, SignedVote, VoteKind};
use crate::daemon::driver::{Node, TARGET};
use crate::daemon::wire::{Envelope, Gossip};
use crate::learn::model::encode_update;
use crate::p2p::{FetchRequest, FetchResponse, MAX_BLOCKS_PER_RESPONSE};
use fedledger_ledger::block::{
    BlockPlan, DpSpend, Entry, FinalizationCertificate, FinalizeVote, GroupRates, LocalMetrics,
    MembershipAction, MembershipRequest, UpdateAnnouncement, Vote,
};
use fedledger_ledger::identity::domain;
use fedledger_ledger::store::LedgerStore;
use fedledger_ledger::{Block, Digest, OrgKey, Signature};
use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tracing::warn;

/// Join requests gossiped per tick by `join-spam`.
const JOIN_SPAM_PER_TICK: usize = 16;
/// Fetch requests in flight per peer by `fetch-flood`.
const FETCH_FLOOD_PER_PEER: usize = 64;
/// Old messages re-published per tick by `replay`.
const REPLAY_PER_TICK: usize = 8;

impl Node {
    fn adversary_does(&self, m: M) -> bool {
        self.adversary.as_ref().is_some_and(|a| a.does(m))
    }

    /// `nan-metrics`, `huge-metrics` and `off-plan-spend`: lie in the claims about to be
    /// signed.
    pub(in crate::daemon) fn adversary_claims(&self, a: &mut UpdateAnnouncement) {
        if self.adversary_does(M::OffPlanSpend) {
            // Each keeps the spend small and in range, so only the plan can tell.
            if a.round % 2 == 0 {
                a.dp.noise_multiplier *= 2.0;
            } else {
                a.dp.steps = if a.dp.steps > 1 { a.dp.steps - 1 } else { 2 };
            }
            warn!(target: TARGET, round = a.round, "ADVERSARY off-plan-spend");
        }
        if self.adversary_does(M::NanMetrics) {
            a.metrics.loss = f64::NAN;
        }
        if self.adversary_does(M::HugeMetrics) {
            match a.round % 3 {
                // Thousands of groups: pooled, they would swell the leader's block past the
                // gossip limit (kept under it here so the honest nodes do receive the lie).
                0 => {
                    a.metrics.groups = (0..4000)
                        .map(|i| GroupRates {
                            group: format!("padding-group-{i:06}"),
                            count: 0,
                            positives: 0,
                            positive_rate: 0.0,
                            true_positive_rate: 0.0,
                        })
                        .collect()
                }
                1 => {
                    a.num_examples = u64::MAX;
                    a.metrics.examples = u64::MAX;
                }
                _ => {
                    a.metrics.accuracy = 7.0;
                    a.metrics.auc = -3.0;
                }
            }
        }
    }

    /// `equivocate-update`: a second, different update for the same round.
    pub(in crate::daemon) async fn adversary_after_release(
        &mut self,
        announcement: &UpdateAnnouncement,
        delta: &[f32],
    ) {
        if let Some(adv) = self.adversary.as_mut() {
            adv.own_blobs.insert(announcement.update_hash);
        }
        if !self.adversary_does(M::EquivocateUpdate) {
            return;
        }
        let mut other = delta.to_vec();
        if let Some(x) = other.first_mut() {
            *x += 0.5;
        }
        let Ok(hash) = self.store.put_blob(&encode_update(&other)) else {
            return;
        };
        self.blobs_held.insert(hash);
        if let Some(adv) = self.adversary.as_mut() {
            adv.own_blobs.insert(hash);
        }
        let second = UpdateAnnouncement {
            update_hash: hash,
            ..announcement.clone()
        }
        .sign(&self.key, &self.chain_id);
        warn!(target: TARGET, round = announcement.round, "ADVERSARY equivocate-update: a second update");
        let _ = self.publish(Gossip::Announce(second)).await;
    }

    /// `withhold-votes`, `equivocate-proposal`, `invalid-proposal`: what actually goes out
    /// instead of `m`.
    pub(in crate::daemon) fn adversary_outgoing(&mut self, m: Message) -> Vec<Message> {
        let Some(adv) = self.adversary.as_mut() else {
            return vec![m];
        };
        match m {
            Message::Vote(_) if adv.does(M::WithholdVotes) => vec![],
            Message::Propose(p) if p.header.proposer == self.me => {
                let mut out = Vec::new();
                if adv.does(M::InvalidProposal) {
                    adv.tampered += 1;
                    let (header, mut entries) = (p.header.clone(), p.entries.clone());
                    let mut plan = plan_of(&header);
                    if adv.tampered % 2 == 0 {
                        plan.model_hash = Digest::of(b"fedledger/adversary/not-the-aggregate");
                    } else {
                        for e in &mut entries {
                            if let Entry::Budget(b) = e {
                                b.epsilon_total *= 0.5;
                            }
                        }
                    }
                    let (h, es) = plan.seal(entries);
                    out.push(Message::Propose(Box::new(Proposal::sign(h, es, &self.key))));
                    warn!(target: TARGET, height = header.height, view = header.view, "ADVERSARY invalid-proposal");
                } else {
                    out.push(Message::Propose(p.clone()));
                }
                if adv.does(M::EquivocateProposal) {
                    let mut plan = plan_of(&p.header);
                    plan.timestamp_ms = plan.timestamp_ms.saturating_add(1);
                    let (h, es) = plan.seal(p.entries.clone());
                    out.push(Message::Propose(Box::new(Proposal::sign(h, es, &self.key))));
                    warn!(target: TARGET, height = p.header.height, view = p.header.view, "ADVERSARY equivocate-proposal: two blocks in one view");
                }
                out
            }
            m => vec![m],
        }
    }

    /// Remember gossip for `replay`.
    pub(in crate::daemon) fn adversary_saw(&mut self, data: &[u8]) {
        let Some(adv) = self.adversary.as_mut() else {
            return;
        };
        if !adv.does(M::Replay) {
            return;
        }
        let Ok(env) = Envelope::decode(data) else {
            return;
        };
        let height = match &env.body {
            Gossip::Announce(c) => c.announcement.round,
            Gossip::Consensus(m) => m.height(),
            _ => return,
        };
        if adv.seen.len() >= super::REPLAY_MEMORY {
            adv.seen.pop_front();
        }
        adv.seen.push_back((height, env.body));
    }

    /// `withhold-bytes` and `sync-hijack`: answer a fetch with a lie (or not at all). Returns
    /// the channel when the honest answer should be given.
    pub(in crate::daemon) fn adversary_fetch(
        &mut self,
        peer: PeerId,
        request: &FetchRequest,
        channel: ResponseChannel<FetchResponse>,
    ) -> Option<ResponseChannel<FetchResponse>> {
        let Some(adv) = self.adversary.as_mut() else {
            return Some(channel);
        };
        match request {
            FetchRequest::Blob(_) if adv.does(M::WithholdBytes) => {
                let net = self.net.clone();
                tokio::spawn(async move {
                    let _ = net.respond(channel, FetchResponse::Blob(None)).await;
                });
                None
            }
            FetchRequest::Blocks { from, .. } if adv.does(M::SyncHijack) => {
                adv.hijacks += 1;
                let variant = adv.hijacks % 4;
                let from = (*from).max(1);
                let response = match variant {
                    // Slow: hold the requester's sync slot as long as it lets us.
                    0 => None,
                    1 => Some(self.oversized_blocks(from)),
                    2 => Some(self.forged_blocks(from)),
                    _ => Some(self.self_certified_blocks(from)),
                };
                warn!(target: TARGET, %peer, from, variant, "ADVERSARY sync-hijack");
                let net = self.net.clone();
                tokio::spawn(async move {
                    let r = match response {
                        Some(r) => r,
                        None => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            FetchResponse::Blocks(vec![])
                        }
                    };
                    let _ = net.respond(channel, r).await;
                });
                None
            }
            _ => Some(channel),
        }
    }

    /// About 16 MiB of junk entries in one block at `from`, none of whose signatures is valid.
    fn oversized_blocks(&self, from: u64) -> FetchResponse {
        let junk = Entry::Update(
            UpdateAnnouncement {
                round: from,
                org: self.me,
                update_hash: Digest::of(b"junk"),
                base_model: Digest::ZERO,
                num_examples: 1,
                dp: DpSpend {
                    sampling_rate: 0.1,
                    noise_multiplier: 1.0,
                    steps: 1,
                },
                metrics: LocalMetrics::default(),
            }
            .sign(&OrgKey::generate("junk"), &self.chain_id),
        );
        let entries = vec![junk; 16 * 1024 * 1024 / 300];
        let b = self.fabricate(from, entries);
        FetchResponse::Blocks(vec![fedledger_ledger::codec::encode(&b)])
    }

    /// Real blocks from `from` on, each with an entry changed (so its certificate no longer
    /// matches), or a fabricated block past our tip.
    fn forged_blocks(&self, from: u64) -> FetchResponse {
        let mut out = Vec::new();
        for h in from..from.saturating_add(u64::from(MAX_BLOCKS_PER_RESPONSE)) {
            let Ok(Some(mut b)) = self.store.block(h) else {
                break;
            };
            if let Some(Entry::Summary(s)) = b.entries.last_mut() {
                s.metrics.accuracy = 1.0;
            }
            let (header, entries) = plan_of(&b.header).seal(b.entries);
            b.header = header;
            b.entries = entries;
            out.push(fedledger_ledger::codec::encode(&b));
        }
        if out.is_empty() {
            return self.self_certified_blocks(from);
        }
        FetchResponse::Blocks(out)
    }

    /// A fabricated block at `from` "finalized" by this member alone, and by forged signatures
    /// in the names of the other validators.
    fn self_certified_blocks(&self, from: u64) -> FetchResponse {
        FetchResponse::Blocks(vec![fedledger_ledger::codec::encode(
            &self.fabricate(from, vec![]),
        )])
    }

    fn fabricate(&self, height: u64, entries: Vec<Entry>) -> Block {
        let chain = self.consensus.chain();
        let prev_hash = match self.store.block(height.saturating_sub(1)) {
            Ok(Some(b)) => b.header.hash(),
            _ => chain.tip_hash(),
        };
        let (header, entries) = BlockPlan {
            chain_id: self.chain_id,
            height,
            view: 0,
            prev_hash,
            model_hash: Digest::of(b"fedledger/adversary/model"),
            proposer: chain.leader(0),
            timestamp_ms: super::super::driver::unix_ms(),
        }
        .seal(entries);
        let vote = FinalizeVote {
            height,
            view: 0,
            block_hash: header.hash(),
        };
        let votes = chain
            .validators()
            .iter()
            .map(|v| {
                if *v == self.me {
                    vote.sign(&self.key, &self.chain_id)
                } else {
                    Vote {
                        signer: *v,
                        signature: Signature([7u8; 64]),
                    }
                }
            })
            .collect();
        Block {
            header,
            entries,
            certificate: FinalizationCertificate::from_votes(0, votes),
        }
    }

    /// Every tick: `replay`, `vote-flood`, `sync-hijack` lures, `join-spam`, `fetch-flood`.
    pub(in crate::daemon) async fn adversary_tick(&mut self) {
        let Some(adv) = self.adversary.as_mut() else {
            return;
        };
        let height = self.consensus.height();
        let mut out: Vec<Gossip> = Vec::new();
        if adv.does(M::Replay) {
            out.extend(
                adv.seen
                    .iter()
                    .filter(|(h, _)| *h < height)
                    .rev()
                    .take(REPLAY_PER_TICK)
                    .map(|(_, g)| g.clone()),
            );
        }
        if adv.does(M::VoteFlood) {
            let flood = adv.flood.get_or_insert_with(|| {
                Flood::start(
                    self.chain_id,
                    &self.cfg.network.bootstrap,
                    super::flood::FLOOD_PEERS,
                )
            });
            flood.set_height(height);
        }
        if adv.does(M::SyncHijack) {
            // A far-future vote signed by a member: nodes that take it as a hint ask us for
            // blocks, and meet the lies above.
            out.push(Gossip::Consensus(Message::Vote(SignedVote::sign(
                VoteKind::Finalize,
                height.saturating_add(5),
                0,
                Digest::of(&height.to_le_bytes()),
                &self.key,
                &self.chain_id,
            ))));
        }
        if adv.does(M::JoinSpam) {
            for _ in 0..JOIN_SPAM_PER_TICK {
                let key = OrgKey::generate("spam");
                let request = MembershipRequest {
                    subject: key.id(),
                    action: MembershipAction::Join {
                        name: "spam".repeat(60),
                        epsilon_max: 1.0,
                        schema_hash: self
                            .genesis
                            .model
                            .schema_hash
                            .parse()
                            .unwrap_or(Digest::ZERO),
                    },
                    nonce: rand::random(),
                };
                let signature = key.sign(domain::MEMBERSHIP_REQUEST, &self.chain_id, &request);
                out.push(Gossip::Request { request, signature });
            }
        }
        let flood_fetch = adv.does(M::FetchFlood);
        for g in out {
            let _ = self.publish(g).await;
        }
        if flood_fetch {
            self.fetch_flood();
        }
    }

    /// `fetch-flood`: keep every peer busy with the most expensive requests there are.
    fn fetch_flood(&mut self) {
        static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
        let blob = self
            .adversary
            .as_ref()
            .and_then(|a| a.own_blobs.iter().next_back().copied());
        for peer in self.peers.iter().copied() {
            if IN_FLIGHT.load(Ordering::Relaxed) >= 2 * FETCH_FLOOD_PER_PEER * self.peers.len() {
                return;
            }
            // All at once: more than a peer may have in flight, so the honest limits must bite.
            for i in 0..FETCH_FLOOD_PER_PEER {
                let request = match (i % 3, blob) {
                    (0, _) => FetchRequest::Blocks {
                        from: 1,
                        max: MAX_BLOCKS_PER_RESPONSE,
                    },
                    (1, Some(b)) => FetchRequest::Blob(b),
                    _ => FetchRequest::Blob(Digest::of(&rand::random::<[u8; 8]>())),
                };
                let net = self.net.clone();
                IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), net.fetch(peer, request))
                        .await;
                    IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }
    }
}

fn plan_of(h: &fedledger_ledger::BlockHeader) -> BlockPlan {
    BlockPlan {
        chain_id: h.chain_id,
        height: h.height,
        view: h.view,
        prev_hash: h.prev_hash,
        model_hash: h.model_hash,
        proposer: h.proposer,
        timestamp_ms: h.timestamp_ms,
    }
}
