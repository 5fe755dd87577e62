//! End-to-end runs of real `fedledger-node` processes on loopback: the quick-start testnet, a
//! crashed member catching up (watched by a monitor), a crashed leader forcing a view change, an attacker under Krum,
//! and a node refusing a tampered ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_tests::{cli, serial, Testnet};
use serde_json::Value;
use std::time::Duration;

const FAST: [&str; 4] = ["--collect-timeout-ms", "1500", "--view-timeout-ms", "2000"];

fn testnet_json(args: &[&str]) -> Value {
    let mut all = vec!["testnet", "--json"];
    all.extend_from_slice(args);
    all.extend_from_slice(&FAST);
    let out = cli(&all);
    assert!(
        out.status.success(),
        "fedledger testnet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn four_nodes_five_rounds_identical_audited_and_learning() {
    let _g = serial();
    let s = testnet_json(&["--nodes", "4", "--rounds", "5"]);
    assert_eq!(s["identical"], true, "{s}");
    assert_eq!(s["all_valid"], true, "{s}");
    let orgs = s["orgs"].as_array().unwrap();
    assert_eq!(orgs.len(), 4);
    for o in orgs {
        assert_eq!(o["height"], 5, "{o}");
        assert!(o["updates"].as_u64().unwrap() >= 3, "{o}");
        assert!(o["epsilon_spent"].as_f64().unwrap() > 0.0, "{o}");
    }
    // Round 1's summary evaluates the initial model; round 5's the model after four rounds.
    let first = s["first_round"]["auc"].as_f64().unwrap();
    let last = s["last_round"]["auc"].as_f64().unwrap();
    assert!(last > first + 0.02, "AUC {first} -> {last}");
}

#[test]
fn a_killed_member_restarts_and_catches_up() {
    let _g = serial();
    let mut net = Testnet::setup(&[&["--nodes", "4", "--rounds", "10"][..], &FAST].concat());
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(60));
    net.kill9(3);
    // Three of four are a quorum: rounds go on without it.
    net.wait_height(&[0, 1, 2], 6, Duration::from_secs(90));
    net.start(3);
    net.wait_height(&[0, 1, 2, 3], 10, Duration::from_secs(120));
    // A monitor beside the running testnet: every node's checkpoint, the restarted one's
    // included, is consistent with the history it verifies from their blocks; a second poll
    // from its state verifies only what is new.
    let state = net.root.path().join("monitor");
    let monitor = || {
        let mut args = vec![
            "monitor".to_string(),
            "--genesis".into(),
            net.genesis.display().to_string(),
            "--state".into(),
            state.display().to_string(),
            "--polls".into(),
            "1".into(),
            "--json".into(),
        ];
        for n in &net.nodes {
            args.extend(["--peer".to_string(), n.status.clone()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli(&refs);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let poll: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(poll["alarms"], 0);
        poll["verified_height"].as_u64().unwrap()
    };
    let first = monitor();
    assert!(first >= 10, "verified {first}");
    assert!(monitor() >= first);
    assert!(state.join("checkpoint").exists());
    let audits = net.finish_and_compare(10);
    assert_eq!(audits[3]["report"]["height"], audits[0]["report"]["height"]);
}

#[test]
fn a_killed_leader_forces_a_recorded_view_change() {
    let _g = serial();
    let mut net = Testnet::setup(&[&["--nodes", "4", "--rounds", "9"][..], &FAST].concat());
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(60));
    // Validators are sorted by id; the view-0 leader of height h is validators[h mod n].
    let mut sorted: Vec<(String, usize)> = net
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.org.clone(), i))
        .collect();
    sorted.sort();
    let h = net.height(0);
    let victim = sorted[((h + 2) % 4) as usize].1;
    net.kill9(victim);
    let at_kill = (0..4)
        .filter(|i| *i != victim)
        .map(|i| net.height(i))
        .max()
        .unwrap();
    let live: Vec<usize> = (0..4).filter(|i| *i != victim).collect();
    net.wait_height(&live, 9, Duration::from_secs(120));
    net.stop_all();
    let audit = net.audit(live[0]);
    assert_eq!(audit["valid"], true, "{audit}");
    let victim_org = &net.nodes[victim].org;
    let led_after_kill: Vec<&Value> = audit["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let height = r["height"].as_u64().unwrap();
            height > at_kill + 1 && sorted[(height % 4) as usize].0 == *victim_org
        })
        .collect();
    assert!(
        !led_after_kill.is_empty(),
        "the dead leader had no turn after the kill"
    );
    for r in led_after_kill {
        assert!(
            r["view"].as_u64().unwrap() >= 1,
            "height {} finalized in view 0 without its leader: {r}",
            r["height"]
        );
        assert_ne!(
            r["proposer"].as_str().unwrap(),
            &victim_org[..r["proposer"].as_str().unwrap().len()]
        );
    }
}

