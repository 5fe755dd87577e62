//! The `fedledger` binary end to end: keygen, export, audit (valid and tampered), proofs, privacy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::store::{LedgerStore, SledStore, LEDGER_SUBDIR};
use fedledger_ledger::testutil::{test_key, RoundPlan, TestChain};
use std::path::{Path, PathBuf};

mod common;
use common::{fedledger, text};

/// A data dir with a 6-block ledger (an exclusion and a join) and its genesis file.
fn ledger_dir(dir: &Path) -> (PathBuf, PathBuf, TestChain) {
    let mut c = TestChain::new(4, 1, "median");
    let data = dir.join("node");
    let store = SledStore::open(&data.join(LEDGER_SUBDIR)).unwrap();
    store.append(&c.next_block()).unwrap();
    let org = c.state.validators()[0];
    let b = c.build(&RoundPlan {
        excluded: vec![org],
        ..Default::default()
    });
    store.append(&c.push(b)).unwrap();
    let join = c.join(test_key(50), 4.0);
    let b = c.build(&RoundPlan {
        membership: vec![join],
        ..Default::default()
    });
    store.append(&c.push(b)).unwrap();
    for _ in 0..3 {
        store.append(&c.next_block()).unwrap();
    }
    drop(store);
    let genesis = dir.join("genesis.toml");
    std::fs::write(&genesis, c.genesis.to_toml()).unwrap();
    (data, genesis, c)
}

