//! Bucketing (Karimireddy, He and Jaggi, ICLR 2022): shuffle, then average buckets of s vectors.

use super::Mixing;
use fedledger_ledger::rule_name::BUCKET_SIZE;
use fedledger_ledger::Digest;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Domain of the permutation seed, so no other use of the previous block hash yields it.
const DOMAIN: &[u8] = b"fedledger/bucketing/v1";

/// Shuffle the vectors with [`permutation`] and average consecutive buckets of
/// [`BUCKET_SIZE`] (the last one may hold fewer).
pub(super) fn apply(m: &mut Mixing, seed: &Digest) {
    let perm = permutation(m.rows(), seed);
    let groups: Vec<Vec<usize>> = perm
        .chunks(BUCKET_SIZE as usize)
        .map(|c| {
            let mut g = c.to_vec();
            g.sort_unstable();
            g
        })
        .collect();
    m.average(&groups);
}

/// A permutation of `0..r` every validator derives alike: Fisher-Yates (from the top) driven by
/// ChaCha20 seeded with SHA-256(domain || seed), each index drawn by rejection so it is exactly
/// uniform. Only `next_u64` of the generator is used, whose output the rand_chacha crate fixes.
pub fn permutation(r: usize, seed: &Digest) -> Vec<usize> {
    let key = Digest::of_parts(&[DOMAIN, seed.as_bytes()]);
    let mut rng = ChaCha20Rng::from_seed(key.0);
    let mut p: Vec<usize> = (0..r).collect();
    for i in (1..r).rev() {
        let bound = i as u64 + 1;
        let zone = u64::MAX - u64::MAX % bound;
        let j = loop {
            let x = rng.next_u64();
            if x < zone {
                break x % bound;
            }
        };
        p.swap(i, j as usize);
    }
    p
}
