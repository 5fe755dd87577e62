//! Incoming messages: height routing, signature checks, tallying, and block sync.

use super::error::DropReason;
use super::event::Action;
use super::machine::Consensus;
use super::message::{Certificate, Message, Proposal, SignedVote, VoteKind};
use fedledger_ledger::{Block, Digest, OrgId};

impl Consensus {
    pub(crate) fn on_message(&mut self, from: OrgId, message: Message, out: &mut Vec<Action>) {
        match message {
            Message::SyncRequest { from_height } => self.on_sync_request(from, from_height, out),
            Message::SyncResponse { blocks } => self.on_sync_response(from, blocks, out),
            m => {
                let h = m.height();
                if !self.route(from, h, &m, out) {
                    return;
                }
                match m {
                    Message::Propose(p) => self.on_proposal(from, *p, out),
                    Message::Vote(v) => self.on_vote(from, v, false, out),
                    Message::Certificate(c) => self.on_certificate(from, c, out),
                    Message::SyncRequest { .. } | Message::SyncResponse { .. } => {}
                }
            }
        }
    }

    /// Messages for other heights: serve a laggard, buffer the next height, ask the far-ahead
    /// for blocks. Returns whether the message is for the current height.
    fn route(&mut self, from: OrgId, h: u64, m: &Message, out: &mut Vec<Action>) -> bool {
        let kind = m.kind_name();
        if h == self.height {
            return true;
        }
        if h < self.height {
            self.serve(from, h, out);
            self.drop_msg(
                &from,
                kind,
                DropReason::StaleHeight {
                    found: h,
                    current: self.height,
                },
            );
            return false;
        }
        if h == self.height + 1 {
            match m {
                Message::Certificate(c) => self.buffer_certificate(from, c),
                _ => self.buffer_next(from, m.clone()),
            }
            return false;
        }
        if let Err(r) = self.vouch_far(from, h, m) {
            self.drop_msg(&from, kind, r);
            return false;
        }
        self.drop_msg(
            &from,
            kind,
            DropReason::FutureHeight {
                found: h,
                current: self.height,
            },
        );
        self.ask_sync(from, out);
        false
    }

    /// Keep a next-height vote or proposal under its signer, if that signer validates at the
    /// next height (as far as this chain tells) and has room left. Keying by signer, not by the
    /// delivering peer, stops fresh identities from filling the buffer: an outsider has no slot,
    /// and a forger cannot fill a validator's slot (the signature is checked before storing).
    fn buffer_next(&mut self, from: OrgId, m: Message) {
        let kind = m.kind_name();
        let Some(signer) = m.signer() else {
            return self.drop_msg(&from, kind, DropReason::Malformed("unsigned".into()));
        };
        if !self.chain.is_validator_at(&signer, self.height + 1) {
            return self.drop_msg(&from, kind, DropReason::NotMember);
        }
        if let Err(r) = self.buffer.admits(&signer, &m, &self.cfg) {
            return self.drop_msg(&from, kind, r);
        }
        if !m.signature_ok(&self.chain_id) {
            return self.drop_msg(&from, kind, DropReason::BadSignature);
        }
        self.buffer.push(signer, m);
    }

    /// A next-height certificate is kept as its votes, each under its own signer's bound: the
    /// votes are what the next height counts, and copies of votes already held are not stored
    /// twice. (A nullification far beyond the view window loses its exemption this way; it is
    /// re-sent every retry tick, so it arrives whole once this node reaches that height.)
    fn buffer_certificate(&mut self, from: OrgId, c: &Certificate) {
        let kind = Message::Certificate(c.clone()).kind_name();
        let malformed = match c.kind {
            VoteKind::Finalize => Some("finalize votes travel alone or in blocks"),
            _ if c.votes.len() > self.chain.validator_count_at(self.height + 1) => {
                Some("more votes than validators")
            }
            _ => None,
        };
        if let Some(why) = malformed {
            return self.drop_msg(&from, kind, DropReason::Malformed(why.into()));
        }
        for v in c.unpack().collect::<Vec<_>>() {
            self.buffer_next(from, Message::Vote(v));
        }
    }

    /// A message beyond the next height makes this node ask `from` for blocks, but only if a
    /// validator of that height (as far as this chain tells) really signed it: otherwise anyone
    /// could make it fetch from anyone. The signature is only checked if a request would go out.
    fn vouch_far(&self, from: OrgId, h: u64, m: &Message) -> Result<(), DropReason> {
        let asking = from != self.me && !self.sync_asked.contains(&from);
        let by_validator = |s: &OrgId| self.chain.is_validator_at(s, h);
        match m {
            Message::Certificate(c) => {
                let mut votes = c.unpack().filter(|v| by_validator(&v.signer)).peekable();
                if votes.peek().is_none() {
                    return Err(DropReason::NotMember);
                }
                if asking && !votes.any(|v| v.verify(&self.chain_id).is_ok()) {
                    return Err(DropReason::BadSignature);
                }
                Ok(())
            }
            _ => {
                if !m.signer().is_some_and(|s| by_validator(&s)) {
                    return Err(DropReason::NotMember);
                }
                if asking && !m.signature_ok(&self.chain_id) {
                    return Err(DropReason::BadSignature);
                }
                Ok(())
            }
        }
    }

