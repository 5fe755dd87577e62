//! Pre-aggregation (ARC, NNM, bucketing): shared vectors, naive references, golden hashes on every
//! code path, order independence and the (n, f) table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::Digest;
use fedledger_node::learn::aggregate::simd::{self, CodePath};
use fedledger_node::learn::aggregate::{aggregate, Aggregator, Rule, UpdateRef};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::path::Path;

mod aggregate_common;
use aggregate_common::{golden_input, refs};

fn hash(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    Digest::of(&bytes).to_hex()
}

const SEED: Digest = Digest([7u8; 32]);

fn rows_of(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn assert_rows_close(got: &[Vec<f32>], want: &[Vec<f64>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        for (a, b) in g.iter().zip(w) {
            assert!(
                (f64::from(*a) - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{what}: got {g:?}, want {w:?}"
            );
        }
    }
}

#[test]
fn matches_shared_vectors_when_present() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/preaggregation.json");
    let alt = Path::new("/work/shared/vectors/preaggregation.json");
    let path = if path.exists() {
        path
    } else {
        alt.to_path_buf()
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} not present", path.display());
        return;
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let f = case["f"].as_u64().unwrap() as usize;
        let rows: Vec<Vec<f32>> = rows_of(&case["inputs"])
            .into_iter()
            .map(|r| r.into_iter().map(|x| x as f32).collect())
            .collect();
        let what = format!("n={} f={f}", rows.len());
        let nnm = Aggregator::parse("nnm+mean").unwrap();
        let got = nnm.pre_aggregate(&refs(&rows), f, &SEED).unwrap();
        assert_rows_close(&got, &rows_of(&case["nnm"]), &format!("nnm {what}"));
        let arc = Aggregator::parse("arc+mean").unwrap();
        let got = arc.pre_aggregate(&refs(&rows), f, &SEED).unwrap();
        assert_rows_close(&got, &rows_of(&case["arc"]), &format!("arc {what}"));
        let clipped = got.iter().zip(&rows).filter(|(g, r)| g != r).count();
        assert_eq!(
            clipped as u64,
            case["arc_clipped"].as_u64().unwrap(),
            "{what}"
        );
    }
}

/// Naive references: distances, norms and means straight from the vectors in f64.
mod naive {
    pub fn dist2(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum()
    }

    pub fn nnm(rows: &[Vec<f32>], f: usize) -> Vec<Vec<f32>> {
        let n = rows.len();
        (0..n)
            .map(|i| {
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| {
                    dist2(&rows[i], &rows[a])
                        .total_cmp(&dist2(&rows[i], &rows[b]))
                        .then(a.cmp(&b))
                });
                let near = &order[..n - f];
                (0..rows[0].len())
                    .map(|c| {
                        let s: f64 = near.iter().map(|&j| f64::from(rows[j][c])).sum();
                        (s / near.len() as f64) as f32
                    })
                    .collect()
            })
            .collect()
    }

    pub fn arc(rows: &[Vec<f32>], f: usize) -> Vec<Vec<f32>> {
        let n = rows.len();
        let k = 2 * f * (n - f) / n;
        let norm = |r: &[f32]| r.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| norm(&rows[b]).total_cmp(&norm(&rows[a])).then(a.cmp(&b)));
        let tau = norm(&rows[order[k]]);
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                let nr = norm(r);
                if order[..k].contains(&i) && nr > tau {
                    r.iter()
                        .map(|x| (f64::from(*x) * tau / nr) as f32)
                        .collect()
                } else {
                    r.clone()
                }
            })
            .collect()
    }
}

/// `n` random updates of dimension `dim`, the first `bad` of them attackers far away.
fn random_rows(rng: &mut impl Rng, n: usize, bad: usize, dim: usize) -> Vec<Vec<f32>> {
    let centre: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
    (0..n)
        .map(|i| {
            centre
                .iter()
                .map(|&c| {
                    let x = c + rng.gen_range(-0.6f32..0.6);
                    if i < bad {
                        -5.0 * x
                    } else {
                        x
                    }
                })
                .collect()
        })
        .collect()
}

fn assert_vec_close(got: &[f32], want: &[f32], what: &str) {
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        let tol = 1e-5 * b.abs().max(1.0);
        assert!((a - b).abs() <= tol, "{what}: coordinate {k}: {a} vs {b}");
    }
}

