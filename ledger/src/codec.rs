//! The one canonical binary encoding (postcard) for everything that is hashed or signed.
//!
//! postcard is deterministic for a given value: fixed field order, varint integers, IEEE-754
//! little-endian floats, length-prefixed sequences. Its decoder is not strict, though: it accepts
//! overlong varints (`80 00` for 0) and maps with unsorted or repeated keys, so [`decode`] also
//! checks that the value encodes back to exactly the input. Together with the rejection of
//! trailing bytes, a value has exactly one accepted encoding.

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

/// Decode canonical bytes from an untrusted source, rejecting oversized input, trailing bytes and
/// any other encoding than the canonical one.
pub fn decode<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, LedgerError> {
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
    // Two byte strings for one value would give one block, vote or export several hashes and
    // files; compare without allocating a second copy of the input.
    let unmatched = postcard::serialize_with_flavor(&value, Canonical { input: bytes });
    if !matches!(unmatched, Ok(rest) if rest.is_empty()) {
        return Err(LedgerError::Malformed {
            what,
            reason: "not the canonical encoding (overlong integer, or unsorted or repeated keys)"
                .into(),
        });
    }
    Ok(value)
}

/// A postcard output that compares what is written with the input instead of storing it, and
/// fails at the first difference.
struct Canonical<'a> {
    input: &'a [u8],
}

impl<'a> postcard::ser_flavors::Flavor for Canonical<'a> {
    /// The input not matched yet (empty when the encoding is exactly the input).
    type Output = &'a [u8];

    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        match self.input.split_first() {
            Some((first, rest)) if *first == b => {
                self.input = rest;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        match self.input.strip_prefix(data) {
            Some(rest) => {
                self.input = rest;
                Ok(())
            }
            None => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn finalize(self) -> postcard::Result<&'a [u8]> {
        Ok(self.input)
    }
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

    #[test]
    fn overlong_varints_and_unsorted_maps_are_rejected() {
        // 0 as `80 00`: postcard alone decodes it.
        assert_eq!(postcard::from_bytes::<u32>(&[0x80, 0x00]).ok(), Some(0));
        assert!(decode::<u32>(&[0x80, 0x00], "n").is_err());
        assert_eq!(decode::<u32>(&[0x00], "n").ok(), Some(0));
        let map: std::collections::BTreeMap<u8, u8> = [(1, 2), (3, 4)].into();
        let b = encode(&map);
        assert_eq!(
            decode::<std::collections::BTreeMap<u8, u8>>(&b, "m").ok(),
            Some(map)
        );
        // Same entries, keys out of order; and a repeated key.
        assert!(decode::<std::collections::BTreeMap<u8, u8>>(&[2, 3, 4, 1, 2], "m").is_err());
        assert!(decode::<std::collections::BTreeMap<u8, u8>>(&[2, 1, 2, 1, 5], "m").is_err());
        // A longer value written over a shorter canonical one is still refused.
        assert!(decode::<Vec<u8>>(&[0x81, 0x00, 7], "v").is_err());
    }
}
