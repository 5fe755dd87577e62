//! The chain state as plain data, so an auditor can stop after block N and later verify only
//! the blocks after it (`fedledger audit --since`).
//!
//! Only what blocks changed is stored; everything the genesis fixes (f, delta, the rule, the
//! plan, the accountant's converter) is rebuilt from the genesis on restore, and the snapshot's
//! chain id must be the genesis's. A snapshot comes from disk, so [`ChainState::restore`] checks
//! every field it can (sorted sets, valid curves, finite budgets) before trusting it.

use super::{ChainState, Member, Totals};
use crate::block::RoundMetrics;
use crate::digest::Digest;
use crate::error::LedgerError;
use crate::genesis::Genesis;
use crate::identity::OrgId;
use crate::privacy::RdpCurve;
use crate::verify::report::MembershipEvent;
use crate::verify::validators::ValidatorSet;
use serde::{Deserialize, Serialize};

/// Everything [`ChainState`] accumulated from blocks `1..=height`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainSnapshot {
    /// The chain (must be the genesis's when restored).
    pub chain_id: Digest,
    /// Height of the last applied block.
    pub height: u64,
    /// Its hash.
    pub tip: Digest,
    /// Its timestamp.
    pub last_timestamp: u64,
    /// The model hash it committed.
    pub model_hash: Digest,
    /// Validators in force for the next height, sorted.
    pub validators: Vec<OrgId>,
    /// Recorded changes not in force yet: effective height, then (org, join) in ledger order.
    pub pending: Vec<(u64, Vec<(OrgId, bool)>)>,
    /// Every member ever admitted, sorted by id.
    pub members: Vec<MemberSnapshot>,
    /// Hashes of membership requests already recorded (replays are refused), sorted.
    pub seen_requests: Vec<Digest>,
    /// The membership history.
    pub membership: Vec<MembershipEvent>,
    /// Updates committed.
    pub updates: u64,
    /// Exclusions recorded.
    pub exclusions: u64,
    /// Blocks finalized after a view change.
    pub view_changes: u64,
    /// The last round summary's metrics.
    pub last_metrics: Option<RoundMetrics>,
}

/// One member's account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberSnapshot {
    /// Its id.
    pub id: OrgId,
    /// Its name.
    pub name: String,
    /// Its cap.
    pub epsilon_max: f64,
    /// Its cumulative RDP curve, one value per accountant order.
    pub curve: Vec<f64>,
    /// Its cumulative epsilon.
    pub epsilon: f64,
    /// Updates committed.
    pub updates: u64,
    /// Times excluded.
    pub exclusions: u64,
    /// Blocks proposed.
    pub proposed: u64,
    /// Effective height of its (last) admission.
    pub joined_at: u64,
    /// Effective height of its leave, if it left.
    pub left_at: Option<u64>,
}

fn bad(reason: impl Into<String>) -> LedgerError {
    LedgerError::Malformed {
        what: "chain state snapshot",
        reason: reason.into(),
    }
}

impl ChainState {
    /// The state as plain data.
    pub fn snapshot(&self) -> ChainSnapshot {
        let (validators, pending) = self.validators.parts();
        let mut seen_requests: Vec<Digest> = self.seen_requests.iter().copied().collect();
        seen_requests.sort();
        ChainSnapshot {
            chain_id: self.chain_id,
            height: self.height,
            tip: self.tip,
            last_timestamp: self.last_timestamp,
            model_hash: self.model_hash,
            validators,
            pending,
            members: self
                .members
                .iter()
                .map(|(id, m)| MemberSnapshot {
                    id: *id,
                    name: m.name.clone(),
                    epsilon_max: m.epsilon_max,
                    curve: m.curve.values().to_vec(),
                    epsilon: m.epsilon,
                    updates: m.updates,
                    exclusions: m.exclusions,
                    proposed: m.proposed,
                    joined_at: m.joined_at,
                    left_at: m.left_at,
                })
                .collect(),
            seen_requests,
            membership: self.membership.clone(),
            updates: self.totals.updates,
            exclusions: self.totals.exclusions,
            view_changes: self.totals.view_changes,
            last_metrics: self.totals.last_metrics.clone(),
        }
    }

    /// The state a snapshot describes, under `genesis` (validated). Fails when the snapshot is
    /// of another chain or not something [`Self::snapshot`] can produce.
    pub fn restore(genesis: &Genesis, s: ChainSnapshot) -> Result<Self, LedgerError> {
        let mut state = ChainState::new(genesis);
        if s.chain_id != state.chain_id {
            return Err(bad(format!(
                "of chain {}, not this genesis's {}",
                s.chain_id.short(),
                state.chain_id.short()
            )));
        }
        if s.height == 0 && s.tip != s.chain_id {
            return Err(bad("height 0 with a tip other than the chain id"));
        }
        if s.last_timestamp < genesis.created_at_ms {
            return Err(bad("last timestamp precedes the genesis"));
        }
        state.validators = ValidatorSet::from_parts(genesis.f, s.validators, s.pending)
            .ok_or_else(|| bad("validators not sorted or repeated"))?;
        if s.members.windows(2).any(|w| w[0].id >= w[1].id) {
            return Err(bad("members not sorted or repeated"));
        }
        if s.seen_requests.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("membership requests not sorted or repeated"));
        }
        state.members.clear();
        for m in s.members {
            let curve = RdpCurve::from_values(&m.curve)
                .ok_or_else(|| bad(format!("member {}: invalid RDP curve", m.id.short())))?;
            let finite = |x: f64| x.is_finite() && x >= 0.0;
            if !finite(m.epsilon_max) || m.epsilon.is_nan() || m.epsilon < 0.0 {
                return Err(bad(format!(
                    "member {}: epsilon {} of cap {}",
                    m.id.short(),
                    m.epsilon,
                    m.epsilon_max
                )));
            }
            state.members.insert(
                m.id,
                Member {
                    name: m.name,
                    epsilon_max: m.epsilon_max,
                    curve,
                    epsilon: m.epsilon,
                    updates: m.updates,
                    exclusions: m.exclusions,
                    proposed: m.proposed,
                    joined_at: m.joined_at,
                    left_at: m.left_at,
                },
            );
        }
        state.seen_requests = s.seen_requests.into_iter().collect();
        state.membership = s.membership;
        state.height = s.height;
        state.tip = s.tip;
        state.last_timestamp = s.last_timestamp;
        state.model_hash = s.model_hash;
        state.totals = Totals {
            updates: s.updates,
            exclusions: s.exclusions,
            view_changes: s.view_changes,
            last_metrics: s.last_metrics,
        };
        Ok(state)
    }
}
