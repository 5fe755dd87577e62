//! Inputs the fuzz driver (`fedledger-fuzz`) found, replayed through the same targets: each must
//! now be refused cleanly, within a small allocation. The files are the driver's own crash files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_tests::fuzz::{self, alloc::CountingAlloc, Outcome};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Replay `input` on `target` (twice: the first call pays one-time initialisation) and check it
/// is rejected without a panic and with at most `max_alloc` bytes at the peak.
fn refused(target: &str, input: &[u8], max_alloc: usize) {
    fuzz::quiet_panics();
    let t = fuzz::target(target).unwrap();
    let _ = fuzz::run_case(t, input);
    let r = fuzz::run_case(t, input);
    assert_eq!(r.outcome, Ok(Outcome::Rejected), "{target}");
    assert!(
        r.alloc <= max_alloc,
        "{target}: {} bytes allocated (limit {max_alloc})",
        r.alloc
    );
}

// Postcard accepts overlong varints (`80 00` for 0) and maps with unsorted or repeated keys, so
// one value had many encodings: the codec now re-encodes and compares.

#[test]
fn overlong_varint_in_a_gossip_envelope_is_refused() {
    refused(
        "envelope",
        include_bytes!("fuzz-regressions/envelope-overlong-varint.bin"),
        1 << 20,
    );
}

#[test]
fn overlong_varint_in_a_consensus_message_is_refused() {
    // 83 00 40: the variant tag 3 (sync request) written as two bytes.
    let b = include_bytes!("fuzz-regressions/consensus-message-overlong-varint.bin");
    assert_eq!(b, &[0x83, 0x00, 0x40]);
    refused("consensus-message", b, 1 << 20);
}

#[test]
fn overlong_varint_in_a_block_header_and_entry_is_refused() {
    refused(
        "block",
        include_bytes!("fuzz-regressions/block-overlong-varint.bin"),
        1 << 20,
    );
    refused(
        "block-header",
        include_bytes!("fuzz-regressions/block-header-overlong-varint.bin"),
        1 << 20,
    );
    refused(
        "entry",
        include_bytes!("fuzz-regressions/entry-overlong-varint.bin"),
        1 << 20,
    );
}

#[test]
fn non_canonical_node_state_is_refused() {
    refused(
        "safety-state",
        include_bytes!("fuzz-regressions/safety-state-noncanonical.bin"),
        1 << 20,
    );
    refused(
        "stored-model",
        include_bytes!("fuzz-regressions/stored-model-overlong-varint.bin"),
        1 << 20,
    );
    refused(
        "released-update",
        include_bytes!("fuzz-regressions/released-update-overlong-varint.bin"),
        1 << 20,
    );
}

#[test]
fn unsorted_or_repeated_keys_in_the_safety_state_are_refused() {
    use fedledger_ledger::{codec, Digest};
    use fedledger_node::consensus::SafetyState;
    let (d1, d2) = (Digest::ZERO, Digest::of(b"x"));
    let mut s = SafetyState::new(4);
    s.notarized.insert(1, d1);
    s.notarized.insert(2, d2);
    assert_eq!(SafetyState::decode(&s.encode()).unwrap(), s);
    // A map is its length and its (key, value) pairs in order: write the pairs out of order,
    // and once with a repeated key.
    let with_pairs = |pairs: &[(u64, Digest)]| {
        let mut b = codec::encode(&(s.height, s.view, &s.proposed));
        b.extend(codec::encode(&(pairs.len() as u64)));
        for p in pairs {
            b.extend(codec::encode(p));
        }
        b.extend(codec::encode(&(&s.nullified, s.finalized, s.locked)));
        b
    };
    assert_eq!(with_pairs(&[(1, d1), (2, d2)]), s.encode());
    for bad in [
        with_pairs(&[(2, d2), (1, d1)]),
        with_pairs(&[(1, d2), (1, d1)]),
    ] {
        // postcard alone takes both (the first as the same state)...
        assert!(postcard::from_bytes::<SafetyState>(&bad).is_ok());
        // ...the codec does not.
        assert!(SafetyState::decode(&bad).is_err());
    }
}

// Length prefixes were trusted for the allocation: a frame claiming 64 MiB cost 64 MiB before a
// byte of it arrived.

#[test]
fn export_frame_claiming_46_mib_allocates_what_is_there() {
    refused(
        "export",
        include_bytes!("fuzz-regressions/export-frame-claims-46mib.bin"),
        1 << 20,
    );
}

#[test]
fn fetch_response_frame_claiming_64_mib_allocates_what_is_there() {
    refused(
        "fetch-response",
        include_bytes!("fuzz-regressions/fetch-response-frame-claims-64mib.bin"),
        1 << 20,
    );
}

// Every ChainState reserved its privacy-curve cache in full (4096 curves, 18 MiB) on creation,
// so each audit of an export or clone of a chain state cost 18 MiB whatever the input.
#[test]
fn an_audit_does_not_reserve_the_whole_curve_cache() {
    refused(
        "export-audit",
        include_bytes!("fuzz-regressions/export-audit-chainstate-18mib.bin"),
        1 << 20,
    );
}

// A schema could carry a NaN scaling constant its scaling does not use; written out and read back
// the NaN may change sign bit, so the schema hash (recorded in genesis) changed.
#[test]
fn a_schema_with_an_unused_nan_constant_is_refused() {
    let t = include_bytes!("fuzz-regressions/schema-unused-nan-mean.toml");
    assert!(String::from_utf8_lossy(t).contains("mean = -nan"));
    refused("schema", t, 1 << 20);
}

// serde_json's default float parser could read an extreme value (9.223372036854755e18) in a
// proof's human-readable `entry` copy back one unit in the last place off, so a proof did not
// round-trip; the workspace now enables serde_json's exact `float_roundtrip` parsing.
#[test]
fn proofs_with_extreme_floats_round_trip() {
    fuzz::quiet_panics();
    let t = fuzz::target("proof").unwrap();
    for input in [
        &include_bytes!("fuzz-regressions/proof-extreme-float-a.json")[..],
        &include_bytes!("fuzz-regressions/proof-extreme-float-b.json")[..],
    ] {
        assert_eq!(fuzz::run_case(t, input).outcome, Ok(Outcome::Accepted));
    }
}
