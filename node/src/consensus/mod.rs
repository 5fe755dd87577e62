//! Simplex-style BFT consensus (Chan & Pass 2023) on one block per training round, as a pure
//! state machine, plus a deterministic simulator that checks it. See `docs/protocol.md`.
//!
//! The daemon drives [`Consensus`] with [`Event`]s (messages, timers, application answers) and
//! executes the returned [`Action`]s in order; [`sim`] does the same over a virtual network.

mod admit;
mod app;
mod buffer;
mod config;
mod error;
mod event;
mod handle;
mod machine;
mod message;
mod persist;
mod round;
pub mod sim;

pub use admit::{judge, Refusal};
pub use app::Application;
pub use config::Config;
pub use error::{ConsensusError, DropReason};
pub use event::{Action, Event, Payload, Timer};
pub use machine::{Consensus, Stats};
pub use message::{
    Certificate, Message, NotarizePayload, NullifyPayload, Proposal, ProposalPayload, SignedVote,
    VoteKind,
};
pub use persist::SafetyState;

#[cfg(test)]
mod tests;
