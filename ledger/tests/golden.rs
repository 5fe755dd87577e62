//! Golden hashes: the canonical encoding, hashing, signing and accounting of a fixed chain are
//! pinned, so any change to consensus-critical bytes is caught (a format change must be deliberate
//! and bump the version).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::Entry;
use fedledger_ledger::testutil::TestChain;

fn chain() -> (TestChain, Vec<fedledger_ledger::Block>) {
    let mut c = TestChain::new(4, 1, "median");
    let blocks = (0..3).map(|_| c.next_block()).collect();
    (c, blocks)
}

#[test]
fn chain_id_block_hashes_and_roots_are_pinned() {
    let (c, blocks) = chain();
    let got = format!(
        "chain {}\nblock1 {}\nblock3 {}\nroot3 {}\nencoded3 {}",
        c.chain_id(),
        blocks[0].hash(),
        blocks[2].hash(),
        blocks[2].header.entry_root,
        fedledger_ledger::Digest::of(&blocks[2].encode()),
    );
    let epsilon_bits: Vec<String> = blocks[2]
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Budget(b) => Some(format!("{:016x}", b.epsilon_total.to_bits())),
            _ => None,
        })
        .collect();
    let got = format!("{got}\nepsilon3 {}", epsilon_bits.join(","));
    let expected = include_str!("data/golden.txt");
    assert_eq!(
        got.trim(),
        expected.trim(),
        "canonical bytes changed; if deliberate, update tests/data/golden.txt"
    );
}
