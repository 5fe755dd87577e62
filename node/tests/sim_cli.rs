//! The `fedledger-node sim` command: report format, JSON, and a non-zero exit naming the seed
//! when a property is violated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fedledger-node"))
        .arg("sim")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn clean_runs_exit_zero_and_report_every_property() {
    let out = sim(&["--seeds", "3", "--scenario", "partition_heals", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    let s = &doc["scenarios"][0];
    assert_eq!(s["scenario"], "partition_heals");
    assert_eq!(s["runs"], 3);
    assert!(s["heights"].as_u64().unwrap() >= 18);
    for key in [
        "agreement",
        "validity",
        "liveness",
        "determinism",
        "view_changes",
    ] {
        assert!(s[key].is_u64(), "{key} missing");
    }
    let text = sim(&["--seeds", "2", "--scenario", "all_online"]);
    let table = String::from_utf8_lossy(&text.stdout);
    assert!(
        table.contains("all_online") && table.contains("agreement"),
        "{table}"
    );
}

#[test]
fn a_violation_exits_one_and_prints_the_reproducing_seed() {
    let out = sim(&[
        "--seeds",
        "40",
        "--scenario",
        "equivocating_leader",
        "--break-rule",
        "vote-twice",
        "--determinism-every",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("VIOLATION equivocating_leader seed"), "{err}");
    assert!(err.contains("--first-seed"), "{err}");
}

#[test]
fn unknown_scenarios_are_refused() {
    let out = sim(&["--seeds", "1", "--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("all_online"));
}
