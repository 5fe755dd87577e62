//! fedledger's record: canonical encoding, identities, genesis, blocks and certificates, RFC 6962
//! Merkle proofs, the privacy accountant, sled storage and offline verification.
//!
//! Nothing here does networking or training. Everything that decides whether a ledger is valid
//! lives here so that nodes and auditors run the same code.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod block;
pub mod codec;
pub mod digest;
pub mod error;
pub mod export;
pub mod files;
pub mod genesis;
pub mod identity;
pub mod merkle;
pub mod privacy;
pub mod proof;
pub mod rule_name;
pub mod store;
pub mod tlog;
pub mod verify;

#[cfg(feature = "test-utils")]
pub mod testutil;

pub use block::{Block, BlockHeader, Entry};
pub use digest::Digest;
pub use error::LedgerError;
pub use genesis::Genesis;
pub use identity::{OrgId, OrgKey, Signature};
