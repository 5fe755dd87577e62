//! Checking synced blocks as a lying block server would send them: only a verified prefix is
//! kept, and the first fault is named with the reason counted in `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::{DpSpend, FinalizationCertificate, FinalizeVote};
use fedledger_ledger::testutil::{test_genesis, test_key, RoundPlan, TestChain};
use fedledger_ledger::verify::{ChainState, Rule};
use fedledger_ledger::{codec, Block, Digest};
use fedledger_node::daemon::sync::{check_blocks, check_raw, Checked, SyncFault};

/// A fresh state at genesis and `n` valid, certified blocks after it.
fn honest(n: usize) -> (ChainState, Vec<Block>, TestChain) {
    let mut c = TestChain::new(4, 1, "median");
    let state = ChainState::new(&c.genesis);
    let blocks = (0..n).map(|_| c.next_block()).collect();
    (state, blocks, c)
}

/// Re-sign `b`'s certificate with keys that are not validators (a peer vouching for itself).
fn self_certified(b: &mut Block, chain_id: &Digest) {
    let vote = FinalizeVote {
        height: b.header.height,
        view: b.header.view,
        block_hash: b.header.hash(),
    };
    let votes = (100..104)
        .map(|i| vote.sign(&test_key(i), chain_id))
        .collect();
    b.certificate = FinalizationCertificate::from_votes(b.header.view, votes);
}

fn assert_fault(c: &Checked, kept: usize, reason: &str) {
    assert_eq!(c.blocks.len(), kept, "verified prefix");
    let f = c.fault.as_ref().expect("a fault");
    assert_eq!(f.reason(), reason, "{f}");
}

#[test]
fn an_honest_batch_is_kept_whole() {
    let (mut state, blocks, c) = honest(5);
    let checked = check_blocks(&mut state, blocks.clone());
    assert!(checked.fault.is_none(), "{:?}", checked.fault);
    assert_eq!(checked.blocks, blocks);
    assert_eq!(state.height(), 5);
    assert_eq!(state.tip_hash(), c.state.tip_hash());

    // The same over the wire, and resuming from the middle of the chain.
    let (mut state, blocks, _) = honest(5);
    let raw: Vec<Vec<u8>> = blocks.iter().map(codec::encode).collect();
    let first = check_raw(&mut state, &raw[..2], 64);
    let rest = check_raw(&mut state, &raw[2..], 64);
    assert!(first.fault.is_none() && rest.fault.is_none());
    assert_eq!((first.blocks.len(), rest.blocks.len()), (2, 3));
    assert_eq!(state.height(), 5);
}

#[test]
fn a_gap_keeps_the_blocks_before_it() {
    let (mut state, mut blocks, _) = honest(5);
    blocks.remove(2);
    let checked = check_blocks(&mut state, blocks);
    assert_fault(&checked, 2, "sync-gap");
    assert_eq!(
        checked.fault,
        Some(SyncFault::Gap {
            expected: 3,
            found: 4
        })
    );
    assert_eq!(state.height(), 2);

    // A batch that starts past our tip proves nothing and is dropped whole.
    let (mut state, blocks, _) = honest(5);
    assert_fault(
        &check_blocks(&mut state, blocks[3..].to_vec()),
        0,
        "sync-gap",
    );
    assert_eq!(state.height(), 0);
}

#[test]
fn a_block_of_another_history_is_a_gap() {
    // Right height, but linked to a different parent (another genesis).
    let mut other = TestChain::with_genesis(
        (0..4).map(test_key).collect(),
        test_genesis(4, 1, "median", 5e5),
    );
    let forked = other.next_block();
    let (mut state, _, _) = honest(0);
    assert_fault(&check_blocks(&mut state, vec![forked]), 0, "sync-gap");
}

