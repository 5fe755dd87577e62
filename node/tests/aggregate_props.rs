//! Property tests: every rule against a plain reference implementation written here (full sorts,
//! direct O(n² d) distances), on random inputs with ties, duplicates and small dimensions, plus
//! permutation invariance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::Digest;
use fedledger_node::learn::aggregate::{aggregate, Aggregation, Rule, UpdateRef};
use proptest::prelude::*;

fn id(i: usize) -> Digest {
    Digest::of(&(i as u64).to_le_bytes())
}

fn canon(x: f32) -> f32 {
    x + 0.0
}

/// Input indices in canonical order (by id, then index), the order the rules sum in.
fn canonical(ids: &[Digest]) -> Vec<usize> {
    let mut o: Vec<usize> = (0..ids.len()).collect();
    o.sort_by(|&a, &b| ids[a].cmp(&ids[b]).then(a.cmp(&b)));
    o
}

fn run(rule: Rule, rows: &[Vec<f32>], ids: &[Digest], f: usize) -> Aggregation {
    let ups: Vec<UpdateRef<'_>> = rows
        .iter()
        .zip(ids)
        .map(|(r, &id)| UpdateRef { id, delta: r })
        .collect();
    aggregate(&rule, &ups, f).unwrap()
}

fn column(rows: &[Vec<f32>], c: usize) -> Vec<f32> {
    let mut v: Vec<f32> = rows.iter().map(|r| r[c]).collect();
    v.sort_by(f32::total_cmp);
    v
}

fn mean_of(rows: &[&Vec<f32>], dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|c| {
            let mut s = 0.0f64;
            for r in rows {
                s += f64::from(r[c]);
            }
            canon((s / rows.len() as f64) as f32)
        })
        .collect()
}

fn naive_median(rows: &[Vec<f32>], dim: usize) -> Vec<f32> {
    let n = rows.len();
    (0..dim)
        .map(|c| {
            let v = column(rows, c);
            if n % 2 == 1 {
                canon(v[n / 2])
            } else {
                canon(((f64::from(v[n / 2 - 1]) + f64::from(v[n / 2])) * 0.5) as f32)
            }
        })
        .collect()
}

fn naive_trimmed(rows: &[Vec<f32>], dim: usize, f: usize) -> Vec<f32> {
    let n = rows.len();
    (0..dim)
        .map(|c| {
            let v = column(rows, c);
            let mut s = 0.0f64;
            for x in &v[f..n - f] {
                s += f64::from(*x);
            }
            canon((s / (n - 2 * f) as f64) as f32)
        })
        .collect()
}

fn d2(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum()
}

/// Krum scores of `members` (input indices) among themselves, n-f-2 nearest.
fn naive_scores(rows: &[Vec<f32>], members: &[usize], f: usize) -> Vec<f64> {
    let k = members.len().saturating_sub(f + 2);
    members
        .iter()
        .map(|&i| {
            let mut d: Vec<f64> = members
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| d2(&rows[i], &rows[j]))
                .collect();
            d.sort_by(f64::total_cmp);
            d[..k].iter().sum()
        })
        .collect()
}

/// Positions into `members` by (score, canonical rank).
fn naive_rank(scores: &[f64], members: &[usize], rank_of: &[usize]) -> Vec<usize> {
    let mut p: Vec<usize> = (0..members.len()).collect();
    p.sort_by(|&a, &b| {
        scores[a]
            .total_cmp(&scores[b])
            .then(rank_of[members[a]].cmp(&rank_of[members[b]]))
    });
    p
}

fn ranks(ids: &[Digest]) -> Vec<usize> {
    let order = canonical(ids);
    let mut r = vec![0; ids.len()];
    for (k, &i) in order.iter().enumerate() {
        r[i] = k;
    }
    r
}

fn naive_multi_krum(rows: &[Vec<f32>], ids: &[Digest], f: usize, m: usize) -> Vec<usize> {
    let all: Vec<usize> = (0..rows.len()).collect();
    let sc = naive_scores(rows, &all, f);
    let rank = naive_rank(&sc, &all, &ranks(ids));
    let mut chosen: Vec<usize> = rank[..m].to_vec();
    chosen.sort_by_key(|&i| ranks(ids)[i]);
    chosen
}

fn naive_bulyan(rows: &[Vec<f32>], ids: &[Digest], f: usize) -> Vec<f32> {
    let n = rows.len();
    let (theta, beta) = (n - 2 * f, n - 4 * f);
    let rk = ranks(ids);
    let mut remaining: Vec<usize> = canonical(ids);
    let mut chosen = Vec::new();
    for _ in 0..theta {
        let sc = naive_scores(rows, &remaining, f);
        let best = naive_rank(&sc, &remaining, &rk)[0];
        chosen.push(remaining.remove(best));
    }
    let sel: Vec<Vec<f32>> = chosen.iter().map(|&i| rows[i].clone()).collect();
    (0..rows[0].len())
        .map(|c| {
            let v: Vec<f64> = column(&sel, c).into_iter().map(f64::from).collect();
            let med = (v[(theta - 1) / 2] + v[theta / 2]) * 0.5;
            let (mut lo, mut hi) = ((theta - 1) / 2 + 1, (theta - 1) / 2 + 1);
            for _ in 0..beta {
                if lo > 0 && (hi >= theta || med - v[lo - 1] <= v[hi] - med) {
                    lo -= 1;
                } else {
                    hi += 1;
                }
            }
            let s: f64 = v[lo..hi].iter().sum();
            canon((s / beta as f64) as f32)
        })
        .collect()
}

