//! Where a ledger is read from: a node's data dir or an export file.

use anyhow::Context;
use fedledger_ledger::export::ExportReader;
use fedledger_ledger::store::{LedgerStore, SledStore, LEDGER_SUBDIR};
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
