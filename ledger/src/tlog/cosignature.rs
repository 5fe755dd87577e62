//! Witness cosignatures of checkpoints in the C2SP `tlog-cosignature` format (`cosignature/v1`,
//! signature type 0x04): a witness states, at a time, that it verified the checkpoint to be
//! consistent with every earlier checkpoint of the log it saw.
//!
//! The note framing comes from `signed_note`; its 0.2 release (the newest on crates.io) has no
//! cosignature type, so the signed message and key id are built here from the spec: the message
//! is `cosignature/v1\ntime <T>\n` followed by the checkpoint text, the signature
//! `u64 big-endian T || Ed25519 signature`, the key id the first four bytes of
//! SHA-256(name || "\n" || 0x04 || public key), and the verifier key
//! `<name>+<key id hex>+<base64(0x04 || public key)>`, so any C2SP client can check ours and
//! we can check any Ed25519 witness's.

use crate::error::LedgerError;
use crate::identity::OrgKey;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use signed_note::{Note, Signer, Verifier, VerifierList};

/// The signature type byte of `cosignature/v1`.
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Longest witness name accepted.
pub const MAX_WITNESS_NAME: usize = 256;

fn bad(reason: impl Into<String>) -> LedgerError {
    LedgerError::Malformed {
        what: "witness cosignature",
        reason: reason.into(),
    }
}

/// A witness's public identity: its key name and Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    /// The key name (e.g. `witness.example.org/fedledger`).
    pub name: String,
    /// The public key.
    pub key: [u8; 32],
}

impl WitnessKey {
    /// The witness key of `key` under `name`.
    pub fn of(name: &str, key: &OrgKey) -> Result<Self, LedgerError> {
        check_name(name)?;
        Ok(WitnessKey {
            name: name.to_string(),
            key: key.id().0,
        })
    }

    /// The key id: SHA-256(name || "\n" || 0x04 || key)[..4].
    pub fn key_id(&self) -> u32 {
        signed_note::key_id(&self.name, &self.encoded())
    }

    fn encoded(&self) -> Vec<u8> {
        [&[ALG_COSIGNATURE_V1][..], &self.key[..]].concat()
    }

    /// The C2SP verifier key string `<name>+<key id hex>+<base64(0x04 || key)>`.
    pub fn vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id(),
            base64::engine::general_purpose::STANDARD.encode(self.encoded())
        )
    }

    /// Parse a verifier key string; the key id must match the name and key.
    pub fn parse_vkey(vkey: &str) -> Result<Self, LedgerError> {
        // Names have no '+'; base64 may.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("a verifier key is <name>+<key id>+<base64 key>"));
        };
        check_name(name)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| bad(format!("key is not base64: {e}")))?;
        let (Some(&ALG_COSIGNATURE_V1), Ok(key)) = (
            bytes.first(),
            <[u8; 32]>::try_from(bytes.get(1..).unwrap_or(&[])),
        ) else {
            return Err(bad(
                "not a cosignature/v1 key (type 0x04 and a 32-byte Ed25519 key)",
            ));
        };
        VerifyingKey::from_bytes(&key).map_err(|e| bad(format!("not an Ed25519 key: {e}")))?;
        let w = WitnessKey {
            name: name.to_string(),
            key,
        };
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("key id is not 8 hex digits"))?;
        if id != w.key_id() {
            return Err(bad(format!(
                "key id {id:08x} does not match the name and key ({:08x})",
                w.key_id()
            )));
        }
        Ok(w)
    }
}

