//! Column-block aggregation: a coordinate-wise rule run over one range of coordinates at a time,
//! so a round over updates of hundreds of megabytes never holds them whole.
//!
//! Mean, median and trimmed mean compute each coordinate from that coordinate's values alone,
//! and their outcomes from per-update counts of coordinates, so running them block by block
//! and adding the counts gives the same bits as one run over everything (pinned by the tests
//! below against [`super::aggregate`]).

use super::error::AggregateError;
use super::input::{self, Input};
use super::pipeline::Aggregator;
use super::rule::Rule;
use super::trimmed_mean::range_outcomes;
use super::{mean, median, trimmed_mean, Outcome, UpdateRef};

/// A coordinate-wise aggregation in progress: feed it blocks of coordinates in order with
/// [`ColumnBlocks::block`], then take the outcomes with [`ColumnBlocks::finish`].
#[derive(Debug)]
pub struct ColumnBlocks {
    rule: Rule,
    f: usize,
    /// Per update (input order), coordinates outside the central n-2f values so far.
    outside: Vec<u64>,
    /// Coordinates aggregated so far.
    done: usize,
}

impl Aggregator {
    /// A column-block runner for `n` updates tolerating `f`, if this aggregation is
    /// coordinate-wise (mean, median or trimmed mean without pre-aggregation steps); `None` for
    /// rules that need whole updates (the Krum family, the geometric median, centered clipping,
    /// and every pre-aggregation step).
    pub fn column_blocks(
        &self,
        n: usize,
        f: usize,
    ) -> Result<Option<ColumnBlocks>, AggregateError> {
        if !self.pre.is_empty()
            || !matches!(self.rule, Rule::Mean | Rule::Median | Rule::TrimmedMean)
        {
            return Ok(None);
        }
        self.check(n, f)?;
        Ok(Some(ColumnBlocks {
            rule: self.rule,
            f,
            outside: vec![0; n],
            done: 0,
        }))
    }
}

impl ColumnBlocks {
    /// Aggregate the next block of coordinates: `updates` holds every update's values there
    /// (same order and ids each time, all of one length). Errors name the update's input index
    /// and the coordinate counted from the first block.
    pub fn block(&mut self, updates: &[UpdateRef<'_>]) -> Result<Vec<f32>, AggregateError> {
        if updates.len() != self.outside.len() {
            return Err(AggregateError::DimensionMismatch {
                index: updates.len().min(self.outside.len()),
                expected: self.outside.len(),
                found: updates.len(),
            });
        }
        let input = Input::new(&self.rule, updates, self.f).map_err(|e| self.shift(e))?;
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
    pub fn finish(self) -> Vec<Outcome> {
        let n = self.outside.len();
        let mut outcomes = match self.rule {
            Rule::Median | Rule::TrimmedMean => range_outcomes(n, self.done, &self.outside),
            _ => (0..n)
                .map(|_| input::included(1.0 / n as f64, None))
                .collect(),
        };
        for (i, o) in outcomes.iter_mut().enumerate() {
            o.index = i;
        }
        outcomes
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
        Ok((out, b.finish()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any block size gives the bits of one run over everything, outcomes included.
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
        let agg = Aggregator::parse("median").unwrap();
        let mut rows = vec![vec![0.5f32; 100]; 3];
        rows[2][77] = f32::NAN;
        let ids: Vec<Digest> = (0..3u8).map(|i| Digest::of(&[i])).collect();
        match run_in_blocks(&agg, &rows, &ids, 1, 32) {
            Err(AggregateError::NonFinite {
                index, coordinate, ..
            }) => assert_eq!((index, coordinate), (2, 77)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whole_update_rules_and_pre_aggregation_have_no_column_blocks() {
        for name in [
            "krum",
            "multi-krum",
            "geometric-median",
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
