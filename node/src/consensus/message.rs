//! Consensus messages: signed proposals and votes, forwarded certificates, and block sync.
//!
//! Every signature covers a domain tag, the chain id and the canonical encoding of a small payload
//! (see [`fedledger_ledger::identity::signing_bytes`]). Finalize votes sign exactly the ledger's
//! [`FinalizeVote`], so a quorum of them is directly a [`fedledger_ledger::block::FinalizationCertificate`].

use fedledger_ledger::block::{FinalizeVote, Vote};
use fedledger_ledger::identity::{self, domain};
use fedledger_ledger::{
    codec, Block, BlockHeader, Digest, Entry, LedgerError, OrgId, OrgKey, Signature,
};
use serde::{Deserialize, Serialize};

/// What a leader signs for a proposal (under [`domain::PROPOSAL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalPayload {
    /// Height of the proposed block.
    pub height: u64,
    /// View it is proposed in (equals the header's view).
    pub view: u64,
    /// Hash of the proposed header.
    pub block_hash: Digest,
}

/// What a notarize vote signs (under [`domain::NOTARIZE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotarizePayload {
    /// Height.
    pub height: u64,
    /// View the vote is cast in.
    pub view: u64,
    /// The block voted for.
    pub block_hash: Digest,
}

/// What a nullify vote signs (under [`domain::NULLIFY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NullifyPayload {
    /// Height.
    pub height: u64,
    /// The view to abandon.
    pub view: u64,
}

/// A leader's proposal: the full block body (header and entries) and the leader's signature.
/// The leader is `header.proposer`; the view is `header.view`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The proposed header.
    pub header: BlockHeader,
    /// The entries, in canonical order; their root is `header.entry_root`.
    pub entries: Vec<Entry>,
    /// `header.proposer`'s signature over [`ProposalPayload`].
    pub signature: Signature,
}

impl Proposal {
    /// Sign a proposal as `key` (who must be `header.proposer`).
    pub fn sign(header: BlockHeader, entries: Vec<Entry>, key: &OrgKey) -> Self {
        let payload = ProposalPayload {
            height: header.height,
            view: header.view,
            block_hash: header.hash(),
        };
        let signature = key.sign(domain::PROPOSAL, &header.chain_id, &payload);
        Proposal {
            header,
            entries,
            signature,
        }
    }

    /// The signed payload (computes the header hash).
    pub fn payload(&self) -> ProposalPayload {
        ProposalPayload {
            height: self.header.height,
            view: self.header.view,
            block_hash: self.header.hash(),
        }
    }

    /// Check the proposer's signature on chain `chain_id`.
    pub fn verify(&self, chain_id: &Digest) -> Result<(), LedgerError> {
        identity::verify(
            &self.header.proposer,
            domain::PROPOSAL,
            chain_id,
            &self.payload(),
            &self.signature,
        )
    }
}

/// The three vote kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VoteKind {
    /// "This proposal is valid and the first I saw in this view."
    Notarize,
    /// "Abandon this view."
    Nullify,
    /// "I saw this block notarized in its view and did not nullify that view."
    Finalize,
}

impl VoteKind {
    /// The domain tag the vote is signed under.
    pub fn tag(&self) -> &'static [u8] {
        match self {
            VoteKind::Notarize => domain::NOTARIZE,
            VoteKind::Nullify => domain::NULLIFY,
            VoteKind::Finalize => domain::FINALIZE,
        }
    }
}

/// One signed vote. `block_hash` is [`Digest::ZERO`] for nullify votes and not signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVote {
    /// Kind of vote.
    pub kind: VoteKind,
    /// Height.
    pub height: u64,
    /// View (for finalize votes: the view the block was proposed in, as in its header).
    pub view: u64,
    /// The block (zero for nullify).
    pub block_hash: Digest,
    /// Who voted.
    pub signer: OrgId,
    /// Over the kind's payload under the kind's tag and the chain id.
    pub signature: Signature,
}

