//! Checking a batch of synced blocks against a copy of our tip, cheapest checks first, so that
//! only blocks a quorum finalized and the ledger rules accept ever reach the event loop.

use fedledger_ledger::verify::{prepare, ChainState, Rule, Violation};
use fedledger_ledger::{codec, Block};
use std::fmt;

/// Why a sync attempt failed. Everything but a timeout or an unreachable peer is a lie: an honest
/// server sends contiguous finalized blocks from the height asked, each with its certificate.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncFault {
    /// No answer within the sync timeout.
    Timeout,
    /// The request failed (disconnected, dial or protocol error).
    Unreachable(String),
    /// Not blocks, more blocks than asked, bytes that do not decode, or a header that does not
    /// describe its own body (entry count, chain id).
    Malformed(String),
    /// A block that does not follow the previous one: wrong height, or a `prev_hash` that is not
    /// the previous block's hash.
    Gap {
        /// The height expected.
        expected: u64,
        /// The height found.
        found: u64,
    },
    /// A certificate that is not a quorum of validators in force finalizing this block.
    BadCertificate(Violation),
    /// A certified block that breaks a ledger rule.
    BadBlock(Violation),
}

impl SyncFault {
    /// The reject reason counted in `/metrics`.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncFault::Timeout => "sync-timeout",
            SyncFault::Unreachable(_) => "sync-unreachable",
            SyncFault::Malformed(_) => "sync-malformed",
            SyncFault::Gap { .. } => "sync-gap",
            SyncFault::BadCertificate(_) => "sync-bad-certificate",
            SyncFault::BadBlock(_) => "sync-bad-block",
        }
    }

    /// Whether only a lying (or broken) peer could have caused it.
    pub fn is_lie(&self) -> bool {
        !matches!(self, SyncFault::Timeout | SyncFault::Unreachable(_))
    }
}

impl fmt::Display for SyncFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncFault::Timeout => write!(f, "timed out"),
            SyncFault::Unreachable(e) => write!(f, "unreachable: {e}"),
            SyncFault::Malformed(e) => write!(f, "malformed answer: {e}"),
            SyncFault::Gap { expected, found } => {
                write!(
                    f,
                    "expected height {expected} linked to our tip, found {found}"
                )
            }
            SyncFault::BadCertificate(v) | SyncFault::BadBlock(v) => write!(f, "{v}"),
        }
    }
}

/// The verified prefix of a batch, and why the rest was dropped.
#[derive(Debug)]
pub struct Checked {
    /// Blocks that passed every check, in order, starting right after the tip checked against.
    pub blocks: Vec<Block>,
    /// The first failure; the blocks from it on were dropped.
    pub fault: Option<SyncFault>,
}

/// Decode and check a block server's answer to a request for at most `max` blocks. Blocks are
/// decoded one at a time, so nothing after the first bad one costs anything.
pub fn check_raw(state: &mut ChainState, raw: &[Vec<u8>], max: u32) -> Checked {
    let allowed = usize::try_from(max).unwrap_or(usize::MAX);
    let mut fault = (raw.len() > allowed)
        .then(|| SyncFault::Malformed(format!("{} blocks for a request of {max}", raw.len())));
    let mut blocks = Vec::new();
    for bytes in raw.iter().take(allowed) {
        let next = codec::decode::<Block>(bytes, "block")
            .map_err(|e| SyncFault::Malformed(e.to_string()))
            .and_then(|b| check_next(state, b));
        match next {
            Ok(b) => blocks.push(b),
            Err(f) => {
                fault = Some(f);
                break;
            }
        }
    }
    Checked { blocks, fault }
}

/// Check decoded blocks, keeping the verified prefix.
pub fn check_blocks(state: &mut ChainState, batch: Vec<Block>) -> Checked {
    let mut blocks = Vec::with_capacity(batch.len());
    for b in batch {
        match check_next(state, b) {
            Ok(b) => blocks.push(b),
            Err(f) => {
                return Checked {
                    blocks,
                    fault: Some(f),
                }
            }
        }
    }
    Checked {
        blocks,
        fault: None,
    }
}

/// Check `block` as the one after `state`'s tip and apply it. In order of cost: the header's
/// place in the chain, its count of entries, the certificate's signers, quorum and signatures
/// (a quorum signature over the header pins the body through its entry root), and only then the
/// full ledger rules with every entry's signature.
pub fn check_next(state: &mut ChainState, block: Block) -> Result<Block, SyncFault> {
    let hd = &block.header;
    let expected = state.height().saturating_add(1);
    if hd.height != expected || hd.prev_hash != state.tip_hash() {
        return Err(SyncFault::Gap {
            expected,
            found: hd.height,
        });
    }
    if hd.chain_id != state.chain_id() {
        return Err(SyncFault::Malformed(format!(
            "a block of chain {}",
            hd.chain_id.short()
        )));
    }
    if usize::try_from(hd.entry_count).ok() != Some(block.entries.len()) {
        return Err(SyncFault::Malformed(format!(
            "header counts {} entries, body has {}",
            hd.entry_count,
            block.entries.len()
        )));
    }
    state
        .check_certificate(hd, &block.certificate)
        .map_err(SyncFault::BadCertificate)?;
    let prepared = prepare(block, &state.chain_id(), true);
    match state.apply_prepared(&prepared) {
        Ok(()) => Ok(prepared.block),
        Err(v) if v.rule == Rule::Certificate => Err(SyncFault::BadCertificate(v)),
        Err(v) => Err(SyncFault::BadBlock(v)),
    }
}
