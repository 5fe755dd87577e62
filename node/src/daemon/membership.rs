//! Joining and leaving through the running network: subject-signed requests and member
//! approvals travel over gossip; a leader records a change once a quorum of validators approved
//! it, and the ledger makes it effective `membership_delay` blocks later.

use super::driver::{Node, TARGET};
use super::requests::Inserted;
use super::status::{AdminCommand, PendingRequestStatus};
use super::wire::Gossip;
use fedledger_ledger::block::{
    MembershipAction, MembershipApproval, MembershipChange, MembershipRequest,
};
use fedledger_ledger::identity::{self, domain};
use fedledger_ledger::{Digest, Entry, Signature};
use libp2p::gossipsub::MessageAcceptance;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Most join requests tracked at once (each is small; the bound stops a flood).
pub(super) const MAX_PENDING_JOINS: usize = 64;

/// A request its subject stopped re-sending for this long is dropped.
pub(super) const REQUEST_STALE_AFTER: Duration = Duration::from_secs(600);

impl Node {
    /// Whether the request still needs recording: a join by a non-member, a leave by a member,
    /// no change for the subject already pending.
    fn request_open(&self, r: &MembershipRequest) -> bool {
        let chain = self.consensus.chain();
        if chain.membership_pending(&r.subject) {
            return false;
        }
        let member = chain.validators().contains(&r.subject);
        match r.action {
            MembershipAction::Join { .. } => !member,
            MembershipAction::Leave => member,
        }
    }

    pub(super) fn on_request(
        &mut self,
        request: MembershipRequest,
        signature: Signature,
    ) -> MessageAcceptance {
        if identity::verify(
            &request.subject,
            domain::MEMBERSHIP_REQUEST,
            &self.chain_id,
            &request,
            &signature,
        )
        .is_err()
        {
            self.warn_drop(
                "bad-signature",
                &format!("membership request for {}", request.subject.short()),
            );
            return MessageAcceptance::Reject;
        }
        if let MembershipAction::Join {
            name,
            epsilon_max,
            schema_hash,
        } = &request.action
        {
            let pinned = &self.genesis.model.schema_hash;
            let bad = name.len() > 256
                || !(epsilon_max.is_finite() && *epsilon_max > 0.0)
                || (!pinned.is_empty() && schema_hash.to_hex() != *pinned);
            if bad {
                self.warn_drop(
                    "bad-join-request",
                    &format!("{} (name, cap or schema)", request.subject.short()),
                );
                return MessageAcceptance::Reject;
            }
        }
        let hash = request.hash();
        if !self.request_open(&request) {
            return MessageAcceptance::Ignore;
        }
        let (subject, action) = (request.subject, format!("{:?}", request.action));
        match self.requests.insert(request, signature, Instant::now()) {
            Inserted::Refreshed => {}
            Inserted::Added => {
                info!(target: TARGET, subject = %subject.short(), action, "membership request")
            }
            Inserted::Evicted(victim) => {
                info!(target: TARGET, subject = %subject.short(), action, evicted = %victim.short(), "membership request");
                self.shared.reject("membership-evicted");
            }
            Inserted::Superseded => {
                self.shared.reject("superseded-request");
                return MessageAcceptance::Ignore;
            }
            Inserted::Full => {
                self.shared.reject("too-many-requests");
                return MessageAcceptance::Ignore;
            }
        }
        if self.cfg.membership.admission == "auto" {
            self.admit(hash);
        }
        MessageAcceptance::Accept
    }

    pub(super) fn on_approval(&mut self, hash: Digest, a: MembershipApproval) -> MessageAcceptance {
        if !self.consensus.chain().validators().contains(&a.approver) {
            // Possibly a validator from a height this node has not reached: not proof of malice.
            self.shared.reject("non-member");
            return MessageAcceptance::Ignore;
        }
        if identity::verify(
            &a.approver,
            domain::MEMBERSHIP_APPROVAL,
            &self.chain_id,
            &hash,
            &a.signature,
        )
        .is_err()
        {
            self.warn_drop(
                "bad-signature",
                &format!("approval by {}", a.approver.short()),
            );
            return MessageAcceptance::Reject;
        }
        match self.requests.get_mut(&hash) {
            Some(p) => {
                p.approvals.insert(a.approver, a);
                MessageAcceptance::Accept
            }
            // The request itself is re-gossiped by its subject; the approval will come again.
            None => MessageAcceptance::Ignore,
        }
    }

    /// Approve request `hash` as this member (once).
    fn admit(&mut self, hash: Digest) {
        if !self.consensus.chain().validators().contains(&self.me) {
            return;
        }
        if let Some(p) = self.requests.get_mut(&hash) {
            if !p.admitted {
                p.admitted = true;
                let approval = MembershipApproval {
                    approver: self.me,
                    signature: self
                        .key
                        .sign(domain::MEMBERSHIP_APPROVAL, &self.chain_id, &hash),
                };
                info!(target: TARGET, subject = %p.request.subject.short(), "approved membership request");
                p.approvals.insert(self.me, approval.clone());
                self.outbox.push(Gossip::Approval {
                    request: hash,
                    approval,
                });
            }
        }
    }

