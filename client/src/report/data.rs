//! The per-round series a report draws, collected from each verified block (never whole blocks).

use fedledger_ledger::block::Entry;
use fedledger_ledger::verify::AuditOutcome;
use fedledger_ledger::{Block, Digest, OrgId};
use std::collections::BTreeMap;

/// Global metrics of one round, from its round summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundMetricsPoint {
    /// Example-weighted accuracy.
    pub accuracy: f64,
    /// Example-weighted AUC.
    pub auc: f64,
    /// Example-weighted log loss.
    pub loss: f64,
    /// Demographic parity gap.
    pub parity_gap: f64,
    /// Equal opportunity gap.
    pub opportunity_gap: f64,
    /// What the model predicted at the threshold, from the pooled group rates.
    pub predicted: Predicted,
}

/// Which classes a round's model predicted for the customers evaluated, as far as the pooled
/// per-group positive-prediction rates tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predicted {
    /// Both classes.
    Both,
    /// Nobody positive: accuracy is the base rate and the fairness gaps are 0 trivially.
    OnlyNegative,
    /// Everybody positive.
    OnlyPositive,
    /// No group rates recorded (no group column).
    Unknown,
}

impl Predicted {
    /// From a round summary's metrics.
    pub fn of(m: &fedledger_ledger::block::RoundMetrics) -> Self {
        let rates: Vec<f64> = m
            .groups
            .iter()
            .filter(|g| g.count > 0)
            .map(|g| g.positive_rate)
            .collect();
        if rates.is_empty() {
            Predicted::Unknown
        } else if rates.iter().all(|&r| r == 0.0) {
            Predicted::OnlyNegative
        } else if rates.iter().all(|&r| r == 1.0) {
            Predicted::OnlyPositive
        } else {
            Predicted::Both
        }
    }
}

/// What the report keeps of one verified block: O(members) numbers.
#[derive(Debug, Clone)]
pub struct RoundRecord {
    /// Height (= round).
    pub height: u64,
    /// Consensus view.
    pub view: u64,
    /// Block hash.
    pub hash: Digest,
    /// Proposer.
    pub proposer: OrgId,
    /// Proposer's timestamp (ms).
    pub timestamp_ms: u64,
    /// Certificate signers, in certificate order.
    pub signers: Vec<OrgId>,
    /// Summary metrics, when the block has a summary.
    pub metrics: Option<RoundMetricsPoint>,
    /// Members whose update was aggregated.
    pub included: Vec<OrgId>,
    /// Members whose update was excluded.
    pub excluded: Vec<OrgId>,
    /// Cumulative epsilon of each member that spent in this round.
    pub epsilon: Vec<(OrgId, f64)>,
}

/// Per-round records of the verified prefix, in height order.
#[derive(Debug, Default)]
pub struct ReportData {
    /// One record per verified block.
    pub rounds: Vec<RoundRecord>,
}

impl ReportData {
    /// Record `block` (called by the audit after it verified).
    pub fn observe(&mut self, block: &Block) {
        let mut updates = Vec::new();
        let mut excluded = Vec::new();
        let mut epsilon = Vec::new();
        let mut metrics = None;
        for e in &block.entries {
            match e {
                Entry::Update(u) => updates.push(u.announcement.org),
                Entry::Exclusion(x) => excluded.push(x.org),
                Entry::Budget(b) => epsilon.push((b.org, b.epsilon_total)),
                Entry::Summary(s) => {
                    let m = &s.metrics;
                    metrics = Some(RoundMetricsPoint {
                        accuracy: m.accuracy,
                        auc: m.auc,
                        loss: m.loss,
                        parity_gap: m.demographic_parity_gap,
                        opportunity_gap: m.equal_opportunity_gap,
                        predicted: Predicted::of(m),
                    });
                }
                Entry::Membership(_) => {}
            }
        }
        let included = updates
            .into_iter()
            .filter(|o| !excluded.contains(o))
            .collect();
        self.rounds.push(RoundRecord {
            height: block.header.height,
            view: block.header.view,
            hash: block.hash(),
            proposer: block.header.proposer,
            timestamp_ms: block.header.timestamp_ms,
            signers: block.certificate.votes.iter().map(|v| v.signer).collect(),
            metrics,
            included,
            excluded,
            epsilon,
        });
    }

    /// The last verified height (0 when nothing verified).
    pub fn last_height(&self) -> u64 {
        self.rounds.last().map(|r| r.height).unwrap_or(0)
    }
}

/// A member as the report shows it: a stable index (for colors), its name and its span.
#[derive(Debug, Clone)]
pub struct OrgInfo {
    /// Its key.
    pub id: OrgId,
    /// Display name from genesis or its join request.
    pub name: String,
    /// Privacy cap.
    pub epsilon_max: f64,
    /// Recomputed cumulative epsilon at the end of the verified prefix.
    pub epsilon_spent: f64,
    /// Height from which it validated (0 = founder).
    pub joined_at: u64,
    /// Height from which it no longer validated.
    pub left_at: Option<u64>,
    /// Updates committed.
    pub updates: u64,
    /// Updates excluded.
    pub exclusions: u64,
    /// Blocks proposed.
    pub proposed: u64,
}

impl OrgInfo {
    /// Whether it was a validator for block `height`.
    pub fn member_at(&self, height: u64) -> bool {
        self.joined_at <= height && self.left_at.is_none_or(|l| height < l)
    }

    /// `name (abcd1234)`: names are not unique, so the short id disambiguates.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.id.short())
    }
}

/// Members in display order: founders first, then joiners by join height; ties by name, then id.
pub fn orgs(outcome: &AuditOutcome) -> Vec<OrgInfo> {
    let mut v: Vec<OrgInfo> = outcome
        .report
        .members
        .iter()
        .map(|m| OrgInfo {
            id: m.id,
            name: m.name.clone(),
            epsilon_max: m.epsilon_max,
            epsilon_spent: m.epsilon_spent,
            joined_at: m.joined_at,
            left_at: m.left_at,
            updates: m.updates,
            exclusions: m.exclusions,
            proposed: m.blocks_proposed,
        })
        .collect();
    v.sort_by(|a, b| (a.joined_at, &a.name, a.id.0).cmp(&(b.joined_at, &b.name, b.id.0)));
    v
}

/// Index of each member in [`orgs`] order.
pub fn index(orgs: &[OrgInfo]) -> BTreeMap<OrgId, usize> {
    orgs.iter().enumerate().map(|(i, o)| (o.id, i)).collect()
}
