//! The node's ledger as a transparency log: its block hashes and the latest checkpoint it
//! signed, shared with the status listener for `GET /checkpoint`, `GET /consistency` and
//! `GET /blocks` (what monitors verify incrementally).

use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::tlog::{self, BlockLog};
use fedledger_ledger::{Digest, OrgKey};
use std::sync::{Arc, OnceLock, RwLock};

/// Most blocks one `GET /blocks` returns.
pub const MAX_BLOCKS_PER_REQUEST: u64 = 256;
/// A `GET /blocks` answer stops adding blocks past this many bytes (it always has one).
pub const MAX_BLOCKS_BYTES: usize = 16 * 1024 * 1024;

/// The log and the latest signed checkpoint; the node loop writes, the listener reads.
#[derive(Debug, Clone, Default)]
pub struct Transparency {
    inner: Arc<RwLock<State>>,
    /// The ledger, for serving committed blocks (set once the node opened it).
    store: Arc<OnceLock<SledStore>>,
}

#[derive(Debug, Default)]
struct State {
    log: BlockLog,
    /// The signed note of the checkpoint at the log's size.
    checkpoint: Option<String>,
}

/// A consistency proof between two sizes of the node's log, with both roots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsistencyProof {
    /// The smaller size.
    pub old_size: u64,
    /// Its root (hex).
    pub old_root: String,
    /// The larger size.
    pub new_size: u64,
    /// Its root (hex).
    pub new_root: String,
    /// The RFC 6962 proof, hashes in hex.
    pub proof: Vec<String>,
}

impl Transparency {
    /// Append committed blocks' hashes, then sign the checkpoint at the new size with `key`.
    pub fn append(&self, block_hashes: &[Digest], chain_id: &Digest, key: &OrgKey) {
        let Ok(mut st) = self.inner.write() else {
            return;
        };
        for h in block_hashes {
            st.log.append(h);
        }
        let size = st.log.size();
        if size == 0 {
            return;
        }
        match tlog::sign_checkpoint(chain_id, &st.log, size, &[key]) {
            Ok(note) => st.checkpoint = Some(note),
            Err(e) => {
                tracing::warn!(target: super::TARGET, size, error = %e, "could not sign a checkpoint")
            }
        }
    }

    /// Serve blocks from `store` (the node's ledger; sled handles are shared, not copied).
    pub fn attach_store(&self, store: SledStore) {
        let _ = self.store.set(store);
    }

    /// Raw committed blocks from height `from` (>= 1), at most `max` (capped at
    /// [`MAX_BLOCKS_PER_REQUEST`]) and about [`MAX_BLOCKS_BYTES`]; empty past the tip. Reads
    /// the disk: call from a blocking thread.
    pub fn blocks(&self, from: u64, max: u64) -> Result<Vec<Vec<u8>>, String> {
        let store = self.store.get().ok_or("no ledger is attached")?;
        if from == 0 {
            return Err("heights start at 1".into());
        }
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for h in from..from.saturating_add(max.clamp(1, MAX_BLOCKS_PER_REQUEST)) {
            match store.raw_block(h).map_err(|e| e.to_string())? {
                Some(b) => {
                    bytes += b.len();
                    out.push(b);
                    if bytes >= MAX_BLOCKS_BYTES {
                        break;
                    }
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// The latest signed checkpoint, if any block is committed.
    pub fn checkpoint(&self) -> Option<String> {
        self.inner.read().ok().and_then(|s| s.checkpoint.clone())
    }

    /// The consistency proof from `old` to `new` (1 <= old <= new <= size), or why not.
    pub fn consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof, String> {
        let (old_root, new_root, proof) = self.roots_and_proof(old, new)?;
        Ok(ConsistencyProof {
            old_size: old,
            old_root: old_root.to_hex(),
            new_size: new,
            new_root: new_root.to_hex(),
            proof: proof.iter().map(Digest::to_hex).collect(),
        })
    }

    /// The roots at `old` and `new` and the consistency proof between them, under one read
    /// lock so all three describe the same log (for the libp2p fetch protocol).
    pub fn roots_and_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<(Digest, Digest, Vec<Digest>), String> {
        let st = self
            .inner
            .read()
            .map_err(|_| "the log is unavailable".to_string())?;
        let proof = st.log.consistency(old, new).map_err(|e| e.to_string())?;
        let root = |n| st.log.root(n).map_err(|e| e.to_string());
        Ok((root(old)?, root(new)?, proof))
    }
}
