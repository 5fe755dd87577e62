//! Ledger entries: what a round records about updates, budgets, exclusions, membership and metrics.

use crate::codec;
use crate::digest::Digest;
use crate::identity::{domain, OrgId, OrgKey, Signature};
use crate::merkle;
use serde::{Deserialize, Serialize};

/// One DP-SGD release: Poisson sampling rate q, noise multiplier sigma, number of steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DpSpend {
    /// Poisson sampling rate q = batch / local examples, in [0, 1].
    pub sampling_rate: f64,
    /// Noise multiplier sigma (noise std = sigma * clip norm).
    pub noise_multiplier: f64,
    /// Number of noisy gradient steps.
    pub steps: u64,
}

/// Rates of one group (e.g. students) on a member's evaluation data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRates {
    /// Group value as it appears in the data.
    pub group: String,
    /// Examples in the group.
    pub count: u64,
    /// Positives (true label) in the group.
    pub positives: u64,
    /// Share predicted positive.
    pub positive_rate: f64,
    /// True-positive rate (recall) within the group.
    pub true_positive_rate: f64,
}

/// A member's evaluation of the model it started the round from, on its own held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LocalMetrics {
    /// Held-out examples evaluated.
    pub examples: u64,
    /// Mean log loss.
    pub loss: f64,
    /// Accuracy at threshold 0.5.
    pub accuracy: f64,
    /// ROC AUC.
    pub auc: f64,
    /// Per-group rates for fairness metrics.
    pub groups: Vec<GroupRates>,
}

/// What a member signs when it releases an update (under [`domain::UPDATE`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateAnnouncement {
    /// The round (block height) the update is for.
    pub round: u64,
    /// The member.
    pub org: OrgId,
    /// SHA-256 of the update bytes (served over request-response, stored as a blob).
    pub update_hash: Digest,
    /// Hash of the global model it was trained from.
    pub base_model: Digest,
    /// Local training examples (claimed; does not buy influence).
    pub num_examples: u64,
    /// The privacy spent producing it.
    pub dp: DpSpend,
    /// Evaluation of the base model on local held-out data.
    pub metrics: LocalMetrics,
}

/// A member's signed announcement as recorded on the ledger: attributable to its author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateCommitment {
    /// The signed content.
    pub announcement: UpdateAnnouncement,
    /// The member's signature over it.
    pub signature: Signature,
}

impl UpdateAnnouncement {
    /// Sign as `key` (who must be `self.org`).
    pub fn sign(self, key: &OrgKey, chain_id: &Digest) -> UpdateCommitment {
        let signature = key.sign(domain::UPDATE, chain_id, &self);
        UpdateCommitment {
            announcement: self,
            signature,
        }
    }
}

/// The budget a member spent in a round and its running total, recomputed by every validator and
/// auditor from the recorded parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetSpend {
    /// The round.
    pub round: u64,
    /// The member.
    pub org: OrgId,
    /// The update this spend produced.
    pub update_hash: Digest,
    /// The spend (equal to the announcement's).
    pub dp: DpSpend,
    /// Cumulative epsilon at the policy's delta after this spend.
    pub epsilon_total: f64,
}

/// An update that was announced but not aggregated, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exclusion {
    /// The round.
    pub round: u64,
    /// The member whose update was excluded.
    pub org: OrgId,
    /// The excluded update.
    pub update_hash: Digest,
    /// The rule (or validity check) that excluded it.
    pub rule: String,
    /// Why, in words.
    pub reason: String,
    /// The rule's score for it (e.g. Krum score), if any.
    pub score: Option<f64>,
}

/// Joining or leaving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MembershipAction {
    /// A new organization joins with this name, privacy cap and data schema.
    Join {
        /// Display name.
        name: String,
        /// Requested privacy cap (epsilon at the policy's delta).
        epsilon_max: f64,
        /// SHA-256 of the data schema it will train on.
        schema_hash: Digest,
    },
    /// A member leaves.
    Leave,
}

/// A request signed by its subject (under [`domain::MEMBERSHIP_REQUEST`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembershipRequest {
    /// Who joins or leaves.
    pub subject: OrgId,
    /// What.
    pub action: MembershipAction,
    /// Makes each request unique so an old one cannot be replayed.
    pub nonce: u64,
}

