//! Organization identities: ed25519 keys, domain-separated signatures, and key files.
//!
//! Every signature covers `len(tag) || tag || chain_id || canonical(payload)`. The tag names the
//! message kind and version and the chain id names the consortium, so no signed message can be
//! replayed as another kind or on another chain.

use crate::codec;
use crate::digest::Digest;
use crate::error::LedgerError;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Domain tags. Changing one is a format change.
pub mod domain {
    /// A member's signed announcement of its update for a round.
    pub const UPDATE: &[u8] = b"fedledger/update/v1";
    /// A finalize vote; certificates are sets of these.
    pub const FINALIZE: &[u8] = b"fedledger/finalize/v1";
    /// A notarize vote.
    pub const NOTARIZE: &[u8] = b"fedledger/notarize/v1";
    /// A nullify (view-change) vote.
    pub const NULLIFY: &[u8] = b"fedledger/nullify/v1";
    /// A leader's block proposal.
    pub const PROPOSAL: &[u8] = b"fedledger/proposal/v1";
    /// A newcomer's request to join, or a member's request to leave.
    pub const MEMBERSHIP_REQUEST: &[u8] = b"fedledger/membership-request/v1";
    /// A member's approval of a membership request.
    pub const MEMBERSHIP_APPROVAL: &[u8] = b"fedledger/membership-approval/v1";
}

/// An organization id: its ed25519 public key. Shown as 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(pub [u8; 32]);

impl OrgId {
    /// Lowercase hex of the key.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// The first 8 hex characters, for tables and logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
    fn verifying_key(&self) -> Result<VerifyingKey, LedgerError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| LedgerError::BadSignature {
            what: "org id",
            reason: format!("{} is not a valid ed25519 public key", self.short()),
        })
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({})", self.short())
    }
}

impl FromStr for OrgId {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d: Digest =
            s.parse().map_err(
                |e: crate::digest::DigestParseError| LedgerError::InvalidInput {
                    what: "org id",
                    reason: e.to_string(),
                },
            )?;
        Ok(OrgId(d.0))
    }
}

impl Serialize for OrgId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Digest(self.0).serialize(s)
    }
}
impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(OrgId(Digest::deserialize(d)?.0))
    }
}

/// An ed25519 signature. Raw 64 bytes in the canonical form, hex for people.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..4]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(self.0))
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = if d.is_human_readable() {
            let s = String::deserialize(d)?;
            hex::decode(s).map_err(serde::de::Error::custom)?
        } else {
            serde_bytes_vec(d)?
        };
        let arr: [u8; 64] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| serde::de::Error::invalid_length(v.len(), &"64 bytes"))?;
        Ok(Signature(arr))
    }
}

fn serde_bytes_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
    }
    d.deserialize_bytes(V)
}

