//! `fedledger-node`: the daemon an organization runs, and its tools.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fedledger-node: {}", describe(&e));
            std::process::ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text is already there (our
/// errors show their I/O source in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
