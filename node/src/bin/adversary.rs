//! `fedledger-adversary`: a member node that lies on purpose, for tests and demos of what the
//! honest members shrug off. Never run it in a real consortium.

use clap::Parser;
use fedledger_node::daemon::{self, adversary, NodeConfig};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run a node (same config as `fedledger-node run`) that misbehaves as named: nan-metrics,
/// huge-metrics, equivocate-update, equivocate-proposal, invalid-proposal, withhold-bytes,
/// withhold-votes, replay, vote-flood, sync-hijack, join-spam, fetch-flood.
#[derive(Debug, Parser)]
#[command(name = "fedledger-adversary", version, about)]
struct Args {
    /// Node configuration (TOML; see configs/node.example.toml).
    #[arg(long)]
    config: PathBuf,
    /// Comma-separated misbehaviours (see docs/threat-model.md, "Lying members").
    #[arg(long, value_name = "NAME[,NAME]")]
    behave: String,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG wins.
    #[arg(long, default_value = "info")]
    log: String,
    /// Log lines as JSON objects.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    match run(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "fedledger-adversary: {}",
                fedledger_node::report_error::one_line(e.as_ref())
            );
            ExitCode::from(2)
        }
    }
}

fn run(a: Args) -> anyhow::Result<()> {
    let behaviours = adversary::parse_list(&a.behave).map_err(anyhow::Error::msg)?;
    if behaviours.is_empty() {
        anyhow::bail!("--behave names no misbehaviour");
    }
    fedledger_node::logging::init(&a.log, a.json)?;
    let cfg = NodeConfig::load(&a.config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(daemon::run_adversary(cfg, behaviours))
        .map_err(|e| e.in_config_file(&a.config))?;
    Ok(())
}
