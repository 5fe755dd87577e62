//! C2SP `tlog-checkpoint`s of the block log, signed as C2SP `signed-note`s by members' keys.
//!
//! A checkpoint's text is `fedledger/<chain id hex>\n<size>\n<base64 root>\n`. Every member
//! signs it under the key name `fedledger/<chain id hex>` (the origin, as `tlog-checkpoint`
//! recommends for a log's own key), with the note key id of its ed25519 key, so Go's
//! `note`/`tlog` tools and witnesses can check a member's signature from its verifier key
//! `<origin>+<key id>+<base64(0x01 || public key)>`.

use super::BlockLog;
use crate::digest::Digest;
use crate::error::LedgerError;
use crate::identity::{OrgId, OrgKey};
use ed25519_dalek::VerifyingKey;
use signed_note::{Note, Signer, Verifier, VerifierList};

/// The largest signed checkpoint accepted (a few hundred members' signature lines).
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// signed-note's algorithm byte for Ed25519.
const ALG_ED25519: u8 = 0x01;

/// The log's origin line: `fedledger/<chain id hex>`.
pub fn origin(chain_id: &Digest) -> String {
    format!("fedledger/{}", chain_id.to_hex())
}

/// The checkpoint text (unsigned) of the log of size `size` with root `root`.
pub fn checkpoint_text(chain_id: &Digest, size: u64, root: &Digest) -> String {
    format!(
        "{}\n{size}\n{}\n",
        origin(chain_id),
        tlog_tiles::Hash(root.0)
    )
}

/// The note key id of `org` under `name`: the first 4 bytes of
/// SHA-256(name || "\n" || 0x01 || public key), big-endian.
pub fn key_id(name: &str, org: &OrgId) -> u32 {
    let encoded = [&[ALG_ED25519][..], &org.0[..]].concat();
    signed_note::key_id(name, &encoded)
}

/// A member's key as a note signer.
struct MemberSigner<'a> {
    name: String,
    id: u32,
    key: &'a OrgKey,
}

impl Signer for MemberSigner<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign_note(msg).to_vec())
    }
}

/// A member's public key as a note verifier (strict ed25519 verification).
struct MemberVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl Verifier for MemberVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.key
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&bytes))
            .is_ok()
    }
}

fn note_error(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Malformed {
        what: "signed checkpoint",
        reason: e.to_string(),
    }
}

/// The signed note of the checkpoint of `log` at `size`, signed by each of `keys`.
pub fn sign_checkpoint(
    chain_id: &Digest,
    log: &BlockLog,
    size: u64,
    keys: &[&OrgKey],
) -> Result<String, LedgerError> {
    let text = checkpoint_text(chain_id, size, &log.root(size)?);
    let mut note = Note::new(text.as_bytes(), &[]).map_err(note_error)?;
    add_signatures(&mut note, chain_id, keys)?;
    note_string(&note)
}

/// Add `key`'s signature to a signed checkpoint of this chain (it must already verify for
/// one of `members`): the same text, one more signature line.
pub fn cosign(
    note: &[u8],
    chain_id: &Digest,
    members: &[OrgId],
    key: &OrgKey,
) -> Result<String, LedgerError> {
    open_checkpoint(note, chain_id, members)?;
    let mut parsed = Note::from_bytes(note).map_err(note_error)?;
    add_signatures(&mut parsed, chain_id, &[key])?;
    note_string(&parsed)
}

fn add_signatures(note: &mut Note, chain_id: &Digest, keys: &[&OrgKey]) -> Result<(), LedgerError> {
    let name = origin(chain_id);
    let signers: Vec<MemberSigner<'_>> = keys
        .iter()
        .map(|k| MemberSigner {
            id: key_id(&name, &k.id()),
            name: name.clone(),
            key: k,
        })
        .collect();
    let dyn_signers: Vec<&dyn Signer> = signers.iter().map(|s| s as &dyn Signer).collect();
    note.add_sigs(&dyn_signers).map_err(note_error)
}

fn note_string(note: &Note) -> Result<String, LedgerError> {
    String::from_utf8(note.to_bytes()).map_err(note_error)
}

/// A checkpoint whose signatures were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    /// The log's origin.
    pub origin: String,
    /// Blocks in the log (the chain's height).
    pub size: u64,
    /// The log's root at that size.
    pub root: Digest,
    /// The members whose signatures verified, in signature order.
    pub signers: Vec<OrgId>,
    /// Signature lines by keys that are not members' (kept, not checked).
    pub unknown_signatures: usize,
}

/// Parse a signed checkpoint of this chain and check its signatures against `members`. Fails
/// if the note is malformed or oversized, names another origin, carries a bad signature by a
/// member, or no member's signature at all.
pub fn open_checkpoint(
    note: &[u8],
    chain_id: &Digest,
    members: &[OrgId],
) -> Result<OpenedCheckpoint, LedgerError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(note_error(format!(
            "{} bytes, more than the {MAX_NOTE_BYTES} accepted",
            note.len()
        )));
    }
    let parsed = Note::from_bytes(note).map_err(note_error)?;
    let name = origin(chain_id);
    let mut by_id = Vec::new();
    let verifiers: Vec<Box<dyn Verifier>> = members
        .iter()
        .filter_map(|org| {
            let key = VerifyingKey::from_bytes(&org.0).ok()?;
            let id = key_id(&name, org);
            by_id.push((id, *org));
            Some(Box::new(MemberVerifier {
                name: name.clone(),
                id,
                key,
            }) as Box<dyn Verifier>)
        })
        .collect();
    let (verified, unknown) =
        parsed
            .verify(&VerifierList::new(verifiers))
            .map_err(|e| LedgerError::BadSignature {
                what: "signed checkpoint",
                reason: e.to_string(),
            })?;
    let text = tlog_tiles::Checkpoint::from_bytes(parsed.text()).map_err(note_error)?;
    if text.origin() != name {
        return Err(note_error(format!(
            "origin {:?} is not this chain's ({name})",
            text.origin().chars().take(100).collect::<String>()
        )));
    }
    let signers = verified
        .iter()
        .filter_map(|s| {
            by_id
                .iter()
                .find(|(id, _)| *id == s.id())
                .map(|(_, org)| *org)
        })
        .collect();
    Ok(OpenedCheckpoint {
        origin: name,
        size: text.size(),
        root: Digest(text.hash().0),
        signers,
        unknown_signatures: unknown.len(),
    })
}
