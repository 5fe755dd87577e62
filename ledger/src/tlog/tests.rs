//! The log against RFC 6962's definitions written out naively, RFC 9162's verification
//! algorithm, and a C2SP note parser written from the spec (not the crates the code uses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::identity::{OrgId, OrgKey};
use ed25519_dalek::{Verifier as _, VerifyingKey};
use std::collections::HashMap;

const MAX: u64 = 300;

fn block(i: u64) -> Digest {
    Digest::of(&i.to_le_bytes())
}

fn leaf(i: u64) -> Digest {
    Digest::of_parts(&[&[0x00], block(i).as_bytes()])
}

fn node(l: &Digest, r: &Digest) -> Digest {
    Digest::of_parts(&[&[0x01], l.as_bytes(), r.as_bytes()])
}

/// The largest power of two smaller than n (n >= 2).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 2.1: MTH(D[lo..hi]), memoised.
struct Naive(HashMap<(u64, u64), Digest>);

impl Naive {
    fn mth(&mut self, lo: u64, hi: u64) -> Digest {
        if let Some(d) = self.0.get(&(lo, hi)) {
            return *d;
        }
        let d = match hi - lo {
            0 => Digest::of(b""),
            1 => leaf(lo),
            n => {
                let k = split(n);
                let l = self.mth(lo, lo + k);
                let r = self.mth(lo + k, hi);
                node(&l, &r)
            }
        };
        self.0.insert((lo, hi), d);
        d
    }

    /// RFC 6962 2.1.1: PATH(m, D[lo..hi]).
    fn path(&mut self, m: u64, lo: u64, hi: u64) -> Vec<Digest> {
        let n = hi - lo;
        if n == 1 {
            return vec![];
        }
        let k = split(n);
        if m < k {
            let mut p = self.path(m, lo, lo + k);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.path(m - k, lo + k, hi);
            p.push(self.mth(lo, lo + k));
            p
        }
    }

    /// RFC 6962 2.1.2: SUBPROOF(m, D[lo..hi], b).
    fn subproof(&mut self, m: u64, lo: u64, hi: u64, b: bool) -> Vec<Digest> {
        let n = hi - lo;
        if m == n {
            return if b { vec![] } else { vec![self.mth(lo, hi)] };
        }
        let k = split(n);
        if m <= k {
            let mut p = self.subproof(m, lo, lo + k, b);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.subproof(m - k, lo + k, hi, false);
            p.push(self.mth(lo, lo + k));
            p
        }
    }
}

