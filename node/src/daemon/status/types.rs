//! What `GET /status` returns, and the operator commands the admin endpoints queue.

use serde::{Deserialize, Serialize};

/// What `GET /status` returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// This organization's id (hex).
    pub org: String,
    /// Its name from the key file.
    pub name: String,
    /// The chain id (hex).
    pub chain_id: String,
    /// Whether this organization is a validator at the next height.
    pub member: bool,
    /// Last committed height.
    pub height: u64,
    /// Current consensus view of the next height.
    pub view: u64,
    /// What the node is doing: `training`, `collecting`, `deciding`, `catching-up`, `done`.
    pub phase: String,
    /// Connected peers.
    pub peers: usize,
    /// Hash of the last committed block (hex; empty before the first).
    pub last_block_hash: String,
    /// Hash of the current global model (hex).
    pub model_hash: String,
    /// This member's privacy budget.
    pub budget: BudgetStatus,
    /// Pooled metrics of the last committed round (the base model evaluated by members).
    pub last_metrics: Option<RoundMetricsStatus>,
    /// Updates the last committed round excluded.
    pub last_excluded: u32,
    /// Whose (org ids, hex).
    #[serde(default)]
    pub last_excluded_orgs: Vec<String>,
    /// Join and leave requests seen and not yet recorded.
    pub pending_requests: Vec<PendingRequestStatus>,
    /// Every validator's committed privacy spend, from the ledger.
    pub members: Vec<MemberBudget>,
    /// Our libp2p addresses.
    pub listen: Vec<String>,
    /// Our PeerId.
    pub peer_id: String,
    /// The external trainer's side (`[training] mode = "external"`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer: Option<TrainerStatus>,
}

/// What the trainer API has seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerStatus {
    /// The API's address.
    pub api: String,
    /// The round last offered to the trainer (0 before the first).
    pub offered_round: u64,
    /// Whether that round still takes an update.
    pub open: bool,
    /// Submissions released.
    pub accepted: u64,
    /// Submissions refused (each with its reason in the node's log).
    pub refused: u64,
}

/// Privacy budget figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetStatus {
    /// Epsilon spent according to the ledger (committed spends).
    pub spent: f64,
    /// Epsilon spent by every update this node released (committed or not).
    pub released: f64,
    /// The cap from genesis.
    pub cap: f64,
    /// `cap - released`.
    pub left: f64,
    /// The node stopped contributing because the next round would cross the cap.
    pub exhausted: bool,
}

/// A membership request waiting for approvals or a block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingRequestStatus {
    /// The subject (hex).
    pub org: String,
    /// `join NAME` or `leave`.
    pub action: String,
    /// Approvals collected.
    pub approvals: usize,
    /// Whether this node approved it.
    pub approved_here: bool,
}

/// A local operator's command, from the status listener (loopback only by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// Approve the pending request of this organization.
    Admit(fedledger_ledger::OrgId),
    /// Ask to leave the consortium.
    Leave,
}

/// One validator's committed spend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberBudget {
    /// Organization id (hex).
    pub org: String,
    /// Name from genesis or its join request.
    pub name: String,
    /// Epsilon spent on the ledger.
    pub epsilon_spent: f64,
    /// Its cap.
    pub epsilon_max: f64,
}

/// Accuracy figures of a round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundMetricsStatus {
    /// The round.
    pub round: u64,
    /// Pooled accuracy.
    pub accuracy: f64,
    /// Pooled AUC.
    pub auc: f64,
    /// Pooled log loss.
    pub loss: f64,
}
