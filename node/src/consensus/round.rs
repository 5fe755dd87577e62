//! Everything seen at the current height: proposals and vote tallies per view.

use super::error::DropReason;
use super::message::{Certificate, Proposal, SignedVote, VoteKind};
use fedledger_ledger::block::Vote;
use fedledger_ledger::{Digest, OrgId, Signature};
use std::collections::{BTreeMap, BTreeSet};

/// A signer may be seen voting for at most this many different blocks in one view (the second is
/// evidence of equivocation and is kept so both conflicting votes count for what they sign; more
/// would only cost memory).
const MAX_HASHES_PER_SIGNER_VIEW: u8 = 2;

/// Proposals kept per view: the leader's first and, if it equivocates, one conflicting one.
const MAX_PROPOSALS_PER_VIEW: usize = 2;

type Signers = BTreeMap<OrgId, Signature>;

/// Proposals and votes of one height. Iteration order is deterministic (B-trees only).
#[derive(Debug, Default)]
pub(crate) struct Round {
    /// Proposals by block hash (their view is in the header).
    proposals: BTreeMap<Digest, Proposal>,
    proposals_per_view: BTreeMap<u64, usize>,
    notarize: BTreeMap<u64, BTreeMap<Digest, Signers>>,
    finalize: BTreeMap<u64, BTreeMap<Digest, Signers>>,
    nullify: BTreeMap<u64, Signers>,
    per_signer: BTreeMap<(VoteKind, u64, OrgId), u8>,
    /// Certificates already acted on (forwarded, finalized on, or moved past).
    handled: BTreeSet<(VoteKind, u64, Digest)>,
}

impl Round {
    pub(crate) fn proposal(&self, hash: &Digest) -> Option<&Proposal> {
        self.proposals.get(hash)
    }

    /// Hashes of the proposals made in `view` (header view), in hash order.
    pub(crate) fn proposal_hashes(&self, view: u64) -> Vec<Digest> {
        self.proposals
            .iter()
            .filter(|(_, p)| p.header.view == view)
            .map(|(h, _)| *h)
            .collect()
    }

    /// Whether a proposal with this hash is new and there is room for it; `Err` says why not.
    /// `Ok(true)` means it conflicts with one already held (equivocation).
    pub(crate) fn probe_proposal(&self, view: u64, hash: &Digest) -> Result<bool, DropReason> {
        if self.proposals.contains_key(hash) {
            return Err(DropReason::Duplicate);
        }
        let held = self.proposals_per_view.get(&view).copied().unwrap_or(0);
        if held >= MAX_PROPOSALS_PER_VIEW {
            return Err(DropReason::Equivocation);
        }
        Ok(held > 0)
    }

    pub(crate) fn insert_proposal(&mut self, hash: Digest, p: Proposal) {
        *self.proposals_per_view.entry(p.header.view).or_default() += 1;
        self.proposals.insert(hash, p);
    }

    /// Whether `vote` would be new; `Ok(true)` if it conflicts with an earlier vote of its signer
    /// in the same view. Checked before the (expensive) signature verification.
    pub(crate) fn probe_vote(&self, vote: &SignedVote) -> Result<bool, DropReason> {
        let seen = match vote.kind {
            VoteKind::Nullify => self
                .nullify
                .get(&vote.view)
                .is_some_and(|s| s.contains_key(&vote.signer)),
            VoteKind::Notarize | VoteKind::Finalize => self
                .hashes(vote.kind, vote.view)
                .and_then(|m| m.get(&vote.block_hash))
                .is_some_and(|s| s.contains_key(&vote.signer)),
        };
        if seen {
            return Err(DropReason::Duplicate);
        }
        let n = self
            .per_signer
            .get(&(vote.kind, vote.view, vote.signer))
            .copied()
            .unwrap_or(0);
        if n >= MAX_HASHES_PER_SIGNER_VIEW {
            return Err(DropReason::Equivocation);
        }
        Ok(n > 0)
    }

