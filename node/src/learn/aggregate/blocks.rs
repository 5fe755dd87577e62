//! Column-block aggregation: a rule run over one range of coordinates at a time, so a round
//! over updates of hundreds of megabytes never holds them whole.
//!
//! Mean, median and trimmed mean compute each coordinate from that coordinate's values alone,
//! and their outcomes from per-update counts of coordinates: one pass over the blocks. Krum,
//! Multi-Krum and the pre-aggregation steps ARC and NNM need the Gram matrix first, so they
//! take two: the first accumulates it block by block (the same f64 additions in the same order
//! as over whole updates, since blocks start at multiples of its 1024-coordinate chunks); the
//! steps and the selection follow from it as n x n weights; the second pass computes each
//! block of the output from those weights (mixed vectors are weighted sums, so they too are
//! coordinate-wise). Bucketing needs only the seed, so bucketing before a coordinate-wise rule
//! is one pass. Either way the bits are those of one run over everything (pinned by the tests
//! below against [`Aggregator::run`]).

use super::error::AggregateError;
use super::gram;
use super::input::{self, Input};
use super::pipeline::{mixed_weights, Aggregator};
use super::pre::{combine_rows, Mixing};
use super::rule::Rule;
use super::trimmed_mean::range_outcomes;
use super::{krum, mean, median, multi_krum, sums, trimmed_mean, Outcome, UpdateRef};
use fedledger_ledger::Digest;

/// Column blocks for two-pass aggregations must start at multiples of this (the Gram matrix's
/// chunk).
pub const BLOCK_ALIGN: usize = 1024;

/// An aggregation in progress over blocks of coordinates: for two-pass aggregations
/// ([`ColumnBlocks::passes`]) feed every block to [`ColumnBlocks::measure`] first; then every
/// block, in order, to [`ColumnBlocks::block`]; then take the outcomes with
/// [`ColumnBlocks::finish`].
#[derive(Debug)]
pub struct ColumnBlocks {
    agg: Aggregator,
    f: usize,
    /// Updates per block.
    n: usize,
    /// The previous block hash (bucketing's permutation).
    seed: Digest,
    /// Per vector the rule sees (updates in input order; mixed vectors in their order),
    /// coordinates outside the central n-2f values so far.
    outside: Vec<u64>,
    /// Coordinates aggregated so far.
    done: usize,
    /// Canonical row k is input update `order[k]` (from the first block seen).
    order: Vec<usize>,
    /// Two-pass aggregations: the first pass.
    measure: Option<Measure>,
    /// Once decided (after the first pass, if any): how each block is computed.
    plan: Option<Plan>,
}

/// The first pass: the Gram matrix of the updates.
#[derive(Debug)]
struct Measure {
    /// Upper triangle of the Gram matrix, canonical order, accumulating.
    gram: Vec<f64>,
    /// Coordinates measured so far.
    measured: usize,
    /// The first non-finite value seen, in input order: (update, coordinate, value).
    first_bad: Option<(usize, usize, f32)>,
}

/// How each block's output is computed.
#[derive(Debug)]
enum Plan {
    /// A coordinate-wise rule on the updates themselves.
    Plain,
    /// Krum or Multi-Krum without steps: canonical rows averaged, outcomes (canonical).
    Chosen {
        rows: Vec<usize>,
        outcomes: Vec<Outcome>,
    },
    /// Pre-aggregation steps; for the Krum family also the weights of the aggregate over the
    /// canonical updates and the rule's outcome per mixed vector.
    Mixed {
        mixing: Mixing,
        selected: Option<(Vec<f64>, Vec<Outcome>)>,
    },
}

impl Aggregator {
    /// A column-block runner for `n` updates tolerating `f`, if this aggregation can run by
    /// blocks: mean, median, trimmed mean, Krum and Multi-Krum, after any pre-aggregation steps
    /// (`seed`, the previous block hash, fixes bucketing's permutation). `None` for Bulyan, the
    /// geometric median and centered clipping, which need whole updates.
    pub fn column_blocks(
        &self,
        n: usize,
        f: usize,
        seed: &Digest,
    ) -> Result<Option<ColumnBlocks>, AggregateError> {
        if !matches!(
            self.rule,
            Rule::Mean | Rule::Median | Rule::TrimmedMean | Rule::Krum | Rule::MultiKrum { .. }
        ) {
            return Ok(None);
        }
        self.check(n, f)?;
        let measure = self.needs_gram().then(|| Measure {
            gram: vec![0.0; n * n],
            measured: 0,
            first_bad: None,
        });
        Ok(Some(ColumnBlocks {
            agg: self.clone(),
            f,
            n,
            seed: *seed,
            outside: Vec::new(),
            done: 0,
            order: Vec::new(),
            measure,
            plan: None,
        }))
    }
}

