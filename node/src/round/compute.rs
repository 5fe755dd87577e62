//! One round, computed the same way by the leader proposing it, every validator checking it, a
//! node applying a committed block and a deep audit: contributions in ledger order (by member),
//! robust aggregation, exclusions, entries and the next global model.
//!
//! The model rule: `model(h) = model(h-1) + aggregate(rule, f, deltas of block h's update
//! entries in entry order, seed = hash of block h-1)` (the seed only drives bucketing), coordinate by coordinate in f32, starting from the genesis model
//! (`Architecture::from_spec(genesis.model).init(genesis.model.init_seed)`).

use super::assemble::{assemble_entries, Excluded};
use crate::learn::aggregate::{Aggregator, UpdateRef};
use crate::learn::model::model_hash;
use fedledger_ledger::block::UpdateCommitment;
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Digest, Entry};
use std::collections::BTreeMap;

/// The outcome of a round.
#[derive(Debug, Clone)]
pub struct RoundResult {
    /// The block's entries (without membership changes), canonical order.
    pub entries: Vec<Entry>,
    /// The global model after the round.
    pub model: Vec<f32>,
    /// Its hash (what the header commits to).
    pub model_hash: Digest,
    /// Updates aggregated.
    pub included: usize,
}

/// Compute round `chain.height() + 1` from `model` (the model after `chain`'s tip) and the
/// contributions, whose deltas `deltas` holds by update hash. Errors say why in words (they
/// become proposal rejections or audit findings).
pub fn compute_round(
    chain: &ChainState,
    rule: &Aggregator,
    f: u32,
    model: &[f32],
    mut contributions: Vec<UpdateCommitment>,
    deltas: &BTreeMap<Digest, Vec<f32>>,
) -> Result<RoundResult, String> {
    contributions.sort_by_key(|c| c.announcement.org);
    let mut refs = Vec::with_capacity(contributions.len());
    for c in &contributions {
        let h = c.announcement.update_hash;
        let delta = deltas
            .get(&h)
            .ok_or_else(|| format!("the bytes of update {} are missing", h.short()))?;
        if delta.len() != model.len() {
            return Err(format!(
                "update {} has {} parameters, the model {}",
                h.short(),
                delta.len(),
                model.len()
            ));
        }
        refs.push(UpdateRef { id: h, delta });
    }
    let agg = rule
        .run(&refs, f as usize, &chain.tip_hash())
        .map_err(|e| e.to_string())?;
    let excluded: Vec<Excluded> = agg
        .outcomes
        .iter()
        .filter(|o| !o.included)
        .map(|o| Excluded {
            index: o.index,
            reason: o.reason.clone().unwrap_or_default(),
            score: o.score,
        })
        .collect();
    let included = contributions.len() - excluded.len();
    let entries = assemble_entries(
        chain,
        rule.name(),
        f,
        rule.params(),
        contributions,
        &excluded,
    )
    .map_err(|e| e.to_string())?;
    // Consensus-critical: plain f32 addition, coordinate by coordinate.
    let next: Vec<f32> = model
        .iter()
        .zip(&agg.aggregate)
        .map(|(m, a)| m + a)
        .collect();
    // Finite deltas can still overflow f32 when added (a huge update under the mean rule): a
    // model no member can train from is never committed.
    if let Some(i) = next.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "the aggregate makes model parameter {i} non-finite"
        ));
    }
    let hash = model_hash(&next);
    Ok(RoundResult {
        entries,
        model: next,
        model_hash: hash,
        included,
    })
}

/// The update commitments of a block's entries, in entry order.
pub fn contributions_of(entries: &[Entry]) -> Vec<UpdateCommitment> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Update(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

/// Check a proposed or committed block against a recomputation: the same entries (membership
/// changes aside) and the same model hash. Returns the recomputed round.
pub fn check_block(
    chain: &ChainState,
    rule: &Aggregator,
    f: u32,
    model: &[f32],
    entries: &[Entry],
    committed_model: &Digest,
    deltas: &BTreeMap<Digest, Vec<f32>>,
) -> Result<RoundResult, String> {
    let base = model_hash(model);
    let contributions = contributions_of(entries);
    for c in &contributions {
        if c.announcement.base_model != base {
            return Err(format!(
                "update {} of {} was trained from model {}, not the current {}",
                c.announcement.update_hash.short(),
                c.announcement.org.short(),
                c.announcement.base_model.short(),
                base.short()
            ));
        }
    }
    let r = compute_round(chain, rule, f, model, contributions, deltas)?;
    let theirs: Vec<&Entry> = entries
        .iter()
        .filter(|e| !matches!(e, Entry::Membership(_)))
        .collect();
    let ours: Vec<&Entry> = r.entries.iter().collect();
    if theirs != ours {
        return Err(
            "the entries differ from the recomputed round (exclusions, spends or summary)".into(),
        );
    }
    if r.model_hash != *committed_model {
        return Err(format!(
            "the committed model {} differs from the recomputed {}",
            committed_model.short(),
            r.model_hash.short()
        ));
    }
    Ok(r)
}
