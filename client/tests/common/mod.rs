//! Helpers every CLI test file shares: run the `fedledger` binary, show what it printed.
// Each test file is its own crate and uses a subset of these.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Run `fedledger ARGS` to completion.
pub fn fedledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fedledger"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running fedledger: {e}"))
}

/// Its stdout then stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
