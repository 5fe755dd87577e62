//! Ledger storage behind a narrow trait, so the engine can be swapped; sled is the engine now.

mod sled_store;

pub use sled_store::{SledStore, BLOB_FILE_DIR, INLINE_BLOB_MAX, LEDGER_SUBDIR};

use crate::block::Block;
use crate::digest::Digest;
use crate::error::LedgerError;
use crate::verify::{Rule, Violation};

/// Where an entry or update sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// Block height.
    pub height: u64,
    /// Entry index within the block.
    pub index: u32,
}

/// What a node and an auditor need from storage.
pub trait LedgerStore {
    /// Append the next block atomically and durably (flushed before returning). The block must
    /// extend the stored tip (height and previous hash); full validity is the caller's job.
    fn append(&self, block: &Block) -> Result<(), LedgerError>;
    /// Height and hash of the last block, if any.
    fn tip(&self) -> Result<Option<(u64, Digest)>, LedgerError>;
    /// The canonical bytes of the block at `height`.
    fn raw_block(&self, height: u64) -> Result<Option<Vec<u8>>, LedgerError>;
    /// Where an entry (by leaf hash) or an update (by update hash) was recorded.
    fn locate(&self, hash: &Digest) -> Result<Option<Location>, LedgerError>;
    /// Store update bytes under their SHA-256; returns the hash.
    fn put_blob(&self, bytes: &[u8]) -> Result<Digest, LedgerError>;
    /// Update bytes by hash.
    fn blob(&self, hash: &Digest) -> Result<Option<Vec<u8>>, LedgerError>;

    /// The block at `height`, decoded.
    fn block(&self, height: u64) -> Result<Option<Block>, LedgerError> {
        self.raw_block(height)?
            .map(|b| Block::decode(&b))
            .transpose()
    }

    /// Blocks from `from` to the tip in order, each decoded lazily; a block that fails to read or
    /// decode ends the stream with a `Decode` violation naming its height.
    fn blocks(&self, from: u64) -> BlockIter<'_, Self>
    where
        Self: Sized,
    {
        BlockIter {
            store: self,
            next: from.max(1),
            end: None,
            done: false,
        }
    }
}

/// Iterator over stored blocks.
#[derive(Debug)]
pub struct BlockIter<'a, S> {
    store: &'a S,
    next: u64,
    end: Option<u64>,
    done: bool,
}

impl<S: LedgerStore> Iterator for BlockIter<'_, S> {
    type Item = Result<Block, Violation>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let h = self.next;
        let end = match self.end {
            Some(e) => e,
            None => {
                let tip = self.store.tip();
                match tip {
                    Ok(t) => {
                        let e = t.map(|(h, _)| h).unwrap_or(0);
                        self.end = Some(e);
                        e
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(read_violation(h, e)));
                    }
                }
            }
        };
        if h > end {
            self.done = true;
            return None;
        }
        self.next += 1;
        match self.store.raw_block(h) {
            Ok(Some(bytes)) => match Block::decode(&bytes) {
                Ok(b) => Some(Ok(b)),
                Err(e) => {
                    self.done = true;
                    Some(Err(read_violation(h, e)))
                }
            },
            Ok(None) => {
                self.done = true;
                Some(Err(Violation {
                    height: h,
                    rule: Rule::Height,
                    expected: format!("block {h} (the tip is {end})"),
                    found: "no block stored".into(),
                }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(read_violation(h, e)))
            }
        }
    }
}

fn read_violation(height: u64, e: LedgerError) -> Violation {
    Violation {
        height,
        rule: Rule::Decode,
        expected: "a readable, well-formed block".into(),
        found: e.to_string(),
    }
}
