//! `fedledger explain` on a simulated consortium's ledger: the model is rebuilt from the update
//! bytes, the record scored, and every feature's contribution adds up to the log-odds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{fedledger, text};

#[test]
fn explain_scores_a_record_with_the_ledgers_model_and_names_its_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    let o = fedledger(&[
        "simulate",
        "--orgs",
        "4",
        "--rounds",
        "3",
        "--rows-per-org",
        "200",
        "--target-epsilon",
        "2",
        "--seed",
        "5",
        "--ledger-out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let genesis = out.join("genesis.toml");
    let g = genesis.to_str().unwrap();
    let data = out.to_str().unwrap();
    let csv = dir.path().join("customers.csv");
    std::fs::write(
        &csv,
        "age,income,balance,tenure_months,products,channel,region\n\
         30,30000,100,12,3,branch,urban\n\
         66,52000,5560,90,1,mobile,rural\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["explain", "--genesis", g, "--data-dir", data];
        args.extend_from_slice(extra);
        fedledger(&args)
    };
    let o = run(&["--csv", csv.to_str().unwrap(), "--row", "2", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["height"], 3);
    let e = &v["explanation"];
    assert_eq!(e["method"], "coefficients");
    let reasons = e["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 7, "every schema feature");
    let sum: f64 = reasons
        .iter()
        .map(|r| r["contribution"].as_f64().unwrap())
        .sum();
    let logit = e["logit"].as_f64().unwrap();
    assert!((e["baseline"].as_f64().unwrap() + sum - logit).abs() < 1e-9);
    let p = e["probability"].as_f64().unwrap();
    assert!(
        (1.0 / (1.0 + (-logit).exp()) - p).abs() < 1e-4,
        "{p} vs {logit}"
    );
    let balance = reasons.iter().find(|r| r["feature"] == "balance").unwrap();
    assert_eq!(balance["position"], "2.10 sd above the mean");

    // In words, the same record given as JSON, with the model of an earlier height.
    let o = run(&[
        "--height",
        "1",
        "--top",
        "7",
        "--record",
        r#"{"age": 66, "income": 52000, "balance": 5560, "tenure_months": 90, "products": 1, "channel": "mobile", "region": "rural"}"#,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out_text = text(&o);
    assert!(
        out_text.contains("height 1") && out_text.contains("balance 2.10 sd above the mean"),
        "{out_text}"
    );
    assert!(out_text.contains("to the log-odds"), "{out_text}");

    // Clear errors: a height past the tip, an unknown category, a schema of another consortium.
    let o = run(&["--height", "9", "--csv", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&[
        "--record",
        r#"{"age": 1, "income": 1, "balance": 1, "tenure_months": 1, "products": 1, "channel": "fax", "region": "urban"}"#,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("channel") && text(&o).contains("fax"),
        "{}",
        text(&o)
    );
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        "[label]\ncolumn = \"y\"\npositive = \"1\"\n\n[[numeric]]\ncolumn = \"x\"\n",
    )
    .unwrap();
    let o = run(&[
        "--schema",
        other.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("genesis pins"), "{}", text(&o));
}
