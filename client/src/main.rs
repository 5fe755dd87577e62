//! `fedledger`: the command-line tool for organizations and auditors.

mod cmd;
mod http_client;
mod report;
mod source;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// fedledger: federated learning with a ledger anyone can audit.
///
/// Organizations train one model together with differential privacy and Byzantine-robust
/// aggregation; every round is recorded in a Merkle-chained ledger that this tool verifies
/// offline against the consortium's genesis file.
#[derive(Debug, Parser)]
#[command(name = "fedledger", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(cmd::keygen::Args),
    #[command(subcommand)]
    Genesis(cmd::genesis::Command),
    Audit(cmd::audit::Args),
    Export(cmd::export::Args),
    Explain(cmd::explain::Args),
    Block(cmd::block::Args),
    Proof(cmd::proof::ProveArgs),
    VerifyProof(cmd::proof::VerifyArgs),
    Checkpoint(cmd::checkpoint::CheckpointArgs),
    Consistency(cmd::checkpoint::ConsistencyArgs),
    Monitor(cmd::monitor::Args),
    #[command(subcommand)]
    Privacy(cmd::privacy::Command),
    Simulate(Box<cmd::simulate::Args>),
    #[command(subcommand)]
    Bench(cmd::bench::Command),
    Report(cmd::report::Args),
    Testnet(Box<cmd::testnet::Args>),
    Status(cmd::status::Args),
    Fetch(cmd::fetch::Args),
    Join(cmd::membership::JoinArgs),
    Admit(cmd::membership::AdmitArgs),
    Leave(cmd::membership::LeaveArgs),
    Encode(cmd::encode::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A learning benchmark runs hundreds of deliberate attack simulations; the simulator's
    // per-run "attack mode" warning would bury its progress line (FEDLEDGER_LOG still rules).
    let default_filter = match &cli.command {
        Command::Bench(cmd::bench::Command::Learning(_)) => "warn,fedledger::simulate=error",
        // A monitor shows what it verifies as it goes.
        Command::Monitor(_) => "warn,fedledger::monitor=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FEDLEDGER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Genesis(c) => cmd::genesis::run(c),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Explain(a) => cmd::explain::run(a),
        Command::Block(a) => cmd::block::run(a),
        Command::Proof(a) => cmd::proof::prove(a),
        Command::VerifyProof(a) => cmd::proof::verify(a),
        Command::Checkpoint(a) => cmd::checkpoint::checkpoint(a),
        Command::Consistency(a) => cmd::checkpoint::consistency(a),
        Command::Monitor(a) => cmd::monitor::run(a),
        Command::Privacy(c) => cmd::privacy::run(c),
        Command::Simulate(a) => cmd::simulate::run(*a),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Report(a) => cmd::report::run(a),
        Command::Testnet(a) => cmd::testnet::run(*a),
        Command::Status(a) => cmd::status::run(a),
        Command::Fetch(a) => cmd::fetch::run(a),
        Command::Encode(a) => cmd::encode::run(a),
        Command::Join(a) => cmd::membership::join(a),
        Command::Admit(a) => cmd::membership::admit(a),
        Command::Leave(a) => cmd::membership::leave(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "error: {}",
                fedledger_node::report_error::one_line(e.as_ref())
            );
            ExitCode::from(2)
        }
    }
}
