//! The accountant against dp-accounting's reference vectors (epsilon to 1e-6 relative, same order).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::DpSpend;
use fedledger_ledger::privacy::{epsilon, ORDERS};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    delta: f64,
    rounds: Vec<DpSpend>,
    epsilon: f64,
    optimal_order: f64,
}

const COMMITTED: &str = include_str!("data/dp.json");

fn check(text: &str, source: &str) {
    let vectors: Vectors = serde_json::from_str(text).unwrap();
    assert!(!vectors.cases.is_empty(), "{source}: no cases");
    for case in &vectors.cases {
        let got = epsilon(&case.rounds, case.delta).unwrap();
        let rel = ((got.epsilon - case.epsilon) / case.epsilon).abs();
        assert!(
            rel <= 1e-6,
            "{source} / {}: epsilon {} vs reference {} (relative error {rel:e})",
            case.name,
            got.epsilon,
            case.epsilon
        );
        assert!(
            ORDERS.contains(&case.optimal_order),
            "{source} / {}",
            case.name
        );
        assert_eq!(
            got.order, case.optimal_order,
            "{source} / {}: optimal order",
            case.name
        );
    }
}

#[test]
fn committed_vectors_match() {
    check(COMMITTED, "ledger/tests/data/dp.json");
}

/// The shared copy, when present, guards against the committed copy drifting from it.
#[test]
fn shared_vectors_match_when_present() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/dp.json");
    let alt = Path::new("/work/shared/vectors/dp.json");
    for p in [shared.as_path(), alt] {
        if let Ok(text) = std::fs::read_to_string(p) {
            check(&text, &p.display().to_string());
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                serde_json::from_str::<serde_json::Value>(COMMITTED).unwrap(),
                "{} differs from the committed copy",
                p.display()
            );
        }
    }
}