/// The exact bytes a signature covers.
pub fn signing_bytes<T: Serialize + ?Sized>(tag: &[u8], chain_id: &Digest, payload: &T) -> Vec<u8> {
    let body = codec::encode(payload);
    let mut msg = Vec::with_capacity(1 + tag.len() + 32 + body.len());
    // Tags are short constants; the length byte keeps one tag from being a prefix of another.
    msg.push(u8::try_from(tag.len()).unwrap_or(u8::MAX));
    msg.extend_from_slice(tag);
    msg.extend_from_slice(chain_id.as_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// Verify `sig` by `signer` over `payload` under `tag` on chain `chain_id`.
pub fn verify<T: Serialize + ?Sized>(
    signer: &OrgId,
    tag: &'static [u8],
    chain_id: &Digest,
    payload: &T,
    sig: &Signature,
) -> Result<(), LedgerError> {
    verify_bytes(signer, tag, &signing_bytes(tag, chain_id, payload), sig)
}

/// Verify a signature over bytes already built with [`signing_bytes`].
pub fn verify_bytes(
    signer: &OrgId,
    tag: &'static [u8],
    msg: &[u8],
    sig: &Signature,
) -> Result<(), LedgerError> {
    let key = signer.verifying_key()?;
    let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
    key.verify_strict(msg, &sig)
        .map_err(|_| LedgerError::BadSignature {
            what: tag_name(tag),
            reason: format!("signature by {} does not verify", signer.short()),
        })
}

thread_local! {
    /// Decompressed member keys: a consortium has few members who sign every round, and point
    /// decompression is a large share of each verification.
    static KEY_CACHE: std::cell::RefCell<std::collections::HashMap<[u8; 32], VerifyingKey>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

const KEY_CACHE_LIMIT: usize = 4096;

fn cached_verifying_key(org: &OrgId) -> Option<VerifyingKey> {
    KEY_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(k) = c.get(&org.0) {
            return Some(*k);
        }
        let k = VerifyingKey::from_bytes(&org.0).ok()?;
        if c.len() >= KEY_CACHE_LIMIT {
            c.clear();
        }
        c.insert(org.0, k);
        Some(k)
    })
}

/// A signature to check: signer, the exact signed bytes, the signature.
pub type SignedItem = (OrgId, Vec<u8>, Signature);

/// Whether every item verifies, checked as one ed25519 batch (a random linear combination; one
/// multiscalar multiplication). Says nothing about which item is bad: callers that need to name
/// it re-check with [`verify_batch`].
pub fn batch_ok(items: &[SignedItem]) -> bool {
    if items.is_empty() {
        return true;
    }
    let mut keys = Vec::with_capacity(items.len());
    for (org, _, _) in items {
        match cached_verifying_key(org) {
            Some(k) => keys.push(k),
            None => return false,
        }
    }
    let msgs: Vec<&[u8]> = items.iter().map(|(_, m, _)| m.as_slice()).collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
}

/// Verify many signatures at once; on failure, find the first bad one so the caller can report
/// exactly which. Strict single verification is the reference: a batch failure whose items all
/// verify one by one is accepted.
pub fn verify_batch(items: &[SignedItem], tag: &'static [u8]) -> Result<(), LedgerError> {
    if batch_ok(items) {
        return Ok(());
    }
    for (org, msg, sig) in items {
        verify_bytes(org, tag, msg, sig)?;
    }
    Ok(())
}

fn tag_name(tag: &'static [u8]) -> &'static str {
    match tag {
        domain::UPDATE => "update commitment signature",
        domain::FINALIZE => "finalize vote",
        domain::NOTARIZE => "notarize vote",
        domain::NULLIFY => "nullify vote",
        domain::PROPOSAL => "proposal signature",
        domain::MEMBERSHIP_REQUEST => "membership request signature",
        domain::MEMBERSHIP_APPROVAL => "membership approval",
        _ => "signature",
    }
}

/// An organization's secret key. Its `Debug` never shows the secret.
pub struct OrgKey {
    key: SigningKey,
    /// A human-readable name kept in the key file (not secret, not authoritative).
    pub name: String,
}

impl fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OrgKey({} {:?}, secret redacted)",
            self.id().short(),
            self.name
        )
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    name: String,
    org_id: OrgId,
    secret_key: String,
}

const KEY_FILE_FORMAT: &str = "fedledger-key/v1";

