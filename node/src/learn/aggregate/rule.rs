//! The aggregation rules by name, their parameters and their (n, f) requirements.

use super::error::AggregateError;
use super::{centered_clipping, geometric_median};
use fedledger_ledger::genesis::{self, AggregationSpec};

/// A robust aggregation rule. CLI and genesis names are given by [`Rule::name`]; see the module
/// documentation of [`crate::learn::aggregate`] for each rule's definition and defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Coordinate-wise arithmetic mean (`mean`). Not robust; the baseline.
    Mean,
    /// Coordinate-wise median (`median`); for an even count, the mean of the two middle values.
    Median,
    /// Coordinate-wise trimmed mean (`trimmed-mean`): drop the f smallest and f largest values.
    TrimmedMean,
    /// Krum (`krum`): the update with the lowest sum of squared distances to its n-f-2 nearest.
    Krum,
    /// Multi-Krum (`multi-krum`): the mean of the `m` lowest-scoring updates (default n - f).
    MultiKrum {
        /// How many updates to average; `None` means n - f.
        m: Option<usize>,
    },
    /// Bulyan (`bulyan`): iterated Krum selection, then a coordinate-wise trimmed average.
    Bulyan,
    /// Geometric median by smoothed Weiszfeld iterations (`geometric-median`).
    GeometricMedian,
    /// Centered clipping (`centered-clipping`) around the mean.
    CenteredClipping {
        /// Clipping radius tau; `None` means the adaptive default (median distance).
        radius: Option<f64>,
    },
}

impl Rule {
    /// Every rule with default parameters, in CLI order.
    pub const ALL: [Rule; 8] = [
        Rule::Mean,
        Rule::Median,
        Rule::TrimmedMean,
        Rule::Krum,
        Rule::MultiKrum { m: None },
        Rule::Bulyan,
        Rule::GeometricMedian,
        Rule::CenteredClipping { radius: None },
    ];

    /// Parse a CLI / genesis name with default parameters.
    pub fn parse(name: &str) -> Result<Rule, AggregateError> {
        Rule::ALL
            .iter()
            .find(|r| r.name() == name)
            .copied()
            .ok_or_else(|| AggregateError::UnknownRule {
                name: name.chars().take(80).collect(),
                expected: genesis::RULES.join(", "),
            })
    }

    /// The CLI / genesis name.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Mean => "mean",
            Rule::Median => "median",
            Rule::TrimmedMean => "trimmed-mean",
            Rule::Krum => "krum",
            Rule::MultiKrum { .. } => "multi-krum",
            Rule::Bulyan => "bulyan",
            Rule::GeometricMedian => "geometric-median",
            Rule::CenteredClipping { .. } => "centered-clipping",
        }
    }

    /// The rule a genesis file fixes, with its parameters validated.
    pub fn from_spec(spec: &AggregationSpec) -> Result<Rule, AggregateError> {
        let rule = match Rule::parse(&spec.rule)? {
            Rule::MultiKrum { .. } => Rule::MultiKrum {
                m: spec.multi_krum_m.map(|m| m as usize),
            },
            Rule::CenteredClipping { .. } => Rule::CenteredClipping {
                radius: spec.clip_radius,
            },
            other => other,
        };
        rule.validate_params()?;
        Ok(rule)
    }

    /// The parameters in force (explicit ones and fixed constants), for the ledger and logs.
    /// Defaults that depend on n (Multi-Krum's m) or on the data (the adaptive radius) are
    /// omitted when not set explicitly.
    pub fn params(&self) -> Vec<(String, f64)> {
        let p = |k: &str, v: f64| (k.to_string(), v);
        match self {
            Rule::MultiKrum { m: Some(m) } => vec![p("m", *m as f64)],
            Rule::GeometricMedian => vec![
                p("nu", geometric_median::NU),
                p("max_iter", geometric_median::MAX_ITER as f64),
                p("ftol", geometric_median::FTOL),
            ],
            Rule::CenteredClipping { radius } => {
                let mut v = vec![p("iterations", centered_clipping::ITERATIONS as f64)];
                if let Some(r) = radius {
                    v.push(p("radius", *r));
                }
                v
            }
            _ => Vec::new(),
        }
    }

    /// Check parameters that do not depend on n.
    pub(crate) fn validate_params(&self) -> Result<(), AggregateError> {
        match *self {
            Rule::MultiKrum { m: Some(0) } => Err(AggregateError::InvalidParameter {
                rule: self.name(),
                name: "m",
                value: 0.0,
                reason: "Multi-Krum must average at least one update".into(),
            }),
            Rule::CenteredClipping { radius: Some(r) } if !(r.is_finite() && r > 0.0) => {
                Err(AggregateError::InvalidParameter {
                    rule: self.name(),
                    name: "radius",
                    value: r,
                    reason: "the clipping radius must be a positive finite number".into(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether this rule can run on `n` updates tolerating `f` Byzantine ones. Delegates to the
    /// ledger's `check_rule` so genesis validation and aggregation share one table.
    pub fn check(&self, n: usize, f: usize) -> Result<(), AggregateError> {
        let unsupported = |reason: String| AggregateError::Unsupported {
            rule: self.name(),
            n,
            f,
            reason,
        };
        let f32_ = u32::try_from(f)
            .map_err(|_| unsupported(format!("f={f} is too large (here n={n}, f={f})")))?;
        genesis::check_rule(self.name(), n as u64, f32_).map_err(unsupported)?;
        if let Rule::MultiKrum { m: Some(m) } = *self {
            if m > n {
                return Err(AggregateError::InvalidParameter {
                    rule: self.name(),
                    name: "m",
                    value: m as f64,
                    reason: format!("Multi-Krum cannot average more than the n={n} updates given"),
                });
            }
        }
        self.validate_params()
    }
}
