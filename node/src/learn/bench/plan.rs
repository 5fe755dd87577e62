//! Expanding a grid into distinct simulations: attacker counts from fractions, identical runs
//! merged, the clean and own no-attack references added, every rule checked up front.

use super::spec::{Grid, RuleAxis};
use crate::learn::attack::Attack;
use crate::learn::error::LearnError;
use crate::learn::simulate::{check_rule, Noise, SimConfig};
use std::collections::{BTreeMap, HashMap};

/// Most grid points (before merging identical runs) one benchmark may plan.
pub const MAX_POINTS: usize = 1_000_000;

/// One distinct simulation.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// What the simulator runs.
    pub cfg: SimConfig,
    /// Its rule row.
    pub rule: RuleAxis,
    /// `none` or the attack's canonical name.
    pub attack: String,
    /// Organizations attacking.
    pub attackers: usize,
    /// The f the rule is configured for.
    pub f: usize,
    /// Target epsilon (`None` = no DP).
    pub epsilon: Option<f64>,
    /// The grid's attacker fractions that lead to this run (several when they round to the
    /// same attacker count; none for a run only planned as a reference).
    pub fractions: Vec<f64>,
    /// Whether a grid point asked for it (otherwise it is only a reference).
    pub in_grid: bool,
    /// Index of its clean run (plain mean, no attacker, same seed, organizations and epsilon).
    pub clean: usize,
    /// Index of its own no-attack run (same rule and f, no attacker).
    pub own: usize,
}

/// One point of the matrix for one seed, after fractions that give the same attacker count are
/// merged.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Index into [`Plan::rows`].
    pub row: usize,
    /// Index into [`Plan::attacks`].
    pub attack: usize,
    /// Index into [`Plan::orgs`].
    pub orgs: usize,
    /// Index into [`Plan::epsilons`].
    pub epsilon: usize,
    /// The fractions asked for, in grid order.
    pub fractions: Vec<f64>,
    /// Organizations attacking (0 for the `none` attack).
    pub attackers: usize,
    /// The rule's f.
    pub f: usize,
    /// The seed.
    pub seed: u64,
    /// Index into [`Plan::runs`].
    pub run: usize,
}

/// A cell's identity: indices of organizations, epsilon, rule row and attack, then attackers, f
/// and the seed (the fraction is left out so fractions giving the same count share a cell).
type CellKey = (usize, usize, usize, usize, usize, usize, u64);

/// A grid expanded and checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Distinct simulations, grid points first (in grid order), then references.
    pub runs: Vec<PlannedRun>,
    /// Matrix points, by organization count, epsilon, rule row, attack, f and seed.
    pub cells: Vec<Cell>,
    /// Rule rows.
    pub rows: Vec<RuleAxis>,
    /// Attack labels (columns, with the attacker counts).
    pub attacks: Vec<String>,
    /// Organization counts.
    pub orgs: Vec<usize>,
    /// Target epsilons.
    pub epsilons: Vec<Option<f64>>,
    /// Grid points left out because their rule cannot run with their (n, f), with the
    /// simulator's reason (only with `skip_infeasible`).
    pub skipped: Vec<String>,
}

/// Attackers for `fraction` of `orgs` organizations: rounded (halves away from zero), at least
/// one for a positive fraction.
pub fn attackers_for(fraction: f64, orgs: usize) -> usize {
    if fraction <= 0.0 {
        0
    } else {
        ((fraction * orgs as f64).round() as usize).max(1)
    }
}

fn config(what: &'static str, reason: String) -> LearnError {
    LearnError::Config { what, reason }
}

/// The planned runs, indexed by their exact configuration so identical runs are merged.
#[derive(Default)]
struct Runs {
    list: Vec<PlannedRun>,
    index: HashMap<String, usize>,
}

impl Runs {
    fn intern(&mut self, run: PlannedRun) -> usize {
        // Debug prints every float in its shortest round-trip form: equal keys, equal configs.
        let key = format!("{:?}", run.cfg);
        *self.index.entry(key).or_insert_with(|| {
            self.list.push(run);
            self.list.len() - 1
        })
    }
}

fn noise(epsilon: Option<f64>) -> Noise {
    epsilon.map_or(Noise::Off, Noise::TargetEpsilon)
}

