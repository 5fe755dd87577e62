//! Turning a round's signed updates and its aggregation outcome into ledger entries — the same
//! code for a leader proposing, a validator re-deriving, and the simulator writing a ledger.

mod assemble;
pub mod bench;
mod compute;
mod metrics;

pub use assemble::{assemble_entries, Excluded, RoundError};
pub use compute::{
    check_block, compute_round, contributions_of, DeltaSource, RoundResult, COLUMN_BLOCK,
};
pub use metrics::pool_metrics;
