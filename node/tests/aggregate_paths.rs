//! The AVX-512, AVX2 and baseline code paths of every rule give the same bits and the same
//! outcomes, on inputs full of ties, duplicates and signed zeros, at dimensions that are not
//! multiples of any lane, block or chunk width. Paths the CPU lacks run as the next narrower
//! one, so on a CPU without AVX2 the test checks nothing more than determinism.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::Digest;
use fedledger_node::learn::aggregate::simd::{self, CodePath};
use fedledger_node::learn::aggregate::{aggregate, Aggregation, Rule, UpdateRef};
use rand::{Rng, SeedableRng};

fn run(rule: &Rule, rows: &[Vec<f32>], f: usize) -> Aggregation {
    let ups: Vec<UpdateRef<'_>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| UpdateRef {
            id: Digest::of(&(i as u64).to_le_bytes()),
            delta: r,
        })
        .collect();
    aggregate(rule, &ups, f).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn vector_and_scalar_paths_agree() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    eprintln!("widest path on this CPU: {}", simd::cpu_path().name());
    for (n, f, dim) in [
        (7, 1, 33),
        (11, 2, 1031),
        (15, 3, 4099),
        (24, 5, 257),
        (40, 9, 95),
    ] {
        // Small integers and halves: many exact ties; 0.0 and -0.0 both occur.
        let rows: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                (0..dim)
                    .map(|_| match rng.gen_range(0..10) {
                        0 => 0.0,
                        1 => -0.0,
                        _ => rng.gen_range(-6i32..7) as f32 * 0.5,
                    })
                    .collect()
            })
            .collect();
        for rule in Rule::ALL {
            if rule.check(n, f).is_err() {
                continue;
            }
            simd::limit_path(CodePath::Baseline);
            let base = run(&rule, &rows, f);
            for path in [CodePath::Avx2, CodePath::Avx512] {
                simd::limit_path(path);
                let wide = run(&rule, &rows, f);
                assert_eq!(
                    bits(&wide.aggregate),
                    bits(&base.aggregate),
                    "{} on {} n={n} f={f} dim={dim}",
                    rule.name(),
                    path.name()
                );
                assert_eq!(wide.outcomes, base.outcomes, "{} n={n} f={f}", rule.name());
            }
            simd::limit_path(CodePath::Avx512);
        }
    }
}