/// With an attacker and no --rule, testnet picks `robust` (ARC, NNM, Multi-Krum) on 5 real
/// nodes: the attacker's update is excluded outright in some rounds (its mix is never selected
/// and no selected mix contains it), clipped and diluted in the others; the model learns as
/// well as without it and every ledger deep-audits.
#[test]
fn the_default_robust_rule_contains_a_sign_flipper() {
    let _g = serial();
    let clean = testnet_json(&["--nodes", "5", "--rounds", "5", "--rule", "robust"]);
    let s = testnet_json(&["--rounds", "5", "--byzantine", "1", "--attack", "sign-flip"]);
    assert_eq!(s["identical"], true, "{s}");
    assert_eq!(s["all_valid"], true, "{s}");
    let orgs = s["orgs"].as_array().unwrap();
    assert_eq!(orgs.len(), 5, "robust needs n >= 2f+3");
    let attacker = orgs.iter().find(|o| o["attack"] == "sign-flip").unwrap();
    let updates = attacker["updates"].as_u64().unwrap();
    assert!(updates >= 3, "{attacker}");
    assert!(attacker["exclusions"].as_u64().unwrap() >= 1, "{attacker}");
    let auc = |s: &Value| s["last_round"]["auc"].as_f64().unwrap();
    assert!(
        auc(&s) >= auc(&clean) - 0.03,
        "clean {} attacked {}",
        auc(&clean),
        auc(&s)
    );
}

