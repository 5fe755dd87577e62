//! `fedledger privacy`: differential-privacy accounting.

use fedledger_ledger::block::DpSpend;
use fedledger_ledger::privacy;
use std::process::ExitCode;
use std::str::FromStr;

/// Differential-privacy accounting with the ledger's own accountant.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Epsilon of a schedule of DP-SGD rounds at a given delta (RDP of the Poisson-subsampled
    /// Gaussian, composed, converted with Balle et al. 2020), and the optimal Rényi order.
    Epsilon(EpsilonArgs),
}

/// Arguments of `privacy epsilon`.
#[derive(Debug, clap::Args)]
pub struct EpsilonArgs {
    /// Target delta.
    #[arg(long)]
    delta: f64,
    /// A round as Q:SIGMA:STEPS (sampling rate, noise multiplier, steps); repeat for more rounds.
    #[arg(long = "round", value_name = "Q:SIGMA:STEPS", required = true)]
    rounds: Vec<RoundArg>,
    /// Print {"epsilon", "optimal_order", "delta", "rounds"} as JSON.
    #[arg(long)]
    json: bool,
}

/// One `Q:SIGMA:STEPS` argument.
#[derive(Debug, Clone, Copy)]
pub struct RoundArg(DpSpend);

impl FromStr for RoundArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [q, sigma, steps] = parts.as_slice() else {
            return Err(format!("expected Q:SIGMA:STEPS, found {s:?}"));
        };
        let num = |x: &str, what: &str| {
            x.trim()
                .parse::<f64>()
                .map_err(|_| format!("{what} {x:?} is not a number"))
        };
        Ok(RoundArg(DpSpend {
            sampling_rate: num(q, "sampling rate")?,
            noise_multiplier: num(sigma, "noise multiplier")?,
            steps: steps
                .trim()
                .parse()
                .map_err(|_| format!("steps {steps:?} is not a whole number"))?,
        }))
    }
}

/// Run it.
pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Epsilon(a) => {
            let rounds: Vec<DpSpend> = a.rounds.iter().map(|r| r.0).collect();
            let e = privacy::epsilon(&rounds, a.delta)?;
            if a.json {
                super::print_json(&serde_json::json!({
                    "epsilon": e.epsilon,
                    "optimal_order": e.order,
                    "delta": a.delta,
                    "rounds": rounds,
                }))?;
            } else {
                println!(
                    "epsilon = {} at delta = {:e} (optimal Rényi order {})",
                    e.epsilon, a.delta, e.order
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
