//! The one canonical binary encoding (postcard) for everything that is hashed or signed.
//!
//! postcard is deterministic for a given value: fixed field order, varint integers, IEEE-754
//! little-endian floats, length-prefixed sequences. Decoding rejects trailing bytes, so a value has
//! exactly one accepted encoding for the fields we use (no maps, no NaN payloads in valid data).

use crate::error::LedgerError;
use serde::{de::DeserializeOwned, Serialize};

/// The largest encoded object we ever decode from an untrusted source (a block with many entries).
pub const MAX_ENCODED_LEN: usize = 64 * 1024 * 1024;

/// Canonical bytes of `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serialising our own types into a Vec cannot fail: no maps with non-string keys, no
    // sequences of unknown length. A failure would be a programming error in a type definition.
    postcard::to_stdvec(value).unwrap_or_else(|e| panic!("canonical encoding failed: {e}"))
}

/// Decode canonical bytes from an untrusted source, rejecting oversized input and trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, LedgerError> {
    if bytes.len() > MAX_ENCODED_LEN {
        return Err(LedgerError::Malformed {
            what,
            reason: format!(
                "{} bytes exceeds the {} byte limit",
                bytes.len(),
                MAX_ENCODED_LEN
            ),
        });
    }
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| LedgerError::Malformed {
            what,
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(LedgerError::Malformed {
            what,
            reason: format!("{} trailing bytes after the encoded value", rest.len()),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut b = encode(&(1u32, 2u64));
        assert!(decode::<(u32, u64)>(&b, "pair").is_ok());
        b.push(0);
        assert!(decode::<(u32, u64)>(&b, "pair").is_err());
    }
}
