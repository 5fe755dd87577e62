//! The axes of a benchmark grid, parsed from the comma-separated lists of the command line.

use crate::learn::attack::Attack;
use crate::learn::error::LearnError;
use crate::learn::simulate::SimConfig;
use serde::Serialize;

/// Most values one axis may hold (a seed range counts each seed), so that a typo such as
/// `--seeds 1-1000000000` is refused instead of planning a grid that never finishes.
pub const MAX_AXIS: usize = 10_000;

/// One row of the matrix: a base aggregation rule, optionally behind a pre-aggregator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RuleAxis {
    /// The base rule (`mean`, `krum`, ...).
    pub rule: String,
    /// The pre-aggregator applied before it, if any.
    pub pre: Option<String>,
}

impl RuleAxis {
    /// The name the simulator is given: `PRE+RULE`, or the rule alone.
    pub fn name(&self) -> String {
        match &self.pre {
            Some(p) => format!("{p}+{}", self.rule),
            None => self.rule.clone(),
        }
    }
}

/// One entry of the attack axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackAxis {
    /// `none`, or the attack's canonical name with its strength (e.g. `sign-flip:4`).
    pub label: String,
    /// The attack; `None` runs the rule configured for f attackers with nobody attacking.
    #[serde(skip)]
    pub attack: Option<Attack>,
}

/// Everything a benchmark runs.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The settings shared by every run: data, partition, rounds, model, DP delta and clipping,
    /// training hyper-parameters. Its rule, organization count, attackers, attack, noise and
    /// seed are replaced by each grid point's.
    pub base: SimConfig,
    /// Base rules, in row order.
    pub rules: Vec<String>,
    /// Pre-aggregators (`None` = none), in row order within each rule.
    pub pre: Vec<Option<String>>,
    /// Attacks, in column order.
    pub attacks: Vec<AttackAxis>,
    /// Attacker fractions, in column order within each attack.
    pub fractions: Vec<f64>,
    /// Target epsilons (`None` = no DP).
    pub epsilons: Vec<Option<f64>>,
    /// Organization counts.
    pub orgs: Vec<usize>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Leave out grid points whose rule cannot run with their (n, f) instead of refusing the
    /// whole grid.
    pub skip_infeasible: bool,
}

impl Grid {
    /// The matrix rows: every rule, and within a rule every pre-aggregator.
    pub fn rule_axes(&self) -> Vec<RuleAxis> {
        self.rules
            .iter()
            .flat_map(|r| {
                self.pre.iter().map(|p| RuleAxis {
                    rule: r.clone(),
                    pre: p.clone(),
                })
            })
            .collect()
    }
}

fn refuse(what: &'static str, bad: &[String]) -> Result<(), LearnError> {
    if bad.is_empty() {
        Ok(())
    } else {
        Err(LearnError::Config {
            what,
            reason: bad.join("; "),
        })
    }
}

