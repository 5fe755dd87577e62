//! The block header: everything the block hash covers.

use crate::codec;
use crate::digest::Digest;
use crate::identity::OrgId;
use serde::{Deserialize, Serialize};

/// The hashed part of a block. `hash = SHA-256(canonical(header))`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Ledger format version.
    pub version: u16,
    /// The consortium: hash of the genesis.
    pub chain_id: Digest,
    /// The training round; the first block has height 1.
    pub height: u64,
    /// The consensus view in which this block was finalized (0 if the first leader succeeded).
    pub view: u64,
    /// Hash of block `height - 1`, or the chain id for height 1.
    pub prev_hash: Digest,
    /// RFC 6962 root over the entries.
    pub entry_root: Digest,
    /// Number of entries.
    pub entry_count: u32,
    /// Hash of the global model after this round's aggregation.
    pub model_hash: Digest,
    /// The leader of (height, view) that proposed the block.
    pub proposer: OrgId,
    /// Proposer's clock, unix milliseconds; non-decreasing along the chain.
    pub timestamp_ms: u64,
}

impl BlockHeader {
    /// SHA-256 of the canonical encoding.
    pub fn hash(&self) -> Digest {
        Digest::of(&codec::encode(self))
    }
}
