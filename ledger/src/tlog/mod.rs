//! The ledger as a transparency log: one leaf per block, RFC 6962 proofs, C2SP checkpoints.
//!
//! Leaf `i` (from 0) is the hash of the block at height `i + 1`, so a log of size `n` is the
//! chain up to height `n`. Blocks rather than entries: a block hash commits to its header,
//! whose entries root commits to every entry (see [`crate::merkle`]), so one block leaf per
//! height keeps a checkpoint per block and proofs of `log2(height)` hashes, and an entry's
//! inclusion is its block's inclusion in the log plus the entry's in the block. Leaf hashes
//! are `SHA-256(0x00 || block hash)`, interior nodes `SHA-256(0x01 || left || right)` (RFC
//! 6962); proofs are built and checked by `tlog_tiles` (a port of Go's `golang.org/x/mod/sumdb/
//! tlog`), whose consistency and audit paths are RFC 6962's.

mod checkpoint;
mod cosignature;
mod frontier;

pub use checkpoint::{
    checkpoint_text, cosign, open_checkpoint, origin, sign_checkpoint, OpenedCheckpoint,
    MAX_NOTE_BYTES,
};
pub use cosignature::{add_cosignature, cosignatures, Cosigned, WitnessKey, MAX_WITNESS_NAME};
pub use frontier::Frontier;

use crate::digest::Digest;
use crate::error::LedgerError;
use tlog_tiles::{HashReader, TreeProof};

/// The longest proof accepted: a log of 2^64 leaves needs at most 2 x 64 hashes.
pub const MAX_PROOF_HASHES: usize = 128;

/// The log of a chain's block hashes with every interior hash kept (about two per block), so
/// any root, consistency proof or inclusion proof costs `O(log n)` lookups.
#[derive(Debug, Clone, Default)]
pub struct BlockLog {
    /// `tlog_tiles` stored hashes, in stored-hash index order.
    stored: Vec<tlog_tiles::Hash>,
    size: u64,
}

/// [`HashReader`] over the stored hashes.
struct Stored<'a>(&'a [tlog_tiles::Hash]);

impl HashReader for Stored<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.0.get(i))
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl BlockLog {
    /// An empty log.
    pub fn new() -> Self {
        BlockLog::default()
    }

    /// The log of these block hashes, heights 1, 2, ... in order.
    pub fn from_block_hashes<'a>(hashes: impl IntoIterator<Item = &'a Digest>) -> Self {
        let mut log = BlockLog::new();
        for h in hashes {
            log.append(h);
        }
        log
    }

    /// Leaves so far (the chain's height).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append the next block's hash.
    pub fn append(&mut self, block_hash: &Digest) {
        // Reads only hashes this log stored (indexes below its own length), so it cannot fail.
        if let Ok(hashes) =
            tlog_tiles::stored_hashes(self.size, block_hash.as_bytes(), &Stored(&self.stored))
        {
            self.stored.extend(hashes);
            self.size += 1;
        }
    }

    /// The root of the log's first `size` leaves (the empty tree's for 0).
    pub fn root(&self, size: u64) -> Result<Digest, LedgerError> {
        self.check_size(size)?;
        tlog_tiles::tree_hash(size, &Stored(&self.stored))
            .map(|h| Digest(h.0))
            .map_err(|e| internal(&e))
    }

    /// The RFC 6962 consistency proof from size `old` to size `new` (1 <= old <= new).
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Digest>, LedgerError> {
        self.check_size(new)?;
        if old == 0 || old > new {
            return Err(LedgerError::InvalidInput {
                what: "consistency proof",
                reason: format!("needs 1 <= old size <= new size, found {old} and {new}"),
            });
        }
        tlog_tiles::prove_tree(new, old, &Stored(&self.stored))
            .map(|p| p.into_iter().map(|h| Digest(h.0)).collect())
            .map_err(|e| internal(&e))
    }

    /// The RFC 6962 audit path of leaf `index` (height `index + 1`) in the log of size `size`.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Digest>, LedgerError> {
        self.check_size(size)?;
        if index >= size {
            return Err(LedgerError::InvalidInput {
                what: "inclusion proof",
                reason: format!("leaf {index} is not in a log of size {size}"),
            });
        }
        tlog_tiles::prove_record(size, index, &Stored(&self.stored))
            .map(|p| p.into_iter().map(|h| Digest(h.0)).collect())
            .map_err(|e| internal(&e))
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        if size > self.size {
            return Err(LedgerError::InvalidInput {
                what: "log size",
                reason: format!("the log holds {} blocks, not {size}", self.size),
            });
        }
        Ok(())
    }
}

fn internal(e: &tlog_tiles::Error) -> LedgerError {
    LedgerError::Storage {
        reason: format!("log hashes: {e}"),
    }
}

/// The leaf hash of a block: `SHA-256(0x00 || block hash)`.
pub fn leaf_hash(block_hash: &Digest) -> Digest {
    Digest(tlog_tiles::record_hash(block_hash.as_bytes()).0)
}

fn to_tlog(d: &Digest) -> tlog_tiles::Hash {
    tlog_tiles::Hash(d.0)
}

/// Check that `proof` shows the log of size `old` with root `old_root` to be a prefix of the
/// log of size `new` with root `new_root`.
pub fn verify_consistency(
    old: u64,
    old_root: &Digest,
    new: u64,
    new_root: &Digest,
    proof: &[Digest],
) -> Result<(), LedgerError> {
    let fail = |reason: String| LedgerError::ProofFailed {
        what: "consistency proof",
        reason,
    };
    if old == 0 || old > new {
        return Err(fail(format!(
            "needs 1 <= old size <= new size, found {old} and {new}"
        )));
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else if old_root != new_root {
            Err(fail(format!(
                "two roots for size {old}: {} and {}",
                old_root.short(),
                new_root.short()
            )))
        } else {
            Err(fail("a proof between equal sizes must be empty".into()))
        };
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(fail(format!("{} hashes is too long a proof", proof.len())));
    }
    let p: TreeProof = proof.iter().map(to_tlog).collect();
    tlog_tiles::check_tree(&p, new, to_tlog(new_root), old, to_tlog(old_root)).map_err(|_| {
        fail(format!(
            "the log of size {old} with root {} is not a prefix of the log of size {new} with root {}",
            old_root.short(),
            new_root.short()
        ))
    })
}

/// Check that `proof` puts `block_hash` at leaf `index` of the log of size `size` with root
/// `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    root: &Digest,
    block_hash: &Digest,
    proof: &[Digest],
) -> Result<(), LedgerError> {
    let fail = |reason: String| LedgerError::ProofFailed {
        what: "inclusion proof",
        reason,
    };
    if index >= size {
        return Err(fail(format!("leaf {index} is not in a log of size {size}")));
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(fail(format!("{} hashes is too long a proof", proof.len())));
    }
    let p: Vec<tlog_tiles::Hash> = proof.iter().map(to_tlog).collect();
    let leaf = tlog_tiles::Hash(leaf_hash(block_hash).0);
    tlog_tiles::check_record(&p, size, to_tlog(root), index, leaf).map_err(|_| {
        fail(format!(
            "block {} is not leaf {index} of the log of size {size} with root {}",
            block_hash.short(),
            root.short()
        ))
    })
}

#[cfg(test)]
mod tests;
