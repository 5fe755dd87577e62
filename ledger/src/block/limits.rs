//! The ranges and sizes an honest member's signed claims always respect: anything outside is a lie.
//!
//! A signature proves who said a value, not that it is true. These checks run wherever a claim
//! enters the system — gossip validation before an announcement is pooled, the leader before it
//! builds a block, and the ledger verifier on every recorded block — so that one member's NaN
//! loss or ten thousand fairness groups can neither halt the round nor bloat the ledger.

use super::entry::{LocalMetrics, RoundMetrics, UpdateAnnouncement};
use std::collections::BTreeSet;

/// Most fairness groups a member may report (and a round summary may pool). The group column
/// of a schema must have at most this many distinct values.
pub const MAX_GROUPS: usize = 64;

/// Longest group value, in bytes of UTF-8.
pub const MAX_GROUP_NAME_BYTES: usize = 128;

/// Largest example count a member may claim (2^48): counts of any realistic consortium then sum
/// without overflow and convert to f64 exactly.
pub const MAX_EXAMPLES: u64 = 1 << 48;

/// Largest mean log loss a member may claim. Honest losses are bounded by the probability clamp
/// (about 16 for the clamp of 1e-7 the learner uses); the generous cap keeps pooled sums finite.
pub const MAX_LOSS: f64 = 1e6;

/// A claim outside the honest range. `reason()` is the stable name counted in `/metrics`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClaimError {
    /// A metric or rate is NaN or infinite.
    #[error("{field} is not finite ({value})")]
    NonFinite {
        /// Which value.
        field: &'static str,
        /// What it was.
        value: f64,
    },
    /// A metric or rate lies outside its range.
    #[error("{field} = {value} is outside [{min}, {max}]")]
    OutOfRange {
        /// Which value.
        field: &'static str,
        /// What it was.
        value: f64,
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
    },
    /// A count is larger than any honest member can have, or than the count that contains it.
    #[error("{field} = {value} exceeds {limit}")]
    Count {
        /// Which count.
        field: &'static str,
        /// What it was.
        value: u64,
        /// Its bound.
        limit: u64,
    },
    /// More groups than [`MAX_GROUPS`].
    #[error("{found} groups, at most {MAX_GROUPS} allowed")]
    TooManyGroups {
        /// How many.
        found: usize,
    },
    /// A group value longer than [`MAX_GROUP_NAME_BYTES`], or listed twice.
    #[error("group value {name:?}: {why}")]
    Group {
        /// The value (truncated for display).
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl ClaimError {
    /// Stable reject reason for counters: `invalid-metrics`, `invalid-count` or `oversized-metrics`.
    pub fn reason(&self) -> &'static str {
        match self {
            ClaimError::NonFinite { .. } | ClaimError::OutOfRange { .. } => "invalid-metrics",
            ClaimError::Count { .. } => "invalid-count",
            ClaimError::TooManyGroups { .. } | ClaimError::Group { .. } => "oversized-metrics",
        }
    }
}