    fn on_proposal(&mut self, from: OrgId, p: Proposal, out: &mut Vec<Action>) {
        if p.header.chain_id != self.chain_id {
            return self.drop_msg(&from, "propose", DropReason::WrongChain);
        }
        // Proposals of earlier views are kept: a notarized one may still be finalized.
        let view = p.header.view;
        if view > self.view.saturating_add(self.cfg.max_views_ahead) {
            let current = self.view;
            return self.drop_msg(
                &from,
                "propose",
                DropReason::FarView {
                    found: view,
                    current,
                },
            );
        }
        if p.header.proposer != self.chain.leader(view) {
            return self.drop_msg(&from, "propose", DropReason::NotLeader);
        }
        let hash = p.header.hash();
        let conflicting = match self.round.probe_proposal(view, &hash) {
            Ok(c) => c,
            Err(r) => return self.drop_msg(&from, "propose", r),
        };
        if p.verify(&self.chain_id).is_err() {
            return self.drop_msg(&from, "propose", DropReason::BadSignature);
        }
        if conflicting {
            // Keep it (it may be notarized by others and we need its body), but do not spread it.
            self.stats.equivocations += 1;
        } else {
            // Echo the first proposal so a leader cannot show its block to only some members.
            out.push(Action::Broadcast(Message::Propose(Box::new(p.clone()))));
        }
        self.round.insert_proposal(hash, p);
        let h0 = self.height;
        if view == self.view || self.safety.locked.map(|l| l.1) == Some(hash) {
            self.consider_notarize(hash, out);
        }
        if self.height == h0 && self.pending_finalize.contains(&hash) {
            self.try_finalize(hash, out);
        }
        if self.height != h0 {
            return;
        }
        if let Some((v, h)) = self.awaiting_body {
            if h == hash {
                self.awaiting_body = None;
                self.check_finalization(v, h, out);
            }
        }
    }

    /// Check and count a vote. `far` admits views beyond the look-ahead window (votes of a
    /// complete nullification certificate).
    fn on_vote(&mut self, from: OrgId, vote: SignedVote, far: bool, out: &mut Vec<Action>) {
        let kind = Message::Vote(vote.clone()).kind_name();
        // Late notarize votes still matter (a notarization of an earlier view locks and
        // finalizes); late nullify votes do not.
        if vote.kind == VoteKind::Nullify && vote.view < self.view {
            let current = self.view;
            return self.drop_msg(
                &from,
                kind,
                DropReason::StaleView {
                    found: vote.view,
                    current,
                },
            );
        }
        if !far && vote.view > self.view.saturating_add(self.cfg.max_views_ahead) {
            let current = self.view;
            return self.drop_msg(
                &from,
                kind,
                DropReason::FarView {
                    found: vote.view,
                    current,
                },
            );
        }
        if !self.is_validator(&vote.signer) {
            return self.drop_msg(&from, kind, DropReason::NotMember);
        }
        let conflicting = match self.round.probe_vote(&vote) {
            Ok(c) => c,
            Err(r) => return self.drop_msg(&from, kind, r),
        };
        if vote.verify(&self.chain_id).is_err() {
            return self.drop_msg(&from, kind, DropReason::BadSignature);
        }
        if conflicting {
            self.stats.equivocations += 1;
        }
        self.round.insert_vote(&vote);
        match vote.kind {
            VoteKind::Notarize => self.check_notarization(vote.view, out),
            VoteKind::Nullify => self.check_nullification(vote.view, out),
            VoteKind::Finalize => self.check_finalization(vote.view, vote.block_hash, out),
        }
    }

    fn on_certificate(&mut self, from: OrgId, c: Certificate, out: &mut Vec<Action>) {
        let name = Message::Certificate(c.clone()).kind_name();
        let malformed = match c.kind {
            VoteKind::Finalize => Some("finalize votes travel alone or in blocks"),
            VoteKind::Nullify if c.block_hash != Digest::ZERO => Some("nullification with a hash"),
            _ if c.votes.len() > self.chain.validators().len() => {
                Some("more votes than validators")
            }
            _ => None,
        };
        if let Some(why) = malformed {
            return self.drop_msg(&from, name, DropReason::Malformed(why.into()));
        }
        // A nullification lets a node that fell many views behind jump ahead, so it is accepted
        // beyond the look-ahead window, but only whole: a quorum of valid member votes.
        let far = c.kind == VoteKind::Nullify
            && c.view > self.view.saturating_add(self.cfg.max_views_ahead);
        if far {
            let q = self.chain.quorum();
            let mut signers = std::collections::BTreeSet::new();
            let ok = c.unpack().all(|v| {
                self.is_validator(&v.signer)
                    && signers.insert(v.signer)
                    && v.verify(&self.chain_id).is_ok()
            });
            if !ok || signers.len() < q {
                return self.drop_msg(
                    &from,
                    name,
                    DropReason::Malformed("incomplete nullification".into()),
                );
            }
        }
        let h = self.height;
        for v in c.unpack().collect::<Vec<_>>() {
            if self.height != h {
                return;
            }
            self.on_vote(from, v, far, out);
        }
    }

    fn on_sync_request(&mut self, from: OrgId, from_height: u64, out: &mut Vec<Action>) {
        self.serve(from, from_height, out);
    }

    fn on_sync_response(&mut self, from: OrgId, blocks: Vec<Block>, out: &mut Vec<Action>) {
        if blocks.len() as u64 > self.cfg.max_sync_blocks {
            return self.drop_msg(
                &from,
                "sync-response",
                DropReason::Malformed("too many blocks".into()),
            );
        }
        let mut advanced = false;
        for b in blocks {
            let h = b.header.height;
            if h <= self.chain.height() {
                continue;
            }
            if h != self.chain.height() + 1 {
                self.drop_msg(
                    &from,
                    "sync-response",
                    DropReason::Malformed(format!("gap before height {h}")),
                );
                break;
            }
            if !self.commit_block(b, out) {
                break;
            }
            self.stats.synced += 1;
            advanced = true;
        }
        if advanced {
            self.advance_height(out);
        }
    }
}
