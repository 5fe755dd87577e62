//! The portable single-file ledger: a header, length-framed canonical blocks, and a trailer with
//! the block count and a SHA-256 over everything before it. Written and read as a stream.
//!
//! ```text
//! magic "FEDLEDGR" | version u16 LE | chain id [32]
//! { len u32 LE (1..=64 MiB) | block bytes [len] }*
//! 0u32 LE | block count u64 LE | SHA-256 of all preceding bytes [32]
//! ```

use crate::block::Block;
use crate::codec::MAX_ENCODED_LEN;
use crate::digest::Digest;
use crate::error::LedgerError;
use crate::genesis::Genesis;
use crate::verify::{audit, AuditOutcome, ChainState, Rule, Violation};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// File magic.
pub const MAGIC: &[u8; 8] = b"FEDLEDGR";
/// Export format version.
pub const EXPORT_VERSION: u16 = 1;

/// Streams blocks into an export.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Write the header.
    pub fn new(mut out: W, chain_id: &Digest) -> io::Result<Self> {
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(42);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&EXPORT_VERSION.to_le_bytes());
        head.extend_from_slice(chain_id.as_bytes());
        out.write_all(&head)?;
        hasher.update(&head);
        Ok(ExportWriter {
            out,
            hasher,
            count: 0,
        })
    }

    /// Append one block's canonical bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|l| *l > 0 && (*l as usize) <= MAX_ENCODED_LEN)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "block size out of range")
            })?;
        let lb = len.to_le_bytes();
        self.out.write_all(&lb)?;
        self.out.write_all(bytes)?;
        self.hasher.update(lb);
        self.hasher.update(bytes);
        self.count += 1;
        Ok(())
    }

    /// Append one block.
    pub fn write_block(&mut self, block: &Block) -> io::Result<()> {
        self.write_raw(&block.encode())
    }

    /// Write the trailer and return the inner writer and the number of blocks.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let mut tail = Vec::with_capacity(12);
        tail.extend_from_slice(&0u32.to_le_bytes());
        tail.extend_from_slice(&self.count.to_le_bytes());
        self.hasher.update(&tail);
        let sum: [u8; 32] = self.hasher.finalize().into();
        self.out.write_all(&tail)?;
        self.out.write_all(&sum)?;
        self.out.flush()?;
        Ok((self.out, self.count))
    }
}

/// Reads an export as a stream of blocks; framing problems become violations naming the height
/// of the block being read.
#[derive(Debug)]
pub struct ExportReader<R: Read> {
    input: R,
    hasher: Sha256,
    count: u64,
    chain_id: Digest,
    done: bool,
}

fn export_violation(
    height: u64,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Violation {
    Violation {
        height,
        rule: Rule::Export,
        expected: expected.into(),
        found: found.into(),
    }
}

impl<R: Read> ExportReader<R> {
    /// Read and check the header.
    pub fn new(mut input: R) -> Result<Self, LedgerError> {
        let mut head = [0u8; 42];
        input.read_exact(&mut head).map_err(|_| {
            LedgerError::from(export_violation(
                0,
                "a 42-byte export header",
                "a file shorter than that",
            ))
        })?;
        if &head[..8] != MAGIC {
            return Err(export_violation(
                0,
                "magic FEDLEDGR",
                format!("{:?}", String::from_utf8_lossy(&head[..8])),
            )
            .into());
        }
        let version = u16::from_le_bytes([head[8], head[9]]);
        if version != EXPORT_VERSION {
            return Err(export_violation(
                0,
                format!("export version {EXPORT_VERSION}"),
                format!("version {version}"),
            )
            .into());
        }
        let mut chain = [0u8; 32];
        chain.copy_from_slice(&head[10..42]);
        let mut hasher = Sha256::new();
        hasher.update(head);
        Ok(ExportReader {
            input,
            hasher,
            count: 0,
            chain_id: Digest(chain),
            done: false,
        })
    }

    /// The chain id the header claims (checked against the genesis by the caller).
    pub fn chain_id(&self) -> Digest {
        self.chain_id
    }

    fn read_frame(&mut self) -> Result<Option<Block>, Violation> {
        let h = self.count + 1;
        let mut lb = [0u8; 4];
        self.input.read_exact(&mut lb).map_err(|_| {
            export_violation(
                h,
                "a block frame or the trailer",
                "end of file (truncated export)",
            )
        })?;
        self.hasher.update(lb);
        let len = u32::from_le_bytes(lb) as usize;
        if len == 0 {
            self.read_trailer(h)?;
            return Ok(None);
        }
        if len > MAX_ENCODED_LEN {
            return Err(export_violation(
                h,
                format!("a frame of at most {MAX_ENCODED_LEN} bytes"),
                format!("{len} bytes"),
            ));
        }
        // Read what is there rather than allocating what the frame claims: a 50-byte file whose
        // frame claims 64 MiB must not cost 64 MiB.
        let mut buf = Vec::new();
        let got = Read::by_ref(&mut self.input)
            .take(len as u64)
            .read_to_end(&mut buf);
        if !matches!(got, Ok(n) if n == len) {
            return Err(export_violation(
                h,
                format!("{len} bytes of block {h}"),
                "end of file (truncated export)",
            ));
        }
        self.hasher.update(&buf);
        let block = Block::decode(&buf).map_err(|e| Violation {
            height: h,
            rule: Rule::Decode,
            expected: "a well-formed block".into(),
            found: e.to_string(),
        })?;
        self.count += 1;
        Ok(Some(block))
    }

    fn read_trailer(&mut self, h: u64) -> Result<(), Violation> {
        let mut cb = [0u8; 8];
        self.input
            .read_exact(&mut cb)
            .map_err(|_| export_violation(h, "the trailer's block count", "end of file"))?;
        self.hasher.update(cb);
        let count = u64::from_le_bytes(cb);
        if count != self.count {
            return Err(export_violation(
                h,
                format!("a trailer counting {} blocks", self.count),
                format!("{count}"),
            ));
        }
        let mut sum = [0u8; 32];
        self.input
            .read_exact(&mut sum)
            .map_err(|_| export_violation(h, "the trailer's checksum", "end of file"))?;
        let expected: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        if sum != expected {
            return Err(export_violation(
                h,
                format!("checksum {}", Digest(expected)),
                format!("{}", Digest(sum)),
            ));
        }
        let mut extra = [0u8; 1];
        match self.input.read(&mut extra) {
            Ok(0) => Ok(()),
            _ => Err(export_violation(
                h,
                "end of file after the trailer",
                "trailing bytes",
            )),
        }
    }
}

impl<R: Read> Iterator for ExportReader<R> {
    type Item = Result<Block, Violation>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_frame() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(v) => {
                self.done = true;
                Some(Err(v))
            }
        }
    }
}

/// Audit an export against `genesis`: the header's chain id, then every block, then the trailer.
pub fn audit_export<R: Read, F>(
    genesis: &Genesis,
    input: R,
    on_block: F,
) -> Result<AuditOutcome, LedgerError>
where
    F: FnMut(&Block, &ChainState),
{
    let reader = ExportReader::new(input)?;
    let chain_id = genesis.chain_id();
    if reader.chain_id() != chain_id {
        let state = ChainState::new(genesis);
        return Ok(AuditOutcome {
            report: state.report(),
            violation: Some(Violation {
                height: 0,
                rule: Rule::ChainId,
                expected: format!("an export of chain {chain_id}"),
                found: format!("an export of chain {}", reader.chain_id()),
            }),
        });
    }
    Ok(audit(genesis, reader, on_block))
}