/// RFC 9162 2.1.4.2: verify a consistency proof, written from the RFC's steps.
fn rfc9162_consistency(
    first: u64,
    second: u64,
    first_hash: &Digest,
    second_hash: &Digest,
    proof: &[Digest],
) -> bool {
    if first == second {
        return proof.is_empty() && first_hash == second_hash;
    }
    let mut path: Vec<Digest> = proof.to_vec();
    // 1. If first is an exact power of 2, prepend first_hash.
    if first.is_power_of_two() {
        path.insert(0, *first_hash);
    }
    if path.is_empty() {
        return false;
    }
    // 2-3.
    let (mut fn_, mut sn) = (first - 1, second - 1);
    // 4. If LSB(fn) is set, right-shift both until it is not.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    let (mut fr, mut sr) = (path[0], path[0]);
    // 6.
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node(c, &fr);
            sr = node(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7.
    fr == *first_hash && sr == *second_hash && sn == 0
}

fn full_log() -> BlockLog {
    let hashes: Vec<Digest> = (0..MAX).map(block).collect();
    BlockLog::from_block_hashes(&hashes)
}

#[test]
fn roots_equal_rfc6962_and_the_block_merkle_module() {
    let log = full_log();
    let mut naive = Naive(HashMap::new());
    for n in 0..=MAX {
        let root = log.root(n).unwrap();
        assert_eq!(root, naive.mth(0, n), "size {n}");
        let leaves: Vec<Digest> = (0..n).map(|i| leaf_hash(&block(i))).collect();
        assert_eq!(root, crate::merkle::root(&leaves), "size {n}");
    }
    assert!(log.root(MAX + 1).is_err());
}

#[test]
fn consistency_proofs_for_every_pair_of_sizes_up_to_300() {
    let log = full_log();
    let mut naive = Naive(HashMap::new());
    for n in 1..=MAX {
        let new_root = naive.mth(0, n);
        for m in 1..=n {
            let old_root = naive.mth(0, m);
            let proof = log.consistency(m, n).unwrap();
            let expected = if m == n {
                vec![]
            } else {
                naive.subproof(m, 0, n, true)
            };
            assert_eq!(proof, expected, "proof {m} -> {n}");
            verify_consistency(m, &old_root, n, &new_root, &proof).unwrap();
            assert!(
                rfc9162_consistency(m, n, &old_root, &new_root, &proof),
                "{m} -> {n}"
            );
            // A wrong old root, a wrong new root or a changed hash fails both verifiers.
            let other = Digest::of(b"another history");
            assert!(verify_consistency(m, &other, n, &new_root, &proof).is_err());
            assert!(verify_consistency(m, &old_root, n, &other, &proof).is_err());
            assert!(!rfc9162_consistency(m, n, &other, &new_root, &proof));
            if let Some(first) = proof.first() {
                let mut bad = proof.clone();
                bad[0] = node(first, first);
                assert!(verify_consistency(m, &old_root, n, &new_root, &bad).is_err());
                assert!(!rfc9162_consistency(m, n, &old_root, &new_root, &bad));
                // A proof for another pair of sizes does not verify.
                if m + 1 < n {
                    assert!(
                        verify_consistency(m + 1, &naive.mth(0, m + 1), n, &new_root, &proof)
                            .is_err()
                    );
                }
            }
        }
    }
    assert!(log.consistency(0, 5).is_err());
    assert!(log.consistency(6, 5).is_err());
    assert!(log.consistency(1, MAX + 1).is_err());
}

#[test]
fn inclusion_proofs_for_every_leaf_of_every_size_up_to_300() {
    let log = full_log();
    let mut naive = Naive(HashMap::new());
    for n in 1..=MAX {
        let root = naive.mth(0, n);
        for i in 0..n {
            let proof = log.inclusion(i, n).unwrap();
            assert_eq!(proof, naive.path(i, 0, n), "leaf {i} of {n}");
            verify_inclusion(i, n, &root, &block(i), &proof).unwrap();
            assert!(verify_inclusion(i, n, &root, &block(i + 1), &proof).is_err());
            if n > 1 {
                let j = (i + 1) % n;
                assert!(verify_inclusion(j, n, &root, &block(i), &proof).is_err());
            }
        }
    }
    assert!(log.inclusion(3, 3).is_err());
}

#[test]
fn oversized_and_junk_proofs_are_refused_without_panicking() {
    let log = full_log();
    let (old, new) = (log.root(10).unwrap(), log.root(200).unwrap());
    let long = vec![Digest::of(b"x"); MAX_PROOF_HASHES + 1];
    assert!(verify_consistency(10, &old, 200, &new, &long).is_err());
    assert!(verify_inclusion(3, 200, &new, &block(3), &long).is_err());
    for len in 0..40 {
        let junk = vec![Digest::of(&[len as u8]); len];
        assert!(verify_consistency(10, &old, 200, &new, &junk).is_err());
        assert!(verify_inclusion(3, 200, &new, &block(3), &junk).is_err());
    }
    assert!(verify_consistency(0, &old, 200, &new, &[]).is_err());
    assert!(verify_consistency(201, &old, 200, &new, &[]).is_err());
    assert!(verify_consistency(7, &old, 7, &new, &[]).is_err());
    assert!(verify_consistency(7, &old, 7, &old, &[]).is_ok());
    assert!(verify_inclusion(200, 200, &new, &block(3), &[]).is_err());
}

// ---- C2SP signed notes, parsed from the spec ----

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let s = s.as_bytes();
    if s.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::new();
    for chunk in s.chunks(4) {
        let mut v = 0u32;
        let mut pad = 0;
        for &c in chunk {
            v <<= 6;
            if c == b'=' {
                pad += 1;
            } else {
                v |= A.iter().position(|&a| a == c)? as u32;
            }
        }
        let bytes = v.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

/// A signed note per c2sp.org/signed-note: text, then a blank line, then lines
/// `— <name> <base64(key id || signature)>`.
struct SpecNote {
    text: String,
    sigs: Vec<(String, u32, Vec<u8>)>,
}

fn spec_parse(note: &str) -> SpecNote {
    let (text, sigs) = note
        .rsplit_once("\n\n")
        .expect("a blank line before signatures");
    let mut out = Vec::new();
    for line in sigs.strip_suffix('\n').expect("final newline").split('\n') {
        let rest = line.strip_prefix("\u{2014} ").expect("em dash and space");
        let (name, b64) = rest.split_once(' ').expect("name and signature");
        let raw = b64_decode(b64).expect("base64");
        assert!(raw.len() > 4);
        let id = u32::from_be_bytes(raw[..4].try_into().unwrap());
        out.push((name.to_string(), id, raw[4..].to_vec()));
    }
    SpecNote {
        text: format!("{text}\n"),
        sigs: out,
    }
}

/// c2sp.org/tlog-checkpoint: origin, decimal size (no leading zeros), base64 root.
fn spec_checkpoint(text: &str) -> (String, u64, Vec<u8>) {
    let lines: Vec<&str> = text.strip_suffix('\n').unwrap().split('\n').collect();
    assert!(lines.len() >= 3, "{text}");
    let size = lines[1];
    assert!(size == "0" || !size.starts_with('0'));
    assert!(size.bytes().all(|b| b.is_ascii_digit()));
    let root = b64_decode(lines[2]).unwrap();
    assert_eq!(root.len(), 32);
    (lines[0].to_string(), size.parse().unwrap(), root)
}

fn spec_key_id(name: &str, org: &OrgId) -> u32 {
    let d = Digest::of_parts(&[name.as_bytes(), b"\n", &[0x01], &org.0]);
    u32::from_be_bytes(d.0[..4].try_into().unwrap())
}

#[test]
fn a_signed_checkpoint_parses_and_verifies_by_the_spec() {
    let chain = Digest::of(b"chain");
    let log = full_log();
    let (a, b) = (OrgKey::generate("a"), OrgKey::generate("b"));
    let note = sign_checkpoint(&chain, &log, 123, &[&a, &b]).unwrap();
    let parsed = spec_parse(&note);
    let (origin_line, size, root) = spec_checkpoint(&parsed.text);
    assert_eq!(origin_line, origin(&chain));
    assert_eq!(size, 123);
    assert_eq!(root, log.root(123).unwrap().0.to_vec());
    assert_eq!(parsed.sigs.len(), 2);
    for ((name, id, sig), key) in parsed.sigs.iter().zip([&a, &b]) {
        assert_eq!(name, &origin(&chain));
        assert_eq!(*id, spec_key_id(name, &key.id()));
        let vk = VerifyingKey::from_bytes(&key.id().0).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&sig[..].try_into().unwrap());
        vk.verify(parsed.text.as_bytes(), &sig).unwrap();
    }
    let opened = open_checkpoint(note.as_bytes(), &chain, &[a.id(), b.id()]).unwrap();
    assert_eq!((opened.size, opened.root), (123, log.root(123).unwrap()));
    assert_eq!(opened.signers, vec![a.id(), b.id()]);
    // Only b known: a's line is kept as unknown.
    let opened = open_checkpoint(note.as_bytes(), &chain, &[b.id()]).unwrap();
    assert_eq!((opened.signers.len(), opened.unknown_signatures), (1, 1));
}

#[test]
fn checkpoints_of_another_chain_forged_or_unsigned_by_members_are_refused() {
    let chain = Digest::of(b"chain");
    let log = full_log();
    let (a, b, outsider) = (
        OrgKey::generate("a"),
        OrgKey::generate("b"),
        OrgKey::generate("x"),
    );
    let members = [a.id(), b.id()];
    let note = sign_checkpoint(&chain, &log, 50, &[&a]).unwrap();
    // Another chain's members and origin.
    assert!(open_checkpoint(note.as_bytes(), &Digest::of(b"other"), &members).is_err());
    // Signed by no member.
    let x = sign_checkpoint(&chain, &log, 50, &[&outsider]).unwrap();
    assert!(open_checkpoint(x.as_bytes(), &chain, &members).is_err());
    // The size changed after signing.
    let forged = note.replacen("\n50\n", "\n51\n", 1);
    assert!(open_checkpoint(forged.as_bytes(), &chain, &members).is_err());
    // Cosigning adds b's line to the same text.
    let both = cosign(note.as_bytes(), &chain, &members, &b).unwrap();
    assert_eq!(
        open_checkpoint(both.as_bytes(), &chain, &members)
            .unwrap()
            .signers,
        vec![a.id(), b.id()]
    );
    assert!(cosign(x.as_bytes(), &chain, &members, &b).is_err());
    // Oversized and junk inputs are errors.
    assert!(open_checkpoint(&vec![b'a'; MAX_NOTE_BYTES + 1], &chain, &members).is_err());
    for junk in [
        &b""[..],
        b"\n\n",
        b"fedledger/x\n1\nAAAA\n\n\xe2\x80\x94 k AAAA\n",
        b"\x00\x01",
    ] {
        assert!(open_checkpoint(junk, &chain, &members).is_err());
    }
}

proptest::proptest! {
    #[test]
    fn random_bytes_never_open_as_a_checkpoint(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let chain = Digest::of(b"chain");
        let a = OrgKey::from_secret([7; 32], "a");
        proptest::prop_assert!(open_checkpoint(&bytes, &chain, &[a.id()]).is_err());
    }
}
