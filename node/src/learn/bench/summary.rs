//! Scoring runs against their references: one row per run (with its clean and own no-attack
//! AUC) and one table row per matrix point aggregated over seeds.

use super::execute::RunResult;
use super::plan::{Cell, Plan};
use super::{FAR, NEAR};
use crate::learn::error::LearnError;
use serde::Serialize;

/// One run with every grid coordinate and every metric (a CSV row, a JSON object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Index of the run.
    pub run: usize,
    /// The rule as the simulator got it (`PRE+RULE` with a pre-aggregator).
    pub rule: String,
    /// The base rule.
    pub base_rule: String,
    /// The pre-aggregator, or `none`.
    pub pre: String,
    /// `none` or the attack with its strength.
    pub attack: String,
    /// The grid fractions that gave this run, `;`-separated (empty for a reference-only run).
    pub fractions: String,
    /// Organizations attacking (the last ones by index).
    pub attackers: usize,
    /// The f the rule ran with.
    pub f: usize,
    /// Organizations.
    pub orgs: usize,
    /// Target epsilon at `delta` (empty/null: no DP).
    pub epsilon: Option<f64>,
    /// The delta epsilon is measured at.
    pub delta: f64,
    /// The seed.
    pub seed: u64,
    /// Training rounds.
    pub rounds: u32,
    /// How the data was split.
    pub partition: String,
    /// Model family.
    pub model: String,
    /// Whether a grid point asked for it (false: planned only as a reference).
    pub in_grid: bool,
    /// Whether it is a clean run (plain mean, no attacker, f = 0).
    pub clean: bool,
    /// Accuracy of the final model at the 0.5 threshold.
    pub accuracy: f64,
    /// Precision for class 1.
    pub precision: f64,
    /// Recall for class 1.
    pub recall: f64,
    /// F1 for class 1.
    pub f1: f64,
    /// ROC AUC.
    pub auc: f64,
    /// Mean cross-entropy.
    pub log_loss: f64,
    /// Demographic parity difference over the schema's groups (0 without a group column).
    pub demographic_parity_difference: f64,
    /// Equal opportunity difference over the schema's groups.
    pub equal_opportunity_difference: f64,
    /// AUC of the centralized baseline (pooled data, no DP, no attack).
    pub centralized_auc: f64,
    /// Largest epsilon an honest organization spent (empty/null without DP).
    pub epsilon_spent: Option<f64>,
    /// Attacker updates sent over all rounds.
    pub attacker_sent: u64,
    /// Attacker updates the rule excluded.
    pub attacker_excluded: u64,
    /// Honest updates sent over all rounds.
    pub honest_sent: u64,
    /// Honest updates the rule excluded.
    pub honest_excluded: u64,
    /// attacker_excluded / attacker_sent (empty/null without attackers).
    pub attacker_excluded_share: Option<f64>,
    /// honest_excluded / honest_sent.
    pub honest_excluded_share: Option<f64>,
    /// Index of the clean run.
    pub clean_run: usize,
    /// Its AUC.
    pub clean_auc: f64,
    /// clean_auc - auc.
    pub drop: f64,
    /// Index of the own no-attack run (same rule and f, no attacker).
    pub own_run: usize,
    /// Its AUC.
    pub own_auc: f64,
    /// own_auc - auc: what the attack costs this rule.
    pub drop_vs_own: f64,
    /// Hash of the final model (hex).
    pub final_model_hash: String,
}

/// One matrix point (rule row x attack x attacker count x organizations x epsilon) over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRow {
    /// The rule as the simulator got it.
    pub rule: String,
    /// The base rule.
    pub base_rule: String,
    /// The pre-aggregator, or `none`.
    pub pre: String,
    /// `none` or the attack with its strength.
    pub attack: String,
    /// The grid fractions that gave this attacker count.
    pub fractions: Vec<f64>,
    /// Organizations attacking.
    pub attackers: usize,
    /// The rule's f.
    pub f: usize,
    /// Organizations.
    pub orgs: usize,
    /// Target epsilon (`null`: no DP).
    pub epsilon: Option<f64>,
    /// Seeds aggregated.
    pub seeds: usize,
    /// Mean AUC.
    pub auc_mean: f64,
    /// Mean accuracy.
    pub accuracy_mean: f64,
    /// Mean F1.
    pub f1_mean: f64,
    /// Mean AUC of the clean runs of the same seeds.
    pub clean_auc_mean: f64,
    /// Mean drop against clean.
    pub drop_mean: f64,
    /// Largest drop against clean over seeds.
    pub drop_worst: f64,
    /// Share of seeds with drop <= 0.02.
    #[serde(rename = "within_0_02")]
    pub within_near: f64,
    /// Share of seeds with drop <= 0.05.
    #[serde(rename = "within_0_05")]
    pub within_far: f64,
    /// Mean AUC of the rule's own no-attack runs.
    pub own_auc_mean: f64,
    /// clean_auc_mean - own_auc_mean: the cost of the defence when nobody attacks.
    pub robustness_cost: f64,
    /// Attacker updates excluded / sent, over all rounds and seeds (`null` without attackers).
    pub attacker_excluded_share: Option<f64>,
    /// Honest updates excluded / sent (false positives).
    pub honest_excluded_share: Option<f64>,
    /// The runs aggregated, in seed order.
    pub runs: Vec<usize>,
    /// Index of the rule row in the plan (for charts).
    #[serde(skip)]
    pub row_index: usize,
    /// Index of the attack in the plan (for charts).
    #[serde(skip)]
    pub attack_index: usize,
    /// Indices of the organization count and epsilon in the plan (one chart panel each).
    #[serde(skip)]
    pub panel: (usize, usize),
}

