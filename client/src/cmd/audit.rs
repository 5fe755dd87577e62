//! `fedledger audit`: verify a ledger offline against its genesis.

use crate::source::{tip_height, LedgerSource};
use anyhow::Context;
use fedledger_ledger::block::Entry;
use fedledger_ledger::export::audit_export;
use fedledger_ledger::store::LedgerStore;
use fedledger_ledger::verify::{audit, AuditOutcome, AuditReport, ChainState, Violation};
use fedledger_ledger::{Block, Genesis};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Verify a ledger offline: every hash, entry root, certificate, leader, membership change and
/// privacy budget, recomputed from the genesis file alone.
///
/// Exit status 0 when the ledger is valid, 1 with the first bad height and rule otherwise,
/// 2 when it could not be read at all.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The consortium's genesis file; its hash is the chain id.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    #[command(flatten)]
    source: LedgerSource,
    /// Also print one line per round.
    #[arg(long)]
    rounds: bool,
    /// Print the result as JSON (schema: docs/audit-json.md).
    #[arg(long)]
    json: bool,
    /// Also recompute every round from the update bytes (aggregation, exclusions, model hash)
    /// and report any mismatch by height. The bytes come from the data dir's blob store, or
    /// from `--blobs` when auditing a file.
    #[arg(long)]
    deep: bool,
    /// A node's data directory to read update bytes from (with --deep and --file).
    #[arg(long, value_name = "DIR", requires = "deep")]
    blobs: Option<PathBuf>,
    /// Verify only the blocks after the auditor state in FILE (written by an earlier
    /// `--save-state`), and update FILE when they are valid. The block FILE ended at must
    /// still be in the ledger, or the history was rewritten (rule `rewrite`, exit 1). The
    /// report still covers the whole chain: the state carries the earlier blocks' totals.
    #[arg(long, value_name = "FILE", conflicts_with = "deep")]
    since: Option<PathBuf>,
    /// Write the auditor state after the last verified block to FILE (for a later `--since`;
    /// with `--since`, instead of updating that file).
    #[arg(long, value_name = "FILE", conflicts_with = "deep")]
    save_state: Option<PathBuf>,
    /// A signed checkpoint (C2SP note, e.g. from `fedledger monitor` or a node's
    /// /checkpoint): the ledger's root at its size must be the checkpoint's, and when the
    /// genesis names witnesses (`[transparency]`) enough of them must have cosigned it; the
    /// audit of such a consortium requires one (rule `checkpoint`, exit 1).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
}

/// The JSON document `--json` prints.
#[derive(Debug, Serialize)]
struct AuditJson<'a> {
    schema: &'static str,
    valid: bool,
    violation: Option<&'a Violation>,
    report: &'a AuditReport,
    rounds: Vec<RoundLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deep: Option<super::deep_audit::DeepReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incremental: Option<IncrementalJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<super::audit_checkpoint::CheckpointJson>,
}

/// `--since` / `--save-state`: what was verified this time and where the state went.
#[derive(Debug, Serialize)]
struct IncrementalJson {
    /// Height of the state the audit started from (0: the genesis).
    from: u64,
    /// Blocks verified this time.
    verified: u64,
    /// The state file written (absent when the ledger was invalid: the old state is kept).
    state_file: Option<String>,
    /// The unsigned C2SP checkpoint of the verified log.
    checkpoint: Option<String>,
}

#[derive(Debug, Serialize)]
struct RoundLine {
    height: u64,
    view: u64,
    block_hash: String,
    proposer: String,
    updates: usize,
    excluded: usize,
    membership_changes: usize,
    accuracy: Option<f64>,
    auc: Option<f64>,
    loss: Option<f64>,
    signers: usize,
}

