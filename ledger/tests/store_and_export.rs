//! sled storage round trips and the export format's tamper evidence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::export::{audit_export, ExportWriter};
use fedledger_ledger::store::{LedgerStore, SledStore, BLOB_FILE_DIR, INLINE_BLOB_MAX};
use fedledger_ledger::testutil::{RoundPlan, TestChain};
use fedledger_ledger::verify::{audit, Rule};
use fedledger_ledger::{Block, Digest, LedgerError};

fn build(n: usize, blocks: usize) -> (TestChain, Vec<Block>) {
    let mut c = TestChain::new(n, 1, "median");
    let org = c.state.validators()[1];
    let mut out = Vec::new();
    for i in 0..blocks {
        let plan = if i == 1 {
            RoundPlan {
                excluded: vec![org],
                ..Default::default()
            }
        } else {
            RoundPlan::default()
        };
        let b = c.build(&plan);
        out.push(c.push(b));
    }
    (c, out)
}

#[test]
fn store_appends_reads_locates_and_refuses_out_of_order() {
    let (_c, blocks) = build(4, 5);
    let store = SledStore::temporary().unwrap();
    assert_eq!(store.tip().unwrap(), None);
    for b in &blocks[..3] {
        store.append(b).unwrap();
    }
    assert!(matches!(
        store.append(&blocks[4]),
        Err(LedgerError::OutOfOrder {
            expected: 4,
            found: 5
        })
    ));
    assert!(store.append(&blocks[1]).is_err());
    store.append(&blocks[3]).unwrap();
    assert_eq!(store.tip().unwrap(), Some((4, blocks[3].hash())));
    assert_eq!(store.block(2).unwrap().as_ref(), Some(&blocks[1]));
    let e = &blocks[2].entries[3];
    let loc = store.locate(&e.leaf_hash()).unwrap().unwrap();
    assert_eq!((loc.height, loc.index), (3, 3));
    if let Some(u) = blocks[1].entries.iter().find_map(|e| e.update_hash()) {
        assert_eq!(store.locate(&u).unwrap().unwrap().height, 2);
    }
    assert_eq!(store.locate(&Digest::of(b"nothing")).unwrap(), None);
    let h = store.put_blob(b"update bytes").unwrap();
    assert_eq!(h, Digest::of(b"update bytes"));
    assert_eq!(
        store.blob(&h).unwrap().as_deref(),
        Some(&b"update bytes"[..])
    );
    let listed: Vec<_> = store.blocks(1).map(|b| b.unwrap().header.height).collect();
    assert_eq!(listed, vec![1, 2, 3, 4]);
}

#[test]
fn store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (c, blocks) = build(4, 3);
    {
        let s = SledStore::open(&dir.path().join("ledger")).unwrap();
        for b in &blocks {
            s.append(b).unwrap();
        }
    }
    let s = SledStore::open(&dir.path().join("ledger")).unwrap();
    let out = audit(&c.genesis, s.blocks(1), |_, _| {});
    assert!(out.violation.is_none());
    assert_eq!(out.report.height, 3);
}

fn export_bytes(c: &TestChain, blocks: &[Block]) -> (Vec<u8>, Vec<usize>) {
    let mut w = ExportWriter::new(Vec::new(), &c.chain_id()).unwrap();
    let mut frame_starts = Vec::new();
    let mut offset = 42;
    for b in blocks {
        frame_starts.push(offset);
        offset += 4 + b.encode().len();
        w.write_block(b).unwrap();
    }
    frame_starts.push(offset); // trailer
    (w.finish().unwrap().0, frame_starts)
}

/// Which height a byte offset belongs to: 0 for the header, k for block k's frame, last+1 for the
/// trailer.
fn height_of(offset: usize, starts: &[usize]) -> u64 {
    starts.iter().filter(|s| **s <= offset).count() as u64
}

#[test]
fn export_round_trips() {
    let (c, blocks) = build(4, 4);
    let (bytes, _) = export_bytes(&c, &blocks);
    let out = audit_export(&c.genesis, bytes.as_slice(), |_, _| {}).unwrap();
    assert!(out.violation.is_none(), "{:?}", out.violation);
    assert_eq!(out.report.height, 4);
    assert_eq!(out.report.exclusions, 1);
}

