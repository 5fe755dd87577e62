//! A round's update deltas read from the node's blob store a range of coordinates at a time.

use crate::round::DeltaSource;
use fedledger_ledger::store::SledStore;
use fedledger_ledger::Digest;

/// Deltas of blobs the node holds and has checked (hash, size, finiteness): a round reads them
/// block by block (coordinate-wise rules) or whole (the others) straight from the store.
#[derive(Debug, Clone)]
pub(crate) struct StoredDeltas {
    store: SledStore,
}

impl StoredDeltas {
    pub(crate) fn new(store: SledStore) -> Self {
        StoredDeltas { store }
    }
}

impl DeltaSource for StoredDeltas {
    fn param_count(&self, hash: &Digest) -> Result<usize, String> {
        match self.store.blob_len(hash) {
            Ok(Some(bytes)) if bytes % 4 == 0 => Ok((bytes / 4) as usize),
            Ok(Some(bytes)) => Err(format!(
                "update {} of {bytes} bytes is not a whole number of f32 values",
                hash.short()
            )),
            Ok(None) => Err(format!("the bytes of update {} are missing", hash.short())),
            Err(e) => Err(format!("reading update {}: {e}", hash.short())),
        }
    }

    fn read(&self, hash: &Digest, start: usize, out: &mut [f32]) -> Result<(), String> {
        let offset = (start as u64).saturating_mul(4);
        let bytes = self
            .store
            .blob_range(hash, offset, out.len().saturating_mul(4))
            .map_err(|e| format!("reading update {}: {e}", hash.short()))?
            .ok_or_else(|| format!("the bytes of update {} are missing", hash.short()))?;
        if bytes.len() != out.len() * 4 {
            return Err(format!(
                "update {} ends before parameter {}",
                hash.short(),
                start + out.len()
            ));
        }
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::model::encode_update;
    use fedledger_ledger::store::LedgerStore;

    #[test]
    fn reads_ranges_of_inline_and_file_blobs_as_the_decoded_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let small: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
        // Over the inline limit, so it is stored as a file.
        let large: Vec<f32> = (0..3_000_000).map(|i| (i % 977) as f32 - 400.0).collect();
        let mut hashes = Vec::new();
        for v in [&small, &large] {
            hashes.push(store.put_blob(&encode_update(v)).unwrap());
        }
        let d = StoredDeltas::new(store);
        for (h, v) in hashes.iter().zip([&small, &large]) {
            assert_eq!(d.param_count(h).unwrap(), v.len());
            assert_eq!(d.whole(h).unwrap().as_ref(), v.as_slice());
            let mut part = vec![0.0f32; 333];
            d.read(h, 500, &mut part).unwrap();
            assert_eq!(part, v[500..833]);
            let mut past_end = vec![0.0f32; 10];
            assert!(d.read(h, v.len() - 5, &mut past_end).is_err());
        }
        assert!(d.param_count(&Digest::of(b"absent")).is_err());
    }
}
