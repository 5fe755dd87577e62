//! What travels over gossip: update announcements and consensus messages, in an envelope whose
//! nonce makes a deliberate re-send a new gossip message (gossipsub drops exact repeats, which
//! would stop a node's retries from reaching a peer that restarted).

use crate::consensus::Message;
use fedledger_ledger::block::{MembershipApproval, MembershipRequest, UpdateCommitment};
use fedledger_ledger::{codec, Digest, LedgerError, Signature};
use serde::{Deserialize, Serialize};

/// One gossip message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Sender-chosen; only makes repeats distinct. Carries no meaning.
    pub nonce: u64,
    /// The content.
    pub body: Gossip,
}

/// The content of a gossip message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Gossip {
    /// "My update for this round is ready; fetch its bytes from me by hash."
    Announce(UpdateCommitment),
    /// A consensus proposal, vote or certificate.
    Consensus(Message),
    /// A join or leave request, signed by its subject.
    Request {
        /// The request.
        request: MembershipRequest,
        /// The subject's signature (under the membership-request domain).
        signature: Signature,
    },
    /// A member's approval of the request with this hash.
    Approval {
        /// The request's hash.
        request: Digest,
        /// The approval.
        approval: MembershipApproval,
    },
}

impl Envelope {
    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decode untrusted bytes (trailing bytes are an error).
    pub fn decode(bytes: &[u8]) -> Result<Self, LedgerError> {
        codec::decode(bytes, "gossip envelope")
    }
}
