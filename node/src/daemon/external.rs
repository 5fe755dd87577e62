//! The node's side of the trainer API: offer each round to the external trainer, check its
//! submissions, and release accepted ones as the node's own.

use super::driver::{Node, TARGET};
use super::error::DaemonError;
use super::learner::LocalUpdate;
use super::trainer::{Accepted, Rejection, RoundOffer, Submission, Submitted};
use crate::learn::model::encode_update;
use fedledger_ledger::block::{limits, UpdateAnnouncement};
use fedledger_ledger::privacy;
use fedledger_ledger::Digest;
use tracing::{info, warn};

/// The external trainer's side of a round (`[training] mode = "external"`).
impl Node {
    /// Offer round `h` to the external trainer, once per round.
    pub(super) fn offer_round(&mut self, h: u64) -> Result<(), DaemonError> {
        let Some(slot) = &self.trainer else {
            return Ok(());
        };
        if slot.offered_round() == Some((h, true)) {
            return Ok(());
        }
        let delta = self.consensus.chain().delta();
        let spent = privacy::epsilon(&self.state.spends()?, delta)
            .map(|e| e.epsilon)
            .unwrap_or(0.0);
        let cap = self.consensus.chain().budget(&self.me).map_or(0.0, |b| b.1);
        slot.open(
            RoundOffer {
                open: true,
                round: h,
                base_model: self.model.hash.to_hex(),
                params: self.model.params.len(),
                epsilon_spent: spent,
                epsilon_max: cap,
                delta,
                reason: String::new(),
            },
            std::sync::Arc::new(self.model.params.clone()),
        );
        self.shared.update(|s, _| {
            if let Some(t) = s.trainer.as_mut() {
                t.offered_round = h;
                t.open = true;
            }
        });
        info!(target: TARGET, round = h, "round offered to the external trainer");
        Ok(())
    }

    /// Check a trainer's submission as a peer would check the announcement, and more: shape,
    /// finiteness, the open round and model, the plan, and the budget. Nothing is stored,
    /// spent or sent for a refused one.
    fn check_submission(
        &self,
        s: &mut Submission,
    ) -> Result<(LocalUpdate, UpdateAnnouncement), Rejection> {
        let h = self.consensus.height();
        let chain = self.consensus.chain();
        if !chain.validators().contains(&self.me) {
            return Err(Rejection::conflict("this node is not a validator in force"));
        }
        if s.round != h || self.model.height + 1 != h {
            return Err(Rejection::conflict(format!(
                "round {} is not open; the open round is {h}",
                s.round
            )));
        }
        if s.base_model != self.model.hash.to_hex() {
            return Err(Rejection::conflict(format!(
                "trained from model {}, but round {h} starts from {}",
                s.base_model, self.model.hash
            )));
        }
        let released = self
            .state
            .released(h)
            .map_err(|e| Rejection::conflict(format!("the node cannot read its state: {e}")))?;
        if self.pool.contains_key(&self.me) || released.is_some() {
            return Err(Rejection::conflict(format!(
                "an update for round {h} was already released; one per round"
            )));
        }
        self.arch
            .check(&s.delta)
            .map_err(|e| Rejection::bad(format!("delta: {e}")))?;
        if s.num_examples == 0 {
            return Err(Rejection::bad("num_examples must be at least 1"));
        }
        let blob = encode_update(&s.delta);
        let update_hash = Digest::of(&blob);
        let announcement = UpdateAnnouncement {
            round: h,
            org: self.me,
            update_hash,
            base_model: self.model.hash,
            num_examples: s.num_examples,
            dp: s.dp,
            metrics: s.metrics.clone(),
        };
        limits::check_announcement(&announcement).map_err(|e| Rejection::bad(e.to_string()))?;
        chain.check_planned_spend(&announcement).map_err(|e| {
            Rejection::bad(format!("dp: {e} (GET /v1/plan?examples=N gives the plan)"))
        })?;
        let mut spends = self
            .state
            .spends()
            .map_err(|e| Rejection::conflict(format!("the node cannot read its spends: {e}")))?;
        spends.push(s.dp);
        let after = privacy::epsilon(&spends, chain.delta())
            .map_err(|e| Rejection::bad(format!("dp: {e}")))?
            .epsilon;
        let cap = chain.budget(&self.me).map_or(0.0, |b| b.1);
        if after > cap {
            return Err(Rejection::conflict(format!(
                "this update would take the member to epsilon {after:.4}, over its cap {cap}; nothing was spent"
            )));
        }
        let update = LocalUpdate {
            // Taken, not copied: it can be hundreds of megabytes, and is not needed again.
            delta: std::mem::take(&mut s.delta),
            spend: s.dp,
            metrics: s.metrics.clone(),
            examples: s.num_examples,
            encoded: Some((update_hash, blob)),
        };
        Ok((update, announcement))
    }

    /// A trainer's submission: checked, then released exactly as an update of the node's own
    /// trainer (spend durable first); the verdict goes back to the trainer.
    pub(super) async fn on_submitted(&mut self, mut s: Submitted) -> Result<(), DaemonError> {
        let round = s.submission.round;
        let (update, announcement) = match self.check_submission(&mut s.submission) {
            Ok(u) => u,
            Err(r) => {
                warn!(target: TARGET, round, reason = %r.reason, "trainer submission refused");
                self.shared.update(|s, _| {
                    if let Some(t) = s.trainer.as_mut() {
                        t.refused += 1;
                    }
                });
                let _ = s.reply.send(Err(r));
                return Ok(());
            }
        };
        self.training = Some(round);
        self.on_trained(round, Ok(update)).await?;
        let verdict = match self.state.released(round)? {
            Some(r) if r.commitment.announcement.update_hash == announcement.update_hash => {
                let delta = self.consensus.chain().delta();
                let after = privacy::epsilon(&self.state.spends()?, delta)
                    .map(|e| e.epsilon)
                    .unwrap_or(f64::NAN);
                if let Some(slot) = &self.trainer {
                    slot.close("this round's update was released");
                }
                self.shared.update(|s, _| {
                    if let Some(t) = s.trainer.as_mut() {
                        t.accepted += 1;
                        t.open = false;
                    }
                });
                Ok(Accepted {
                    update_hash: announcement.update_hash.to_hex(),
                    epsilon_after: after,
                })
            }
            _ => Err(Rejection::conflict(
                "the update was not released (see the node log)",
            )),
        };
        let _ = s.reply.send(verdict);
        Ok(())
    }
}
