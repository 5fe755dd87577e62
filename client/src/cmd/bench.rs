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
    /// Time one whole round as a validator computes it, from updates stored on disk, with the
    /// peak resident memory: sizes a node for a consortium of large models.
    ///
    /// Writes --updates random updates of --dim f32 into a blob store under --dir (n x dim x 4
    /// bytes; removed afterwards), then recomputes the round --runs times. Mean, median,
    /// trimmed-mean, krum and multi-krum, after any pre-aggregation steps (so robust), read the
    /// updates a column block (2^18 coordinates) at a time (two passes when the Gram matrix is
    /// needed: Krum family, arc, nnm); bulyan, geometric-median and centered-clipping read them
    /// whole. --compare-whole also times the old way (every update decoded whole first) in the
    /// same process.
    Round(RoundArgs),
    /// Time a full audit of a synthetic ledger (--blocks blocks, --members signed updates,
    /// spends and votes each) against an incremental audit (`audit --since`) of its last --tail
    /// blocks from a saved auditor state, median of --runs, in the same process.
    Audit(super::bench_audit::AuditArgs),
}

/// Arguments of `bench round`.
#[derive(Debug, clap::Args)]
pub struct RoundArgs {
    /// Members contributing updates.
    #[arg(long, default_value_t = 16)]
    updates: usize,
    /// Parameters per update.
    #[arg(long, default_value_t = 10_000_000)]
    dim: usize,
    /// Byzantine updates to tolerate (f).
    #[arg(long, default_value_t = 1)]
    byzantine: u32,
    /// Aggregation rule (CLI name, e.g. median, trimmed-mean, multi-krum).
    #[arg(long, default_value = "median")]
    rule: String,
    /// Timed runs of each way.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where to write the updates [default: the system temp directory].
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Also time every update decoded whole first (the way before column blocks).
    #[arg(long)]
    compare_whole: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
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
        Command::Round(a) => round(a),
        Command::Audit(a) => super::bench_audit::run(a),
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

fn round(a: RoundArgs) -> anyhow::Result<ExitCode> {
    use fedledger_node::round::bench::{self as round_bench, RoundBenchConfig};
    let base = a.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    let dir = tempfile::Builder::new()
        .prefix("fedledger-bench-round-")
        .tempdir_in(&base)?;
    let cfg = RoundBenchConfig {
        updates: a.updates,
        dim: a.dim,
        f: a.byzantine,
        rule: a.rule.clone(),
        runs: a.runs,
        dir: dir.path().to_path_buf(),
        compare_whole: a.compare_whole,
    };
    let gib = a.updates as f64 * a.dim as f64 * 4.0 / (1u64 << 30) as f64;
    eprintln!(
        "round of {} updates x {} f32 ({gib:.2} GiB on disk in {}), rule {} (f = {}), {} runs...",
        a.updates,
        a.dim,
        dir.path().display(),
        a.rule,
        a.byzantine,
        a.runs
    );
    let r = round_bench::run(&cfg, &mut |line| eprintln!("  {line}"))
        .map_err(|e| anyhow::anyhow!(e))?;
    if let [first, rest @ ..] = r.ways.as_slice() {
        if rest.iter().any(|w| w.model_hash != first.model_hash) {
            anyhow::bail!("the ways disagree on the model: {:?}", r.ways);
        }
    }
    if a.json {
        super::print_json(&serde_json::json!({
            "updates": a.updates, "dim": a.dim, "rule": a.rule, "f": a.byzantine,
            "runs": a.runs, "result": r,
        }))?;
    } else {
        println!(
            "updates on disk {:.2} GiB (written in {:.1} s); resident before the round {:.0} MiB",
            r.update_bytes as f64 / (1u64 << 30) as f64,
            r.write_s,
            r.baseline_rss_mib
        );
        println!("{:<16} {:>10} {:>14}", "way", "median s", "peak RSS MiB");
        for w in &r.ways {
            println!(
                "{:<16} {:>10.2} {:>14.0}",
                w.way, w.median_s, w.peak_rss_mib
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
