//! The verifier accepts honest chains and names the first bad height and rule of tampered ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::{DpSpend, Entry, FinalizeVote, Vote};
use fedledger_ledger::testutil::{test_genesis, test_key, RoundPlan, TestChain};
use fedledger_ledger::verify::{audit, Rule, Violation};
use fedledger_ledger::{Block, Genesis};

fn chain(n: usize, blocks: usize) -> (Genesis, Vec<Block>) {
    let mut c = TestChain::new(n, 1, "median");
    let bs = (0..blocks).map(|_| c.next_block()).collect();
    (c.genesis.clone(), bs)
}

fn check(genesis: &Genesis, blocks: Vec<Block>) -> Option<Violation> {
    audit(genesis, blocks.into_iter().map(Ok), |_, _| {}).violation
}

fn expect_violation(genesis: &Genesis, blocks: Vec<Block>, height: u64, rule: Rule) {
    let v = check(genesis, blocks)
        .unwrap_or_else(|| panic!("expected a {rule:?} violation at {height}"));
    assert_eq!((v.height, v.rule), (height, rule), "{v}");
}

#[test]
fn honest_chain_with_membership_exclusions_and_view_changes_verifies() {
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
    assert_eq!(
        c.state.validators().len(),
        4,
        "join recorded at 5 takes effect at 7, not 6"
    );
    blocks.push(c.next_block());
    assert_eq!(c.state.validators().len(), 5, "in force for height 7");
    blocks.push(c.next_block());
    let leaver = c.state.validators()[2];
    let leave = c.leave(&leaver);
    let b = c.build(&RoundPlan {
        membership: vec![leave],
        ..Default::default()
    });
    blocks.push(c.push(b));
    for _ in 0..3 {
        blocks.push(c.next_block());
    }
    assert_eq!(c.state.validators().len(), 4);
    let out = audit(&c.genesis, blocks.into_iter().map(Ok), |_, _| {});
    assert!(out.violation.is_none(), "{:?}", out.violation);
    let r = out.report;
    assert_eq!(r.height, 11);
    assert_eq!(r.exclusions, 1);
    assert_eq!(r.view_changes, 1);
    assert_eq!(r.membership.len(), 2);
    assert_eq!(r.membership[0].action, "join");
    assert_eq!(r.membership[1].action, "leave");
    let newcomer = r
        .members
        .iter()
        .find(|m| m.id == test_key(100).id())
        .unwrap();
    assert_eq!(newcomer.joined_at, 7);
    assert!(newcomer.updates > 0 && newcomer.epsilon_spent > 0.0);
}

#[test]
fn reordered_duplicated_or_missing_blocks_fail_at_the_right_height() {
    let (g, b) = chain(4, 6);
    let mut swapped = b.clone();
    swapped.swap(2, 3);
    expect_violation(&g, swapped, 3, Rule::Height);
    let mut dup = b.clone();
    dup.insert(3, b[2].clone());
    expect_violation(&g, dup, 4, Rule::Height);
    let mut gap = b.clone();
    gap.remove(1);
    expect_violation(&g, gap, 2, Rule::Height);
}

#[test]
fn a_block_of_another_chain_is_rejected() {
    let (g, b) = chain(4, 3);
    let other = TestChain::with_genesis((0..4).map(test_key).collect(), {
        let mut g2 = test_genesis(4, 1, "median", 1e6);
        g2.consortium = "another consortium".into();
        g2
    });
    let mut other = other;
    let foreign = other.next_block();
    let mut mixed = b[..1].to_vec();
    let mut f2 = foreign;
    f2.header.height = 2;
    mixed.push(f2);
    expect_violation(&g, mixed, 2, Rule::ChainId);
}

