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
/// Where a large model's file is: its [`ModelRef`].
const MODEL_REF: &[u8] = b"model-ref";
/// Models larger than this (in bytes of f32) are files (`<data dir>/model/<hash>.f32`), not
/// sled values: sled holds a value whole in its cache and log, and a decoded value is capped at
/// the codec's 64 MiB, which would leave a node with a large model unable to restart.
pub const INLINE_MODEL_MAX: usize = 8 * 1024 * 1024;
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

/// The sled record of a model kept as a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ModelRef {
    height: u64,
    hash: Digest,
    params: u64,
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
    /// Where large models go (`<data dir>/model`); `None` keeps every model in sled.
    model_dir: Option<std::path::PathBuf>,
}

fn state_err(what: &str, e: impl std::fmt::Display) -> DaemonError {
    DaemonError::State(format!("{what}: {e}"))
}

impl NodeState {
    /// Open the `node` tree of `db`; large models are files in `model_dir`.
    pub fn open(db: &sled::Db, model_dir: Option<std::path::PathBuf>) -> Result<Self, DaemonError> {
        Ok(NodeState {
            tree: db.open_tree("node").map_err(|e| state_err("open", e))?,
            db: db.clone(),
            model_dir,
        })
    }

    fn model_file(&self, hash: &Digest) -> Option<std::path::PathBuf> {
        self.model_dir
            .as_ref()
            .map(|d| d.join(format!("{}.f32", hash.to_hex())))
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

    /// The persisted model, if any. A model file is checked against the hash its record names.
    pub fn model(&self) -> Result<Option<StoredModel>, DaemonError> {
        if let Some(r) = self.tree.get(MODEL_REF).map_err(|e| state_err("read", e))? {
            let r: ModelRef =
                codec::decode(&r, "model record").map_err(|e| state_err("model", e))?;
            let path = self
                .model_file(&r.hash)
                .ok_or_else(|| state_err("model", "a model file but no model directory"))?;
            let bytes = std::fs::read(&path)
                .map_err(|e| state_err(&format!("reading {}", path.display()), e))?;
            let params = crate::learn::model::decode_update(&bytes)
                .map_err(|e| state_err(&format!("model file {}", path.display()), e))?;
            if params.len() as u64 != r.params || crate::learn::model::model_hash(&params) != r.hash
            {
                return Err(state_err(
                    "model",
                    format!(
                        "{} does not hold the model {} it is recorded as",
                        path.display(),
                        r.hash.short()
                    ),
                ));
            }
            return Ok(Some(StoredModel {
                height: r.height,
                hash: r.hash,
                params,
            }));
        }
        match self.tree.get(MODEL).map_err(|e| state_err("read", e))? {
            None => Ok(None),
            Some(b) => codec::decode(&b, "stored model")
                .map(Some)
                .map_err(|e| state_err("model", e)),
        }
    }

    /// Make `m` durable. A large model is written to its file (synced, then renamed) before the
    /// record naming it, so a crash leaves the previous model or this one, whole; files of
    /// earlier models go once the record is durable.
    pub fn put_model(&self, m: &StoredModel) -> Result<(), DaemonError> {
        let path = match self.model_file(&m.hash) {
            Some(p) if m.params.len().saturating_mul(4) > INLINE_MODEL_MAX => p,
            _ => {
                self.put_durable(MODEL, codec::encode(m))?;
                let _ = self.tree.remove(MODEL_REF);
                return Ok(());
            }
        };
        let io = |e: std::io::Error| state_err(&format!("writing {}", path.display()), e);
        if !path.exists() {
            use std::io::Write;
            let dir = path
                .parent()
                .ok_or_else(|| state_err("model", "no model directory"))?;
            std::fs::create_dir_all(dir).map_err(io)?;
            let tmp = path.with_extension("partial");
            let f = std::fs::File::create(&tmp).map_err(io)?;
            // A megabyte at a time: never a second copy of the model in memory.
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            for part in m.params.chunks(1 << 18) {
                w.write_all(&crate::learn::model::encode_update(part))
                    .map_err(io)?;
            }
            let f = w.into_inner().map_err(|e| io(e.into_error()))?;
            f.sync_all().map_err(io)?;
            drop(f);
            std::fs::rename(&tmp, &path).map_err(io)?;
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        let r = ModelRef {
            height: m.height,
            hash: m.hash,
            params: m.params.len() as u64,
        };
        self.put_durable(MODEL_REF, codec::encode(&r))?;
        let _ = self.tree.remove(MODEL);
        if let Some(dir) = path.parent() {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.path() != path {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::model::model_hash;

    fn model(height: u64, n: usize, v: f32) -> StoredModel {
        let params = vec![v; n];
        StoredModel {
            height,
            hash: model_hash(&params),
            params,
        }
    }

    #[test]
    fn a_large_model_is_a_checked_file_that_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("model");
        let large = INLINE_MODEL_MAX / 4 + 1;
        {
            let db = sled::Config::new()
                .path(dir.path().join("db"))
                .open()
                .unwrap();
            let s = NodeState::open(&db, Some(files.clone())).unwrap();
            s.put_model(&model(1, 10, 0.5)).unwrap();
            assert_eq!(s.model().unwrap(), Some(model(1, 10, 0.5)));
            s.put_model(&model(2, large, 0.25)).unwrap();
            s.put_model(&model(3, large, 0.75)).unwrap();
            // Only the current model's file is kept.
            assert_eq!(std::fs::read_dir(&files).unwrap().count(), 1);
        }
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .unwrap();
        let s = NodeState::open(&db, Some(files.clone())).unwrap();
        assert_eq!(s.model().unwrap(), Some(model(3, large, 0.75)));
        // A file altered on disk is an error, not a wrong model.
        let path = files.join(format!("{}.f32", model(3, large, 0.75).hash.to_hex()));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(s.model().is_err());
        // Back to a small model: sled again.
        s.put_model(&model(4, 10, 1.0)).unwrap();
        assert_eq!(s.model().unwrap(), Some(model(4, 10, 1.0)));
    }
}