/// Bucketing's permutation comes from the previous block hash: every validator and the deep
/// audit must derive the same buckets, round after round. DP settings are planned (genesis
/// `[dp.plan]`).
#[test]
fn bucketing_rounds_agree_and_deep_audit() {
    let _g = serial();
    let s = testnet_json(&[
        "--nodes",
        "5",
        "--rounds",
        "4",
        "--rule",
        "bucketing+median",
        // Members train on planned DP settings; validators and the audit check every spend
        // against the plan for the member's signed example count.
        "--target-epsilon",
        "5",
    ]);
    assert_eq!(s["identical"], true, "{s}");
    assert_eq!(s["all_valid"], true, "{s}");
    for o in s["orgs"].as_array().unwrap() {
        assert_eq!(o["height"], 4, "{o}");
    }
    let spent: Vec<f64> = s["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["epsilon_spent"].as_f64().unwrap())
        .collect();
    assert!(spent.iter().all(|&e| e <= 5.0), "{s}");
    assert!(spent.iter().any(|&e| e > 3.0), "{s}");
}

#[test]
fn a_sign_flip_attacker_is_excluded_under_krum() {
    let _g = serial();
    let common = ["--nodes", "5", "--rule", "krum", "--rounds", "6"];
    let clean = testnet_json(&common);
    let attacked =
        testnet_json(&[&common[..], &["--byzantine", "1", "--attack", "sign-flip"]].concat());
    for s in [&clean, &attacked] {
        assert_eq!(s["identical"], true, "{s}");
        assert_eq!(s["all_valid"], true, "{s}");
    }
    let attacker = attacked["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["attack"] == "sign-flip")
        .unwrap();
    let updates = attacker["updates"].as_u64().unwrap();
    assert!(updates >= 4, "{attacker}");
    assert_eq!(
        attacker["exclusions"].as_u64().unwrap(),
        updates,
        "Krum let a sign-flipped update through: {attacker}"
    );
    let auc = |s: &Value| s["last_round"]["auc"].as_f64().unwrap();
    assert!(
        (auc(&clean) - auc(&attacked)).abs() <= 0.03,
        "clean {} attacked {}",
        auc(&clean),
        auc(&attacked)
    );
}

#[test]
fn a_node_refuses_a_tampered_ledger_and_names_the_height() {
    let _g = serial();
    let mut net = Testnet::setup(&[&["--nodes", "4", "--rounds", "3"][..], &FAST].concat());
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 3, Duration::from_secs(60));
    net.stop_all();
    {
        let store =
            fedledger_ledger::store::SledStore::open(&net.nodes[1].dir.join("ledger")).unwrap();
        let blocks = store.db().open_tree("blocks").unwrap();
        let key = 2u64.to_be_bytes();
        let mut raw = blocks.get(key).unwrap().unwrap().to_vec();
        let mid = raw.len() / 2;
        raw[mid] ^= 0x01;
        blocks.insert(key, raw).unwrap();
        store.flush().unwrap();
    }
    let out = std::process::Command::new(&fedledger_tests::bins().1)
        .args(["run", "--config", net.nodes[1].config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a tampered ledger: {err}");
    assert!(err.contains("invalid at height 2"), "{err}");
}

#[test]
fn an_organization_joins_mid_run_and_contributes_from_its_admission() {
    let _g = serial();
    let s = testnet_json(&["--nodes", "4", "--rounds", "10", "--join"]);
    assert_eq!(s["identical"], true, "{s}");
    assert_eq!(s["all_valid"], true, "{s}");
    let m = s["membership"].as_array().unwrap();
    assert_eq!(m.len(), 1, "{s}");
    assert_eq!(m[0]["action"], "join", "{s}");
    let effective = m[0]["effective_height"].as_u64().unwrap();
    assert!(effective <= 10, "{s}");
    let joiner = s["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "org-4")
        .unwrap();
    assert_eq!(
        joiner["height"], 10,
        "the joiner's ledger is complete: {joiner}"
    );
    let updates = joiner["updates"].as_u64().unwrap();
    assert!(
        updates >= 1 && updates <= 10 - effective + 1,
        "joiner contributed {updates} from height {effective}: {s}"
    );
}

#[test]
fn a_member_leaves_with_the_others_approval() {
    let _g = serial();
    let mut net = Testnet::setup(
        &[
            &["--nodes", "5", "--rounds", "30", "--epsilon-max", "100"][..],
            &FAST,
        ]
        .concat(),
    );
    net.start_all();
    net.wait_height(&[0, 1, 2, 3, 4], 2, Duration::from_secs(60));
    let leaver = net.nodes[4].org.clone();
    // The admin token is read from the node's data dir (written there at its start).
    let out = cli(&[
        "leave",
        "--node",
        &net.nodes[4].status,
        "--data-dir",
        net.nodes[4].dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Manual admission (the default): each member approves with `fedledger admit`, retried
    // until its node has seen the request.
    let t = std::time::Instant::now();
    loop {
        for i in 0..4 {
            let out = cli(&[
                "admit",
                &leaver,
                "--node",
                &net.nodes[i].status,
                "--data-dir",
                net.nodes[i].dir.to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let approved = (0..4)
            .filter(|&i| {
                net.status(i).is_some_and(|s| {
                    s["pending_requests"]
                        .as_array()
                        .is_some_and(|p| p.iter().any(|r| r["approved_here"] == true))
                })
            })
            .count();
        let recorded = net.status(0).is_some_and(|s| {
            s["pending_requests"]
                .as_array()
                .is_some_and(|p| p.is_empty())
                && net.height(0) > 2
        });
        if approved >= 3
            || (recorded && t.elapsed() > Duration::from_secs(3))
            || t.elapsed() > Duration::from_secs(30)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    net.wait_height(&[0, 1, 2, 3, 4], 30, Duration::from_secs(180));
    net.stop_all();
    let audit = net.audit(0);
    assert_eq!(audit["valid"], true, "{audit}");
    let m = audit["report"]["membership"].as_array().unwrap();
    let leave = m
        .iter()
        .find(|e| e["action"] == "leave")
        .unwrap_or_else(|| panic!("no leave recorded: {audit}"));
    assert_eq!(leave["org"], leaver.as_str());
    let effective = leave["effective_height"].as_u64().unwrap();
    assert!(effective <= 30, "{audit}");
    assert!(
        !audit["report"]["validators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == leaver.as_str()),
        "{audit}"
    );
}

#[test]
fn a_million_parameter_model_travels_and_finalizes() {
    let _g = serial();
    // MLP 10 -> 1000 -> 990 -> 1: 1,002,981 parameters, a 4 MB update per member per round.
    let out = cli(&[
        "testnet",
        "--json",
        "--nodes",
        "4",
        "--rounds",
        "2",
        "--hidden",
        "1000,990",
        "--rows",
        "60",
        "--epsilon-max",
        "50",
        "--collect-timeout-ms",
        "20000",
        "--view-timeout-ms",
        "30000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["identical"], true, "{s}");
    assert_eq!(s["all_valid"], true, "{s}");
    // Each member serves its 4 MB update to the others: megabytes per node per round.
    assert!(
        s["timing"]["bytes_sent_per_node_round"].as_f64().unwrap() > 4.0e6,
        "{s}"
    );
    for o in s["orgs"].as_array().unwrap() {
        assert_eq!(o["height"], 2, "{o}");
    }
}
