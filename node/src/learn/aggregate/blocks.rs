//! Column-block aggregation: a rule run over one range of coordinates at a time, so a round
//! over updates of hundreds of megabytes never holds them whole.
//!
//! Mean, median and trimmed mean compute each coordinate from that coordinate's values alone,
//! and their outcomes from per-update counts of coordinates: one pass over the blocks. Krum and
//! Multi-Krum take two: the first accumulates the Gram matrix block by block (the same f64
//! additions in the same order as over whole updates, since blocks start at multiples of its
//! 1024-coordinate chunks), the selection follows from it, and the second pass averages the
//! selected updates block by block. Either way the bits are those of one run over everything
//! (pinned by the tests below against [`super::aggregate`]).

use super::error::AggregateError;
use super::gram;
use super::input::{self, Input};
use super::pipeline::Aggregator;
use super::rule::Rule;
use super::trimmed_mean::range_outcomes;
use super::{krum, mean, median, multi_krum, sums, trimmed_mean, Outcome, UpdateRef};

/// Column blocks for the Krum family must start at multiples of this (the Gram matrix's chunk).
pub const BLOCK_ALIGN: usize = 1024;

/// An aggregation in progress over blocks of coordinates: for two-pass rules
/// ([`ColumnBlocks::passes`]) feed every block to [`ColumnBlocks::measure`] first; then every
/// block, in order, to [`ColumnBlocks::block`]; then take the outcomes with
/// [`ColumnBlocks::finish`].
#[derive(Debug)]
pub struct ColumnBlocks {
    rule: Rule,
    f: usize,
    /// Per update (input order), coordinates outside the central n-2f values so far.
    outside: Vec<u64>,
    /// Coordinates aggregated so far.
    done: usize,
    /// Krum family: the first pass, then the selection.
    select: Option<Selection>,
}

/// A decided selection: canonical rows averaged, outcomes (canonical), canonical-to-input order.
type Chosen = (Vec<usize>, Vec<Outcome>, Vec<usize>);

#[derive(Debug, Default)]
struct Selection {
    /// Upper triangle of the Gram matrix, canonical order, accumulating.
    gram: Vec<f64>,
    /// Coordinates measured so far.
    measured: usize,
    /// The first non-finite value seen, in input order: (update, coordinate, value).
    first_bad: Option<(usize, usize, f32)>,
    /// Canonical row k is input update `order[k]`.
    order: Vec<usize>,
    /// Once decided: canonical rows averaged, outcomes (canonical), canonical-to-input order.
    chosen: Option<Chosen>,
}

impl Aggregator {
    /// A column-block runner for `n` updates tolerating `f`, if this aggregation can run by
    /// blocks: mean, median, trimmed mean, Krum and Multi-Krum without pre-aggregation steps.
    /// `None` for Bulyan, the geometric median, centered clipping and every pre-aggregation
    /// step, which need whole updates.
    pub fn column_blocks(
        &self,
        n: usize,
        f: usize,
    ) -> Result<Option<ColumnBlocks>, AggregateError> {
        if !self.pre.is_empty() {
            return Ok(None);
        }
        let select = match self.rule {
            Rule::Mean | Rule::Median | Rule::TrimmedMean => None,
            Rule::Krum | Rule::MultiKrum { .. } => Some(Selection {
                gram: vec![0.0; n * n],
                ..Selection::default()
            }),
            _ => return Ok(None),
        };
        self.check(n, f)?;
        Ok(Some(ColumnBlocks {
            rule: self.rule,
            f,
            outside: vec![0; n],
            done: 0,
            select,
        }))
    }
}

impl ColumnBlocks {
    /// Passes over the data: 1, or 2 for the Krum family (measure, then aggregate).
    pub fn passes(&self) -> usize {
        if self.select.is_some() {
            2
        } else {
            1
        }
    }

    /// First pass of a two-pass rule: take the next block's contribution to the distances
    /// between updates. Blocks other than the last must be multiples of [`BLOCK_ALIGN`] long.
    pub fn measure(&mut self, updates: &[UpdateRef<'_>]) -> Result<(), AggregateError> {
        self.check_count(updates)?;
        let input = Input::new(&self.rule, updates, self.f)?;
        let Some(sel) = self.select.as_mut() else {
            return Ok(());
        };
        gram::accumulate(&input.rows, input.dim, &mut sel.gram);
        sel.order.clone_from(&input.order);
        for (index, u) in updates.iter().enumerate() {
            if sel.first_bad.is_some_and(|(i, _, _)| i <= index) {
                break;
            }
            if let Some((k, &v)) = u.delta.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                sel.first_bad = Some((index, sel.measured + k, v));
                break;
            }
        }
        sel.measured += input.dim;
        Ok(())
    }