#[test]
fn keygen_writes_a_private_key_and_prints_only_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("org.key");
    let o = fedledger(&["keygen", "--out", key.to_str().unwrap(), "--name", "Bank A"]);
    assert!(o.status.success(), "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(id.len(), 64);
    let secret = fedledger_ledger::OrgKey::read_from(&key)
        .unwrap()
        .secret_bytes();
    assert!(!text(&o).contains(&hex::encode(secret)));
    let again = fedledger(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(!again.status.success(), "refuses to overwrite");
}

#[test]
fn audit_of_a_data_dir_and_its_export_agree_and_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis, _) = ledger_dir(dir.path());
    let g = genesis.to_str().unwrap();
    let o = fedledger(&[
        "audit",
        "--genesis",
        g,
        "--data-dir",
        data.to_str().unwrap(),
        "--rounds",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("VALID") && out.contains("6 rounds verified"),
        "{out}"
    );
    assert!(out.contains("join"), "membership history shown: {out}");

    let export = dir.path().join("ledger.fedledger");
    let o = fedledger(&[
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fedledger(&[
        "audit",
        "--genesis",
        g,
        "--file",
        export.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["report"]["height"], 6);
    assert_eq!(v["report"]["exclusions"], 1);
    assert_eq!(v["report"]["membership"][0]["action"], "join");
}

#[test]
fn a_tampered_export_fails_with_height_and_rule_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis, _) = ledger_dir(dir.path());
    let export = dir.path().join("ledger.fedledger");
    assert!(fedledger(&[
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        export.to_str().unwrap()
    ])
    .status
    .success());
    let mut bytes = std::fs::read(&export).unwrap();
    // A byte in the middle of the file lands in some block; flip it.
    let pos = bytes.len() / 2;
    bytes[pos] ^= 0x40;
    let bad = dir.path().join("tampered.fedledger");
    std::fs::write(&bad, &bytes).unwrap();
    let o = fedledger(&[
        "audit",
        "--genesis",
        genesis.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["violation"]["height"].as_u64().unwrap() >= 1);
    assert!(v["violation"]["rule"].is_string());
    let human = fedledger(&[
        "audit",
        "--genesis",
        genesis.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(human.status.code(), Some(1));
    assert!(
        text(&human).contains("INVALID at height"),
        "{}",
        text(&human)
    );
    // Truncated (from the clean export).
    let clean = std::fs::read(&export).unwrap();
    std::fs::write(&bad, &clean[..clean.len() - 40]).unwrap();
    let o = fedledger(&[
        "audit",
        "--genesis",
        genesis.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("rule export"), "{}", text(&o));
    // Not a ledger at all: a clear error, exit 2, no panic.
    std::fs::write(&bad, b"hello").unwrap();
    let o = fedledger(&[
        "audit",
        "--genesis",
        genesis.to_str().unwrap(),
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("panicked"));
}

#[test]
fn proof_round_trip_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis, _) = ledger_dir(dir.path());
    let store = SledStore::open(&data.join(LEDGER_SUBDIR)).unwrap();
    let block = store.block(5).unwrap().unwrap();
    let update = block.entries.iter().find_map(|e| e.update_hash()).unwrap();
    let leaf = block.entries.last().unwrap().leaf_hash();
    drop(store);
    for hash in [update, leaf] {
        let proof = dir.path().join("p.json");
        let o = fedledger(&[
            "proof",
            "--genesis",
            genesis.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--entry",
            &hash.to_hex(),
            "--out",
            proof.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let o = fedledger(&[
            "verify-proof",
            "--proof",
            proof.to_str().unwrap(),
            "--genesis",
            genesis.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("block 5"), "{}", text(&o));
        // Tamper with the proof file: change an audit-path hash.
        let mut p: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
        p["target"]["proof"]["path"][0] = serde_json::Value::String("00".repeat(32));
        std::fs::write(&proof, p.to_string()).unwrap();
        let o = fedledger(&[
            "verify-proof",
            "--proof",
            proof.to_str().unwrap(),
            "--genesis",
            genesis.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    }
    let o = fedledger(&[
        "proof",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--entry",
        &"ab".repeat(32),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("neither an entry nor an update hash"),
        "{}",
        text(&o)
    );
}

#[test]
fn privacy_epsilon_prints_epsilon_and_order() {
    let o = fedledger(&[
        "privacy",
        "epsilon",
        "--delta",
        "1e-5",
        "--round",
        "0.01:1.0:1000",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let eps = v["epsilon"].as_f64().unwrap();
    assert!(eps > 0.5 && eps < 10.0, "{eps}");
    assert!(v["optimal_order"].as_f64().unwrap() > 1.0);
    let bad = fedledger(&[
        "privacy",
        "epsilon",
        "--delta",
        "1e-5",
        "--round",
        "0.01:x:10",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("not a number"));
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "keygen",
        "audit",
        "export",
        "proof",
        "verify-proof",
        "checkpoint",
        "consistency",
        "monitor",
        "explain",
        "privacy",
    ] {
        let o = fedledger(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).len() > 100,
            "{cmd} help is substantive"
        );
    }
}

#[test]
fn bench_aggregate_times_the_rules_that_fit_n_and_f() {
    let o = fedledger(&[
        "bench",
        "aggregate",
        "--updates",
        "5",
        "--dim",
        "64",
        "--byzantine",
        "1",
        "--runs",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules: Vec<&str> = v["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"median") && rules.contains(&"krum"),
        "{rules:?}"
    );
    assert!(
        !rules.contains(&"bulyan"),
        "Bulyan needs n >= 4f+3 = 7: {rules:?}"
    );
    for t in v["timings"].as_array().unwrap() {
        assert!(t["median_s"].as_f64().unwrap() >= 0.0);
    }
}

#[test]
fn simulate_writes_a_ledger_that_audits_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    let o = fedledger(&[
        "simulate",
        "--orgs",
        "5",
        "--rounds",
        "3",
        "--rows-per-org",
        "300",
        "--rule",
        "median",
        "--byzantine",
        "1",
        "--attack",
        "sign-flip",
        "--target-epsilon",
        "2",
        "--seed",
        "3",
        "--ledger-out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rounds"].as_array().unwrap().len(), 3);
    for key in ["accuracy", "auc", "f1", "log_loss"] {
        assert!(v["final"][key].is_number(), "final.{key}");
        assert!(v["centralized"][key].is_number(), "centralized.{key}");
    }
    assert_eq!(v["ledger"]["blocks"], 3);
    let genesis = out.join("genesis.toml");
    let a = fedledger(&[
        "audit",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(a.status.success(), "{}", text(&a));
    let r: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(r["report"]["height"], 3);
    assert_eq!(r["report"]["updates"], 15);
    for m in r["report"]["members"].as_array().unwrap() {
        assert!(m["epsilon_spent"].as_f64().unwrap() <= 2.0 + 1e-12);
    }
    // Keys were written privately; the ledger dir refuses to be overwritten.
    let again = fedledger(&[
        "simulate",
        "--rounds",
        "1",
        "--target-epsilon",
        "2",
        "--ledger-out",
        out.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already holds a ledger"),
        "{}",
        text(&again)
    );
}

/// `--dp-plan auto`: every organization gets its own settings from its size, reaches the target
/// and no more, and the ledger it writes carries the plan, which the audit enforces.
#[test]
fn simulate_plans_dp_per_organization_and_the_ledger_audits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("planned");
    let o = fedledger(&[
        "simulate",
        "--orgs",
        "4",
        "--rounds",
        "3",
        "--rows-per-org",
        "200",
        "--target-epsilon",
        "0.5",
        "--dp-plan",
        "auto",
        "--seed",
        "2",
        "--ledger-out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["config"]["dp_plan"], "auto");
    for org in v["orgs"].as_array().unwrap() {
        let plan = &org["plan"];
        assert!(plan["batch_size"].as_u64().unwrap() >= 1, "{org}");
        assert!(plan["clip_norm"].as_f64().unwrap() <= 1.0, "{org}");
        let eps = org["epsilon"].as_f64().unwrap();
        assert!(eps <= 0.5 && eps > 0.49, "{org}");
    }
    let genesis = std::fs::read_to_string(out.join("genesis.toml")).unwrap();
    assert!(genesis.contains("[dp.plan]"), "{genesis}");
    let show = fedledger(&[
        "genesis",
        "show",
        "--genesis",
        out.join("genesis.toml").to_str().unwrap(),
    ]);
    assert!(
        text(&show).contains("planned per member for epsilon 0.5 over 3 rounds"),
        "{}",
        text(&show)
    );
    let a = fedledger(&[
        "audit",
        "--genesis",
        out.join("genesis.toml").to_str().unwrap(),
        "--data-dir",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(a.status.success(), "{}", text(&a));
    let o = fedledger(&["simulate", "--rounds", "1", "--dp-plan", "auto"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--target-epsilon"), "{}", text(&o));
}

#[test]
fn simulate_refuses_a_ledger_without_privacy_and_bad_settings_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let o = fedledger(&[
        "simulate",
        "--rounds",
        "1",
        "--ledger-out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("needs differential privacy"),
        "{}",
        text(&o)
    );
    let o = fedledger(&[
        "simulate",
        "--rounds",
        "1",
        "--orgs",
        "3",
        "--rule",
        "krum",
        "--byzantine",
        "1",
        "--attack",
        "alie",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("Krum needs n >= 2f+3"), "{}", text(&o));
    let o = fedledger(&["simulate", "--partition", "zipf:2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!text(&o).contains("panicked"));
}

/// A ledger like [`ledger_dir`]'s whose block 2 excludes another member: the same genesis, a
/// different history from height 2 on (what a colluding quorum could sign).
fn forked_ledger_dir(dir: &Path) -> PathBuf {
    let mut c = TestChain::new(4, 1, "median");
    let data = dir.join("fork");
    let store = SledStore::open(&data.join(LEDGER_SUBDIR)).unwrap();
    store.append(&c.next_block()).unwrap();
    let org = c.state.validators()[1];
    let b = c.build(&RoundPlan {
        excluded: vec![org],
        ..Default::default()
    });
    store.append(&c.push(b)).unwrap();
    for _ in 0..4 {
        store.append(&c.next_block()).unwrap();
    }
    data
}

/// `test_key(i)` written to `dir/k{i}.key`.
fn key_file(dir: &Path, i: u64) -> PathBuf {
    let p = dir.join(format!("k{i}.key"));
    test_key(i).write_to(&p).unwrap();
    p
}

/// `fedledger checkpoint` of the ledger in `data` at `height`, signed with `key`, written to
/// `out`; the path and the `--json` output.
fn write_checkpoint(
    genesis: &str,
    data: &Path,
    height: &str,
    key: &Path,
    out: &Path,
) -> (PathBuf, serde_json::Value) {
    let o = fedledger(&[
        "checkpoint",
        "--genesis",
        genesis,
        "--data-dir",
        data.to_str().unwrap(),
        "--height",
        height,
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (out.to_path_buf(), v)
}

#[test]
fn checkpoints_are_consistent_along_one_history_and_a_fork_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis, _) = ledger_dir(dir.path());
    let fork = forked_ledger_dir(dir.path());
    let g = genesis.to_str().unwrap();
    let key = |i: u64| key_file(dir.path(), i);
    let (k0, k1) = (key(0), key(1));
    let checkpoint = |data: &Path, height: &str, k: &Path, name: &str| {
        write_checkpoint(g, data, height, k, &dir.path().join(name)).0
    };
    let old = checkpoint(&data, "3", &k0, "old.txt");
    let new = checkpoint(&data, "6", &k1, "new.txt");
    let forked = checkpoint(&fork, "6", &k0, "forked.txt");
    let note = std::fs::read_to_string(&old).unwrap();
    assert!(
        note.starts_with("fedledger/") && note.contains("\n3\n"),
        "{note}"
    );
    assert!(note.contains("\n\n\u{2014} fedledger/"), "{note}");
    let consistency = |old: &Path, new: &Path, data: &Path| {
        fedledger(&[
            "consistency",
            "--genesis",
            g,
            "--old",
            old.to_str().unwrap(),
            "--new",
            new.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
        ])
    };
    let o = consistency(&old, &new, &data);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["consistent"], true);
    assert_eq!(v["new"]["size"], 6);
    // The forked history of the same length, signed by a member: named, exit 1.
    for (a, b) in [(&old, &forked), (&new, &forked)] {
        let o = consistency(a, b, &data);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["consistent"], false);
        assert!(
            v["reason"].as_str().unwrap().contains("histories differ"),
            "{v}"
        );
    }
    // From the fork's side, this ledger's checkpoints are the odd ones out.
    let o = consistency(&old, &forked, &fork);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A key that was never a member cannot sign; a forged checkpoint is unreadable.
    let outsider = dir.path().join("x.key");
    test_key(99).write_to(&outsider).unwrap();
    let o = fedledger(&[
        "checkpoint",
        "--genesis",
        g,
        "--data-dir",
        data.to_str().unwrap(),
        "--key",
        outsider.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("never been a member"), "{}", text(&o));
    let forged = dir.path().join("forged.txt");
    std::fs::write(&forged, note.replacen("\n3\n", "\n4\n", 1)).unwrap();
    let o = consistency(&forged, &new, &data);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("not a checkpoint signed by a member"),
        "{}",
        text(&o)
    );
}

#[test]
fn audit_since_verifies_only_the_new_blocks_and_catches_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis, mut chain) = ledger_dir(dir.path());
    let fork = forked_ledger_dir(dir.path());
    let g = genesis.to_str().unwrap();
    let state = dir.path().join("auditor.state");
    let st = state.to_str().unwrap();
    let audit = |extra: &[&str], data: &Path| {
        let mut args = vec![
            "audit",
            "--genesis",
            g,
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = fedledger(&args);
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        (o.status.code(), v)
    };
    let (code, v) = audit(&["--save-state", st], &data);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["incremental"]["from"], 0);
    assert_eq!(v["incremental"]["verified"], 6);
    let at6 = dir.path().join("at6.state");
    std::fs::copy(&state, &at6).unwrap();

    // The consortium goes on: four more blocks.
    {
        let store = SledStore::open(&data.join(LEDGER_SUBDIR)).unwrap();
        for _ in 0..4 {
            store.append(&chain.next_block()).unwrap();
        }
    }
    let (code, v) = audit(&["--since", st], &data);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["incremental"]["from"], 6);
    assert_eq!(v["incremental"]["verified"], 4);
    let cp = v["incremental"]["checkpoint"].as_str().unwrap();
    assert!(
        cp.starts_with("fedledger/") && cp.contains("\n10\n"),
        "{cp}"
    );
    // The report is the whole chain's, as a full audit gives it.
    let (_, full) = audit(&[], &data);
    assert_eq!(v["report"], full["report"]);
    let (code, v) = audit(&["--since", st], &data);
    assert_eq!(
        (code, v["incremental"]["verified"].clone()),
        (Some(0), 0.into())
    );

    // The same from an export file.
    let export = dir.path().join("ledger.fedledger");
    let o = fedledger(&[
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let a6 = at6.to_str().unwrap();
    let o = fedledger(&[
        "audit",
        "--genesis",
        g,
        "--file",
        export.to_str().unwrap(),
        "--since",
        a6,
        "--save-state",
        st,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["incremental"]["verified"], 4);
    assert_eq!(v["report"], full["report"]);

    // Another history under the block verified at 6: a rewrite, and the state is kept.
    let before = std::fs::read(&at6).unwrap();
    let (code, v) = audit(&["--since", a6], &fork);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["violation"]["rule"], "rewrite");
    assert_eq!(v["violation"]["height"], 6);
    assert!(v["incremental"]["state_file"].is_null());
    assert_eq!(std::fs::read(&at6).unwrap(), before);

    // A damaged state file is an error (exit 2), not a verdict.
    std::fs::write(&state, b"fedledger-audit1garbage").unwrap();
    let o = fedledger(&[
        "audit",
        "--genesis",
        g,
        "--data-dir",
        data.to_str().unwrap(),
        "--since",
        st,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("auditor state"), "{}", text(&o));
}

#[test]
fn a_proof_with_a_checkpoint_shows_the_block_in_the_signed_log_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (data, genesis, _) = ledger_dir(dir.path());
    let fork = forked_ledger_dir(dir.path());
    let g = genesis.to_str().unwrap();
    let key = |i: u64| key_file(dir.path(), i);
    let checkpoint = |data: &Path, height: &str, k: &Path, name: &str| {
        write_checkpoint(g, data, height, k, &dir.path().join(name))
    };
    // Signed by the member who joined at height 3: the proof's membership history admits it.
    let (cp6, cp6_json) = checkpoint(&data, "6", &key(50), "cp6.txt");
    let k0 = key(0);
    let (cp4, _) = checkpoint(&data, "4", &k0, "cp4.txt");
    let (forked, _) = checkpoint(&fork, "6", &k0, "forked.txt");
    let store = SledStore::open(&data.join(LEDGER_SUBDIR)).unwrap();
    let update = store
        .block(5)
        .unwrap()
        .unwrap()
        .entries
        .iter()
        .find_map(|e| e.update_hash())
        .unwrap()
        .to_hex();
    drop(store);
    let prove = |cp: Option<&Path>, out: &Path| {
        let mut args = vec![
            "proof",
            "--genesis",
            g,
            "--data-dir",
            data.to_str().unwrap(),
            "--entry",
            &update,
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(cp) = cp {
            args.extend(["--checkpoint", cp.to_str().unwrap()]);
        }
        fedledger(&args)
    };
    let verify = |proof: &Path, json: bool| {
        let mut args = vec![
            "verify-proof",
            "--proof",
            proof.to_str().unwrap(),
            "--genesis",
            g,
        ];
        if json {
            args.push("--json");
        }
        fedledger(&args)
    };
    let proof = dir.path().join("p.json");
    let o = prove(Some(&cp6), &proof);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("in the checkpoint of size 6"),
        "{}",
        text(&o)
    );
    let o = verify(&proof, true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["in_checkpoint"], true);
    assert_eq!(v["checkpoint"]["in_checkpoint"], true);
    assert_eq!(v["checkpoint"]["size"], 6);
    assert_eq!(v["checkpoint"]["leaf_index"], 4);
    assert_eq!(v["checkpoint"]["root"], cp6_json["root"]);
    assert_eq!(
        v["checkpoint"]["signers"],
        serde_json::json!([test_key(50).id().to_hex()])
    );
    let o = verify(&proof, false);
    assert!(
        text(&o).contains("block 5 is leaf 4 of the log checkpoint of size 6"),
        "{}",
        text(&o)
    );

    // A proof without a checkpoint verifies as before, and says it has none.
    let plain = dir.path().join("plain.json");
    assert!(prove(None, &plain).status.success());
    assert!(!std::fs::read_to_string(&plain)
        .unwrap()
        .contains("checkpoint"));
    let o = verify(&plain, true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["valid"].clone(), v["in_checkpoint"].clone()),
        (true.into(), false.into())
    );

    // Tampered: a path hash, the note's size (its signature no longer holds).
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    let tampered = dir.path().join("t.json");
    let mut p = original.clone();
    p["checkpoint"]["inclusion"][0] = serde_json::Value::String("00".repeat(32));
    std::fs::write(&tampered, p.to_string()).unwrap();
    let o = verify(&tampered, false);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("inclusion proof does not hold"),
        "{}",
        text(&o)
    );
    let mut p = original.clone();
    let note = p["checkpoint"]["note"]
        .as_str()
        .unwrap()
        .replacen("\n6\n", "\n7\n", 1);
    p["checkpoint"]["note"] = note.into();
    std::fs::write(&tampered, p.to_string()).unwrap();
    let o = verify(&tampered, true);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("signature"), "{v}");

    // Refused when building: a checkpoint below the block, or of another history (both roots
    // named).
    let o = prove(Some(&cp4), &dir.path().join("x.json"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("below the entry's block height 5"),
        "{}",
        text(&o)
    );
    let o = prove(Some(&forked), &dir.path().join("x.json"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("different histories") && text(&o).contains("this ledger's is"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("x.json").exists());
}

#[test]
fn simulate_takes_threshold_metrics_at_the_decision_threshold_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = |t: &str, out: Option<&Path>| {
        let mut args = vec![
            "simulate",
            "--orgs",
            "4",
            "--rounds",
            "3",
            "--rows-per-org",
            "200",
            "--seed",
            "2",
            "--target-epsilon",
            "4",
            "--threshold",
            t,
            "--json",
        ];
        if let Some(o) = out {
            args.extend_from_slice(&["--ledger-out", o.to_str().unwrap()]);
        }
        let o = fedledger(&args);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let half = run("0.5", None);
    let out = dir.path().join("sim");
    let low = run("0.1", Some(&out));
    // Same model, same ranking; more customers predicted positive at 0.1.
    assert_eq!(half["final"]["auc"], low["final"]["auc"]);
    assert!(low["final"]["recall"].as_f64().unwrap() > half["final"]["recall"].as_f64().unwrap());
    let genesis = std::fs::read_to_string(out.join("genesis.toml")).unwrap();
    assert!(genesis.contains("decision_threshold = 0.1"), "{genesis}");
    let o = fedledger(&["simulate", "--threshold", "1.5", "--rounds", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
