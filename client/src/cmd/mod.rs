//! One module per subcommand.

pub mod audit;
mod audit_checkpoint;
pub mod audit_since;
pub mod bench;
mod bench_audit;
pub mod bench_learning;
pub mod block;
pub mod checkpoint;
mod checkpoint_peer;
pub mod deep_audit;
mod dial;
pub mod encode;
pub mod explain;
pub mod export;
pub mod fetch;
pub mod genesis;
pub mod keygen;
pub mod membership;
pub mod monitor;
pub mod privacy;
pub mod proof;
pub mod report;
pub mod simulate;
mod simulate_ledger;
pub mod status;
pub mod testnet;

/// Print `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
