//! Validated input in canonical order (by update id), so results ignore arrival order.

use super::error::AggregateError;
use super::rule::Rule;
use super::{Outcome, UpdateRef};

/// Updates checked for (n, f), dimensions and finiteness, sorted by id (stable, so equal ids keep
/// their input order).
#[derive(Debug)]
pub(crate) struct Input<'a> {
    /// Deltas in canonical order.
    pub rows: Vec<&'a [f32]>,
    /// `order[k]` is the input index of canonical row k.
    pub order: Vec<usize>,
    /// Deltas in input order (for error messages).
    inputs: Vec<&'a [f32]>,
    /// Common dimension.
    pub dim: usize,
    /// Byzantine updates to tolerate.
    pub f: usize,
}

impl<'a> Input<'a> {
    /// Validate `updates` for `rule` and put them in canonical order. Finiteness is checked here
    /// unless `rule` checks it on the way, which saves a pass over the data: median and trimmed
    /// mean while loading coordinate blocks, the Krum family through the squared norms on the
    /// Gram diagonal; they call [`Input::first_non_finite`] when that check fails.
    pub fn new(rule: &Rule, updates: &[UpdateRef<'a>], f: usize) -> Result<Self, AggregateError> {
        rule.check(updates.len(), f)?;
        let input = Input::sorted(updates, f)?;
        let scan_later = matches!(
            rule,
            Rule::Median | Rule::TrimmedMean | Rule::Krum | Rule::MultiKrum { .. } | Rule::Bulyan
        );
        if !scan_later {
            if let Some(e) = input.first_non_finite() {
                return Err(e);
            }
        }
        Ok(input)
    }

    /// Check dimensions only (no rule, no finiteness) and put `updates` in canonical order: for
    /// column blocks, whose caller checks the rest.
    pub fn sorted(updates: &[UpdateRef<'a>], f: usize) -> Result<Self, AggregateError> {
        let dim = updates.first().map_or(0, |u| u.delta.len());
        for (index, u) in updates.iter().enumerate() {
            if u.delta.len() != dim {
                return Err(AggregateError::DimensionMismatch {
                    index,
                    expected: dim,
                    found: u.delta.len(),
                });
            }
        }
        let mut order: Vec<usize> = (0..updates.len()).collect();
        order.sort_by(|&a, &b| updates[a].id.cmp(&updates[b].id).then(a.cmp(&b)));
        Ok(Input {
            rows: order.iter().map(|&i| updates[i].delta).collect(),
            order,
            inputs: updates.iter().map(|u| u.delta).collect(),
            dim,
            f,
        })
    }

    /// Check dimensions and finiteness (a full scan) and put `updates` in canonical order,
    /// without a rule's (n, f) check: for pre-aggregation, whose caller checks the pipeline.
    pub fn validated(updates: &[UpdateRef<'a>], f: usize) -> Result<Self, AggregateError> {
        Input::new(&Rule::Mean, updates, 0).map(|mut i| {
            i.f = f;
            i
        })
    }

    /// Vectors already in the order a rule should see them (pre-aggregation output, finite by
    /// construction from finite input), tolerating `f`.
    pub fn ordered(rows: Vec<&'a [f32]>, dim: usize, f: usize) -> Self {
        Input {
            order: (0..rows.len()).collect(),
            inputs: rows.clone(),
            rows,
            dim,
            f,
        }
    }

    /// The error for the first non-finite value in input order (update index, then coordinate),
    /// so every rule names the same offender.
    pub fn non_finite(&self) -> AggregateError {
        // Only called after a block saw a non-finite value, which must be in some row.
        self.first_non_finite()
            .unwrap_or(AggregateError::NonFinite {
                index: 0,
                coordinate: 0,
                value: f32::NAN,
            })
    }

    /// The error for the first non-finite value in input order, if there is one.
    pub fn first_non_finite(&self) -> Option<AggregateError> {
        self.inputs
            .iter()
            .enumerate()
            .find_map(|(index, row)| check_finite(index, row).err())
    }

    /// Number of updates.
    pub fn n(&self) -> usize {
        self.rows.len()
    }

    /// Outcomes computed per canonical row, re-indexed and re-ordered to input order.
    pub fn to_input_order(&self, canonical: Vec<Outcome>) -> Vec<Outcome> {
        let mut out: Vec<Option<Outcome>> = vec![None; canonical.len()];
        for (k, mut o) in canonical.into_iter().enumerate() {
            let i = self.order[k];
            o.index = i;
            out[i] = Some(o);
        }
        out.into_iter().flatten().collect()
    }
}

/// Reject NaN and infinities, naming the first offending coordinate. Scans in chunks with a
/// branch-free fold so the common (clean) case runs at memory speed.
fn check_finite(index: usize, row: &[f32]) -> Result<(), AggregateError> {
    const CHUNK: usize = 4096;
    for (c, chunk) in row.chunks(CHUNK).enumerate() {
        let finite = chunk.iter().fold(true, |ok, x| ok & x.is_finite());
        if !finite {
            if let Some((j, &value)) = chunk.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                return Err(AggregateError::NonFinite {
                    index,
                    coordinate: c * CHUNK + j,
                    value,
                });
            }
        }
    }
    Ok(())
}

/// An outcome for a canonical row used in full with `weight`.
pub(crate) fn included(weight: f64, score: Option<f64>) -> Outcome {
    Outcome {
        index: 0,
        included: true,
        weight,
        score,
        reason: None,
    }
}
