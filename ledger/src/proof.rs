//! Inclusion proofs of single entries that anyone can check with only the genesis file.
//!
//! A proof carries the entry, its block header and certificate, and the RFC 6962 audit path. The
//! certificate's signers must be validators at that height, which depends on every membership
//! change before it, so the proof also carries each earlier membership entry with its own block
//! evidence. Omitting a change can only be detected by a full audit; the proof says which history
//! it relied on.
//!
//! A proof may also carry a signed log checkpoint (see [`crate::tlog`]) and the RFC 6962 audit
//! path of the entry's block in that log, showing the block is in the history the checkpoint's
//! signers vouched for ([`verify_in_checkpoint`]).

mod attach;

pub use attach::attach_checkpoint;

use crate::block::{BlockHeader, Entry, FinalizationCertificate};
use crate::codec;
use crate::digest::Digest;
use crate::error::LedgerError;
use crate::genesis::Genesis;
use crate::identity::OrgId;
use crate::merkle::{self, InclusionProof};
use crate::store::LedgerStore;
use crate::tlog::{self, OpenedCheckpoint};
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
    /// A signed log checkpoint that includes the target's block, and the audit path there.
    /// Absent from proofs without one (and from files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointEvidence>,
}

/// The target's block in a signed log checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointEvidence {
    /// The signed checkpoint: a C2SP signed note, as `fedledger checkpoint` writes it.
    pub note: String,
    /// The RFC 6962 audit path of the block's leaf (index height - 1) in the log of the
    /// checkpoint's size.
    pub inclusion: Vec<Digest>,
}

const PROOF_FORMAT: &str = "fedledger-proof/v1";

/// What a verified proof establishes.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedEntry {
    /// The chain.
    pub chain_id: Digest,
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
        checkpoint: None,
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

/// Verify a proof against the genesis alone. A checkpoint the proof carries is not looked at:
/// see [`verify_proof_and_checkpoint`].
pub fn verify_proof(genesis: &Genesis, proof: &EntryProof) -> Result<VerifiedEntry, LedgerError> {
    verify_with_members(genesis, proof).map(|(v, _)| v)
}

/// [`verify_proof`], and everyone the proof shows to have been a member: the genesis members
/// and every organization admitted by its (verified) membership history, in that order.
fn verify_with_members(
    genesis: &Genesis,
    proof: &EntryProof,
) -> Result<(VerifiedEntry, Vec<OrgId>), LedgerError> {
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
    let mut members = genesis.member_ids();
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
        if matches!(
            change.request.action,
            crate::block::MembershipAction::Join { .. }
        ) && !members.contains(&change.request.subject)
        {
            members.push(change.request.subject);
        }
        validators.schedule(&change);
    }
    validators.advance_to(target_header.height);
    let (header, entry, leaf) = check_evidence(&proof.target, &validators, &chain_id)?;
    let verified = VerifiedEntry {
        chain_id,
        height: header.height,
        block_hash: header.hash(),
        index: proof.target.proof.index,
        leaf_hash: leaf,
        entry,
        membership_changes_used: proof.membership.len(),
    };
    Ok((verified, members))
}

/// What a checkpoint establishes about a verified entry's block.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedCheckpoint {
    /// The log's size (the chain's height the checkpoint vouches for).
    pub size: u64,
    /// The log's root at that size.
    pub root: Digest,
    /// The members whose signatures on the checkpoint verified.
    pub signers: Vec<OrgId>,
    /// The block's leaf index in the log (its height - 1).
    pub leaf_index: u64,
    /// Always true: the block is in the checkpoint's log (a failure is an error instead).
    pub in_checkpoint: bool,
    /// The genesis's witnesses whose cosignatures on the checkpoint verified (at least its
    /// `witness_quorum` when it names witnesses).
    pub cosigned_by: Vec<tlog::Cosigned>,
}

