//! Why an aggregation was refused: bad inputs, an (n, f) the rule cannot handle, bad parameters.

/// An aggregation that could not be computed. Every variant names what was wrong, so the caller
/// can log it or reject the offending update.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AggregateError {
    /// The rule name is not one of the CLI names in [`fedledger_ledger::genesis::RULES`].
    #[error("unknown aggregation rule {name:?}; expected one of {expected}")]
    UnknownRule {
        /// The name that was given.
        name: String,
        /// The accepted names, comma separated.
        expected: String,
    },
    /// The rule cannot tolerate `f` Byzantine updates among `n` (same table as the ledger's
    /// `check_rule`, whose message is carried in `reason`).
    #[error("{reason}")]
    Unsupported {
        /// The rule's CLI name.
        rule: &'static str,
        /// Number of updates given.
        n: usize,
        /// Number of Byzantine updates to tolerate.
        f: usize,
        /// Human-readable requirement, e.g. "Krum needs n >= 2f+3 (here n=3, f=1)".
        reason: String,
    },
    /// Update `index` has a different length from update 0.
    #[error(
        "update {index} has dimension {found}, expected {expected} (the dimension of update 0)"
    )]
    DimensionMismatch {
        /// Position of the offending update in the input.
        index: usize,
        /// Dimension of update 0.
        expected: usize,
        /// Dimension of update `index`.
        found: usize,
    },
    /// Update `index` holds a NaN or an infinity.
    #[error("update {index} has a non-finite value {value} at coordinate {coordinate}")]
    NonFinite {
        /// Position of the offending update in the input.
        index: usize,
        /// First offending coordinate.
        coordinate: usize,
        /// The offending value.
        value: f32,
    },
    /// A rule parameter is out of range (e.g. Multi-Krum's m = 0, a negative clipping radius).
    #[error("{rule}: parameter {name} = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The rule's CLI name.
        rule: &'static str,
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What the parameter must satisfy.
        reason: String,
    },
}
