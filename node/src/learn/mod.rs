//! Learning: data loading and synthesis, partitioning, models, DP-SGD, attacks, metrics and the
//! in-process simulator.

pub mod attack;
pub mod data;
pub mod error;
pub mod metrics;
pub mod model;
pub mod partition;
pub mod simulate;
pub mod train;

pub use error::LearnError;