#[test]
fn certificate_defects_are_named() {
    let (g, b) = chain(4, 3);
    // duplicate signer
    let mut dup = b.clone();
    let v0 = dup[1].certificate.votes[0].clone();
    dup[1].certificate.votes[1] = v0;
    expect_violation(&g, dup, 2, Rule::Certificate);
    // too few votes
    let mut short = b.clone();
    short[2].certificate.votes.truncate(2);
    expect_violation(&g, short, 3, Rule::Certificate);
    // an outsider's valid signature
    let mut outsider = b.clone();
    let chain_id = g.chain_id();
    let hv = FinalizeVote {
        height: 2,
        view: 0,
        block_hash: outsider[1].hash(),
    };
    let stranger = test_key(999);
    outsider[1]
        .certificate
        .votes
        .push(hv.sign(&stranger, &chain_id));
    outsider[1].certificate.votes.sort_by_key(|a| a.signer);
    expect_violation(&g, outsider, 2, Rule::Certificate);
    // a forged signature
    let mut forged = b.clone();
    forged[1].certificate.votes[0] = Vote {
        signature: fedledger_ledger::Signature([7; 64]),
        ..forged[1].certificate.votes[0].clone()
    };
    expect_violation(&g, forged, 2, Rule::Certificate);
}

#[test]
fn overspent_budget_is_rejected() {
    let mut c = TestChain::with_genesis(
        (0..4).map(test_key).collect(),
        test_genesis(4, 1, "median", 2.0),
    );
    let heavy = DpSpend {
        sampling_rate: 0.1,
        noise_multiplier: 0.8,
        steps: 200,
    };
    let mut blocks = Vec::new();
    let mut over = None;
    for h in 1..=20 {
        let b = c.build(&RoundPlan {
            spend: Some(heavy),
            ..Default::default()
        });
        if c.state.apply(b.clone()).is_err() {
            over = Some(h);
            blocks.push(b);
            break;
        }
        blocks.push(b);
    }
    let h = over.expect("the cap is eventually crossed");
    expect_violation(&c.genesis, blocks, h, Rule::Budget);
}

#[test]
fn a_forged_budget_total_is_rejected() {
    let (g, mut b) = chain(4, 3);
    // Rewrite a budget entry's total and re-seal and re-sign the block with every key: the
    // entry root and certificate are consistent, but the spend is not what the parameters give.
    let mut c = TestChain::new(4, 1, "median");
    c.push(b[0].clone());
    let mut blk = c.build(&RoundPlan::default());
    for e in blk.entries.iter_mut() {
        if let Entry::Budget(s) = e {
            s.epsilon_total *= 0.5;
            break;
        }
    }
    let (header, entries) = fedledger_ledger::block::BlockPlan {
        chain_id: blk.header.chain_id,
        height: blk.header.height,
        view: 0,
        prev_hash: blk.header.prev_hash,
        model_hash: blk.header.model_hash,
        proposer: blk.header.proposer,
        timestamp_ms: blk.header.timestamp_ms,
    }
    .seal(blk.entries.clone());
    let vote = FinalizeVote {
        height: 2,
        view: 0,
        block_hash: header.hash(),
    };
    blk.certificate.votes = blk
        .certificate
        .votes
        .iter()
        .map(|v| vote.sign(c.key(&v.signer), &g.chain_id()))
        .collect();
    blk.header = header;
    blk.entries = entries;
    b[1] = blk;
    expect_violation(&g, b, 2, Rule::Budget);
}

#[test]
fn wrong_leader_and_tampered_entries_are_rejected() {
    let (g, b) = chain(4, 3);
    let mut wrong = b.clone();
    wrong[1].header.proposer = wrong[0].header.proposer;
    // changing the header changes the hash, so the certificate breaks too; the leader rule is
    // checked first only if signatures verify — assert the failure is at height 2 either way.
    let v = check(&g, wrong).unwrap();
    assert_eq!(v.height, 2);
    let mut tampered = b.clone();
    if let Entry::Update(u) = &mut tampered[2].entries[0] {
        u.announcement.num_examples += 1;
    }
    expect_violation(&g, tampered, 3, Rule::EntryRoot);
}

