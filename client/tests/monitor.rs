//! `fedledger monitor` against nodes' real status listeners serving forged histories: two
//! colluding nodes that show two monitors two histories of the same length are caught by the
//! monitors comparing checkpoints; a history rewritten after a monitor saw it is caught at the
//! next poll; an honest extension is verified incrementally and cosigned; an audit of a
//! consortium whose genesis names witnesses requires their cosignatures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::testutil::{test_genesis, test_key, RoundPlan, TestChain};
use fedledger_ledger::tlog::{self, WitnessKey};
use fedledger_ledger::{Block, Digest, OrgKey};
use fedledger_node::daemon::status::{self, AdminSettings, AdminToken, Shared};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

mod common;
use common::{fedledger, text};

/// A chain of `len` blocks; `fork` excludes another member at height 2, so two chains with
/// different `fork` share block 1 and differ from 2 on (what a colluding quorum can sign).
fn history(c: &mut TestChain, len: usize, fork: usize) -> Vec<Block> {
    let mut blocks = vec![c.next_block()];
    let org = c.state.validators()[fork];
    let b = c.build(&RoundPlan {
        excluded: vec![org],
        ..Default::default()
    });
    blocks.push(c.push(b));
    while blocks.len() < len {
        blocks.push(c.next_block());
    }
    blocks
}

