//! Inclusion proofs of single entries that anyone can check with only the genesis file.
//!
//! A proof carries the entry, its block header and certificate, and the RFC 6962 audit path. The
//! certificate's signers must be validators at that height, which depends on every membership
//! change before it, so the proof also carries each earlier membership entry with its own block
//! evidence. Omitting a change can only be detected by a full audit; the proof says which history
//! it relied on.

use crate::block::{BlockHeader, Entry, FinalizationCertificate};
use crate::codec;
use crate::digest::Digest;
use crate::error::LedgerError;
use crate::genesis::Genesis;
use crate::merkle::{self, InclusionProof};
use crate::store::LedgerStore;
use crate::verify::{verify_certificate, Rule, ValidatorSet, Violation};
use serde::{Deserialize, Serialize};

/// One entry, proven to be in a finalized block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryEvidence {
    /// Canonical header bytes (hex); the block hash is their SHA-256.
    pub header_hex: String,
    /// The finalize votes over that header.
    pub certificate: FinalizationCertificate,
    /// Canonical entry bytes (hex); the leaf hash is SHA-256(0x00 || these).
    pub entry_hex: String,
    /// The audit path.
    pub proof: InclusionProof,
    /// Decoded entry, for people (ignored by verification).
    pub entry: Entry,
    /// Block height, for people (ignored by verification).
    pub height: u64,
}

/// A proof file: the target entry plus the membership history it depends on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryProof {
    /// Format marker.
    pub format: String,
    /// The chain.
    pub chain_id: Digest,
    /// The entry being proven.
    pub target: EntryEvidence,
    /// Every membership change recorded before the target's height, in ledger order.
    pub membership: Vec<EntryEvidence>,
}

const PROOF_FORMAT: &str = "fedledger-proof/v1";

/// What a verified proof establishes.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedEntry {
    /// Height of the block.
    pub height: u64,
    /// Hash of the block.
    pub block_hash: Digest,
    /// Position of the entry.
    pub index: u64,
    /// Leaf hash of the entry.
    pub leaf_hash: Digest,
    /// The entry.
    pub entry: Entry,
    /// Number of membership changes the validator set was derived from.
    pub membership_changes_used: usize,
}

fn evidence(
    store: &dyn LedgerStore,
    height: u64,
    index: u32,
) -> Result<EntryEvidence, LedgerError> {
    let missing = || LedgerError::InvalidInput {
        what: "proof",
        reason: format!("block {height} is not stored"),
    };
    let raw = store.raw_block(height)?.ok_or_else(missing)?;
    let block = crate::block::Block::decode(&raw)?;
    let leaves = block.leaf_hashes();
    let proof =
        merkle::prove(&leaves, index as usize).ok_or_else(|| LedgerError::InvalidInput {
            what: "proof",
            reason: format!("no entry {index} in block {height}"),
        })?;
    let entry = block.entries[index as usize].clone();
    Ok(EntryEvidence {
        header_hex: hex::encode(codec::encode(&block.header)),
        certificate: block.certificate.clone(),
        entry_hex: hex::encode(entry.encode()),
        proof,
        entry,
        height,
    })
}

/// Build a proof for the entry or update `hash` from a store.
pub fn build_proof(
    store: &dyn LedgerStore,
    chain_id: Digest,
    hash: &Digest,
) -> Result<EntryProof, LedgerError> {
    let loc = store
        .locate(hash)?
        .ok_or_else(|| LedgerError::InvalidInput {
            what: "entry hash",
            reason: format!("{hash} is neither an entry nor an update hash in this ledger"),
        })?;
    let target = evidence(store, loc.height, loc.index)?;
    let mut membership = Vec::new();
    for h in 1..loc.height {
        let Some(raw) = store.raw_block(h)? else {
            break;
        };
        let block = crate::block::Block::decode(&raw)?;
        for (i, e) in block.entries.iter().enumerate() {
            if matches!(e, Entry::Membership(_)) {
                membership.push(evidence(store, h, i as u32)?);
            }
        }
    }
    Ok(EntryProof {
        format: PROOF_FORMAT.into(),
        chain_id,
        target,
        membership,
    })
}