/// A quorum can sign anything; the verifier still refuses values no honest member produces
/// (docs/ledger-format.md, "Honest ranges"), naming the height and the `range` rule.
#[test]
fn blocks_recording_impossible_claims_are_refused_by_height_and_rule() {
    use fedledger_ledger::block::{GroupFairness, GroupRates, LocalMetrics, RoundMetrics};
    let honest = LocalMetrics {
        examples: 200,
        loss: 0.5,
        accuracy: 0.8,
        auc: 0.85,
        groups: vec![],
    };
    let group = |i: usize| GroupRates {
        group: format!("g{i}"),
        count: 1,
        positives: 0,
        positive_rate: 0.5,
        true_positive_rate: 0.0,
    };
    let lies: Vec<(&str, LocalMetrics)> = vec![
        (
            "nan loss",
            LocalMetrics {
                loss: f64::NAN,
                ..honest.clone()
            },
        ),
        (
            "negative loss",
            LocalMetrics {
                loss: -1.0,
                ..honest.clone()
            },
        ),
        (
            "accuracy above 1",
            LocalMetrics {
                accuracy: 1.5,
                ..honest.clone()
            },
        ),
        (
            "auc below 0",
            LocalMetrics {
                auc: -0.2,
                ..honest.clone()
            },
        ),
        (
            "u64::MAX examples",
            LocalMetrics {
                examples: u64::MAX,
                ..honest.clone()
            },
        ),
        (
            "65 groups",
            LocalMetrics {
                groups: (0..65).map(group).collect(),
                ..honest.clone()
            },
        ),
    ];
    for (what, claimed) in lies {
        let mut c = TestChain::new(4, 1, "median");
        let good = c.next_block();
        let bad = c.build(&RoundPlan {
            claimed: Some(claimed),
            ..Default::default()
        });
        let v = check(&c.genesis, vec![good, bad]).unwrap_or_else(|| panic!("{what} passed"));
        assert_eq!((v.height, v.rule), (2, Rule::Range), "{what}: {v}");
        assert!(v.to_string().contains("rule range"), "{v}");
    }
    // Pooled metrics in the summary obey the same ranges.
    let c = TestChain::new(4, 1, "median");
    let pooled = RoundMetrics {
        examples: 800,
        loss: 0.5,
        accuracy: 0.8,
        auc: 0.85,
        demographic_parity_gap: 0.1,
        equal_opportunity_gap: 0.0,
        groups: vec![GroupFairness {
            group: "g".into(),
            count: 801,
            positive_rate: 0.5,
            true_positive_rate: 0.5,
        }],
    };
    let bad = c.build(&RoundPlan {
        pooled: Some(pooled),
        ..Default::default()
    });
    expect_violation(&c.genesis, vec![bad], 1, Rule::Range);
    // Plausible values, groups included, still verify.
    let c = TestChain::new(4, 1, "median");
    let fine = c.build(&RoundPlan {
        claimed: Some(LocalMetrics {
            groups: (0..64).map(group).collect(),
            ..honest
        }),
        ..Default::default()
    });
    assert_eq!(check(&c.genesis, vec![fine]), None);
}