#[test]
fn forged_certificates_are_refused_before_the_entries_are_looked_at() {
    let (_, blocks, c) = honest(1);
    let chain_id = c.chain_id();

    // Self-signed by outsiders, over a body whose update signatures are junk too: the certificate
    // is what is reported, so no entry signature was checked first.
    let mut forged = blocks[0].clone();
    if let Some(fedledger_ledger::Entry::Update(u)) = forged.entries.first_mut() {
        u.signature = test_key(100).sign(
            fedledger_ledger::identity::domain::UPDATE,
            &chain_id,
            &u.announcement,
        );
    }
    self_certified(&mut forged, &chain_id);
    let mut state = ChainState::new(&c.genesis);
    let checked = check_blocks(&mut state, vec![forged]);
    assert_fault(&checked, 0, "sync-bad-certificate");
    match checked.fault {
        Some(SyncFault::BadCertificate(v)) => assert_eq!(v.rule, Rule::Certificate),
        other => panic!("{other:?}"),
    }

    // Genuine validators' votes, but for another block: the signatures do not match this header.
    let mut moved = blocks[0].clone();
    moved.header.model_hash = Digest::of(b"another model");
    let mut state = ChainState::new(&c.genesis);
    assert_fault(
        &check_blocks(&mut state, vec![moved]),
        0,
        "sync-bad-certificate",
    );

    // Fewer votes than a quorum.
    let mut short = blocks[0].clone();
    short.certificate.votes.truncate(1);
    let mut state = ChainState::new(&c.genesis);
    assert_fault(
        &check_blocks(&mut state, vec![short]),
        0,
        "sync-bad-certificate",
    );
    assert_eq!(state.height(), 0);
}

#[test]
fn a_bad_block_late_in_the_batch_keeps_the_good_prefix() {
    let (mut state, mut blocks, c) = honest(5);
    self_certified(&mut blocks[3], &c.chain_id());
    let checked = check_blocks(&mut state, blocks.clone());
    assert_fault(&checked, 3, "sync-bad-certificate");
    assert_eq!(checked.blocks, blocks[..3].to_vec());
    assert_eq!(state.height(), 3);

    // A real, certified header over someone else's entries of the same count: the entry root
    // gives it away.
    let (mut state, mut blocks, _) = honest(3);
    let swapped = blocks[1].entries.clone();
    assert_eq!(swapped.len(), blocks[2].entries.len());
    blocks[2].entries = swapped;
    let checked = check_blocks(&mut state, blocks);
    assert_fault(&checked, 2, "sync-bad-block");
    match checked.fault {
        Some(SyncFault::BadBlock(v)) => assert_eq!(v.rule, Rule::EntryRoot),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_certified_block_that_breaks_a_ledger_rule_is_a_bad_block() {
    // A quorum signed a block whose spends cross every member's privacy cap.
    let c = TestChain::with_genesis(
        (0..4).map(test_key).collect(),
        test_genesis(4, 1, "median", 1.0),
    );
    let greedy = c.build(&RoundPlan {
        spend: Some(DpSpend {
            sampling_rate: 1.0,
            noise_multiplier: 0.5,
            steps: 100,
        }),
        ..Default::default()
    });
    let mut state = ChainState::new(&c.genesis);
    let checked = check_blocks(&mut state, vec![greedy]);
    assert_fault(&checked, 0, "sync-bad-block");
    match checked.fault {
        Some(SyncFault::BadBlock(v)) => assert_eq!(v.rule, Rule::Budget),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_answers_keep_the_prefix_that_decoded_and_verified() {
    let (mut state, blocks, _) = honest(4);
    let mut raw: Vec<Vec<u8>> = blocks.iter().map(codec::encode).collect();
    raw[2] = vec![0xff; 40];
    assert_fault(&check_raw(&mut state, &raw, 64), 2, "sync-malformed");
    assert_eq!(state.height(), 2);

    // More blocks than asked: the ones asked for are checked, the answer still counts as a lie.
    let (mut state, blocks, _) = honest(4);
    let raw: Vec<Vec<u8>> = blocks.iter().map(codec::encode).collect();
    let checked = check_raw(&mut state, &raw, 3);
    assert_fault(&checked, 3, "sync-malformed");
    assert!(checked.fault.as_ref().unwrap().is_lie());

    // A header whose entry count does not describe its body.
    let (mut state, mut blocks, _) = honest(1);
    blocks[0].entries.pop();
    assert_fault(&check_blocks(&mut state, blocks), 0, "sync-malformed");
}