impl MembershipRequest {
    /// The hash approvals sign.
    pub fn hash(&self) -> Digest {
        Digest::of(&codec::encode(self))
    }
}

/// A member's approval of a request (signs the request hash under [`domain::MEMBERSHIP_APPROVAL`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembershipApproval {
    /// The approving member.
    pub approver: OrgId,
    /// Its signature over the request hash.
    pub signature: Signature,
}

/// A membership change: the subject's request, a quorum of approvals, and when it takes effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembershipChange {
    /// The request.
    pub request: MembershipRequest,
    /// The subject's signature over it.
    pub request_signature: Signature,
    /// Approvals of validators in force at the recording height, sorted by approver.
    pub approvals: Vec<MembershipApproval>,
    /// recording height + genesis `rounds.membership_delay`.
    pub effective_height: u64,
}

/// Fairness rates of one group, pooled over members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFairness {
    /// Group value.
    pub group: String,
    /// Examples.
    pub count: u64,
    /// Share predicted positive.
    pub positive_rate: f64,
    /// True-positive rate.
    pub true_positive_rate: f64,
}

/// Global metrics of the model that entered the round, pooled from members' evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RoundMetrics {
    /// Examples evaluated over all members.
    pub examples: u64,
    /// Example-weighted mean log loss.
    pub loss: f64,
    /// Example-weighted accuracy.
    pub accuracy: f64,
    /// Example-weighted mean of members' AUCs.
    pub auc: f64,
    /// Largest difference in positive-prediction rate between groups.
    pub demographic_parity_gap: f64,
    /// Largest difference in true-positive rate between groups.
    pub equal_opportunity_gap: f64,
    /// Per group.
    pub groups: Vec<GroupFairness>,
}

/// What the round did: rule, parameters, counts, metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundSummary {
    /// The round.
    pub round: u64,
    /// Aggregation rule name.
    pub rule: String,
    /// Byzantine tolerance it ran with.
    pub f: u32,
    /// Rule parameters by name (e.g. `m`, `clip_radius`).
    pub params: Vec<(String, f64)>,
    /// Updates aggregated.
    pub included: u32,
    /// Updates excluded.
    pub excluded: u32,
    /// Hash of the model the metrics describe (the round's base model).
    pub evaluated_model: Digest,
    /// The metrics.
    pub metrics: RoundMetrics,
}

/// A ledger entry. The order of variants is the canonical order of kinds within a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// Membership change.
    Membership(MembershipChange),
    /// A member's signed update commitment.
    Update(UpdateCommitment),
    /// A member's privacy spend.
    Budget(BudgetSpend),
    /// An excluded update.
    Exclusion(Exclusion),
    /// The round summary (at most one per block, last).
    Summary(RoundSummary),
}

/// Entry kinds, for ordering and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// [`Entry::Membership`]
    Membership,
    /// [`Entry::Update`]
    Update,
    /// [`Entry::Budget`]
    Budget,
    /// [`Entry::Exclusion`]
    Exclusion,
    /// [`Entry::Summary`]
    Summary,
}

impl Entry {
    /// The kind.
    pub fn kind(&self) -> EntryKind {
        match self {
            Entry::Membership(_) => EntryKind::Membership,
            Entry::Update(_) => EntryKind::Update,
            Entry::Budget(_) => EntryKind::Budget,
            Entry::Exclusion(_) => EntryKind::Exclusion,
            Entry::Summary(_) => EntryKind::Summary,
        }
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// RFC 6962 leaf hash `SHA-256(0x00 || canonical(entry))`: the entry's identity in proofs.
    pub fn leaf_hash(&self) -> Digest {
        merkle::leaf_hash(&self.encode())
    }

    /// The key that orders entries of one kind within a block (member id, or subject).
    pub fn sort_key(&self) -> (EntryKind, [u8; 32]) {
        let id = match self {
            Entry::Membership(m) => m.request.subject.0,
            Entry::Update(u) => u.announcement.org.0,
            Entry::Budget(b) => b.org.0,
            Entry::Exclusion(e) => e.org.0,
            Entry::Summary(_) => [0; 32],
        };
        (self.kind(), id)
    }

    /// The update hash this entry is about, if any (for the hash -> location index).
    pub fn update_hash(&self) -> Option<Digest> {
        match self {
            Entry::Update(u) => Some(u.announcement.update_hash),
            _ => None,
        }
    }
}
