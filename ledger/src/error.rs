//! The ledger crate's error type.

use crate::verify::Violation;

/// Everything that can go wrong in the ledger crate. Variants carry what a person needs to act.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes from the network or disk did not decode as the expected object.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why decoding failed.
        reason: String,
    },
    /// A value supplied by a user or a file is unusable.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which input.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A key file is unusable: unreadable by its format, a bad field, or open to other users.
    /// Never carries any of the file's content (its lines hold the secret).
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: String,
        /// Where and what (`line 4, key `secret_key`: ...`), without the file's content.
        reason: String,
    },
    /// The genesis file describes a consortium that cannot work.
    #[error("invalid genesis: {reason}")]
    InvalidGenesis {
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A signature or key did not verify.
    #[error("bad {what}: {reason}")]
    BadSignature {
        /// Which signature.
        what: &'static str,
        /// Who signed and why it failed.
        reason: String,
    },
    /// The storage engine failed.
    #[error("storage: {reason}")]
    Storage {
        /// The engine's message.
        reason: String,
    },
    /// An append did not extend the stored chain.
    #[error(
        "append out of order: the store's next height is {expected}, block has height {found}"
    )]
    OutOfOrder {
        /// The height the store expects next.
        expected: u64,
        /// The height that was offered.
        found: u64,
    },
    /// A transparency-log proof does not hold: two views of the history disagree, or the
    /// proof is not one for the sizes it claims.
    #[error("{what} does not hold: {reason}")]
    ProofFailed {
        /// Which proof (`consistency proof`, `inclusion proof`).
        what: &'static str,
        /// What differs.
        reason: String,
    },
    /// The ledger failed verification: the first bad height and the rule it broke.
    #[error("{0}")]
    Invalid(Box<Violation>),
}

impl From<sled::Error> for LedgerError {
    fn from(e: sled::Error) -> Self {
        LedgerError::Storage {
            reason: e.to_string(),
        }
    }
}

impl From<Violation> for LedgerError {
    fn from(v: Violation) -> Self {
        LedgerError::Invalid(Box::new(v))
    }
}
