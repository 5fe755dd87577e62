//! The right edge of a log (its compact range): the roots of the perfect subtrees that make up
//! `size` leaves, `O(log size)` hashes. Enough to append and to compute the current root, so an
//! auditor that keeps up incrementally stores 32 bytes per power of two, not a hash per block.
//!
//! `tlog_tiles` reads roots from stored hashes of the whole tree; it has no compact range, so
//! this is ours (about twenty lines, checked against [`super::BlockLog`] for every size).

use super::leaf_hash;
use crate::digest::Digest;
use crate::merkle::node_hash;
use serde::{Deserialize, Serialize};

/// The subtree roots of a log of `size` leaves, largest (leftmost) first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {
    size: u64,
    /// One root per set bit of `size`, from the highest bit down.
    roots: Vec<Digest>,
}

impl Frontier {
    /// The empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves in the log.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the stored roots fit the size (one per set bit); a frontier read from disk is
    /// checked with this before use.
    pub fn is_well_formed(&self) -> bool {
        self.roots.len() == self.size.count_ones() as usize
    }

    /// Append the next block's hash.
    pub fn append(&mut self, block_hash: &Digest) {
        let mut node = leaf_hash(block_hash);
        // Each trailing one bit of the old size is a perfect subtree as large as the carry:
        // merge them, as binary addition carries.
        let mut size = self.size;
        while size & 1 == 1 {
            let Some(left) = self.roots.pop() else { break };
            node = node_hash(&left, &node);
            size >>= 1;
        }
        self.roots.push(node);
        self.size += 1;
    }

    /// The RFC 6962 root (the hash of the empty string when empty): the subtree roots folded
    /// from the right.
    pub fn root(&self) -> Digest {
        let mut iter = self.roots.iter().rev();
        let Some(last) = iter.next() else {
            return Digest::of_parts(&[]);
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::BlockLog;

    #[test]
    fn roots_equal_the_full_logs_for_every_size_up_to_300() {
        let hashes: Vec<Digest> = (0u32..300)
            .map(|i| Digest::of_parts(&[&i.to_le_bytes()]))
            .collect();
        let log = BlockLog::from_block_hashes(&hashes);
        let mut f = Frontier::new();
        assert_eq!(f.root(), Digest::of_parts(&[]));
        for (i, h) in hashes.iter().enumerate() {
            f.append(h);
            let size = i as u64 + 1;
            assert_eq!(f.size(), size);
            assert!(f.is_well_formed());
            assert_eq!(f.root(), log.root(size).unwrap(), "size {size}");
        }
    }

    #[test]
    fn a_frontier_whose_roots_do_not_fit_its_size_is_not_well_formed() {
        let mut f = Frontier::new();
        f.append(&Digest::ZERO);
        f.append(&Digest::ZERO);
        f.roots.push(Digest::ZERO);
        assert!(!f.is_well_formed());
    }
}
