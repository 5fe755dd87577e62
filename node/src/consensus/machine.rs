//! The consensus state machine: `step(event) -> actions`, no I/O, no clock, no randomness.

use super::buffer::Buffer;
use super::config::Config;
use super::error::{ConsensusError, DropReason};
use super::event::{Action, Event, Payload, Timer};
use super::message::{Message, Proposal, SignedVote, VoteKind};
use super::persist::SafetyState;
use super::round::Round;
use fedledger_ledger::block::{BlockPlan, FinalizationCertificate};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Block, Digest, Genesis, OrgId, OrgKey};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const TARGET: &str = "fedledger::consensus";

/// Where a proposal stands with this node's validity checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validity {
    /// Passed the ledger checks; the application is checking it.
    Pending,
    /// Accepted.
    Valid,
    /// Rejected by the ledger or the application.
    Invalid,
}

/// Counters for reports and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Dropped messages by [`DropReason::name`].
    pub drops: BTreeMap<&'static str, u64>,
    /// Views this node left through a nullification.
    pub view_changes: u64,
    /// Blocks committed (through votes or sync).
    pub commits: u64,
    /// Of which through sync.
    pub synced: u64,
    /// Conflicting proposals or votes seen from one signer in one view.
    pub equivocations: u64,
}

/// One node's Simplex-style consensus. Heights are training rounds; within a height, views rotate
/// the leader until a block is finalized. See `docs/protocol.md`.
#[derive(Debug)]
pub struct Consensus {
    pub(crate) cfg: Config,
    pub(crate) key: OrgKey,
    pub(crate) me: OrgId,
    pub(crate) chain_id: Digest,
    pub(crate) chain: ChainState,
    pub(crate) height: u64,
    pub(crate) view: u64,
    pub(crate) round: Round,
    pub(crate) safety: SafetyState,
    pub(crate) validity: BTreeMap<Digest, Validity>,
    /// Notarized blocks this node will finalize once their body arrives.
    pub(crate) pending_finalize: BTreeSet<Digest>,
    pub(crate) payload_requested: BTreeSet<u64>,
    /// Messages for the next height, by signer, replayed once this height is final.
    pub(crate) buffer: Buffer,
    /// Per peer, the lowest height it may still be served from until the next retry tick: each
    /// peer gets every block at most once per retry interval, however often it asks.
    pub(crate) served: BTreeMap<OrgId, u64>,
    /// Peers asked for blocks since the last retry tick.
    pub(crate) sync_asked: BTreeSet<OrgId>,
    /// A block reached a finalize quorum but its body has not arrived.
    pub(crate) awaiting_body: Option<(u64, Digest)>,
    pub(crate) stats: Stats,
}

impl Consensus {
    /// A node at height 1 (empty ledger).
    pub fn new(cfg: Config, key: OrgKey, genesis: &Genesis) -> Self {
        let chain = ChainState::new(genesis);
        Consensus {
            cfg,
            me: key.id(),
            key,
            chain_id: chain.chain_id(),
            chain,
            height: 1,
            view: 0,
            round: Round::default(),
            safety: SafetyState::new(1),
            validity: BTreeMap::new(),
            pending_finalize: BTreeSet::new(),
            payload_requested: BTreeSet::new(),
            buffer: Buffer::default(),
            served: BTreeMap::new(),
            sync_asked: BTreeSet::new(),
            awaiting_body: None,
            stats: Stats::default(),
        }
    }

    /// Rebuild a node from its ledger (finalized blocks, verified again) and its last persisted
    /// safety state. A safety state for an older height is obsolete and ignored.
    pub fn restore(
        cfg: Config,
        key: OrgKey,
        genesis: &Genesis,
        blocks: impl IntoIterator<Item = Block>,
        safety: Option<SafetyState>,
    ) -> Result<Self, ConsensusError> {
        let mut c = Consensus::new(cfg, key, genesis);
        for b in blocks {
            c.chain
                .apply(b)
                .map_err(|v| ConsensusError::StoredBlock(Box::new(v)))?;
        }
        c.height = c.chain.height() + 1;
        c.safety = SafetyState::new(c.height);
        if let Some(s) = safety {
            if s.height > c.height {
                return Err(ConsensusError::SafetyHeight {
                    expected: c.height,
                    found: s.height,
                });
            }
            if s.height == c.height {
                c.view = s.view;
                for p in s.proposed.values() {
                    let hash = p.header.hash();
                    c.round.insert_proposal(hash, p.clone());
                    c.validity.insert(hash, Validity::Valid);
                }
                c.safety = s;
            }
        }
        Ok(c)
    }

