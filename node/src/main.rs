//! `fedledger-node`: the daemon an organization runs.

fn main() {
    eprintln!("fedledger-node: no subcommands yet");
    std::process::exit(2);
}
