//! Incremental audit: keep an auditor's state (chain state snapshot and the log's right edge)
//! after verifying a ledger up to height N, and later verify only the blocks after N against
//! it, so an auditor keeps up with a running consortium at the cost of the new blocks.

use super::audit::{audit_from, AuditOutcome};
use super::state::{ChainSnapshot, ChainState};
use super::{Rule, Violation};
use crate::block::Block;
use crate::codec;
use crate::error::LedgerError;
use crate::genesis::Genesis;
use crate::tlog::{checkpoint_text, Frontier};
use serde::{Deserialize, Serialize};

/// First bytes of an auditor state file (then the canonical encoding of [`AuditorState`]).
const MAGIC: &[u8; 16] = b"fedledger-audit1";

/// The largest auditor state read (a consortium of thousands of members with long histories
/// stays far below).
pub const MAX_STATE_BYTES: usize = 64 * 1024 * 1024;

/// What an auditor keeps between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditorState {
    /// The verified chain state at the last audited height.
    pub chain: ChainSnapshot,
    /// The block log's right edge at that height (its root is the last checkpoint's).
    pub log: Frontier,
}

impl AuditorState {
    /// The state before any block: nothing verified yet.
    pub fn genesis(genesis: &Genesis) -> Self {
        AuditorState {
            chain: ChainState::new(genesis).snapshot(),
            log: Frontier::new(),
        }
    }

    /// Height of the last verified block.
    pub fn height(&self) -> u64 {
        self.chain.height
    }

    /// The unsigned C2SP checkpoint text of the verified log (`None` before any block).
    pub fn checkpoint(&self) -> Option<String> {
        (self.log.size() > 0)
            .then(|| checkpoint_text(&self.chain.chain_id, self.log.size(), &self.log.root()))
    }

    /// The bytes of a state file.
    pub fn encode(&self) -> Vec<u8> {
        [&MAGIC[..], &codec::encode(self)].concat()
    }

    /// Read a state file (untrusted bytes: size, magic, canonical encoding and the frontier's
    /// shape are checked; [`audit_since`] checks the rest against the genesis).
    pub fn decode(bytes: &[u8]) -> Result<Self, LedgerError> {
        let bad = |reason: String| LedgerError::Malformed {
            what: "auditor state",
            reason,
        };
        if bytes.len() > MAX_STATE_BYTES {
            return Err(bad(format!(
                "{} bytes, more than the {MAX_STATE_BYTES} accepted",
                bytes.len()
            )));
        }
        let body = bytes
            .strip_prefix(&MAGIC[..])
            .ok_or_else(|| bad("not a fedledger auditor state file".into()))?;
        let state: AuditorState = codec::decode(body, "auditor state")?;
        if !state.log.is_well_formed() || state.log.size() != state.chain.height {
            return Err(bad(format!(
                "log of size {} for a chain state at height {}",
                state.log.size(),
                state.chain.height
            )));
        }
        Ok(state)
    }
}

/// The result of an incremental audit.
#[derive(Debug)]
pub struct SinceOutcome {
    /// The report (of the whole chain: the state carries the earlier blocks' totals) and the
    /// first violation among the new blocks, if any.
    pub outcome: AuditOutcome,
    /// Height the audit started after.
    pub from: u64,
    /// The auditor state after the last verified block.
    pub state: AuditorState,
}

/// Verify the blocks after `auditor`'s height. `source` yields blocks from the auditor's height
/// itself (from 1 when it is 0): that block must be the one verified before (same hash), or the
/// history was rewritten and that is the violation.
pub fn audit_since<I, F>(
    genesis: &Genesis,
    auditor: AuditorState,
    source: I,
    mut on_block: F,
) -> Result<SinceOutcome, LedgerError>
where
    I: IntoIterator<Item = Result<Block, Violation>>,
    F: FnMut(&Block, &ChainState),
{
    let from = auditor.height();
    let tip = auditor.chain.tip;
    let mut log = auditor.log;
    let state = ChainState::restore(genesis, auditor.chain)?;
    let mut iter = source.into_iter().peekable();
    if from > 0 {
        let rewritten = |found: String| Violation {
            height: from,
            rule: Rule::Rewrite,
            expected: format!("block {from} with hash {tip}, as verified before"),
            found,
        };
        let violation = match iter.next() {
            Some(Ok(b)) if b.header.height == from && b.hash() == tip => None,
            Some(Ok(b)) => Some(rewritten(format!(
                "block {} with hash {}",
                b.header.height,
                b.hash()
            ))),
            Some(Err(v)) => Some(v),
            None => Some(rewritten(format!("a ledger with no block {from}"))),
        };
        if let Some(v) = violation {
            let report = state.report();
            return Ok(SinceOutcome {
                outcome: AuditOutcome {
                    report,
                    violation: Some(v),
                },
                from,
                state: AuditorState {
                    chain: state.snapshot(),
                    log,
                },
            });
        }
    }
    let (outcome, state) = audit_from(state, iter, |b: &Block, s: &ChainState| {
        log.append(&s.tip_hash());
        on_block(b, s);
    });
    Ok(SinceOutcome {
        outcome,
        from,
        state: AuditorState {
            chain: state.snapshot(),
            log,
        },
    })
}
