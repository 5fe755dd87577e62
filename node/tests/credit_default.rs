//! The acceptance checks on the real credit-default data when a copy is at hand (a
//! `shared/data/credit_default.csv` in an ancestor of the repository); otherwise only the schema
//! in `configs/` is checked. The same checks always run on synthetic data in `simulate.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_node::learn::data::{csv, Schema};
use fedledger_node::learn::simulate::{DataSource, Noise, SimConfig, Simulation};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schema_path() -> PathBuf {
    repo().join("configs/credit_default.schema.toml")
}

fn shared_csv() -> Option<PathBuf> {
    let repo = repo().canonicalize().ok()?;
    repo.ancestors()
        .map(|a| a.join("shared/data/credit_default.csv"))
        .find(|p| p.is_file())
}

#[test]
fn credit_default_schema_parses() {
    let s = Schema::load(&schema_path()).unwrap();
    assert_eq!(s.label.column, "default");
    assert_eq!(s.group.as_ref().unwrap().column, "student");
    assert_eq!(
        s.feature_names(),
        ["balance", "income", "student=No", "student=Yes"]
    );
}

#[test]
fn credit_default_acceptance_when_data_is_present() {
    let Some(data) = shared_csv() else {
        eprintln!("shared/data/credit_default.csv not found; skipping");
        return;
    };
    let d = csv::load(&data, &Schema::load(&schema_path()).unwrap()).unwrap();
    assert_eq!(d.len(), 10_000);
    let cfg = SimConfig {
        data: DataSource::Csv {
            path: data,
            schema: schema_path(),
        },
        orgs: 8,
        partition: "dirichlet:0.5".parse().unwrap(),
        rounds: 20,
        model: "logistic".parse().unwrap(),
        seed: 7,
        ..SimConfig::default()
    };
    let auc = |c: SimConfig| Simulation::new(c).unwrap().run(|_, _| Ok(())).unwrap();
    let clean = auc(cfg.clone());
    let (fed, central) = (clean.final_metrics.auc, clean.centralized.auc);
    eprintln!("credit_default: federated {fed:.4} centralized {central:.4}");
    assert!((fed - central).abs() <= 0.01);
    let dp = auc(SimConfig {
        noise: Noise::TargetEpsilon(3.0),
        delta: 1e-5,
        ..cfg.clone()
    })
    .final_metrics
    .auc;
    eprintln!("credit_default at epsilon 3: {dp:.4}");
    assert!(central - dp <= 0.03);
    let attacked = |rule: &str, attack: &str| {
        auc(SimConfig {
            rule: rule.into(),
            byzantine: 2,
            attack: Some(attack.parse().unwrap()),
            ..cfg.clone()
        })
        .final_metrics
        .auc
    };
    let mean_flip = attacked("mean", "sign-flip");
    eprintln!("credit_default mean under sign-flip: {mean_flip:.4}");
    assert!(fed - mean_flip > 0.1);
    for rule in ["krum", "median", "trimmed-mean"] {
        for attack in ["sign-flip", "alie"] {
            let a = attacked(rule, attack);
            eprintln!("credit_default {rule} under {attack}: {a:.4}");
            assert!(fed - a <= 0.03);
        }
    }
}
