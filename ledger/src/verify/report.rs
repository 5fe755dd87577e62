//! What an audit reports: the chain's totals, each member's contributions and spend, and the
//! membership history. Its JSON form is documented in docs/audit-json.md and kept stable.

use crate::block::RoundMetrics;
use crate::digest::Digest;
use crate::identity::OrgId;
use serde::Serialize;

/// The result of verifying a whole ledger.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// Hash of the genesis.
    pub chain_id: Digest,
    /// Consortium name from genesis.
    pub consortium: String,
    /// Blocks verified (= rounds finalized).
    pub height: u64,
    /// Hash of the last block.
    pub tip: Digest,
    /// Global model hash committed by the last block.
    pub model_hash: Digest,
    /// Genesis time.
    pub created_at_ms: u64,
    /// Timestamp of the last block.
    pub last_timestamp_ms: u64,
    /// The delta epsilons are measured at.
    pub delta: f64,
    /// Aggregation rule.
    pub rule: String,
    /// Byzantine tolerance.
    pub f: u32,
    /// Update commitments recorded.
    pub updates: u64,
    /// Updates excluded by the rule.
    pub exclusions: u64,
    /// Blocks finalized in a view after the first (the first leader failed).
    pub view_changes: u64,
    /// Validators in force after the last block.
    pub validators: Vec<OrgId>,
    /// Every organization that was ever a member.
    pub members: Vec<MemberReport>,
    /// Joins and leaves in ledger order.
    pub membership: Vec<MembershipEvent>,
    /// Metrics of the last round summary, if any.
    pub last_metrics: Option<RoundMetrics>,
    /// The genesis's declared purpose, lawful basis, data categories and retention, if any:
    /// every commitment on the ledger is bound to it through the chain id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<crate::genesis::PurposeSpec>,
}

/// One organization's record.
#[derive(Debug, Clone, Serialize)]
pub struct MemberReport {
    /// Its key.
    pub id: OrgId,
    /// Its name.
    pub name: String,
    /// Its privacy cap.
    pub epsilon_max: f64,
    /// Its recomputed cumulative epsilon.
    pub epsilon_spent: f64,
    /// Update commitments it made.
    pub updates: u64,
    /// How many of them were excluded.
    pub exclusions: u64,
    /// Blocks it proposed as leader.
    pub blocks_proposed: u64,
    /// Height from which it validated (0 = founding member).
    pub joined_at: u64,
    /// Height from which it no longer validated, if it left.
    pub left_at: Option<u64>,
}

/// A recorded membership change.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct MembershipEvent {
    /// The block that recorded it.
    pub height: u64,
    /// When it took effect.
    pub effective_height: u64,
    /// Who joined or left.
    pub org: OrgId,
    /// Its name.
    pub name: String,
    /// `join` or `leave`.
    pub action: String,
    /// Number of approvals.
    pub approvals: usize,
}
