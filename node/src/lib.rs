//! The fedledger participant: local learning with DP-SGD, robust aggregation, the consensus state
//! machine, and (in the daemon) networking.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod consensus;
