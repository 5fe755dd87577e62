//! What a monitor knows: the history it verified (an auditor state and every block hash, kept
//! in its state directory) and the latest checkpoint it vouches for.
//!
//! Files in the state directory: `auditor.state` (as `fedledger audit --save-state` writes
//! it), `hashes` (the verified block hashes, 32 bytes each, in height order) and `checkpoint`
//! (the latest verified signed checkpoint, with this monitor's cosignature when it witnesses).
//! Hashes are appended and synced before the state that counts them is renamed into place, so
//! a monitor killed at any point restarts from the last state (extra hashes are cut off).

use anyhow::{bail, Context};
use fedledger_ledger::tlog::{self, BlockLog, OpenedCheckpoint};
use fedledger_ledger::verify::{audit_since, AuditorState, Violation};
use fedledger_ledger::{Block, Digest, Genesis, OrgId};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

const STATE: &str = "auditor.state";
const HASHES: &str = "hashes";
const CHECKPOINT: &str = "checkpoint";

/// The verified history.
#[derive(Debug)]
pub struct View {
    genesis: Genesis,
    dir: PathBuf,
    state: AuditorState,
    log: BlockLog,
    latest: Option<String>,
}

impl View {
    /// Open (or start) the state directory `dir`.
    pub fn open(genesis: &Genesis, dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let state_path = dir.join(STATE);
        let state = if state_path.exists() {
            crate::cmd::audit_since::read_state(&state_path)?
        } else {
            AuditorState::genesis(genesis)
        };
        anyhow::ensure!(
            state.chain.chain_id == genesis.chain_id(),
            "{} is the state of another consortium",
            dir.display()
        );
        let hashes_path = dir.join(HASHES);
        let raw = match std::fs::read(&hashes_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", hashes_path.display())),
        };
        let height = usize::try_from(state.height())?;
        let whole = raw.len() / 32;
        if whole < height {
            bail!(
                "{} holds {whole} block hashes for a state at height {height}: the state directory is damaged; start a new one",
                hashes_path.display()
            );
        }
        if raw.len() != height * 32 {
            // Hashes written before a crash, without the state that counts them.
            let f = OpenOptions::new().write(true).open(&hashes_path)?;
            f.set_len((height * 32) as u64)?;
            f.sync_all()?;
        }
        let hashes: Vec<Digest> = raw[..height * 32]
            .chunks_exact(32)
            .map(|c| Digest(c.try_into().unwrap_or([0; 32])))
            .collect();
        let log = BlockLog::from_block_hashes(&hashes);
        if height > 0 && log.root(height as u64)? != state.log.root() {
            bail!(
                "{} does not match {}: the state directory is damaged; start a new one",
                hashes_path.display(),
                state_path.display()
            );
        }
        let latest = std::fs::read_to_string(dir.join(CHECKPOINT)).ok();
        Ok(View {
            genesis: genesis.clone(),
            dir: dir.to_path_buf(),
            state,
            log,
            latest,
        })
    }

    /// Height verified.
    pub fn height(&self) -> u64 {
        self.state.height()
    }

    /// The verified log's root at `size` (1 ..= height).
    pub fn root_at(&self, size: u64) -> Option<Digest> {
        self.log.root(size).ok()
    }

    /// The consistency proof from `old` to the verified height, for evidence.
    pub fn consistency_to_tip(&self, old: u64) -> Vec<Digest> {
        self.log.consistency(old, self.height()).unwrap_or_default()
    }

    /// The latest checkpoint this monitor verified (and cosigned, when it witnesses).
    pub fn latest(&self) -> Option<&str> {
        self.latest.as_deref()
    }

    /// Open a signed checkpoint of this chain, signed by anyone who was ever a member as far
    /// as the verified history tells.
    pub fn open_note(&self, note: &[u8]) -> anyhow::Result<OpenedCheckpoint> {
        let members: Vec<OrgId> = self.state.chain.members.iter().map(|m| m.id).collect();
        Ok(tlog::open_checkpoint(
            note,
            &self.genesis.chain_id(),
            &members,
        )?)
    }

    /// Verify `blocks` (from the verified height itself, or 1 at the start) and keep what
    /// verified. Returns the first violation, if any.
    pub fn extend(&mut self, blocks: Vec<Block>) -> anyhow::Result<Option<Violation>> {
        let mut hashes = Vec::new();
        let out = audit_since(
            &self.genesis,
            self.state.clone(),
            blocks.into_iter().map(Ok),
            |_, s| hashes.push(s.tip_hash()),
        )?;
        if !hashes.is_empty() {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(HASHES))?;
            for h in &hashes {
                f.write_all(h.as_bytes())?;
                self.log.append(h);
            }
            f.sync_all()?;
            crate::cmd::audit_since::write_state(&self.dir.join(STATE), &out.state)?;
            self.state = out.state;
        }
        Ok(out.outcome.violation)
    }

    /// Vouch for `note` (already checked to match the verified history at its size).
    pub fn set_latest(&mut self, note: String) -> anyhow::Result<()> {
        let path = self.dir.join(CHECKPOINT);
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, &note)?;
        std::fs::rename(&tmp, &path)?;
        self.latest = Some(note);
        Ok(())
    }
}
