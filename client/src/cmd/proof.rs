//! `fedledger proof` and `fedledger verify-proof`: single-entry inclusion proofs.

use crate::source::LedgerSource;
use anyhow::Context;
use fedledger_ledger::proof::{
    attach_checkpoint, build_proof, verify_proof_and_checkpoint, EntryProof,
};
use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::{Digest, Genesis};
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a proof that one entry (by entry hash or update hash) is in the ledger.
///
/// The proof holds the entry, its block header and finalization certificate, the RFC 6962 audit
/// path, and every earlier membership change (so the certificate's signers can be checked with
/// only the genesis). With --checkpoint it also shows the entry's block is in a signed log
/// checkpoint. Check it with `fedledger verify-proof`.
#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// The consortium's genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    #[command(flatten)]
    source: LedgerSource,
    /// The entry's leaf hash or an update hash (64 hex characters).
    #[arg(long, value_name = "HASH")]
    entry: Digest,
    /// Where to write the proof (JSON); stdout if absent.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also show the block is in this signed checkpoint (written by `fedledger checkpoint`, or
    /// a node's): its size must reach the block's height and its root match this ledger's. The
    /// proof then carries the note and the block's RFC 6962 audit path in the checkpoint's log.
    #[arg(long, value_name = "CP_FILE")]
    checkpoint: Option<PathBuf>,
}

/// Check an inclusion proof against a genesis file, offline.
///
/// When the proof carries a signed checkpoint, also checks that a member signed it (a genesis
/// member or one the proof's membership history admitted) and that the entry's block is in the
/// checkpoint's log. When the genesis names witnesses ([transparency]), the proof must carry a
/// checkpoint they cosigned: the entry is then in the history every one of them saw. Exit
/// status 0 if the proof holds, 1 if it does not.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The proof file written by `fedledger proof`.
    #[arg(long, value_name = "FILE")]
    proof: PathBuf,
    /// The consortium's genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// Print the verified entry as JSON.
    #[arg(long)]
    json: bool,
}

/// Build a proof.
pub fn prove(a: ProveArgs) -> anyhow::Result<ExitCode> {
    let genesis = Genesis::load(&a.genesis)?;
    let chain_id = genesis.chain_id();
    let store = match (&a.source.data_dir, &a.source.file) {
        (Some(dir), _) => LedgerSource::open_store(dir)?,
        (None, Some(file)) => {
            // Load the export into a temporary store to index it; an export is verified first so
            // we never prove an entry of an invalid ledger.
            let reader = LedgerSource::open_file(file)?;
            let store = SledStore::temporary()?;
            let mut state = fedledger_ledger::verify::ChainState::new(&genesis);
            for b in reader {
                let b = b.map_err(|v| anyhow::anyhow!("{}: {v}", file.display()))?;
                state
                    .apply(b.clone())
                    .map_err(|v| anyhow::anyhow!("{}: {v}", file.display()))?;
                store.append(&b)?;
            }
            store
        }
        (None, None) => anyhow::bail!("--data-dir or --file is required"),
    };
    let mut proof = build_proof(&store, chain_id, &a.entry)?;
    let mut in_checkpoint = String::new();
    if let Some(path) = &a.checkpoint {
        let note = super::checkpoint::read_note(path)?;
        let cp = attach_checkpoint(&store, &genesis, &mut proof, &note)
            .with_context(|| format!("{} cannot be added to the proof", path.display()))?;
        in_checkpoint = format!(
            " (in the checkpoint of size {}, root {})",
            cp.size,
            cp.root.short()
        );
    }
    let json = serde_json::to_string_pretty(&proof)?;
    match &a.out {
        Some(p) => {
            std::fs::write(p, json).with_context(|| format!("writing {}", p.display()))?;
            eprintln!(
                "wrote proof of entry at height {}{in_checkpoint} to {}",
                proof.target.height,
                p.display()
            );
        }
        None => println!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Verify a proof.
pub fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let genesis = Genesis::load(&a.genesis)?;
    let text = std::fs::read_to_string(&a.proof)
        .with_context(|| format!("reading {}", a.proof.display()))?;
    let proof: EntryProof = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a fedledger proof", a.proof.display()))?;
    match verify_proof_and_checkpoint(&genesis, &proof) {
        Ok((v, cp)) => {
            if a.json {
                super::print_json(&serde_json::json!({
                    "valid": true,
                    "verified": v,
                    "in_checkpoint": cp.is_some(),
                    "checkpoint": cp,
                }))?;
            } else {
                println!(
                    "proof holds: entry {} is #{} of block {} ({}), finalized by a quorum of validators ({} membership changes applied)",
                    v.leaf_hash.short(),
                    v.index,
                    v.height,
                    v.block_hash.short(),
                    v.membership_changes_used
                );
                if let Some(cp) = cp {
                    println!(
                        "and block {} is leaf {} of the log checkpoint of size {} (root {}) signed by member(s) {}",
                        v.height,
                        cp.leaf_index,
                        cp.size,
                        cp.root.short(),
                        cp.signers
                            .iter()
                            .map(|o| o.short())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    if !cp.cosigned_by.is_empty() {
                        println!(
                            "cosigned by witness(es) {}: the history they saw",
                            cp.cosigned_by
                                .iter()
                                .map(|c| c.witness.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                super::print_json(&serde_json::json!({"valid": false, "error": e.to_string()}))?;
            } else {
                println!("proof does NOT hold: {e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}
