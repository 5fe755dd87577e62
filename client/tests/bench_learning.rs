//! `fedledger bench learning` end to end on a tiny grid: every output written, CSV and JSON
//! agree, drops are taken against the right clean run, `--jobs` does not change results, and
//! bad grid entries are refused before anything runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::Path;

mod common;
use common::{fedledger, text};

/// 2 rules x 2 attacks, 5 organizations (1 attacker), 3 rounds, 2 seeds.
const GRID: &[(&str, &str)] = &[
    ("--rows-per-org", "100"),
    ("--orgs", "5"),
    ("--rounds", "3"),
    ("--rules", "mean,median"),
    ("--attacks", "none,sign-flip"),
    ("--fractions", "0.2,0.25"),
    ("--seeds", "1-2"),
];

/// `bench learning` with the tiny grid, some of its flags replaced, and `extra` flags after.
fn grid_args<'a>(replace: &[(&'a str, &'a str)], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["bench", "learning"];
    for (flag, value) in GRID {
        let value = replace
            .iter()
            .find(|(f, _)| f == flag)
            .map_or(*value, |(_, v)| *v);
        args.extend([*flag, value]);
    }
    args.extend(extra);
    args
}

fn run_grid(dir: &Path, jobs: &str) -> Value {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (csv, html, svg) = (p("runs.csv"), p("page.html"), p("drop.svg"));
    let o = fedledger(&grid_args(
        &[],
        &[
            "--jobs", jobs, "--csv", &csv, "--html", &html, "--svg", &svg, "--json",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("10/10 runs"),
        "progress on stderr: {stderr}"
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn a_tiny_grid_writes_every_output_and_they_agree() {
    let dir = tempfile::tempdir().unwrap();
    let json = run_grid(dir.path(), "1");
    let runs = json["runs"].as_array().unwrap();
    // Per seed: mean and median under none (f = 1) and sign-flip, plus the clean mean (f = 0).
    // Fractions 0.2 and 0.25 of 5 both give one attacker, so they share their runs.
    assert_eq!(runs.len(), 10, "{json}");
    for r in runs {
        let clean = &runs[r["clean_run"].as_u64().unwrap() as usize];
        assert_eq!(clean["rule"], "mean");
        assert_eq!(clean["attack"], "none");
        assert_eq!(clean["f"], 0);
        assert_eq!(clean["clean"], true);
        assert_eq!(clean["seed"], r["seed"]);
        assert_eq!(clean["orgs"], r["orgs"]);
        assert_eq!(f(r, "clean_auc"), f(clean, "auc"));
        assert_eq!(f(r, "drop"), f(clean, "auc") - f(r, "auc"));
        let own = &runs[r["own_run"].as_u64().unwrap() as usize];
        assert_eq!((&own["rule"], &own["f"]), (&r["rule"], &r["f"]));
        assert_eq!((&own["attack"], &own["seed"]), (&"none".into(), &r["seed"]));
        if r["in_grid"] == true {
            assert_eq!(r["fractions"], "0.2;0.25");
            assert_eq!(r["f"], 1);
        }
        if r["attack"] == "sign-flip:4" {
            assert_eq!(r["attackers"], 1);
            assert_eq!(r["attacker_sent"], 3);
        }
    }
    let table = json["table"].as_array().unwrap();
    assert_eq!(table.len(), 4);
    for row in table {
        assert_eq!(row["seeds"], 2);
        assert_eq!(row["fractions"], serde_json::json!([0.2, 0.25]));
        let ids: Vec<usize> = row["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let drops: Vec<f64> = ids.iter().map(|&i| f(&runs[i], "drop")).collect();
        assert_eq!(f(row, "drop_mean"), (drops[0] + drops[1]) / 2.0);
        assert_eq!(f(row, "drop_worst"), drops[0].max(drops[1]));
        let near = drops.iter().filter(|d| **d <= 0.02).count() as f64 / 2.0;
        assert_eq!(f(row, "within_0_02"), near);
    }
    let mean_none = &table[0];
    assert_eq!(
        (&mean_none["rule"], &mean_none["attack"]),
        (&"mean".into(), &"none".into())
    );
    assert_eq!(
        f(mean_none, "drop_mean"),
        0.0,
        "mean ignores f: equal to clean"
    );
    assert!(json["definitions"]["clean run"]
        .as_str()
        .unwrap()
        .contains("plain mean"));

    // The CSV holds the same runs with the same numbers.
    let mut rdr = csv::Reader::from_path(dir.path().join("runs.csv")).unwrap();
    let header = rdr.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), runs.len());
    for (row, run) in rows.iter().zip(runs) {
        for (k, cell) in header.iter().zip(row.iter()) {
            match &run[k] {
                Value::Number(n) => {
                    assert_eq!(cell.parse::<f64>().unwrap(), n.as_f64().unwrap(), "{k}")
                }
                Value::String(s) => assert_eq!(cell, s, "{k}"),
                Value::Bool(b) => assert_eq!(cell, b.to_string(), "{k}"),
                Value::Null => assert_eq!(cell, "", "{k}"),
                other => panic!("{k}: unexpected {other}"),
            }
        }
    }
    assert!(header.iter().any(|h| h == "precision"));
    assert!(header.iter().any(|h| h == "attacker_excluded_share"));

    let svg = std::fs::read_to_string(dir.path().join("drop.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert!(
        svg.contains(">median<") && svg.contains(">sign-flip:4<"),
        "{svg}"
    );
    let html = std::fs::read_to_string(dir.path().join("page.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"id="chart-drop""#) && html.contains("<svg"));
    assert!(html.contains(r#"id="definitions""#) && html.contains(r#"id="table""#));

    // The same grid on two threads: the same runs and table, bit for bit.
    let two = tempfile::tempdir().unwrap();
    let json2 = run_grid(two.path(), "2");
    assert_eq!(json2["runs"], json["runs"]);
    assert_eq!(json2["table"], json["table"]);
    assert_eq!(
        std::fs::read(two.path().join("runs.csv")).unwrap(),
        std::fs::read(dir.path().join("runs.csv")).unwrap()
    );
}

#[test]
fn bad_grid_entries_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("runs.csv");
    let refused = |replace: &[(&str, &str)], expect: &[&str]| {
        let o = fedledger(&grid_args(replace, &["--csv", csv.to_str().unwrap()]));
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let t = text(&o);
        for e in expect {
            assert!(t.contains(e), "{e:?} missing from: {t}");
        }
        assert!(!t.contains("runs ("), "nothing ran: {t}");
        assert!(!csv.exists());
    };
    // A pre-aggregator P is run as the rule `P+RULE`; the simulator must know every such name.
    let o = fedledger(&grid_args(
        &[],
        &["--pre", "none,no-such-pre", "--csv", csv.to_str().unwrap()],
    ));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for name in ["\"no-such-pre+mean\"", "\"no-such-pre+median\""] {
        assert!(text(&o).contains(name), "{name} missing from {}", text(&o));
    }
    assert!(!csv.exists());
    refused(
        &[("--fractions", "0.2,1.5,x")],
        &["invalid fractions", "\"1.5\"", "\"x\""],
    );
    refused(&[("--attacks", "none,sign-flop")], &["\"sign-flop\""]);
    refused(
        &[("--seeds", "3-1")],
        &["\"3-1\": a range must not run backwards"],
    );
    refused(
        &[("--orgs", "4"), ("--rules", "krum,median")],
        &["Krum needs n >= 2f+3 (here n=4, f=1)", "--skip-infeasible"],
    );
    refused(&[("--fractions", "0.95")], &["leaving no honest one"]);
    // Pre-aggregators compose with every rule: one row per rule and pre-aggregator.
    let o = fedledger(&grid_args(
        &[("--seeds", "1"), ("--attacks", "ipm")],
        &["--pre", "none,nnm", "--json"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules: Vec<&str> = json["table"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["mean", "nnm+mean", "median", "nnm+median"]);
    // Infeasible points may be skipped instead; the rest runs. (A rule that can run nowhere in
    // the grid is still refused.)
    let o = fedledger(&grid_args(
        &[
            ("--orgs", "4,5"),
            ("--rules", "krum,median"),
            ("--seeds", "1"),
        ],
        &["--skip-infeasible", "--json"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{json}");
    assert!(skipped[0].as_str().unwrap().contains("n=4, f=1"), "{json}");
    let table = json["table"].as_array().unwrap();
    assert_eq!(table.len(), 6, "median at n=4 and 5, krum at n=5 only");
    assert!(table
        .iter()
        .all(|r| r["rule"] == "median" || r["orgs"] == 5));
}

#[test]
fn the_help_states_the_definitions() {
    let o = fedledger(&["bench", "learning", "--help"]);
    assert!(o.status.success(), "{}", text(&o));
    let help = String::from_utf8_lossy(&o.stdout);
    for term in [
        "clean run = plain `mean`",
        "drop = clean AUC - run AUC",
        "--jobs",
        "--skip-infeasible",
    ] {
        assert!(help.contains(term), "{term} missing from {help}");
    }
}
