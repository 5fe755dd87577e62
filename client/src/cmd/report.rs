//! `fedledger report`: audit a ledger and write a self-contained HTML report with charts.

use crate::report::{self, data::ReportData};
use crate::source::{audit_source, LedgerSource};
use anyhow::Context;
use fedledger_ledger::Genesis;
use std::path::PathBuf;
use std::process::ExitCode;

/// Audit a ledger and write one self-contained HTML report (inline CSS and SVG, viewable
/// offline): the verdict, metrics, privacy budgets, contributions, fairness, membership and every
/// round with its certificate.
///
/// A ledger that fails the audit still gets a report, of the prefix that verified, with the
/// failing height and rule at the top. Exit status 0 when valid, 1 when invalid (the report is
/// written either way), 2 when the ledger or genesis could not be read or the output not written.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The consortium's genesis file; its hash is the chain id.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    #[command(flatten)]
    source: LedgerSource,
    /// Where to write the HTML report.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also write each chart as DIR/<chart>.png.
    #[arg(long, value_name = "DIR")]
    png: Option<PathBuf>,
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let genesis = Genesis::load(&a.genesis)?;
    let mut data = ReportData::default();
    let outcome = audit_source(&genesis, &a.source, |b, _| data.observe(b))?;
    let rendered = report::render(&outcome, &data);
    std::fs::write(&a.out, &rendered.html)
        .with_context(|| format!("writing {}", a.out.display()))?;
    if let Some(dir) = &a.png {
        for p in report::png::write_all(dir, &rendered.charts)? {
            println!("wrote {}", p.display());
        }
    }
    match &outcome.violation {
        None => {
            println!(
                "VALID: {} rounds; report written to {}",
                outcome.report.height,
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(v) => {
            println!(
                "INVALID at height {} (rule {}); report of the {} verified blocks written to {}",
                v.height,
                v.rule.name(),
                outcome.report.height,
                a.out.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}