#[test]
fn pipelines_match_naive_references() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for trial in 0..30 {
        let n = rng.gen_range(7..14);
        let f = rng.gen_range(1..=(n - 3) / 2);
        let dim = rng.gen_range(1..40);
        let rows = random_rows(&mut rng, n, f, dim);
        let ups = refs(&rows);
        let what = format!("trial {trial}: n={n} f={f} dim={dim}");
        // The steps alone.
        let nnm = Aggregator::parse("nnm+mean").unwrap();
        let got = nnm.pre_aggregate(&ups, f, &SEED).unwrap();
        for (g, w) in got.iter().zip(naive::nnm(&rows, f)) {
            assert_vec_close(g, &w, &format!("nnm {what}"));
        }
        let arc = Aggregator::parse("arc+mean").unwrap();
        let got = arc.pre_aggregate(&ups, f, &SEED).unwrap();
        for (g, w) in got.iter().zip(naive::arc(&rows, f)) {
            assert_vec_close(g, &w, &format!("arc {what}"));
        }
        // Step then rule = the rule on the naive steps' output.
        let mixed = naive::nnm(&naive::arc(&rows, f), f);
        for rule in ["median", "trimmed-mean", "krum", "multi-krum", "mean"] {
            let ours = Aggregator::parse(&format!("arc+nnm+{rule}"))
                .unwrap()
                .run(&ups, f, &SEED)
                .unwrap();
            let reference = aggregate(&Rule::parse(rule).unwrap(), &refs(&mixed), f).unwrap();
            // Krum-family scores come from the Gram matrix (ours) or from the rounded vectors
            // (the reference): a near-tie at the selection boundary may go either way.
            if let Some(m) = match rule {
                "krum" => Some(1),
                "multi-krum" => Some(n - f),
                _ => None,
            } {
                let mut sc: Vec<f64> = reference.outcomes.iter().filter_map(|o| o.score).collect();
                sc.sort_by(f64::total_cmp);
                if m < sc.len() && sc[m] - sc[m - 1] <= 1e-6 * sc[m].abs().max(1e-9) {
                    continue;
                }
            }
            assert_vec_close(
                &ours.aggregate,
                &reference.aggregate,
                &format!("{rule} {what}"),
            );
        }
    }
}

#[test]
fn bucketing_averages_the_seeded_buckets() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let rows = random_rows(&mut rng, 9, 2, 6);
    let ups = refs(&rows);
    let b = Aggregator::parse("bucketing+median").unwrap();
    let got = b.pre_aggregate(&ups, 2, &SEED).unwrap();
    assert_eq!(got.len(), 5, "ceil(9/2) buckets");
    // Every update lands in exactly one bucket: the bucket sums add up to the total.
    let sizes = [2.0f64, 2.0, 2.0, 2.0, 1.0];
    for c in 0..6 {
        let total: f64 = rows.iter().map(|r| f64::from(r[c])).sum();
        let buckets: f64 = got
            .iter()
            .zip(sizes)
            .map(|(g, s)| f64::from(g[c]) * s)
            .sum();
        assert!((total - buckets).abs() < 1e-4, "{total} vs {buckets}");
    }
    // Same seed, same buckets; another seed, another permutation.
    assert_eq!(got, b.pre_aggregate(&ups, 2, &SEED).unwrap());
    let other = (0..20u8)
        .map(|s| b.pre_aggregate(&ups, 2, &Digest([s; 32])).unwrap())
        .filter(|o| *o != got)
        .count();
    assert!(
        other >= 15,
        "the seed must drive the permutation ({other}/20 differ)"
    );
}

#[test]
fn results_ignore_arrival_order() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let rows = random_rows(&mut rng, 11, 3, 50);
    let ups = refs(&rows);
    let mut shuffled = ups.clone();
    shuffled.reverse();
    shuffled.swap(2, 7);
    for name in [
        "robust",
        "nnm+krum",
        "arc+multi-krum",
        "bucketing+median",
        "nnm+bulyan",
    ] {
        let a = Aggregator::parse(name).unwrap();
        let x = a.run(&ups, 2, &SEED).unwrap();
        let y = a.run(&shuffled, 2, &SEED).unwrap();
        assert_eq!(hash(&x.aggregate), hash(&y.aggregate), "{name}");
        for o in &x.outcomes {
            let p = shuffled
                .iter()
                .position(|u| u.id == ups[o.index].id)
                .unwrap();
            assert_eq!(o.included, y.outcomes[p].included, "{name}");
        }
    }
}

