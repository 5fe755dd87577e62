//! Genesis policy sections. `[purpose]`: validated, part of the chain id, shown in the audit
//! report, and bound to every update commitment: one signed for another purpose fails the audit
//! at its height. `model.decision_threshold`: validated, binary models only, in the chain id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::Entry;
use fedledger_ledger::genesis::{Genesis, PurposeSpec};
use fedledger_ledger::testutil::{test_genesis, test_key, RoundPlan, TestChain};
use fedledger_ledger::verify::{audit, Rule};

fn purpose(text: &str) -> PurposeSpec {
    PurposeSpec {
        purpose: text.into(),
        lawful_basis: "legitimate-interests".into(),
        data_categories: vec!["account balance".into(), "income".into()],
        retention: "24 months after the account closes".into(),
    }
}

fn genesis_for(text: &str) -> Genesis {
    let mut g = test_genesis(4, 1, "median", 1e6);
    g.purpose = Some(purpose(text));
    Genesis::from_toml(&g.to_toml()).unwrap()
}

#[test]
fn the_purpose_is_validated_and_part_of_the_chain_id() {
    let plain = test_genesis(4, 1, "median", 1e6);
    let churn = genesis_for("predict churn to offer retention deals");
    let credit = genesis_for("score credit limits");
    assert_ne!(plain.chain_id(), churn.chain_id());
    assert_ne!(churn.chain_id(), credit.chain_id());
    assert!(churn.to_toml().contains("[purpose]"));
    for bad in [
        PurposeSpec {
            lawful_basis: "because".into(),
            ..purpose("x")
        },
        PurposeSpec {
            data_categories: vec![],
            ..purpose("x")
        },
        PurposeSpec {
            retention: " ".into(),
            ..purpose("x")
        },
        purpose(""),
    ] {
        let mut g = test_genesis(4, 1, "median", 1e6);
        g.purpose = Some(bad);
        let err = Genesis::from_toml(&g.to_toml()).unwrap_err().to_string();
        assert!(err.contains("purpose"), "{err}");
    }
}

#[test]
fn a_commitment_signed_for_another_purpose_fails_the_audit_at_its_height() {
    let churn = genesis_for("predict churn to offer retention deals");
    let credit = genesis_for("score credit limits");
    let mut c = TestChain::with_genesis((0..4).map(test_key).collect(), churn.clone());
    let mut blocks = vec![c.next_block(), c.next_block()];
    // Block 3 carries one member's update signed for the credit-scoring consortium (same keys,
    // another purpose), finalized by a colluding quorum.
    let b = c.build(&RoundPlan::default());
    let entries: Vec<Entry> = b
        .entries
        .iter()
        .cloned()
        .map(|e| match e {
            Entry::Update(u) if u.announcement.org == test_key(2).id() => Entry::Update(
                u.announcement
                    .clone()
                    .sign(&test_key(2), &credit.chain_id()),
            ),
            e => e,
        })
        .collect();
    blocks.push(c.reseal(&b, entries));
    let out = audit(&churn, blocks.into_iter().map(Ok), |_, _| {});
    let v = out.violation.expect("caught");
    assert_eq!((v.height, v.rule), (3, Rule::Update), "{v}");
    // The report of the verified prefix names the purpose.
    assert_eq!(
        out.report.purpose,
        Some(purpose("predict churn to offer retention deals"))
    );
}

#[test]
fn the_decision_threshold_is_validated_binary_only_and_part_of_the_chain_id() {
    let plain = test_genesis(4, 1, "median", 1e6);
    let mut g = plain.clone();
    g.model.decision_threshold = Some(0.05);
    let g = Genesis::from_toml(&g.to_toml()).unwrap();
    assert_eq!(g.model.threshold(), 0.05);
    assert_eq!(plain.model.threshold(), 0.5);
    assert_ne!(g.chain_id(), plain.chain_id());
    for bad in [0.0, 1.0, -0.1, f64::NAN] {
        let mut g = plain.clone();
        g.model.decision_threshold = Some(bad);
        assert!(g.validate().is_err(), "{bad}");
    }
    let mut multi = plain.clone();
    multi.model.kind = "softmax".into();
    multi.model.classes = 3;
    multi.model.decision_threshold = Some(0.3);
    assert!(multi.validate().unwrap_err().to_string().contains("binary"));
}
