//! Entry inclusion proofs verify against the genesis alone and fail when tampered with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::Entry;
use fedledger_ledger::proof::{
    attach_checkpoint, build_proof, verify_in_checkpoint, verify_proof,
    verify_proof_and_checkpoint, CheckpointEvidence, EntryProof,
};
use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::testutil::{test_genesis, test_key, RoundPlan, TestChain};
use fedledger_ledger::tlog::{self, BlockLog};
use fedledger_ledger::{Digest, OrgKey};

#[test]
fn proofs_verify_across_membership_changes_and_reject_tampering() {
    let mut c = TestChain::new(4, 1, "median");
    let store = SledStore::temporary().unwrap();
    store.append(&c.next_block()).unwrap();
    // A joiner with a key that sorts first, so it is among the signers of later certificates.
    let newcomer = (100..200).map(test_key).min_by_key(|k| k.id()).unwrap();
    let newcomer_id = newcomer.id();
    let join = c.join(newcomer, 10.0);
    let b = c.build(&RoundPlan {
        membership: vec![join],
        ..Default::default()
    });
    store.append(&c.push(b)).unwrap();
    for _ in 0..4 {
        store.append(&c.next_block()).unwrap();
    }
    let last = store.block(6).unwrap().unwrap();
    assert!(
        last.certificate
            .votes
            .iter()
            .any(|v| v.signer == newcomer_id),
        "newcomer signs block 6"
    );
    let update = last
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::Update(u) if u.announcement.org == newcomer_id => {
                Some(u.announcement.update_hash)
            }
            _ => None,
        })
        .expect("newcomer contributed at 6");

    let proof = build_proof(&store, c.chain_id(), &update).unwrap();
    assert_eq!(proof.membership.len(), 1);
    let ok = verify_proof(&c.genesis, &proof).unwrap();
    assert_eq!(ok.height, 6);
    assert!(matches!(ok.entry, Entry::Update(_)));

    // JSON round trip (the file form) keeps it valid.
    let json = serde_json::to_string(&proof).unwrap();
    let back = serde_json::from_str(&json).unwrap();
    assert!(verify_proof(&c.genesis, &back).is_ok());

    // Dropping the membership history makes the newcomer's vote an outsider's.
    let mut stripped = proof.clone();
    stripped.membership.clear();
    assert!(verify_proof(&c.genesis, &stripped).is_err());

    // Another genesis.
    let other = test_genesis(4, 1, "trimmed-mean", 1e6);
    assert!(verify_proof(&other, &proof).is_err());

    // A flipped entry byte, a wrong index, a wrong size.
    let mut t = proof.clone();
    let mut bytes = hex::decode(&t.target.entry_hex).unwrap();
    let last_byte = bytes.len() - 1;
    bytes[last_byte] ^= 1;
    t.target.entry_hex = hex::encode(bytes);
    assert!(verify_proof(&c.genesis, &t).is_err());
    let mut t = proof.clone();
    t.target.proof.index ^= 1;
    assert!(verify_proof(&c.genesis, &t).is_err());
    let mut t = proof.clone();
    t.target.proof.size += 1;
    assert!(verify_proof(&c.genesis, &t).is_err());
    // A certificate short of a quorum.
    let mut t = proof;
    t.target.certificate.votes.truncate(1);
    assert!(verify_proof(&c.genesis, &t).is_err());
}

/// Blocks 1..=8 with a join recorded at 2; the newcomer's update at 6 is the target.
fn chain_with_joiner() -> (TestChain, SledStore, OrgKey, EntryProof) {
    let mut c = TestChain::new(4, 1, "median");
    let store = SledStore::temporary().unwrap();
    store.append(&c.next_block()).unwrap();
    let newcomer = (100..200).map(test_key).min_by_key(|k| k.id()).unwrap();
    let signer = OrgKey::from_secret(newcomer.secret_bytes(), "newcomer");
    let join = c.join(newcomer, 10.0);
    let b = c.build(&RoundPlan {
        membership: vec![join],
        ..Default::default()
    });
    store.append(&c.push(b)).unwrap();
    for _ in 0..6 {
        store.append(&c.next_block()).unwrap();
    }
    let update = store
        .block(6)
        .unwrap()
        .unwrap()
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::Update(u) if u.announcement.org == signer.id() => {
                Some(u.announcement.update_hash)
            }
            _ => None,
        })
        .expect("newcomer contributed at 6");
    let proof = build_proof(&store, c.chain_id(), &update).unwrap();
    (c, store, signer, proof)
}

