//! `fedledger bench learning`: the rules x pre-aggregators x attacks x fractions x epsilons x
//! seeds x organization-count matrix, run in parallel, as a table, CSV, JSON, SVG and HTML.

use crate::report::matrix::{self, epsilon_label, percent};
use fedledger_node::learn::bench::{
    self, execute, parse_attacks, parse_epsilons, parse_fractions, parse_orgs, parse_pre,
    parse_rules, parse_seeds, Grid, Plan, Summary, DEFINITIONS,
};
use fedledger_node::learn::model::ModelKind;
use fedledger_node::learn::partition::Partition;
use fedledger_node::learn::simulate::{DataSource, SimConfig};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Arguments of `bench learning`. List flags take comma-separated values.
#[derive(Debug, clap::Args)]
pub struct LearningArgs {
    /// A CSV file of customer records (needs --schema). Default: built-in synthetic data.
    #[arg(long, value_name = "FILE", requires = "schema")]
    data: Option<PathBuf>,
    /// The data schema (TOML): label, features, scaling, group column.
    #[arg(long, value_name = "FILE", requires = "data")]
    schema: Option<PathBuf>,
    /// Synthetic rows per organization (without --data).
    #[arg(long, default_value_t = 1000)]
    rows_per_org: usize,
    /// Aggregation rules (matrix rows): mean, median, trimmed-mean, krum, multi-krum, bulyan,
    /// geometric-median, centered-clipping.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mean,median,trimmed-mean,krum,multi-krum"
    )]
    rules: Vec<String>,
    /// Pre-aggregators: `none` runs each rule alone; any other P runs the rule named `P+RULE`
    /// (checked with the simulator before anything runs).
    #[arg(long, value_delimiter = ',', default_value = "none")]
    pre: Vec<String>,
    /// Attacks (columns), in `fedledger simulate --attack` syntax, or `none` (the rule set up
    /// for f attackers, nobody attacking): sign-flip[:K], gaussian[:STD], scaling[:K],
    /// label-flip, alie[:Z], ipm[:EPS].
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,sign-flip,alie,ipm,label-flip,gaussian"
    )]
    attacks: Vec<String>,
    /// Attacker fractions in [0, 1): attackers = round(fraction x orgs), at least 1 when the
    /// fraction is above 0; fractions giving the same count share their runs.
    #[arg(long, value_delimiter = ',', default_value = "0.25")]
    fractions: Vec<String>,
    /// Privacy: `none` (no DP) or target epsilons at --delta (noise calibrated per
    /// organization over all rounds, as `simulate --target-epsilon`).
    #[arg(long, value_delimiter = ',', default_value = "none")]
    epsilons: Vec<String>,
    /// Organization counts.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    orgs: Vec<String>,
    /// Seeds: values and inclusive ranges, e.g. `1-10` or `1,4,7-9`.
    #[arg(long, value_delimiter = ',', default_value = "1-5")]
    seeds: Vec<String>,
    /// Training rounds per run.
    #[arg(long, default_value_t = 20)]
    rounds: u32,
    /// How the data is split: iid, dirichlet:ALPHA (label skew) or column:NAME.
    #[arg(long, default_value = "dirichlet:0.5")]
    partition: Partition,
    /// Model: logistic, softmax or mlp.
    #[arg(long, default_value = "logistic")]
    model: ModelKind,
    /// Hidden layer widths for an mlp, comma-separated.
    #[arg(long, value_delimiter = ',')]
    hidden: Vec<usize>,
    /// delta of the (epsilon, delta) guarantee.
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// Leave out grid points whose rule cannot run with their (n, f) (e.g. Krum with n < 2f+3)
    /// instead of refusing the grid; they are listed and shown as n/a.
    #[arg(long)]
    skip_infeasible: bool,
    /// Worker threads (default: the number of cores). Results do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// Write one row per run (every coordinate and metric) to FILE.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write a self-contained HTML page (heatmap, definitions, table) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write the AUC-drop heatmap as a standalone SVG to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Print {grid, definitions, runs, table, skipped, ...} as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

