//! `fedledger-node sim`: run scenarios over many seeds and report property violations.

use anyhow::{bail, Result};
use clap::Args;
use fedledger_node::consensus::sim::{run_many_broken, BrokenRule, Scenario, Summary};
use std::process::ExitCode;
use std::time::Instant;

/// Options of `sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Seeds per scenario.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// First seed (seeds are first..first+N); use with `--seeds 1` to reproduce one run.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Only this scenario (default: all). One of: all_online, crashed_minority,
    /// equivocating_leader, invalid_proposal, partition_heals, lossy_network,
    /// restart_mid_round, membership_change.
    #[arg(long)]
    scenario: Option<String>,
    /// Re-run every K-th seed and compare traces (0 = never).
    #[arg(long, default_value_t = 10)]
    determinism_every: u64,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Make honest nodes break a safety rule (`vote-twice`), to see the checks fail.
    #[arg(long, hide = true)]
    break_rule: Option<String>,
}

/// Run the simulator; exit code 1 if any property was violated.
pub fn run(a: SimArgs) -> Result<ExitCode> {
    let scenarios: Vec<Scenario> = match &a.scenario {
        None => Scenario::ALL.to_vec(),
        Some(name) => match Scenario::from_name(name) {
            Some(s) => vec![s],
            None => {
                let names: Vec<&str> = Scenario::ALL.iter().map(Scenario::name).collect();
                bail!("unknown scenario {name:?}; one of {}", names.join(", "));
            }
        },
    };
    let Some(end) = a.first_seed.checked_add(a.seeds) else {
        bail!("--first-seed + --seeds overflows");
    };
    let broken = match a.break_rule.as_deref() {
        None => None,
        Some("vote-twice") => Some(BrokenRule::VoteTwice),
        Some(other) => bail!("unknown rule {other:?}; the only one is vote-twice"),
    };
    let start = Instant::now();
    if !a.json {
        println!(
            "{:<20} {:>6} {:>8} {:>7} {:>9} {:>8} {:>8} {:>11} {:>9}",
            "scenario",
            "runs",
            "heights",
            "views",
            "agreement",
            "validity",
            "liveness",
            "determinism",
            "wall"
        );
    }
    let mut summaries: Vec<Summary> = Vec::new();
    for s in scenarios {
        let sum = run_many_broken(s, a.first_seed..end, a.determinism_every, broken);
        if !a.json {
            println!(
                "{:<20} {:>6} {:>8} {:>7} {:>9} {:>8} {:>8} {:>11} {:>8.1}s",
                sum.scenario,
                sum.runs,
                sum.heights,
                sum.view_changes,
                sum.agreement,
                sum.validity,
                sum.liveness,
                format!("{}/{}", sum.determinism, sum.determinism_checked),
                sum.wall_ms as f64 / 1000.0
            );
        }
        summaries.push(sum);
    }
    let wall = start.elapsed().as_secs_f64();
    let failed = summaries.iter().any(Summary::failed);
    if a.json {
        let doc = serde_json::json!({
            "seeds": a.seeds,
            "first_seed": a.first_seed,
            "wall_seconds": wall,
            "ok": !failed,
            "scenarios": summaries,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let runs: u64 = summaries.iter().map(|s| s.runs).sum();
        let heights: u64 = summaries.iter().map(|s| s.heights).sum();
        println!("total: {runs} runs, {heights} heights finalized, {wall:.1}s");
    }
    for s in summaries.iter().filter(|s| s.failed()) {
        for (seed, what) in s.failures.iter().take(5) {
            eprintln!(
                "VIOLATION {} seed {seed}: {what}\n  reproduce: fedledger-node sim --scenario {} --first-seed {seed} --seeds 1{}",
                s.scenario,
                s.scenario,
                a.break_rule
                    .as_deref()
                    .map(|r| format!(" --break-rule {r}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
