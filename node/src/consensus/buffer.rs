//! Messages for the next height, held until this height is final: keyed by signer, bounded per
//! signer and in all.

use super::config::Config;
use super::error::DropReason;
use super::message::Message;
use fedledger_ledger::OrgId;
use std::collections::BTreeMap;

/// The next height's messages by signer, in arrival order. Only the state machine decides who
/// may be a key (validators of the next height); this type only enforces the bounds.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    by_signer: BTreeMap<OrgId, Vec<Message>>,
    len: usize,
}

impl Buffer {
    /// Whether `m` signed by `signer` would be stored: not a copy of a stored message, and room
    /// left for the signer and in all. Checked before the signature, which costs more.
    pub(crate) fn admits(
        &self,
        signer: &OrgId,
        m: &Message,
        cfg: &Config,
    ) -> Result<(), DropReason> {
        let held = self.by_signer.get(signer).map_or(&[][..], Vec::as_slice);
        // Retry ticks re-send identical messages; storing them again would crowd out new ones.
        if held.contains(m) {
            return Err(DropReason::Duplicate);
        }
        if held.len() >= cfg.max_buffered_per_signer || self.len >= cfg.max_buffered_total {
            return Err(DropReason::BufferFull);
        }
        Ok(())
    }

    /// Store `m` under `signer` (after [`Buffer::admits`] and the signature check).
    pub(crate) fn push(&mut self, signer: OrgId, m: Message) {
        self.by_signer.entry(signer).or_default().push(m);
        self.len += 1;
    }

    /// Messages held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Messages held from `signer`.
    #[cfg(test)]
    pub(crate) fn held_from(&self, signer: &OrgId) -> usize {
        self.by_signer.get(signer).map_or(0, Vec::len)
    }

    /// A signer that is already at the next height: a peer worth asking for blocks.
    pub(crate) fn first_signer(&self) -> Option<OrgId> {
        self.by_signer.keys().next().copied()
    }

    /// Empty the buffer, returning its messages by signer.
    pub(crate) fn take(&mut self) -> BTreeMap<OrgId, Vec<Message>> {
        self.len = 0;
        std::mem::take(&mut self.by_signer)
    }
}