fn in_range(field: &'static str, value: f64, min: f64, max: f64) -> Result<(), ClaimError> {
    if !value.is_finite() {
        return Err(ClaimError::NonFinite { field, value });
    }
    if !(min..=max).contains(&value) {
        return Err(ClaimError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

fn at_most(field: &'static str, value: u64, limit: u64) -> Result<(), ClaimError> {
    if value > limit {
        return Err(ClaimError::Count {
            field,
            value,
            limit,
        });
    }
    Ok(())
}

fn check_group_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), ClaimError> {
    let mut seen = BTreeSet::new();
    for name in names {
        let shown = || name.chars().take(32).collect::<String>();
        if name.len() > MAX_GROUP_NAME_BYTES {
            return Err(ClaimError::Group {
                name: shown(),
                why: "longer than 128 bytes",
            });
        }
        if !seen.insert(name) {
            return Err(ClaimError::Group {
                name: shown(),
                why: "listed twice",
            });
        }
    }
    Ok(())
}

/// Check a member's evaluation: loss finite and >= 0, accuracy and AUC in [0, 1], at most
/// [`MAX_GROUPS`] distinct groups whose counts sum to at most `examples` and whose positives and
/// rates are consistent.
pub fn check_local_metrics(m: &LocalMetrics) -> Result<(), ClaimError> {
    at_most("examples", m.examples, MAX_EXAMPLES)?;
    in_range("loss", m.loss, 0.0, MAX_LOSS)?;
    in_range("accuracy", m.accuracy, 0.0, 1.0)?;
    in_range("auc", m.auc, 0.0, 1.0)?;
    if m.groups.len() > MAX_GROUPS {
        return Err(ClaimError::TooManyGroups {
            found: m.groups.len(),
        });
    }
    check_group_names(m.groups.iter().map(|g| g.group.as_str()))?;
    let mut total = 0u64;
    for g in &m.groups {
        at_most("group count", g.count, m.examples)?;
        at_most("group positives", g.positives, g.count)?;
        in_range("group positive rate", g.positive_rate, 0.0, 1.0)?;
        in_range("group true-positive rate", g.true_positive_rate, 0.0, 1.0)?;
        // Bounded by `examples` above, so this cannot overflow; checked all the same.
        total = total.saturating_add(g.count);
    }
    at_most("sum of group counts", total, m.examples)
}

/// Check everything a member signs in an announcement besides its signature and round: the
/// claimed example count, the DP parameters and the metrics.
pub fn check_announcement(a: &UpdateAnnouncement) -> Result<(), ClaimError> {
    at_most("num_examples", a.num_examples, MAX_EXAMPLES)?;
    in_range("sampling rate", a.dp.sampling_rate, 0.0, 1.0)?;
    in_range("noise multiplier", a.dp.noise_multiplier, 0.0, f64::MAX)?;
    check_local_metrics(&a.metrics)
}

/// Check a round summary's pooled metrics: the same ranges as a member's, gaps in [0, 1].
pub fn check_round_metrics(m: &RoundMetrics) -> Result<(), ClaimError> {
    in_range("loss", m.loss, 0.0, MAX_LOSS)?;
    in_range("accuracy", m.accuracy, 0.0, 1.0)?;
    in_range("auc", m.auc, 0.0, 1.0)?;
    in_range("demographic parity gap", m.demographic_parity_gap, 0.0, 1.0)?;
    in_range("equal opportunity gap", m.equal_opportunity_gap, 0.0, 1.0)?;
    if m.groups.len() > MAX_GROUPS {
        return Err(ClaimError::TooManyGroups {
            found: m.groups.len(),
        });
    }
    check_group_names(m.groups.iter().map(|g| g.group.as_str()))?;
    for g in &m.groups {
        at_most("group count", g.count, m.examples)?;
        in_range("group positive rate", g.positive_rate, 0.0, 1.0)?;
        in_range("group true-positive rate", g.true_positive_rate, 0.0, 1.0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{DpSpend, GroupRates};
    use crate::{Digest, OrgKey};

    fn honest() -> UpdateAnnouncement {
        UpdateAnnouncement {
            round: 1,
            org: OrgKey::generate("a").id(),
            update_hash: Digest::ZERO,
            base_model: Digest::ZERO,
            num_examples: 800,
            dp: DpSpend {
                sampling_rate: 0.05,
                noise_multiplier: 1.0,
                steps: 20,
            },
            metrics: LocalMetrics {
                examples: 200,
                loss: 0.61,
                accuracy: 0.7,
                auc: 0.74,
                groups: vec![
                    GroupRates {
                        group: "student".into(),
                        count: 120,
                        positives: 30,
                        positive_rate: 0.2,
                        true_positive_rate: 0.5,
                    },
                    GroupRates {
                        group: "retired".into(),
                        count: 80,
                        positives: 10,
                        positive_rate: 0.1,
                        true_positive_rate: 0.4,
                    },
                ],
            },
        }
    }

    #[test]
    fn an_honest_announcement_passes() {
        assert_eq!(check_announcement(&honest()), Ok(()));
        assert_eq!(check_local_metrics(&LocalMetrics::default()), Ok(()));
    }

    #[test]
    fn every_lie_is_named() {
        type Lie = Box<dyn Fn(&mut UpdateAnnouncement)>;
        let cases: Vec<(&str, Lie)> = vec![
            ("invalid-metrics", Box::new(|a| a.metrics.loss = f64::NAN)),
            ("invalid-metrics", Box::new(|a| a.metrics.loss = -0.1)),
            (
                "invalid-metrics",
                Box::new(|a| a.metrics.loss = f64::INFINITY),
            ),
            ("invalid-metrics", Box::new(|a| a.metrics.accuracy = 1.5)),
            ("invalid-metrics", Box::new(|a| a.metrics.auc = -1e-9)),
            (
                "invalid-metrics",
                Box::new(|a| a.metrics.groups[0].positive_rate = f64::NAN),
            ),
            ("invalid-metrics", Box::new(|a| a.dp.sampling_rate = 2.0)),
            (
                "invalid-metrics",
                Box::new(|a| a.dp.noise_multiplier = -1.0),
            ),
            ("invalid-count", Box::new(|a| a.num_examples = u64::MAX)),
            ("invalid-count", Box::new(|a| a.metrics.examples = u64::MAX)),
            (
                "invalid-count",
                Box::new(|a| a.metrics.groups[0].count = u64::MAX),
            ),
            (
                "invalid-count",
                Box::new(|a| a.metrics.groups[1].positives = 81),
            ),
            // Two groups that each fit but together exceed the examples.
            (
                "invalid-count",
                Box::new(|a| {
                    a.metrics.groups[0].count = 150;
                    a.metrics.groups[1].count = 150;
                }),
            ),
            (
                "oversized-metrics",
                Box::new(|a| {
                    let g = a.metrics.groups[0].clone();
                    a.metrics.groups = (0..65)
                        .map(|i| GroupRates {
                            group: format!("g{i}"),
                            count: 1,
                            ..g.clone()
                        })
                        .collect();
                }),
            ),
            (
                "oversized-metrics",
                Box::new(|a| a.metrics.groups[0].group = "x".repeat(129)),
            ),
            (
                "oversized-metrics",
                Box::new(|a| a.metrics.groups[1].group = "student".into()),
            ),
        ];
        for (i, (reason, lie)) in cases.iter().enumerate() {
            let mut a = honest();
            lie(&mut a);
            let e = check_announcement(&a).expect_err(&format!("case {i} passed"));
            assert_eq!(e.reason(), *reason, "case {i}: {e}");
        }
    }

    #[test]
    fn pooled_metrics_have_the_same_ranges() {
        let mut m = RoundMetrics {
            examples: 10,
            loss: 0.5,
            accuracy: 0.5,
            auc: 0.5,
            ..RoundMetrics::default()
        };
        assert_eq!(check_round_metrics(&m), Ok(()));
        m.demographic_parity_gap = 1.5;
        assert!(check_round_metrics(&m).is_err());
        m.demographic_parity_gap = 0.0;
        m.auc = f64::NAN;
        assert_eq!(
            check_round_metrics(&m).map_err(|e| e.reason()),
            Err("invalid-metrics")
        );
    }
}
