//! Aggregation rules against the shared test vectors, input validation and (n, f) refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::genesis::AggregationSpec;
use fedledger_node::learn::aggregate::{aggregate, AggregateError, Rule};
use serde_json::Value;
use std::path::Path;

mod aggregate_common;
use aggregate_common::refs;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        // The vectors are decimal (f64); our inputs and outputs are f32.
        let tol = 1e-6 * w.abs().max(1.0);
        assert!(
            (f64::from(*g) - w).abs() <= tol,
            "{what}: got {got:?}, want {want:?}"
        );
    }
}

fn check_vectors(path: &Path) -> usize {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let rows: Vec<Vec<f32>> = case["updates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| floats(r).into_iter().map(|x| x as f32).collect())
            .collect();
        let f = case["f"].as_u64().unwrap() as usize;
        let ups = refs(&rows);
        for (key, rule) in [
            ("mean", Rule::Mean),
            ("median", Rule::Median),
            ("trimmed_mean", Rule::TrimmedMean),
            ("krum", Rule::Krum),
            ("multi_krum_m_n_minus_f", Rule::MultiKrum { m: None }),
        ] {
            let Some(want) = case.get(key) else { continue };
            let what = format!("{name}: {key}");
            match want {
                Value::String(s) => {
                    let err = aggregate(&rule, &ups, f).unwrap_err();
                    let msg = err.to_string();
                    // "error: <message>; ..." -> the message our error must carry.
                    let expected = s.trim_start_matches("error: ").split(';').next().unwrap();
                    assert_eq!(msg, expected, "{what}");
                    assert!(matches!(
                        err,
                        AggregateError::Unsupported { n: 3, f: 1, .. }
                    ));
                }
                _ => {
                    let got = aggregate(&rule, &ups, f).unwrap();
                    assert_close(&got.aggregate, &floats(want), &what);
                }
            }
            checked += 1;
        }
        if let Some(scores) = case.get("krum_scores") {
            let got = aggregate(&Rule::Krum, &ups, f).unwrap();
            let want = floats(scores);
            let best = (0..want.len())
                .min_by(|&a, &b| want[a].total_cmp(&want[b]))
                .unwrap();
            for (o, w) in got.outcomes.iter().zip(&want) {
                let s = o.score.unwrap();
                assert!(
                    (s - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{name}: score {s} vs {w}"
                );
                assert_eq!(o.included, o.index == best, "{name}: {o:?}");
            }
            let outlier = &got.outcomes[5];
            assert_eq!(
                outlier.reason.as_deref(),
                Some("Krum score 579.41 is not the lowest (1.43)")
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn matches_committed_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/aggregation.json");
    assert!(check_vectors(&path) >= 9);
}

#[test]
fn matches_shared_vectors_when_present() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/aggregation.json");
    let alt = Path::new("/work/shared/vectors/aggregation.json");
    for p in [path.as_path(), alt] {
        if p.exists() {
            assert!(check_vectors(p) >= 9);
        }
    }
}

#[test]
fn refuses_n_f_it_cannot_handle_naming_both() {
    let rows: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32; 3]).collect();
    // (rule, largest f that works at n = 10, expected message at f + 1)
    let table = [
        (Rule::Median, 4, "median needs n >= 2f+1 (here n=10, f=5)"),
        (
            Rule::TrimmedMean,
            4,
            "trimmed mean needs n >= 2f+1 (here n=10, f=5)",
        ),
        (Rule::Krum, 3, "Krum needs n >= 2f+3 (here n=10, f=4)"),
        (
            Rule::MultiKrum { m: None },
            3,
            "Multi-Krum needs n >= 2f+3 (here n=10, f=4)",
        ),
        (Rule::Bulyan, 1, "Bulyan needs n >= 4f+3 (here n=10, f=2)"),
        (
            Rule::GeometricMedian,
            4,
            "geometric-median needs n >= 2f+1 (here n=10, f=5)",
        ),
        (
            Rule::CenteredClipping { radius: None },
            4,
            "centered-clipping needs n >= 2f+1 (here n=10, f=5)",
        ),
    ];
    let ups = refs(&rows);
    for (rule, ok_f, msg) in table {
        assert!(aggregate(&rule, &ups, ok_f).is_ok(), "{rule:?} f={ok_f}");
        let err = aggregate(&rule, &ups, ok_f + 1).unwrap_err();
        assert_eq!(err.to_string(), msg);
        assert!(matches!(err, AggregateError::Unsupported { n: 10, .. }));
    }
    let err = aggregate(&Rule::Mean, &[], 0).unwrap_err();
    assert_eq!(err.to_string(), "mean needs n >= 1 (here n=0, f=0)");
    let err = aggregate(&Rule::MultiKrum { m: Some(11) }, &ups, 1).unwrap_err();
    assert!(
        matches!(err, AggregateError::InvalidParameter { name: "m", .. }),
        "{err}"
    );
}

#[test]
fn rejects_non_finite_and_mismatched_inputs_naming_the_update() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut rows: Vec<Vec<f32>> = (0..7).map(|i| vec![i as f32; 5000]).collect();
        rows[4][4321] = bad;
        for rule in Rule::ALL {
            let err = aggregate(&rule, &refs(&rows), 1).unwrap_err();
            match err {
                AggregateError::NonFinite {
                    index, coordinate, ..
                } => assert_eq!((index, coordinate), (4, 4321), "{rule:?}"),
                other => panic!("{rule:?}: {other}"),
            }
        }
    }
    let mut rows: Vec<Vec<f32>> = (0..7).map(|i| vec![i as f32; 4]).collect();
    rows[6].push(1.0);
    let err = aggregate(&Rule::Median, &refs(&rows), 1).unwrap_err();
    assert_eq!(
        err,
        AggregateError::DimensionMismatch {
            index: 6,
            expected: 4,
            found: 5
        }
    );
    assert!(err.to_string().contains("update 6"));
}

