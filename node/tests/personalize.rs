//! Personalized fine-tuning in the simulator: every organization is scored on its own holdout
//! with the global model and its own fine-tuned one, the fine-tuning's privacy spend is added to
//! its epsilon, runs reproduce bit for bit, and nothing changes when it is off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_node::learn::simulate::{DataSource, Noise, SimConfig, SimReport, Simulation};

fn run(personalize_epochs: u32) -> SimReport {
    Simulation::new(SimConfig {
        data: DataSource::Synthetic { rows_per_org: 250 },
        orgs: 4,
        partition: "dirichlet:0.3".parse().unwrap(),
        rounds: 4,
        noise: Noise::TargetEpsilon(4.0),
        seed: 3,
        personalize_epochs,
        ..SimConfig::default()
    })
    .unwrap()
    .run(|_, _| Ok(()))
    .unwrap()
}

#[test]
fn personalization_is_scored_per_organization_accounted_and_reproducible() {
    let off = run(0);
    assert!(off.orgs.iter().all(|o| o.personalized.is_none()));
    let on = run(2);
    assert_eq!(on, run(2), "same seed, same bits");
    // The federation itself is untouched by what happens after it.
    assert_eq!(on.final_model_hash, off.final_model_hash);
    for o in &on.orgs {
        let p = o.personalized.as_ref().unwrap();
        assert!(p.holdout_examples > 0);
        assert!((0.0..=1.0).contains(&p.personalized_auc));
        let (before, after) = (o.epsilon.unwrap(), p.epsilon_after.unwrap());
        assert!(after > before, "org {}: {before} -> {after}", o.org);
    }
    // Under label skew, fitting each organization's own base rate is what helps: the log loss
    // summed over organizations goes down.
    let ll = |f: fn(&fedledger_node::learn::simulate::Personalization) -> f64| {
        on.orgs
            .iter()
            .map(|o| f(o.personalized.as_ref().unwrap()))
            .sum::<f64>()
    };
    assert!(ll(|p| p.personalized_log_loss) < ll(|p| p.global_log_loss));
}
