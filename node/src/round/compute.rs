//! One round, computed the same way by the leader proposing it, every validator checking it, a
//! node applying a committed block and a deep audit: contributions in ledger order (by member),
//! robust aggregation, exclusions, entries and the next global model.
//!
//! The model rule: `model(h) = model(h-1) + aggregate(rule, f, deltas of block h's update
//! entries in entry order, seed = hash of block h-1)` (the seed only drives bucketing), coordinate by coordinate in f32, starting from the genesis model
//! (`Architecture::from_spec(genesis.model).init(genesis.model.init_seed)`).

use super::assemble::{assemble_entries, Excluded};
use crate::learn::aggregate::{Aggregator, ColumnBlocks, Outcome, UpdateRef};
use crate::learn::model::model_hash;
use fedledger_ledger::block::UpdateCommitment;
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Digest, Entry};
use std::borrow::Cow;
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

/// Coordinates aggregated at a time by rules that run in column blocks: 1 MiB of each update,
/// so a round of n updates holds n MiB of them whatever the model's size.
pub const COLUMN_BLOCK: usize = 1 << 18;
const _: () = assert!(COLUMN_BLOCK % crate::learn::aggregate::BLOCK_ALIGN == 0);

/// Where a round reads its updates' deltas from, by update hash.
pub trait DeltaSource {
    /// How many parameters update `hash` has, or an error saying why it cannot be read.
    fn param_count(&self, hash: &Digest) -> Result<usize, String>;

    /// Parameters `start..start + out.len()` of update `hash`, written into `out`.
    fn read(&self, hash: &Digest, start: usize, out: &mut [f32]) -> Result<(), String>;

    /// The whole delta (for rules that need whole updates).
    fn whole(&self, hash: &Digest) -> Result<Cow<'_, [f32]>, String> {
        let mut v = vec![0.0f32; self.param_count(hash)?];
        self.read(hash, 0, &mut v)?;
        Ok(Cow::Owned(v))
    }
}

/// Decoded deltas in memory.
impl DeltaSource for BTreeMap<Digest, Vec<f32>> {
    fn param_count(&self, hash: &Digest) -> Result<usize, String> {
        self.get(hash)
            .map(Vec::len)
            .ok_or_else(|| format!("the bytes of update {} are missing", hash.short()))
    }

    fn read(&self, hash: &Digest, start: usize, out: &mut [f32]) -> Result<(), String> {
        let d = self.whole(hash)?;
        let part = d
            .get(start..start.saturating_add(out.len()))
            .ok_or_else(|| format!("update {} is shorter than asked", hash.short()))?;
        out.copy_from_slice(part);
        Ok(())
    }

    fn whole(&self, hash: &Digest) -> Result<Cow<'_, [f32]>, String> {
        self.get(hash)
            .map(|d| Cow::Borrowed(d.as_slice()))
            .ok_or_else(|| format!("the bytes of update {} are missing", hash.short()))
    }
}