#[test]
fn rule_names_specs_and_params() {
    for (rule, name) in Rule::ALL.iter().zip(fedledger_ledger::genesis::RULES) {
        assert_eq!(rule.name(), *name);
        assert_eq!(Rule::parse(name).unwrap(), *rule);
    }
    assert!(matches!(
        Rule::parse("krum2"),
        Err(AggregateError::UnknownRule { .. })
    ));
    let spec = |rule: &str, m: Option<u32>, r: Option<f64>| AggregationSpec {
        rule: rule.into(),
        multi_krum_m: m,
        clip_radius: r,
    };
    assert_eq!(
        Rule::from_spec(&spec("multi-krum", Some(4), None)).unwrap(),
        Rule::MultiKrum { m: Some(4) }
    );
    assert_eq!(
        Rule::MultiKrum { m: Some(4) }.params(),
        vec![("m".to_string(), 4.0)]
    );
    let cc = Rule::from_spec(&spec("centered-clipping", None, Some(2.5))).unwrap();
    assert!(cc.params().contains(&("radius".to_string(), 2.5)));
    assert!(Rule::from_spec(&spec("centered-clipping", None, Some(-1.0))).is_err());
    assert!(Rule::from_spec(&spec("multi-krum", Some(0), None)).is_err());
    assert!(Rule::GeometricMedian
        .params()
        .iter()
        .any(|(k, v)| k == "nu" && *v == 1e-6));
}

#[test]
fn krum_family_reports_exclusions_and_weights() {
    // Five honest points around the origin and two far away.
    let mut rows: Vec<Vec<f32>> = vec![
        vec![0.0, 0.0],
        vec![1.0, 0.0],
        vec![0.0, 1.0],
        vec![1.0, 1.0],
        vec![0.5, 0.5],
    ];
    rows.push(vec![100.0, -100.0]);
    rows.push(vec![-100.0, 100.0]);
    let ups = refs(&rows);
    let mk = aggregate(&Rule::MultiKrum { m: None }, &ups, 2).unwrap();
    let included: Vec<bool> = mk.outcomes.iter().map(|o| o.included).collect();
    assert_eq!(included, [true, true, true, true, true, false, false]);
    assert_eq!(mk.aggregate, vec![0.5, 0.5]);
    assert!(mk.outcomes[6]
        .reason
        .as_deref()
        .unwrap()
        .starts_with("Krum score"));
    let total: f64 = mk.outcomes.iter().map(|o| o.weight).sum();
    assert!((total - 1.0).abs() < 1e-12);
    let gm = aggregate(&Rule::GeometricMedian, &ups, 2).unwrap();
    assert!(gm.outcomes[5].weight < 0.02 && gm.outcomes[5].reason.is_some());
    assert!(
        gm.aggregate.iter().all(|x| (x - 0.5).abs() < 0.05),
        "{:?}",
        gm.aggregate
    );
    let cc = aggregate(&Rule::CenteredClipping { radius: None }, &ups, 2).unwrap();
    assert!(cc.outcomes[5].reason.is_some() && cc.outcomes[5].weight < 0.01);
    assert!(
        cc.aggregate.iter().all(|x| (x - 0.5).abs() < 0.5),
        "{:?}",
        cc.aggregate
    );
    let tm = aggregate(&Rule::TrimmedMean, &ups, 2).unwrap();
    assert!(tm.outcomes[5].reason.is_some() && tm.outcomes[0].reason.is_none());
}
