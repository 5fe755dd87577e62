//! Learning: data loading and synthesis, partitioning, models, DP-SGD, robust aggregation of
//! members' deltas, attacks, metrics, the in-process simulator and its benchmark matrix.

pub mod aggregate;
pub mod attack;
pub mod bench;
pub mod data;
pub mod error;
pub mod explain;
pub mod metrics;
pub mod model;
pub mod partition;
pub mod simulate;
pub mod train;

pub use error::LearnError;
