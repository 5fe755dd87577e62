//! `fedledger bench`: size a deployment by timing the consensus-critical computations here, and
//! compare defences over a matrix of simulated attacks.

use fedledger_node::learn::aggregate::bench::{self, BenchConfig};
use fedledger_node::learn::aggregate::simd::{self, CodePath};
use fedledger_node::learn::aggregate::Aggregator;
use std::process::ExitCode;

/// Time consensus-critical computations on this machine, or benchmark defences by simulation.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Time every aggregation rule on random updates (median of several runs, one thread), so an
    /// operator can size a deployment: validators recompute the aggregate of every round.
    Aggregate(AggregateArgs),
    /// Simulate every combination of rules, pre-aggregators, attacks, attacker fractions,
    /// epsilons, organization counts and seeds, and score each against the clean run.
    ///
    /// Runs go in parallel (--jobs) with progress on stderr; every run is reproducible from its
    /// seed, whatever the number of threads. Output: a table aggregated over seeds (or --json),
    /// --csv with one row per run, --html / --svg with a heatmap of the AUC drop.
    ///
    /// Definitions (metrics are of the final model on the pooled holdout, 20% of every
    /// organization's examples):
    ///
    /// - accuracy, precision, recall, F1: for class 1 at the simulator's decision threshold,
    ///   P(class 1) >= 0.5; AUC: ROC AUC of P(class 1), threshold-free.
    ///
    /// - attackers = round(fraction x orgs), at least 1 for a positive fraction; the last
    ///   organizations attack; the rule runs with f = attackers. The `none` attack is the rule
    ///   set up for the same f with nobody attacking (its own no-attack run).
    ///
    /// - clean run = plain `mean`, no attacker (f = 0), same seed, organizations, partition and
    ///   epsilon: the reference is mean without attack, not the rule's own no-attack run.
    ///
    /// - drop = clean AUC - run AUC per seed; rows show the mean and worst drop and the share of
    ///   seeds within 0.02 and 0.05. Cost of robustness = clean AUC - the rule's own no-attack
    ///   AUC.
    ///
    /// - excluded share = attacker updates excluded / attacker updates sent over all rounds;
    ///   honest excluded share = honest updates excluded / honest sent (false positives).
    Learning(Box<super::bench_learning::LearningArgs>),
}

/// Arguments of `bench aggregate`.
#[derive(Debug, clap::Args)]
pub struct AggregateArgs {
    /// Number of updates (members contributing per round).
    #[arg(long, default_value_t = 20)]
    updates: usize,
    /// Parameters per update.
    #[arg(long, default_value_t = 100_000)]
    dim: usize,
    /// Byzantine updates among them (the rules' f); rules that cannot run with it are skipped.
    #[arg(long, default_value_t = 2)]
    byzantine: usize,
    /// Timed runs per rule.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seed of the random updates.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Rules to time, comma-separated CLI names, optionally with pre-aggregation steps (e.g.
    /// `median,krum,nnm+krum,robust`); default: every plain rule.
    #[arg(long, value_delimiter = ',')]
    rules: Vec<String>,
    /// Widest code path to use: `avx512`, `avx2` or `baseline` (default: the best this CPU
    /// has). Shows what a node on an older CPU would need; results are bit-identical on every
    /// path.
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// Print the timings as JSON.
    #[arg(long)]
    json: bool,
}

/// Run it.
pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Learning(a) => super::bench_learning::run(*a),
        Command::Aggregate(a) => {
            if a.updates == 0 || a.dim == 0 || a.runs == 0 {
                anyhow::bail!("--updates, --dim and --runs must be at least 1");
            }
            let rules = a
                .rules
                .iter()
                .map(|r| Aggregator::parse(r))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(p) = &a.path {
                let limit = CodePath::parse(p).ok_or_else(|| {
                    anyhow::anyhow!("--path {p:?}: expected avx512, avx2 or baseline")
                })?;
                simd::limit_path(limit);
            }
            let path = simd::code_path().name();
            let gib = a.updates as f64 * a.dim as f64 * 4.0 / (1u64 << 30) as f64;
            if !a.json {
                eprintln!(
                    "timing {} updates x {} f32 ({gib:.2} GiB) with f={}, {} runs per rule, {path} \
                     code path...",
                    a.updates, a.dim, a.byzantine, a.runs
                );
            }
            let cfg = BenchConfig {
                updates: a.updates,
                dim: a.dim,
                byzantine: a.byzantine,
                runs: a.runs,
                seed: a.seed,
                rules,
            };
            let json = a.json;
            let timings = bench::run(&cfg, &mut |t| {
                if !json {
                    eprintln!("  {:<18} {:.4} s (median)", t.rule, t.median_s);
                }
            });
            if a.json {
                super::print_json(&serde_json::json!({
                    "updates": a.updates, "dim": a.dim, "byzantine": a.byzantine, "runs": a.runs,
                    "code_path": path, "timings": timings,
                }))?;
            } else {
                println!(
                    "{:<20} {:>10} {:>10} {:>10}",
                    "rule", "median s", "min s", "max s"
                );
                for t in &timings {
                    println!(
                        "{:<20} {:>10.4} {:>10.4} {:>10.4}",
                        t.rule, t.median_s, t.min_s, t.max_s
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
