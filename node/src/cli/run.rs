//! `fedledger-node run`: the daemon an organization runs.

use clap::{Args, ValueEnum};
use fedledger_node::daemon::{self, NodeConfig};
use std::path::PathBuf;
use std::process::ExitCode;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Run the node: train each round, gossip and validate updates, agree on one block per round and
/// append it to the ledger in the data dir. Stops cleanly on SIGINT/SIGTERM.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Node configuration (TOML; see configs/node.example.toml). FEDLEDGER_* environment
    /// variables override its keys.
    #[arg(long)]
    pub config: PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax, e.g. `info,fedledger::p2p=debug`); RUST_LOG wins.
    #[arg(long, default_value = "info")]
    pub log: String,
}

/// Load the config, set up logging and run until stopped.
pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    fedledger_node::logging::init(&a.log, a.log_format == LogFormat::Json)?;
    let cfg = NodeConfig::load(&a.config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Data and schema keys are checked when the node loads them: name the file there too.
    rt.block_on(daemon::run(cfg))
        .map_err(|e| e.in_config_file(&a.config))?;
    Ok(ExitCode::SUCCESS)
}