impl LearningArgs {
    fn grid(&self) -> anyhow::Result<Grid> {
        let data = match (&self.data, &self.schema) {
            (Some(path), Some(schema)) => DataSource::Csv {
                path: path.clone(),
                schema: schema.clone(),
            },
            _ => DataSource::Synthetic {
                rows_per_org: self.rows_per_org,
            },
        };
        Ok(Grid {
            base: SimConfig {
                data,
                partition: self.partition.clone(),
                rounds: self.rounds,
                model: self.model,
                hidden: self.hidden.clone(),
                delta: self.delta,
                ..SimConfig::default()
            },
            rules: parse_rules(&self.rules)?,
            pre: parse_pre(&self.pre)?,
            attacks: parse_attacks(&self.attacks)?,
            fractions: parse_fractions(&self.fractions)?,
            epsilons: parse_epsilons(&self.epsilons)?,
            orgs: parse_orgs(&self.orgs)?,
            seeds: parse_seeds(&self.seeds)?,
            skip_infeasible: self.skip_infeasible,
        })
    }

    /// The settings shared by every run, for the page and the JSON.
    fn settings(&self, grid: &Grid, jobs: usize, elapsed: Duration) -> Vec<(String, String)> {
        let data = match (&self.data, &self.schema) {
            (Some(d), Some(s)) => format!("{} (schema {})", d.display(), s.display()),
            _ => format!(
                "built-in synthetic, {} rows per organization",
                self.rows_per_org
            ),
        };
        let list = |v: Vec<String>| v.join(", ");
        vec![
            ("data".into(), data),
            (
                "model".into(),
                format!(
                    "{}, {} rounds, partition {}",
                    self.model, self.rounds, self.partition
                ),
            ),
            (
                "rules".into(),
                list(grid.rule_axes().iter().map(|r| r.name()).collect()),
            ),
            (
                "attacks".into(),
                list(grid.attacks.iter().map(|a| a.label.clone()).collect()),
            ),
            (
                "fractions".into(),
                list(grid.fractions.iter().map(f64::to_string).collect()),
            ),
            (
                "privacy".into(),
                format!(
                    "{} (delta {:e})",
                    list(grid.epsilons.iter().map(|e| epsilon_label(*e)).collect()),
                    self.delta
                ),
            ),
            (
                "organizations".into(),
                list(grid.orgs.iter().map(usize::to_string).collect()),
            ),
            ("seeds".into(), seeds_label(&grid.seeds)),
            (
                "wall time".into(),
                format!("{:.1} s on {jobs} worker threads", elapsed.as_secs_f64()),
            ),
        ]
    }
}

/// `1-10` for a contiguous run of seeds, else the list.
fn seeds_label(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if seeds.len() > 2 && b - a + 1 == seeds.len() as u64 => {
            format!("{a}-{b} ({} seeds)", seeds.len())
        }
        _ => seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Progress on stderr: rewritten in place on a terminal, a line every few seconds otherwise.
struct Progress {
    start: Instant,
    tty: bool,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            start: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }

    fn report(&self, done: usize, total: usize) {
        let every = Duration::from_millis(if self.tty { 200 } else { 5000 });
        let now = Instant::now();
        {
            // A poisoned lock only means another worker panicked mid-print; keep reporting.
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if done < total && last.is_some_and(|t| now.duration_since(t) < every) {
                return;
            }
            *last = Some(now);
        }
        let elapsed = now.duration_since(self.start).as_secs_f64();
        let eta = if done > 0 {
            elapsed / done as f64 * (total - done) as f64
        } else {
            0.0
        };
        let line = format!(
            "  {done}/{total} runs ({:.0}%), {} elapsed, ETA {}",
            done as f64 * 100.0 / total.max(1) as f64,
            clock(elapsed),
            clock(eta)
        );
        if self.tty {
            let end = if done == total { "\n" } else { "" };
            eprint!("\r{line}   {end}");
        } else {
            eprintln!("{line}");
        }
    }
}

fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn write_file(path: &Path, what: &str, body: &str) -> anyhow::Result<()> {
    std::fs::write(path, body)
        .map_err(|e| anyhow::anyhow!("cannot write the {what} to {}: {e}", path.display()))
}

