//! The optimized colluding attacks in a small simulated federation: min-max and min-sum pull the
//! plain mean below the clean run, every attacker sends the same update, and runs reproduce.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_node::learn::attack::Attack;
use fedledger_node::learn::simulate::{DataSource, RoundRecord, SimConfig, SimReport, Simulation};

fn small(attack: Option<&str>, rule: &str) -> SimConfig {
    SimConfig {
        data: DataSource::Synthetic { rows_per_org: 300 },
        orgs: 6,
        partition: "dirichlet:0.5".parse().unwrap(),
        rounds: 5,
        rule: rule.into(),
        rule_f: Some(2),
        byzantine: if attack.is_some() { 2 } else { 0 },
        attack: attack.map(|a| a.parse::<Attack>().unwrap()),
        seed: 11,
        ..SimConfig::default()
    }
}

fn run(cfg: SimConfig) -> (SimReport, Vec<RoundRecord>) {
    let mut records = Vec::new();
    let report = Simulation::new(cfg)
        .unwrap()
        .run(|rec, _| {
            records.push(rec.clone());
            Ok(())
        })
        .unwrap();
    (report, records)
}

#[test]
fn min_max_and_min_sum_lower_the_plain_means_auc() {
    let (clean, _) = run(small(None, "mean"));
    let clean = clean.final_metrics.auc;
    for attack in ["min-max:unit", "min-sum:unit"] {
        let (r, records) = run(small(Some(attack), "mean"));
        let auc = r.final_metrics.auc;
        eprintln!("clean {clean:.4}; mean under {attack} {auc:.4}");
        assert!(clean - auc > 0.05, "{attack}: {auc} vs clean {clean}");
        for rec in &records {
            let sent: Vec<&Vec<f32>> = rec
                .updates
                .iter()
                .filter(|u| u.byzantine)
                .map(|u| &u.update)
                .collect();
            assert_eq!(sent.len(), 2);
            assert_eq!(sent[0], sent[1], "{attack}: the coalition sends one update");
            assert!(
                rec.updates
                    .iter()
                    .filter(|u| !u.byzantine)
                    .all(|u| u.update != *sent[0]),
                "{attack}: the malicious update is not an honest one"
            );
        }
    }
}

#[test]
fn mimic_copies_an_honest_update_and_adaptive_alie_runs_against_the_real_rule() {
    let (_, records) = run(small(Some("mimic"), "median"));
    for rec in &records {
        let honest: Vec<&Vec<f32>> = rec
            .updates
            .iter()
            .filter(|u| !u.byzantine)
            .map(|u| &u.update)
            .collect();
        for u in rec.updates.iter().filter(|u| u.byzantine) {
            assert!(honest.contains(&&u.update), "round {}", rec.round);
        }
    }
    let cfg = small(Some("alie-adaptive"), "trimmed-mean");
    let (a, _) = run(cfg.clone());
    let (b, _) = run(cfg);
    assert_eq!(
        a.final_model_hash, b.final_model_hash,
        "deterministic for a seed"
    );
}