/// Check that a verified entry's block is in an opened (signature-checked) checkpoint: the
/// checkpoint is of the entry's chain, signed by at least one member, reaches the block's
/// height, and `inclusion` is the audit path of the block's hash at leaf `height - 1` of the
/// log of the checkpoint's size under the checkpoint's root.
///
/// This is the one place where an opened checkpoint is accepted as evidence for a proof; a
/// policy on whose signatures a checkpoint needs (a quorum of members, named witnesses'
/// cosignatures) belongs here.
pub fn verify_in_checkpoint(
    verified: &VerifiedEntry,
    checkpoint: &OpenedCheckpoint,
    inclusion: &[Digest],
) -> Result<VerifiedCheckpoint, LedgerError> {
    let refuse = |reason: String| LedgerError::ProofFailed {
        what: "checkpoint inclusion",
        reason,
    };
    let origin = tlog::origin(&verified.chain_id);
    if checkpoint.origin != origin {
        return Err(refuse(format!(
            "the checkpoint is of log {:?}, the entry's chain is {origin}",
            checkpoint.origin.chars().take(100).collect::<String>()
        )));
    }
    if checkpoint.signers.is_empty() {
        return Err(refuse("no member signed the checkpoint".into()));
    }
    if checkpoint.size < verified.height {
        return Err(refuse(format!(
            "the checkpoint's log has {} blocks; it cannot include block {}",
            checkpoint.size, verified.height
        )));
    }
    let leaf_index = verified.height.saturating_sub(1);
    tlog::verify_inclusion(
        leaf_index,
        checkpoint.size,
        &checkpoint.root,
        &verified.block_hash,
        inclusion,
    )?;
    Ok(VerifiedCheckpoint {
        size: checkpoint.size,
        root: checkpoint.root,
        signers: checkpoint.signers.clone(),
        leaf_index,
        in_checkpoint: true,
        cosigned_by: Vec::new(),
    })
}

/// Open a checkpoint note against the members a proof knows, saying so when it fails.
fn open_for_proof(
    note: &[u8],
    chain_id: &Digest,
    members: &[OrgId],
) -> Result<OpenedCheckpoint, LedgerError> {
    tlog::open_checkpoint(note, chain_id, members).map_err(|e| LedgerError::ProofFailed {
        what: "checkpoint",
        reason: format!(
            "{e} (checked against the {} members of the genesis and the proof's membership history)",
            members.len()
        ),
    })
}

/// [`verify_proof`], and when the proof carries a checkpoint, that the entry's block is in it
/// ([`verify_in_checkpoint`]). The checkpoint's signatures are checked against the genesis
/// members and every member the proof's membership history admitted.
pub fn verify_proof_and_checkpoint(
    genesis: &Genesis,
    proof: &EntryProof,
) -> Result<(VerifiedEntry, Option<VerifiedCheckpoint>), LedgerError> {
    let (verified, members) = verify_with_members(genesis, proof)?;
    let witnesses = genesis.transparency.as_ref();
    let Some(ev) = &proof.checkpoint else {
        if let Some(t) = witnesses {
            return Err(LedgerError::ProofFailed {
                what: "witness cosignatures",
                reason: format!(
                    "the genesis requires {} witness cosignature(s): build the proof with --checkpoint, a checkpoint its witnesses cosigned",
                    t.quorum()
                ),
            });
        }
        return Ok((verified, None));
    };
    let opened = open_for_proof(ev.note.as_bytes(), &verified.chain_id, &members)?;
    let mut cp = verify_in_checkpoint(&verified, &opened, &ev.inclusion)?;
    // The history every witness saw: the genesis's witnesses must have cosigned this very
    // checkpoint (a forged cosignature fails here too).
    if let Some(t) = witnesses {
        cp.cosigned_by = tlog::cosignatures(ev.note.as_bytes(), &t.witness_keys())?;
        if cp.cosigned_by.len() < t.quorum() {
            return Err(LedgerError::ProofFailed {
                what: "witness cosignatures",
                reason: format!(
                    "the checkpoint carries {} of the {} cosignature(s) the genesis requires",
                    cp.cosigned_by.len(),
                    t.quorum()
                ),
            });
        }
    }
    Ok((verified, Some(cp)))
}
