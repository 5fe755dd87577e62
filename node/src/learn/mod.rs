//! Local learning and the aggregation of members' model deltas.

pub mod aggregate;