impl SignedVote {
    /// Sign a vote as `key`.
    pub fn sign(
        kind: VoteKind,
        height: u64,
        view: u64,
        block_hash: Digest,
        key: &OrgKey,
        chain_id: &Digest,
    ) -> Self {
        let block_hash = if kind == VoteKind::Nullify {
            Digest::ZERO
        } else {
            block_hash
        };
        let signature = match kind {
            VoteKind::Notarize => key.sign(
                kind.tag(),
                chain_id,
                &NotarizePayload {
                    height,
                    view,
                    block_hash,
                },
            ),
            VoteKind::Nullify => key.sign(kind.tag(), chain_id, &NullifyPayload { height, view }),
            VoteKind::Finalize => key.sign(
                kind.tag(),
                chain_id,
                &FinalizeVote {
                    height,
                    view,
                    block_hash,
                },
            ),
        };
        SignedVote {
            kind,
            height,
            view,
            block_hash,
            signer: key.id(),
            signature,
        }
    }

    /// Check the signature on chain `chain_id`.
    pub fn verify(&self, chain_id: &Digest) -> Result<(), LedgerError> {
        let (h, v, b) = (self.height, self.view, self.block_hash);
        match self.kind {
            VoteKind::Notarize => identity::verify(
                &self.signer,
                domain::NOTARIZE,
                chain_id,
                &NotarizePayload {
                    height: h,
                    view: v,
                    block_hash: b,
                },
                &self.signature,
            ),
            VoteKind::Nullify => {
                if b != Digest::ZERO {
                    return Err(LedgerError::Malformed {
                        what: "nullify vote",
                        reason: "carries a block hash".into(),
                    });
                }
                identity::verify(
                    &self.signer,
                    domain::NULLIFY,
                    chain_id,
                    &NullifyPayload { height: h, view: v },
                    &self.signature,
                )
            }
            VoteKind::Finalize => identity::verify(
                &self.signer,
                domain::FINALIZE,
                chain_id,
                &FinalizeVote {
                    height: h,
                    view: v,
                    block_hash: b,
                },
                &self.signature,
            ),
        }
    }

    /// The ledger form of a finalize vote (signer and signature).
    pub fn to_ledger_vote(&self) -> Vote {
        Vote {
            signer: self.signer,
            signature: self.signature,
        }
    }
}

/// A quorum of same-kind votes on one (height, view, block), forwarded so that nodes that missed
/// some votes still see the certificate. Receivers check every vote individually.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// Notarize (a notarization) or nullify (a nullification).
    pub kind: VoteKind,
    /// Height.
    pub height: u64,
    /// View.
    pub view: u64,
    /// The block (zero for a nullification).
    pub block_hash: Digest,
    /// Signer and signature of each vote.
    pub votes: Vec<Vote>,
}

impl Certificate {
    /// The individual votes it carries.
    pub fn unpack(&self) -> impl Iterator<Item = SignedVote> + '_ {
        self.votes.iter().map(|v| SignedVote {
            kind: self.kind,
            height: self.height,
            view: self.view,
            block_hash: self.block_hash,
            signer: v.signer,
            signature: v.signature,
        })
    }
}

/// Everything nodes send each other for consensus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// A leader's proposal (also re-broadcast by the first receivers, so a leader cannot show
    /// its block to only some members). Boxed: votes are far more frequent and much smaller.
    Propose(Box<Proposal>),
    /// A single vote.
    Vote(SignedVote),
    /// A forwarded notarization or nullification.
    Certificate(Certificate),
    /// "Send me finalized blocks from this height on." Unsigned: the transport authenticates the
    /// peer and serving it is harmless.
    SyncRequest {
        /// First missing height.
        from_height: u64,
    },
    /// Finalized blocks with their certificates, consecutive and ascending.
    SyncResponse {
        /// The blocks.
        blocks: Vec<Block>,
    },
}