fn naive_geometric_median(rows: &[Vec<f32>]) -> Vec<f64> {
    let dim = rows[0].len();
    let pts: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| r.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let dist = |v: &[f64], p: &[f64]| -> f64 {
        v.iter()
            .zip(p)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let mut v: Vec<f64> = (0..dim)
        .map(|c| pts.iter().map(|p| p[c]).sum::<f64>() / pts.len() as f64)
        .collect();
    let mut obj: f64 = pts.iter().map(|p| dist(&v, p)).sum();
    for _ in 0..100 {
        let w: Vec<f64> = pts.iter().map(|p| 1.0 / dist(&v, p).max(1e-6)).collect();
        let tw: f64 = w.iter().sum();
        v = (0..dim)
            .map(|c| pts.iter().zip(&w).map(|(p, wi)| wi * p[c]).sum::<f64>() / tw)
            .collect();
        let next: f64 = pts.iter().map(|p| dist(&v, p)).sum();
        let done = (obj - next).abs() <= 1e-10 * next;
        obj = next;
        if done {
            break;
        }
    }
    v
}

fn naive_centered_clipping(rows: &[Vec<f32>], radius: Option<f64>) -> Vec<f64> {
    let n = rows.len();
    let dim = rows[0].len();
    let pts: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| r.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let mut v: Vec<f64> = (0..dim)
        .map(|c| pts.iter().map(|p| p[c]).sum::<f64>() / n as f64)
        .collect();
    for _ in 0..10 {
        let dist: Vec<f64> = pts
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&v)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        let tau = radius.unwrap_or_else(|| {
            let mut s = dist.clone();
            s.sort_by(f64::total_cmp);
            (s[(n - 1) / 2] + s[n / 2]) * 0.5
        });
        let mut step = vec![0.0; dim];
        for (p, &d) in pts.iter().zip(&dist) {
            let s = if d > tau { tau / d } else { 1.0 };
            for c in 0..dim {
                step[c] += s * (p[c] - v[c]) / n as f64;
            }
        }
        for c in 0..dim {
            v[c] += step[c];
        }
    }
    v
}

fn assert_near(got: &[f32], want: &[f64], scale: f64, what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-4 * scale,
            "{what}: got {got:?} want {want:?}"
        );
    }
}

/// Half-integers in [-4, 4]: every product and sum below is exact, so scores tie exactly where
/// they should and the Krum family can be compared bit for bit; few values, many duplicates.
fn exact_rows() -> impl Strategy<Value = (Vec<Vec<f32>>, usize)> {
    (1usize..=13, 1usize..=5).prop_flat_map(|(n, d)| {
        (
            prop::collection::vec(
                prop::collection::vec((-8i32..=8).prop_map(|k| k as f32 * 0.5), d),
                n,
            ),
            0usize..=n,
        )
    })
}

/// Wide-range floats, including tiny and huge magnitudes and signed zeros.
fn float_rows() -> impl Strategy<Value = (Vec<Vec<f32>>, usize)> {
    let value = prop_oneof![
        4 => -1000.0f32..1000.0,
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
        1 => -1e-3f32..1e-3,
        1 => -1e6f32..1e6,
    ];
    (1usize..=12, 1usize..=70).prop_flat_map(move |(n, d)| {
        (
            prop::collection::vec(prop::collection::vec(value.clone(), d), n),
            0usize..=n,
        )
    })
}

