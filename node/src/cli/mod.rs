//! Command-line interface: one module per subcommand.

mod run;
mod sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The fedledger participant daemon and its tools.
#[derive(Debug, Parser)]
#[command(name = "fedledger-node", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the consensus protocol in the deterministic simulator and check its properties.
    Sim(sim::SimArgs),
    /// Run the node daemon of one organization.
    Run(run::RunArgs),
}

/// Run the parsed command; the exit code says whether it found problems.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sim(a) => sim::run(a),
        Command::Run(a) => run::run(a),
    }
}