    /// Aggregate the next block of coordinates: `updates` holds every update's values there
    /// (same order and ids each time, all of one length). Errors name the update's input index
    /// and the coordinate counted from the first block (one-pass rules: the first offender of
    /// the first block holding one; a run over whole updates names the first in input order).
    pub fn block(&mut self, updates: &[UpdateRef<'_>]) -> Result<Vec<f32>, AggregateError> {
        self.check_count(updates)?;
        let input = Input::new(&self.rule, updates, self.f).map_err(|e| self.shift(e))?;
        if self.select.is_some() {
            let rule = self.rule;
            let (chosen, _, _) = self.decide()?;
            let out = match rule {
                Rule::Krum => input.rows[chosen[0]]
                    .iter()
                    .map(|&x| sums::canon(x))
                    .collect(),
                _ => {
                    let rows: Vec<&[f32]> = chosen.iter().map(|&i| input.rows[i]).collect();
                    sums::to_f32(&sums::mean(&rows, input.dim))
                }
            };
            self.done += input.dim;
            return Ok(out);
        }
        let (out, counts) = match self.rule {
            Rule::Median => median::with_counts(&input),
            Rule::TrimmedMean => trimmed_mean::with_counts(&input),
            _ => Ok((mean::run(&input).0, vec![0; input.n()])),
        }
        .map_err(|e| self.shift(e))?;
        for (k, c) in counts.into_iter().enumerate() {
            self.outside[input.order[k]] += c;
        }
        self.done += input.dim;
        Ok(out)
    }

    /// The outcomes, in input order, once every block is in.
    pub fn finish(mut self) -> Result<Vec<Outcome>, AggregateError> {
        let n = self.outside.len();
        let mut outcomes = if self.select.is_some() {
            let (_, canonical, order) = self.decide()?;
            let mut out: Vec<Option<Outcome>> = vec![None; n];
            for (k, o) in canonical.iter().enumerate() {
                out[order[k]] = Some(o.clone());
            }
            out.into_iter().flatten().collect()
        } else {
            match self.rule {
                Rule::Median | Rule::TrimmedMean => range_outcomes(n, self.done, &self.outside),
                _ => (0..n)
                    .map(|_| input::included(1.0 / n as f64, None))
                    .collect(),
            }
        };
        for (i, o) in outcomes.iter_mut().enumerate() {
            o.index = i;
        }
        Ok(outcomes)
    }

    /// The Krum family's selection from the measured distances (computed once).
    fn decide(&mut self) -> Result<&Chosen, AggregateError> {
        let (rule, f, n) = (self.rule, self.f, self.outside.len());
        let Some(sel) = self.select.as_mut() else {
            return Err(AggregateError::DimensionMismatch {
                index: 0,
                expected: 0,
                found: 0,
            });
        };
        if let Some((index, coordinate, value)) = sel.first_bad {
            return Err(AggregateError::NonFinite {
                index,
                coordinate,
                value,
            });
        }
        if sel.chosen.is_none() {
            // The canonical order: by id, as Input sorts it (ties by input position).
            gram::symmetrize(&mut sel.gram, n);
            let d2 = gram::distances(&sel.gram, n);
            let (chosen, outcomes) = match rule {
                Rule::Krum => {
                    let (best, o) = krum::select(&d2, n, f);
                    (vec![best], o)
                }
                Rule::MultiKrum { m } => multi_krum::select(&d2, n, f, m.unwrap_or(n - f)),
                _ => (Vec::new(), Vec::new()),
            };
            sel.chosen = Some((chosen, outcomes, sel.order.clone()));
        }
        match sel.chosen.as_ref() {
            Some(c) => Ok(c),
            None => Err(AggregateError::DimensionMismatch {
                index: 0,
                expected: 0,
                found: 0,
            }),
        }
    }

    fn check_count(&self, updates: &[UpdateRef<'_>]) -> Result<(), AggregateError> {
        if updates.len() == self.outside.len() {
            return Ok(());
        }
        Err(AggregateError::DimensionMismatch {
            index: updates.len().min(self.outside.len()),
            expected: self.outside.len(),
            found: updates.len(),
        })
    }

    fn shift(&self, e: AggregateError) -> AggregateError {
        match e {
            AggregateError::NonFinite {
                index,
                coordinate,
                value,
            } => AggregateError::NonFinite {
                index,
                coordinate: coordinate + self.done,
                value,
            },
            other => other,
        }
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
    ) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
        let dim = rows[0].len();
        let mut b = agg
            .column_blocks(rows.len(), f)?
            .expect("coordinate-wise rule");
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
                run_in_blocks(&agg, &rows, &ids, f, chunks * BLOCK_ALIGN).unwrap();
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
            let (out, outcomes) = run_in_blocks(&agg, &rows, &ids, f, block).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&out), bits(&whole.aggregate));
            prop_assert_eq!(outcomes, whole.outcomes);
        }
    }

    #[test]
    fn a_non_finite_value_is_named_at_its_coordinate_in_the_whole_update() {
        // Two-pass rules name the first in input order (update, then coordinate), as over
        // whole updates; one-pass rules stop at the first block holding one.
        for (name, block, n) in [
            ("median", 32, 5),
            ("multi-krum", 1024, 5),
            ("krum", 1024, 5),
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
            match run_in_blocks(&agg, &rows, &ids, 1, block) {
                Err(
                    e @ AggregateError::NonFinite {
                        index, coordinate, ..
                    },
                ) => {
                    if name == "median" {
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
    fn whole_update_rules_and_pre_aggregation_have_no_column_blocks() {
        for name in [
            "bulyan",
            "geometric-median",
            "centered-clipping",
            "nnm+median",
            "robust",
        ] {
            let agg = Aggregator::parse(name).unwrap();
            assert!(agg.column_blocks(7, 1).unwrap().is_none(), "{name}");
        }
        // An (n, f) the rule cannot take is refused up front.
        assert!(Aggregator::parse("median")
            .unwrap()
            .column_blocks(2, 1)
            .is_err());
    }
}