fn ids_for(n: usize) -> Vec<Digest> {
    (0..n).map(id).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn coordinate_rules_equal_naive_bit_for_bit((rows, f) in float_rows()) {
        let n = rows.len();
        let dim = rows[0].len();
        let ids = ids_for(n);
        let order = canonical(&ids);
        let canon_rows: Vec<&Vec<f32>> = order.iter().map(|&i| &rows[i]).collect();
        prop_assert_eq!(bits(&run(Rule::Mean, &rows, &ids, 0).aggregate), bits(&mean_of(&canon_rows, dim)));
        let f = f.min((n - 1) / 2);
        prop_assert_eq!(bits(&run(Rule::Median, &rows, &ids, f).aggregate), bits(&naive_median(&rows, dim)));
        prop_assert_eq!(bits(&run(Rule::TrimmedMean, &rows, &ids, f).aggregate), bits(&naive_trimmed(&rows, dim, f)));
    }

    #[test]
    fn krum_family_equals_naive_on_exact_inputs((rows, f) in exact_rows()) {
        let n = rows.len();
        let dim = rows[0].len();
        let ids = ids_for(n);
        if n >= 3 {
            let f = f.min((n - 3) / 2);
            let chosen = naive_multi_krum(&rows, &ids, f, 1);
            let got = run(Rule::Krum, &rows, &ids, f);
            prop_assert_eq!(&got.aggregate, &rows[chosen[0]].iter().map(|&x| canon(x)).collect::<Vec<_>>());
            for o in &got.outcomes {
                prop_assert_eq!(o.included, o.index == chosen[0]);
            }
            let all: Vec<usize> = (0..n).collect();
            let sc = naive_scores(&rows, &all, f);
            for o in &got.outcomes {
                prop_assert_eq!(o.score, Some(sc[o.index]));
            }
            for m in [None, Some(1), Some(n)] {
                let mm = m.unwrap_or(n - f);
                let chosen = naive_multi_krum(&rows, &ids, f, mm);
                let sel: Vec<&Vec<f32>> = chosen.iter().map(|&i| &rows[i]).collect();
                let got = run(Rule::MultiKrum { m }, &rows, &ids, f);
                prop_assert_eq!(bits(&got.aggregate), bits(&mean_of(&sel, dim)));
                prop_assert_eq!(got.outcomes.iter().filter(|o| o.included).count(), mm);
            }
        }
        if n >= 3 {
            let f = f.min((n - 3) / 4);
            let got = run(Rule::Bulyan, &rows, &ids, f);
            prop_assert_eq!(bits(&got.aggregate), bits(&naive_bulyan(&rows, &ids, f)));
            prop_assert_eq!(got.outcomes.iter().filter(|o| o.included).count(), n - 2 * f);
        }
    }

    #[test]
    fn krum_family_near_naive_on_floats((rows, f) in float_rows()) {
        let n = rows.len();
        prop_assume!(n >= 3);
        let ids = ids_for(n);
        let f = f.min((n - 3) / 2);
        let all: Vec<usize> = (0..n).collect();
        let sc = naive_scores(&rows, &all, f);
        let best = sc.iter().cloned().fold(f64::INFINITY, f64::min);
        // Gram-identity rounding: tolerance relative to the squared norms involved.
        let norm2: f64 = rows.iter().map(|r| d2(r, &vec![0.0; r.len()])).fold(0.0, f64::max);
        let tol = 1e-5 * norm2 * n as f64 + 1e-9;
        let got = run(Rule::Krum, &rows, &ids, f);
        let winner = got.outcomes.iter().find(|o| o.included).unwrap().index;
        prop_assert!(sc[winner] <= best + tol, "winner score {} vs best {}", sc[winner], best);
        for o in &got.outcomes {
            prop_assert!((o.score.unwrap() - sc[o.index]).abs() <= tol);
        }
    }

    #[test]
    fn weiszfeld_and_clipping_near_naive((rows, f) in float_rows()) {
        let n = rows.len();
        let ids = ids_for(n);
        let f = f.min((n - 1) / 2);
        let scale = rows.iter().flatten().fold(1.0f64, |m, &x| m.max(f64::from(x).abs()));
        let gm = run(Rule::GeometricMedian, &rows, &ids, f);
        assert_near(&gm.aggregate, &naive_geometric_median(&rows), scale, "geometric median");
        let total: f64 = gm.outcomes.iter().map(|o| o.weight).sum();
        prop_assert!((total - 1.0).abs() < 1e-9);
        for radius in [None, Some(1.0), Some(250.0)] {
            let cc = run(Rule::CenteredClipping { radius }, &rows, &ids, f);
            assert_near(&cc.aggregate, &naive_centered_clipping(&rows, radius), scale, "centered clipping");
        }
    }

    #[test]
    fn output_ignores_arrival_order(
        (rows, f) in float_rows(),
        seed in any::<u64>(),
    ) {
        let n = rows.len();
        let ids = ids_for(n);
        // A permutation from the seed (Fisher-Yates with a simple LCG).
        let mut perm: Vec<usize> = (0..n).collect();
        let mut s = seed | 1;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let prow: Vec<Vec<f32>> = perm.iter().map(|&i| rows[i].clone()).collect();
        let pids: Vec<Digest> = perm.iter().map(|&i| ids[i]).collect();
        for rule in Rule::ALL {
            let f = match rule {
                Rule::Mean => 0,
                Rule::Krum | Rule::MultiKrum { .. } if n >= 3 => f.min((n - 3) / 2),
                Rule::Bulyan if n >= 3 => f.min((n - 3) / 4),
                Rule::Krum | Rule::MultiKrum { .. } | Rule::Bulyan => continue,
                _ => f.min((n - 1) / 2),
            };
            let a = run(rule, &rows, &ids, f);
            let b = run(rule, &prow, &pids, f);
            prop_assert_eq!(bits(&a.aggregate), bits(&b.aggregate), "{:?}", rule);
            for (k, &i) in perm.iter().enumerate() {
                let (oa, ob) = (&a.outcomes[i], &b.outcomes[k]);
                prop_assert_eq!((oa.included, oa.weight, oa.score, &oa.reason), (ob.included, ob.weight, ob.score, &ob.reason), "{:?}", rule);
                prop_assert_eq!(ob.index, k);
            }
        }
    }
}
