//! The application the state machine serves: it builds payloads and judges proposals. The state
//! machine knows nothing of models; the driver calls these on the matching actions.

use super::event::Payload;
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Block, BlockHeader, Entry};

/// Implemented by the training node (recomputed aggregation) and by the simulator.
pub trait Application {
    /// [`super::Action::RequestPayload`]: the payload for (height, view) on top of `chain`, or
    /// `None` if the round's updates are not collected yet (the driver asks again when more
    /// arrive or the collection deadline passes).
    fn payload(&mut self, chain: &ChainState, height: u64, view: u64) -> Option<Payload>;

    /// [`super::Action::RequestValidation`]: everything the ledger cannot check (the recomputed
    /// aggregate hash, update availability). Ledger rules were checked already.
    fn validate(
        &mut self,
        chain: &ChainState,
        header: &BlockHeader,
        entries: &[Entry],
    ) -> Result<(), String>;

    /// [`super::Action::Commit`]: the block is final (the driver has stored it).
    fn committed(&mut self, block: &Block);
}
