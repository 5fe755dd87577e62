//! Canonical bytes and hashes of models and updates. Consensus-critical: every node must derive
//! the same hash from the same parameters, so the encoding is fixed here and pinned by a golden
//! test.

use crate::learn::error::LearnError;
use fedledger_ledger::Digest;

/// Domain tag of model hashes: a model hash can never collide with another kind of hash.
pub const MODEL_DOMAIN: &[u8] = b"fedledger/model/v1";

/// The largest update (in values) [`decode_update`] accepts: bounds memory on hostile input.
pub const MAX_UPDATE_VALUES: usize = super::MAX_PARAMS;

/// Canonical update bytes: each value as IEEE-754 binary32, little-endian, in order. This is what
/// members serve and sign the hash of.
pub fn encode_update(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decode update bytes from an untrusted peer: length must be a multiple of 4 and within
/// [`MAX_UPDATE_VALUES`]; every value must be finite.
pub fn decode_update(bytes: &[u8]) -> Result<Vec<f32>, LearnError> {
    if bytes.len() % 4 != 0 {
        return Err(LearnError::Shape {
            reason: format!(
                "update of {} bytes is not a whole number of f32 values",
                bytes.len()
            ),
        });
    }
    if bytes.len() / 4 > MAX_UPDATE_VALUES {
        return Err(LearnError::Shape {
            reason: format!(
                "update of {} values exceeds the limit {MAX_UPDATE_VALUES}",
                bytes.len() / 4
            ),
        });
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(LearnError::Shape {
            reason: format!("update value {i} is not finite"),
        });
    }
    Ok(values)
}

/// SHA-256 of the canonical update bytes (the `update_hash` of an announcement).
pub fn update_hash(values: &[f32]) -> Digest {
    Digest::of(&encode_update(values))
}

/// The model hash: SHA-256 of [`MODEL_DOMAIN`], the parameter count as u64 little-endian, and the
/// canonical little-endian bytes of the parameters.
pub fn model_hash(params: &[f32]) -> Digest {
    let count = (params.len() as u64).to_le_bytes();
    Digest::of_parts(&[MODEL_DOMAIN, &count, &encode_update(params)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::model::{Architecture, ModelKind};

    /// Golden values: changing the encoding or the initialiser changes consensus; these must not
    /// move without a format version bump.
    #[test]
    fn golden_model_and_update_hashes() {
        // Cross-checked outside Rust: python3 -c "import hashlib, struct;
        // print(hashlib.sha256(b'fedledger/model/v1' + struct.pack('<Q', 3)
        // + struct.pack('<3f', 1.0, -2.5, 0.0)).hexdigest())"
        assert_eq!(
            model_hash(&[1.0, -2.5, 0.0]).to_hex(),
            "b4db16223d3da0d5a9dfda87f843f0ef7326d1b54b5e2012e51ca1de6de2f9a5"
        );
        let arch = Architecture::new(ModelKind::Mlp, 7, 2, vec![16, 8]).unwrap();
        assert_eq!(
            model_hash(&arch.init(42)).to_hex(),
            "51bc378b68f6085aaa7bbe6b8be21efcea300b6708faf9eadf15958aa84d920e"
        );
        assert_eq!(
            update_hash(&[1.0]).to_hex(),
            // SHA-256 of the bytes 00 00 80 3f.
            Digest::of(&[0x00, 0x00, 0x80, 0x3f]).to_hex()
        );
        assert_ne!(model_hash(&[0.0]), model_hash(&[-0.0]));
        assert_ne!(model_hash(&[]), Digest::of(MODEL_DOMAIN));
    }

    proptest::proptest! {
        #[test]
        fn encoding_round_trips_any_finite_vector(v in proptest::collection::vec(-1e30f32..1e30, 0..64)) {
            let bytes = encode_update(&v);
            proptest::prop_assert_eq!(bytes.len(), 4 * v.len());
            proptest::prop_assert_eq!(decode_update(&bytes).unwrap(), v.clone());
            proptest::prop_assert_eq!(update_hash(&v), Digest::of(&bytes));
        }
    }

    #[test]
    fn decode_round_trips_and_rejects_bad_bytes() {
        let v = vec![0.25f32, -3.0, 1e-30];
        assert_eq!(decode_update(&encode_update(&v)).unwrap(), v);
        assert!(decode_update(&[0, 0, 0]).is_err());
        assert!(decode_update(&encode_update(&[f32::NAN])).is_err());
        assert!(decode_update(&encode_update(&[f32::INFINITY])).is_err());
        assert!(decode_update(&[]).unwrap().is_empty());
    }
}
