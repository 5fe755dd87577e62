//! Inputs shared by the aggregation tests: index-ordered ids and the golden 15 x 1031 input.
#![allow(dead_code)]

use fedledger_ledger::Digest;
use fedledger_node::learn::aggregate::UpdateRef;
use rand::{Rng, SeedableRng};

/// Ids that sort like the indices, as the shared vectors assume ("smaller update hash = smaller
/// index").
pub fn id(i: usize) -> Digest {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Digest(b)
}

/// `rows` as updates with [`id`]s.
pub fn refs(rows: &[Vec<f32>]) -> Vec<UpdateRef<'_>> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| UpdateRef {
            id: id(i),
            delta: r,
        })
        .collect()
}

/// 15 updates of dimension 1031 (not a multiple of any lane or chunk width): 12 honest ones
/// around a common direction, 3 attackers (scaled sign flips). Ids are hashes of the index.
pub fn golden_input() -> (Vec<Vec<f32>>, Vec<Digest>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261122);
    let dim = 1031;
    let base: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let rows = (0..15)
        .map(|i| {
            base.iter()
                .map(|&b| {
                    let noise = rng.gen_range(-0.5f32..0.5);
                    if i < 3 {
                        -8.0 * b + noise
                    } else {
                        b + noise
                    }
                })
                .collect()
        })
        .collect();
    let ids = (0..15u64).map(|i| Digest::of(&i.to_le_bytes())).collect();
    (rows, ids)
}