    /// This node's id.
    pub fn id(&self) -> OrgId {
        self.me
    }
    /// The height being decided.
    pub fn height(&self) -> u64 {
        self.height
    }
    /// The current view of that height.
    pub fn view(&self) -> u64 {
        self.view
    }
    /// The ledger state after the last finalized block.
    pub fn chain(&self) -> &ChainState {
        &self.chain
    }
    /// What this node has signed at the current height.
    pub fn safety(&self) -> &SafetyState {
        &self.safety
    }
    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Feed one event; returns the actions to execute, in order.
    pub fn step(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => {
                self.enter_view(self.view, &mut out);
                self.resend(&mut out);
            }
            Event::Message { from, message } => self.on_message(from, message, &mut out),
            Event::Timer(t) => self.on_timer(t, &mut out),
            Event::Payload {
                height,
                view,
                payload,
            } => self.on_payload(height, view, payload, &mut out),
            Event::Validated {
                height,
                block_hash,
                result,
                ..
            } => self.on_validated(height, block_hash, result, &mut out),
        }
        out
    }

    pub(crate) fn is_validator(&self, org: &OrgId) -> bool {
        self.chain.validators().binary_search(org).is_ok()
    }

    pub(crate) fn drop_msg(&mut self, from: &OrgId, what: &'static str, reason: DropReason) {
        tracing::debug!(target: TARGET, from = %from.short(), what, %reason, "dropped");
        *self.stats.drops.entry(reason.name()).or_default() += 1;
        if reason == DropReason::Equivocation {
            self.stats.equivocations += 1;
        }
    }

    pub(crate) fn enter_view(&mut self, view: u64, out: &mut Vec<Action>) {
        self.view = view;
        self.safety.view = self.safety.view.max(view);
        let h = self.height;
        out.push(Action::StartTimer {
            timer: Timer::View { height: h, view },
            after_ms: self.cfg.view_timeout_ms,
        });
        out.push(Action::StartTimer {
            timer: Timer::Retry { height: h, view },
            after_ms: self.cfg.retry_ms,
        });
        if self.chain.leader(view) == self.me && self.is_validator(&self.me) {
            if let Some(p) = self.safety.proposed.get(&view) {
                out.push(Action::Broadcast(Message::Propose(Box::new(p.clone()))));
            } else if let Some((_, locked)) = self.safety.locked {
                // A block is notarized already: lead the view by spreading it, not a new one.
                if let Some(p) = self.round.proposal(&locked) {
                    out.push(Action::Broadcast(Message::Propose(Box::new(p.clone()))));
                }
            } else if self.payload_requested.insert(view) {
                out.push(Action::RequestPayload {
                    height: h,
                    view,
                    parent: self.chain.tip_hash(),
                });
            }
        }
        let candidates = match self.safety.locked {
            Some((_, locked)) => vec![locked],
            None => self.round.proposal_hashes(view),
        };
        for hash in candidates {
            self.consider_notarize(hash, out);
            if self.height != h || self.view != view {
                return;
            }
        }
        self.check_notarization(view, out);
        if self.height != h || self.view != view {
            return;
        }
        self.check_nullification(view, out);
    }

    fn on_payload(&mut self, height: u64, view: u64, payload: Payload, out: &mut Vec<Action>) {
        if height != self.height
            || view != self.view
            || self.chain.leader(view) != self.me
            || !self.is_validator(&self.me)
            || self.safety.proposed.contains_key(&view)
            || self.safety.nullified.contains(&view)
            || self.safety.locked.is_some()
        {
            return;
        }
        let (header, entries) = BlockPlan {
            chain_id: self.chain_id,
            height,
            view,
            prev_hash: self.chain.tip_hash(),
            model_hash: payload.model_hash,
            proposer: self.me,
            timestamp_ms: payload.timestamp_ms,
        }
        .seal(payload.entries);
        if let Err(v) = self.chain.check_proposal(&header, &entries) {
            // Our own application built an invalid block; proposing it would waste the view.
            tracing::warn!(target: TARGET, height, view, violation = %v, "own payload is invalid; not proposing");
            *self.stats.drops.entry("own-invalid-payload").or_default() += 1;
            return;
        }
        let hash = header.hash();
        let proposal = Proposal::sign(header, entries, &self.key);
        self.safety.proposed.insert(view, proposal.clone());
        self.round.insert_proposal(hash, proposal.clone());
        self.validity.insert(hash, Validity::Valid);
        out.push(Action::Persist(self.safety.clone()));
        out.push(Action::Broadcast(Message::Propose(Box::new(proposal))));
        self.consider_notarize(hash, out);
    }

    fn on_validated(
        &mut self,
        height: u64,
        hash: Digest,
        result: Result<(), String>,
        out: &mut Vec<Action>,
    ) {
        if height != self.height || self.validity.get(&hash) != Some(&Validity::Pending) {
            return;
        }
        match result {
            Ok(()) => {
                self.validity.insert(hash, Validity::Valid);
                self.consider_notarize(hash, out);
            }
            Err(reason) => {
                self.validity.insert(hash, Validity::Invalid);
                let leader = self
                    .round
                    .proposal(&hash)
                    .map_or(self.me, |p| p.header.proposer);
                self.drop_msg(&leader, "propose", DropReason::Rejected(reason));
            }
        }
    }

    /// Notarize block `hash` in the current view if every rule allows it, asking the application
    /// to validate it first. Rules: one notarize per view; none after nullifying the view; once a
    /// notarization was seen, only its block; otherwise only a proposal made in this view.
    pub(crate) fn consider_notarize(&mut self, hash: Digest, out: &mut Vec<Action>) {
        let view = self.view;
        if !self.is_validator(&self.me) || self.safety.nullified.contains(&view) {
            return;
        }
        if let Some(prev) = self.safety.notarized.get(&view) {
            if *prev == hash || !self.cfg.faults.vote_twice {
                return;
            }
        }
        match self.safety.locked {
            // A quorum notarized it, so at least f+1 honest validators checked it.
            Some((_, locked)) if locked == hash => return self.notarize(view, hash, out),
            Some(_) if !self.cfg.faults.vote_twice => return,
            _ => {}
        }
        match self.validity.get(&hash) {
            Some(Validity::Valid) => {
                if self
                    .round
                    .proposal(&hash)
                    .is_some_and(|p| p.header.view == view)
                {
                    self.notarize(view, hash, out);
                }
            }
            Some(_) => {}
            None => {
                let Some(p) = self.round.proposal(&hash) else {
                    return;
                };
                if p.header.view != view {
                    return;
                }
                match self.chain.check_proposal(&p.header, &p.entries) {
                    Err(v) => {
                        self.validity.insert(hash, Validity::Invalid);
                        let leader = p.header.proposer;
                        self.drop_msg(&leader, "propose", DropReason::InvalidProposal(Box::new(v)));
                    }
                    Ok(()) => {
                        self.validity.insert(hash, Validity::Pending);
                        out.push(Action::RequestValidation {
                            height: self.height,
                            view,
                            header: p.header.clone(),
                            entries: p.entries.clone(),
                        });
                    }
                }
            }
        }
    }

    fn notarize(&mut self, view: u64, hash: Digest, out: &mut Vec<Action>) {
        self.safety.notarized.insert(view, hash);
        out.push(Action::Persist(self.safety.clone()));
        self.cast(VoteKind::Notarize, view, hash, out);
        self.check_notarization(view, out);
    }

    /// Sign, broadcast and count our own vote (the caller persisted what it depends on).
    fn cast(&mut self, kind: VoteKind, view: u64, hash: Digest, out: &mut Vec<Action>) {
        let vote = SignedVote::sign(kind, self.height, view, hash, &self.key, &self.chain_id);
        if self.round.probe_vote(&vote).is_ok() {
            self.round.insert_vote(&vote);
        }
        out.push(Action::Broadcast(Message::Vote(vote)));
    }

    /// React to notarizations in `view` (any view of this height, also past ones).
    pub(crate) fn check_notarization(&mut self, view: u64, out: &mut Vec<Action>) {
        let q = self.chain.quorum();
        let h0 = self.height;
        for hash in self.round.quorum_hashes(VoteKind::Notarize, view, q) {
            self.on_notarized(view, hash, out);
            if self.height != h0 {
                return; // committed: the rest of this height is moot
            }
        }
    }

    /// Block `hash` has a notarization in `view`: forward it, lock on it if it is the highest
    /// seen, and finalize it unless this node finalized another block at this height.
    fn on_notarized(&mut self, view: u64, hash: Digest, out: &mut Vec<Action>) {
        if self.round.first_time(VoteKind::Notarize, view, hash) {
            let cert = self
                .round
                .certificate(VoteKind::Notarize, self.height, view, hash);
            out.push(Action::Broadcast(Message::Certificate(cert)));
        }
        let relock = match self.safety.locked {
            None => true,
            Some((w, locked)) => view > w && locked != hash,
        };
        if relock {
            self.safety.locked = Some((view, hash));
            out.push(Action::Persist(self.safety.clone()));
        }
        let h0 = self.height;
        self.try_finalize(hash, out);
        if relock && self.height == h0 {
            self.consider_notarize(hash, out);
        }
    }

    /// Sign the finalize vote for notarized block `hash` if this node has not finalized another
    /// block at this height (the rule `vote_twice` removes). Needs the body for its view.
    pub(crate) fn try_finalize(&mut self, hash: Digest, out: &mut Vec<Action>) {
        if !self.is_validator(&self.me) {
            return;
        }
        match self.safety.finalized {
            Some((_, f)) if f == hash => return,
            Some(_) if !self.cfg.faults.vote_twice => return,
            _ => {}
        }
        let Some(p) = self.round.proposal(&hash) else {
            self.pending_finalize.insert(hash);
            return;
        };
        let pv = p.header.view;
        self.pending_finalize.remove(&hash);
        self.safety.finalized = Some((pv, hash));
        out.push(Action::Persist(self.safety.clone()));
        self.cast(VoteKind::Finalize, pv, hash, out);
        self.check_finalization(pv, hash, out);
    }

    /// Move past `view` if it has a nullification.
    pub(crate) fn check_nullification(&mut self, view: u64, out: &mut Vec<Action>) {
        if view < self.view || self.round.nullify_count(view) < self.chain.quorum() {
            return;
        }
        if self.round.first_time(VoteKind::Nullify, view, Digest::ZERO) {
            let cert = self
                .round
                .certificate(VoteKind::Nullify, self.height, view, Digest::ZERO);
            out.push(Action::Broadcast(Message::Certificate(cert)));
        }
        self.stats.view_changes += 1;
        tracing::debug!(target: TARGET, height = self.height, view, "view nullified");
        self.enter_view(view + 1, out);
    }

    /// Commit (view, hash) if it has a finalize quorum and we hold its body.
    pub(crate) fn check_finalization(&mut self, view: u64, hash: Digest, out: &mut Vec<Action>) {
        let votes = self.round.votes(VoteKind::Finalize, view, &hash);
        if votes.len() < self.chain.quorum() {
            return;
        }
        let Some(p) = self.round.proposal(&hash) else {
            self.awaiting_body = Some((view, hash));
            return;
        };
        let block = Block {
            header: p.header.clone(),
            entries: p.entries.clone(),
            certificate: FinalizationCertificate::from_votes(view, votes),
        };
        if self.commit_block(block, out) {
            self.advance_height(out);
        }
    }

    /// Verify and apply a finalized block; emits [`Action::Commit`].
    pub(crate) fn commit_block(&mut self, block: Block, out: &mut Vec<Action>) -> bool {
        match self.chain.apply(block.clone()) {
            Ok(()) => {
                tracing::debug!(target: TARGET, height = block.header.height, view = block.header.view, "committed");
                self.stats.commits += 1;
                out.push(Action::Commit(block));
                true
            }
            Err(v) => {
                let proposer = block.header.proposer;
                self.drop_msg(&proposer, "block", DropReason::InvalidBlock(Box::new(v)));
                false
            }
        }
    }

    /// Start the height after the chain's tip, then replay what was buffered for it.
    pub(crate) fn advance_height(&mut self, out: &mut Vec<Action>) {
        self.height = self.chain.height() + 1;
        self.round = Round::default();
        self.safety = SafetyState::new(self.height);
        self.validity.clear();
        self.pending_finalize.clear();
        self.payload_requested.clear();
        self.served.clear();
        self.sync_asked.clear();
        self.awaiting_body = None;
        self.enter_view(0, out);
        let h = self.height;
        for (signer, msgs) in self.buffer.take() {
            for m in msgs {
                // After a sync over several heights these are stale: not worth serving anyone.
                if self.height == h && m.height() == h {
                    self.on_message(signer, m, out);
                }
            }
        }
    }

    fn on_timer(&mut self, t: Timer, out: &mut Vec<Action>) {
        match t {
            Timer::View { height, view } => {
                if height != self.height
                    || view != self.view
                    || !self.is_validator(&self.me)
                    || self.safety.nullified.contains(&view)
                {
                    return;
                }
                self.safety.nullified.insert(view);
                out.push(Action::Persist(self.safety.clone()));
                self.cast(VoteKind::Nullify, view, Digest::ZERO, out);
                self.check_nullification(view, out);
            }
            Timer::Retry { height, view } => {
                if height != self.height || view != self.view {
                    return;
                }
                self.resend(out);
                out.push(Action::StartTimer {
                    timer: t,
                    after_ms: self.cfg.retry_ms,
                });
            }
        }
    }

    /// Re-send everything this node signed at this height (identical bytes: ed25519 is
    /// deterministic), the certificates that let laggards catch up, and retry block sync.
    fn resend(&mut self, out: &mut Vec<Action>) {
        self.sync_asked.clear();
        // Serving is rate-limited per retry interval, not per height: a response lost to a
        // partition must be sent again once it heals, or a laggard waits forever on a peer
        // that is itself stuck at this height (partition_heals seed 3109).
        self.served.clear();
        let view = self.view;
        let mine = self.safety.proposed.get(&view).map(|p| p.header.hash());
        if let Some(p) = self.safety.proposed.get(&view) {
            out.push(Action::Broadcast(Message::Propose(Box::new(p.clone()))));
        }
        if let Some((w, locked)) = self.safety.locked {
            // Everyone who saw a notarization spreads the block and its certificate, so the
            // body survives its leader and every validator learns the lock.
            if mine != Some(locked) {
                if let Some(p) = self.round.proposal(&locked) {
                    out.push(Action::Broadcast(Message::Propose(Box::new(p.clone()))));
                }
            }
            let cert = self
                .round
                .certificate(VoteKind::Notarize, self.height, w, locked);
            // After a restart the lock is known but its votes are not: a short certificate
            // would be rejected by every receiver (and count against this node).
            if cert.votes.len() >= self.chain.quorum() {
                out.push(Action::Broadcast(Message::Certificate(cert)));
            }
        }
        let mut votes: Vec<(VoteKind, u64, Digest)> = Vec::new();
        if let Some(h) = self.safety.notarized.get(&view) {
            votes.push((VoteKind::Notarize, view, *h));
        }
        if self.safety.nullified.contains(&view) {
            votes.push((VoteKind::Nullify, view, Digest::ZERO));
        }
        if let Some((v, h)) = self.safety.finalized {
            votes.push((VoteKind::Finalize, v, h));
        }
        for (kind, v, h) in votes {
            self.cast(kind, v, h, out);
        }
        if view > 0 && self.round.nullify_count(view - 1) >= self.chain.quorum() {
            let cert =
                self.round
                    .certificate(VoteKind::Nullify, self.height, view - 1, Digest::ZERO);
            out.push(Action::Broadcast(Message::Certificate(cert)));
        }
        // Someone is ahead of us or holds a block we cannot assemble: ask one peer per tick.
        let peer = match self.awaiting_body {
            Some((v, h)) => self
                .round
                .finalizers(v, &h)
                .into_iter()
                .find(|o| *o != self.me),
            None => None,
        }
        .or_else(|| self.buffer.first_signer());
        if let Some(peer) = peer {
            self.ask_sync(peer, out);
        }
    }

    /// Serve `to` finalized blocks from `from_height` on (at most `max_sync_blocks`), unless it
    /// was served those heights already during this height.
    pub(crate) fn serve(&mut self, to: OrgId, from_height: u64, out: &mut Vec<Action>) {
        let tip = self.chain.height();
        let next = self.served.get(&to).copied().unwrap_or(1);
        if from_height == 0 || from_height > tip || from_height < next {
            return;
        }
        let to_height = tip.min(from_height.saturating_add(self.cfg.max_sync_blocks - 1));
        self.served.insert(to, to_height + 1);
        out.push(Action::ServeBlocks {
            to,
            from_height,
            to_height,
        });
    }

    pub(crate) fn ask_sync(&mut self, peer: OrgId, out: &mut Vec<Action>) {
        if peer != self.me && self.sync_asked.insert(peer) {
            out.push(Action::Send {
                to: peer,
                message: Message::SyncRequest {
                    from_height: self.height,
                },
            });
        }
    }
}
