//! `fedledger export`: write a node's ledger as one portable file.

use crate::source::{tip_height, LedgerSource};
use anyhow::Context;
use fedledger_ledger::export::ExportWriter;
use fedledger_ledger::store::LedgerStore;
use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

/// Export a data dir's ledger to a single file (streaming; any size).
///
/// The file has a magic header, the chain id, length-framed canonical blocks and a trailer with
/// the block count and a SHA-256 checksum. Audit it with `fedledger audit --file FILE`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node's data directory (stop the node first).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The file to write (replaced if it exists, via a temporary file and rename).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Print {"blocks", "file", "tip"} as JSON.
    #[arg(long)]
    json: bool,
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let store = LedgerSource::open_store(&a.data_dir)?;
    let (tip, tip_hash) = store
        .tip()?
        .context("the ledger is empty: nothing to export")?;
    // The chain id is block 1's prev_hash.
    let first = store.block(1)?.context("block 1 is missing")?;
    let tmp = a.out.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = ExportWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        &first.header.prev_hash,
    )?;
    let progress = std::io::stderr().is_terminal();
    for h in 1..=tip {
        let raw = store
            .raw_block(h)?
            .with_context(|| format!("block {h} is missing"))?;
        w.write_raw(&raw)?;
        if progress && h % 500 == 0 {
            eprint!("\rexported {h}/{} blocks", tip_height(&store));
        }
    }
    let (buf, count) = w.finish()?;
    let file = buf.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &a.out)?;
    if progress {
        eprint!("\r");
    }
    if a.json {
        super::print_json(
            &serde_json::json!({"blocks": count, "file": a.out.display().to_string(), "tip": tip_hash}),
        )?;
    } else {
        println!(
            "exported {count} blocks to {} (tip {})",
            a.out.display(),
            tip_hash
        );
    }
    Ok(ExitCode::SUCCESS)
}
