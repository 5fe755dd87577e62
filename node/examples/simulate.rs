//! Run one simulation from the command line and print its rounds and final metrics as JSON:
//! `cargo run --release -p fedledger-node --example simulate -- [DATA.csv SCHEMA.toml] key=value...`
//! (keys: orgs, partition, rounds, model, hidden, rule, byzantine, attack, eps, sigma, delta, clip,
//! batch, epochs, lr, momentum, seed, rows). The real CLI is `fedledger simulate`.

use fedledger_node::learn::simulate::{DataSource, Noise, SimConfig, Simulation};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut cfg = SimConfig::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    for a in &args {
        let Some((k, v)) = a.split_once('=') else {
            positional.push(a.clone());
            continue;
        };
        match k {
            "orgs" => cfg.orgs = v.parse()?,
            "partition" => cfg.partition = v.parse()?,
            "rounds" => cfg.rounds = v.parse()?,
            "model" => cfg.model = v.parse()?,
            "hidden" => cfg.hidden = v.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "rule" => cfg.rule = v.to_string(),
            "f" => cfg.rule_f = Some(v.parse()?),
            "byzantine" => cfg.byzantine = v.parse()?,
            "attack" => cfg.attack = Some(v.parse()?),
            "eps" => cfg.noise = Noise::TargetEpsilon(v.parse()?),
            "sigma" => cfg.noise = Noise::Multiplier(v.parse()?),
            "delta" => cfg.delta = v.parse()?,
            "clip" => cfg.clip_norm = v.parse()?,
            "batch" => cfg.batch_size = v.parse()?,
            "epochs" => cfg.local_epochs = v.parse()?,
            "lr" => cfg.lr = v.parse()?,
            "momentum" => cfg.momentum = v.parse()?,
            "seed" => cfg.seed = v.parse()?,
            "rows" => {
                cfg.data = DataSource::Synthetic {
                    rows_per_org: v.parse()?,
                }
            }
            other => anyhow::bail!("unknown key {other}"),
        }
    }
    if let [data, schema] = positional.as_slice() {
        cfg.data = DataSource::Csv {
            path: PathBuf::from(data),
            schema: PathBuf::from(schema),
        };
    }
    let sim = Simulation::new(cfg)?;
    let report = sim.run(|_, r| {
        eprintln!(
            "round {:>3} loss {:.4} acc {:.4} auc {:.4} eps {:?} excluded {} (byz {})",
            r.round, r.loss, r.accuracy, r.auc, r.epsilon, r.excluded, r.excluded_byzantine
        );
        Ok(())
    })?;
    eprintln!(
        "final auc {:.4} f1 {:.4} | centralized auc {:.4} f1 {:.4} | sigmas {:?}",
        report.final_metrics.auc,
        report.final_metrics.f1,
        report.centralized.auc,
        report.centralized.f1,
        sim.noise_multipliers()
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