#[test]
fn attackers_get_no_weight_under_nnm_krum() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let rows = random_rows(&mut rng, 12, 3, 30);
    let got = Aggregator::parse("nnm+multi-krum")
        .unwrap()
        .run(&refs(&rows), 3, &SEED)
        .unwrap();
    for o in &got.outcomes[..3] {
        assert!(!o.included, "{o:?}");
        assert!(o.reason.as_deref().unwrap().contains("nnm"), "{o:?}");
    }
    let total: f64 = got.outcomes.iter().map(|o| o.weight).sum();
    assert!((total - 1.0).abs() < 1e-12, "weights sum to {total}");
}

#[test]
fn the_table_accounts_for_buckets() {
    let rows: Vec<Vec<f32>> = (0..9).map(|i| vec![i as f32; 3]).collect();
    let ups = refs(&rows);
    // 9 updates, f = 2: median alone is fine (9 >= 5); after bucketing 5 buckets still are.
    assert!(Aggregator::parse("bucketing+median")
        .unwrap()
        .run(&ups, 2, &SEED)
        .is_ok());
    // Krum needs 2f+3 = 7 vectors; bucketing leaves 5.
    let err = Aggregator::parse("bucketing+krum")
        .unwrap()
        .run(&ups, 2, &SEED)
        .unwrap_err();
    assert!(err.to_string().contains("bucket"), "{err}");
    assert!(Aggregator::parse("nnm+nnm+krum").is_err());
    assert!(Aggregator::parse("mixup+krum").is_err());
    let robust = Aggregator::parse("robust").unwrap();
    assert_eq!(robust.name(), "robust");
    assert_eq!(
        robust.pipeline(),
        fedledger_ledger::rule_name::ROBUST_PIPELINE
    );
}

