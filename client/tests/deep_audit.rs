//! `fedledger audit --deep`: an honest ledger recomputes; a quorum-signed block committing to a
//! wrong model is caught at its height; missing or corrupted update bytes are reported as
//! uncheckable, not as mismatches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::{FinalizationCertificate, FinalizeVote};
use fedledger_ledger::store::{LedgerStore, SledStore, LEDGER_SUBDIR};
use fedledger_ledger::{Digest, Entry, OrgKey};
use serde_json::Value;
use std::path::Path;

mod common;
use common::fedledger;

fn simulate(dir: &Path) {
    let o = fedledger(&[
        "simulate",
        "--orgs",
        "5",
        "--rounds",
        "4",
        "--rows-per-org",
        "300",
        "--rule",
        "krum",
        "--byzantine",
        "1",
        "--attack",
        "sign-flip",
        "--target-epsilon",
        "3",
        "--seed",
        "5",
        "--ledger-out",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn deep(genesis: &Path, dir: &Path) -> (Option<i32>, Value) {
    let o = fedledger(&[
        "audit",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "--deep",
        "--json",
    ]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code(), v)
}

#[test]
fn an_honest_simulated_ledger_recomputes_exactly() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("sim");
    simulate(&dir);
    let (code, v) = deep(&dir.join("genesis.toml"), &dir);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["deep"]["complete"], true, "{v}");
    assert_eq!(v["deep"]["checked"], 4, "{v}");
    assert_eq!(v["deep"]["model_hash"], v["report"]["model_hash"], "{v}");
    // Without --blobs, a file cannot be deep-audited.
    let o = fedledger(&[
        "audit",
        "--genesis",
        dir.join("genesis.toml").to_str().unwrap(),
        "--file",
        "x",
        "--deep",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// Copy the simulated ledger into `out`, re-signing every block from `height` on (all members
/// sign: a colluding quorum), with `height`'s model hash replaced.
fn forge(src: &Path, out: &Path, height: u64) {
    let chain_id = {
        let g = fedledger_ledger::Genesis::load(&src.join("genesis.toml")).unwrap();
        fedledger_ledger::verify::ChainState::new(&g).chain_id()
    };
    let keys: Vec<OrgKey> = (0..5)
        .map(|i| OrgKey::read_from(&src.join("keys").join(format!("org-{i}.key"))).unwrap())
        .collect();
    let from = SledStore::open(&src.join(LEDGER_SUBDIR)).unwrap();
    let to = SledStore::open(&out.join(LEDGER_SUBDIR)).unwrap();
    let mut prev = Digest::ZERO;
    for h in 1..=from.tip().unwrap().unwrap().0 {
        let mut b = from.block(h).unwrap().unwrap();
        for e in &b.entries {
            if let Entry::Update(u) = e {
                let bytes = from.blob(&u.announcement.update_hash).unwrap().unwrap();
                to.put_blob(&bytes).unwrap();
            }
        }
        if h >= height {
            if h == height {
                b.header.model_hash = Digest::of(b"a model nobody computed");
            }
            b.header.prev_hash = prev;
            let vote = FinalizeVote {
                height: h,
                view: b.header.view,
                block_hash: b.header.hash(),
            };
            let votes = keys.iter().map(|k| vote.sign(k, &chain_id)).collect();
            b.certificate = FinalizationCertificate::from_votes(b.header.view, votes);
        }
        prev = b.hash();
        to.append(&b).unwrap();
    }
    to.flush().unwrap();
}

#[test]
fn a_quorum_signed_wrong_model_is_caught_at_its_height() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("sim");
    simulate(&dir);
    let forged = t.path().join("forged");
    forge(&dir, &forged, 3);
    // The plain audit cannot tell: every signature and hash checks out.
    let o = fedledger(&[
        "audit",
        "--genesis",
        dir.join("genesis.toml").to_str().unwrap(),
        "--data-dir",
        forged.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let (code, v) = deep(&dir.join("genesis.toml"), &forged);
    assert_eq!(code, Some(1), "{v}");
    let m = &v["deep"]["mismatches"][0];
    assert_eq!(m["height"], 3, "{v}");
    assert!(m["reason"].as_str().unwrap().contains("model"), "{v}");
    assert_eq!(v["deep"]["checked"], 2, "{v}");
    assert_eq!(v["deep"]["complete"], false, "{v}");
}

#[test]
fn missing_or_corrupt_update_bytes_are_uncheckable_not_mismatches() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("sim");
    simulate(&dir);
    let genesis = dir.join("genesis.toml");
    let store = SledStore::open(&dir.join(LEDGER_SUBDIR)).unwrap();
    let b2 = store.block(2).unwrap().unwrap();
    let hashes: Vec<Digest> = b2
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Update(u) => Some(u.announcement.update_hash),
            _ => None,
        })
        .collect();
    let blobs = store.db().open_tree("blobs").unwrap();
    // One update's bytes replaced by another valid update's bytes; another one removed.
    let other = blobs.get(hashes[1].as_bytes()).unwrap().unwrap();
    blobs.insert(hashes[0].as_bytes(), other).unwrap();
    store.flush().unwrap();
    drop(blobs);
    drop(store);
    let (code, v) = deep(&genesis, &dir);
    assert_eq!(
        code,
        Some(0),
        "uncheckable is not a finding against the ledger: {v}"
    );
    assert_eq!(v["deep"]["complete"], false, "{v}");
    assert!(
        v["deep"]["mismatches"].as_array().unwrap().is_empty(),
        "{v}"
    );
    let u = v["deep"]["unverifiable"].as_array().unwrap();
    assert_eq!(u[0]["height"], 2, "{v}");
    assert!(u[0]["reason"].as_str().unwrap().contains("unusable"), "{v}");
    assert_eq!(u.len(), 3, "heights 2, 3 and 4 cannot be recomputed: {v}");
    assert_eq!(v["deep"]["checked"], 1, "{v}");

    let store = SledStore::open(&dir.join(LEDGER_SUBDIR)).unwrap();
    store
        .db()
        .open_tree("blobs")
        .unwrap()
        .remove(hashes[0].as_bytes())
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let (_, v) = deep(&genesis, &dir);
    assert!(
        v["deep"]["unverifiable"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not in the blob store"),
        "{v}"
    );
}
