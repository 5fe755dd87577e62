//! `fedledger bench`: size a deployment by timing the consensus-critical computations here.

use fedledger_node::learn::aggregate::bench::{self, BenchConfig};
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
            let gib = a.updates as f64 * a.dim as f64 * 4.0 / (1u64 << 30) as f64;
            if !a.json {
                eprintln!(
                    "timing {} updates x {} f32 ({gib:.2} GiB) with f={}, {} runs per rule...",
                    a.updates, a.dim, a.byzantine, a.runs
                );
            }
            let cfg = BenchConfig {
                updates: a.updates,
                dim: a.dim,
                byzantine: a.byzantine,
                runs: a.runs,
                seed: a.seed,
            };
            let timings = bench::run(&cfg);
            if a.json {
                super::print_json(&serde_json::json!({
                    "updates": a.updates, "dim": a.dim, "byzantine": a.byzantine, "runs": a.runs,
                    "timings": timings,
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