fn round_line(b: &Block) -> RoundLine {
    let count = |k: fn(&Entry) -> bool| b.entries.iter().filter(|e| k(e)).count();
    let summary = b.entries.iter().find_map(|e| match e {
        Entry::Summary(s) => Some(&s.metrics),
        _ => None,
    });
    RoundLine {
        height: b.header.height,
        view: b.header.view,
        block_hash: b.hash().to_hex(),
        proposer: b.header.proposer.to_hex(),
        updates: count(|e| matches!(e, Entry::Update(_))),
        excluded: count(|e| matches!(e, Entry::Exclusion(_))),
        membership_changes: count(|e| matches!(e, Entry::Membership(_))),
        accuracy: summary.map(|m| m.accuracy),
        auc: summary.map(|m| m.auc),
        loss: summary.map(|m| m.loss),
        signers: b.certificate.votes.len(),
    }
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let genesis = Genesis::load(&a.genesis)?;
    let progress = std::io::stderr().is_terminal() && !a.json;
    let mut lines = Vec::new();
    let store = a.source.store()?;
    let total = store.as_ref().map(tip_height).unwrap_or(0);
    let blob_store = match (&a.blobs, a.deep, &store) {
        (Some(dir), _, _) => Some(LedgerSource::open_store(dir)?),
        (None, true, None) => anyhow::bail!(
            "--deep with --file needs --blobs DIR (a node's data dir holding the update bytes)"
        ),
        _ => None,
    };
    let mut deep = if a.deep {
        Some(super::deep_audit::DeepAudit::new(&genesis)?)
    } else {
        None
    };
    let since_state = a
        .since
        .as_deref()
        .map(super::audit_since::read_state)
        .transpose()?;
    let mut checkpoint = super::audit_checkpoint::CheckpointCheck::new(
        a.checkpoint.as_deref(),
        since_state
            .as_ref()
            .map(|s| s.log.clone())
            .unwrap_or_default(),
    )?;
    let mut on_block = |b: &Block, s: &ChainState| {
        checkpoint.on_block(&s.tip_hash());
        if a.rounds {
            lines.push(round_line(b));
        }
        if let Some(d) = deep.as_mut() {
            match (&blob_store, &store) {
                (Some(bs), _) => d.block(b, bs),
                (None, Some(st)) => d.block(b, st),
                (None, None) => {}
            }
        }
        if progress && s.height() % 1000 == 0 {
            eprint!("\raudited {} / {} blocks", s.height(), total);
        }
    };
    let incremental = match (since_state, &a.save_state) {
        (None, None) => None,
        (since, _) => {
            let state =
                since.unwrap_or_else(|| fedledger_ledger::verify::AuditorState::genesis(&genesis));
            Some(super::audit_since::run(
                &genesis,
                store.as_ref(),
                &a.source,
                state,
                &mut on_block,
            )?)
        }
    };
    let mut incremental_json = None;
    let mut outcome: AuditOutcome = if let Some(inc) = incremental {
        let valid = inc.outcome.violation.is_none();
        let target = a.save_state.as_ref().or(a.since.as_ref());
        let written = match target {
            Some(path) if valid => {
                super::audit_since::write_state(path, &inc.state)?;
                Some(path.display().to_string())
            }
            _ => None,
        };
        incremental_json = Some(IncrementalJson {
            from: inc.from,
            verified: inc.state.height().saturating_sub(inc.from),
            state_file: written,
            checkpoint: inc.state.checkpoint(),
        });
        inc.outcome
    } else if let Some(store) = &store {
        audit(&genesis, store.blocks(1), &mut on_block)
    } else {
        let path = a
            .source
            .file
            .as_ref()
            .context("--data-dir or --file is required")?;
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        match audit_export(
            &genesis,
            std::io::BufReader::with_capacity(1 << 20, f),
            &mut on_block,
        ) {
            Ok(o) => o,
            Err(fedledger_ledger::LedgerError::Invalid(v)) => AuditOutcome {
                report: ChainState::new(&genesis).report(),
                violation: Some(*v),
            },
            Err(e) => return Err(e.into()),
        }
    };
    if progress {
        eprint!("\r\x1b[K");
    }
    let deep = deep.map(super::deep_audit::DeepAudit::finish);
    let deep_ok = deep.as_ref().is_none_or(|d| d.mismatches.is_empty());
    let (checkpoint_json, checkpoint_violation) = checkpoint.finish(&genesis, &outcome.report)?;
    if outcome.violation.is_none() {
        outcome.violation = checkpoint_violation;
    }
    let valid = outcome.violation.is_none();
    if a.json {
        super::print_json(&AuditJson {
            schema: "fedledger-audit/v1",
            valid,
            violation: outcome.violation.as_ref(),
            report: &outcome.report,
            rounds: lines,
            deep,
            incremental: incremental_json,
            checkpoint: checkpoint_json,
        })?;
    } else {
        print_human(&outcome, &lines, a.rounds);
        if let Some(i) = &incremental_json {
            print_incremental(i);
        }
        if let Some(c) = &checkpoint_json {
            println!();
            println!(
                "  checkpoint    size {} root {} signed by {} member(s), cosigned by {} of {} required witness(es){}",
                c.size,
                &c.root[..16],
                c.signers.len(),
                c.cosigned_by.len(),
                c.required,
                if c.matches_ledger { "; the ledger matches it" } else { "" }
            );
        }
        if let Some(d) = &deep {
            super::deep_audit::print_deep(d);
        }
    }
    Ok(if valid && deep_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_human(o: &AuditOutcome, lines: &[RoundLine], rounds: bool) {
    let r = &o.report;
    match &o.violation {
        None => println!("fedledger audit: VALID — {} rounds verified", r.height),
        Some(v) => {
            println!(
                "fedledger audit: INVALID at height {} (rule {})",
                v.height,
                v.rule.name()
            );
            println!("  expected: {}", v.expected);
            println!("  found:    {}", v.found);
            println!(
                "  the {} blocks before it verified; summary of that prefix:",
                r.height
            );
        }
    }
    println!(
        "  consortium    {} (chain {})",
        r.consortium,
        r.chain_id.short()
    );
    println!(
        "  tip           height {} block {} model {}",
        r.height,
        r.tip.short(),
        r.model_hash.short()
    );
    println!(
        "  rule          {} with f={}, epsilon at delta={:e}",
        r.rule, r.f, r.delta
    );
    if let Some(p) = &r.purpose {
        println!("  every commitment is bound (through the chain id) to the declared purpose:");
        super::genesis::print_purpose(p, "    ");
    }
    println!(
        "  updates       {} committed, {} excluded; {} view changes",
        r.updates, r.exclusions, r.view_changes
    );
    if let Some(m) = &r.last_metrics {
        println!(
            "  last metrics  accuracy {:.4}  auc {:.4}  loss {:.4}  parity gap {:.4}  opportunity gap {:.4}",
            m.accuracy, m.auc, m.loss, m.demographic_parity_gap, m.equal_opportunity_gap
        );
        if m.groups.iter().any(|g| g.count > 0)
            && m.groups
                .iter()
                .filter(|g| g.count > 0)
                .all(|g| g.positive_rate == 0.0)
        {
            println!(
                "                (the model predicts the negative class for everybody at 0.5: accuracy is the base rate and the gaps are 0 for that reason alone)"
            );
        }
    }
    println!();
    println!(
        "  {:<10} {:<20} {:>8} {:>9} {:>10} {:>10} {:>7} {:>6}",
        "org", "name", "updates", "excluded", "epsilon", "cap", "joined", "left"
    );
    for m in &r.members {
        println!(
            "  {:<10} {:<20} {:>8} {:>9} {:>10.4} {:>10.4} {:>7} {:>6}",
            m.id.short(),
            truncate(&m.name, 20),
            m.updates,
            m.exclusions,
            m.epsilon_spent,
            m.epsilon_max,
            m.joined_at,
            m.left_at
                .map(|h| h.to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
    if !r.membership.is_empty() {
        println!();
        println!("  membership history");
        for e in &r.membership {
            println!(
                "    height {:>5}: {} {} ({}) effective at {}, {} approvals",
                e.height,
                e.action,
                e.org.short(),
                e.name,
                e.effective_height,
                e.approvals
            );
        }
    }
    if rounds {
        println!();
        println!(
            "  {:>6} {:>4} {:<10} {:<10} {:>7} {:>8} {:>8} {:>8}",
            "height", "view", "block", "proposer", "updates", "excluded", "accuracy", "auc"
        );
        for l in lines {
            println!(
                "  {:>6} {:>4} {:<10} {:<10} {:>7} {:>8} {:>8} {:>8}",
                l.height,
                l.view,
                &l.block_hash[..8],
                &l.proposer[..8],
                l.updates,
                l.excluded,
                l.accuracy
                    .map(|x| format!("{x:.4}"))
                    .unwrap_or_else(|| "-".into()),
                l.auc
                    .map(|x| format!("{x:.4}"))
                    .unwrap_or_else(|| "-".into()),
            );
        }
    }
}

fn print_incremental(i: &IncrementalJson) {
    println!();
    println!(
        "  incremental   {} new blocks verified after height {} ({})",
        i.verified,
        i.from,
        if i.from == 0 {
            "no earlier state".to_string()
        } else {
            "earlier blocks by the saved auditor state".to_string()
        }
    );
    match &i.state_file {
        Some(f) => println!("  state saved   {f}"),
        None => println!("  state         not updated (the ledger is not valid)"),
    }
    if let Some(c) = &i.checkpoint {
        let mut lines = c.lines().skip(1);
        println!(
            "  checkpoint    size {} root {}",
            lines.next().unwrap_or("?"),
            lines.next().unwrap_or("?")
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}
