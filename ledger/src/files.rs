//! Local files written and read by the tools: secret and state-bearing files are written to a
//! private temp file beside the target, fsynced and renamed (a failure never leaves a partial
//! file that blocks a retry), and TOML errors say where the problem is without echoing content
//! (a key file's lines hold the secret).

use crate::error::LedgerError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a TOML document went wrong, without any of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlProblem {
    /// 1-based line of the problem, when the parser knows it.
    pub line: Option<usize>,
    /// The dotted key on that line (`network.redial_ms`), or the table a header line names.
    pub key: Option<String>,
    /// The parser's message with quoted values and long hex runs redacted.
    pub message: String,
}

impl std::fmt::Display for TomlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.line, &self.key) {
            (Some(l), Some(k)) => write!(f, "line {l}, key `{k}`: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, Some(k)) => write!(f, "key `{k}`: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Locate a TOML parse or schema error in `text`. `toml`'s own `Display` quotes the offending
/// line, which for a key file is the secret; this keeps the line number, the key name and the
/// parser's message, and drops the rest.
pub fn toml_problem(text: &str, e: &toml::de::Error) -> TomlProblem {
    let (line, key) = match e.span() {
        // serde reports a missing field at the enclosing table, whose first line is misleading;
        // the message names the field.
        _ if e.message().starts_with("missing field") => (None, None),
        Some(span) => {
            let start = span.start.min(text.len());
            // `start` comes from the parser, so it is a char boundary; `get` keeps that an
            // assumption rather than a panic.
            let before = text.get(..start).unwrap_or("");
            let line = before.matches('\n').count() + 1;
            (Some(line), key_at_line(text, line))
        }
        None => (None, None),
    };
    TomlProblem {
        line,
        key,
        message: redact(e.message()),
    }
}

/// The dotted key written on 1-based `line` (with its table), if the line looks like
/// `key = ...` or a `[table]` header. Only names are returned, never values.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?.trim();
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if let Some(h) = header(here) {
        return is_name(h).then(|| h.to_string());
    }
    let name = here.split_once('=')?.0.trim();
    if !is_name(name) {
        return None;
    }
    let table = lines[..line - 1]
        .iter()
        .rev()
        .find_map(|l| header(l.trim()))
        .filter(|t| is_name(t));
    Some(match table {
        Some(t) => format!("{t}.{name}"),
        None => name.to_string(),
    })
}

/// `a.b` for a `[a.b]` or `[[a.b]]` header line.
fn header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(inner[..end].trim())
}

/// Replace quoted strings and runs of 16+ hex digits by `<redacted>`, on one line: serde quotes
/// the values it rejects, and a secret key is a hex run. Text in backticks is the parser's own
/// (field names, expected tokens such as `"`) and is kept, apart from hex runs.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    let mut hex = String::new();
    let mut in_backticks = false;
    let flush = |hex: &mut String, out: &mut String| {
        if hex.len() >= 16 {
            out.push_str("<redacted>");
        } else {
            out.push_str(hex);
        }
        hex.clear();
    };
    while let Some(c) = chars.next() {
        if c.is_ascii_hexdigit() {
            hex.push(c);
            continue;
        }
        flush(&mut hex, &mut out);
        match c {
            '`' => {
                in_backticks = !in_backticks;
                out.push(c);
            }
            '"' | '\'' if !in_backticks => {
                // Skip to the closing quote (or the end).
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                out.push(c);
                out.push_str("<redacted>");
                out.push(c);
            }
            '\n' => out.push_str("; "),
            _ => out.push(c),
        }
    }
    flush(&mut hex, &mut out);
    out
}

/// Write `bytes` to a new file at `path` with permission bits `mode` (Unix): created under a
/// temporary name in the same directory with `mode` from the start, fsynced, then renamed into
/// place. Refuses to replace an existing file. On any failure the temporary file is removed, so
/// nothing partial is left at `path` and a retry starts clean.
pub fn write_new_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), LedgerError> {
    write_new_atomic_with(path, bytes, mode, |_| Ok(()))
}

/// [`write_new_atomic`] with a hook run just before the rename (tests inject failures there).
fn write_new_atomic_with(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), LedgerError> {
    let io = |source: std::io::Error| LedgerError::Io {
        path: path.display().to_string(),
        source,
    };
    let exists = || {
        io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "the file exists; refusing to overwrite it",
        ))
    };
    if path.symlink_metadata().is_ok() {
        return Err(exists());
    }
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let nonce: u64 = rand::random();
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{nonce:016x}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(&tmp).map_err(io)?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| before_rename(&tmp))
        .and_then(|()| {
            // Checked again right before the rename: a file that appeared meanwhile is kept.
            // (A rename that refuses to replace needs renameat2, which std does not offer.)
            if path.symlink_metadata().is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the file exists; refusing to overwrite it",
                ));
            }
            std::fs::rename(&tmp, path)
        });
    drop(f);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    // Make the rename itself durable. Best effort: some filesystems refuse to fsync a directory,
    // and the file's content is already on disk.
    #[cfg(unix)]
    {
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_rename_leaves_nothing_and_a_retry_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        let e = write_new_atomic_with(&path, b"secret", 0o600, |_| {
            Err(std::io::Error::other("injected failure"))
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("org.key") && e.contains("injected"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_new_atomic(&path, b"secret", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let e = write_new_atomic(&path, b"other", 0o600)
            .unwrap_err()
            .to_string();
        assert!(e.contains("exists"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_temp_file_is_private_from_creation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        let mut seen = None;
        let _ = write_new_atomic_with(&path, b"s", 0o600, |tmp| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                seen = Some(std::fs::metadata(tmp)?.permissions().mode() & 0o777);
            }
            #[cfg(not(unix))]
            {
                let _ = tmp;
                seen = Some(0o600);
            }
            Ok(())
        });
        assert_eq!(seen, Some(0o600));
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("org.key");
        let e = write_new_atomic(&path, b"s", 0o600)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope/org.key"), "{e}");
    }

    #[test]
    fn toml_problems_name_line_and_key_but_not_values() {
        let secret = "ab".repeat(32);
        let text = format!("format = \"x\"\n[net]\nsecret_key = \"{secret}\nname = 1\n");
        let e = toml::from_str::<toml::Value>(&text).unwrap_err();
        let p = toml_problem(&text, &e);
        assert_eq!(p.line, Some(3), "{p}");
        assert_eq!(p.key.as_deref(), Some("net.secret_key"), "{p}");
        assert!(!p.to_string().contains(&secret[..16]), "{p}");

        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct K {
            n: u64,
        }
        let text = format!("n = \"{secret}\"\n");
        let e = toml::from_str::<K>(&text).unwrap_err();
        let p = toml_problem(&text, &e);
        assert_eq!((p.line, p.key.as_deref()), (Some(1), Some("n")), "{p}");
        assert!(!p.to_string().contains(&secret[..16]), "{p}");
        assert_eq!(
            redact("bad `x` \"quoted\" deadbeefdeadbeef00 12"),
            "bad `x` \"<redacted>\" <redacted> 12"
        );
        assert_eq!(
            redact("invalid string\nexpected `\"`, `'`"),
            "invalid string; expected `\"`, `'`"
        );
    }
}