/// Trimmed entries, refusing empty ones and an empty list; later duplicates are dropped after
/// `parse` (so `1-3,2` and `sign-flip,sign-flip:4` do not run anything twice).
fn parse_list<T: PartialEq>(
    what: &'static str,
    items: &[String],
    mut parse: impl FnMut(&str) -> Result<Vec<T>, String>,
) -> Result<Vec<T>, LearnError> {
    if items.is_empty() {
        refuse(what, &["needs at least one value".into()])?;
    }
    let mut out: Vec<T> = Vec::new();
    let mut bad = Vec::new();
    for raw in items {
        let item = raw.trim();
        if item.is_empty() {
            bad.push("empty entry".to_string());
            continue;
        }
        match parse(item) {
            Ok(values) => {
                for v in values {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            Err(e) => bad.push(format!("{:?}: {e}", clip(item))),
        }
        if out.len() > MAX_AXIS {
            bad.push(format!("more than {MAX_AXIS} values"));
            break;
        }
    }
    refuse(what, &bad)?;
    Ok(out)
}

/// At most 60 characters of an entry, for error messages.
fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Rule names, as given (the simulator checks them when the grid is planned).
pub fn parse_rules(items: &[String]) -> Result<Vec<String>, LearnError> {
    parse_list("rules", items, |s| Ok(vec![s.to_string()]))
}

/// Pre-aggregator names; `none` means the rule alone.
pub fn parse_pre(items: &[String]) -> Result<Vec<Option<String>>, LearnError> {
    parse_list("pre-aggregators", items, |s| {
        Ok(vec![(s != "none").then(|| s.to_string())])
    })
}

/// Attacks in the simulator's syntax (`sign-flip[:K]`, `alie[:Z]`, ...) or `none`.
pub fn parse_attacks(items: &[String]) -> Result<Vec<AttackAxis>, LearnError> {
    parse_list("attacks", items, |s| {
        if s == "none" {
            return Ok(vec![AttackAxis {
                label: "none".into(),
                attack: None,
            }]);
        }
        let a: Attack = s.parse().map_err(|e: LearnError| e.to_string())?;
        Ok(vec![AttackAxis {
            label: a.to_string(),
            attack: Some(a),
        }])
    })
}

/// Attacker fractions in [0, 1).
pub fn parse_fractions(items: &[String]) -> Result<Vec<f64>, LearnError> {
    parse_list("fractions", items, |s| {
        let v: f64 = s.parse().map_err(|_| "not a number".to_string())?;
        if !(0.0..1.0).contains(&v) {
            return Err("must be at least 0 and below 1".into());
        }
        Ok(vec![v])
    })
}

/// Target epsilons (positive) or `none` (no DP).
pub fn parse_epsilons(items: &[String]) -> Result<Vec<Option<f64>>, LearnError> {
    parse_list("epsilons", items, |s| {
        if s == "none" {
            return Ok(vec![None]);
        }
        let v: f64 = s
            .parse()
            .map_err(|_| "not a number or `none`".to_string())?;
        if !(v.is_finite() && v > 0.0) {
            return Err("must be a positive number".into());
        }
        Ok(vec![Some(v)])
    })
}

/// Organization counts (at least 1 each).
pub fn parse_orgs(items: &[String]) -> Result<Vec<usize>, LearnError> {
    parse_list("orgs", items, |s| {
        let v: usize = s.parse().map_err(|_| "not a whole number".to_string())?;
        if v == 0 {
            return Err("needs at least one organization".into());
        }
        Ok(vec![v])
    })
}

/// Seeds: single values and inclusive ranges `A-B`.
pub fn parse_seeds(items: &[String]) -> Result<Vec<u64>, LearnError> {
    parse_list("seeds", items, |s| {
        let num = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("{:?} is not a whole number", clip(t)))
        };
        match s.split_once('-') {
            None => Ok(vec![num(s)?]),
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return Err("a range must not run backwards".into());
                }
                if b - a >= MAX_AXIS as u64 {
                    return Err(format!("more than {MAX_AXIS} seeds"));
                }
                Ok((a..=b).collect())
            }
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    #[test]
    fn seeds_take_ranges_and_lists_without_repeats() {
        assert_eq!(parse_seeds(&v("1-3,7, 2")).unwrap(), vec![1, 2, 3, 7]);
        assert_eq!(parse_seeds(&v("5")).unwrap(), vec![5]);
        let e = parse_seeds(&v("3-1,x,1-1000000000"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"3-1\": a range must not run backwards"), "{e}");
        assert!(e.contains("\"x\""), "{e}");
        assert!(e.contains("more than 10000 seeds"), "{e}");
    }

    #[test]
    fn every_bad_entry_of_an_axis_is_named() {
        let e = parse_fractions(&v("0.25,1,-0.1,abc,"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid fractions:"), "{e}");
        for part in ["\"1\"", "\"-0.1\"", "\"abc\"", "empty entry"] {
            assert!(e.contains(part), "{part} missing from {e}");
        }
        assert!(!e.contains("0.25"), "{e}");
        assert_eq!(parse_fractions(&v("0,0.3")).unwrap(), vec![0.0, 0.3]);
        assert!(parse_orgs(&v("0")).is_err());
        assert!(parse_rules(&[]).is_err());
        assert_eq!(
            parse_epsilons(&v("none,1,0.3")).unwrap(),
            vec![None, Some(1.0), Some(0.3)]
        );
        assert!(parse_epsilons(&v("0")).is_err());
        assert!(parse_epsilons(&v("inf")).is_err());
    }

    #[test]
    fn attacks_get_canonical_labels_and_collapse_spellings() {
        let a = parse_attacks(&v("none,sign-flip,sign-flip:4,alie,ipm:0.5")).unwrap();
        let labels: Vec<&str> = a.iter().map(|x| x.label.as_str()).collect();
        assert_eq!(labels, ["none", "sign-flip:4", "alie", "ipm:0.5"]);
        let e = parse_attacks(&v("sign-flop,alie")).unwrap_err().to_string();
        assert!(e.contains("sign-flop"), "{e}");
    }

    #[test]
    fn rows_are_rules_then_pre_aggregators() {
        let g = Grid {
            base: SimConfig::default(),
            rules: parse_rules(&v("mean,krum")).unwrap(),
            pre: parse_pre(&v("none,nnm")).unwrap(),
            attacks: Vec::new(),
            fractions: Vec::new(),
            epsilons: Vec::new(),
            orgs: Vec::new(),
            seeds: Vec::new(),
            skip_infeasible: false,
        };
        let names: Vec<String> = g.rule_axes().iter().map(RuleAxis::name).collect();
        assert_eq!(names, ["mean", "nnm+mean", "krum", "nnm+krum"]);
    }
}