#[test]
fn validator_set_projection_counts_recorded_changes_only() {
    let mut c = TestChain::new(4, 1, "median");
    c.next_block();
    let newcomer = test_key(100).id();
    let join = c.join(test_key(100), 5.0);
    let b = c.build(&RoundPlan {
        membership: vec![join],
        ..Default::default()
    });
    c.push(b);
    // Recorded at 2 with delay 2: a validator from height 4 on, not at 3.
    let s = &c.state;
    assert!(!s.is_validator_at(&newcomer, 3));
    assert!(s.is_validator_at(&newcomer, 4));
    assert!(s.is_validator_at(&newcomer, 1_000));
    assert_eq!((s.validator_count_at(3), s.validator_count_at(4)), (4, 5));
    assert_eq!(s.quorum_at(4), fedledger_ledger::genesis::quorum(5, 1));
    let founder = s.validators()[0];
    assert!(s.is_validator_at(&founder, 4));
    assert!(!s.is_validator_at(&test_key(101).id(), 4));
    // At height 2 the set for 3 and 4 is fixed; 5 could still change in block 3.
    assert!(s.validators_known_at(3) && s.validators_known_at(4));
    assert!(!s.validators_known_at(5));
    let leaver = s.validators()[1];
    let leave = c.leave(&leaver);
    let b = c.build(&RoundPlan {
        membership: vec![leave],
        ..Default::default()
    });
    c.push(b);
    let s = &c.state;
    assert!(s.is_validator_at(&leaver, 4) && !s.is_validator_at(&leaver, 5));
    assert_eq!(s.validator_count_at(5), 4);
}

/// Under a genesis `[dp.plan]` a member's spend is not its own word: validators recompute the
/// plan from its signed example count and refuse any other settings, even ones that cost more.
#[test]
fn spends_off_the_genesis_plan_are_rejected() {
    use fedledger_ledger::genesis::DpPlanSpec;
    use fedledger_ledger::privacy::{plan, DpPlanTarget};
    let mut genesis = test_genesis(4, 1, "median", 2.0);
    genesis.dp.plan = Some(DpPlanSpec {
        target_epsilon: 1.0,
        rounds: 10,
    });
    genesis.validate().expect("a planned genesis is valid");
    let target = DpPlanTarget {
        epsilon: 1.0,
        delta: genesis.dp.delta,
        rounds: 10,
    };
    // TestChain members claim 1000 examples.
    let planned = plan(&target, 1000).expect("plan").spend();
    let mut c = TestChain::with_genesis((0..4).map(test_key).collect(), genesis);
    let mut blocks = Vec::new();
    for _ in 0..3 {
        let b = c.build(&RoundPlan {
            spend: Some(planned),
            ..Default::default()
        });
        c.state.apply(b.clone()).expect("planned spends verify");
        blocks.push(b);
    }
    for off in [
        DpSpend {
            noise_multiplier: planned.noise_multiplier * 0.5,
            ..planned
        },
        DpSpend {
            noise_multiplier: planned.noise_multiplier * 2.0,
            ..planned
        },
        DpSpend {
            steps: planned.steps + 1,
            ..planned
        },
        DpSpend {
            sampling_rate: planned.sampling_rate / 2.0,
            ..planned
        },
    ] {
        let mut tampered = blocks.clone();
        tampered.push(c.build(&RoundPlan {
            spend: Some(off),
            ..Default::default()
        }));
        expect_violation(&c.genesis, tampered, 4, Rule::Budget);
    }
    // A planned genesis keeps the chain ids of genesis files without a plan: the field is left
    // out of the canonical encoding when unset.
    let plain = test_genesis(4, 1, "median", 2.0);
    let mut with_none = plain.clone();
    with_none.dp.plan = None;
    assert_eq!(plain.chain_id(), with_none.chain_id());
    assert_ne!(plain.chain_id(), c.genesis.chain_id());
}

#[test]
fn a_plan_target_above_a_member_cap_is_refused() {
    use fedledger_ledger::genesis::DpPlanSpec;
    let mut genesis = test_genesis(4, 1, "median", 2.0);
    genesis.dp.plan = Some(DpPlanSpec {
        target_epsilon: 3.0,
        rounds: 10,
    });
    let e = genesis.validate().expect_err("target above the cap");
    assert!(e.to_string().contains("dp.plan.target_epsilon"), "{e}");
    genesis.dp.plan = Some(DpPlanSpec {
        target_epsilon: 1.0,
        rounds: 0,
    });
    assert!(genesis.validate().is_err());
}
