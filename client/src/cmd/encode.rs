//! `fedledger encode`: a member's data as the node encodes it, for an external trainer.

use anyhow::Context;
use fedledger_node::daemon::learner::load_data;
use fedledger_node::daemon::NodeConfig;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write this member's examples, encoded exactly as the node would train on them (the genesis
/// schema's scaling and one-hot columns), as a CSV of numbers: one column per model input, then
/// `label`. An external trainer (`[training] mode = "external"`, e.g. the Python package) reads
/// it, so every member's features mean the same thing whoever trains.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node's configuration file; its `[data]` section says where the data is.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Where to write the CSV.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let (rows, cols) = write_encoded(&a.config, &a.out)?;
    eprintln!(
        "wrote {rows} examples x {cols} features (+ label) to {}",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Write the examples of the node configured by `config` to `out`, encoded; returns (rows,
/// features). Written to a temporary file and renamed, so `out` is whole or absent.
pub fn write_encoded(
    config: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<(usize, usize)> {
    let a = Args {
        config: config.to_path_buf(),
        out: out.to_path_buf(),
    };
    let cfg = NodeConfig::load(&a.config)?;
    let (data, schema) = load_data(&cfg.data)?;
    let names = schema.feature_names();
    let tmp = a.out.with_extension("csv.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let header: Vec<String> = (0..data.x.ncols())
        .map(|j| names.get(j).cloned().unwrap_or_else(|| format!("x{j}")))
        .chain(std::iter::once("label".to_string()))
        .collect();
    writeln!(w, "{}", header.join(","))?;
    for (row, y) in data.x.rows().into_iter().zip(&data.y) {
        let mut line = row.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        line.push(y.to_string());
        writeln!(w, "{}", line.join(","))?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    Ok((data.len(), data.x.ncols()))
}
