//! A rule with its pre-aggregation steps, as a genesis names it (`arc+nnm+trimmed-mean`, `robust`).

use super::error::AggregateError;
use super::input::{self, Input};
use super::pre::{combine_rows, Mixing, PreAggregation};
use super::rule::Rule;
use super::{gram, krum, run_rule, sums, Aggregation, Outcome, UpdateRef};
use fedledger_ledger::genesis::{self, AggregationSpec};
use fedledger_ledger::rule_name::{self, RuleName};
use fedledger_ledger::Digest;

/// What a consortium aggregates with: pre-aggregation steps, then a [`Rule`].
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregator {
    /// Steps in the order they run.
    pub pre: Vec<PreAggregation>,
    /// The rule run on what the steps produce.
    pub rule: Rule,
    /// The name as written (`robust` stays `robust`), which the ledger records.
    name: String,
}

impl Aggregator {
    /// A plain rule without pre-aggregation.
    pub fn plain(rule: Rule) -> Self {
        Aggregator {
            pre: Vec::new(),
            name: rule.name().to_string(),
            rule,
        }
    }

    /// Parse a CLI / genesis name (`krum`, `nnm+krum`, `robust`, ...) with default parameters.
    pub fn parse(name: &str) -> Result<Aggregator, AggregateError> {
        let bad = |reason: String| AggregateError::UnknownRule {
            name: name.chars().take(80).collect(),
            expected: reason,
        };
        let split = RuleName::parse(name).map_err(&bad)?;
        let rule = Rule::parse(split.rule)?;
        let pre = split
            .pre
            .iter()
            .map(|p| PreAggregation::parse(p).ok_or_else(|| bad(format!("unknown step {p}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Aggregator {
            pre,
            rule,
            name: name.to_string(),
        })
    }

    /// The aggregation a genesis file fixes, with the rule's parameters validated.
    pub fn from_spec(spec: &AggregationSpec) -> Result<Aggregator, AggregateError> {
        let mut a = Aggregator::parse(&spec.rule)?;
        let base = AggregationSpec {
            rule: a.rule.name().to_string(),
            ..spec.clone()
        };
        a.rule = Rule::from_spec(&base)?;
        Ok(a)
    }

    /// The name the ledger records (as written, e.g. `robust`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The steps and the rule spelled out (`robust` becomes `arc+nnm+trimmed-mean`).
    pub fn pipeline(&self) -> String {
        let mut parts: Vec<&str> = self.pre.iter().map(PreAggregation::name).collect();
        parts.push(self.rule.name());
        parts.join("+")
    }

    /// The parameters in force: the rule's, plus the bucket size when bucketing.
    pub fn params(&self) -> Vec<(String, f64)> {
        let mut p = self.rule.params();
        if self.pre.contains(&PreAggregation::Bucketing) {
            p.push(("bucket_size".into(), rule_name::BUCKET_SIZE as f64));
        }
        p
    }

    /// Whether this can run on `n` updates tolerating `f` Byzantine ones (the ledger's table).
    pub fn check(&self, n: usize, f: usize) -> Result<(), AggregateError> {
        let unsupported = |reason: String| AggregateError::Unsupported {
            rule: self.rule.name(),
            n,
            f,
            reason,
        };
        let f32_ = u32::try_from(f)
            .map_err(|_| unsupported(format!("f={f} is too large (here n={n}, f={f})")))?;
        genesis::check_rule(&self.name, n as u64, f32_).map_err(unsupported)?;
        let inputs = RuleName::parse(&self.name)
            .map_err(unsupported)?
            .rule_inputs(n as u64) as usize;
        if let Rule::MultiKrum { m: Some(m) } = self.rule {
            if m > inputs {
                return Err(AggregateError::InvalidParameter {
                    rule: self.rule.name(),
                    name: "m",
                    value: m as f64,
                    reason: format!(
                        "Multi-Krum cannot average more than the {inputs} vectors it is given"
                    ),
                });
            }
        }
        self.rule.validate_params()
    }

    /// Aggregate `updates` tolerating `f` Byzantine ones; `seed` (the previous block hash) fixes
    /// the bucketing permutation. Without steps this is exactly [`super::aggregate`].
    pub fn run(
        &self,
        updates: &[UpdateRef<'_>],
        f: usize,
        seed: &Digest,
    ) -> Result<Aggregation, AggregateError> {
        if self.pre.is_empty() {
            return super::aggregate(&self.rule, updates, f);
        }
        self.check(updates.len(), f)?;
        let input = Input::validated(updates, f)?;
        let n = input.n();
        let gram = self
            .needs_gram()
            .then(|| gram::gram(&input.rows, input.dim));
        let mixing = self.mix(n, gram, f, seed);
        let (aggregate, weights, stage) = match self.select(&mixing, f) {
            Some((weights, stage)) => {
                let aggregate = sums::to_f32(&combine_rows(&input.rows, &weights, input.dim));
                (aggregate, weights, stage)
            }
            None => {
                let vectors = mixing.materialize(&input.rows, input.dim);
                let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
                let staged = Input::ordered(refs, input.dim, f);
                let (aggregate, stage) = run_rule(&self.rule, &staged)?;
                let weights = mixed_weights(&mixing, &stage);
                (aggregate, weights, stage)
            }
        };
        let canonical = self.outcomes(&mixing, &weights, &stage);
        tracing::debug!(
            target: "fedledger::aggregate",
            rule = self.name(),
            n,
            f,
            dim = input.dim,
            excluded = canonical.iter().filter(|o| !o.included).count(),
            "aggregated"
        );
        Ok(Aggregation {
            aggregate,
            outcomes: input.to_input_order(canonical),
        })
    }

    /// The vectors the rule would see (canonical order: by update id; bucket order after
    /// bucketing), for tests and inspection.
    pub fn pre_aggregate(
        &self,
        updates: &[UpdateRef<'_>],
        f: usize,
        seed: &Digest,
    ) -> Result<Vec<Vec<f32>>, AggregateError> {
        self.check(updates.len(), f)?;
        let input = Input::validated(updates, f)?;
        let gram = self
            .pre
            .iter()
            .any(PreAggregation::needs_gram)
            .then(|| gram::gram(&input.rows, input.dim));
        let mixing = self.mix(input.n(), gram, f, seed);
        Ok(mixing.materialize(&input.rows, input.dim))
    }

    /// Whether the steps or the rule need the updates' Gram matrix (norms or distances).
    pub(super) fn needs_gram(&self) -> bool {
        self.selects_whole_updates() || self.pre.iter().any(PreAggregation::needs_gram)
    }

    /// Whether the rule picks whole (mixed) vectors by their distances: Krum and Multi-Krum.
    fn selects_whole_updates(&self) -> bool {
        matches!(self.rule, Rule::Krum | Rule::MultiKrum { .. })
    }

    /// The steps applied in order to `n` updates with Gram matrix `gram` (if needed).
    pub(super) fn mix(&self, n: usize, gram: Option<Vec<f64>>, f: usize, seed: &Digest) -> Mixing {
        let mut mixing = Mixing::identity(n, gram);
        for step in &self.pre {
            step.apply(&mut mixing, f, seed);
        }
        mixing
    }

    /// Krum / Multi-Krum on the mixed vectors, through their Gram matrix only: the weights of
    /// the aggregate (the mean of the selected mixed vectors) over the original updates, and
    /// the rule's outcome per mixed vector. `None` for the other rules, which need the mixed
    /// vectors themselves.
    pub(super) fn select(&self, mixing: &Mixing, f: usize) -> Option<(Vec<f64>, Vec<Outcome>)> {
        if !self.selects_whole_updates() {
            return None;
        }
        let r = mixing.rows();
        let d2 = mixing.sq_distances().unwrap_or_else(|| vec![0.0; r * r]);
        let all: Vec<usize> = (0..r).collect();
        let sc = krum::scores(&d2, r, &all, f);
        let rank = krum::ranking(&sc);
        let m = match self.rule {
            Rule::MultiKrum { m } => m.unwrap_or(r.saturating_sub(f)).clamp(1, r.max(1)),
            _ => 1,
        };
        let mut chosen = rank[..m.min(r)].to_vec();
        chosen.sort_unstable();
        let mut c = vec![0.0f64; r];
        for &i in &chosen {
            c[i] = 1.0 / m as f64;
        }
        let weights = mixing.combined_weights(&c);
        let last = rank.get(m.saturating_sub(1)).map_or(0.0, |&i| sc[i]);
        let stage = (0..r)
            .map(|i| {
                if c[i] > 0.0 {
                    input::included(c[i], Some(sc[i]))
                } else {
                    krum::excluded(
                        sc[i],
                        format!(
                            "Krum score {} of its mix is not among the {m} lowest (highest selected {})",
                            krum::num(sc[i]),
                            krum::num(last)
                        ),
                    )
                }
            })
            .collect();
        Some((weights, stage))
    }

    /// One outcome per canonical update: its weight in the aggregate (through every vector it
    /// was mixed into), and, if that is zero, why, from the vector it shaped most.
    pub(super) fn outcomes(
        &self,
        mixing: &Mixing,
        weights: &[f64],
        stage: &[Outcome],
    ) -> Vec<Outcome> {
        let steps: Vec<&str> = self.pre.iter().map(PreAggregation::name).collect();
        let steps = steps.join("+");
        weights
            .iter()
            .enumerate()
            .map(|(j, &w)| {
                // The vector with the largest weight on update j (ties: the smaller index).
                let home = (0..mixing.rows())
                    .max_by(|&a, &b| {
                        mixing.weights(a)[j]
                            .total_cmp(&mixing.weights(b)[j])
                            .then(b.cmp(&a))
                    })
                    .and_then(|i| stage.get(i));
                let score = home.and_then(|o| o.score);
                if w > 0.0 {
                    Outcome {
                        index: 0,
                        included: true,
                        weight: w,
                        score,
                        reason: None,
                    }
                } else {
                    let why = home
                        .and_then(|o| o.reason.clone())
                        .unwrap_or_else(|| "not used".into());
                    Outcome {
                        index: 0,
                        included: false,
                        weight: 0.0,
                        score,
                        reason: Some(format!(
                            "no weight after {steps}: the vector it shaped most was excluded ({why})"
                        )),
                    }
                }
            })
            .collect()
    }
}

/// The weight of each original update in the aggregate of a coordinate-wise rule run on the
/// mixed vectors: its weight in every mixed vector times that vector's weight in the rule.
pub(super) fn mixed_weights(mixing: &Mixing, stage: &[Outcome]) -> Vec<f64> {
    let mut weights = vec![0.0f64; mixing.originals()];
    for (i, o) in stage.iter().enumerate() {
        for (w, &x) in weights.iter_mut().zip(mixing.weights(i)) {
            *w += o.weight * x;
        }
    }
    weights
}