/// The run of `rule` configured for `f`, with `attack` (if any) mounted by f organizations.
fn run_of(
    grid: &Grid,
    rule: &RuleAxis,
    attack: Option<Attack>,
    f: usize,
    orgs: usize,
    epsilon: Option<f64>,
    seed: u64,
) -> PlannedRun {
    let attack = attack.filter(|_| f > 0);
    let attackers = if attack.is_some() { f } else { 0 };
    PlannedRun {
        cfg: SimConfig {
            rule: rule.name(),
            rule_f: Some(f),
            orgs,
            byzantine: attackers,
            attack,
            noise: noise(epsilon),
            seed,
            ..grid.base.clone()
        },
        rule: rule.clone(),
        attack: attack.map_or_else(|| "none".to_string(), |a| a.to_string()),
        attackers,
        f,
        epsilon,
        fractions: Vec::new(),
        in_grid: false,
        clean: 0,
        own: 0,
    }
}

impl Plan {
    /// Expand `grid`, refusing fractions that leave no honest organization, rule names the
    /// simulator does not accept and (unless `skip_infeasible`) rules that cannot run with a
    /// grid point's (n, f). Every problem is listed in one error.
    pub fn new(grid: &Grid) -> Result<Plan, LearnError> {
        let rows = grid.rule_axes();
        let points = [
            rows.len(),
            grid.attacks.len(),
            grid.fractions.len(),
            grid.epsilons.len(),
            grid.orgs.len(),
            grid.seeds.len(),
        ]
        .iter()
        .try_fold(1usize, |acc, &k| acc.checked_mul(k))
        .filter(|&p| p <= MAX_POINTS);
        let Some(points) = points else {
            return Err(config(
                "grid",
                format!("more than {MAX_POINTS} grid points; split the benchmark"),
            ));
        };
        if points == 0 {
            return Err(config("grid", "an axis is empty".into()));
        }
        check_fractions(grid)?;
        let skip = check_rules(grid, &rows)?;
        let mut runs = Runs::default();
        let mut cells: Vec<Cell> = Vec::new();
        let mut cell_index: HashMap<CellKey, usize> = HashMap::new();
        for (oi, &n) in grid.orgs.iter().enumerate() {
            for (ei, &eps) in grid.epsilons.iter().enumerate() {
                for (ri, rule) in rows.iter().enumerate() {
                    for (ai, attack) in grid.attacks.iter().enumerate() {
                        for &fraction in &grid.fractions {
                            let f = attackers_for(fraction, n);
                            if skip.contains_key(&(ri, n, f)) {
                                continue;
                            }
                            let attackers = if attack.attack.is_some() { f } else { 0 };
                            for &seed in &grid.seeds {
                                let planned = run_of(grid, rule, attack.attack, f, n, eps, seed);
                                let run = runs.intern(planned);
                                let r = &mut runs.list[run];
                                r.in_grid = true;
                                if !r.fractions.contains(&fraction) {
                                    r.fractions.push(fraction);
                                }
                                let key = (oi, ei, ri, ai, attackers, f, seed);
                                match cell_index.get(&key) {
                                    Some(&c) => cells[c].fractions.push(fraction),
                                    None => {
                                        cell_index.insert(key, cells.len());
                                        cells.push(Cell {
                                            row: ri,
                                            attack: ai,
                                            orgs: oi,
                                            epsilon: ei,
                                            fractions: vec![fraction],
                                            attackers,
                                            f,
                                            seed,
                                            run,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if cells.is_empty() {
            return Err(config(
                "grid",
                "every grid point was skipped as infeasible".into(),
            ));
        }
        add_references(grid, &mut runs);
        // Cells sorted into table order: panel (orgs, epsilon), row, column (attack, f), seed.
        cells.sort_by_key(|c| (c.orgs, c.epsilon, c.row, c.attack, c.f, c.attackers, c.seed));
        Ok(Plan {
            runs: runs.list,
            cells,
            rows,
            attacks: grid.attacks.iter().map(|a| a.label.clone()).collect(),
            orgs: grid.orgs.clone(),
            epsilons: grid.epsilons.clone(),
            skipped: skip.into_values().collect(),
        })
    }
}

/// Point every run at its clean and own no-attack runs, planning those that are missing (whose
/// own references are themselves or the clean run, so one pass reaches a fixed point).
fn add_references(grid: &Grid, runs: &mut Runs) {
    let mean = RuleAxis {
        rule: "mean".into(),
        pre: None,
    };
    let mut i = 0;
    while i < runs.list.len() {
        let r = &runs.list[i];
        let (n, eps, seed) = (r.cfg.orgs, r.epsilon, r.cfg.seed);
        let own = run_of(grid, &r.rule, None, r.f, n, eps, seed);
        let clean = run_of(grid, &mean, None, 0, n, eps, seed);
        let own = runs.intern(own);
        let clean = runs.intern(clean);
        runs.list[i].own = own;
        runs.list[i].clean = clean;
        i += 1;
    }
}

/// Every (fraction, orgs) must leave at least one honest organization.
fn check_fractions(grid: &Grid) -> Result<(), LearnError> {
    let mut bad = Vec::new();
    for &n in &grid.orgs {
        for &fr in &grid.fractions {
            let a = attackers_for(fr, n);
            if a >= n {
                bad.push(format!(
                    "fraction {fr} of {n} organizations is {a} attacker(s), leaving no honest one"
                ));
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(config("fractions", bad.join("; ")))
    }
}

/// Ask the simulator about every (rule, n, f) the grid needs. Returns the points to skip (with
/// `skip_infeasible`), keyed by (row, n, f), or an error listing every refusal.
fn check_rules(
    grid: &Grid,
    rows: &[RuleAxis],
) -> Result<BTreeMap<(usize, usize, usize), String>, LearnError> {
    let mut refused: BTreeMap<(usize, usize, usize), String> = BTreeMap::new();
    let mut unusable = Vec::new();
    for (ri, rule) in rows.iter().enumerate() {
        let name = rule.name();
        let mut tried = 0;
        let mut failed = 0;
        let mut reasons: Vec<String> = Vec::new();
        for &n in &grid.orgs {
            let mut fs: Vec<usize> = grid
                .fractions
                .iter()
                .map(|&x| attackers_for(x, n))
                .collect();
            fs.sort_unstable();
            fs.dedup();
            for f in fs {
                tried += 1;
                if let Err(e) = check_rule(&name, n, f) {
                    failed += 1;
                    let e = e.to_string();
                    if !reasons.contains(&e) {
                        reasons.push(e.clone());
                    }
                    refused.insert((ri, n, f), format!("{name:?} with n={n}, f={f}: {e}"));
                }
            }
        }
        // A rule that runs nowhere in the grid (an unknown name, typically) is refused even when
        // infeasible points may be skipped.
        if failed > 0 && (failed == tried || !grid.skip_infeasible) {
            unusable.push(format!("{name:?}: {}", reasons.join(" / ")));
        }
    }
    if unusable.is_empty() {
        Ok(refused)
    } else {
        let hint = if grid.skip_infeasible {
            ""
        } else {
            " (--skip-infeasible leaves out points a rule cannot run instead)"
        };
        Err(config(
            "rules",
            format!("the simulator refuses {}{hint}", unusable.join("; ")),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::learn::bench::spec::{parse_attacks, parse_pre, parse_rules};

    fn v(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    fn grid(rules: &str, pre: &str, attacks: &str, fractions: &[f64], orgs: &[usize]) -> Grid {
        Grid {
            base: SimConfig::default(),
            rules: parse_rules(&v(rules)).unwrap(),
            pre: parse_pre(&v(pre)).unwrap(),
            attacks: parse_attacks(&v(attacks)).unwrap(),
            fractions: fractions.to_vec(),
            epsilons: vec![None],
            orgs: orgs.to_vec(),
            seeds: vec![1, 2],
            skip_infeasible: false,
        }
    }

    #[test]
    fn attacker_counts_round_and_never_vanish() {
        assert_eq!(attackers_for(0.25, 8), 2);
        assert_eq!(attackers_for(0.3, 8), 2);
        assert_eq!(attackers_for(0.25, 10), 3, "2.5 rounds away from zero");
        assert_eq!(attackers_for(0.01, 8), 1);
        assert_eq!(attackers_for(0.0, 8), 0);
    }

    #[test]
    fn fractions_with_the_same_count_share_runs_and_references_are_added() {
        let g = grid("median", "none", "sign-flip", &[0.25, 0.3], &[8]);
        let p = Plan::new(&g).unwrap();
        // One cell per seed with both fractions; its run, its own no-attack run and the clean run.
        assert_eq!(p.cells.len(), 2);
        assert!(p.cells.iter().all(|c| c.fractions == [0.25, 0.3]));
        assert_eq!(p.runs.len(), 6);
        let grid_runs: Vec<&PlannedRun> = p.runs.iter().filter(|r| r.in_grid).collect();
        assert_eq!(grid_runs.len(), 2);
        for r in grid_runs {
            let clean = &p.runs[r.clean];
            assert_eq!(
                (
                    clean.cfg.rule.as_str(),
                    clean.attackers,
                    clean.f,
                    clean.attack.as_str()
                ),
                ("mean", 0, 0, "none")
            );
            assert_eq!(clean.cfg.seed, r.cfg.seed);
            let own = &p.runs[r.own];
            assert_eq!(
                (
                    own.cfg.rule.as_str(),
                    own.attackers,
                    own.f,
                    own.attack.as_str()
                ),
                ("median", 0, 2, "none")
            );
            assert_eq!((r.attackers, r.cfg.byzantine, r.f), (2, 2, 2));
            assert_eq!(r.fractions, [0.25, 0.3]);
        }
    }

    #[test]
    fn the_none_attack_is_the_rule_configured_for_f_without_attackers() {
        let g = grid("mean,median", "none", "none,alie", &[0.25], &[8]);
        let p = Plan::new(&g).unwrap();
        for c in &p.cells {
            let r = &p.runs[c.run];
            if p.attacks[c.attack] == "none" {
                assert_eq!((r.cfg.byzantine, r.f, r.cfg.attack), (0, 2, None));
                assert_eq!(r.own, c.run, "the none column is the own no-attack run");
            }
        }
        // mean/none/f=2 is not the clean run (f = 0), so both exist.
        assert_eq!(p.runs.len(), 2 * (2 * 2) + 2);
    }

    #[test]
    fn unknown_and_impossible_rules_are_refused_together() {
        let g = grid("krum,median", "none,no-such-pre", "alie", &[0.25], &[4]);
        let e = Plan::new(&g).unwrap_err().to_string();
        assert!(e.contains("\"no-such-pre+krum\""), "{e}");
        assert!(e.contains("\"no-such-pre+median\""), "{e}");
        assert!(e.contains("Krum needs n >= 2f+3 (here n=4, f=1)"), "{e}");
        assert!(!e.contains("\"median\""), "{e}");
        let g = grid("mean", "none", "alie", &[1.0 - 1e-9], &[3]);
        assert!(Plan::new(&g)
            .unwrap_err()
            .to_string()
            .contains("leaving no honest one"));
    }

    #[test]
    fn pre_aggregators_compose_with_every_rule_through_the_simulator() {
        let g = grid("mean,median", "none,nnm,arc", "ipm", &[0.25], &[8]);
        let p = Plan::new(&g).unwrap();
        let names: Vec<String> = p.rows.iter().map(RuleAxis::name).collect();
        assert_eq!(
            names,
            [
                "mean",
                "nnm+mean",
                "arc+mean",
                "median",
                "nnm+median",
                "arc+median"
            ]
        );
        // Each row's own no-attack run keeps its pre-aggregator; the clean run is plain mean.
        for c in &p.cells {
            let run = &p.runs[c.run];
            assert_eq!(p.runs[run.own].cfg.rule, p.rows[c.row].name());
            assert_eq!(p.runs[run.clean].cfg.rule, "mean");
        }
    }

    #[test]
    fn infeasible_points_can_be_skipped_but_unknown_names_cannot() {
        let mut g = grid("krum,median", "none", "alie", &[0.25, 0.5], &[5]);
        assert!(Plan::new(&g).is_err());
        g.skip_infeasible = true;
        let p = Plan::new(&g).unwrap();
        // 0.5 of 5 rounds to 3: neither Krum (n >= 9) nor the median (n >= 7) can run it.
        assert_eq!(p.skipped.len(), 2, "{:?}", p.skipped);
        assert!(
            p.skipped.iter().all(|s| s.contains("n=5, f=3")),
            "{:?}",
            p.skipped
        );
        assert!(p.cells.iter().all(|c| c.f == 1));
        assert!(!p.cells.is_empty());
        g.rules.push("nope".into());
        let e = Plan::new(&g).unwrap_err().to_string();
        assert!(e.contains("\"nope\""), "{e}");
    }
}
