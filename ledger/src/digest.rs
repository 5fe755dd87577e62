//! 32-byte SHA-256 digests: block hashes, entry hashes, update hashes, chain ids.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// A SHA-256 output. Encoded as 32 raw bytes in the canonical form and as lowercase hex for people.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The all-zero digest, used only as a placeholder that never matches a real hash.
    pub const ZERO: Digest = Digest([0u8; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// SHA-256 of the concatenation of `parts`, without allocating the concatenation.
    pub fn of_parts(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Digest(h.finalize().into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex characters, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

/// Parsing a digest from hex failed.
#[derive(Debug, thiserror::Error)]
#[error("expected 64 hex characters for a SHA-256 digest, found {found:?}")]
pub struct DigestParseError {
    /// What was given (truncated to 80 characters).
    pub found: String,
}

impl FromStr for Digest {
    type Err = DigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DigestParseError {
            found: s.chars().take(80).collect(),
        };
        let bytes = hex::decode(s.trim()).map_err(|_| err())?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| err())?;
        Ok(Digest(arr))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.short())
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(Digest(<[u8; 32]>::deserialize(d)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_is_the_known_value() {
        assert_eq!(
            Digest::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::of(b"ab"), Digest::of_parts(&[b"a", b"b"]));
    }

    #[test]
    fn hex_round_trip_and_rejects_garbage() {
        let d = Digest::of(b"x");
        assert_eq!(d.to_hex().parse::<Digest>().ok(), Some(d));
        assert!("zz".parse::<Digest>().is_err());
        assert!("00".parse::<Digest>().is_err());
    }
}
