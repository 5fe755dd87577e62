//! The simulator's application: members sign real update commitments, leaders build real ledger
//! blocks (updates, budget spends, a round summary, membership changes), and validators recompute
//! the "aggregate" (a hash chain over the included updates) exactly as a training node would.

use crate::consensus::{Application, Payload};
use fedledger_ledger::block::{
    BudgetSpend, DpSpend, Entry, LocalMetrics, MembershipChange, RoundMetrics, RoundSummary,
    UpdateAnnouncement, UpdateCommitment,
};
use fedledger_ledger::identity::{self, domain};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Block, BlockHeader, Digest, OrgId, OrgKey};
use std::collections::BTreeMap;

/// The DP spend every simulated member reports.
pub const SPEND: DpSpend = DpSpend {
    sampling_rate: 0.01,
    noise_multiplier: 1.1,
    steps: 10,
};

/// The simulated aggregation: a hash over the parent model and the included update hashes in
/// ledger order. Cheap, deterministic, and sensitive to every input like a real aggregate.
pub fn aggregate(parent_model: &Digest, included: &[Digest]) -> Digest {
    let mut parts: Vec<&[u8]> = vec![b"fedledger/sim-aggregate", parent_model.as_bytes()];
    for h in included {
        parts.push(h.as_bytes());
    }
    Digest::of_parts(&parts)
}

/// Recompute the aggregate a block must commit to, from its entries and the parent state.
pub fn expected_model(chain: &ChainState, entries: &[Entry]) -> Digest {
    let excluded: Vec<(OrgId, Digest)> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Exclusion(x) => Some((x.org, x.update_hash)),
            _ => None,
        })
        .collect();
    let included: Vec<Digest> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Update(u) => Some((u.announcement.org, u.announcement.update_hash)),
            _ => None,
        })
        .filter(|x| !excluded.contains(x))
        .map(|(_, h)| h)
        .collect();
    aggregate(&chain.model_hash(), &included)
}

/// One node's application state.
#[derive(Debug)]
pub struct SimApp {
    key: OrgKey,
    chain_id: Digest,
    rule: String,
    f: u32,
    collect_timeout_ms: u64,
    membership_delay: u64,
    created_at_ms: u64,
    /// Virtual time, set by the world before each call.
    pub now_ms: u64,
    /// When the current round started here (for the collection deadline).
    pub round_started_ms: u64,
    updates: BTreeMap<u64, BTreeMap<OrgId, UpdateCommitment>>,
    /// A payload request waiting for updates.
    pub pending: Option<(u64, u64)>,
    /// A join to record once the chain reaches `join_from` (approved in advance).
    join: Option<(u64, MembershipChange)>,
    join_recorded: bool,
    /// Byzantine: propose a wrong aggregate.
    pub poison: bool,
}

impl SimApp {
    /// An application for `key`'s node.
    pub fn new(
        key: OrgKey,
        genesis: &fedledger_ledger::Genesis,
        join: Option<(u64, MembershipChange)>,
    ) -> Self {
        SimApp {
            key,
            chain_id: genesis.chain_id(),
            rule: genesis.aggregation.rule.clone(),
            f: genesis.f,
            collect_timeout_ms: genesis.rounds.collect_timeout_ms,
            membership_delay: genesis.rounds.membership_delay,
            created_at_ms: genesis.created_at_ms,
            now_ms: 0,
            round_started_ms: 0,
            updates: BTreeMap::new(),
            pending: None,
            join,
            join_recorded: false,
            poison: false,
        }
    }

    /// A round starts here: if this node validates it, sign and return its update commitment.
    pub fn start_round(&mut self, chain: &ChainState) -> Option<UpdateCommitment> {
        let h = chain.height() + 1;
        self.round_started_ms = self.now_ms;
        self.updates.retain(|r, _| *r >= h);
        let me = self.key.id();
        if chain.validators().binary_search(&me).is_err() {
            return None;
        }
        let ann = UpdateAnnouncement {
            round: h,
            org: me,
            update_hash: Digest::of_parts(&[b"sim-update", &h.to_le_bytes(), &me.0]),
            base_model: chain.model_hash(),
            num_examples: 1000,
            dp: SPEND,
            metrics: LocalMetrics {
                examples: 100,
                loss: 0.5,
                accuracy: 0.8,
                auc: 0.85,
                groups: vec![],
            },
        };
        let u = ann.sign(&self.key, &self.chain_id);
        self.updates.entry(h).or_default().insert(me, u.clone());
        Some(u)
    }

