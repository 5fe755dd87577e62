//! Blocks: a header, the round's entries, and the finalization certificate.

mod certificate;
mod entry;
mod header;
pub mod limits;

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

/// Everything a proposer decides about a block besides its entries.
#[derive(Debug, Clone)]
pub struct BlockPlan {
    /// Chain id.
    pub chain_id: Digest,
    /// Height.
    pub height: u64,
    /// View.
    pub view: u64,
    /// Previous block hash (chain id at height 1).
    pub prev_hash: Digest,
    /// The new global model's hash.
    pub model_hash: Digest,
    /// The leader proposing.
    pub proposer: crate::identity::OrgId,
    /// Proposer's clock (ms).
    pub timestamp_ms: u64,
}

impl BlockPlan {
    /// Sort `entries` into canonical order and build the header over them.
    pub fn seal(self, mut entries: Vec<Entry>) -> (BlockHeader, Vec<Entry>) {
        entries.sort_by_key(|e| e.sort_key());
        let root = merkle::root(&entries.iter().map(Entry::leaf_hash).collect::<Vec<_>>());
        let header = BlockHeader {
            version: crate::genesis::FORMAT_VERSION,
            chain_id: self.chain_id,
            height: self.height,
            view: self.view,
            prev_hash: self.prev_hash,
            entry_root: root,
            entry_count: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            model_hash: self.model_hash,
            proposer: self.proposer,
            timestamp_ms: self.timestamp_ms,
        };
        (header, entries)
    }
}

impl FinalizationCertificate {
    /// A certificate from votes in any order; duplicates by signer are dropped.
    pub fn from_votes(view: u64, mut votes: Vec<Vote>) -> Self {
        votes.sort_by_key(|a| a.signer);
        votes.dedup_by(|a, b| a.signer == b.signer);
        FinalizationCertificate { view, votes }
    }
}
