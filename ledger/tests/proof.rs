//! Entry inclusion proofs verify against the genesis alone and fail when tampered with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::Entry;
use fedledger_ledger::proof::{build_proof, verify_proof};
use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::testutil::{test_genesis, test_key, RoundPlan, TestChain};

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
