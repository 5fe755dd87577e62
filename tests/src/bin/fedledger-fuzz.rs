//! `fedledger-fuzz`: millions of structure-aware cases against every decoder a peer or a file
//! reaches, outside CI. Exit status 0 when nothing failed, 1 on any panic, round-trip violation,
//! slow case or oversized allocation (the inputs are written to the crash directory).

use anyhow::{bail, Context, Result};
use clap::Parser;
use fedledger_tests::fuzz::{self, alloc::CountingAlloc, Outcome, Report, RunConfig};
use std::path::PathBuf;
use std::time::Duration;

// Per-thread allocation counts, so a length prefix that claims gigabytes is caught even when
// the memory is never touched.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Fuzz fedledger's decoders: gossip, fetch/sync, stored state, ledger files, configs, keys, CSV.
#[derive(Debug, Parser)]
#[command(name = "fedledger-fuzz")]
struct Args {
    /// Target name, a comma-separated list, or `all` (see --list).
    #[arg(long, default_value = "all")]
    target: String,
    /// Cases per target.
    #[arg(long, default_value_t = 1_000_000)]
    cases: u64,
    /// Base seed (runs with the same seed, target and thread count are identical).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads per target.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Where failing inputs are written.
    #[arg(long, default_value = "target/fuzz-crashes")]
    crash_dir: PathBuf,
    /// A case slower than this many milliseconds fails.
    #[arg(long, default_value_t = 1000)]
    slow_ms: u64,
    /// Stop each target after this many seconds even if its cases are not done.
    #[arg(long)]
    max_seconds: Option<u64>,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 10)]
    progress_secs: u64,
    /// Keep going after a round-trip, slow or allocation failure (panics always stop a target).
    #[arg(long)]
    keep_going: bool,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
    /// Replay one input file against --target (one name) and print what the decoder did.
    #[arg(long, value_name = "FILE")]
    reproduce: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.list {
        for t in fuzz::targets::ALL {
            println!("{:<18} {}", t.name, t.about);
        }
        return Ok(());
    }
    let targets: Vec<&fuzz::Target> = if args.target == "all" {
        fuzz::targets::ALL.iter().collect()
    } else {
        args.target
            .split(',')
            .map(|n| {
                fuzz::target(n.trim()).with_context(|| format!("no target `{n}` (see --list)"))
            })
            .collect::<Result<_>>()?
    };
    if let Some(file) = &args.reproduce {
        let [t] = targets.as_slice() else {
            bail!("--reproduce needs exactly one --target");
        };
        let input = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        // Twice: the first call also pays one-time initialisation (caches, thread pools), which
        // the fuzz loop pays before its first case.
        let _ = fuzz::run_case(t, &input);
        let r = fuzz::run_case(t, &input);
        println!(
            "{}: {} bytes, {:.3} ms, peak allocation {} bytes",
            t.name,
            input.len(),
            r.time.as_secs_f64() * 1e3,
            r.alloc
        );
        match r.outcome {
            Ok(Outcome::Accepted) => println!("accepted"),
            Ok(Outcome::Rejected) => println!("rejected with an error"),
            Ok(Outcome::RoundTrip(m)) => bail!("round-trip violation: {m}"),
            Err(m) => bail!("panic: {m}"),
        }
        return Ok(());
    }

    let mut cfg = RunConfig::new(args.cases, args.seed, args.threads, args.crash_dir.clone());
    cfg.slow = Duration::from_millis(args.slow_ms);
    cfg.stop_on_failure = !args.keep_going;
    cfg.time_limit = args.max_seconds.map(Duration::from_secs);
    let every = Duration::from_secs(args.progress_secs.max(1));
    let mut reports: Vec<Report> = Vec::new();
    for t in &targets {
        println!(
            "{}: {} cases, {} thread(s), seed {}",
            t.name, cfg.cases, cfg.threads, cfg.seed
        );
        let r = fuzz::run_target(t, &cfg, every, &mut |done, el| {
            println!(
                "  {}: {done} cases, {:.0} cases/s",
                t.name,
                done as f64 / el.as_secs_f64().max(1e-9)
            );
        });
        for f in &r.failures {
            println!("FAILED {}: {} -> {}", f.target, f.kind, f.file.display());
        }
        println!(
            "  {}: done, {} cases in {:.1} s ({:.0} cases/s), {} accepted",
            r.target,
            r.cases,
            r.seconds,
            r.rate(),
            r.accepted
        );
        // A panic stops its target (the rest of its cases would mostly hit it again); the other
        // targets still run, and the exit status reports it.
        reports.push(r);
    }

    println!();
    println!(
        "| target | cases | accepted | seconds | cases/s | slowest case | peak alloc | failures |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &reports {
        println!(
            "| {} | {} | {} | {:.1} | {:.0} | {:.1} ms | {} KiB | {} |",
            r.target,
            r.cases,
            r.accepted,
            r.seconds,
            r.rate(),
            r.slowest.as_secs_f64() * 1e3,
            r.peak_alloc / 1024,
            r.failures.len()
        );
    }
    let failures: Vec<_> = reports.iter().flat_map(|r| r.failures.iter()).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!("{}: {} (input: {})", f.target, f.kind, f.file.display());
        }
        std::process::exit(1);
    }
}
