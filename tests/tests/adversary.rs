//! Lying members on the real network: `fedledger testnet --adversary NAME` starts real
//! `fedledger-adversary` processes among honest `fedledger-node` processes. For every named
//! misbehaviour the honest nodes must finalize 20 rounds with identical ledgers that pass
//! `fedledger audit --deep`, and their `/metrics` must show the lie rejected by name.
//!
//! n = 4 (f = 1) with each misbehaviour alone, and n = 7 (f = 2) with two adversary nodes that
//! each run two misbehaviours at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_tests::{adversary_bin, cli, serial};
use serde_json::Value;

const ROUNDS: u64 = 20;

/// Run the testnet and check the verdict; returns the summary.
fn testnet(adversary: &str, nodes: usize, byzantine: usize) -> Value {
    run_testnet(Some(adversary), nodes, byzantine, ROUNDS, &[])
}

/// The same testnet with or without adversaries.
fn run_testnet(
    adversary: Option<&str>,
    nodes: usize,
    byzantine: usize,
    rounds: u64,
    extra: &[&str],
) -> Value {
    let _ = adversary_bin();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("net");
    let (nodes, byzantine, want) = (nodes.to_string(), byzantine.to_string(), rounds.to_string());
    let mut args = vec!["testnet", "--nodes", &nodes];
    if !extra.contains(&"--view-timeout-ms") {
        args.extend(["--view-timeout-ms", "2000"]);
    }
    if let Some(a) = adversary {
        args.extend(["--adversary", a, "--byzantine", &byzantine]);
    }
    let adversary = adversary.unwrap_or("none");
    let out = cli(&[
        &args[..],
        extra,
        &[
            "--rounds",
            &want,
            "--epsilon-max",
            "100",
            "--collect-timeout-ms",
            "1000",
            "--json",
            "--dir",
            out_dir.to_str().unwrap(),
        ],
    ]
    .concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "testnet --adversary {adversary} failed: {}\n{stderr}",
        out.status
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("summary of {adversary}: {e}\n{stderr}"));
    assert_eq!(v["identical"], true, "{adversary}: {v}");
    assert_eq!(v["all_valid"], true, "{adversary}: {v}");
    for o in v["orgs"].as_array().unwrap() {
        if o["adversary"].is_null() {
            assert!(o["height"].as_u64().unwrap() >= rounds, "{adversary}: {o}");
            assert_eq!(o["valid"], true, "{adversary}: {o}");
            assert_eq!(o["deep_ok"], true, "{adversary}: {o}");
        }
    }
    v
}

/// The summary's count of rejections for the first of `reasons` that has any.
fn rejected(v: &Value, reasons: &[&str]) -> u64 {
    let r = &v["rejected"];
    let n: u64 = reasons.iter().filter_map(|x| r[*x].as_u64()).sum();
    assert!(n > 0, "none of {reasons:?} rejected: {r}");
    n
}

/// What the honest nodes count for each misbehaviour (any of these names).
fn evidence(adversary: &str) -> &'static [&'static str] {
    match adversary {
        "nan-metrics" => &["invalid-metrics"],
        "huge-metrics" => &["invalid-metrics", "invalid-count", "oversized-metrics"],
        "off-plan-spend" => &["off-plan-spend"],
        "equivocate-update" => &["equivocating-update"],
        "equivocate-proposal" => &["equivocation", "consensus-equivocation"],
        "invalid-proposal" => &["invalid-proposal", "consensus-invalid-proposal"],
        "withhold-bytes" => &["blob-unavailable"],
        // Withheld votes are an absence, not a message; the view changes they cause show
        // instead (checked by the heights above).
        "withhold-votes" => &[],
        "replay" => &["stale-height", "wrong-round", "consensus-stale-height"],
        "vote-flood" => &["non-member", "unknown-signer", "consensus-not-member"],
        "sync-hijack" => &[
            "sync-bad-certificate",
            "sync-bad-block",
            "sync-timeout",
            "sync-gap",
            "sync-malformed",
        ],
        "join-spam" => &["membership-evicted", "too-many-requests"],
        "fetch-flood" => &["overload-fetch"],
        other => panic!("no evidence listed for {other}"),
    }
}