/// A node's status listener (the real one) serving `blocks`, signing checkpoints with `key`.
fn serve(
    rt: &tokio::runtime::Runtime,
    blocks: &[Block],
    chain_id: &Digest,
    key: &OrgKey,
) -> String {
    let store = SledStore::temporary().unwrap();
    for b in blocks {
        store.append(b).unwrap();
    }
    let shared = Shared::default();
    let hashes: Vec<Digest> = blocks.iter().map(Block::hash).collect();
    shared.transparency.append(&hashes, chain_id, key);
    shared.transparency.attach_store(store);
    let registry = Arc::new(status::metrics::node_registry(&shared));
    let admin = AdminSettings {
        token: AdminToken::from_secret("x".repeat(32)),
        allow_remote: false,
    };
    let addr: SocketAddr = rt
        .block_on(status::serve(
            "127.0.0.1:0".parse().unwrap(),
            shared,
            registry,
            admin,
        ))
        .unwrap();
    addr.to_string()
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn write_key(dir: &Path, name: &str, key: &OrgKey) -> PathBuf {
    let p = dir.join(name);
    key.write_to(&p).unwrap();
    p
}

fn alarms(state: &Path) -> Vec<serde_json::Value> {
    let Ok(dir) = std::fs::read_dir(state.join("alarms")) else {
        return Vec::new();
    };
    dir.map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect()
}

#[test]
fn two_colluding_nodes_showing_two_histories_to_two_monitors_are_caught_with_both_checkpoints() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cx = TestChain::new(4, 1, "median");
    let mut cy = TestChain::new(4, 1, "median");
    let x = history(&mut cx, 6, 0);
    let y = history(&mut cy, 6, 1);
    assert_eq!(x[0].hash(), y[0].hash());
    assert_ne!(x[5].hash(), y[5].hash());
    let genesis = dir.path().join("genesis.toml");
    std::fs::write(&genesis, cx.genesis.to_toml()).unwrap();
    let chain = cx.chain_id();
    // Two members of the colluding quorum, each showing one history.
    let node1 = serve(&rt, &x, &chain, &test_key(0));
    let node2 = serve(&rt, &y, &chain, &test_key(1));
    let (la, lb) = (free_port(), free_port());
    let (wa, wb) = (test_key(70), test_key(71));
    let spawn = |node: &str, other: &str, listen: &str, state: &str, key: &Path, name: &str| {
        Command::new(env!("CARGO_BIN_EXE_fedledger"))
            .args([
                "monitor",
                "--genesis",
                genesis.to_str().unwrap(),
                "--peer",
                node,
                "--peer",
                other,
                "--state",
                dir.path().join(state).to_str().unwrap(),
                "--witness-key",
                key.to_str().unwrap(),
                "--witness-name",
                name,
                "--listen",
                listen,
                "--interval",
                "1",
                "--polls",
                "4",
                "--json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let ka = write_key(dir.path(), "wa.key", &wa);
    let kb = write_key(dir.path(), "wb.key", &wb);
    let a = spawn(&node1, &lb, &la, "a", &ka, "a.example/witness");
    let b = spawn(&node2, &la, &lb, "b", &kb, "b.example/witness");
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(oa.status.code(), Some(1), "{}", text(&oa));
    assert_eq!(ob.status.code(), Some(1), "{}", text(&ob));
    assert!(text(&oa).contains("ALARM"), "{}", text(&oa));
    for (state, theirs_peer, witness, other_witness) in [("a", &lb, &wa, &wb), ("b", &la, &wb, &wa)]
    {
        let found = alarms(&dir.path().join(state));
        let alarm = found
            .iter()
            .find(|v| v["kind"] == "split-view" && v["peer"] == theirs_peer.as_str())
            .unwrap_or_else(|| panic!("monitor {state}: {found:?}"));
        // Both signed checkpoints, same size, two roots, each cosigned by its monitor.
        let ours = alarm["ours"]["note"].as_str().unwrap();
        let theirs = alarm["theirs"]["note"].as_str().unwrap();
        let members: Vec<_> = (0..4).map(|i| test_key(i).id()).collect();
        let o = tlog::open_checkpoint(ours.as_bytes(), &chain, &members).unwrap();
        let t = tlog::open_checkpoint(theirs.as_bytes(), &chain, &members).unwrap();
        assert_eq!((o.size, t.size), (6, 6));
        assert_ne!(o.root, t.root);
        let wk = |w: &OrgKey, n: &str| WitnessKey::of(n, w).unwrap();
        let (mine, other) = if state == "a" {
            (
                wk(witness, "a.example/witness"),
                wk(other_witness, "b.example/witness"),
            )
        } else {
            (
                wk(witness, "b.example/witness"),
                wk(other_witness, "a.example/witness"),
            )
        };
        assert_eq!(
            tlog::cosignatures(ours.as_bytes(), &[mine]).unwrap().len(),
            1
        );
        assert_eq!(
            tlog::cosignatures(theirs.as_bytes(), &[other])
                .unwrap()
                .len(),
            1
        );
    }
}

#[test]
fn a_rewritten_history_is_caught_at_the_next_poll_and_an_honest_one_is_followed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cx = TestChain::new(4, 1, "median");
    let mut cy = TestChain::new(4, 1, "median");
    let mut x = history(&mut cx, 6, 0);
    let y = history(&mut cy, 8, 1);
    let genesis = dir.path().join("genesis.toml");
    std::fs::write(&genesis, cx.genesis.to_toml()).unwrap();
    let chain = cx.chain_id();
    let key = test_key(2);
    let state = dir.path().join("state");
    let poll = |peer: &str| {
        fedledger(&[
            "monitor",
            "--genesis",
            genesis.to_str().unwrap(),
            "--peer",
            peer,
            "--state",
            state.to_str().unwrap(),
            "--polls",
            "1",
            "--json",
        ])
    };
    let o = poll(&serve(&rt, &x, &chain, &key));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("\"verified_height\":6"), "{}", text(&o));

    // The node goes on honestly: the monitor verifies only the new blocks.
    for _ in 0..3 {
        x.push(cx.next_block());
    }
    let o = poll(&serve(&rt, &x, &chain, &key));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("\"verified_height\":9"), "{}", text(&o));

    // The node now shows a rewritten history: shorter (a split view at a verified size) ...
    let o = poll(&serve(&rt, &y[..6], &chain, &key));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // ... or longer (its consistency proof from the verified size cannot hold).
    let mut y = y;
    for _ in 0..4 {
        y.push(cy.next_block());
    }
    let o = poll(&serve(&rt, &y, &chain, &key));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let found = alarms(&state);
    let kinds: Vec<&str> = found.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"split-view") && kinds.contains(&"not-an-extension"),
        "{kinds:?}"
    );
    let rewrite = found
        .iter()
        .find(|a| a["kind"] == "not-an-extension")
        .unwrap();
    assert_eq!(rewrite["theirs"]["size"], 12);
    assert!(rewrite["ours"]["note"].as_str().unwrap().contains("\n9\n"));
    // The verified history was not replaced.
    let o = poll(&serve(&rt, &x, &chain, &key));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("\"verified_height\":9"), "{}", text(&o));
}