    /// A peer's update commitment arrived: keep it if well signed, for a current round, and new.
    pub fn receive_update(&mut self, chain: &ChainState, u: UpdateCommitment) -> bool {
        let a = &u.announcement;
        let h = chain.height() + 1;
        if a.round < h || a.round > h + 1 {
            return false;
        }
        let slot = self.updates.entry(a.round).or_default();
        if slot.contains_key(&a.org) || slot.len() > 64 {
            return false;
        }
        if identity::verify(&a.org, domain::UPDATE, &self.chain_id, a, &u.signature).is_err() {
            return false;
        }
        slot.insert(a.org, u);
        true
    }

    /// Whether the leader may propose now: a quorum of updates, or the deadline passed.
    fn ready(&self, chain: &ChainState, h: u64) -> bool {
        let have = self.updates.get(&h).map_or(0, |m| {
            m.keys()
                .filter(|o| chain.validators().binary_search(o).is_ok())
                .count()
        });
        have >= chain.quorum() || self.now_ms >= self.round_started_ms + self.collect_timeout_ms
    }

    /// When to look again if not ready.
    pub fn deadline_ms(&self) -> u64 {
        self.round_started_ms + self.collect_timeout_ms
    }
}

impl Application for SimApp {
    fn payload(&mut self, chain: &ChainState, height: u64, _view: u64) -> Option<Payload> {
        if height != chain.height() + 1 || !self.ready(chain, height) {
            return None;
        }
        let mut entries = Vec::new();
        let mut included = 0u32;
        for (org, u) in self.updates.get(&height).into_iter().flatten() {
            if chain.validators().binary_search(org).is_err()
                || u.announcement.base_model != chain.model_hash()
            {
                continue;
            }
            let Ok(epsilon_total) = chain.epsilon_after(org, &u.announcement.dp) else {
                continue;
            };
            entries.push(Entry::Update(u.clone()));
            entries.push(Entry::Budget(BudgetSpend {
                round: height,
                org: *org,
                update_hash: u.announcement.update_hash,
                dp: u.announcement.dp,
                epsilon_total,
            }));
            included += 1;
        }
        if let Some((from, change)) = &self.join {
            if !self.join_recorded
                && height >= *from
                && chain
                    .validators()
                    .binary_search(&change.request.subject)
                    .is_err()
            {
                let mut c = change.clone();
                c.effective_height = height + self.membership_delay;
                entries.push(Entry::Membership(c));
            }
        }
        entries.push(Entry::Summary(RoundSummary {
            round: height,
            rule: self.rule.clone(),
            f: self.f,
            params: vec![],
            included,
            excluded: 0,
            evaluated_model: chain.model_hash(),
            metrics: RoundMetrics {
                examples: 100 * u64::from(included),
                loss: 0.5,
                accuracy: 0.8,
                auc: 0.85,
                ..RoundMetrics::default()
            },
        }));
        let mut model_hash = expected_model(chain, &entries);
        if self.poison {
            model_hash = Digest::of_parts(&[b"poisoned", model_hash.as_bytes()]);
        }
        Some(Payload {
            entries,
            model_hash,
            timestamp_ms: self.created_at_ms + self.now_ms,
        })
    }

    fn validate(
        &mut self,
        chain: &ChainState,
        header: &BlockHeader,
        entries: &[Entry],
    ) -> Result<(), String> {
        if !entries.iter().any(|e| matches!(e, Entry::Summary(_))) {
            return Err("no round summary".into());
        }
        for e in entries {
            if let Entry::Update(u) = e {
                if u.announcement.base_model != chain.model_hash() {
                    return Err(format!(
                        "update of {} trained from another model",
                        u.announcement.org.short()
                    ));
                }
            }
        }
        let expected = expected_model(chain, entries);
        if header.model_hash != expected {
            return Err(format!(
                "aggregate mismatch: recomputed {}, proposed {}",
                expected.short(),
                header.model_hash.short()
            ));
        }
        Ok(())
    }

    fn committed(&mut self, block: &Block) {
        if let Some((_, change)) = &self.join {
            let subject = change.request.subject;
            if block
                .entries
                .iter()
                .any(|e| matches!(e, Entry::Membership(m) if m.request.subject == subject))
            {
                self.join_recorded = true;
            }
        }
    }
}
