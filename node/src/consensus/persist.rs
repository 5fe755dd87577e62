//! The safety state a node persists: every vote and proposal it made at the current height.
//!
//! After a restart the node must never contradict what it already signed: no second notarize in a
//! view, no finalize vote for a second block at the height, no second proposal in a view it led.
//! The lock is kept too, so a restarted node keeps helping the block it saw notarized. Finalized blocks are persisted separately by the ledger store
//! ([`super::Action::Commit`]); state for earlier heights is never needed again.

use super::message::Proposal;
use fedledger_ledger::{codec, Digest, LedgerError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// This node's commitments at one height.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SafetyState {
    /// The height these commitments are for.
    pub height: u64,
    /// The highest view entered (informational: views are re-entered from certificates).
    pub view: u64,
    /// Proposals this node made, by view (re-broadcast verbatim after a restart).
    pub proposed: BTreeMap<u64, Proposal>,
    /// The block this node notarized in each view.
    pub notarized: BTreeMap<u64, Digest>,
    /// Views this node nullified.
    pub nullified: BTreeSet<u64>,
    /// The one block this node signed a finalize vote for at this height: (its proposal view,
    /// its hash). Never more than one: this is what makes two finalization certificates at one
    /// height impossible.
    pub finalized: Option<(u64, Digest)>,
    /// The notarization with the highest view this node has seen: (view, block hash). It only
    /// notarizes that block from then on, so that honest nodes converge on one block.
    pub locked: Option<(u64, Digest)>,
}

impl SafetyState {
    /// Nothing signed yet at `height`.
    pub fn new(height: u64) -> Self {
        SafetyState {
            height,
            ..SafetyState::default()
        }
    }

    /// Canonical bytes for storage.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decode stored bytes (adversarial: a corrupted file gives an error, never a panic).
    pub fn decode(bytes: &[u8]) -> Result<Self, LedgerError> {
        codec::decode(bytes, "consensus safety state")
    }
}
