//! Consensus parameters: timeouts from genesis and resource bounds.

use fedledger_ledger::Genesis;

/// Tuning of one node's state machine. Timeouts come from genesis; all nodes should use the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// How long a node stays in a view without a notarization before nullifying it (ms).
    pub view_timeout_ms: u64,
    /// How often a node re-sends its latest messages for the current view (ms).
    pub retry_ms: u64,
    /// Votes and proposals for views further ahead than this are dropped (memory bound); complete
    /// nullification certificates are accepted for any view.
    pub max_views_ahead: u64,
    /// Most blocks served in one sync response.
    pub max_sync_blocks: u64,
    /// Most buffered messages for the next height per signer (a validator of that height).
    pub max_buffered_per_signer: usize,
    /// Most buffered messages for the next height in all.
    pub max_buffered_total: usize,
    /// Deliberate rule violations, only for showing that the simulator's checks can fail.
    pub(crate) faults: Faults,
}

/// Safety rules that can be switched off to demonstrate that the harness detects the resulting
/// disagreement. Only settable inside this crate; every field is `false` in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Notarize every valid proposal of a view (not only the first) and finalize every notarized
    /// block of a height (not only one).
    pub(crate) vote_twice: bool,
}

impl Config {
    /// Timeouts from genesis; retry at a quarter of the view timeout.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let view_timeout_ms = genesis.rounds.view_timeout_ms.max(1);
        Config {
            view_timeout_ms,
            retry_ms: (view_timeout_ms / 4).max(1),
            max_views_ahead: 64,
            max_sync_blocks: 64,
            max_buffered_per_signer: 32,
            max_buffered_total: 2048,
            faults: Faults::default(),
        }
    }
}