#[test]
fn every_single_flipped_byte_is_caught_at_its_height() {
    let (c, blocks) = build(4, 3);
    let (bytes, starts) = export_bytes(&c, &blocks);
    for pos in 0..bytes.len() {
        let mut t = bytes.clone();
        t[pos] ^= 0x01;
        let expected_height = height_of(pos, &starts);
        match audit_export(&c.genesis, t.as_slice(), |_, _| {}) {
            Err(LedgerError::Invalid(v)) => assert_eq!(v.height, 0, "header flip at {pos}: {v}"),
            Err(e) => panic!("flip at {pos}: unexpected error {e}"),
            Ok(out) => {
                let v = out
                    .violation
                    .unwrap_or_else(|| panic!("flip at byte {pos} went unnoticed"));
                if expected_height == 0 {
                    assert_eq!((v.height, v.rule), (0, Rule::ChainId), "flip at {pos}");
                } else {
                    assert_eq!(v.height, expected_height, "flip at byte {pos}: {v}");
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_caught() {
    let (c, blocks) = build(4, 2);
    let (bytes, starts) = export_bytes(&c, &blocks);
    for len in 0..bytes.len() {
        let res = audit_export(&c.genesis, &bytes[..len], |_, _| {});
        match res {
            Err(LedgerError::Invalid(v)) => assert_eq!(v.rule, Rule::Export),
            Err(e) => panic!("truncation at {len}: {e}"),
            Ok(out) => {
                let v = out
                    .violation
                    .unwrap_or_else(|| panic!("truncation at {len} went unnoticed"));
                assert_eq!(v.rule, Rule::Export, "truncation at {len}: {v}");
                assert_eq!(
                    v.height,
                    height_of(len, &starts),
                    "truncation at {len}: {v}"
                );
            }
        }
    }
    let mut extra = bytes.clone();
    extra.push(0);
    let v = audit_export(&c.genesis, extra.as_slice(), |_, _| {})
        .unwrap()
        .violation
        .unwrap();
    assert_eq!(v.rule, Rule::Export);
}

#[test]
fn an_export_of_another_chain_is_rejected_before_any_block() {
    let (c, blocks) = build(4, 2);
    let mut w = ExportWriter::new(Vec::new(), &Digest::of(b"other chain")).unwrap();
    for b in &blocks {
        w.write_block(b).unwrap();
    }
    let bytes = w.finish().unwrap().0;
    let v = audit_export(&c.genesis, bytes.as_slice(), |_, _| {})
        .unwrap()
        .violation
        .unwrap();
    assert_eq!((v.height, v.rule), (0, Rule::ChainId));
}

#[test]
fn large_blobs_are_files_read_whole_or_by_range_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..INLINE_BLOB_MAX + 12_345)
        .map(|i| (i % 251) as u8)
        .collect();
    let small = vec![7u8; 1000];
    let (hb, hs) = {
        let s = SledStore::open(dir.path()).unwrap();
        let hb = s.put_blob(&big).unwrap();
        let hs = s.put_blob(&small).unwrap();
        // Idempotent: the same bytes again are the same file.
        assert_eq!(s.put_blob(&big).unwrap(), hb);
        s.flush().unwrap();
        (hb, hs)
    };
    let file = dir.path().join(BLOB_FILE_DIR).join(hb.to_hex());
    assert!(file.exists(), "a large blob is a file");
    assert!(!dir.path().join(BLOB_FILE_DIR).join(hs.to_hex()).exists());
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.blob(&hb).unwrap().unwrap(), big);
    assert_eq!(s.blob(&hs).unwrap().unwrap(), small);
    assert!(s.has_blob(&hb).unwrap() && s.has_blob(&hs).unwrap());
    assert!(!s.has_blob(&Digest::of(b"nothing")).unwrap());
    assert_eq!(s.blob_len(&hb).unwrap(), Some(big.len() as u64));
    let at = INLINE_BLOB_MAX as u64 - 5;
    assert_eq!(
        s.blob_range(&hb, at, 100).unwrap().unwrap(),
        big[at as usize..at as usize + 100]
    );
    // Clamped at the end, for files and sled values alike.
    assert_eq!(
        s.blob_range(&hb, big.len() as u64 - 3, 100)
            .unwrap()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(s.blob_range(&hs, 990, 100).unwrap().unwrap(), small[990..]);
    assert!(s.blob_range(&Digest::of(b"x"), 0, 1).unwrap().is_none());
    // A file altered on disk is refused on the way out, not served.
    let mut bad = big.clone();
    bad[INLINE_BLOB_MAX] ^= 1;
    std::fs::write(&file, &bad).unwrap();
    assert!(s.blob(&hb).is_err());
    // Discarded, it is gone, and the right bytes can be stored again.
    s.discard_blob(&hb).unwrap();
    assert!(!s.has_blob(&hb).unwrap() && !file.exists());
    s.discard_blob(&hb).unwrap();
    assert_eq!(s.put_blob(&big).unwrap(), hb);
    assert_eq!(s.blob(&hb).unwrap().unwrap(), big);
    s.discard_blob(&hs).unwrap();
    assert!(!s.has_blob(&hs).unwrap());
}

/// Stores written before `update-files` kept large blobs in sled's own `blobs` directory: they
/// move on open and interrupted writes there go.
#[test]
fn large_blobs_move_out_of_sleds_blob_directory() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..INLINE_BLOB_MAX + 100).map(|i| (i % 13) as u8).collect();
    let h = Digest::of(&big);
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.flush().unwrap();
    }
    let old = dir.path().join("blobs");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join(h.to_hex()), &big).unwrap();
    std::fs::write(
        old.join(format!("{}.partial", Digest::of(b"p").to_hex())),
        b"half",
    )
    .unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.blob(&h).unwrap().unwrap(), big);
    assert!(dir.path().join(BLOB_FILE_DIR).join(h.to_hex()).exists());
    let left: Vec<String> = std::fs::read_dir(&old)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