impl ColumnBlocks {
    /// Passes over the data: 1, or 2 when the Gram matrix is needed first (measure, then
    /// aggregate).
    pub fn passes(&self) -> usize {
        if self.measure.is_some() {
            2
        } else {
            1
        }
    }

    /// First pass of a two-pass aggregation: take the next block's contribution to the Gram
    /// matrix. Blocks other than the last must be multiples of [`BLOCK_ALIGN`] long.
    pub fn measure(&mut self, updates: &[UpdateRef<'_>]) -> Result<(), AggregateError> {
        self.check_count(updates)?;
        let input = Input::sorted(updates, self.f)?;
        self.remember_order(&input);
        let Some(m) = self.measure.as_mut() else {
            return Ok(());
        };
        gram::accumulate(&input.rows, input.dim, &mut m.gram);
        for (index, u) in updates.iter().enumerate() {
            if m.first_bad.is_some_and(|(i, _, _)| i <= index) {
                break;
            }
            if let Some((k, &v)) = u.delta.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                m.first_bad = Some((index, m.measured + k, v));
                break;
            }
        }
        m.measured += input.dim;
        Ok(())
    }

    /// Aggregate the next block of coordinates: `updates` holds every update's values there
    /// (same order and ids each time, all of one length). Errors name the update's input index
    /// and the coordinate counted from the first block (one-pass aggregations: the first
    /// offender of the first block holding one; a run over whole updates names the first in
    /// input order).
    pub fn block(&mut self, updates: &[UpdateRef<'_>]) -> Result<Vec<f32>, AggregateError> {
        self.check_count(updates)?;
        let plan = self.take_plan()?;
        let out = self.block_with(&plan, updates);
        self.plan = Some(plan);
        let (out, dim) = out?;
        self.done += dim;
        Ok(out)
    }

    /// The outcomes, in input order, once every block is in.
    pub fn finish(mut self) -> Result<Vec<Outcome>, AggregateError> {
        let plan = self.take_plan()?;
        let (rule, done) = (self.agg.rule, self.done);
        let order: Vec<usize> = if self.order.len() == self.n {
            self.order.clone()
        } else {
            (0..self.n).collect()
        };
        let canonical = match plan {
            // Already in input order.
            Plan::Plain => None,
            Plan::Chosen { outcomes, .. } => Some(outcomes),
            Plan::Mixed { mixing, selected } => {
                let (weights, stage) = match selected {
                    Some(selected) => selected,
                    None => {
                        let stage = stage_outcomes(rule, mixing.rows(), done, &self.outside);
                        (mixed_weights(&mixing, &stage), stage)
                    }
                };
                Some(self.agg.outcomes(&mixing, &weights, &stage))
            }
        };
        let mut outcomes = match canonical {
            Some(canonical) => {
                let mut out: Vec<Option<Outcome>> = vec![None; self.n];
                for (k, o) in canonical.into_iter().enumerate() {
                    if let Some(slot) = order.get(k).and_then(|&i| out.get_mut(i)) {
                        *slot = Some(o);
                    }
                }
                out.into_iter().flatten().collect()
            }
            None => stage_outcomes(rule, self.n, done, &self.outside),
        };
        for (i, o) in outcomes.iter_mut().enumerate() {
            o.index = i;
        }
        Ok(outcomes)
    }

    /// One block under `plan`: the output and the block's length.
    fn block_with(
        &mut self,
        plan: &Plan,
        updates: &[UpdateRef<'_>],
    ) -> Result<(Vec<f32>, usize), AggregateError> {
        let done = self.done;
        let shift = |e| shift(e, done);
        let rule = self.agg.rule;
        match plan {
            Plan::Plain => {
                let input = Input::new(&rule, updates, self.f).map_err(shift)?;
                self.remember_order(&input);
                let (out, counts) = coordinatewise(rule, &input).map_err(shift)?;
                for (k, c) in counts.into_iter().enumerate() {
                    self.outside[input.order[k]] += c;
                }
                Ok((out, input.dim))
            }
            Plan::Chosen { rows, .. } => {
                let input = Input::sorted(updates, self.f)?;
                let out = match rule {
                    Rule::Krum => rows
                        .first()
                        .map(|&r| input.rows[r].iter().map(|&x| sums::canon(x)).collect())
                        .unwrap_or_default(),
                    _ => {
                        let chosen: Vec<&[f32]> = rows.iter().map(|&i| input.rows[i]).collect();
                        sums::to_f32(&sums::mean(&chosen, input.dim))
                    }
                };
                Ok((out, input.dim))
            }
            Plan::Mixed { mixing, selected } => {
                let input = Input::sorted(updates, self.f)?;
                self.remember_order(&input);
                if self.measure.is_none() {
                    // One pass: nothing has scanned these values yet.
                    if let Some(e) = input.first_non_finite() {
                        return Err(shift(e));
                    }
                }
                if let Some((weights, _)) = selected {
                    let out = sums::to_f32(&combine_rows(&input.rows, weights, input.dim));
                    return Ok((out, input.dim));
                }
                let vectors = mixing.materialize(&input.rows, input.dim);
                let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
                let staged = Input::ordered(refs, input.dim, self.f);
                let (out, counts) = coordinatewise(rule, &staged).map_err(shift)?;
                for (k, c) in counts.into_iter().enumerate() {
                    self.outside[k] += c;
                }
                Ok((out, input.dim))
            }
        }
    }

    /// The plan, decided on first use (after the first pass, for two-pass aggregations).
    fn take_plan(&mut self) -> Result<Plan, AggregateError> {
        if let Some(plan) = self.plan.take() {
            return Ok(plan);
        }
        let (rule, f, n) = (self.agg.rule, self.f, self.n);
        let gram = match self.measure.as_mut() {
            Some(m) => {
                if let Some((index, coordinate, value)) = m.first_bad {
                    return Err(AggregateError::NonFinite {
                        index,
                        coordinate,
                        value,
                    });
                }
                gram::symmetrize(&mut m.gram, n);
                Some(m.gram.clone())
            }
            None => None,
        };
        let plan = if !self.agg.pre.is_empty() {
            let mixing = self.agg.mix(n, gram, f, &self.seed);
            let selected = self.agg.select(&mixing, f);
            self.outside = vec![0; mixing.rows()];
            Plan::Mixed { mixing, selected }
        } else if let Some(g) = gram {
            let d2 = gram::distances(&g, n);
            let (rows, outcomes) = match rule {
                Rule::MultiKrum { m } => multi_krum::select(&d2, n, f, m.unwrap_or(n - f)),
                _ => {
                    let (best, o) = krum::select(&d2, n, f);
                    (vec![best], o)
                }
            };
            Plan::Chosen { rows, outcomes }
        } else {
            self.outside = vec![0; n];
            Plan::Plain
        };
        Ok(plan)
    }

    fn remember_order(&mut self, input: &Input<'_>) {
        if self.order.is_empty() {
            self.order.clone_from(&input.order);
        }
    }

    fn check_count(&self, updates: &[UpdateRef<'_>]) -> Result<(), AggregateError> {
        if updates.len() == self.n {
            return Ok(());
        }
        Err(AggregateError::DimensionMismatch {
            index: updates.len().min(self.n),
            expected: self.n,
            found: updates.len(),
        })
    }
}

/// A coordinate-wise rule on one block: the output and, per row, coordinates outside the
/// central values (all 0 for the mean).
fn coordinatewise(rule: Rule, input: &Input<'_>) -> Result<(Vec<f32>, Vec<u64>), AggregateError> {
    match rule {
        Rule::Median => median::with_counts(input),
        Rule::TrimmedMean => trimmed_mean::with_counts(input),
        _ => Ok((mean::run(input).0, vec![0; input.n()])),
    }
}

/// The outcomes of a coordinate-wise rule over `rows` vectors after `dim` coordinates.
fn stage_outcomes(rule: Rule, rows: usize, dim: usize, outside: &[u64]) -> Vec<Outcome> {
    match rule {
        Rule::Median | Rule::TrimmedMean => range_outcomes(rows, dim, outside),
        _ => (0..rows)
            .map(|_| input::included(1.0 / rows as f64, None))
            .collect(),
    }
}

/// A non-finite error's coordinate counted from the first block.
fn shift(e: AggregateError, done: usize) -> AggregateError {
    match e {
        AggregateError::NonFinite {
            index,
            coordinate,
            value,
        } => AggregateError::NonFinite {
            index,
            coordinate: coordinate + done,
            value,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::aggregate::aggregate;
    use fedledger_ledger::Digest;
    use proptest::prelude::*;

    fn run_in_blocks(
        agg: &Aggregator,
        rows: &[Vec<f32>],
        ids: &[Digest],
        f: usize,
        block: usize,
        seed: &Digest,
    ) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
        let dim = rows[0].len();
        let mut b = agg
            .column_blocks(rows.len(), f, seed)?
            .expect("a rule with column blocks");
        let mut out = Vec::with_capacity(dim);
        if b.passes() == 2 {
            let mut start = 0;
            while start < dim {
                let end = (start + block).min(dim);
                let refs: Vec<UpdateRef<'_>> = rows
                    .iter()
                    .zip(ids)
                    .map(|(r, id)| UpdateRef {
                        id: *id,
                        delta: &r[start..end],
                    })
                    .collect();
                b.measure(&refs)?;
                start = end;
            }
        }
        let mut start = 0;
        while start < dim {
            let end = (start + block).min(dim);
            let refs: Vec<UpdateRef<'_>> = rows
                .iter()
                .zip(ids)
                .map(|(r, id)| UpdateRef {
                    id: *id,
                    delta: &r[start..end],
                })
                .collect();
            out.extend(b.block(&refs)?);
            start = end;
        }
        Ok((out, b.finish()?))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any block size gives the bits of one run over everything, outcomes included.
        /// The Krum family in two passes, with blocks of whole Gram chunks.
        #[test]
        fn krum_family_blocks_equal_one_run(
            n in 3usize..9,
            dim in 1usize..5000,
            chunks in 1usize..4,
            seed in any::<u64>(),
            multi in any::<bool>(),
            f_raw in 0usize..3,
        ) {
            let f = f_raw.min((n - 3) / 2);
            let agg = Aggregator::parse(if multi { "multi-krum" } else { "krum" }).unwrap();
            let mut x = seed | 1;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x % 1000) as f32 - 500.0) / 300.0
            };
            let rows: Vec<Vec<f32>> = (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect();
            let ids: Vec<Digest> = (0..n).map(|i| Digest::of(&[(n - i) as u8, 9])).collect();
            let refs: Vec<UpdateRef<'_>> = rows
                .iter()
                .zip(&ids)
                .map(|(r, id)| UpdateRef { id: *id, delta: r })
                .collect();
            let whole = agg.run(&refs, f, &Digest::default()).unwrap();
            let (out, outcomes) =
                run_in_blocks(&agg, &rows, &ids, f, chunks * BLOCK_ALIGN, &Digest::default()).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&out), bits(&whole.aggregate));
            prop_assert_eq!(outcomes, whole.outcomes);
        }

        #[test]
        fn blocks_equal_one_run(
            n in 1usize..9,
            dim in 1usize..3000,
            block in 1usize..2500,
            seed in any::<u64>(),
            rule in 0usize..3,
            f_raw in 0usize..4,
        ) {
            let name = ["mean", "median", "trimmed-mean"][rule];
            let f = if rule == 0 { 0 } else { f_raw.min(n.saturating_sub(1) / 2) };
            let agg = Aggregator::parse(name).unwrap();
            let mut x = seed | 1;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Few distinct values, so ties (and the tie rules) are exercised.
                ((x % 64) as f32 - 32.0) / 8.0
            };
            let rows: Vec<Vec<f32>> = (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect();
            // Ids out of input order, so canonical and input order differ.
            let ids: Vec<Digest> = (0..n).map(|i| Digest::of(&[(n - i) as u8, 7])).collect();
            let refs: Vec<UpdateRef<'_>> = rows
                .iter()
                .zip(&ids)
                .map(|(r, id)| UpdateRef { id: *id, delta: r })
                .collect();
            let whole = aggregate(&agg.rule, &refs, f).unwrap();
            let (out, outcomes) =
                run_in_blocks(&agg, &rows, &ids, f, block, &Digest::default()).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&out), bits(&whole.aggregate));
            prop_assert_eq!(outcomes, whole.outcomes);
        }

        /// Pre-aggregation steps before every rule with column blocks: the Gram matrix in the
        /// first pass (ARC, NNM, the Krum family), mixed vectors computed block by block.
        #[test]
        fn pre_aggregation_blocks_equal_one_run(
            n in 5usize..12,
            dim in 1usize..4000,
            chunks in 1usize..3,
            seed in any::<u64>(),
            name in 0usize..PIPELINES.len(),
            f_raw in 0usize..3,
        ) {
            let agg = Aggregator::parse(PIPELINES[name]).unwrap();
            let f = f_raw;
            prop_assume!(agg.check(n, f).is_ok());
            let rows = random_rows(n, dim, seed);
            let ids: Vec<Digest> = (0..n).map(|i| Digest::of(&[(n - i) as u8, 5])).collect();
            let block_seed = Digest::of(&seed.to_le_bytes());
            let refs: Vec<UpdateRef<'_>> = rows
                .iter()
                .zip(&ids)
                .map(|(r, id)| UpdateRef { id: *id, delta: r })
                .collect();
            let whole = agg.run(&refs, f, &block_seed).unwrap();
            let (out, outcomes) =
                run_in_blocks(&agg, &rows, &ids, f, chunks * BLOCK_ALIGN, &block_seed).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&out), bits(&whole.aggregate));
            prop_assert_eq!(outcomes, whole.outcomes);
        }
    }

    /// Every pre-aggregated pipeline that runs by column blocks, `robust` among them.
    const PIPELINES: [&str; 10] = [
        "robust",
        "arc+nnm+multi-krum",
        "nnm+krum",
        "arc+krum",
        "nnm+median",
        "arc+nnm+trimmed-mean",
        "nnm+mean",
        "bucketing+median",
        "bucketing+trimmed-mean",
        "bucketing+krum",
    ];

    /// `n` rows of `dim` values in [-1.7, 1.7), a few of them far out (so ARC clips and NNM
    /// and Krum have outliers to leave out).
    fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x % 1000) as f32 - 500.0) / 300.0
        };
        (0..n)
            .map(|i| {
                let scale = if i % 4 == 3 { 20.0 } else { 1.0 };
                (0..dim).map(|_| next() * scale).collect()
            })
            .collect()
    }

    #[test]
    fn a_non_finite_value_is_named_at_its_coordinate_in_the_whole_update() {
        // Two-pass rules name the first in input order (update, then coordinate), as over
        // whole updates; one-pass rules stop at the first block holding one.
        for (name, block, n) in [
            ("median", 32, 5),
            ("bucketing+median", 32, 5),
            ("multi-krum", 1024, 5),
            ("krum", 1024, 5),
            ("robust", 1024, 5),
            ("nnm+median", 1024, 5),
        ] {
            let agg = Aggregator::parse(name).unwrap();
            let mut rows = vec![vec![0.5f32; 3000]; n];
            rows[2][2077] = f32::NAN;
            rows[2][2500] = f32::INFINITY;
            rows[n - 1][5] = f32::NAN;
            let ids: Vec<Digest> = (0..n as u8).map(|i| Digest::of(&[i])).collect();
            let refs: Vec<UpdateRef<'_>> = rows
                .iter()
                .zip(&ids)
                .map(|(r, id)| UpdateRef { id: *id, delta: r })
                .collect();
            let whole = agg.run(&refs, 1, &Digest::default()).unwrap_err();
            match run_in_blocks(&agg, &rows, &ids, 1, block, &Digest::default()) {
                Err(
                    e @ AggregateError::NonFinite {
                        index, coordinate, ..
                    },
                ) => {
                    if name.ends_with("median") && !name.starts_with("nnm") {
                        assert_eq!((index, coordinate), (4, 5), "{name}");
                    } else {
                        assert_eq!((index, coordinate), (2, 2077), "{name}");
                        assert_eq!(e.to_string(), whole.to_string(), "{name}");
                    }
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn whole_update_rules_have_no_column_blocks() {
        for name in [
            "bulyan",
            "geometric-median",
            "centered-clipping",
            "nnm+centered-clipping",
        ] {
            let agg = Aggregator::parse(name).unwrap();
            assert!(
                agg.column_blocks(9, 1, &Digest::default())
                    .unwrap()
                    .is_none(),
                "{name}"
            );
        }
        // An (n, f) the rule cannot take is refused up front.
        assert!(Aggregator::parse("median")
            .unwrap()
            .column_blocks(2, 1, &Digest::default())
            .is_err());
    }
}
