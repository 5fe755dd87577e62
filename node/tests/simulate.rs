//! The simulator's acceptance checks on synthetic data (issue 3 "Done when", scaled to run in
//! seconds): federated vs centralized AUC without and with DP, robust rules under attack vs plain
//! mean, and the per-round ledger records being consistent and reproducible.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_node::learn::aggregate::{aggregate, Rule, UpdateRef};
use fedledger_node::learn::attack::Attack;
use fedledger_node::learn::data::synth;
use fedledger_node::learn::model::{model_hash, update_hash};
use fedledger_node::learn::simulate::{
    DataSource, Noise, RoundRecord, SimConfig, SimReport, Simulation,
};
use fedledger_node::learn::LearnError;

fn base() -> SimConfig {
    SimConfig {
        data: DataSource::Synthetic { rows_per_org: 1000 },
        orgs: 8,
        partition: "dirichlet:0.5".parse().unwrap(),
        rounds: 20,
        seed: 7,
        ..SimConfig::default()
    }
}

fn run(cfg: SimConfig) -> SimReport {
    Simulation::new(cfg).unwrap().run(|_, _| Ok(())).unwrap()
}

#[test]
fn federated_without_dp_matches_centralized_within_001() {
    let r = run(base());
    let (fed, central) = (r.final_metrics.auc, r.centralized.auc);
    eprintln!("no DP: federated AUC {fed:.4}, centralized {central:.4}");
    assert!(central > 0.75, "the ground truth is learnable: {central}");
    assert!(
        (fed - central).abs() <= 0.01,
        "federated {fed} vs centralized {central}"
    );
    assert!(r
        .rounds
        .iter()
        .all(|x| x.epsilon.is_none() && x.excluded == 0));
    // Training makes progress: the last round beats the first.
    assert!(r.rounds[19].loss < r.rounds[0].loss);
}

#[test]
fn federated_at_epsilon_3_is_within_003_and_spends_exactly_the_target() {
    let r = run(SimConfig {
        noise: Noise::TargetEpsilon(3.0),
        delta: 1e-5,
        ..base()
    });
    let (fed, central) = (r.final_metrics.auc, r.centralized.auc);
    eprintln!("epsilon 3: federated AUC {fed:.4}, centralized {central:.4}");
    assert!(
        central - fed <= 0.03,
        "federated {fed} vs centralized {central}"
    );
    let eps: Vec<f64> = r.rounds.iter().map(|x| x.epsilon.unwrap()).collect();
    assert!(
        eps.windows(2).all(|w| w[1] > w[0]),
        "epsilon grows every round: {eps:?}"
    );
    // Calibration lands each organization on the target (from below) after the planned rounds.
    for o in &r.orgs {
        let e = o.epsilon.unwrap();
        assert!(e <= 3.0 && e > 2.99, "org {} spent {e}", o.org);
        assert!(o.noise_multiplier > 0.3);
    }
}

fn attacked(rule: &str, attack: Option<&str>) -> f64 {
    run(SimConfig {
        rule: rule.into(),
        rule_f: Some(2),
        byzantine: if attack.is_some() { 2 } else { 0 },
        attack: attack.map(|a| a.parse::<Attack>().unwrap()),
        ..base()
    })
    .final_metrics
    .auc
}

/// Two of eight members attack. Median and trimmed mean stay within 0.03 of the clean (plain
/// mean, no attacker) run. Krum keeps one member's update per round, which under Dirichlet(0.5)
/// label skew costs AUC even with no attacker at all (here ~0.04 at seed 7), so Krum under
/// attack is held to within 0.03 of Krum without attack. Plain mean collapses under sign flip.
#[test]
fn robust_rules_hold_under_attack_and_plain_mean_does_not() {
    let clean = run(base()).final_metrics.auc;
    let mean_flipped = attacked("mean", Some("sign-flip"));
    eprintln!("clean {clean:.4}; mean under sign-flip {mean_flipped:.4}");
    assert!(
        clean - mean_flipped > 0.1,
        "mean should visibly degrade: {mean_flipped} vs {clean}"
    );
    let krum_clean = attacked("krum", None);
    eprintln!("krum without attack {krum_clean:.4}");
    for rule in ["krum", "median", "trimmed-mean"] {
        let reference = if rule == "krum" { krum_clean } else { clean };
        for attack in ["sign-flip", "alie"] {
            let auc = attacked(rule, Some(attack));
            eprintln!("{rule} under {attack}: {auc:.4}");
            assert!(
                reference - auc <= 0.03,
                "{rule} under {attack}: {auc} vs {reference}"
            );
        }
    }
}

