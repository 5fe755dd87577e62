//! Incremental audit: verifying a ledger in two parts, through a saved auditor state, ends in
//! exactly the state (and report) of one full audit, at every split point; a rewritten history
//! and a bad block after the split are caught; a damaged state file is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::DpSpend;
use fedledger_ledger::testutil::{test_genesis, test_key, RoundPlan, TestChain};
use fedledger_ledger::tlog::BlockLog;
use fedledger_ledger::verify::{audit_since, AuditorState, Rule};
use fedledger_ledger::{Block, Genesis};

/// Exclusions, a view change, a join and a leave (each pending for a while), then more rounds.
fn varied_chain() -> (Genesis, Vec<Block>) {
    let mut c = TestChain::new(4, 1, "median");
    let mut blocks = vec![c.next_block(), c.next_block()];
    let org0 = c.state.validators()[0];
    let b = c.build(&RoundPlan {
        excluded: vec![org0],
        ..Default::default()
    });
    blocks.push(c.push(b));
    let b = c.build(&RoundPlan {
        view: 2,
        ..Default::default()
    });
    blocks.push(c.push(b));
    let join = c.join(test_key(100), 5.0);
    let b = c.build(&RoundPlan {
        membership: vec![join],
        ..Default::default()
    });
    blocks.push(c.push(b));
    blocks.push(c.next_block());
    blocks.push(c.next_block());
    let leaver = c.state.validators()[2];
    let leave = c.leave(&leaver);
    let b = c.build(&RoundPlan {
        membership: vec![leave],
        ..Default::default()
    });
    blocks.push(c.push(b));
    for _ in 0..5 {
        blocks.push(c.next_block());
    }
    (c.genesis.clone(), blocks)
}

/// Audit `blocks[..upto]` from `state` (blocks from the state's height on, as a store yields).
fn since(genesis: &Genesis, state: AuditorState, blocks: &[Block], upto: usize) -> AuditorState {
    let from = state.height() as usize;
    let source = blocks[from.saturating_sub(1)..upto].iter().cloned().map(Ok);
    let out = audit_since(genesis, state, source, |_, _| {}).unwrap();
    assert!(
        out.outcome.violation.is_none(),
        "{:?}",
        out.outcome.violation
    );
    // Through the bytes of a state file, as the CLI does.
    AuditorState::decode(&out.state.encode()).unwrap()
}

#[test]
fn two_part_audits_end_in_the_full_audits_state_at_every_split() {
    let (genesis, blocks) = varied_chain();
    let n = blocks.len();
    let full = since(&genesis, AuditorState::genesis(&genesis), &blocks, n);
    let hashes: Vec<_> = blocks.iter().map(Block::hash).collect();
    let log = BlockLog::from_block_hashes(&hashes);
    assert_eq!(full.height(), n as u64);
    assert_eq!(full.log.root(), log.root(n as u64).unwrap());
    for split in 0..=n {
        let first = since(&genesis, AuditorState::genesis(&genesis), &blocks, split);
        assert_eq!(first.log.root(), {
            let mut f = fedledger_ledger::tlog::Frontier::new();
            hashes[..split].iter().for_each(|h| f.append(h));
            f.root()
        });
        let second = since(&genesis, first, &blocks, n);
        assert_eq!(second.encode(), full.encode(), "split after {split}");
    }
}

#[test]
fn a_rewritten_history_is_caught_at_the_height_verified_before() {
    let (genesis, blocks) = varied_chain();
    let state = since(&genesis, AuditorState::genesis(&genesis), &blocks, 6);
    // Same genesis, same keys, another history from height 1 on (a view change at 1).
    let mut c = TestChain::new(4, 1, "median");
    let b = c.build(&RoundPlan {
        view: 1,
        ..Default::default()
    });
    let mut other = vec![c.push(b)];
    for _ in 0..9 {
        other.push(c.next_block());
    }
    let out = audit_since(
        &genesis,
        state.clone(),
        other[5..].iter().cloned().map(Ok),
        |_, _| {},
    )
    .unwrap();
    let v = out.outcome.violation.expect("rewrite detected");
    assert_eq!((v.height, v.rule), (6, Rule::Rewrite), "{v}");
    assert_eq!(
        out.state, state,
        "the state is not advanced past a violation"
    );
    // A ledger that lost the verified block is a rewrite too.
    let out = audit_since(&genesis, state, std::iter::empty(), |_, _| {}).unwrap();
    assert_eq!(out.outcome.violation.unwrap().rule, Rule::Rewrite);
}

#[test]
fn an_overspend_after_the_split_is_caught_from_the_restored_budget() {
    let mut c = TestChain::with_genesis(
        (0..4).map(test_key).collect(),
        test_genesis(4, 1, "median", 2.0),
    );
    let heavy = DpSpend {
        sampling_rate: 0.05,
        noise_multiplier: 2.0,
        steps: 10,
    };
    let mut blocks = Vec::new();
    loop {
        let b = c.build(&RoundPlan {
            spend: Some(heavy),
            ..Default::default()
        });
        blocks.push(b.clone());
        if let Err(v) = c.state.apply(b) {
            eprintln!("crossed at {}: {v}", blocks.len());
            break;
        }
        assert!(blocks.len() < 50, "the cap is eventually crossed");
    }
    let over = blocks.len();
    assert!(over >= 2, "needs a valid prefix");
    let genesis = c.genesis.clone();
    let state = since(&genesis, AuditorState::genesis(&genesis), &blocks, over - 1);
    let out = audit_since(
        &genesis,
        state,
        blocks[over - 2..].iter().cloned().map(Ok),
        |_, _| {},
    )
    .unwrap();
    let v = out.outcome.violation.expect("overspend");
    assert_eq!((v.height, v.rule), (over as u64, Rule::Budget), "{v}");
    assert_eq!(out.state.height(), over as u64 - 1);
}

#[test]
fn damaged_or_foreign_state_files_are_refused() {
    let (genesis, blocks) = varied_chain();
    let state = since(&genesis, AuditorState::genesis(&genesis), &blocks, 5);
    let bytes = state.encode();
    assert!(AuditorState::decode(&bytes[..bytes.len() - 1]).is_err());
    assert!(AuditorState::decode(&bytes[1..]).is_err());
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(AuditorState::decode(&extra).is_err(), "trailing bytes");
    let mut short_log = state.clone();
    short_log.log = fedledger_ledger::tlog::Frontier::new();
    assert!(AuditorState::decode(&short_log.encode()).is_err());
    // Every fifth single-byte flip (all of them take seconds in debug builds) either fails to decode or decodes to something restore or the
    // audit rejects or accepts without panicking.
    for i in (16..bytes.len()).step_by(5) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        if let Ok(s) = AuditorState::decode(&b) {
            let from = s.height() as usize;
            let src = blocks
                .get(from.saturating_sub(1)..)
                .unwrap_or(&[])
                .iter()
                .cloned()
                .map(Ok);
            let _ = audit_since(&genesis, s, src, |_, _| {});
        }
    }
    // A state of another consortium.
    let other = TestChain::new(5, 1, "median");
    let foreign = AuditorState::genesis(&other.genesis);
    let err = audit_since(&genesis, foreign, std::iter::empty(), |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("chain"), "{err}");
}
