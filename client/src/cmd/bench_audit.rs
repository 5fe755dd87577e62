//! `fedledger bench audit`: the cost of a full audit against an incremental one (`--since`)
//! on a synthetic, fully signed ledger.

use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::testutil::TestChain;
use fedledger_ledger::verify::{audit, audit_since, AuditorState};
use serde::Serialize;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `bench audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Blocks in the ledger.
    #[arg(long, default_value_t = 10_000)]
    blocks: u64,
    /// Members, each contributing a signed update, budget spend and finalize vote per block.
    #[arg(long, default_value_t = 16)]
    members: usize,
    /// Blocks the incremental audit verifies (the last ones).
    #[arg(long, default_value_t = 100)]
    tail: u64,
    /// Timed runs of each audit.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct AuditBench {
    blocks: u64,
    members: usize,
    tail: u64,
    runs: usize,
    build_s: f64,
    full_median_s: f64,
    incremental_median_s: f64,
    /// Incremental over full, in percent.
    ratio_percent: f64,
    state_bytes: usize,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Run it.
pub fn run(a: AuditArgs) -> anyhow::Result<ExitCode> {
    if a.members < 4 || a.blocks == 0 || a.runs == 0 || a.tail == 0 || a.tail > a.blocks {
        anyhow::bail!("needs --members >= 4, --runs >= 1 and 1 <= --tail <= --blocks");
    }
    let progress = std::io::stderr().is_terminal();
    let f = u32::try_from((a.members - 1) / 3)?;
    let started = Instant::now();
    let mut chain = TestChain::new(a.members, f, "median");
    let store = SledStore::temporary()?;
    for h in 1..=a.blocks {
        store.append(&chain.next_block())?;
        if progress && h % 100 == 0 {
            eprint!("\rbuilding block {h} / {}", a.blocks);
        }
    }
    store.flush()?;
    if progress {
        eprint!("\r\x1b[K");
    }
    let build_s = started.elapsed().as_secs_f64();
    let genesis = chain.genesis.clone();
    let split = a.blocks - a.tail;
    let first = audit_since(
        &genesis,
        AuditorState::genesis(&genesis),
        store.blocks(1).take(usize::try_from(split)?),
        |_, _| {},
    )?;
    anyhow::ensure!(
        first.outcome.violation.is_none(),
        "the synthetic ledger is invalid"
    );
    let state_bytes = first.state.encode();
    let mut full = Vec::with_capacity(a.runs);
    let mut incremental = Vec::with_capacity(a.runs);
    for run in 0..a.runs {
        if progress {
            eprint!("\rrun {} / {}", run + 1, a.runs);
        }
        let t = Instant::now();
        let out = audit(&genesis, store.blocks(1), |_, _| {});
        full.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(out.violation.is_none() && out.report.height == a.blocks);
        let t = Instant::now();
        let state = AuditorState::decode(&state_bytes)?;
        let out = audit_since(&genesis, state, store.blocks(split.max(1)), |_, _| {})?;
        incremental.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(out.outcome.violation.is_none() && out.state.height() == a.blocks);
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    let (full_median_s, incremental_median_s) = (median(full), median(incremental));
    let r = AuditBench {
        blocks: a.blocks,
        members: a.members,
        tail: a.tail,
        runs: a.runs,
        build_s,
        full_median_s,
        incremental_median_s,
        ratio_percent: 100.0 * incremental_median_s / full_median_s,
        state_bytes: state_bytes.len(),
    };
    if a.json {
        super::print_json(&r)?;
    } else {
        println!(
            "ledger: {} blocks, {} members (built and signed in {:.1} s); auditor state {} bytes",
            r.blocks, r.members, r.build_s, r.state_bytes
        );
        println!(
            "full audit of {} blocks:        {:.3} s (median of {})",
            r.blocks, r.full_median_s, r.runs
        );
        println!(
            "incremental audit of the last {}: {:.4} s (median of {}) = {:.2}% of the full audit",
            r.tail, r.incremental_median_s, r.runs, r.ratio_percent
        );
    }
    Ok(ExitCode::SUCCESS)
}