    /// Operator commands from the status listener.
    pub(super) fn on_admin(&mut self, c: AdminCommand) {
        match c {
            AdminCommand::Admit(org) => {
                let hashes: Vec<Digest> = self
                    .requests
                    .iter()
                    .filter(|(_, p)| p.request.subject == org)
                    .map(|(h, _)| *h)
                    .collect();
                if hashes.is_empty() {
                    warn!(target: TARGET, org = %org.short(), "admit: no pending request from this organization (yet)");
                }
                for h in hashes {
                    self.admit(h);
                }
            }
            AdminCommand::Leave => {
                if self.consensus.chain().validators().contains(&self.me) {
                    self.my_request = Some(self.sign_request(MembershipAction::Leave));
                    info!(target: TARGET, "leave requested");
                } else {
                    warn!(target: TARGET, "leave: this organization is not a validator");
                }
            }
        }
    }

    pub(super) fn sign_request(&self, action: MembershipAction) -> (MembershipRequest, Signature) {
        let request = MembershipRequest {
            subject: self.me,
            action,
            nonce: super::driver::unix_ms(),
        };
        let signature = self
            .key
            .sign(domain::MEMBERSHIP_REQUEST, &self.chain_id, &request);
        (request, signature)
    }

    /// Every few seconds: (re)send our own request and our approvals, drop settled requests.
    pub(super) async fn membership_tick(&mut self) {
        if self.my_request.is_none() {
            if let Some(cap) = self.cfg.membership.join_epsilon_max {
                let chain = self.consensus.chain();
                if !chain.validators().contains(&self.me) && !chain.membership_pending(&self.me) {
                    let schema_hash = self
                        .genesis
                        .model
                        .schema_hash
                        .parse()
                        .unwrap_or(Digest::ZERO);
                    self.my_request = Some(self.sign_request(MembershipAction::Join {
                        name: self.key.name.clone(),
                        epsilon_max: cap,
                        schema_hash,
                    }));
                }
            }
        }
        if let Some((r, s)) = self.my_request.clone() {
            if self.request_open(&r) {
                // Also keeps our own request fresh in our table (gossip never loops back).
                let _ = self.on_request(r.clone(), s);
                let sent = self
                    .publish(Gossip::Request {
                        request: r,
                        signature: s,
                    })
                    .await;
                if !sent {
                    // Not connected yet: try again shortly rather than in a second.
                    self.last_membership_tick = std::time::Instant::now()
                        .checked_sub(std::time::Duration::from_millis(800))
                        .unwrap_or_else(std::time::Instant::now);
                }
            } else {
                self.my_request = None;
            }
        }
        let open: Vec<Digest> = self
            .requests
            .iter()
            .filter(|(_, p)| !self.request_open(&p.request))
            .map(|(h, _)| *h)
            .collect();
        for h in open {
            self.requests.remove(&h);
        }
        for _ in 0..self.requests.expire(Instant::now()) {
            self.shared.reject("membership-expired");
        }
        let mine: Vec<(Digest, MembershipApproval)> = self
            .requests
            .iter()
            .filter_map(|(h, p)| p.approvals.get(&self.me).map(|a| (*h, a.clone())))
            .collect();
        for (h, a) in mine {
            let _ = self
                .publish(Gossip::Approval {
                    request: h,
                    approval: a,
                })
                .await;
        }
        let list: Vec<PendingRequestStatus> = self
            .requests
            .values()
            .map(|p| PendingRequestStatus {
                org: p.request.subject.to_hex(),
                action: match &p.request.action {
                    MembershipAction::Join { name, .. } => format!("join {name}"),
                    MembershipAction::Leave => "leave".into(),
                },
                approvals: p.approvals.len(),
                approved_here: p.approvals.contains_key(&self.me),
            })
            .collect();
        self.shared.update(|s, _| s.pending_requests = list);
    }

    /// Leader: one change with a quorum of approvals from validators in force, if any.
    pub(super) fn ready_membership_change(&self, height: u64) -> Option<Entry> {
        let chain = self.consensus.chain();
        for p in self.requests.values() {
            if !self.request_open(&p.request) {
                continue;
            }
            let approvals: Vec<MembershipApproval> = p
                .approvals
                .values()
                .filter(|a| chain.validators().contains(&a.approver))
                .cloned()
                .collect();
            if approvals.len() < chain.quorum() {
                continue;
            }
            let change = MembershipChange {
                request: p.request.clone(),
                request_signature: p.signature,
                approvals,
                effective_height: height + chain.membership_delay(),
            };
            match chain.membership_admissible(&change) {
                Ok(()) => return Some(Entry::Membership(change)),
                Err(e) => {
                    warn!(target: TARGET, subject = %p.request.subject.short(), error = %e, "membership change not admissible")
                }
            }
        }
        None
    }
}
