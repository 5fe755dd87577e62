//! The fedledger participant: local learning with DP-SGD, robust aggregation, round assembly, the
//! consensus state machine, and networking.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod consensus;
pub mod daemon;
pub mod learn;
pub mod logging;
pub mod p2p;
pub mod report_error;
pub mod round;