fn stored_log(store: &SledStore) -> BlockLog {
    let hashes: Vec<Digest> = store.blocks(1).map(|b| b.unwrap().hash()).collect();
    BlockLog::from_block_hashes(&hashes)
}

/// The note with one character of its last signature changed (still base64).
fn forge(note: &str) -> String {
    let start = note.rfind("\u{2014} ").unwrap();
    let sig_at = start + note[start..].rfind(' ').unwrap() + 1 + 30;
    let mut bytes = note.as_bytes().to_vec();
    bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_proof_carries_a_checkpoint_that_includes_its_block_and_tampering_fails() {
    let (c, store, newcomer, proof) = chain_with_joiner();
    let log = stored_log(&store);
    assert_eq!(log.size(), 8);
    let chain = c.chain_id();
    // Signed by the newcomer alone: a member the proof's own history admitted.
    let note = tlog::sign_checkpoint(&chain, &log, 8, &[&newcomer]).unwrap();
    let mut with = proof.clone();
    let attached = attach_checkpoint(&store, &c.genesis, &mut with, note.as_bytes()).unwrap();
    assert_eq!((attached.size, attached.leaf_index), (8, 5));
    let (v, cp) = verify_proof_and_checkpoint(&c.genesis, &with).unwrap();
    let cp = cp.expect("checked");
    assert_eq!(v.height, 6);
    assert_eq!(
        (cp.size, cp.root, cp.in_checkpoint),
        (8, log.root(8).unwrap(), true)
    );
    assert_eq!(cp.signers, vec![newcomer.id()]);

    // The file form keeps it; a file without a checkpoint (as written before) still verifies.
    let back: EntryProof = serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
    assert!(verify_proof_and_checkpoint(&c.genesis, &back)
        .unwrap()
        .1
        .is_some());
    let old_form = serde_json::to_string(&proof).unwrap();
    assert!(!old_form.contains("checkpoint"));
    let old: EntryProof = serde_json::from_str(&old_form).unwrap();
    assert!(verify_proof_and_checkpoint(&c.genesis, &old)
        .unwrap()
        .1
        .is_none());
    // A checkpoint exactly at the block's height has a path too.
    let at6 = tlog::sign_checkpoint(&chain, &log, 6, &[&c.keys[0]]).unwrap();
    let mut t = proof.clone();
    attach_checkpoint(&store, &c.genesis, &mut t, at6.as_bytes()).unwrap();
    verify_proof_and_checkpoint(&c.genesis, &t).unwrap();

    let fails = |p: &EntryProof, needle: &str| {
        let err = verify_proof_and_checkpoint(&c.genesis, p)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    };
    let ev = with.checkpoint.clone().unwrap();
    // A tampered path hash, a path for another leaf, a truncated or padded path.
    let mut t = with.clone();
    t.checkpoint.as_mut().unwrap().inclusion[0].0[0] ^= 1;
    fails(&t, "is not leaf 5 of the log of size 8");
    let mut t = with.clone();
    t.checkpoint.as_mut().unwrap().inclusion = log.inclusion(4, 8).unwrap();
    fails(&t, "is not leaf 5");
    let mut t = with.clone();
    t.checkpoint.as_mut().unwrap().inclusion.pop();
    fails(&t, "inclusion proof does not hold");
    let mut t = with.clone();
    t.checkpoint.as_mut().unwrap().inclusion = vec![Digest::ZERO; 200];
    fails(&t, "too long");
    // A forged signature; a signature by a key that never was a member.
    let mut t = with.clone();
    t.checkpoint.as_mut().unwrap().note = forge(&ev.note);
    fails(&t, "bad signed checkpoint");
    let outsider = test_key(999);
    let mut t = with.clone();
    t.checkpoint.as_mut().unwrap().note =
        tlog::sign_checkpoint(&chain, &log, 8, &[&outsider]).unwrap();
    fails(&t, "no verifiable signatures");
    // Without the membership history, the newcomer's signature is an outsider's too (and its
    // certificate is caught first).
    let mut t = with.clone();
    t.membership.clear();
    assert!(verify_proof_and_checkpoint(&c.genesis, &t).is_err());
    // Another chain's checkpoint, signed by the same keys.
    let other = Digest::of(b"another chain");
    let mut t = with.clone();
    t.checkpoint.as_mut().unwrap().note =
        tlog::sign_checkpoint(&other, &log, 8, &[&c.keys[0]]).unwrap();
    fails(&t, "no verifiable signatures");
    let v = verify_proof(&c.genesis, &with).unwrap();
    let opened = tlog::open_checkpoint(ev.note.as_bytes(), &chain, &[newcomer.id()]).unwrap();
    let foreign = tlog::OpenedCheckpoint {
        origin: tlog::origin(&other),
        ..opened.clone()
    };
    let err = verify_in_checkpoint(&v, &foreign, &ev.inclusion).unwrap_err();
    assert!(err.to_string().contains("the entry's chain is"), "{err}");
    let unsigned = tlog::OpenedCheckpoint {
        signers: vec![],
        ..opened.clone()
    };
    let err = verify_in_checkpoint(&v, &unsigned, &ev.inclusion).unwrap_err();
    assert!(err.to_string().contains("no member signed"), "{err}");
    // A checkpoint below the block's height, with whatever path.
    let mut t = with.clone();
    t.checkpoint = Some(CheckpointEvidence {
        note: tlog::sign_checkpoint(&chain, &log, 5, &[&c.keys[0]]).unwrap(),
        inclusion: log.inclusion(4, 5).unwrap(),
    });
    fails(&t, "cannot include block 6");
}

#[test]
fn a_checkpoint_is_refused_when_it_cannot_hold_the_block_or_differs_from_the_ledger() {
    let (c, store, _, proof) = chain_with_joiner();
    let log = stored_log(&store);
    let chain = c.chain_id();
    let attach = |note: String| {
        let mut p = proof.clone();
        let r = attach_checkpoint(&store, &c.genesis, &mut p, note.as_bytes());
        assert!(p.checkpoint.is_none() || r.is_ok());
        r.map(|_| ()).map_err(|e| e.to_string())
    };
    let key = &c.keys[1];
    let err = attach(tlog::sign_checkpoint(&chain, &log, 5, &[key]).unwrap()).unwrap_err();
    assert!(err.contains("below the entry's block height 6"), "{err}");
    // A longer history than this ledger holds.
    let mut longer = log.clone();
    longer.append(&Digest::of(b"block 9"));
    let err = attach(tlog::sign_checkpoint(&chain, &longer, 9, &[key]).unwrap()).unwrap_err();
    assert!(err.contains("holds 8 blocks"), "{err}");
    // Another history of the same size: both roots are named.
    let mut hashes: Vec<Digest> = store.blocks(1).map(|b| b.unwrap().hash()).collect();
    hashes[6] = Digest::of(b"a forked block 7");
    let fork = BlockLog::from_block_hashes(&hashes);
    let err = attach(tlog::sign_checkpoint(&chain, &fork, 8, &[key]).unwrap()).unwrap_err();
    assert!(
        err.contains(&fork.root(8).unwrap().to_string())
            && err.contains(&log.root(8).unwrap().to_string()),
        "{err}"
    );
    // Not a checkpoint at all, or forged.
    assert!(attach("hello\n".into()).is_err());
    let good = tlog::sign_checkpoint(&chain, &log, 8, &[key]).unwrap();
    let err = attach(forge(&good)).unwrap_err();
    assert!(err.contains("bad signed checkpoint"), "{err}");
    attach(good).unwrap();
}