impl OrgKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: impl Into<String>) -> Self {
        OrgKey {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
            name: name.into(),
        }
    }

    /// A key from 32 secret bytes (tests and deterministic simulations only).
    pub fn from_secret(secret: [u8; 32], name: impl Into<String>) -> Self {
        OrgKey {
            key: SigningKey::from_bytes(&secret),
            name: name.into(),
        }
    }

    /// The 32 secret bytes, for deriving the node's libp2p identity from the same key.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// This key's organization id.
    pub fn id(&self) -> OrgId {
        OrgId(self.key.verifying_key().to_bytes())
    }

    /// Sign `payload` under `tag` for chain `chain_id`.
    pub fn sign<T: Serialize + ?Sized>(
        &self,
        tag: &[u8],
        chain_id: &Digest,
        payload: &T,
    ) -> Signature {
        Signature(
            self.key
                .sign(&signing_bytes(tag, chain_id, payload))
                .to_bytes(),
        )
    }

    /// A raw ed25519 signature over `text`, for C2SP signed notes (checkpoints), whose format
    /// fixes what is signed. Only checkpoints built here are signed ([`crate::tlog`]), and they
    /// cannot be mistaken for a domain-separated message: those start with the tag's length
    /// byte (19 to 33), a checkpoint with its origin, `fedledger/`.
    pub fn sign_note(&self, text: &[u8]) -> [u8; 64] {
        self.key.sign(text).to_bytes()
    }

    /// Write the key to `path` with mode 0600 from creation: through a temp file beside it,
    /// fsynced and renamed, so a failed write leaves no partial secret behind and a retry works.
    /// Refuses to overwrite an existing file.
    pub fn write_to(&self, path: &Path) -> Result<(), LedgerError> {
        let file = KeyFile {
            format: KEY_FILE_FORMAT.into(),
            name: self.name.clone(),
            org_id: self.id(),
            secret_key: hex::encode(self.key.to_bytes()),
        };
        // The error names the field only: serde never sees the secret as a failing value.
        let text = toml::to_string(&file).map_err(|_| LedgerError::KeyFile {
            path: path.display().to_string(),
            reason: "cannot encode the key file".into(),
        })?;
        crate::files::write_new_atomic(path, text.as_bytes(), 0o600)
    }

    /// Read a key file written by [`OrgKey::write_to`]. Refuses a file that group or others may
    /// read or write. Errors name the file and the line or field, never the content.
    pub fn read_from(path: &Path) -> Result<Self, LedgerError> {
        let io = |e: std::io::Error| LedgerError::Io {
            path: path.display().to_string(),
            source: e,
        };
        let bad = |reason: String| LedgerError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "refusing a key that group or others may access (mode {:o}); run `chmod 600 {}`",
                    mode & 0o777,
                    path.display()
                )));
            }
        }
        let bytes = std::fs::read(path).map_err(io)?;
        // `read_to_string` would say nothing about where; the line is enough and safe to show.
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            bad(format!("line {line}: not UTF-8 text"))
        })?;
        let file: KeyFile = toml::from_str(&text)
            .map_err(|e| bad(crate::files::toml_problem(&text, &e).to_string()))?;
        if file.format != KEY_FILE_FORMAT {
            return Err(bad(format!(
                "field `format`: expected {KEY_FILE_FORMAT:?}, found another value"
            )));
        }
        let secret: [u8; 32] = hex::decode(file.secret_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("field `secret_key`: must be 64 hex characters".into()))?;
        let key = OrgKey::from_secret(secret, file.name);
        if key.id() != file.org_id {
            return Err(bad(
                "field `org_id` does not match the secret key (a mixed-up or edited file)".into(),
            ));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_bound_to_tag_and_chain() {
        let k = OrgKey::from_secret([7; 32], "a");
        let chain = Digest::of(b"chain");
        let sig = k.sign(domain::FINALIZE, &chain, &(1u64, 2u64));
        assert!(verify(&k.id(), domain::FINALIZE, &chain, &(1u64, 2u64), &sig).is_ok());
        assert!(verify(&k.id(), domain::NOTARIZE, &chain, &(1u64, 2u64), &sig).is_err());
        assert!(verify(
            &k.id(),
            domain::FINALIZE,
            &Digest::of(b"other"),
            &(1u64, 2u64),
            &sig
        )
        .is_err());
        assert!(verify(&k.id(), domain::FINALIZE, &chain, &(1u64, 3u64), &sig).is_err());
    }

    #[test]
    fn batch_verification_finds_the_bad_one() {
        let chain = Digest::of(b"c");
        let keys: Vec<OrgKey> = (0..5).map(|i| OrgKey::from_secret([i; 32], "k")).collect();
        let mut items: Vec<_> = keys
            .iter()
            .map(|k| {
                let m = signing_bytes(domain::FINALIZE, &chain, &9u64);
                (k.id(), m, k.sign(domain::FINALIZE, &chain, &9u64))
            })
            .collect();
        assert!(verify_batch(&items, domain::FINALIZE).is_ok());
        items[3].2 .0[0] ^= 1;
        assert!(verify_batch(&items, domain::FINALIZE).is_err());
    }

    #[test]
    fn key_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        let k = OrgKey::generate("Bank A");
        k.write_to(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .ok();
            assert_eq!(mode, Some(0o600));
        }
        let back = OrgKey::read_from(&path).ok().map(|k| k.id());
        assert_eq!(back, Some(k.id()));
        assert!(
            k.write_to(&path).is_err(),
            "must not overwrite an existing key"
        );
        assert!(!format!("{k:?}").contains(&hex::encode(k.secret_bytes())));
    }

    #[test]
    fn key_file_errors_name_the_place_and_never_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let k = OrgKey::generate("Bank A");
        let good = dir.path().join("good.key");
        k.write_to(&good).unwrap();
        let text = std::fs::read_to_string(&good).unwrap();
        let secret = hex::encode(k.secret_bytes());
        let write = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            p
        };
        // A syntax error on the secret's line (unterminated string), a bad secret value, a
        // mismatched org id, a missing field.
        let cases = [
            (
                "syntax.key",
                text.replace(&format!("\"{secret}\""), &format!("\"{secret}")),
                "secret_key",
            ),
            (
                "value.key",
                text.replace(&secret, &format!("{secret}zz")),
                "secret_key",
            ),
            (
                "org.key",
                text.replace(&k.id().to_hex(), &OrgKey::generate("x").id().to_hex()),
                "org_id",
            ),
            (
                "missing.key",
                text.lines()
                    .filter(|l| !l.starts_with("org_id"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "org_id",
            ),
        ];
        for (name, body, field) in cases {
            let p = write(name, &body);
            let e = OrgKey::read_from(&p).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(field), "{e}");
            assert!(!e.contains(&secret[..16]), "the secret leaked: {e}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o640)).unwrap();
            let e = OrgKey::read_from(&good).unwrap_err().to_string();
            assert!(
                e.contains("good.key") && e.contains("640") && e.contains("chmod 600"),
                "{e}"
            );
        }
    }
}