impl Message {
    /// The height the message is about (the first block's height for a sync response; 0 for a
    /// request or an empty response).
    pub fn height(&self) -> u64 {
        match self {
            Message::Propose(p) => p.header.height,
            Message::Vote(v) => v.height,
            Message::Certificate(c) => c.height,
            Message::SyncRequest { .. } => 0,
            Message::SyncResponse { blocks } => blocks.first().map_or(0, |b| b.header.height),
        }
    }

    /// Who signed it: the voter or the proposer (`None` for certificates, which carry many
    /// signers, and for the unsigned sync messages).
    pub fn signer(&self) -> Option<OrgId> {
        match self {
            Message::Propose(p) => Some(p.header.proposer),
            Message::Vote(v) => Some(v.signer),
            _ => None,
        }
    }

    /// Check the signature of a vote or proposal on chain `chain_id` (`false` for the others).
    pub fn signature_ok(&self, chain_id: &Digest) -> bool {
        match self {
            Message::Propose(p) => p.verify(chain_id).is_ok(),
            Message::Vote(v) => v.verify(chain_id).is_ok(),
            _ => false,
        }
    }

    /// Canonical bytes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decode untrusted bytes from the wire.
    pub fn decode(bytes: &[u8]) -> Result<Self, LedgerError> {
        codec::decode(bytes, "consensus message")
    }

    /// A short name for logs and drop statistics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Message::Propose(_) => "propose",
            Message::Vote(v) => match v.kind {
                VoteKind::Notarize => "notarize",
                VoteKind::Nullify => "nullify",
                VoteKind::Finalize => "finalize",
            },
            Message::Certificate(c) => match c.kind {
                VoteKind::Nullify => "nullification",
                _ => "notarization",
            },
            Message::SyncRequest { .. } => "sync-request",
            Message::SyncResponse { .. } => "sync-response",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_are_bound_to_kind_chain_and_content() {
        let k = OrgKey::from_secret([3; 32], "a");
        let chain = Digest::of(b"c");
        let h = Digest::of(b"block");
        for kind in [VoteKind::Notarize, VoteKind::Nullify, VoteKind::Finalize] {
            let v = SignedVote::sign(kind, 5, 2, h, &k, &chain);
            assert!(v.verify(&chain).is_ok());
            assert!(v.verify(&Digest::of(b"other")).is_err());
            let mut w = v.clone();
            w.view = 3;
            assert!(w.verify(&chain).is_err());
            let mut w = v.clone();
            w.kind = if kind == VoteKind::Notarize {
                VoteKind::Finalize
            } else {
                VoteKind::Notarize
            };
            w.block_hash = h;
            assert!(
                w.verify(&chain).is_err(),
                "{kind:?} replayed as {:?}",
                w.kind
            );
        }
    }

    #[test]
    fn finalize_vote_signature_is_the_ledgers() {
        let k = OrgKey::from_secret([4; 32], "a");
        let chain = Digest::of(b"c");
        let h = Digest::of(b"block");
        let ours = SignedVote::sign(VoteKind::Finalize, 7, 1, h, &k, &chain);
        let ledger = FinalizeVote {
            height: 7,
            view: 1,
            block_hash: h,
        }
        .sign(&k, &chain);
        assert_eq!(ours.to_ledger_vote(), ledger);
    }

    #[test]
    fn messages_round_trip_and_reject_garbage() {
        let k = OrgKey::from_secret([5; 32], "a");
        let m = Message::Vote(SignedVote::sign(
            VoteKind::Nullify,
            1,
            0,
            Digest::ZERO,
            &k,
            &Digest::ZERO,
        ));
        assert_eq!(Message::decode(&m.encode()).ok(), Some(m.clone()));
        let mut b = m.encode();
        b.push(1);
        assert!(Message::decode(&b).is_err());
        assert!(Message::decode(&[0xff; 3]).is_err());
    }
}
