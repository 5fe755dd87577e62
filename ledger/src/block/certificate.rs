//! Finalization certificates: a quorum of finalize votes over one block hash.

use crate::digest::Digest;
use crate::identity::{domain, OrgId, OrgKey, Signature};
use serde::{Deserialize, Serialize};

/// What a finalize vote signs (under [`domain::FINALIZE`] and the chain id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalizeVote {
    /// Height of the block.
    pub height: u64,
    /// View in which it was proposed.
    pub view: u64,
    /// The block hash.
    pub block_hash: Digest,
}

impl FinalizeVote {
    /// Sign this vote.
    pub fn sign(&self, key: &OrgKey, chain_id: &Digest) -> Vote {
        Vote {
            signer: key.id(),
            signature: key.sign(domain::FINALIZE, chain_id, self),
        }
    }
}

/// One validator's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Who signed.
    pub signer: OrgId,
    /// Over the [`FinalizeVote`] of the block.
    pub signature: Signature,
}

/// The finalize votes that made a block final, sorted by signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FinalizationCertificate {
    /// The view the votes are for (must equal the header's view).
    pub view: u64,
    /// At least a quorum of distinct validators, sorted by signer id.
    pub votes: Vec<Vote>,
}