fn check_name(name: &str) -> Result<(), LedgerError> {
    if name.is_empty() || name.len() > MAX_WITNESS_NAME || !signed_note::is_key_name_valid(name) {
        return Err(bad(format!(
            "witness name {:?}: non-empty, at most {MAX_WITNESS_NAME} bytes, no spaces or '+'",
            name.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// The message a cosignature signs.
fn signed_message(time: u64, text: &[u8]) -> Vec<u8> {
    [format!("cosignature/v1\ntime {time}\n").as_bytes(), text].concat()
}

struct CosignatureSigner<'a> {
    witness: WitnessKey,
    key: &'a OrgKey,
    time: u64,
}

impl Signer for CosignatureSigner<'_> {
    fn name(&self) -> &str {
        &self.witness.name
    }
    fn key_id(&self) -> u32 {
        self.witness.key_id()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        let sig = self.key.sign_note(&signed_message(self.time, msg));
        Ok([&self.time.to_be_bytes()[..], &sig[..]].concat())
    }
}

struct CosignatureVerifier {
    witness: WitnessKey,
    key: VerifyingKey,
}

impl Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.witness.name
    }
    fn key_id(&self) -> u32 {
        self.witness.key_id()
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let (Some(time), Some(sig)) = (sig.get(..8), sig.get(8..)) else {
            return false;
        };
        let (Ok(time), Ok(sig)) = (<[u8; 8]>::try_from(time), <[u8; 64]>::try_from(sig)) else {
            return false;
        };
        let message = signed_message(u64::from_be_bytes(time), msg);
        self.key
            .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// Add `witness`'s cosignature at `time` (Unix seconds) to a signed note. The caller has
/// verified the checkpoint (signatures and consistency) before cosigning it.
pub fn add_cosignature(
    note: &[u8],
    witness_name: &str,
    key: &OrgKey,
    time: u64,
) -> Result<String, LedgerError> {
    let mut parsed = Note::from_bytes(note).map_err(|e| bad(e.to_string()))?;
    let signer = CosignatureSigner {
        witness: WitnessKey::of(witness_name, key)?,
        key,
        time,
    };
    parsed
        .add_sigs(&[&signer as &dyn Signer])
        .map_err(|e| bad(e.to_string()))?;
    String::from_utf8(parsed.to_bytes()).map_err(|e| bad(e.to_string()))
}

/// A verified cosignature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cosigned {
    /// The witness's name.
    pub witness: String,
    /// When it cosigned (Unix seconds), as it states.
    pub time: u64,
}

/// The cosignatures in `note` by `witnesses` that verify. A line with a witness's name and key
/// id and a bad signature fails the whole note (it is forged, not merely unknown).
pub fn cosignatures(note: &[u8], witnesses: &[WitnessKey]) -> Result<Vec<Cosigned>, LedgerError> {
    let parsed = Note::from_bytes(note).map_err(|e| bad(e.to_string()))?;
    let verifiers: Vec<Box<dyn Verifier>> = witnesses
        .iter()
        .filter_map(|w| {
            let key = VerifyingKey::from_bytes(&w.key).ok()?;
            Some(Box::new(CosignatureVerifier {
                witness: w.clone(),
                key,
            }) as Box<dyn Verifier>)
        })
        .collect();
    if verifiers.is_empty() {
        return Ok(Vec::new());
    }
    match parsed.verify(&VerifierList::new(verifiers)) {
        Ok((verified, _)) => Ok(verified
            .iter()
            .filter_map(|s| {
                let time = <[u8; 8]>::try_from(s.signature().get(..8)?).ok()?;
                Some(Cosigned {
                    witness: s.name().to_string(),
                    time: u64::from_be_bytes(time),
                })
            })
            .collect()),
        // No witness signed: not an error here; the caller decides how many it needs.
        Err(signed_note::NoteError::UnverifiedNote) => Ok(Vec::new()),
        Err(e) => Err(LedgerError::BadSignature {
            what: "witness cosignature",
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::test_key;
    use crate::tlog::{open_checkpoint, sign_checkpoint, BlockLog};
    use crate::Digest;

    fn signed_note() -> (Digest, String) {
        let chain = Digest::of_parts(&[b"chain"]);
        let log = BlockLog::from_block_hashes(&[Digest::of_parts(&[b"b1"])]);
        (
            chain,
            sign_checkpoint(&chain, &log, 1, &[&test_key(0)]).unwrap(),
        )
    }

    /// The spec's construction written out independently: parse the last signature line,
    /// check name and key id, rebuild the message, verify the Ed25519 signature.
    fn verify_by_the_spec(note: &str, name: &str, public: &[u8; 32]) -> Option<u64> {
        let (body, sigs) = note.split_once("\n\n")?;
        let body = format!("{body}\n");
        let line = sigs.lines().find(|l| {
            l.strip_prefix("\u{2014} ")
                .and_then(|r| r.split_once(' '))
                .is_some_and(|(n, _)| n == name)
        })?;
        let b64 = line.rsplit(' ').next()?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        let digest = {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            h.update(name.as_bytes());
            h.update(b"\n");
            h.update([0x04]);
            h.update(public);
            h.finalize()
        };
        if raw.get(..4)? != &digest[..4] || raw.len() != 4 + 8 + 64 {
            return None;
        }
        let time = u64::from_be_bytes(raw[4..12].try_into().ok()?);
        let msg = format!("cosignature/v1\ntime {time}\n{body}");
        let sig = ed25519_dalek::Signature::from_bytes(raw[12..].try_into().ok()?);
        VerifyingKey::from_bytes(public)
            .ok()?
            .verify_strict(msg.as_bytes(), &sig)
            .ok()?;
        Some(time)
    }

    #[test]
    fn a_cosignature_verifies_by_the_spec_and_leaves_member_signatures_intact() {
        let (chain, note) = signed_note();
        let w = test_key(9);
        let cosigned =
            add_cosignature(note.as_bytes(), "witness.example/w1", &w, 1_700_000_000).unwrap();
        assert_eq!(
            verify_by_the_spec(&cosigned, "witness.example/w1", &w.id().0),
            Some(1_700_000_000)
        );
        let wk = WitnessKey::of("witness.example/w1", &w).unwrap();
        let got = cosignatures(cosigned.as_bytes(), std::slice::from_ref(&wk)).unwrap();
        assert_eq!(
            got,
            vec![Cosigned {
                witness: "witness.example/w1".into(),
                time: 1_700_000_000
            }]
        );
        let opened = open_checkpoint(cosigned.as_bytes(), &chain, &[test_key(0).id()]).unwrap();
        assert_eq!((opened.signers.len(), opened.unknown_signatures), (1, 1));
        // Not cosigned by this witness: none, no error.
        assert!(cosignatures(note.as_bytes(), &[wk]).unwrap().is_empty());
    }

    #[test]
    fn forged_or_misattributed_cosignatures_are_refused() {
        let (_, note) = signed_note();
        let w = test_key(9);
        let cosigned = add_cosignature(note.as_bytes(), "w.example", &w, 5).unwrap();
        // The same name and key id with another key's signature: forged.
        let other = add_cosignature(note.as_bytes(), "w.example", &test_key(8), 5).unwrap();
        let forged_line = other.lines().last().unwrap();
        let sig_b64 = forged_line.rsplit(' ').next().unwrap();
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(sig_b64)
            .unwrap();
        raw[..4].copy_from_slice(
            &WitnessKey::of("w.example", &w)
                .unwrap()
                .key_id()
                .to_be_bytes(),
        );
        let forged = format!(
            "{}\u{2014} w.example {}\n",
            note,
            base64::engine::general_purpose::STANDARD.encode(&raw)
        );
        let wk = WitnessKey::of("w.example", &w).unwrap();
        assert!(cosignatures(forged.as_bytes(), std::slice::from_ref(&wk)).is_err());
        // A changed timestamp breaks the signature.
        let line = cosigned.lines().last().unwrap();
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(line.rsplit(' ').next().unwrap())
            .unwrap();
        raw[11] ^= 1;
        let retimed = format!(
            "{}\u{2014} w.example {}\n",
            note,
            base64::engine::general_purpose::STANDARD.encode(&raw)
        );
        assert!(cosignatures(retimed.as_bytes(), &[wk]).is_err());
    }

    #[test]
    fn verifier_keys_round_trip_and_bad_ones_are_refused() {
        let wk = WitnessKey::of("witness.example/w1", &test_key(3)).unwrap();
        let vkey = wk.vkey();
        assert!(vkey.starts_with("witness.example/w1+"), "{vkey}");
        assert_eq!(WitnessKey::parse_vkey(&vkey).unwrap(), wk);
        let mut parts = vkey.splitn(3, '+');
        let (name, _, tail) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
        let head = format!("{name}+{:08x}", wk.key_id());
        for bad in [
            format!("{name}+00000000+{tail}"),
            format!("other+{:08x}+{tail}", wk.key_id()),
            format!("{head}+!!!"),
            format!(
                "{head}+{}",
                base64::engine::general_purpose::STANDARD.encode([1u8; 33])
            ),
            "no-plus-signs".to_string(),
            format!("bad name+{:08x}+{tail}", wk.key_id()),
        ] {
            assert!(WitnessKey::parse_vkey(&bad).is_err(), "{bad}");
        }
        assert!(WitnessKey::of("", &test_key(3)).is_err());
    }
}
