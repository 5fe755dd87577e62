//! `fedledger simulate`: run a whole federation in one process to see what a configuration does.

use super::simulate_ledger::LedgerWriter;
use fedledger_node::learn::attack::Attack;
use fedledger_node::learn::metrics::Metrics;
use fedledger_node::learn::model::ModelKind;
use fedledger_node::learn::partition::Partition;
use fedledger_node::learn::simulate::{
    DataSource, DpPlanMode, Noise, SimConfig, SimReport, Simulation,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Simulate a federation: local DP-SGD per organization, optional attackers, robust aggregation
/// and privacy accounting, round by round, then compare with centralized training on the pooled
/// data (same model and epochs, no DP).
///
/// Without --data it uses the built-in synthetic customer data. With --ledger-out it also writes
/// the ledger this run would have produced, signed with real keys, that `fedledger audit` accepts.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A CSV file of customer records (needs --schema). Default: built-in synthetic data.
    #[arg(long, value_name = "FILE", requires = "schema")]
    data: Option<PathBuf>,
    /// The data schema (TOML): label, features, scaling, group column.
    #[arg(long, value_name = "FILE", requires = "data")]
    schema: Option<PathBuf>,
    /// Synthetic rows per organization (without --data).
    #[arg(long, default_value_t = 1000)]
    rows_per_org: usize,
    /// Number of organizations.
    #[arg(long, default_value_t = 8)]
    orgs: usize,
    /// How the data is split: iid, dirichlet:ALPHA (label skew) or column:NAME (one org per value).
    #[arg(long, default_value = "dirichlet:0.5")]
    partition: Partition,
    /// Training rounds.
    #[arg(long, default_value_t = 20)]
    rounds: u32,
    /// Model: logistic, softmax or mlp.
    #[arg(long, default_value = "logistic")]
    model: ModelKind,
    /// Hidden layer widths for an mlp, comma-separated (one or two layers).
    #[arg(long, value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Aggregation rule: mean, median, trimmed-mean, krum, multi-krum, bulyan, geometric-median,
    /// centered-clipping.
    #[arg(long, default_value = "mean")]
    rule: String,
    /// How many organizations attack (the last ones).
    #[arg(long, default_value_t = 0)]
    byzantine: usize,
    /// The rule's f (default: --byzantine).
    #[arg(long)]
    f: Option<usize>,
    /// Attack: sign-flip[:K], gaussian[:STD], scaling[:K], label-flip, alie[:Z], ipm[:EPS],
    /// min-max[:std|unit|sign], min-sum[:std|unit|sign], mimic, alie-adaptive (knows the rule).
    #[arg(long)]
    attack: Option<Attack>,
    /// Calibrate each organization's noise so that all rounds spend at most this epsilon.
    #[arg(long, conflicts_with = "noise_multiplier")]
    target_epsilon: Option<f64>,
    /// How each organization's DP-SGD settings are chosen: `fixed` (--batch, --epochs, --clip
    /// for everyone, sigma calibrated or given) or `auto` (batch, epochs, clip and sigma planned
    /// from --target-epsilon, --rounds and its own example count, as nodes do under a genesis
    /// `[dp.plan]`; --batch, --epochs and --clip are then unused).
    #[arg(long, default_value = "fixed", value_name = "fixed|auto")]
    dp_plan: DpPlanMode,
    /// A fixed DP-SGD noise multiplier instead (0 or absent with no --target-epsilon: no DP).
    #[arg(long)]
    noise_multiplier: Option<f64>,
    /// delta of the (epsilon, delta) guarantee.
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// Per-example clipping norm C.
    #[arg(long, default_value_t = 1.0)]
    clip: f32,
    /// Expected batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Local epochs per round.
    #[arg(long, default_value_t = 1)]
    epochs: u32,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1)]
    lr: f32,
    /// Seed of everything (data, partition, initial weights, sampling, noise).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also write the ledger of this run (genesis.toml, keys/, ledger/) into DIR.
    #[arg(long, value_name = "DIR")]
    ledger_out: Option<PathBuf>,
    /// Privacy cap recorded in the genesis for --ledger-out (default: the target epsilon, or the
    /// largest epsilon any organization reaches).
    #[arg(long)]
    epsilon_max: Option<f64>,
    /// After the global rounds, each organization fine-tunes the final model on its own data
    /// for this many local epochs (DP-SGD with its own settings; the extra epsilon is shown) and
    /// is scored on its own holdout, global model against personalized one.
    #[arg(long, default_value_t = 0, value_name = "EPOCHS")]
    personalize: u32,
    /// Decision threshold of a binary model: accuracy, precision, recall, F1 and the fairness
    /// gaps are taken at P(positive) >= this (written to the genesis with --ledger-out).
    #[arg(long, default_value_t = 0.5, value_name = "P")]
    threshold: f64,
    /// Print the report as JSON: {config, rounds, final, centralized, orgs, ...}.
    #[arg(long)]
    json: bool,
}

