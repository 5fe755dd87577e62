//! `fedledger explain`: the global model's score for one customer record, and the top reasons
//! in words, from a verified ledger.

use crate::source::LedgerSource;
use anyhow::{bail, Context};
use fedledger_ledger::store::LedgerStore;
use fedledger_ledger::verify::audit;
use fedledger_ledger::Genesis;
use fedledger_node::learn::data::{csv, schema::Schema, synth};
use fedledger_node::learn::explain::{explain, Explanation};
use fedledger_node::learn::model::Architecture;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Explain how the consortium's model scores one customer: the probability, and each feature's
/// contribution to the log-odds in words ("balance 2.10 sd above the mean: +1.80 to the
/// log-odds"), largest first.
///
/// The model is the one committed at --height (default: the tip), rebuilt by replaying every
/// round from the update bytes in the data dir and checked against the ledger's model hashes
/// (as `audit --deep`); the ledger is audited first. Logistic and softmax models are explained
/// exactly by their coefficients (on the schema's standardized scale, so 0 is the schema's
/// mean); an MLP by occlusion (the change in the log-odds when one feature is set to its
/// reference).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The consortium's genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// A node's data directory (stopped), with its ledger and update bytes.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The height whose model to explain [default: the tip].
    #[arg(long)]
    height: Option<u64>,
    /// The data schema (its hash must be the genesis's `schema_hash`) [default: the built-in
    /// synthetic schema, when the genesis names it].
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// The record as a JSON object of column -> value.
    #[arg(
        long,
        value_name = "JSON",
        conflicts_with = "csv",
        required_unless_present = "csv"
    )]
    record: Option<String>,
    /// A CSV file with a header; explains --row.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// The data row of --csv to explain (1 = the first after the header).
    #[arg(long, default_value_t = 1, requires = "csv")]
    row: usize,
    /// Reasons to print.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Print the explanation as JSON (every feature, not only --top).
    #[arg(long)]
    json: bool,
}

fn load_schema(a: &Args, genesis: &Genesis) -> anyhow::Result<Schema> {
    let pinned = &genesis.model.schema_hash;
    let schema = match &a.schema {
        Some(p) => Schema::load(p)?,
        None => {
            let built_in = synth::schema();
            if built_in.hash().to_hex() != *pinned {
                bail!("the genesis pins schema {pinned}: give its schema file with --schema");
            }
            built_in
        }
    };
    if !pinned.is_empty() && schema.hash().to_hex() != *pinned {
        bail!(
            "the schema hashes to {}, the genesis pins {pinned}: it is not the consortium's",
            schema.hash()
        );
    }
    Ok(schema)
}

fn read_record(a: &Args) -> anyhow::Result<BTreeMap<String, String>> {
    if let Some(json) = &a.record {
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).context("--record is not a JSON object")?;
        return Ok(v
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect());
    }
    let path = a.csv.as_ref().context("--record or --csv is required")?;
    let table = csv::load_table(path)?;
    let row = a
        .row
        .checked_sub(1)
        .and_then(|i| table.rows.get(i))
        .with_context(|| {
            format!(
                "{} has {} data rows, not row {}",
                path.display(),
                table.rows.len(),
                a.row
            )
        })?;
    Ok(table
        .header
        .iter()
        .cloned()
        .zip(row.iter().cloned())
        .collect())
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let genesis = Genesis::load(&a.genesis)?;
    let schema = load_schema(&a, &genesis)?;
    let record = read_record(&a)?;
    let arch = Architecture::from_spec(&genesis.model)?;
    let store = LedgerSource::open_store(&a.data_dir)?;
    let tip = store.tip()?.map_or(0, |t| t.0);
    let height = a.height.unwrap_or(tip);
    if height > tip {
        bail!("the ledger ends at height {tip}, not {height}");
    }
    let mut deep = super::deep_audit::DeepAudit::new(&genesis)?;
    let outcome = audit(
        &genesis,
        store.blocks(1).take(usize::try_from(height)?),
        |b, _| deep.block(b, &store),
    );
    if let Some(v) = outcome.violation {
        eprintln!("the ledger is not valid: {v}");
        return Ok(ExitCode::from(1));
    }
    let Some(model) = deep.model() else {
        let why = deep
            .problem()
            .map(|f| format!("height {}: {}", f.height, f.reason))
            .unwrap_or_default();
        bail!("the model at height {height} cannot be rebuilt from this data dir ({why})");
    };
    let e = explain(&arch, model, &schema, &record)?;
    if a.json {
        super::print_json(&serde_json::json!({
            "height": height,
            "model_hash": outcome.report.model_hash.to_hex(),
            "explanation": e,
        }))?;
    } else {
        print_human(&e, height, a.top, arch.outputs() == 1);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(e: &Explanation, height: u64, top: usize, binary: bool) {
    if binary {
        println!(
            "score: P(positive) = {:.4} (log-odds {:+.2}) with the model of height {height}",
            e.probability, e.logit
        );
    } else {
        println!(
            "predicted class {} with probability {:.4} (model of height {height})",
            e.class, e.probability
        );
    }
    println!(
        "reference: {:+.2} with every feature at its reference ({})",
        e.baseline,
        if e.method == "coefficients" {
            "the intercept; contributions are exact"
        } else {
            "occlusion: each feature alone set to its reference"
        }
    );
    println!("top reasons:");
    for r in e.reasons.iter().take(top) {
        println!("  {}", r.text);
    }
}
