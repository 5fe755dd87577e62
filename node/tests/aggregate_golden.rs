//! Golden hashes: SHA-256 of each rule's output (f32 little-endian bytes) on a seeded input, so
//! any change to the bits, on any machine, fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::Digest;
use fedledger_node::learn::aggregate::simd::{self, CodePath};
use fedledger_node::learn::aggregate::{aggregate, Aggregation, Outcome, Rule, UpdateRef};

mod aggregate_common;
use aggregate_common::golden_input as input;

fn hash(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    Digest::of(&bytes).to_hex()
}

#[test]
fn outputs_are_pinned() {
    let want = [
        (
            "mean",
            "9cb0407321d903b1155dbeaefc7db9b0e3ccd140882da8b5a4d693565e356241",
        ),
        (
            "median",
            "03c8ae56664826c3ea21ccc09824a01b799d87b3dc747646b3b3e0cac8f20db6",
        ),
        (
            "trimmed-mean",
            "e52a30018ac9931a31144d53fcc756da1b031196c8998dd09ad7639a1cd150fe",
        ),
        (
            "krum",
            "dc99145587e9e1f92338454bc9c0e0c046dc467ffad5890b2deac20422d610ab",
        ),
        (
            "multi-krum",
            "4e383f5b79b6fe952bcfb864a96d75861710e540f806f03593df3e6d22b7a49b",
        ),
        (
            "bulyan",
            "531fed540c5d8398342e5da7fffa5e23d235fbd4dd094be67780f439aede7c16",
        ),
        (
            "geometric-median",
            "4ec7cb6238b93682ce0b71fefc07dd84eb05a70d6a968996f129a53d8237f503",
        ),
        (
            "centered-clipping",
            "2214c89d3c96bd04f0acf5c8acd5fcd9c2029c8e579522023cdd4fe998261bf7",
        ),
    ];
    check_on_every_path("aggregate", &want, |rule, got| {
        // The attackers (inputs 0..3) never make it into Krum's or Multi-Krum's selection. (Bulyan
        // can pick one late: with 7 left, 2 neighbours each, the clustered attackers look tight.)
        if matches!(rule, Rule::Krum | Rule::MultiKrum { .. }) {
            assert!(
                got.outcomes[..3].iter().all(|o| !o.included),
                "{}",
                rule.name()
            );
        }
        hash(&got.aggregate)
    });
}

/// Aggregate the golden input (f = 3) with each rule in `want` on every code path (AVX-512 and
/// AVX2 where the CPU has them, and the baseline), and check `digest` of the result against the
/// pinned hex; on a mismatch, print every new value.
fn check_on_every_path(
    what: &str,
    want: &[(&str, &str)],
    digest: impl Fn(&Rule, &Aggregation) -> String,
) {
    let (rows, ids) = input();
    let ups: Vec<UpdateRef<'_>> = rows
        .iter()
        .zip(&ids)
        .map(|(r, &id)| UpdateRef { id, delta: r })
        .collect();
    let mut failures = Vec::new();
    for path in CodePath::ALL {
        for &(name, hex) in want {
            let rule = Rule::parse(name).unwrap();
            simd::limit_path(path);
            let got = aggregate(&rule, &ups, 3).unwrap();
            simd::limit_path(CodePath::Avx512);
            let h = digest(&rule, &got);
            if h != hex {
                failures.push(format!("(\"{name}\", \"{h}\"), path: {}", path.name()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden {what} hashes changed:\n{}",
        failures.join("\n")
    );
}

/// The bits of every outcome (included, weight, score) that a rule reports, hashed: Krum-family
/// scores come from the Gram kernel, whose lane layout and fused multiply-adds are part of the
/// rule, and they reach the ledger in exclusion reasons.
fn outcome_hash(outcomes: &[Outcome]) -> String {
    let mut bytes = Vec::new();
    for o in outcomes {
        bytes.push(u8::from(o.included));
        bytes.extend(o.weight.to_bits().to_le_bytes());
        bytes.extend(o.score.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        bytes.extend(o.reason.as_deref().unwrap_or("").as_bytes());
    }
    Digest::of(&bytes).to_hex()
}

#[test]
fn outcomes_are_pinned() {
    let want = [
        (
            "median",
            "51fb9d214bcc5f562f2f8ffb7de51fa5a38e0ccddaf8d1883ea92e1c8f4921f7",
        ),
        (
            "krum",
            "dc7b27c6e54aa5b23eb24008b41183b838f40c0f247671dfea94d822db73a322",
        ),
        (
            "multi-krum",
            "28905e97383b20069f108abef2b91ef8e98615c746373f3699122698b0947025",
        ),
        (
            "bulyan",
            "25f19fff02c856b3e923dc455f7f64cf8c7ba21e4faa7901b76ea6f08a043cde",
        ),
    ];
    check_on_every_path("outcome", &want, |_, got| outcome_hash(&got.outcomes));
}
