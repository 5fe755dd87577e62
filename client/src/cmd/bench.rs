//! `fedledger bench`: size a deployment by timing the consensus-critical computations here.

use fedledger_node::learn::aggregate::bench::{self, BenchConfig};
use fedledger_node::learn::aggregate::simd::{self, CodePath};
use fedledger_node::learn::aggregate::Aggregator;
use std::process::ExitCode;

/// Time consensus-critical computations on this machine.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Time every aggregation rule on random updates (median of several runs, one thread), so an
    /// operator can size a deployment: validators recompute the aggregate of every round.
    Aggregate(AggregateArgs),
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
