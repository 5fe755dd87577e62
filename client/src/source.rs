//! Where a ledger is read from: a node's data dir or an export file.

use anyhow::Context;
use fedledger_ledger::export::{audit_export, ExportReader};
use fedledger_ledger::store::{LedgerStore, SledStore, LEDGER_SUBDIR};
use fedledger_ledger::verify::{audit, AuditOutcome, ChainState};
use fedledger_ledger::{Block, Genesis, LedgerError};
use std::path::PathBuf;

/// `--data-dir DIR | --file FILE`.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct LedgerSource {
    /// A node's data directory (its ledger lives in DIR/ledger). The node must be stopped.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A single-file export written by `fedledger export` or `fedledger fetch`.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl LedgerSource {
    /// Open the data dir's store.
    pub fn open_store(dir: &std::path::Path) -> anyhow::Result<SledStore> {
        let path = dir.join(LEDGER_SUBDIR);
        SledStore::open_existing(&path)
            .with_context(|| format!("opening the ledger in {}", dir.display()))
    }

    /// Open an export for streaming.
    pub fn open_file(
        path: &std::path::Path,
    ) -> anyhow::Result<ExportReader<std::io::BufReader<std::fs::File>>> {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(ExportReader::new(std::io::BufReader::with_capacity(
            1 << 20,
            f,
        ))?)
    }

    /// The store, when reading from a data dir.
    pub fn store(&self) -> anyhow::Result<Option<SledStore>> {
        self.data_dir.as_deref().map(Self::open_store).transpose()
    }
}

/// The store's tip height, for progress bars.
pub fn tip_height(store: &SledStore) -> u64 {
    store.tip().ok().flatten().map(|t| t.0).unwrap_or(0)
}

/// Audit the ledger `source` names against `genesis`, calling `on_block` after each verified
/// block. A framing error of an export is reported as a violation (at height 0 when the header is
/// unreadable), so callers can still show the verified prefix; only unreadable inputs are errors.
pub fn audit_source<F>(
    genesis: &Genesis,
    source: &LedgerSource,
    on_block: F,
) -> anyhow::Result<AuditOutcome>
where
    F: FnMut(&Block, &ChainState),
{
    if let Some(store) = source.store()? {
        return Ok(audit(genesis, store.blocks(1), on_block));
    }
    let path = source
        .file
        .as_ref()
        .context("--data-dir or --file is required")?;
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    match audit_export(
        genesis,
        std::io::BufReader::with_capacity(1 << 20, f),
        on_block,
    ) {
        Ok(o) => Ok(o),
        Err(LedgerError::Invalid(v)) => Ok(AuditOutcome {
            report: ChainState::new(genesis).report(),
            violation: Some(*v),
        }),
        Err(e) => Err(e.into()),
    }
}
