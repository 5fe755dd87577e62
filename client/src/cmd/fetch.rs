//! `fedledger fetch`: download a ledger from any node and verify every block before writing it.

use anyhow::Context;
use fedledger_ledger::export::ExportWriter;
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::Genesis;
use fedledger_node::daemon::fetch_blocks;
use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Download the ledger from a node over libp2p (as a non-member: no key needed), verify every
/// block against the genesis file with the full ledger verifier as it arrives, and write an
/// export file that `fedledger audit --file` accepts. A node that serves anything invalid is
/// caught: the height and rule are printed, nothing is written, exit status 1.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node's libp2p address including /p2p/PEER_ID.
    #[arg(long, value_name = "MULTIADDR")]
    pub peer: String,
    /// The consortium's genesis file.
    #[arg(long, value_name = "FILE")]
    pub genesis: PathBuf,
    /// Where to write the export (replaced only when everything verified).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seconds to wait for the connection and for each batch of blocks.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Print {"blocks", "file", "tip", "chain_id", "peer"} as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let to = super::dial::parse_p2p("peer", &a.peer)?;
    let peer = to.peer;
    let genesis = Genesis::load(&a.genesis)?;
    let mut chain = ChainState::new(&genesis);
    let chain_id = chain.chain_id();
    let timeout = Duration::from_secs(a.timeout.max(1));
    let rt = super::dial::runtime()?;
    let tmp = a.out.with_extension("partial");
    let result = rt.block_on(async {
        let net = super::dial::connect(&to, &chain_id, timeout).await?;
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = ExportWriter::new(BufWriter::with_capacity(1 << 20, file), &chain_id)?;
        let progress = std::io::stderr().is_terminal();
        loop {
            let from = chain.height() + 1;
            let blocks =
                fetch_blocks(&net, peer, from, timeout)
                    .await
                    .map_err(|e| Outcome::Invalid {
                        height: from,
                        reason: format!("the peer's answer: {e}"),
                    })?;
            if blocks.is_empty() {
                break;
            }
            for b in blocks {
                let h = b.header.height;
                if h != chain.height() + 1 {
                    return Err(Outcome::Invalid {
                        height: chain.height() + 1,
                        reason: format!("the peer sent height {h}"),
                    }
                    .into());
                }
                chain.apply(b.clone()).map_err(|v| Outcome::Invalid {
                    height: v.height,
                    reason: v.to_string(),
                })?;
                w.write_block(&b)?;
            }
            if progress {
                eprint!("\rverified {} blocks", chain.height());
            }
        }
        if progress {
            eprint!("\r");
        }
        let (buf, count) = w.finish()?;
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        net.shutdown().await;
        Ok::<u64, anyhow::Error>(count)
    });
    match result {
        Ok(count) => {
            std::fs::rename(&tmp, &a.out)?;
            if a.json {
                super::print_json(&serde_json::json!({
                    "blocks": count, "file": a.out.display().to_string(), "tip": chain.tip_hash(),
                    "chain_id": chain_id, "peer": peer.to_string(),
                }))?;
            } else {
                println!(
                    "fetched and verified {count} blocks from {peer}; wrote {} (tip {})",
                    a.out.display(),
                    chain.tip_hash()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            match e.downcast::<Outcome>() {
                Ok(Outcome::Invalid { height, reason }) => {
                    eprintln!("fedledger fetch: the peer served an invalid ledger at height {height}: {reason}; nothing written");
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// A verification failure (exit 1), as opposed to an I/O or usage error (exit 2).
#[derive(Debug, thiserror::Error)]
enum Outcome {
    #[error("invalid at height {height}: {reason}")]
    Invalid { height: u64, reason: String },
}
