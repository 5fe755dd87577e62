//! Blocks: a header, the round's entries, and the finalization certificate.

mod certificate;
mod entry;
mod header;

pub use certificate::{FinalizationCertificate, FinalizeVote, Vote};
pub use entry::{
    BudgetSpend, DpSpend, Entry, EntryKind, Exclusion, GroupFairness, GroupRates, LocalMetrics,
    MembershipAction, MembershipApproval, MembershipChange, MembershipRequest, RoundMetrics,
    RoundSummary, UpdateAnnouncement, UpdateCommitment,
};
pub use header::BlockHeader;

use crate::codec;
use crate::digest::Digest;
use crate::error::LedgerError;
use crate::merkle;
use serde::{Deserialize, Serialize};

/// One finalized round: header, entries (in canonical order) and the certificate that finalized it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// The hashed part.
    pub header: BlockHeader,
    /// The round's records; their RFC 6962 root is `header.entry_root`.
    pub entries: Vec<Entry>,
    /// Finalize votes of a quorum of validators over `header.hash()`.
    pub certificate: FinalizationCertificate,
}

impl Block {
    /// The block hash: SHA-256 of the canonical header.
    pub fn hash(&self) -> Digest {
        self.header.hash()
    }

    /// Leaf hashes of the entries, in order.
    pub fn leaf_hashes(&self) -> Vec<Digest> {
        self.entries.iter().map(Entry::leaf_hash).collect()
    }

    /// RFC 6962 root of the entries as they are (not as the header claims).
    pub fn computed_entry_root(&self) -> Digest {
        merkle::root(&self.leaf_hashes())
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decode untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, LedgerError> {
        codec::decode(bytes, "block")
    }
}
