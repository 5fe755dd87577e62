//! Bounded fuzzing of every decoder that reads untrusted bytes: random and mutated inputs must give
//! errors or violations, never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::Entry;
use fedledger_ledger::codec;
use fedledger_ledger::export::{audit_export, ExportWriter};
use fedledger_ledger::proof::EntryProof;
use fedledger_ledger::testutil::{RoundPlan, TestChain};
use fedledger_ledger::{Block, Genesis};
use proptest::prelude::*;
use std::sync::OnceLock;

struct Fixture {
    genesis: Genesis,
    block: Vec<u8>,
    export: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut c = TestChain::new(4, 1, "median");
        let b1 = c.next_block();
        let org = c.state.validators()[0];
        let b = c.build(&RoundPlan {
            excluded: vec![org],
            ..Default::default()
        });
        let b2 = c.push(b);
        let mut w = ExportWriter::new(Vec::new(), &c.chain_id()).unwrap();
        w.write_block(&b1).unwrap();
        w.write_block(&b2).unwrap();
        Fixture {
            genesis: c.genesis.clone(),
            block: b2.encode(),
            export: w.finish().unwrap().0,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Block::decode(&bytes);
        let _ = codec::decode::<Entry>(&bytes, "entry");
        let _ = audit_export(&fixture().genesis, bytes.as_slice(), |_, _| {});
        let _ = Genesis::from_toml(&String::from_utf8_lossy(&bytes));
        let _ = serde_json::from_slice::<EntryProof>(&bytes);
    }

    #[test]
    fn mutated_blocks_and_exports_fail_cleanly(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let f = fixture();
        let mut b = f.block.clone();
        for (i, x) in &flips {
            let i = i.index(b.len());
            b[i] ^= x | 1;
        }
        let _ = Block::decode(&b);
        let mut e = f.export.clone();
        for (i, x) in &flips {
            let i = i.index(e.len());
            e[i] ^= x | 1;
        }
        let out = audit_export(&f.genesis, e.as_slice(), |_, _| {});
        // A mutated export is never accepted (flips at one index can cancel out; skip those).
        if let (Ok(o), true) = (out, e != f.export) {
            prop_assert!(o.violation.is_some());
        }
        let n = cut.index(f.export.len());
        let out = audit_export(&f.genesis, &f.export[..n], |_, _| {});
        if let Ok(o) = out {
            prop_assert!(o.violation.is_some());
        }
    }
}
