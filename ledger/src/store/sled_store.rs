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

/// Where large blobs live inside the store's directory. Not `blobs`: sled keeps its own large
/// values there and warns about every file it cannot parse.
pub const BLOB_FILE_DIR: &str = "update-files";

/// Blobs larger than this are files beside the database (`<ledger>/update-files/<hash hex>`), not sled
/// values: sled keeps a value whole in its page cache and log, which suits kilobytes, not the
/// hundreds of megabytes of a large model's update.
pub const INLINE_BLOB_MAX: usize = 8 * 1024 * 1024;

/// A ledger in a sled database (normally `<data dir>/ledger`).
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    blocks: sled::Tree,
    index: sled::Tree,
    blobs: sled::Tree,
    meta: sled::Tree,
    /// Where large blobs go; `None` for a temporary store (they stay in sled).
    blob_dir: Option<std::path::PathBuf>,
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
        // Before sled opens: it scans its `blobs` directory on start.
        let dir = path.join(BLOB_FILE_DIR);
        move_blob_files_out_of_sleds_dir(path, &dir)?;
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
        let mut store = Self::from_db(db)?;
        store.blob_dir = Some(dir);
        Ok(store)
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
            blob_dir: None,
        })
    }

    fn blob_file(&self, hash: &Digest) -> Option<std::path::PathBuf> {
        self.blob_dir.as_ref().map(|d| d.join(hash.to_hex()))
    }

    /// Write a large blob as a file: a temporary name, synced, then renamed (and the directory
    /// synced), so a crash leaves either no file or the whole blob.
    fn put_blob_file(&self, path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
        use std::io::Write;
        let io = |e: std::io::Error| LedgerError::Storage {
            reason: format!("writing {}: {e}", path.display()),
        };
        if path.exists() {
            return Ok(());
        }
        let dir = path
            .parent()
            .ok_or_else(|| io(std::io::ErrorKind::NotFound.into()))?;
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = path.with_extension("partial");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }

    /// The stored bytes of `hash` (sled value or file), unchecked.
    fn read_blob(&self, hash: &Digest) -> Result<Option<Vec<u8>>, LedgerError> {
        if let Some(v) = self.blobs.get(hash.as_bytes())? {
            return Ok(Some(v.to_vec()));
        }
        let Some(path) = self.blob_file(hash) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LedgerError::Storage {
                reason: format!("reading {}: {e}", path.display()),
            }),
        }
    }

    /// Store `bytes` that the caller has already checked hash to `hash` (a fetched blob,
    /// verified chunk by chunk and whole): the same as [`LedgerStore::put_blob`] without
    /// hashing hundreds of megabytes a second time.
    pub fn put_checked_blob(&self, hash: &Digest, bytes: &[u8]) -> Result<(), LedgerError> {
        debug_assert_eq!(Digest::of(bytes), *hash);
        match self.blob_file(hash) {
            Some(path) if bytes.len() > INLINE_BLOB_MAX => self.put_blob_file(&path, bytes),
            _ => {
                self.blobs.insert(hash.as_bytes(), bytes)?;
                Ok(())
            }
        }
    }

    /// Remove the stored bytes of `hash` (sled value or file): for a blob found not to match
    /// its hash, so that it is fetched and stored again rather than kept as it is.
    pub fn discard_blob(&self, hash: &Digest) -> Result<(), LedgerError> {
        self.blobs.remove(hash.as_bytes())?;
        if let Some(path) = self.blob_file(hash) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(LedgerError::Storage {
                        reason: format!("removing {}: {e}", path.display()),
                    })
                }
            }
        }
        Ok(())
    }

    /// Whether the bytes of `hash` are stored (without reading or checking them).
    pub fn has_blob(&self, hash: &Digest) -> Result<bool, LedgerError> {
        Ok(self.blobs.contains_key(hash.as_bytes())?
            || self.blob_file(hash).is_some_and(|p| p.exists()))
    }

    /// The size in bytes of the stored blob `hash`.
    pub fn blob_len(&self, hash: &Digest) -> Result<Option<u64>, LedgerError> {
        if let Some(v) = self.blobs.get(hash.as_bytes())? {
            return Ok(Some(v.len() as u64));
        }
        Ok(self
            .blob_file(hash)
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len()))
    }

    /// Bytes `offset..offset + len` (clamped to the blob) of the stored blob `hash`, unchecked:
    /// a chunk of a large blob is read without reading the rest.
    pub fn blob_range(
        &self,
        hash: &Digest,
        offset: u64,
        len: usize,
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        use std::io::{Read, Seek};
        if let Some(v) = self.blobs.get(hash.as_bytes())? {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(v.len());
            let end = start.saturating_add(len).min(v.len());
            return Ok(Some(v[start..end].to_vec()));
        }
        let Some(path) = self.blob_file(hash) else {
            return Ok(None);
        };
        let io = |e: std::io::Error| LedgerError::Storage {
            reason: format!("reading {}: {e}", path.display()),
        };
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        f.seek(std::io::SeekFrom::Start(offset)).map_err(io)?;
        let mut out = Vec::with_capacity(len.min(INLINE_BLOB_MAX * 2));
        f.take(len as u64).read_to_end(&mut out).map_err(io)?;
        Ok(Some(out))
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
        self.read_blob(hash)
    }
}

/// Stores written before [`BLOB_FILE_DIR`] kept large blobs in sled's own `blobs` directory:
/// move any file named by a hash (64 hex digits) to `dir`, and drop interrupted writes.
fn move_blob_files_out_of_sleds_dir(path: &Path, dir: &Path) -> Result<(), LedgerError> {
    let old = path.join("blobs");
    let Ok(entries) = std::fs::read_dir(&old) else {
        return Ok(());
    };
    let io = |e: std::io::Error| LedgerError::Storage {
        reason: format!(
            "moving update files from {} to {}: {e}",
            old.display(),
            dir.display()
        ),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let (stem, partial) = match name.strip_suffix(".partial") {
            Some(stem) => (stem, true),
            None => (name, false),
        };
        if stem.len() != 64 || !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue; // one of sled's
        }
        if partial {
            std::fs::remove_file(entry.path()).map_err(io)?;
        } else {
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::rename(entry.path(), dir.join(name)).map_err(io)?;
        }
    }
    Ok(())
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
        self.put_checked_blob(&hash, bytes)?;
        Ok(hash)
    }

    fn blob(&self, hash: &Digest) -> Result<Option<Vec<u8>>, LedgerError> {
        let Some(v) = self.read_blob(hash)? else {
            return Ok(None);
        };
        // Content addressing is checked on the way out too: a corrupted blob is not served.
        if Digest::of(&v) != *hash {
            return Err(LedgerError::Malformed {
                what: "stored blob",
                reason: format!("content does not hash to {}", hash.short()),
            });
        }
        Ok(Some(v))
    }
}
