//! Adding a signed checkpoint to a proof: the audit path of the target's block in the log of
//! the checkpoint's size, computed from the store's block hashes.

use super::{
    open_for_proof, verify_in_checkpoint, verify_with_members, CheckpointEvidence, EntryProof,
    VerifiedCheckpoint,
};
use crate::error::LedgerError;
use crate::genesis::Genesis;
use crate::store::LedgerStore;
use crate::tlog::BlockLog;

fn refuse(reason: String) -> LedgerError {
    LedgerError::InvalidInput {
        what: "checkpoint",
        reason,
    }
}

/// Add the signed checkpoint `note` to `proof`, with the audit path of the target's block in
/// the log of the checkpoint's size, computed from `store`.
///
/// The proof is verified first, and the note opened against the members the verifier will
/// use (the genesis members and those the proof's membership history admitted), so a proof
/// that is written also verifies. Refused if the checkpoint does not reach the block's height,
/// is larger than the store, or has another root than the store's at its size (naming both).
pub fn attach_checkpoint(
    store: &dyn LedgerStore,
    genesis: &Genesis,
    proof: &mut EntryProof,
    note: &[u8],
) -> Result<VerifiedCheckpoint, LedgerError> {
    let (verified, members) = verify_with_members(genesis, proof)?;
    let opened = open_for_proof(note, &verified.chain_id, &members)?;
    let size = opened.size;
    if size < verified.height {
        return Err(refuse(format!(
            "it is of size {size}, below the entry's block height {}: it cannot include the block",
            verified.height
        )));
    }
    let tip = store.tip()?.map_or(0, |t| t.0);
    if size > tip {
        return Err(refuse(format!(
            "it is of size {size}, and this ledger holds {tip} blocks: it cannot show the path there"
        )));
    }
    let log = stored_log(store, size)?;
    let ours = log.root(size)?;
    if ours != opened.root {
        return Err(refuse(format!(
            "its root at size {size} is {}, this ledger's is {ours}: they record different histories",
            opened.root
        )));
    }
    let inclusion = log.inclusion(verified.height - 1, size)?;
    let checked = verify_in_checkpoint(&verified, &opened, &inclusion)?;
    let note = String::from_utf8(note.to_vec()).map_err(|_| LedgerError::Malformed {
        what: "signed checkpoint",
        reason: "not UTF-8".into(),
    })?;
    proof.checkpoint = Some(CheckpointEvidence { note, inclusion });
    Ok(checked)
}

/// The log of the store's first `size` block hashes.
fn stored_log(store: &dyn LedgerStore, size: u64) -> Result<BlockLog, LedgerError> {
    let mut log = BlockLog::new();
    for h in 1..=size {
        let block = store.block(h)?.ok_or_else(|| LedgerError::InvalidInput {
            what: "proof",
            reason: format!("block {h} is not stored"),
        })?;
        log.append(&block.hash());
    }
    Ok(log)
}