/// Compute round `chain.height() + 1` from `model` (the model after `chain`'s tip) and the
/// contributions, whose deltas `deltas` holds by update hash. Errors say why in words (they
/// become proposal rejections or audit findings).
///
/// Rules with column blocks ([`Aggregator::column_blocks`]) read the deltas [`COLUMN_BLOCK`]
/// coordinates at a time (the same bits as reading them whole); other rules read every delta
/// whole.
pub fn compute_round(
    chain: &ChainState,
    rule: &Aggregator,
    f: u32,
    model: &[f32],
    mut contributions: Vec<UpdateCommitment>,
    deltas: &impl DeltaSource,
) -> Result<RoundResult, String> {
    contributions.sort_by_key(|c| c.announcement.org);
    let ids: Vec<Digest> = contributions
        .iter()
        .map(|c| c.announcement.update_hash)
        .collect();
    for h in &ids {
        let len = deltas.param_count(h)?;
        if len != model.len() {
            return Err(format!(
                "update {} has {} parameters, the model {}",
                h.short(),
                len,
                model.len()
            ));
        }
    }
    let (next, outcomes) = match rule
        .column_blocks(ids.len(), f as usize, &chain.tip_hash())
        .map_err(|e| e.to_string())?
    {
        Some(blocks) => next_model_in_blocks(blocks, model, &ids, deltas)?,
        None => {
            let whole: Vec<Cow<'_, [f32]>> = ids
                .iter()
                .map(|h| deltas.whole(h))
                .collect::<Result<_, _>>()?;
            let refs: Vec<UpdateRef<'_>> = ids
                .iter()
                .zip(&whole)
                .map(|(id, d)| UpdateRef { id: *id, delta: d })
                .collect();
            let agg = rule
                .run(&refs, f as usize, &chain.tip_hash())
                .map_err(|e| e.to_string())?;
            drop(whole);
            // Consensus-critical: plain f32 addition, coordinate by coordinate.
            let next: Vec<f32> = model
                .iter()
                .zip(&agg.aggregate)
                .map(|(m, a)| m + a)
                .collect();
            (next, agg.outcomes)
        }
    };
    let excluded: Vec<Excluded> = outcomes
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

/// The next model and the outcomes of a rule with column blocks, reading [`COLUMN_BLOCK`]
/// coordinates of every delta at a time into buffers reused across blocks.
fn next_model_in_blocks(
    mut blocks: ColumnBlocks,
    model: &[f32],
    ids: &[Digest],
    deltas: &impl DeltaSource,
) -> Result<(Vec<f32>, Vec<Outcome>), String> {
    let mut buffers = vec![Vec::<f32>::new(); ids.len()];
    if blocks.passes() == 2 {
        // The Gram matrix (Krum family, ARC, NNM) first, block by block.
        for_each_block(model.len(), ids, deltas, &mut buffers, |_, refs| {
            blocks.measure(refs).map_err(|e| e.to_string())
        })?;
    }
    let mut next = Vec::with_capacity(model.len());
    for_each_block(model.len(), ids, deltas, &mut buffers, |start, refs| {
        let agg = blocks.block(refs).map_err(|e| e.to_string())?;
        // Consensus-critical: plain f32 addition, coordinate by coordinate.
        let base = &model[start..start + agg.len()];
        next.extend(base.iter().zip(&agg).map(|(m, a)| m + a));
        Ok(())
    })?;
    Ok((next, blocks.finish().map_err(|e| e.to_string())?))
}

/// Call `each(start, updates)` for every [`COLUMN_BLOCK`] of `len` coordinates, with every
/// delta's values there read into `buffers`.
fn for_each_block(
    len: usize,
    ids: &[Digest],
    deltas: &impl DeltaSource,
    buffers: &mut [Vec<f32>],
    mut each: impl FnMut(usize, &[UpdateRef<'_>]) -> Result<(), String>,
) -> Result<(), String> {
    for start in (0..len).step_by(COLUMN_BLOCK) {
        let width = COLUMN_BLOCK.min(len - start);
        for (buf, h) in buffers.iter_mut().zip(ids) {
            buf.resize(width, 0.0);
            deltas.read(h, start, buf)?;
        }
        let refs: Vec<UpdateRef<'_>> = ids
            .iter()
            .zip(buffers.iter())
            .map(|(id, d)| UpdateRef { id: *id, delta: d })
            .collect();
        each(start, &refs)?;
    }
    Ok(())
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
    deltas: &impl DeltaSource,
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

#[cfg(test)]
mod tests {
    use super::*;
    use fedledger_ledger::block::{DpSpend, LocalMetrics, UpdateAnnouncement};
    use fedledger_ledger::testutil::TestChain;

    /// A delta source that reads like the blob store (ranges, copied out) and records how much
    /// it was asked for at once.
    struct Ranges {
        map: BTreeMap<Digest, Vec<f32>>,
        widest: std::cell::Cell<usize>,
    }

    impl DeltaSource for Ranges {
        fn param_count(&self, hash: &Digest) -> Result<usize, String> {
            self.map.param_count(hash)
        }
        fn read(&self, hash: &Digest, start: usize, out: &mut [f32]) -> Result<(), String> {
            self.widest.set(self.widest.get().max(out.len()));
            self.map.read(hash, start, out)
        }
    }

    fn round_inputs(
        c: &TestChain,
        dim: usize,
    ) -> (Vec<UpdateCommitment>, BTreeMap<Digest, Vec<f32>>) {
        let mut deltas = BTreeMap::new();
        let contributions = c
            .state
            .validators()
            .iter()
            .enumerate()
            .map(|(i, org)| {
                let delta: Vec<f32> = (0..dim)
                    .map(|k| ((k * 31 + i * 17) % 101) as f32 * 1e-3 - 0.05)
                    .collect();
                let update_hash = Digest::of(&crate::learn::model::encode_update(&delta));
                deltas.insert(update_hash, delta);
                UpdateAnnouncement {
                    round: 1,
                    org: *org,
                    update_hash,
                    base_model: c.state.model_hash(),
                    num_examples: 500,
                    dp: DpSpend {
                        sampling_rate: 0.05,
                        noise_multiplier: 1.0,
                        steps: 20,
                    },
                    metrics: LocalMetrics {
                        examples: 100,
                        loss: 0.4,
                        accuracy: 0.8,
                        auc: 0.9,
                        groups: vec![],
                    },
                }
                .sign(c.key(org), &c.chain_id())
            })
            .collect();
        (contributions, deltas)
    }

    #[test]
    fn rules_with_column_blocks_read_one_block_at_a_time_with_the_same_result() {
        let dim = 2 * COLUMN_BLOCK + 123;
        for rule in [
            "median",
            "trimmed-mean",
            "mean",
            "multi-krum",
            "krum",
            "nnm+median",
            "robust",
            "bucketing+trimmed-mean",
            "centered-clipping",
        ] {
            let c = TestChain::new(7, 1, rule);
            let (contributions, map) = round_inputs(&c, dim);
            let model: Vec<f32> = (0..dim).map(|k| (k % 7) as f32 * 0.1).collect();
            let agg = Aggregator::parse(rule).unwrap();
            let ranges = Ranges {
                map,
                widest: Default::default(),
            };
            let streamed =
                compute_round(&c.state, &agg, 1, &model, contributions.clone(), &ranges).unwrap();
            // The reference: every delta whole, through the rule's one-shot path.
            let refs: Vec<UpdateRef<'_>> = {
                let mut cs = contributions.clone();
                cs.sort_by_key(|c| c.announcement.org);
                cs.iter()
                    .map(|c| {
                        let id = c.announcement.update_hash;
                        UpdateRef {
                            id,
                            delta: &ranges.map[&id],
                        }
                    })
                    .collect()
            };
            let whole = agg.run(&refs, 1, &c.state.tip_hash()).unwrap();
            let expected: Vec<f32> = model
                .iter()
                .zip(&whole.aggregate)
                .map(|(m, a)| m + a)
                .collect();
            assert_eq!(streamed.model_hash, model_hash(&expected), "{rule}");
            let excluded = whole.outcomes.iter().filter(|o| !o.included).count();
            assert_eq!(streamed.included, 7 - excluded, "{rule}");
            let widest = ranges.widest.get();
            if rule == "centered-clipping" {
                assert_eq!(widest, dim, "{rule} reads whole updates");
            } else {
                assert_eq!(
                    widest, COLUMN_BLOCK,
                    "{rule} reads one column block at a time"
                );
            }
        }
    }
}
