//! `fedledger monitor`: watch a consortium's log from outside. Poll nodes (and other
//! monitors), verify every new block incrementally, check every checkpoint seen anywhere
//! against the history verified so far, cosign consistent checkpoints as a witness, and raise
//! an alarm with both signed checkpoints as evidence on a split view or a rewrite.

mod alarm;
mod poll;
mod serve;
mod view;

use anyhow::Context;
use fedledger_ledger::tlog::WitnessKey;
use fedledger_ledger::{Genesis, OrgKey};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const TARGET: &str = "fedledger::monitor";

/// Watch a consortium's transparency log: poll each --peer (a node's status listener, or
/// another monitor's --listen), verify the new blocks against the genesis (as `audit --since`
/// does), check that every signed checkpoint seen is consistent with the history verified so
/// far, and cosign the checkpoints it verified (C2SP tlog-cosignature) when given a witness
/// key.
///
/// A checkpoint of a verified size with another root (a split view), one that does not extend
/// the verified history (a rewrite), blocks that break a ledger rule or replace a verified
/// block, and a checkpoint whose blocks have another root all raise an alarm: a log line, a
/// JSON evidence file in STATE/alarms/ holding both signed checkpoints, the
/// fedledger_monitor_alarms_total counter on --listen's /metrics, and exit status 1 when the
/// monitor stops (after --polls, or at once with --exit-on-alarm). Exit status 0 when it
/// stopped without an alarm, 2 on an unusable state directory or genesis.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The consortium's genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// HOST:PORT of a node's status listener or another monitor's --listen (repeatable).
    #[arg(
        long = "peer",
        value_name = "HOST:PORT",
        required_unless_present = "print_vkey"
    )]
    peers: Vec<String>,
    /// The monitor's state directory (verified history, latest checkpoint, alarms). Keep it:
    /// a restarted monitor goes on from it, and a history rewritten meanwhile is caught.
    #[arg(long, value_name = "DIR", required_unless_present = "print_vkey")]
    state: Option<PathBuf>,
    /// An ed25519 key file (`fedledger keygen`) to cosign verified checkpoints with.
    #[arg(long, value_name = "FILE")]
    witness_key: Option<PathBuf>,
    /// The witness's name in its cosignatures (a schema-less URL, e.g. monitor.bank-a.example).
    #[arg(long, value_name = "NAME", default_value = "fedledger-monitor")]
    witness_name: String,
    /// Print the witness's C2SP verifier key (for a genesis's [transparency] witnesses) and exit.
    #[arg(long, requires = "witness_key")]
    print_vkey: bool,
    /// Serve GET /checkpoint (the latest verified, cosigned checkpoint) and GET /metrics here.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Seconds between polls.
    #[arg(long, default_value_t = 5)]
    interval: u64,
    /// Stop after this many polls (0: run until interrupted).
    #[arg(long, default_value_t = 0)]
    polls: u64,
    /// Stop at the first alarm.
    #[arg(long)]
    exit_on_alarm: bool,
    /// Seconds to wait for a peer's answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Print one JSON line per poll and per alarm on stdout.
    #[arg(long)]
    json: bool,
}

/// The witness identity, if the monitor cosigns.
pub struct Witness {
    name: String,
    key: OrgKey,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness").field("name", &self.name).finish()
    }
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let witness = match &a.witness_key {
        Some(p) => Some(Witness {
            name: a.witness_name.clone(),
            key: OrgKey::read_from(p).with_context(|| format!("reading {}", p.display()))?,
        }),
        None => None,
    };
    if a.print_vkey {
        let w = witness
            .as_ref()
            .context("--print-vkey needs --witness-key")?;
        println!("{}", WitnessKey::of(&w.name, &w.key)?.vkey());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(w) = &witness {
        WitnessKey::of(&w.name, &w.key).context("--witness-name")?;
    }
    let genesis = Genesis::load(&a.genesis)?;
    let dir = a.state.clone().context("--state DIR is required")?;
    let view = view::View::open(&genesis, &dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let metrics = serve::Metrics::default();
        let mut monitor = poll::Monitor::new(
            view,
            dir,
            witness,
            metrics.clone(),
            Duration::from_secs(a.timeout.max(1)),
            a.json,
        );
        if let Some(addr) = &a.listen {
            let addr = addr
                .parse()
                .with_context(|| format!("--listen {addr}: not HOST:PORT"))?;
            let local = serve::serve(addr, monitor.served(), metrics.clone()).await?;
            tracing::info!(target: TARGET, %local, "serving /checkpoint and /metrics");
        }
        let mut n = 0u64;
        loop {
            monitor.poll_all(&a.peers).await;
            n += 1;
            if (a.exit_on_alarm && monitor.alarms() > 0) || (a.polls > 0 && n >= a.polls) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(a.interval.max(1))) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        Ok(if monitor.alarms() > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}