#[test]
fn round_records_are_consistent_and_reproducible() {
    let cfg = SimConfig {
        rounds: 4,
        byzantine: 2,
        attack: Some(Attack::Gaussian { std: 1.0 }),
        rule: "median".into(),
        noise: Noise::Multiplier(1.0),
        ..base()
    };
    let sim = Simulation::new(cfg.clone()).unwrap();
    let mut records: Vec<RoundRecord> = Vec::new();
    let report = sim
        .run(|rec, row| {
            assert_eq!(rec.round, row.round);
            assert_eq!(rec.new_model.to_hex(), row.model_hash);
            records.push(rec.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!(records[0].base_model, model_hash(sim.initial_model()));
    let mut model = sim.initial_model().to_vec();
    for rec in &records {
        // A validator's replay: recompute the rule on the recorded updates and step the model.
        assert_eq!(rec.base_model, model_hash(&model));
        let refs: Vec<UpdateRef<'_>> = rec
            .updates
            .iter()
            .map(|u| UpdateRef {
                id: u.update_hash,
                delta: &u.update,
            })
            .collect();
        let agg = aggregate(&Rule::Median, &refs, rec.f).unwrap();
        assert_eq!(rec.aggregate_hash, update_hash(&agg.aggregate));
        for (m, a) in model.iter_mut().zip(&agg.aggregate) {
            *m += *a;
        }
        assert_eq!(rec.new_model, model_hash(&model));
        assert_eq!(
            rec.outcomes.iter().map(|o| o.included).collect::<Vec<_>>(),
            agg.outcomes.iter().map(|o| o.included).collect::<Vec<_>>()
        );
        assert_eq!(rec.updates.len(), 8);
        assert_eq!(rec.outcomes.len(), 8);
        assert_eq!(rec.rule, "median");
        for (k, u) in rec.updates.iter().enumerate() {
            assert_eq!(u.org, k);
            assert_eq!(u.update_hash, update_hash(&u.update));
            assert_eq!(u.byzantine, k >= 6);
            assert_eq!(u.dp.noise_multiplier, 1.0);
            assert!(u.dp.steps > 0 && u.dp.sampling_rate > 0.0 && u.dp.sampling_rate <= 1.0);
            assert!(u.epsilon_total.unwrap() > 0.0);
            assert!(u.num_examples > 0 && u.metrics.examples > 0);
            assert!((0.0..=1.0).contains(&u.metrics.auc));
        }
        assert_eq!(
            rec.base_metrics.examples,
            rec.updates.iter().map(|u| u.metrics.examples).sum::<u64>()
        );
    }
    assert_eq!(
        report.final_model_hash,
        records.last().unwrap().new_model.to_hex()
    );
    for w in records.windows(2) {
        assert_eq!(w[1].base_model, w[0].new_model, "rounds chain");
    }
    // Same config, same bits, whatever the number of threads training runs on.
    let again = run(cfg.clone());
    assert_eq!(again, report);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let single = pool.install(|| run(cfg));
    assert_eq!(single, report);
}

#[test]
fn csv_source_matches_the_synthetic_generator() {
    let dir = tempfile::tempdir().unwrap();
    let table = synth::generate(&synth::SynthConfig {
        orgs: 4,
        rows_per_org: 300,
        seed: 3,
    });
    let data = dir.path().join("d.csv");
    let schema = dir.path().join("s.toml");
    std::fs::write(&data, synth::to_csv(&table)).unwrap();
    std::fs::write(&schema, synth::SCHEMA_TOML).unwrap();
    let cfg = SimConfig {
        orgs: 4,
        rounds: 3,
        seed: 3,
        partition: "column:org".parse().unwrap(),
        ..SimConfig::default()
    };
    let from_synth = run(SimConfig {
        data: DataSource::Synthetic { rows_per_org: 300 },
        ..cfg.clone()
    });
    let from_csv = run(SimConfig {
        data: DataSource::Csv { path: data, schema },
        ..cfg
    });
    assert_eq!(from_csv.final_model_hash, from_synth.final_model_hash);
    assert_eq!(from_csv.final_metrics, from_synth.final_metrics);
}

#[test]
fn bad_configs_and_callback_errors_are_reported() {
    let err = |cfg: SimConfig| Simulation::new(cfg).unwrap_err().to_string();
    assert!(err(SimConfig {
        byzantine: 2,
        ..base()
    })
    .contains("attack"));
    assert!(err(SimConfig {
        byzantine: 8,
        ..base()
    })
    .contains("honest"));
    let e = err(SimConfig {
        rule: "krum".into(),
        rule_f: Some(3),
        ..base()
    });
    assert!(e.contains("2f+3"), "{e}");
    assert!(err(SimConfig {
        rule: "nope".into(),
        ..base()
    })
    .contains("nope"));
    let e = err(SimConfig {
        data: DataSource::Csv {
            path: "/nonexistent/d.csv".into(),
            schema: "/nonexistent/s.toml".into(),
        },
        ..base()
    });
    assert!(e.contains("/nonexistent/s.toml"), "{e}");
    let sim = Simulation::new(SimConfig {
        rounds: 5,
        ..base()
    })
    .unwrap();
    let mut seen = 0;
    let e = sim
        .run(|_, r| {
            seen += 1;
            if r.round == 2 {
                Err(LearnError::Config {
                    what: "ledger",
                    reason: "disk full".into(),
                })
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert_eq!(seen, 2);
    assert!(e.to_string().contains("disk full"));
}
