//! `fedledger status`: what a running node is doing, for a person (or as JSON).

use super::testnet::http_get;
use anyhow::Context;
use fedledger_node::daemon::Status;
use std::process::ExitCode;

/// Show a node's status: height, view, phase, peers, last block and model, this member's privacy
/// budget, every member's committed epsilon, pending membership requests and the last round's
/// accuracy. Reads `GET /status` from the node's status listener (loopback by default).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node's status address (host:port, `[status] listen` in its config).
    #[arg(long, value_name = "ADDR")]
    pub node: String,
    /// Print the node's JSON as is.
    #[arg(long)]
    pub json: bool,
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let body = http_get(&a.node, "/status")
        .with_context(|| format!("no fedledger node status at {} (is the node running, and is this its [status] listen address?)", a.node))?;
    let s: Status = serde_json::from_str(&body).context("the node's /status is not valid JSON")?;
    if a.json {
        super::print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "node        {} ({}){}",
        s.name,
        short(&s.org),
        if s.member { "" } else { "  [not a validator]" }
    );
    println!("chain       {}", short(&s.chain_id));
    println!(
        "height      {}  view {}  phase {}",
        s.height, s.view, s.phase
    );
    println!("peers       {}", s.peers);
    println!(
        "last block  {}",
        if s.last_block_hash.is_empty() {
            "-"
        } else {
            &s.last_block_hash
        }
    );
    println!("model       {}", s.model_hash);
    let b = &s.budget;
    println!(
        "budget      epsilon {:.4} on the ledger, {:.4} released, cap {:.4}, {:.4} left{}",
        b.spent,
        b.released,
        b.cap,
        b.left,
        if b.exhausted {
            "  EXHAUSTED: no longer contributing, still validating"
        } else {
            ""
        }
    );
    if let Some(m) = &s.last_metrics {
        println!(
            "last round  {}: accuracy {:.4}  auc {:.4}  loss {:.4}  excluded {}",
            m.round, m.accuracy, m.auc, m.loss, s.last_excluded
        );
    }
    if !s.members.is_empty() {
        println!("members");
        for m in &s.members {
            println!(
                "  {:<10} {:<20} epsilon {:>8.4} / {:.4}",
                short(&m.org),
                m.name,
                m.epsilon_spent,
                m.epsilon_max
            );
        }
    }
    for r in &s.pending_requests {
        println!(
            "pending     {} {} with {} approvals{}",
            short(&r.org),
            r.action,
            r.approvals,
            if r.approved_here {
                " (approved here)"
            } else {
                ""
            }
        );
    }
    if let Some(t) = &s.trainer {
        println!(
            "trainer     external at {}: round {} {}, {} released, {} refused",
            t.api,
            t.offered_round,
            if t.open { "open" } else { "closed" },
            t.accepted,
            t.refused
        );
    }
    for l in &s.listen {
        println!("listen      {l}");
    }
    Ok(ExitCode::SUCCESS)
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(8)]
}