/// Everything a benchmark reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// One row per distinct run.
    pub runs: Vec<RunRow>,
    /// One row per matrix point, aggregated over seeds.
    pub table: Vec<TableRow>,
    /// Grid points left out as infeasible.
    pub skipped: Vec<String>,
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn join_fractions(f: &[f64]) -> String {
    f.iter().map(f64::to_string).collect::<Vec<_>>().join(";")
}

/// Score `results` (in plan order) against their references.
pub fn summarize(plan: &Plan, results: &[RunResult]) -> Result<Summary, LearnError> {
    if results.len() != plan.runs.len() {
        return Err(LearnError::Config {
            what: "benchmark results",
            reason: format!(
                "{} results for {} planned runs",
                results.len(),
                plan.runs.len()
            ),
        });
    }
    let runs: Vec<RunRow> = plan
        .runs
        .iter()
        .zip(results)
        .enumerate()
        .map(|(i, (p, r))| {
            let clean_auc = results[p.clean].metrics.auc;
            let own_auc = results[p.own].metrics.auc;
            let m = &r.metrics;
            RunRow {
                run: i,
                rule: p.rule.name(),
                base_rule: p.rule.rule.clone(),
                pre: p.rule.pre.clone().unwrap_or_else(|| "none".into()),
                attack: p.attack.clone(),
                fractions: join_fractions(&p.fractions),
                attackers: p.attackers,
                f: p.f,
                orgs: p.cfg.orgs,
                epsilon: p.epsilon,
                delta: p.cfg.delta,
                seed: p.cfg.seed,
                rounds: p.cfg.rounds,
                partition: p.cfg.partition.to_string(),
                model: p.cfg.model.to_string(),
                in_grid: p.in_grid,
                clean: p.clean == i,
                accuracy: m.accuracy,
                precision: m.precision,
                recall: m.recall,
                f1: m.f1,
                auc: m.auc,
                log_loss: m.log_loss,
                demographic_parity_difference: m.demographic_parity_difference,
                equal_opportunity_difference: m.equal_opportunity_difference,
                centralized_auc: r.centralized_auc,
                epsilon_spent: r.epsilon_spent,
                attacker_sent: r.attacker_sent,
                attacker_excluded: r.attacker_excluded,
                honest_sent: r.honest_sent,
                honest_excluded: r.honest_excluded,
                attacker_excluded_share: share(r.attacker_excluded, r.attacker_sent),
                honest_excluded_share: share(r.honest_excluded, r.honest_sent),
                clean_run: p.clean,
                clean_auc,
                drop: clean_auc - m.auc,
                own_run: p.own,
                own_auc,
                drop_vs_own: own_auc - m.auc,
                final_model_hash: r.final_model_hash.clone(),
            }
        })
        .collect();
    let table = plan
        .cells
        .chunk_by(|a, b| point(a) == point(b))
        .map(|cells| table_row(plan, &runs, cells))
        .collect();
    Ok(Summary {
        runs,
        table,
        skipped: plan.skipped.clone(),
    })
}

/// A cell's matrix point: everything but the seed.
fn point(c: &Cell) -> (usize, usize, usize, usize, usize, usize) {
    (c.orgs, c.epsilon, c.row, c.attack, c.f, c.attackers)
}

