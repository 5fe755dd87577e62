//! Streaming audit: verify blocks from any source in order, running stateless checks for a window
//! of blocks in parallel, so memory is bounded by the window whatever the ledger's length.

use super::prepare::{prepare_many, PreparedBlock};
use super::state::ChainState;
use super::{AuditReport, Violation};
use crate::block::Block;
use crate::genesis::Genesis;

use rayon::prelude::*;

/// Blocks prepared in parallel at a time.
const WINDOW: usize = 256;
/// Blocks whose signatures are verified as one batch.
const SIGNATURE_CHUNK: usize = 16;

/// Outcome of an audit: the report of the valid prefix, and the first violation if any.
#[derive(Debug)]
pub struct AuditOutcome {
    /// Everything verified before the first violation (or the whole chain).
    pub report: AuditReport,
    /// The first violation, if the ledger is not valid.
    pub violation: Option<Violation>,
}

/// Verify every block `source` yields. `on_block` sees each block after it verified (for per-round
/// tables, charts, progress); the source yields `Err` for blocks that cannot be read.
pub fn audit<I, F>(genesis: &Genesis, source: I, on_block: F) -> AuditOutcome
where
    I: IntoIterator<Item = Result<Block, Violation>>,
    F: FnMut(&Block, &ChainState),
{
    audit_from(ChainState::new(genesis), source, on_block).0
}

/// As [`audit`], from `state` on: `source` yields the blocks after `state.height()`. Returns
/// the state after the last verified block too (before the first violation, if any).
pub fn audit_from<I, F>(
    mut state: ChainState,
    source: I,
    mut on_block: F,
) -> (AuditOutcome, ChainState)
where
    I: IntoIterator<Item = Result<Block, Violation>>,
    F: FnMut(&Block, &ChainState),
{
    let chain_id = state.chain_id();
    let mut iter = source.into_iter();
    let mut window: Vec<Block> = Vec::with_capacity(WINDOW);
    loop {
        window.clear();
        let mut read_error = None;
        for item in iter.by_ref() {
            match item {
                Ok(b) => window.push(b),
                Err(v) => {
                    read_error = Some(v);
                    break;
                }
            }
            if window.len() == WINDOW {
                break;
            }
        }
        let exhausted = window.len() < WINDOW;
        // Chunks of blocks share one signature batch; chunks run on all cores. A short window
        // (the tail of a ledger, an incremental audit) is cut finer so every core gets a share.
        let chunk = window
            .len()
            .div_ceil(rayon::current_num_threads().max(1) * 8)
            .clamp(1, SIGNATURE_CHUNK);
        let mut chunks: Vec<Vec<Block>> = Vec::new();
        while !window.is_empty() {
            let rest = window.split_off(window.len().min(chunk));
            chunks.push(std::mem::replace(&mut window, rest));
        }
        let prepared: Vec<PreparedBlock> = chunks
            .into_par_iter()
            .flat_map_iter(|c| prepare_many(c, &chain_id))
            .collect();
        for p in prepared {
            if let Err(v) = state.apply_prepared(&p) {
                return (
                    AuditOutcome {
                        report: state.report(),
                        violation: Some(v),
                    },
                    state,
                );
            }
            on_block(&p.block, &state);
        }
        if let Some(v) = read_error {
            return (
                AuditOutcome {
                    report: state.report(),
                    violation: Some(v),
                },
                state,
            );
        }
        if exhausted {
            return (
                AuditOutcome {
                    report: state.report(),
                    violation: None,
                },
                state,
            );
        }
    }
}