/// Run it.
pub fn run(a: LearningArgs) -> anyhow::Result<ExitCode> {
    let grid = a.grid()?;
    let plan = Plan::new(&grid)?;
    let jobs = match a.jobs {
        Some(j) => j,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let in_grid = plan.runs.iter().filter(|r| r.in_grid).count();
    eprintln!(
        "{} matrix points x {} seeds: {} distinct runs ({} for the grid, {} references), {} \
         worker threads",
        plan.cells.len() / grid.seeds.len().max(1),
        grid.seeds.len(),
        plan.runs.len(),
        in_grid,
        plan.runs.len() - in_grid,
        jobs
    );
    for s in &plan.skipped {
        eprintln!("  skipped (infeasible): {s}");
    }
    let progress = Progress::new();
    let results = execute(&plan, jobs, &|done, total| progress.report(done, total))?;
    let elapsed = progress.start.elapsed();
    let summary = bench::summarize(&plan, &results)?;
    eprintln!(
        "{} runs in {:.1} s ({:.3} s per run per thread)",
        results.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * jobs as f64 / results.len().max(1) as f64
    );
    if let Some(path) = &a.csv {
        bench::write_csv(path, &summary.runs)?;
    }
    let settings = a.settings(&grid, jobs, elapsed);
    if let Some(path) = &a.svg {
        write_file(path, "heatmap", &matrix::chart(&plan, &summary))?;
    }
    if let Some(path) = &a.html {
        write_file(path, "page", &matrix::page(&plan, &summary, &settings))?;
    }
    if a.json {
        print_json(&grid, &summary, &settings, jobs, elapsed)?;
    } else {
        print_table(&summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_json(
    grid: &Grid,
    summary: &Summary,
    settings: &[(String, String)],
    jobs: usize,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let definitions: serde_json::Map<String, serde_json::Value> = DEFINITIONS
        .iter()
        .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
        .collect();
    let settings: serde_json::Map<String, serde_json::Value> = settings
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
        .collect();
    super::print_json(&serde_json::json!({
        "grid": {
            "rules": grid.rule_axes(),
            "attacks": grid.attacks,
            "fractions": grid.fractions,
            "epsilons": grid.epsilons,
            "orgs": grid.orgs,
            "seeds": grid.seeds,
            "base": grid.base,
        },
        "settings": settings,
        "definitions": definitions,
        "jobs": jobs,
        "elapsed_s": elapsed.as_secs_f64(),
        "runs": summary.runs,
        "table": summary.table,
        "skipped": summary.skipped,
    }))
}

/// The table, one block per (organizations, epsilon).
fn print_table(s: &Summary) {
    let mut panel = None;
    for r in &s.table {
        if panel != Some(r.panel) {
            panel = Some(r.panel);
            println!();
            println!(
                "{} organizations, {}: clean run (mean, no attack) AUC {:.4} over {} seeds",
                r.orgs,
                epsilon_label(r.epsilon),
                r.clean_auc_mean,
                r.seeds
            );
            println!(
                "{:<22} {:<13} {:>9} {:>2} {:>7} {:>7} {:>7} {:>6} {:>6} {:>9} {:>9} {:>8}",
                "rule",
                "attack",
                "fraction",
                "f",
                "AUC",
                "drop",
                "worst",
                "<=0.02",
                "<=0.05",
                "att.excl",
                "hon.excl",
                "no-att."
            );
        }
        let fr = r
            .fractions
            .iter()
            .map(f64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        println!(
            "{:<22} {:<13} {:>9} {:>2} {:>7.4} {:>7.4} {:>7.4} {:>6} {:>6} {:>9} {:>9} {:>8.4}",
            r.rule,
            r.attack,
            fr,
            r.f,
            r.auc_mean,
            r.drop_mean,
            r.drop_worst,
            percent(Some(r.within_near)),
            percent(Some(r.within_far)),
            percent(r.attacker_excluded_share),
            percent(r.honest_excluded_share),
            r.robustness_cost
        );
    }
    println!();
    println!(
        "drop = clean AUC - AUC per seed (mean, worst); <=0.02 / <=0.05: share of seeds within; \
         att.excl / hon.excl: attacker / honest updates excluded; no-att.: clean AUC - the \
         rule's own no-attack AUC (cost of robustness)"
    );
    for sk in &s.skipped {
        println!("skipped (infeasible): {sk}");
    }
}
