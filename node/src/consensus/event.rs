//! The state machine's inputs (events) and outputs (actions).
//!
//! The driver (daemon or simulator) executes actions in the order returned. A [`Action::Persist`]
//! must be durable before any later action of the same batch is executed: the messages after it
//! depend on it.

use super::message::Message;
use super::persist::SafetyState;
use fedledger_ledger::{Block, BlockHeader, Digest, Entry, OrgId};

/// A timer the state machine asked for. Timers of a height or view that has passed are ignored
/// when they fire, so the driver never needs to cancel one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// The view's deadline: nullify it if it has not produced a notarization by then.
    View {
        /// Height.
        height: u64,
        /// View.
        view: u64,
    },
    /// Re-send this node's latest messages (losses, late joiners) and retry block sync.
    Retry {
        /// Height.
        height: u64,
        /// View.
        view: u64,
    },
}

/// What the application proposes for a height: the entries and the aggregation result. The state
/// machine fills in the rest of the header (chain, height, view, parent, root, proposer).
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The round's entries (any order; they are sorted canonically when sealed).
    pub entries: Vec<Entry>,
    /// Hash of the global model after this round's aggregation.
    pub model_hash: Digest,
    /// Proposer's clock, unix milliseconds (must not precede the parent's).
    pub timestamp_ms: u64,
}

/// An input to [`super::Consensus::step`].
#[derive(Debug, Clone)]
pub enum Event {
    /// The node starts (after construction or restore): arm timers, ask for a payload if leader.
    Start,
    /// A message from peer `from` (the transport-authenticated sender, not necessarily the
    /// signer of what it carries).
    Message {
        /// Who delivered it.
        from: OrgId,
        /// What it delivered.
        message: Message,
    },
    /// A timer set by [`Action::StartTimer`] fired.
    Timer(Timer),
    /// The application's answer to [`Action::RequestPayload`].
    Payload {
        /// Height asked for.
        height: u64,
        /// View asked for.
        view: u64,
        /// What to propose.
        payload: Payload,
    },
    /// The application's answer to [`Action::RequestValidation`].
    Validated {
        /// Height of the proposal.
        height: u64,
        /// View of the proposal.
        view: u64,
        /// Hash of the proposal's header.
        block_hash: Digest,
        /// `Ok` if the application accepts the block (e.g. the recomputed aggregate matches),
        /// otherwise why not.
        result: Result<(), String>,
    },
}

/// An output of [`super::Consensus::step`], to be executed in order.
#[derive(Debug, Clone)]
pub enum Action {
    /// Make this the node's durable safety state before executing any later action.
    Persist(SafetyState),
    /// Send to every other node (validators and followers).
    Broadcast(Message),
    /// Send to one node.
    Send {
        /// Recipient.
        to: OrgId,
        /// Message.
        message: Message,
    },
    /// Deliver [`Event::Timer`] after `after_ms` milliseconds.
    StartTimer {
        /// Which.
        timer: Timer,
        /// Delay.
        after_ms: u64,
    },
    /// This node leads (height, view): answer with [`Event::Payload`] once the round's updates
    /// are collected (a quorum of members, or the collection deadline passed).
    RequestPayload {
        /// Height.
        height: u64,
        /// View.
        view: u64,
        /// Hash of the block it builds on.
        parent: Digest,
    },
    /// Check the application-level validity of a proposal that passed every ledger check; answer
    /// with [`Event::Validated`].
    RequestValidation {
        /// Height.
        height: u64,
        /// View.
        view: u64,
        /// The proposed header.
        header: BlockHeader,
        /// Its entries.
        entries: Vec<Entry>,
    },
    /// A block is final: append it (with its certificate) to the ledger, durably.
    Commit(Block),
    /// Send `to` the finalized blocks `from_height..=to_height` from the ledger as a
    /// [`Message::SyncResponse`].
    ServeBlocks {
        /// Recipient.
        to: OrgId,
        /// First height.
        from_height: u64,
        /// Last height.
        to_height: u64,
    },
}