#[test]
fn outputs_and_outcomes_are_pinned_on_every_path() {
    let want: &[(&str, &str, &str)] = &[
        (
            "robust",
            "24c20ea92a43d6863233e415acb7d33a376d66202c0b4f7a641ff2d2f09919a3",
            "03dc489751a1f9771e4c60769799bf0b056709890ae5c64bb79d200f5f237b44",
        ),
        (
            "nnm+mean",
            "b13ef2c358d80ede964a3c3d10fdf92224027b5811f79dd994021a76a1051eb5",
            "d0e01812fe1d0905adab11daa84aeb8fc9d0fe630d1c606a24e1ca7fff9a0cea",
        ),
        (
            "nnm+median",
            "7b671e0ba562b41a0ee70beb48b98ec719c9acc9b9b8130386533f3fcdaf9fca",
            "e3fa150cfd0e2aaec4921a376a238e7ff8c139a6a0f1c168c149481b9a682b2e",
        ),
        (
            "nnm+trimmed-mean",
            "7b671e0ba562b41a0ee70beb48b98ec719c9acc9b9b8130386533f3fcdaf9fca",
            "e3fa150cfd0e2aaec4921a376a238e7ff8c139a6a0f1c168c149481b9a682b2e",
        ),
        (
            "nnm+krum",
            "7b671e0ba562b41a0ee70beb48b98ec719c9acc9b9b8130386533f3fcdaf9fca",
            "ac00d9869397e835b8380aa2505d92738b4026a7ef613f303869c2689e97bbd0",
        ),
        (
            "nnm+multi-krum",
            "0937be8fb2f1af30227be18a855f6b0de1ce81eca031479ea5b56a5cb955cfe6",
            "83ecf48d6d43ebbf6080442141c74f0e99a4ff97ad1d6862e11fc88486593eb3",
        ),
        (
            "nnm+bulyan",
            "7b671e0ba562b41a0ee70beb48b98ec719c9acc9b9b8130386533f3fcdaf9fca",
            "cab1d7c3e96dc698b9324e7f22e98beddb8a58f8a4f8952098ac3aa93ef4b9a9",
        ),
        (
            "nnm+geometric-median",
            "2ac233d2fbdf563d6a5e4ef4f7b0b2021678a99af188a23e4a81da885471b4cd",
            "238bff3818a46e24bb8d04af1c34d8d53d5eae6d4548e7278aa8d7a0dff06779",
        ),
        (
            "nnm+centered-clipping",
            "196b15b77cd0f4224d1262c438bbd597c3d3942b68db33e563a3d0459ce8e915",
            "45e7353ab20183abad30fbd9a344294978fc9aba1b49bccdc7eaa8f03230d8f9",
        ),
        (
            "arc+mean",
            "15c35c607ed37521630e85d350b9fc0d3b753b9af2f9c18c40e39a70424690aa",
            "a114e65dea23b42688dabe542aae3ee64daca6ae5454e9ea7d9681f23ee73f87",
        ),
        (
            "arc+krum",
            "dc99145587e9e1f92338454bc9c0e0c046dc467ffad5890b2deac20422d610ab",
            "638e07b93e787222c03fc016154ade7f93f4851b2303077df64a8a781db578f0",
        ),
        (
            "arc+nnm+multi-krum",
            "24c20ea92a43d6863233e415acb7d33a376d66202c0b4f7a641ff2d2f09919a3",
            "03dc489751a1f9771e4c60769799bf0b056709890ae5c64bb79d200f5f237b44",
        ),
        (
            "bucketing+median",
            "3dde5fa21c8438e457570f84ffe63f5c52e5de1782471c25be44dab5e88fbddd",
            "2ca8ca4fe4b7006dffdc7b0caf75df1b49f1a3d8e11c57049e40e12879260a99",
        ),
        (
            "bucketing+trimmed-mean",
            "3dde5fa21c8438e457570f84ffe63f5c52e5de1782471c25be44dab5e88fbddd",
            "2ca8ca4fe4b7006dffdc7b0caf75df1b49f1a3d8e11c57049e40e12879260a99",
        ),
        (
            "nnm+bucketing+mean",
            "6b624ef0f130aafa9c6447d4b7a628376945218ad9750d03910e1fff0ee089c8",
            "a42ce857439f62eef0c340cae781dc230b4a55a749229240be8324f317da0f6b",
        ),
    ];
    // With 12 honest updates of 15 and n - f = 12 neighbours, every honest mix is the honest
    // mean, so the rules that keep a central honest vector agree on it.
    let (rows, ids) = golden_input();
    let ups: Vec<UpdateRef<'_>> = rows
        .iter()
        .zip(&ids)
        .map(|(r, &id)| UpdateRef { id, delta: r })
        .collect();
    let names = [
        "robust",
        "nnm+mean",
        "nnm+median",
        "nnm+trimmed-mean",
        "nnm+krum",
        "nnm+multi-krum",
        "nnm+bulyan",
        "nnm+geometric-median",
        "nnm+centered-clipping",
        "arc+mean",
        "arc+krum",
        "arc+nnm+multi-krum",
        "bucketing+median",
        "bucketing+trimmed-mean",
        "nnm+bucketing+mean",
    ];
    let mut failures = Vec::new();
    for path in CodePath::ALL {
        for name in names {
            let a = Aggregator::parse(name).unwrap();
            simd::limit_path(path);
            let got = a.run(&ups, 3, &Digest([1u8; 32])).unwrap();
            simd::limit_path(CodePath::Avx512);
            let mut bytes = Vec::new();
            for o in &got.outcomes {
                bytes.push(u8::from(o.included));
                bytes.extend(o.weight.to_bits().to_le_bytes());
                bytes.extend(o.score.map_or(u64::MAX, f64::to_bits).to_le_bytes());
                bytes.extend(o.reason.as_deref().unwrap_or("").as_bytes());
            }
            let (h, oh) = (hash(&got.aggregate), Digest::of(&bytes).to_hex());
            match want.iter().find(|w| w.0 == name) {
                Some(&(_, wh, woh)) if wh == h && woh == oh => {}
                _ => failures.push(format!(
                    "(\"{name}\", \"{h}\", \"{oh}\"), path: {}",
                    path.name()
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden pre-aggregation hashes changed:\n{}",
        failures.join("\n")
    );
}
