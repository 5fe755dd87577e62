//! Why the state machine dropped a message, and why it could not start.

use fedledger_ledger::verify::Violation;

/// A message was ignored. Every variant is counted in [`super::Stats`] and logged at debug level;
/// none changes the state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DropReason {
    /// Signed for, or about, another consortium.
    #[error("wrong chain")]
    WrongChain,
    /// For a height that is already final here.
    #[error("stale height {found} (at {current})")]
    StaleHeight {
        /// The message's height.
        found: u64,
        /// This node's height.
        current: u64,
    },
    /// For a height beyond the next one.
    #[error("future height {found} (at {current})")]
    FutureHeight {
        /// The message's height.
        found: u64,
        /// This node's height.
        current: u64,
    },
    /// For a view already left.
    #[error("stale view {found} (at {current})")]
    StaleView {
        /// The message's view.
        found: u64,
        /// This node's view.
        current: u64,
    },
    /// For a view too far ahead.
    #[error("view {found} too far ahead of {current}")]
    FarView {
        /// The message's view.
        found: u64,
        /// This node's view.
        current: u64,
    },
    /// The signer is not a validator at this height.
    #[error("signer is not a validator")]
    NotMember,
    /// The proposer is not the leader of the view.
    #[error("proposer is not the leader")]
    NotLeader,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Already seen.
    #[error("duplicate")]
    Duplicate,
    /// A second, different proposal or vote by the same signer for the same view: evidence of a
    /// Byzantine member.
    #[error("equivocation")]
    Equivocation,
    /// The proposal breaks a ledger rule.
    #[error("invalid proposal: {0}")]
    InvalidProposal(Box<Violation>),
    /// The application rejected the proposal.
    #[error("rejected by the application: {0}")]
    Rejected(String),
    /// Not well-formed (e.g. a nullify carrying a block hash, a sync response out of order).
    #[error("malformed: {0}")]
    Malformed(String),
    /// Too many buffered next-height messages from this signer, or in all.
    #[error("buffer full")]
    BufferFull,
    /// A finalized block from sync failed the ledger verifier.
    #[error("invalid synced block: {0}")]
    InvalidBlock(Box<Violation>),
}

impl DropReason {
    /// Stable short name for statistics.
    pub fn name(&self) -> &'static str {
        match self {
            DropReason::WrongChain => "wrong-chain",
            DropReason::StaleHeight { .. } => "stale-height",
            DropReason::FutureHeight { .. } => "future-height",
            DropReason::StaleView { .. } => "stale-view",
            DropReason::FarView { .. } => "far-view",
            DropReason::NotMember => "not-member",
            DropReason::NotLeader => "not-leader",
            DropReason::BadSignature => "bad-signature",
            DropReason::Duplicate => "duplicate",
            DropReason::Equivocation => "equivocation",
            DropReason::InvalidProposal(_) => "invalid-proposal",
            DropReason::Rejected(_) => "rejected",
            DropReason::Malformed(_) => "malformed",
            DropReason::BufferFull => "buffer-full",
            DropReason::InvalidBlock(_) => "invalid-block",
        }
    }
}

/// The state machine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// A stored finalized block failed verification during restore.
    #[error("stored block does not verify: {0}")]
    StoredBlock(Box<Violation>),
    /// The stored safety state is for a height the stored blocks do not lead to.
    #[error("safety state is for height {found}, the ledger's next height is {expected}")]
    SafetyHeight {
        /// chain height + 1.
        expected: u64,
        /// The state's height.
        found: u64,
    },
}
