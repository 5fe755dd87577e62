//! Aggregation rule names: an optional chain of pre-aggregation steps before a rule (`arc+nnm+krum`).
//!
//! The name is the whole specification, so a genesis written before pre-aggregation existed keeps
//! its encoding (and chain id), and every round summary records the exact pipeline it ran.

/// Pre-aggregation steps, applied left to right before the rule.
pub const PRE_AGGREGATIONS: &[&str] = &["arc", "nnm", "bucketing"];

/// Updates averaged per bucket by `bucketing` (Karimireddy, He and Jaggi, ICLR 2022, use s = 2).
pub const BUCKET_SIZE: u64 = 2;

/// The recommended combination's name, accepted wherever a rule name is.
pub const ROBUST: &str = "robust";

/// What [`ROBUST`] runs. Fixed for this ledger format: a ledger that says `robust` means this.
pub const ROBUST_PIPELINE: &str = "arc+nnm+multi-krum";

/// A rule name split into its steps, with [`ROBUST`] expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleName<'a> {
    /// Pre-aggregation steps in the order they run; each one of [`PRE_AGGREGATIONS`], no repeats.
    pub pre: Vec<&'a str>,
    /// The rule run on what the steps produce; one of [`crate::genesis::RULES`].
    pub rule: &'a str,
}

impl<'a> RuleName<'a> {
    /// Split `name` (`robust`, `krum`, `nnm+krum`, `arc+nnm+trimmed-mean`, ...). The rule itself
    /// is checked by [`crate::genesis::check_rule`]; here only the pre-aggregation steps are.
    pub fn parse(name: &'a str) -> Result<RuleName<'a>, String> {
        let name = if name == ROBUST {
            ROBUST_PIPELINE
        } else {
            name
        };
        let mut parts: Vec<&str> = name.split('+').collect();
        // `split` always yields at least one part.
        let rule = parts.pop().unwrap_or_default();
        for (i, p) in parts.iter().enumerate() {
            if !PRE_AGGREGATIONS.contains(p) {
                return Err(format!(
                    "aggregation step {:?} in {:?} is not one of {} (write steps before the \
                     rule, joined by '+', e.g. nnm+krum)",
                    truncate(p),
                    truncate(name),
                    PRE_AGGREGATIONS.join(", ")
                ));
            }
            if parts[..i].contains(p) {
                return Err(format!(
                    "aggregation step {p:?} appears twice in {:?}",
                    truncate(name)
                ));
            }
        }
        Ok(RuleName { pre: parts, rule })
    }

    /// How many vectors reach the rule from `n` updates (bucketing averages them in buckets).
    pub fn rule_inputs(&self, n: u64) -> u64 {
        if self.pre.contains(&"bucketing") {
            n.div_ceil(BUCKET_SIZE)
        } else {
            n
        }
    }
}

/// At most 80 characters of a name for an error message (names come from files and peers).
fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_steps_and_expands_robust() {
        let r = RuleName::parse("arc+nnm+krum").unwrap();
        assert_eq!((r.pre, r.rule), (vec!["arc", "nnm"], "krum"));
        let r = RuleName::parse("median").unwrap();
        assert_eq!((r.pre.len(), r.rule), (0, "median"));
        let r = RuleName::parse(ROBUST).unwrap();
        assert_eq!(r, RuleName::parse(ROBUST_PIPELINE).unwrap());
        assert_eq!(
            RuleName::parse("bucketing+median").unwrap().rule_inputs(7),
            4
        );
        assert_eq!(RuleName::parse("nnm+median").unwrap().rule_inputs(7), 7);
    }

    #[test]
    fn refuses_unknown_and_repeated_steps() {
        for bad in [
            "foo+krum",
            "nnm+nnm+krum",
            "krum+median",
            "+krum",
            "robust+krum",
        ] {
            assert!(RuleName::parse(bad).is_err(), "{bad}");
        }
    }
}
