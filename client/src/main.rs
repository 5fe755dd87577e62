//! `fedledger`: the command-line tool for organizations and auditors.

fn main() {}