    /// Record a verified vote (call [`Round::probe_vote`] first).
    pub(crate) fn insert_vote(&mut self, vote: &SignedVote) {
        let map = match vote.kind {
            VoteKind::Nullify => {
                self.nullify
                    .entry(vote.view)
                    .or_default()
                    .insert(vote.signer, vote.signature);
                *self
                    .per_signer
                    .entry((vote.kind, vote.view, vote.signer))
                    .or_default() += 1;
                return;
            }
            VoteKind::Notarize => &mut self.notarize,
            VoteKind::Finalize => &mut self.finalize,
        };
        map.entry(vote.view)
            .or_default()
            .entry(vote.block_hash)
            .or_default()
            .insert(vote.signer, vote.signature);
        *self
            .per_signer
            .entry((vote.kind, vote.view, vote.signer))
            .or_default() += 1;
    }

    fn hashes(&self, kind: VoteKind, view: u64) -> Option<&BTreeMap<Digest, Signers>> {
        match kind {
            VoteKind::Notarize => self.notarize.get(&view),
            VoteKind::Finalize => self.finalize.get(&view),
            VoteKind::Nullify => None,
        }
    }

    fn signers(&self, kind: VoteKind, view: u64, hash: &Digest) -> Option<&Signers> {
        match kind {
            VoteKind::Nullify => self.nullify.get(&view),
            _ => self.hashes(kind, view).and_then(|m| m.get(hash)),
        }
    }

    /// Blocks with at least `quorum` votes of `kind` in `view`, in hash order.
    pub(crate) fn quorum_hashes(&self, kind: VoteKind, view: u64, quorum: usize) -> Vec<Digest> {
        self.hashes(kind, view)
            .map(|m| {
                m.iter()
                    .filter(|(_, s)| s.len() >= quorum)
                    .map(|(h, _)| *h)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of nullify votes for `view`.
    pub(crate) fn nullify_count(&self, view: u64) -> usize {
        self.nullify.get(&view).map_or(0, BTreeMap::len)
    }

    /// The votes of `kind` for (view, hash), sorted by signer.
    pub(crate) fn votes(&self, kind: VoteKind, view: u64, hash: &Digest) -> Vec<Vote> {
        self.signers(kind, view, hash)
            .map(|s| {
                s.iter()
                    .map(|(signer, signature)| Vote {
                        signer: *signer,
                        signature: *signature,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The certificate of `kind` on (height, view, hash) as currently held.
    pub(crate) fn certificate(
        &self,
        kind: VoteKind,
        height: u64,
        view: u64,
        hash: Digest,
    ) -> Certificate {
        Certificate {
            kind,
            height,
            view,
            block_hash: hash,
            votes: self.votes(kind, view, &hash),
        }
    }

    /// Mark a certificate as acted on; `true` the first time.
    pub(crate) fn first_time(&mut self, kind: VoteKind, view: u64, hash: Digest) -> bool {
        self.handled.insert((kind, view, hash))
    }

    /// Signers of finalize votes for (view, hash), for asking them for a missing block.
    pub(crate) fn finalizers(&self, view: u64, hash: &Digest) -> Vec<OrgId> {
        self.signers(VoteKind::Finalize, view, hash)
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedledger_ledger::OrgKey;

    #[test]
    fn duplicates_and_a_third_conflicting_vote_are_refused() {
        let k = OrgKey::from_secret([1; 32], "a");
        let c = Digest::ZERO;
        let mut r = Round::default();
        let a = SignedVote::sign(VoteKind::Notarize, 1, 0, Digest::of(b"a"), &k, &c);
        let b = SignedVote::sign(VoteKind::Notarize, 1, 0, Digest::of(b"b"), &k, &c);
        let d = SignedVote::sign(VoteKind::Notarize, 1, 0, Digest::of(b"d"), &k, &c);
        assert_eq!(r.probe_vote(&a), Ok(false));
        r.insert_vote(&a);
        assert_eq!(r.probe_vote(&a), Err(DropReason::Duplicate));
        assert_eq!(r.probe_vote(&b), Ok(true));
        r.insert_vote(&b);
        assert_eq!(r.probe_vote(&d), Err(DropReason::Equivocation));
        assert_eq!(r.quorum_hashes(VoteKind::Notarize, 0, 1).len(), 2);
        assert!(r.quorum_hashes(VoteKind::Notarize, 0, 2).is_empty());
    }
}