/// Run it.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let noise = match (a.target_epsilon, a.noise_multiplier) {
        (Some(e), _) => Noise::TargetEpsilon(e),
        (None, Some(s)) if s > 0.0 => Noise::Multiplier(s),
        _ => Noise::Off,
    };
    let data = match (&a.data, &a.schema) {
        (Some(path), Some(schema)) => DataSource::Csv {
            path: path.clone(),
            schema: schema.clone(),
        },
        _ => DataSource::Synthetic {
            rows_per_org: a.rows_per_org,
        },
    };
    let cfg = SimConfig {
        data,
        orgs: a.orgs,
        partition: a.partition.clone(),
        rounds: a.rounds,
        model: a.model,
        hidden: a.hidden.clone(),
        rule: a.rule.clone(),
        rule_f: a.f,
        byzantine: a.byzantine,
        attack: a.attack,
        noise,
        dp_plan: a.dp_plan,
        delta: a.delta,
        clip_norm: a.clip,
        batch_size: a.batch,
        local_epochs: a.epochs,
        lr: a.lr,
        seed: a.seed,
        personalize_epochs: a.personalize,
        decision_threshold: a.threshold,
        ..SimConfig::default()
    };
    if a.dp_plan == DpPlanMode::Auto && a.target_epsilon.is_none() {
        anyhow::bail!("--dp-plan auto plans for a target: give --target-epsilon");
    }
    if !(a.threshold > 0.0 && a.threshold < 1.0) {
        anyhow::bail!("--threshold {}: must be in (0, 1)", a.threshold);
    }
    if a.byzantine > 0 && a.attack.is_none() {
        anyhow::bail!("--byzantine {} needs --attack NAME", a.byzantine);
    }
    let sim = Simulation::new(cfg)?;
    let writer = std::cell::RefCell::new(match &a.ledger_out {
        Some(dir) => Some(LedgerWriter::create(dir, &sim, a.epsilon_max)?),
        None => None,
    });
    let total = a.rounds;
    let json = a.json;
    let mut ledger_error: Option<anyhow::Error> = None;
    let default_seed = sim.default_round_seed();
    // With a ledger, bucketing is seeded by the real previous block hash, as on a node, so a
    // deep audit of the written ledger recomputes the same rounds.
    let round_seed = |round: u64| match writer.borrow().as_ref() {
        Some(w) => w.tip_hash(),
        None => default_seed(round),
    };
    let report = sim.run_seeded(round_seed, |record, row| {
        if !json {
            let eps = row.epsilon.map(|e| format!("{e:.3}")).unwrap_or_else(|| "-".into());
            eprintln!(
                "round {:>3}/{total}  loss {:.4}  accuracy {:.4}  auc {:.4}  epsilon {eps}  excluded {}",
                row.round, row.loss, row.accuracy, row.auc, row.excluded
            );
        }
        if let Some(w) = writer.borrow_mut().as_mut() {
            if let Err(e) = w.add_round(record) {
                ledger_error = Some(e);
                return Err(fedledger_node::learn::LearnError::Config { what: "ledger output", reason: format!("writing the ledger stopped the run at round {}", record.round) });
            }
        }
        Ok(())
    });
    if let Some(e) = ledger_error {
        return Err(e);
    }
    let report = report?;
    let ledger_note = match writer.into_inner() {
        Some(w) => Some(w.finish()?),
        None => None,
    };
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let (Some(note), Some(obj)) = (&ledger_note, v.as_object_mut()) {
            obj.insert("ledger".into(), serde_json::to_value(note)?);
        }
        super::print_json(&v)?;
    } else {
        print_table(&report);
        if let Some(n) = ledger_note {
            println!();
            println!(
                "wrote a {}-block ledger to {} (chain {})",
                n.blocks, n.dir, n.chain_id
            );
            println!(
                "audit it with: fedledger audit --genesis {}/genesis.toml --data-dir {}",
                n.dir, n.dir
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_personalization(r: &SimReport) {
    if r.orgs.iter().all(|o| o.personalized.is_none()) {
        return;
    }
    println!();
    println!(
        "own holdout of each organization: the global model against its personalized one ({} local epochs)",
        r.config.personalize_epochs
    );
    println!(
        "{:<5} {:>9} {:>9} {:>10} {:>12} {:>7} {:>9} {:>13}",
        "org",
        "holdout",
        "positives",
        "global auc",
        "personal auc",
        "gain",
        "epsilon",
        "epsilon after"
    );
    let (mut helped, mut scored) = (0, 0);
    for o in &r.orgs {
        let Some(p) = &o.personalized else { continue };
        let eps = |e: Option<f64>| e.map(|e| format!("{e:.3}")).unwrap_or_else(|| "-".into());
        let informative = p.holdout_positives > 0 && p.holdout_positives < p.holdout_examples;
        let gain = p.personalized_auc - p.global_auc;
        if informative {
            scored += 1;
            helped += usize::from(gain > 0.0);
        }
        println!(
            "{:<5} {:>9} {:>9} {:>10.4} {:>12.4} {:>7} {:>9} {:>13}",
            format!("{}{}", o.org, if o.byzantine { "*" } else { "" }),
            p.holdout_examples,
            p.holdout_positives,
            p.global_auc,
            p.personalized_auc,
            if informative {
                format!("{gain:+.4}")
            } else {
                "n/a".into()
            },
            eps(o.epsilon),
            eps(p.epsilon_after)
        );
    }
    println!("personalization raised the AUC for {helped} of {scored} organizations whose holdout has both classes");
}

fn print_table(r: &SimReport) {
    println!(
        "{:>5} {:>8} {:>9} {:>7} {:>9} {:>9}",
        "round", "loss", "accuracy", "auc", "epsilon", "excluded"
    );
    for row in &r.rounds {
        let eps = row
            .epsilon
            .map(|e| format!("{e:.3}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>5} {:>8.4} {:>9.4} {:>7.4} {:>9} {:>9}",
            row.round, row.loss, row.accuracy, row.auc, eps, row.excluded
        );
    }
    println!();
    println!(
        "{:<12} {:>9} {:>7} {:>7} {:>9} {:>12} {:>12}",
        "", "accuracy", "auc", "f1", "log loss", "parity gap", "opport. gap"
    );
    let line = |name: &str, m: &Metrics| {
        println!(
            "{:<12} {:>9.4} {:>7.4} {:>7.4} {:>9.4} {:>12.4} {:>12.4}",
            name,
            m.accuracy,
            m.auc,
            m.f1,
            m.log_loss,
            m.demographic_parity_difference,
            m.equal_opportunity_difference
        );
    };
    line("federated", &r.final_metrics);
    line("centralized", &r.centralized);
    if r.consent_dropped > 0 {
        println!();
        println!(
            "{} rows without consent (the schema's consent column) were dropped before partitioning",
            r.consent_dropped
        );
    }
    print_personalization(r);
    if r.orgs.iter().any(|o| o.plan.is_some()) {
        println!();
        println!(
            "{:<5} {:>8} {:>6} {:>7} {:>6} {:>7} {:>10} {:>8}",
            "org", "examples", "batch", "epochs", "steps", "clip", "sigma", "epsilon"
        );
        for o in &r.orgs {
            if let Some(p) = &o.plan {
                println!(
                    "{:<5} {:>8} {:>6} {:>7} {:>6} {:>7.4} {:>10.4} {:>8.4}",
                    o.org,
                    o.train_examples,
                    p.batch_size,
                    p.local_epochs,
                    p.steps_per_round,
                    p.clip_norm,
                    p.noise_multiplier,
                    o.epsilon.unwrap_or(0.0)
                );
            }
        }
    }
}