/// Aggregate the cells (seeds) of one matrix point, summing in cell order.
fn table_row(plan: &Plan, runs: &[RunRow], cells: &[Cell]) -> TableRow {
    let first = &cells[0];
    let rows: Vec<&RunRow> = cells.iter().map(|c| &runs[c.run]).collect();
    let k = rows.len() as f64;
    let mean = |f: &dyn Fn(&RunRow) -> f64| rows.iter().map(|r| f(r)).sum::<f64>() / k;
    let within = |limit: f64| rows.iter().filter(|r| r.drop <= limit).count() as f64 / k;
    let sum = |f: &dyn Fn(&RunRow) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
    let rule = &plan.rows[first.row];
    let clean_auc_mean = mean(&|r| r.clean_auc);
    let own_auc_mean = mean(&|r| r.own_auc);
    TableRow {
        rule: rule.name(),
        base_rule: rule.rule.clone(),
        pre: rule.pre.clone().unwrap_or_else(|| "none".into()),
        attack: plan.attacks[first.attack].clone(),
        fractions: first.fractions.clone(),
        attackers: first.attackers,
        f: first.f,
        orgs: plan.orgs[first.orgs],
        epsilon: plan.epsilons[first.epsilon],
        seeds: rows.len(),
        auc_mean: mean(&|r| r.auc),
        accuracy_mean: mean(&|r| r.accuracy),
        f1_mean: mean(&|r| r.f1),
        clean_auc_mean,
        drop_mean: mean(&|r| r.drop),
        drop_worst: rows
            .iter()
            .map(|r| r.drop)
            .fold(f64::NEG_INFINITY, f64::max),
        within_near: within(NEAR),
        within_far: within(FAR),
        own_auc_mean,
        robustness_cost: clean_auc_mean - own_auc_mean,
        attacker_excluded_share: share(sum(&|r| r.attacker_excluded), sum(&|r| r.attacker_sent)),
        honest_excluded_share: share(sum(&|r| r.honest_excluded), sum(&|r| r.honest_sent)),
        runs: cells.iter().map(|c| c.run).collect(),
        row_index: first.row,
        attack_index: first.attack,
        panel: (first.orgs, first.epsilon),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::learn::bench::spec::{parse_attacks, Grid};
    use crate::learn::metrics::Metrics;
    use crate::learn::simulate::SimConfig;

    fn result(auc: f64, attacker: (u64, u64), honest: (u64, u64)) -> RunResult {
        RunResult {
            metrics: Metrics {
                examples: 100,
                accuracy: auc,
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
                auc,
                log_loss: 0.0,
                groups: Vec::new(),
                demographic_parity_difference: 0.0,
                equal_opportunity_difference: 0.0,
            },
            centralized_auc: 1.0,
            attacker_sent: attacker.0,
            attacker_excluded: attacker.1,
            honest_sent: honest.0,
            honest_excluded: honest.1,
            epsilon_spent: None,
            final_model_hash: String::new(),
        }
    }

    #[test]
    fn drops_are_taken_against_the_clean_mean_of_the_same_seed() {
        let g = Grid {
            base: SimConfig::default(),
            rules: vec!["median".into()],
            pre: vec![None],
            attacks: parse_attacks(&["none".into(), "sign-flip".into()]).unwrap(),
            fractions: vec![0.25],
            epsilons: vec![None],
            orgs: vec![8],
            seeds: vec![1, 2],
            skip_infeasible: false,
        };
        let plan = Plan::new(&g).unwrap();
        // AUC by (rule, attack, seed); the 20 rounds x 2 attackers send 40 updates per run.
        let results: Vec<RunResult> = plan
            .runs
            .iter()
            .map(|r| {
                let s = r.cfg.seed;
                match (r.cfg.rule.as_str(), r.attack.as_str(), s) {
                    ("mean", "none", 1) => result(0.90, (0, 0), (160, 0)),
                    ("mean", "none", _) => result(0.80, (0, 0), (160, 0)),
                    ("median", "none", 1) => result(0.89, (0, 0), (160, 4)),
                    ("median", "none", _) => result(0.785, (0, 0), (160, 0)),
                    (_, _, 1) => result(0.87, (40, 30), (120, 0)),
                    _ => result(0.70, (40, 10), (120, 6)),
                }
            })
            .collect();
        let s = summarize(&plan, &results).unwrap();
        assert_eq!(s.table.len(), 2);
        let none = &s.table[0];
        assert_eq!(
            (none.attack.as_str(), none.f, none.attackers),
            ("none", 2, 0)
        );
        assert!((none.drop_mean - 0.0125).abs() < 1e-12);
        assert!((none.robustness_cost - 0.0125).abs() < 1e-12);
        assert_eq!((none.within_near, none.within_far), (1.0, 1.0));
        assert_eq!(none.attacker_excluded_share, None);
        assert_eq!(none.honest_excluded_share, Some(4.0 / 320.0));
        let sf = &s.table[1];
        assert_eq!(
            (sf.attack.as_str(), sf.attackers, sf.seeds),
            ("sign-flip:4", 2, 2)
        );
        assert!((sf.auc_mean - 0.785).abs() < 1e-12);
        assert!((sf.clean_auc_mean - 0.85).abs() < 1e-12);
        assert!((sf.drop_mean - 0.065).abs() < 1e-12);
        assert!((sf.drop_worst - 0.10).abs() < 1e-12);
        assert_eq!((sf.within_near, sf.within_far), (0.0, 0.5));
        assert!((sf.own_auc_mean - 0.8375).abs() < 1e-12);
        assert_eq!(sf.attacker_excluded_share, Some(0.5));
        assert_eq!(sf.honest_excluded_share, Some(6.0 / 240.0));
        assert_eq!(sf.fractions, [0.25]);
        // Per run: the reference indices point at runs of the same seed.
        for r in &s.runs {
            let clean = &s.runs[r.clean_run];
            assert_eq!(
                (clean.rule.as_str(), clean.attack.as_str()),
                ("mean", "none")
            );
            assert_eq!((clean.f, clean.seed), (0, r.seed));
            assert!(clean.clean && !clean.in_grid);
            assert_eq!(r.drop, r.clean_auc - r.auc);
            assert_eq!(s.runs[r.own_run].seed, r.seed);
        }
        assert!(summarize(&plan, &results[1..]).is_err());
    }
}
