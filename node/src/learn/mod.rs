//! Learning: data loading and synthesis, partitioning, models, DP-SGD, robust aggregation of
//! members' deltas, attacks, metrics and the in-process simulator.

pub mod aggregate;
pub mod attack;
pub mod data;
pub mod error;
pub mod metrics;
pub mod model;
pub mod partition;
pub mod simulate;
pub mod train;

pub use error::LearnError;