#[test]
fn an_audit_requires_the_genesis_witnesses_cosignatures() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w = test_key(80);
    let mut genesis = test_genesis(4, 1, "median", 1e6);
    genesis.transparency = Some(fedledger_ledger::genesis::TransparencyPolicy {
        witnesses: vec![WitnessKey::of("w.example", &w).unwrap().vkey()],
        witness_quorum: None,
    });
    let mut c = TestChain::with_genesis((0..4).map(test_key).collect(), genesis);
    let blocks: Vec<Block> = (0..5).map(|_| c.next_block()).collect();
    let gpath = dir.path().join("genesis.toml");
    std::fs::write(&gpath, c.genesis.to_toml()).unwrap();
    let g = gpath.to_str().unwrap();
    let data = dir.path().join("node");
    {
        let store = SledStore::open(&data.join(fedledger_ledger::store::LEDGER_SUBDIR)).unwrap();
        for b in &blocks {
            store.append(b).unwrap();
        }
        store.flush().unwrap();
    }
    let node = serve(&rt, &blocks, &c.chain_id(), &test_key(0));
    let state = dir.path().join("m");
    let wkey = write_key(dir.path(), "w.key", &w);
    let o = fedledger(&[
        "monitor",
        "--witness-key",
        wkey.to_str().unwrap(),
        "--witness-name",
        "w.example",
        "--print-vkey",
        "--genesis",
        g,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        c.genesis.transparency.as_ref().unwrap().witnesses[0]
    );
    let o = fedledger(&[
        "monitor",
        "--genesis",
        g,
        "--peer",
        &node,
        "--state",
        state.to_str().unwrap(),
        "--witness-key",
        wkey.to_str().unwrap(),
        "--witness-name",
        "w.example",
        "--polls",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let audit = |extra: &[&str]| {
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
    let cosigned = state.join("checkpoint");
    let (code, v) = audit(&["--checkpoint", cosigned.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["checkpoint"]["cosigned_by"][0]["witness"], "w.example");
    assert_eq!(v["checkpoint"]["matches_ledger"], true);
    // Without a checkpoint, or with one the witness did not cosign: rule checkpoint.
    let (code, v) = audit(&[]);
    assert_eq!(
        (code, v["violation"]["rule"].as_str()),
        (Some(1), Some("checkpoint")),
        "{v}"
    );
    let bare = dir.path().join("bare.txt");
    let note = tlog::sign_checkpoint(
        &c.chain_id(),
        &tlog::BlockLog::from_block_hashes(&blocks.iter().map(Block::hash).collect::<Vec<_>>()),
        5,
        &[&test_key(1)],
    )
    .unwrap();
    std::fs::write(&bare, note).unwrap();
    let (code, v) = audit(&["--checkpoint", bare.to_str().unwrap()]);
    assert_eq!(
        (code, v["violation"]["rule"].as_str()),
        (Some(1), Some("checkpoint")),
        "{v}"
    );

    // Offline evidence for one update: in the history the witness saw, or refused.
    let update = blocks[2]
        .entries
        .iter()
        .find_map(|e| match e {
            fedledger_ledger::block::Entry::Update(u) => Some(u.announcement.update_hash),
            _ => None,
        })
        .unwrap()
        .to_hex();
    let prove = |checkpoint: Option<&Path>, out: &str| {
        let out = dir.path().join(out);
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
        if let Some(c) = checkpoint {
            args.extend_from_slice(&["--checkpoint", c.to_str().unwrap()]);
        }
        let o = fedledger(&args);
        assert!(o.status.success(), "{}", text(&o));
        let o = fedledger(&[
            "verify-proof",
            "--genesis",
            g,
            "--proof",
            out.to_str().unwrap(),
            "--json",
        ]);
        (o.status.code(), text(&o))
    };
    let (code, out) = prove(Some(&cosigned), "witnessed.json");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("w.example") && out.contains("\"in_checkpoint\": true"),
        "{out}"
    );
    let (code, out) = prove(Some(&bare), "bare.json");
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("cosignature"), "{out}");
    let (code, out) = prove(None, "none.json");
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("witness"), "{out}");
}
