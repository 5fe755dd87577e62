//! `fedledger audit --since STATE` / `--save-state FILE`: audit only the blocks after an
//! auditor state saved by an earlier audit, and save the new state.

use crate::source::LedgerSource;
use anyhow::Context;
use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::verify::{
    audit_since, AuditOutcome, AuditorState, ChainState, Rule, Violation, MAX_STATE_BYTES,
};
use fedledger_ledger::{Block, Genesis};
use std::path::Path;

/// Read an auditor state file.
pub fn read_state(path: &Path) -> anyhow::Result<AuditorState> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading the auditor state {}", path.display()))?
        .len();
    if len > MAX_STATE_BYTES as u64 {
        anyhow::bail!("{} is larger than an auditor state can be", path.display());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    AuditorState::decode(&bytes)
        .with_context(|| format!("{} is not an auditor state", path.display()))
}

/// Write an auditor state file atomically (a crash leaves the old state or the new one).
pub fn write_state(path: &Path, state: &AuditorState) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, state.encode()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// What an incremental audit did.
pub struct Incremental {
    /// The outcome (report of the whole chain, first violation among the new blocks).
    pub outcome: AuditOutcome,
    /// The height the state file stood at.
    pub from: u64,
    /// The state after the last verified block.
    pub state: AuditorState,
}

/// Audit the blocks after `auditor`'s height, from `store` (a data dir opened already) or
/// `source`'s file.
pub fn run<F>(
    genesis: &Genesis,
    store: Option<&SledStore>,
    source: &LedgerSource,
    auditor: AuditorState,
    on_block: F,
) -> anyhow::Result<Incremental>
where
    F: FnMut(&Block, &ChainState),
{
    let from = auditor.height();
    let out = if let Some(store) = store {
        audit_since(genesis, auditor, store.blocks(from.max(1)), on_block)?
    } else {
        let path = source
            .file
            .as_ref()
            .context("--data-dir or --file is required")?;
        let reader = LedgerSource::open_file(path)?;
        let chain_id = genesis.chain_id();
        if reader.chain_id() != chain_id {
            let v = Violation {
                height: 0,
                rule: Rule::ChainId,
                expected: format!("an export of chain {chain_id}"),
                found: format!("an export of chain {}", reader.chain_id()),
            };
            return Ok(Incremental {
                outcome: AuditOutcome {
                    report: ChainState::new(genesis).report(),
                    violation: Some(v),
                },
                from,
                state: auditor,
            });
        }
        // An export starts at height 1: the blocks before the state's are read, not verified.
        let blocks = reader.skip_while(move |b| b.as_ref().is_ok_and(|b| b.header.height < from));
        audit_since(genesis, auditor, blocks, on_block)?
    };
    Ok(Incremental {
        outcome: out.outcome,
        from: out.from,
        state: out.state,
    })
}
