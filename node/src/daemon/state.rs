//! What the node keeps beside its ledger in the same sled database: the consensus safety state,
//! the updates it released (with their privacy spends) and the current global model.
//!
//! Every write is flushed before the caller acts on it: a vote goes out only after the safety
//! state recording it is durable, an update only after its privacy spend is.

use super::error::DaemonError;
use crate::consensus::SafetyState;
use fedledger_ledger::block::{DpSpend, UpdateCommitment};
use fedledger_ledger::{codec, Digest};
use serde::{Deserialize, Serialize};

const SAFETY: &[u8] = b"safety";
const MODEL: &[u8] = b"model";
const OWN_PREFIX: &[u8] = b"own/";

/// The global model after a committed height.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredModel {
    /// The height it is the result of (0 = the genesis model).
    pub height: u64,
    /// Its hash (as committed in the block at `height`).
    pub hash: Digest,
    /// The parameters.
    pub params: Vec<f32>,
}

/// An update this member released: recorded before release, so its privacy spend counts even
/// if the node crashes right after and the update never reaches a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasedUpdate {
    /// The signed announcement (its `dp` is the spend).
    pub commitment: UpdateCommitment,
}

/// Typed access to the node's tree.
#[derive(Debug, Clone)]
pub struct NodeState {
    tree: sled::Tree,
    db: sled::Db,
}

fn state_err(what: &str, e: impl std::fmt::Display) -> DaemonError {
    DaemonError::State(format!("{what}: {e}"))
}

impl NodeState {
    /// Open the `node` tree of `db`.
    pub fn open(db: &sled::Db) -> Result<Self, DaemonError> {
        Ok(NodeState {
            tree: db.open_tree("node").map_err(|e| state_err("open", e))?,
            db: db.clone(),
        })
    }

    fn put_durable(&self, key: &[u8], value: Vec<u8>) -> Result<(), DaemonError> {
        self.tree
            .insert(key, value)
            .map_err(|e| state_err("write", e))?;
        self.db.flush().map_err(|e| state_err("flush", e))?;
        Ok(())
    }

    /// The last persisted safety state.
    pub fn safety(&self) -> Result<Option<SafetyState>, DaemonError> {
        match self.tree.get(SAFETY).map_err(|e| state_err("read", e))? {
            None => Ok(None),
            Some(b) => SafetyState::decode(&b)
                .map(Some)
                .map_err(|e| state_err("safety state", e)),
        }
    }

    /// Make `s` durable.
    pub fn put_safety(&self, s: &SafetyState) -> Result<(), DaemonError> {
        self.put_durable(SAFETY, s.encode())
    }

    /// The persisted model, if any.
    pub fn model(&self) -> Result<Option<StoredModel>, DaemonError> {
        match self.tree.get(MODEL).map_err(|e| state_err("read", e))? {
            None => Ok(None),
            Some(b) => codec::decode(&b, "stored model")
                .map(Some)
                .map_err(|e| state_err("model", e)),
        }
    }

    /// Make `m` durable.
    pub fn put_model(&self, m: &StoredModel) -> Result<(), DaemonError> {
        self.put_durable(MODEL, codec::encode(m))
    }

    fn own_key(round: u64) -> Vec<u8> {
        let mut k = OWN_PREFIX.to_vec();
        k.extend_from_slice(&round.to_be_bytes());
        k
    }

    /// The update released for `round`, if any.
    pub fn released(&self, round: u64) -> Result<Option<ReleasedUpdate>, DaemonError> {
        match self
            .tree
            .get(Self::own_key(round))
            .map_err(|e| state_err("read", e))?
        {
            None => Ok(None),
            Some(b) => codec::decode(&b, "released update")
                .map(Some)
                .map_err(|e| state_err("released update", e)),
        }
    }

    /// Record a release durably (before it is published).
    pub fn put_released(&self, u: &ReleasedUpdate) -> Result<(), DaemonError> {
        self.put_durable(
            &Self::own_key(u.commitment.announcement.round),
            codec::encode(u),
        )
    }

    /// Every spend this member has released, in round order.
    pub fn spends(&self) -> Result<Vec<DpSpend>, DaemonError> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(OWN_PREFIX) {
            let (_, v) = kv.map_err(|e| state_err("scan", e))?;
            let u: ReleasedUpdate =
                codec::decode(&v, "released update").map_err(|e| state_err("spends", e))?;
            out.push(u.commitment.announcement.dp);
        }
        Ok(out)
    }
}
