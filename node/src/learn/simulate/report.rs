//! What a simulation reports: per-round metrics for people, per-round records for a ledger.

use crate::learn::metrics::Metrics;
use crate::learn::simulate::SimConfig;
use fedledger_ledger::block::{DpSpend, LocalMetrics, RoundMetrics};
use fedledger_ledger::privacy::DpPlan;
use fedledger_ledger::Digest;
use serde::{Deserialize, Serialize};

/// One row of the progress table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundReport {
    /// Round number, from 1.
    pub round: u64,
    /// Log loss of the new global model on the pooled holdout.
    pub loss: f64,
    /// Its accuracy.
    pub accuracy: f64,
    /// Its ROC AUC.
    pub auc: f64,
    /// Largest epsilon (at the configured delta) spent so far by an honest organization; `None`
    /// when DP is off (epsilon is infinite).
    pub epsilon: Option<f64>,
    /// Updates the rule aggregated.
    pub included: usize,
    /// Updates the rule excluded.
    pub excluded: usize,
    /// Attackers' updates among the excluded ones.
    pub excluded_byzantine: usize,
    /// Hash of the new global model (hex).
    pub model_hash: String,
}

/// One organization in the federation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgSummary {
    /// Index (0-based).
    pub org: usize,
    /// Training examples.
    pub train_examples: u64,
    /// Held-out examples.
    pub holdout_examples: u64,
    /// Share of positive labels in its training data (class 1).
    pub positive_rate: f64,
    /// Whether it attacks.
    pub byzantine: bool,
    /// Its noise multiplier (0 without DP).
    pub noise_multiplier: f64,
    /// Its epsilon at the end (`None` without DP).
    pub epsilon: Option<f64>,
    /// Its planned DP-SGD settings (with `--dp-plan auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<DpPlan>,
    /// The final global model against its own fine-tuned one, on its own holdout (with
    /// `personalize_epochs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personalized: Option<Personalization>,
}

/// One organization's own holdout, scored by the global model and by its personalized one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Personalization {
    /// Positive examples in its holdout (AUC needs both classes: with none or all positive,
    /// both AUCs are 0.5 and say nothing).
    pub holdout_positives: u64,
    /// Holdout examples.
    pub holdout_examples: u64,
    /// The global model's AUC on it.
    pub global_auc: f64,
    /// The personalized model's AUC on it.
    pub personalized_auc: f64,
    /// The global model's accuracy on it.
    pub global_accuracy: f64,
    /// The personalized model's accuracy on it.
    pub personalized_accuracy: f64,
    /// The global model's log loss on it.
    pub global_log_loss: f64,
    /// The personalized model's log loss on it.
    pub personalized_log_loss: f64,
    /// Its epsilon after the fine-tuning spend too (`None` without DP).
    pub epsilon_after: Option<f64>,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// What was run (enough to reproduce it bit for bit).
    pub config: SimConfig,
    /// One entry per round.
    pub rounds: Vec<RoundReport>,
    /// The final global model on the pooled holdout.
    #[serde(rename = "final")]
    pub final_metrics: Metrics,
    /// The centralized baseline (same model and epochs on the pooled training data, no DP) on the
    /// same holdout.
    pub centralized: Metrics,
    /// The organizations.
    pub orgs: Vec<OrgSummary>,
    /// Rows dropped because the schema's consent column did not record consent.
    #[serde(default)]
    pub consent_dropped: u64,
    /// Hash of the initial model (hex).
    pub initial_model_hash: String,
    /// Hash of the final model (hex).
    pub final_model_hash: String,
}

/// What one organization released in a round.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgUpdate {
    /// Organization index.
    pub org: usize,
    /// Whether it is an attacker (a real ledger would not know; for demos and tests).
    pub byzantine: bool,
    /// SHA-256 of the canonical update bytes ([`crate::learn::model::encode_update`]).
    pub update_hash: Digest,
    /// The update (delta) itself, for a blob store.
    pub update: Vec<f32>,
    /// The privacy this release spent.
    pub dp: DpSpend,
    /// Cumulative epsilon after it (`None` without DP).
    pub epsilon_total: Option<f64>,
    /// Local training examples.
    pub num_examples: u64,
    /// Its evaluation of the round's base model on its own holdout.
    pub metrics: LocalMetrics,
}

/// What the rule did with one update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateOutcome {
    /// Index into [`RoundRecord::updates`].
    pub index: usize,
    /// Whether it entered the aggregate.
    pub included: bool,
    /// Its weight in the aggregate (0 when excluded).
    pub weight: f64,
    /// The rule's score for it, if the rule scores (e.g. Krum).
    pub score: Option<f64>,
    /// Why it was excluded or down-weighted (empty when simply included).
    pub reason: String,
}

/// Everything a ledger needs about one round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundRecord {
    /// Round number, from 1 (the block height).
    pub round: u64,
    /// Hash of the model the round trained from.
    pub base_model: Digest,
    /// Every organization's release, by organization index.
    pub updates: Vec<OrgUpdate>,
    /// Aggregation rule name.
    pub rule: String,
    /// The f it ran with.
    pub f: usize,
    /// The rule's verdict per update, by index.
    pub outcomes: Vec<UpdateOutcome>,
    /// Hash of the aggregate delta's canonical bytes.
    pub aggregate_hash: Digest,
    /// Hash of the new global model (base + aggregate).
    pub new_model: Digest,
    /// The members' evaluations of the base model in organization order, pooled with
    /// [`crate::round::pool_metrics`] for the round summary. A ledger orders members by id, so
    /// pool again in that order when the bits must match a block.
    pub base_metrics: RoundMetrics,
}
