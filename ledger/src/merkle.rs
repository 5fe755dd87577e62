//! RFC 6962 Merkle tree hashes and inclusion proofs over block entries.
//!
//! Leaves are `SHA-256(0x00 || entry)`, interior nodes `SHA-256(0x01 || left || right)`, the empty
//! tree is `SHA-256("")`. Trees are built with rs_merkle, whose level-by-level construction that
//! promotes a lone last node equals RFC 6962's split at the largest power of two. Proofs are
//! checked with the RFC 9162 §2.1.3.2 algorithm, which binds the proof to the leaf index and the
//! tree size: a proof never verifies for another index, size or root.

use crate::digest::Digest;
use rs_merkle::{Hasher, MerkleTree};
use serde::{Deserialize, Serialize};

/// rs_merkle hasher adding RFC 6962's interior-node prefix. Leaves are hashed by [`leaf_hash`]
/// before they reach rs_merkle.
#[derive(Clone, Debug)]
pub struct Rfc6962Hasher;

impl Hasher for Rfc6962Hasher {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        Digest::of(data).0
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(r) => node_hash(&Digest(*left), &Digest(*r)).0,
            None => *left,
        }
    }
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Digest {
    Digest::of_parts(&[&[0x00], data])
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Digest::of_parts(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

/// The Merkle tree hash of leaves given by their leaf hashes.
pub fn root(leaf_hashes: &[Digest]) -> Digest {
    if leaf_hashes.is_empty() {
        return Digest::of(b"");
    }
    let leaves: Vec<[u8; 32]> = leaf_hashes.iter().map(|d| d.0).collect();
    let tree = MerkleTree::<Rfc6962Hasher>::from_leaves(&leaves);
    tree.root().map(Digest).unwrap_or_else(|| Digest::of(b""))
}

/// An inclusion proof of one leaf: sibling hashes from the leaf up (RFC 6962 audit path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Position of the leaf.
    pub index: u64,
    /// Number of leaves in the tree.
    pub size: u64,
    /// The audit path, bottom-up.
    pub path: Vec<Digest>,
}

/// The audit path for leaf `index`, or `None` if it is out of range.
pub fn prove(leaf_hashes: &[Digest], index: usize) -> Option<InclusionProof> {
    if index >= leaf_hashes.len() {
        return None;
    }
    let leaves: Vec<[u8; 32]> = leaf_hashes.iter().map(|d| d.0).collect();
    let tree = MerkleTree::<Rfc6962Hasher>::from_leaves(&leaves);
    let proof = tree.proof(&[index]);
    Some(InclusionProof {
        index: index as u64,
        size: leaf_hashes.len() as u64,
        path: proof.proof_hashes().iter().map(|h| Digest(*h)).collect(),
    })
}

/// Check that `leaf` sits at `proof.index` in a tree of `proof.size` leaves with root `root`.
pub fn verify(root: &Digest, leaf: &Digest, proof: &InclusionProof) -> bool {
    if proof.index >= proof.size || proof.path.len() > 64 {
        return false;
    }
    let mut fnode = proof.index;
    let mut snode = proof.size - 1;
    let mut r = *leaf;
    for p in &proof.path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6962 §2.1 written as recursion: the reference everything is checked against.
    fn naive_root(leaves: &[Digest]) -> Digest {
        match leaves.len() {
            0 => Digest::of(b""),
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]) as recursion.
    fn naive_path(m: usize, leaves: &[Digest]) -> Vec<Digest> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = n.next_power_of_two() / 2;
        if m < k {
            let mut p = naive_path(m, &leaves[..k]);
            p.push(naive_root(&leaves[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &leaves[k..]);
            p.push(naive_root(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Digest> {
        (0..n as u32).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    /// The RFC 6962 reference inputs and roots published with the certificate-transparency test
    /// data (also used by Trillian and transparency-dev/merkle).
    #[test]
    fn rfc6962_published_vectors() {
        let inputs: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let hashes: Vec<Digest> = inputs.iter().map(|d| leaf_hash(d)).collect();
        for n in 1..=8 {
            assert_eq!(root(&hashes[..n]).to_hex(), roots[n - 1], "size {n}");
        }
        assert_eq!(
            root(&[]).to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn roots_and_paths_match_the_naive_reference_for_every_size_up_to_1000() {
        let all = leaves(1000);
        for n in 1..=1000 {
            let l = &all[..n];
            let r = root(l);
            assert_eq!(r, naive_root(l), "root of size {n}");
            // Every index for small trees, a spread of indices for large ones.
            let step = if n <= 64 { 1 } else { n / 17 + 1 };
            for i in (0..n).step_by(step).chain([n - 1]) {
                let p = prove(l, i).expect("index in range");
                assert_eq!(p.path, naive_path(i, l), "path of {i} in {n}");
                assert!(verify(&r, &l[i], &p), "verify {i} in {n}");
            }
        }
    }

    proptest! {
        #[test]
        fn a_proof_never_verifies_for_another_index_size_root_or_leaf(
            n in 1usize..300, i_seed in any::<u64>(), other in any::<u64>(),
        ) {
            let l = leaves(n);
            let i = (i_seed % n as u64) as usize;
            let r = root(&l);
            let p = prove(&l, i).expect("in range");
            prop_assert!(verify(&r, &l[i], &p));
            let j = (other % n as u64) as usize;
            if j != i {
                let wrong_index = InclusionProof { index: j as u64, ..p.clone() };
                prop_assert!(!verify(&r, &l[i], &wrong_index));
                prop_assert!(!verify(&r, &l[j], &p));
            }
            // The size is bound through the root: a path for size n never verifies against the
            // real root of the first m leaves, whichever size the proof claims.
            let m = ((other % 400) + 1) as usize;
            if m != n && i < m {
                let superset = leaves(m.max(n));
                let root_m = root(&superset[..m]);
                prop_assert!(!verify(&root_m, &l[i], &p));
                let claimed_m = InclusionProof { size: m as u64, ..p.clone() };
                prop_assert!(!verify(&root_m, &l[i], &claimed_m));
            }
            prop_assert!(!verify(&Digest::of(b"other root"), &l[i], &p));
            if !p.path.is_empty() {
                let mut short = p.clone();
                short.path.pop();
                prop_assert!(!verify(&r, &l[i], &short));
            }
        }
    }
}
