//! The admin token: a random secret the node writes to `<data_dir>/admin.token` (mode 0600) at
//! every start; `POST /admit` and `POST /leave` must present it as `Authorization: Bearer`.
//!
//! A file, not a flag or an environment variable: only the node's own user (or root) can read
//! it, so a browser page or another local user's process cannot learn it, and it changes at
//! every restart so a leaked one does not outlive the process.

use rand::RngCore;
use std::io::Write;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// The token file's name inside the data dir.
pub const TOKEN_FILE: &str = "admin.token";

/// Why the token could not be written.
#[derive(Debug, thiserror::Error)]
#[error("admin token file {}: {source}", path.display())]
pub struct TokenError {
    /// The file (or its temporary sibling) being written.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// A node's admin token.
#[derive(Clone)]
pub struct AdminToken {
    secret: String,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// A fresh token: 32 bytes from the OS generator, hex.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        AdminToken {
            secret: hex::encode(bytes),
        }
    }

    /// A fixed token (tests).
    pub fn from_secret(secret: impl Into<String>) -> Self {
        AdminToken {
            secret: secret.into(),
        }
    }

    /// Generate a token and write it to `<data_dir>/admin.token`, replacing any old one.
    pub fn create_in(data_dir: &Path) -> Result<Self, TokenError> {
        let token = Self::generate();
        token.write(&data_dir.join(TOKEN_FILE))?;
        Ok(token)
    }

    /// Write the token to `path` with mode 0600: into a temporary file created with that mode
    /// (so the secret is never readable by others, not even for an instant), flushed, then
    /// renamed over `path` (so a reader sees the old token or the new one, never half of one).
    pub fn write(&self, path: &Path) -> Result<(), TokenError> {
        let err = |p: &Path| {
            let p = p.to_path_buf();
            move |source: std::io::Error| TokenError { path: p, source }
        };
        let tmp = path.with_extension(format!("token.tmp.{}", std::process::id()));
        // A stale temporary from a crashed start may exist; its mode is ours to replace.
        let _ = std::fs::remove_file(&tmp);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(err(&tmp))?;
        f.write_all(self.secret.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .map_err(err(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(err(path))?;
        Ok(())
    }

    /// Whether `presented` is this token, compared in constant time (the length is not secret:
    /// every token is 64 hex characters).
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.secret.as_bytes(), presented.as_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// The secret, for the CLI side of tests.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn written_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let t = AdminToken::create_in(dir.path()).unwrap();
        let path = dir.path().join(TOKEN_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim(), t.secret());
        assert_eq!(t.secret().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        // A restart replaces it with a new one; no temporary file is left behind.
        let t2 = AdminToken::create_in(dir.path()).unwrap();
        assert_ne!(t.secret(), t2.secret());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(TOKEN_FILE)]);
    }

    #[test]
    fn matches_only_the_exact_secret() {
        let t = AdminToken::from_secret("a".repeat(64));
        assert!(t.matches(&"a".repeat(64)));
        assert!(!t.matches(&"a".repeat(63)));
        assert!(!t.matches(&format!("{}b", "a".repeat(63))));
        assert!(!t.matches(""));
    }
}