fn alone(adversary: &str) {
    let _g = serial();
    let v = testnet(adversary, 4, 1);
    let reasons = evidence(adversary);
    if !reasons.is_empty() {
        rejected(&v, reasons);
    }
}

fn pair(a: &str, b: &str) {
    let _g = serial();
    let v = testnet(&format!("{a},{b}"), 7, 2);
    for x in [a, b] {
        let reasons = evidence(x);
        if !reasons.is_empty() {
            rejected(&v, reasons);
        }
    }
}

#[test]
fn n4_nan_metrics() {
    alone("nan-metrics");
}

#[test]
fn n4_huge_metrics() {
    alone("huge-metrics");
}

/// Only a genesis `[dp.plan]` says what a spend must be; 10 rounds keep the suite lean.
#[test]
fn n4_off_plan_spend() {
    let _g = serial();
    let v = run_testnet(
        Some("off-plan-spend"),
        4,
        1,
        10,
        &["--target-epsilon", "50"],
    );
    rejected(&v, evidence("off-plan-spend"));
    // Nothing off-plan reached a ledger: the audit (checked above) refuses such a block.
}

#[test]
fn n4_equivocate_update() {
    alone("equivocate-update");
}

#[test]
fn n4_equivocate_proposal() {
    alone("equivocate-proposal");
}

#[test]
fn n4_invalid_proposal() {
    alone("invalid-proposal");
}

#[test]
fn n4_withhold_bytes() {
    alone("withhold-bytes");
}

#[test]
fn n4_withhold_votes() {
    alone("withhold-votes");
}

#[test]
fn n4_replay() {
    alone("replay");
}

#[test]
fn n4_vote_flood() {
    alone("vote-flood");
}

/// While it validates 1,000,000-parameter rounds (4 MB updates), an honest node flooded by 50
/// fresh peer ids keeps finalizing and peaks below twice the memory of the same clean testnet.
#[test]
fn vote_flood_costs_less_than_twice_the_memory_of_a_clean_million_parameter_run() {
    let _g = serial();
    let big = ["--hidden", "1000,990", "--view-timeout-ms", "4000"];
    let flooded = run_testnet(Some("vote-flood"), 4, 1, 4, &big);
    rejected(&flooded, evidence("vote-flood"));
    let clean = run_testnet(None, 4, 0, 4, &big);
    let (f, c) = (
        flooded["peak_rss_mib"].as_f64().unwrap(),
        clean["peak_rss_mib"].as_f64().unwrap(),
    );
    assert!(c > 0.0, "no memory figure: {clean}");
    assert!(
        f < 2.0 * c,
        "peak memory {f:.0} MiB under flood, {c:.0} MiB clean"
    );
}

#[test]
fn n4_sync_hijack() {
    alone("sync-hijack");
}

#[test]
fn n4_join_spam() {
    alone("join-spam");
}

#[test]
fn n4_fetch_flood() {
    alone("fetch-flood");
}

#[test]
fn n7_two_adversaries_lying_in_claims() {
    pair("nan-metrics", "huge-metrics");
}

#[test]
fn n7_two_adversaries_equivocating() {
    pair("equivocate-update", "equivocate-proposal");
}

#[test]
fn n7_two_adversaries_proposing_junk_and_withholding_bytes() {
    pair("invalid-proposal", "withhold-bytes");
}

#[test]
fn n7_two_adversaries_withholding_votes_and_replaying() {
    pair("withhold-votes", "replay");
}

#[test]
fn n7_two_adversaries_flooding_votes_and_hijacking_sync() {
    pair("vote-flood", "sync-hijack");
}

#[test]
fn n7_two_adversaries_spamming_joins_and_fetches() {
    pair("join-spam", "fetch-flood");
}
