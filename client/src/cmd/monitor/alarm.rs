//! Alarms: a split view, a rewrite or a false checkpoint, with the two conflicting signed
//! checkpoints (and the proof that ours extends to its root) as evidence anyone can check.

use fedledger_ledger::tlog::OpenedCheckpoint;
use fedledger_ledger::Digest;
use serde::Serialize;
use std::path::Path;

/// What was caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmKind {
    /// A checkpoint, signed by a member, of a size this monitor verified, with another root:
    /// two histories of the same log (a fork shown to different parties).
    SplitView,
    /// A checkpoint larger than the verified history that does not extend it (its consistency
    /// proof fails): the history was rewritten after this monitor saw it.
    NotAnExtension,
    /// The peer's blocks replace a block this monitor verified.
    Rewrite,
    /// The peer's blocks break a ledger rule (the violation says which).
    InvalidLedger,
    /// The peer's verified blocks have another root than the checkpoint it signed for them.
    FalseCheckpoint,
}

/// One side's checkpoint in the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// Where it came from (a peer address, or `this monitor`).
    pub source: String,
    /// The signed note, as served.
    pub note: Option<String>,
    /// Its size.
    pub size: u64,
    /// Its root (hex).
    pub root: String,
    /// Members whose signatures verified.
    pub signers: Vec<String>,
}

impl Side {
    /// The side of a checkpoint a peer served.
    pub fn theirs(peer: &str, note: &[u8], c: &OpenedCheckpoint) -> Self {
        Side {
            source: peer.to_string(),
            note: Some(String::from_utf8_lossy(note).into_owned()),
            size: c.size,
            root: c.root.to_hex(),
            signers: c.signers.iter().map(|o| o.to_hex()).collect(),
        }
    }
}

/// An alarm and its evidence, written to `<state>/alarms/` and logged.
#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    /// What was caught.
    pub kind: AlarmKind,
    /// The peer that served the conflicting checkpoint or blocks.
    pub peer: String,
    /// Unix seconds.
    pub detected_at: u64,
    /// What differs, in words.
    pub detail: String,
    /// The checkpoint this monitor verified (signed by a member, cosigned by this monitor
    /// when it witnesses).
    pub ours: Option<Side>,
    /// The conflicting checkpoint.
    pub theirs: Side,
    /// The verified log's root at the conflicting checkpoint's size, when the monitor verified
    /// that far (hex).
    pub our_root_at_their_size: Option<String>,
    /// RFC 6962 consistency proof from their size to ours in the verified log: with both
    /// signed notes it shows the same log with two roots at one size.
    pub consistency_proof: Vec<String>,
}

impl Alarm {
    /// Write the evidence as `<dir>/alarms/<time>-<kind>-<size>-<root prefix>.json` (unique
    /// across restarts: alarms are deduplicated by kind, size and root); returns the path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
        let alarms = dir.join("alarms");
        std::fs::create_dir_all(&alarms)?;
        let kind = serde_json::to_value(self.kind)?;
        let path = alarms.join(format!(
            "{}-{}-{}-{}.json",
            self.detected_at,
            kind.as_str().unwrap_or("alarm"),
            self.theirs.size,
            self.theirs.root.get(..8).unwrap_or("none")
        ));
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)?;
        Ok(path)
    }

    /// The key alarms are deduplicated by: the same peer showing the same conflicting root at
    /// the same size is one alarm, however often it is polled.
    pub fn key(&self) -> (AlarmKind, String, u64, String) {
        (
            self.kind,
            self.peer.clone(),
            self.theirs.size,
            self.theirs.root.clone(),
        )
    }
}

/// `root` as hex, for evidence fields.
pub fn hex(root: Option<Digest>) -> Option<String> {
    root.map(|r| r.to_hex())
}
