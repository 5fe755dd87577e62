//! `fedledger audit --checkpoint FILE`: check that the audited ledger is the history a signed
//! checkpoint describes, and that the witnesses the genesis names cosigned it.

use anyhow::Context;
use fedledger_ledger::tlog::{self, Cosigned, Frontier};
use fedledger_ledger::verify::{AuditReport, Rule, Violation};
use fedledger_ledger::{Digest, Genesis, OrgId};
use serde::Serialize;
use std::path::Path;

/// The checkpoint and the ledger's root at its size, collected while the audit runs.
#[derive(Debug)]
pub struct CheckpointCheck {
    note: Option<Vec<u8>>,
    /// The size the note claims (read before its signatures are checked, only to know which
    /// root to keep).
    size: u64,
    log: Frontier,
    root_at_size: Option<Digest>,
}

/// What `--json` shows of the checkpoint.
#[derive(Debug, Serialize)]
pub struct CheckpointJson {
    /// Its size.
    pub size: u64,
    /// Its root (hex).
    pub root: String,
    /// Members whose signatures verified.
    pub signers: Vec<String>,
    /// Genesis witnesses whose cosignatures verified.
    pub cosigned_by: Vec<Cosigned>,
    /// Cosignatures the genesis requires (0 without `[transparency]`).
    pub required: usize,
    /// Whether the ledger's root at the checkpoint's size is the checkpoint's.
    pub matches_ledger: bool,
}

impl CheckpointCheck {
    /// Read `path` (if given); `start` is the log the audit starts from (empty from genesis,
    /// the auditor state's with `--since`).
    pub fn new(path: Option<&Path>, start: Frontier) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(CheckpointCheck {
                note: None,
                size: 0,
                log: start,
                root_at_size: None,
            });
        };
        let len = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        anyhow::ensure!(
            len <= tlog::MAX_NOTE_BYTES as u64,
            "{} is larger than a signed checkpoint can be",
            path.display()
        );
        let note = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let size = std::str::from_utf8(&note)
            .ok()
            .and_then(|t| t.lines().nth(1))
            .and_then(|l| l.parse::<u64>().ok())
            .with_context(|| format!("{} is not a checkpoint", path.display()))?;
        anyhow::ensure!(
            size >= start.size(),
            "the checkpoint of size {size} precedes the auditor state (height {}): give a newer checkpoint",
            start.size()
        );
        let root_at_size = (size == start.size() && size > 0).then(|| start.root());
        Ok(CheckpointCheck {
            note: Some(note),
            size,
            log: start,
            root_at_size,
        })
    }

    /// After each verified block.
    pub fn on_block(&mut self, block_hash: &Digest) {
        if self.note.is_none() || self.root_at_size.is_some() {
            return;
        }
        self.log.append(block_hash);
        if self.log.size() == self.size {
            self.root_at_size = Some(self.log.root());
        }
    }

    /// Check the checkpoint against the audited ledger and the genesis's witnesses. A failed
    /// check is a violation at the audited height (exit 1); an unreadable note is an error.
    pub fn finish(
        self,
        genesis: &Genesis,
        report: &AuditReport,
    ) -> anyhow::Result<(Option<CheckpointJson>, Option<Violation>)> {
        let witnesses = genesis
            .transparency
            .as_ref()
            .map(|t| (t.witness_keys(), t.quorum()))
            .unwrap_or_default();
        let violation = |expected: String, found: String| Violation {
            height: report.height,
            rule: Rule::Checkpoint,
            expected,
            found,
        };
        let Some(note) = self.note else {
            if witnesses.1 == 0 {
                return Ok((None, None));
            }
            return Ok((
                None,
                Some(violation(
                    format!(
                        "a checkpoint cosigned by {} of the genesis's witnesses (--checkpoint FILE; `fedledger monitor` writes them)",
                        witnesses.1
                    ),
                    "none given".into(),
                )),
            ));
        };
        // Anyone who was ever a member may have signed it.
        let members: Vec<OrgId> = report.members.iter().map(|m| m.id).collect();
        let opened = tlog::open_checkpoint(&note, &genesis.chain_id(), &members)
            .context("the checkpoint is not signed by a member of this consortium")?;
        let cosigned = tlog::cosignatures(&note, &witnesses.0)
            .context("the checkpoint carries a forged witness cosignature")?;
        let matches = self.root_at_size == Some(opened.root);
        let json = CheckpointJson {
            size: opened.size,
            root: opened.root.to_hex(),
            signers: opened.signers.iter().map(OrgId::to_hex).collect(),
            cosigned_by: cosigned.clone(),
            required: witnesses.1,
            matches_ledger: matches,
        };
        let v = if opened.size > report.height {
            Some(violation(
                format!(
                    "a ledger of at least {} blocks, as the checkpoint states",
                    opened.size
                ),
                format!("{} blocks", report.height),
            ))
        } else if !matches {
            Some(violation(
                format!(
                    "root {} at size {}, as the checkpoint states",
                    opened.root, opened.size
                ),
                format!(
                    "root {} in the ledger: another history than the one checkpointed",
                    self.root_at_size
                        .map(|r| r.to_hex())
                        .unwrap_or_else(|| "?".into())
                ),
            ))
        } else if cosigned.len() < witnesses.1 {
            Some(violation(
                format!("{} cosignatures by the genesis's witnesses", witnesses.1),
                format!(
                    "{} ({:?})",
                    cosigned.len(),
                    cosigned.iter().map(|c| &c.witness).collect::<Vec<_>>()
                ),
            ))
        } else {
            None
        };
        Ok((Some(json), v))
    }
}
