//! Offline verification of a ledger against its genesis: the first violation, or a report.

use std::fmt;

/// The rule a block broke. Stable names, used in `--json` output and exit messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The bytes did not decode as a block.
    Decode,
    /// Unknown format version.
    FormatVersion,
    /// Block of another chain.
    ChainId,
    /// Heights not contiguous from 1.
    Height,
    /// prev_hash does not match the previous block's hash.
    PrevHash,
    /// entry_root or entry_count does not match the entries.
    EntryRoot,
    /// Timestamps go backwards or precede genesis.
    Timestamp,
    /// The proposer is not the leader of (height, view).
    Leader,
    /// The certificate is short, has duplicates or outsiders, bad signatures, or the wrong view.
    Certificate,
    /// Entries are not in canonical order or repeat a member.
    EntryOrder,
    /// An update commitment is for the wrong round, from a non-member, or badly signed.
    Update,
    /// A budget spend does not match its update or the recomputed total, or crosses the cap.
    Budget,
    /// An exclusion refers to no update in the block.
    Exclusion,
    /// A membership change is not authorised or not well-formed.
    Membership,
    /// The round summary is malformed.
    Summary,
    /// A member-signed claim (metrics, counts, group sizes) or a pooled metric lies outside
    /// what an honest member can produce (`block::limits`), or counts overflow when summed.
    Range,
    /// The export file's framing or trailer is wrong.
    Export,
    /// A recomputed aggregate does not match the committed model hash (deep audit).
    Model,
    /// A block an auditor verified before is not in the ledger any more: the history was
    /// rewritten (incremental audit).
    Rewrite,
    /// The ledger is not the history a signed checkpoint states (another root at its size, or
    /// fewer blocks), or the checkpoint lacks the witness cosignatures the genesis requires.
    Checkpoint,
}

impl Rule {
    /// Stable kebab-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Decode => "decode",
            Rule::FormatVersion => "format-version",
            Rule::ChainId => "chain-id",
            Rule::Height => "height",
            Rule::PrevHash => "prev-hash",
            Rule::EntryRoot => "entry-root",
            Rule::Timestamp => "timestamp",
            Rule::Leader => "leader",
            Rule::Certificate => "certificate",
            Rule::EntryOrder => "entry-order",
            Rule::Update => "update",
            Rule::Budget => "budget",
            Rule::Exclusion => "exclusion",
            Rule::Membership => "membership",
            Rule::Summary => "summary",
            Rule::Range => "range",
            Rule::Export => "export",
            Rule::Model => "model",
            Rule::Rewrite => "rewrite",
            Rule::Checkpoint => "checkpoint",
        }
    }
}

/// The first thing wrong with a ledger: where, which rule, what was expected and what was found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    /// The block height (or, for framing errors, the height of the block being read).
    pub height: u64,
    /// The rule broken.
    pub rule: Rule,
    /// What the rule required.
    pub expected: String,
    /// What the ledger contains.
    pub found: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "height {}: rule {} violated: expected {}, found {}",
            self.height,
            self.rule.name(),
            self.expected,
            self.found
        )
    }
}

impl std::error::Error for Violation {}

mod audit;
mod certificate;
mod prepare;
mod report;
mod since;
mod state;
mod validators;

pub use audit::{audit, audit_from, AuditOutcome};
pub use certificate::verify_certificate;
pub use prepare::{prepare, prepare_many, PreparedBlock};
pub use report::{AuditReport, MemberReport, MembershipEvent};
pub use since::{audit_since, AuditorState, SinceOutcome, MAX_STATE_BYTES};
pub use state::{ChainSnapshot, ChainState, MemberSnapshot, EPSILON_TOLERANCE};
pub use validators::ValidatorSet;
