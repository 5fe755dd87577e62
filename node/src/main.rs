//! `fedledger-node`: the daemon an organization runs, and its tools.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "fedledger-node: {}",
                fedledger_node::report_error::one_line(e.as_ref())
            );
            std::process::ExitCode::from(2)
        }
    }
}
