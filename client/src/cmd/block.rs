//! `fedledger block`: show one block of a ledger (header, entries with their hashes, signers).

use crate::source::LedgerSource;
use anyhow::Context;
use fedledger_ledger::block::Entry;
use fedledger_ledger::store::LedgerStore;
use std::path::PathBuf;
use std::process::ExitCode;

/// Show the block at a height: header, every entry with its leaf hash (what `fedledger proof
/// --entry` takes), and the certificate's signers. Reading is not verifying: run `fedledger
/// audit` for that.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A node's data directory (the node must be stopped).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The height (1 = first block).
    #[arg(long)]
    height: u64,
    /// Print the block as JSON, each entry with its `leaf_hash`.
    #[arg(long)]
    json: bool,
}

fn describe(e: &Entry) -> (String, String, String) {
    match e {
        Entry::Membership(m) => (
            "membership".into(),
            m.request.subject.short(),
            format!("{:?} effective at {}", m.request.action, m.effective_height),
        ),
        Entry::Update(u) => (
            "update".into(),
            u.announcement.org.short(),
            format!(
                "update {} examples {}",
                u.announcement.update_hash, u.announcement.num_examples
            ),
        ),
        Entry::Budget(b) => (
            "budget".into(),
            b.org.short(),
            format!(
                "q={} sigma={} steps={} epsilon_total={:.6}",
                b.dp.sampling_rate, b.dp.noise_multiplier, b.dp.steps, b.epsilon_total
            ),
        ),
        Entry::Exclusion(x) => (
            "exclusion".into(),
            x.org.short(),
            format!("{}: {}", x.rule, x.reason),
        ),
        Entry::Summary(s) => (
            "summary".into(),
            "-".into(),
            format!(
                "{} f={} included {} excluded {} accuracy {:.4} auc {:.4}",
                s.rule, s.f, s.included, s.excluded, s.metrics.accuracy, s.metrics.auc
            ),
        ),
    }
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let store = LedgerSource::open_store(&a.data_dir)?;
    let block = store
        .block(a.height)?
        .with_context(|| format!("no block at height {}", a.height))?;
    if a.json {
        let entries: Vec<serde_json::Value> = block
            .entries
            .iter()
            .map(|e| serde_json::json!({"leaf_hash": e.leaf_hash(), "entry": e}))
            .collect();
        super::print_json(&serde_json::json!({
            "hash": block.hash(),
            "header": block.header,
            "entries": entries,
            "certificate": block.certificate,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let h = &block.header;
    println!(
        "block {} at height {} (view {})",
        block.hash(),
        h.height,
        h.view
    );
    println!("  prev        {}", h.prev_hash);
    println!("  entry root  {} ({} entries)", h.entry_root, h.entry_count);
    println!("  model       {}", h.model_hash);
    println!("  proposer    {}", h.proposer);
    println!("  time        {} ms", h.timestamp_ms);
    for e in &block.entries {
        let (kind, org, what) = describe(e);
        println!(
            "  {:<10} {:<8} {}  leaf {}",
            kind,
            org,
            what,
            e.leaf_hash().short()
        );
    }
    let signers: Vec<String> = block
        .certificate
        .votes
        .iter()
        .map(|v| v.signer.short())
        .collect();
    println!("  signed by   {}", signers.join(" "));
    Ok(ExitCode::SUCCESS)
}