fn check_evidence(
    ev: &EntryEvidence,
    validators: &ValidatorSet,
    chain_id: &Digest,
) -> Result<(BlockHeader, Entry, Digest), LedgerError> {
    let bad = |what: &str| LedgerError::InvalidInput {
        what: "proof",
        reason: what.to_string(),
    };
    let header_bytes = hex::decode(&ev.header_hex).map_err(|_| bad("header_hex is not hex"))?;
    let header: BlockHeader = codec::decode(&header_bytes, "block header")?;
    if header.chain_id != *chain_id {
        return Err(Violation {
            height: header.height,
            rule: Rule::ChainId,
            expected: format!("chain {chain_id}"),
            found: format!("chain {}", header.chain_id),
        }
        .into());
    }
    verify_certificate(validators, chain_id, &header, &ev.certificate, true)?;
    let entry_bytes = hex::decode(&ev.entry_hex).map_err(|_| bad("entry_hex is not hex"))?;
    let entry: Entry = codec::decode(&entry_bytes, "entry")?;
    let leaf = merkle::leaf_hash(&entry_bytes);
    if ev.proof.size != u64::from(header.entry_count)
        || !merkle::verify(&header.entry_root, &leaf, &ev.proof)
    {
        return Err(Violation {
            height: header.height,
            rule: Rule::EntryRoot,
            expected: format!("an audit path to entry root {}", header.entry_root),
            found: "a path that does not lead there".into(),
        }
        .into());
    }
    Ok((header, entry, leaf))
}

/// Verify a proof against the genesis alone.
pub fn verify_proof(genesis: &Genesis, proof: &EntryProof) -> Result<VerifiedEntry, LedgerError> {
    if proof.format != PROOF_FORMAT {
        return Err(LedgerError::InvalidInput {
            what: "proof",
            reason: format!("unknown format {:?}", proof.format),
        });
    }
    let chain_id = genesis.chain_id();
    if proof.chain_id != chain_id {
        return Err(LedgerError::InvalidInput {
            what: "proof",
            reason: format!(
                "proof is for chain {}, the genesis is chain {chain_id}",
                proof.chain_id
            ),
        });
    }
    let mut validators = ValidatorSet::from_genesis(genesis);
    let mut last_height = 0;
    let target_header: BlockHeader = codec::decode(
        &hex::decode(&proof.target.header_hex).map_err(|_| LedgerError::InvalidInput {
            what: "proof",
            reason: "header_hex is not hex".into(),
        })?,
        "block header",
    )?;
    for ev in &proof.membership {
        let h: BlockHeader = codec::decode(
            &hex::decode(&ev.header_hex).map_err(|_| LedgerError::InvalidInput {
                what: "proof",
                reason: "header_hex is not hex".into(),
            })?,
            "block header",
        )?;
        if h.height < last_height || h.height >= target_header.height {
            return Err(LedgerError::InvalidInput {
                what: "proof",
                reason: "membership evidence must be in ledger order and before the target".into(),
            });
        }
        last_height = h.height;
        validators.advance_to(h.height);
        let (_, entry, _) = check_evidence(ev, &validators, &chain_id)?;
        let Entry::Membership(change) = entry else {
            return Err(LedgerError::InvalidInput {
                what: "proof",
                reason: "membership evidence holds another entry kind".into(),
            });
        };
        validators.schedule(&change);
    }
    validators.advance_to(target_header.height);
    let (header, entry, leaf) = check_evidence(&proof.target, &validators, &chain_id)?;
    Ok(VerifiedEntry {
        height: header.height,
        block_hash: header.hash(),
        index: proof.target.proof.index,
        leaf_hash: leaf,
        entry,
        membership_changes_used: proof.membership.len(),
    })
}
