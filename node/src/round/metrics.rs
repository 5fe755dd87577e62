//! Pooling members' evaluations of the round's base model into the round summary's metrics.

use fedledger_ledger::block::limits::MAX_GROUPS;
use fedledger_ledger::block::{GroupFairness, LocalMetrics, RoundMetrics};
use std::collections::BTreeMap;

/// Example-weighted pooling of members' metrics, and fairness gaps across groups.
///
/// Loss and accuracy pool exactly (weighted means of per-example quantities). AUC does not pool
/// exactly from per-member AUCs; the example-weighted mean is reported and documented as such.
/// Group rates pool exactly from counts. Iteration is in the given order (sorted by member id by
/// the caller), so the result is bit-identical everywhere.
///
/// The inputs are member claims that passed `limits::check_local_metrics`, yet the output must
/// satisfy `limits::check_round_metrics` whatever they say, or one member's claims would make
/// every leader's block invalid: counts add saturating, rates are clamped to [0, 1] (rounding of
/// sums beyond 2^53 could nudge them past 1), and only the [`MAX_GROUPS`] largest groups (by
/// pooled count, then name) are kept, so members reporting disjoint groups cannot overflow it.
pub fn pool_metrics(members: &[&LocalMetrics]) -> RoundMetrics {
    let examples: u64 = members
        .iter()
        .fold(0u64, |acc, m| acc.saturating_add(m.examples));
    if examples == 0 {
        return RoundMetrics::default();
    }
    let w = |f: fn(&LocalMetrics) -> f64| -> f64 {
        members
            .iter()
            .map(|m| f(m) * m.examples as f64)
            .sum::<f64>()
            / examples as f64
    };
    // group -> (count, predicted positives, positives, true positives)
    let mut groups: BTreeMap<&str, (u64, f64, u64, f64)> = BTreeMap::new();
    for m in members {
        for g in &m.groups {
            let e = groups.entry(g.group.as_str()).or_default();
            e.0 = e.0.saturating_add(g.count);
            e.1 += g.positive_rate * g.count as f64;
            e.2 = e.2.saturating_add(g.positives);
            e.3 += g.true_positive_rate * g.positives as f64;
        }
    }
    let mut fairness: Vec<GroupFairness> = groups
        .into_iter()
        .filter(|(_, (count, ..))| *count > 0)
        .map(|(group, (count, pp, pos, tp))| GroupFairness {
            group: group.to_string(),
            count: count.min(examples),
            positive_rate: unit(pp / count as f64),
            true_positive_rate: if pos > 0 { unit(tp / pos as f64) } else { 0.0 },
        })
        .collect();
    if fairness.len() > MAX_GROUPS {
        // Stable sort of a name-ordered list: ties keep name order.
        fairness.sort_by_key(|g| std::cmp::Reverse(g.count));
        fairness.truncate(MAX_GROUPS);
        fairness.sort_by(|a, b| a.group.cmp(&b.group));
    }
    let gap = |f: fn(&GroupFairness) -> f64| -> f64 {
        let vals: Vec<f64> = fairness.iter().map(f).collect();
        let max = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let min = vals.iter().cloned().fold(f64::INFINITY, f64::min);
        if vals.len() < 2 {
            0.0
        } else {
            max - min
        }
    };
    RoundMetrics {
        examples,
        loss: w(|m| m.loss),
        accuracy: unit(w(|m| m.accuracy)),
        auc: unit(w(|m| m.auc)),
        demographic_parity_gap: gap(|g| g.positive_rate),
        equal_opportunity_gap: gap(|g| g.true_positive_rate),
        groups: fairness,
    }
}

/// Clamp to [0, 1]; a no-op on every value an exact computation could give.
fn unit(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedledger_ledger::block::GroupRates;

    fn m(examples: u64, acc: f64, groups: Vec<GroupRates>) -> LocalMetrics {
        LocalMetrics {
            examples,
            loss: 1.0 - acc,
            accuracy: acc,
            auc: acc,
            groups,
        }
    }

    #[test]
    fn pools_by_examples_and_measures_gaps() {
        let g = |group: &str, count, positives, pr, tpr| GroupRates {
            group: group.into(),
            count,
            positives,
            positive_rate: pr,
            true_positive_rate: tpr,
        };
        let a = m(
            100,
            0.9,
            vec![g("A", 60, 10, 0.2, 0.5), g("B", 40, 10, 0.1, 0.3)],
        );
        let b = m(300, 0.7, vec![g("A", 100, 30, 0.4, 0.7)]);
        let r = pool_metrics(&[&a, &b]);
        assert_eq!(r.examples, 400);
        assert!((r.accuracy - 0.75).abs() < 1e-12);
        let ga = &r.groups[0];
        assert_eq!((ga.group.as_str(), ga.count), ("A", 160));
        assert!((ga.positive_rate - (0.2 * 60.0 + 0.4 * 100.0) / 160.0).abs() < 1e-12);
        assert!((ga.true_positive_rate - (0.5 * 10.0 + 0.7 * 30.0) / 40.0).abs() < 1e-12);
        assert!((r.demographic_parity_gap - (ga.positive_rate - 0.1)).abs() < 1e-12);
        assert_eq!(pool_metrics(&[]).examples, 0);
    }

    #[test]
    fn pooled_claims_always_pass_the_ledger_ranges() {
        use fedledger_ledger::block::limits::{check_local_metrics, check_round_metrics};
        // Two members, each within its own limits, reporting 64 disjoint groups each.
        let groups = |prefix: &str| -> Vec<GroupRates> {
            (0..MAX_GROUPS)
                .map(|i| GroupRates {
                    group: format!("{prefix}{i:02}"),
                    count: 1 + i as u64,
                    positives: 1,
                    positive_rate: 1.0,
                    true_positive_rate: 1.0,
                })
                .collect()
        };
        let a = m(1 << 48, 1.0, groups("a"));
        let b = m(1 << 48, 0.3, groups("b"));
        for x in [&a, &b] {
            check_local_metrics(x).unwrap();
        }
        let r = pool_metrics(&[&a, &b]);
        check_round_metrics(&r).unwrap();
        assert_eq!(r.groups.len(), MAX_GROUPS);
        // The largest groups are kept, in name order.
        assert_eq!(r.groups[0].group, "a32");
        assert!(r.groups.windows(2).all(|w| w[0].group < w[1].group));
    }
}
