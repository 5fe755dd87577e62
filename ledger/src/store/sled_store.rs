//! The sled engine: one tree per table, big-endian height keys, one atomic transaction per block.

use super::{LedgerStore, Location};
use crate::block::Block;
use crate::digest::Digest;
use crate::error::LedgerError;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::path::Path;

/// Where a data dir keeps its ledger.
pub const LEDGER_SUBDIR: &str = "ledger";

const TIP_KEY: &[u8] = b"tip";

/// A ledger in a sled database (normally `<data dir>/ledger`).
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    blocks: sled::Tree,
    index: sled::Tree,
    blobs: sled::Tree,
    meta: sled::Tree,
}

impl SledStore {
    /// Open or create the store at `path`. Fails clearly if another process holds it.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        // A process that just closed the store may still hold its lock for a moment (sled's
        // flusher thread drops its handle asynchronously): retry briefly before reporting.
        // sled wraps the OS error in a custom one, so its kind is lost: match the message too.
        let held = |io: &std::io::Error| {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.raw_os_error() == Some(11)
                || io.to_string().contains("could not acquire lock")
        };
        let mut attempt = 0;
        let opened = loop {
            match sled::Config::new().path(path).open() {
                Err(sled::Error::Io(io)) if held(&io) && attempt < 30 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => break other,
            }
        };
        let db = opened.map_err(|e| LedgerError::Storage {
            reason: match e {
                sled::Error::Io(io) if held(&io) => {
                    format!("{} is in use by another process (a running node?); stop it or use `fedledger export`/`fetch`", path.display())
                }
                other => format!("{}: {other}", path.display()),
            },
        })?;
        Self::from_db(db)
    }

    /// Open an existing store read-only in spirit: fails if `path` holds no ledger.
    pub fn open_existing(path: &Path) -> Result<Self, LedgerError> {
        if !path.join("conf").exists() && !path.join("db").exists() {
            return Err(LedgerError::Storage {
                reason: format!("{} holds no ledger", path.display()),
            });
        }
        Self::open(path)
    }

    /// A store in a temporary location (tests).
    pub fn temporary() -> Result<Self, LedgerError> {
        Self::from_db(sled::Config::new().temporary(true).open()?)
    }

    fn from_db(db: sled::Db) -> Result<Self, LedgerError> {
        Ok(SledStore {
            blocks: db.open_tree("blocks")?,
            index: db.open_tree("index")?,
            blobs: db.open_tree("blobs")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    /// Make every prior write durable.
    pub fn flush(&self) -> Result<(), LedgerError> {
        self.db.flush()?;
        Ok(())
    }

    /// The sled database, for other components of the node to keep their own trees beside the
    /// ledger (consensus votes, privacy spend) in the same crash-consistent store.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Update bytes by hash without checking that they hash to it: for callers that already
    /// verified this blob once (e.g. a server answering the same fetch many times), where
    /// re-hashing megabytes per read is the cost. [`LedgerStore::blob`] checks.
    pub fn blob_unverified(&self, hash: &Digest) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.blobs.get(hash.as_bytes())?.map(|v| v.to_vec()))
    }
}

fn decode_tip(v: &[u8]) -> Result<(u64, Digest), LedgerError> {
    let bad = || LedgerError::Malformed {
        what: "stored tip",
        reason: format!("{} bytes", v.len()),
    };
    let h: [u8; 8] = v.get(..8).and_then(|s| s.try_into().ok()).ok_or_else(bad)?;
    let d: [u8; 32] = v
        .get(8..40)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(bad)?;
    Ok((u64::from_be_bytes(h), Digest(d)))
}

fn location_bytes(height: u64, index: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&height.to_be_bytes());
    b[8..].copy_from_slice(&index.to_be_bytes());
    b
}

impl LedgerStore for SledStore {
    fn append(&self, block: &Block) -> Result<(), LedgerError> {
        let (expected, prev) = match self.tip()? {
            Some((h, hash)) => (h + 1, Some(hash)),
            None => (1, None),
        };
        let h = block.header.height;
        if h != expected {
            return Err(LedgerError::OutOfOrder { expected, found: h });
        }
        if let Some(prev) = prev {
            if block.header.prev_hash != prev {
                return Err(LedgerError::InvalidInput {
                    what: "block",
                    reason: format!("block {h} does not extend the stored tip {}", prev.short()),
                });
            }
        }
        let hash = block.hash();
        let bytes = block.encode();
        let mut tip = Vec::with_capacity(40);
        tip.extend_from_slice(&h.to_be_bytes());
        tip.extend_from_slice(hash.as_bytes());
        let mut keys: Vec<(Digest, [u8; 12])> = Vec::with_capacity(block.entries.len() * 2);
        for (i, e) in block.entries.iter().enumerate() {
            let loc = location_bytes(h, i as u32);
            keys.push((e.leaf_hash(), loc));
            if let Some(u) = e.update_hash() {
                keys.push((u, loc));
            }
        }
        // One transaction across the trees: after a crash either all of the block (data, index,
        // tip) is there or none of it.
        let res: Result<(), TransactionError<()>> = (&self.blocks, &self.index, &self.meta)
            .transaction(|(blocks, index, meta)| {
                blocks.insert(&h.to_be_bytes(), bytes.as_slice())?;
                for (k, loc) in &keys {
                    index.insert(k.as_bytes(), loc)?;
                }
                meta.insert(TIP_KEY, tip.as_slice())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        res.map_err(|e| LedgerError::Storage {
            reason: format!("appending block {h}: {e:?}"),
        })?;
        self.db.flush()?;
        Ok(())
    }

    fn tip(&self) -> Result<Option<(u64, Digest)>, LedgerError> {
        self.meta.get(TIP_KEY)?.map(|v| decode_tip(&v)).transpose()
    }

    fn raw_block(&self, height: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.blocks.get(height.to_be_bytes())?.map(|v| v.to_vec()))
    }

    fn locate(&self, hash: &Digest) -> Result<Option<Location>, LedgerError> {
        let Some(v) = self.index.get(hash.as_bytes())? else {
            return Ok(None);
        };
        let bad = || LedgerError::Malformed {
            what: "index entry",
            reason: format!("{} bytes", v.len()),
        };
        let h: [u8; 8] = v.get(..8).and_then(|s| s.try_into().ok()).ok_or_else(bad)?;
        let i: [u8; 4] = v
            .get(8..12)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        Ok(Some(Location {
            height: u64::from_be_bytes(h),
            index: u32::from_be_bytes(i),
        }))
    }

    fn put_blob(&self, bytes: &[u8]) -> Result<Digest, LedgerError> {
        let hash = Digest::of(bytes);
        self.blobs.insert(hash.as_bytes(), bytes)?;
        Ok(hash)
    }

    fn blob(&self, hash: &Digest) -> Result<Option<Vec<u8>>, LedgerError> {
        let Some(v) = self.blobs.get(hash.as_bytes())? else {
            return Ok(None);
        };
        // Content addressing is checked on the way out too: a corrupted blob is not served.
        if Digest::of(&v) != *hash {
            return Err(LedgerError::Malformed {
                what: "stored blob",
                reason: format!("content does not hash to {}", hash.short()),
            });
        }
        Ok(Some(v.to_vec()))
    }
}
