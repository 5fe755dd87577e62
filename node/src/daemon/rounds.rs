//! The training round around consensus: train and release (spend recorded first), collect the
//! members' updates, build the leader's payload, judge proposals by recomputing them, and keep
//! the global model in step with the committed ledger.

use super::blob_fetch::is_update_of;
use super::driver::{Node, PoolEntry, TARGET};
use super::error::DaemonError;
use super::learner::LocalUpdate;
use super::state::{ReleasedUpdate, StoredModel};
use super::stored_deltas::StoredDeltas;
use super::wire::Gossip;
use crate::consensus::{Event, Payload};
use crate::learn::model::encode_update;
use crate::p2p::{peer_of_org, MAX_GOSSIP_BYTES};
use crate::round::{check_block, compute_round};
use fedledger_ledger::block::{limits, UpdateAnnouncement, UpdateCommitment};
use fedledger_ledger::privacy;
use fedledger_ledger::store::LedgerStore;
use fedledger_ledger::{codec, Digest, Entry};
use std::time::{Duration, Instant};

/// The most a proposal's entries may take: the gossip limit less room for the header, the
/// signature, the envelope and membership changes.
const MAX_PROPOSAL_ENTRY_BYTES: usize = MAX_GOSSIP_BYTES - 128 * 1024;
use tracing::{debug, error, info, warn};

impl Node {
    /// Everything that may have become possible since the last event.
    pub(super) async fn progress(&mut self) -> Result<(), DaemonError> {
        for g in std::mem::take(&mut self.outbox) {
            let _ = self.publish(g).await;
        }
        let tip = self.consensus.chain().height();
        if let Some(last) = self.last_round() {
            if tip >= last && !self.stopped_at_max {
                self.stopped_at_max = true;
                info!(target: TARGET, height = tip, "reached the last round; serving the ledger only");
            }
        }
        if self.consensus.height() != self.round_height {
            self.new_round();
        }
        self.advance_model()?;
        if !self.stopped_at_max {
            self.maybe_train().await?;
            self.maybe_propose()?;
        }
        self.validate_pending()?;
        self.refresh_status();
        Ok(())
    }

    fn new_round(&mut self) {
        let h = self.consensus.height();
        self.round_height = h;
        self.round_started = Instant::now();
        self.pool.clear();
        // The state machine may already have asked for this height's payload.
        self.pending_payload = self.pending_payload.filter(|(ph, _)| *ph >= h);
        self.pending_validation.retain(|p| p.height >= h);
        self.candidates.clear();
        self.blob_failures.clear();
        self.blobs_held.clear();
        self.blobs_checked.clear();
        let early = self.early.remove(&h).unwrap_or_default();
        self.early.retain(|r, _| *r > h);
        for e in early {
            let _ = self.on_announce(e.commitment, e.source);
        }
        debug!(target: TARGET, height = h, "round started");
    }

    /// Apply committed blocks to the model, recomputing each from the update bytes (fetching
    /// missing ones) unless this node already computed it while deciding.
    fn advance_model(&mut self) -> Result<(), DaemonError> {
        while self.model.height < self.consensus.chain().height() {
            let h = self.model.height + 1;
            let Some(block) = self.store.block(h)? else {
                return Err(DaemonError::State(format!(
                    "committed block {h} is missing"
                )));
            };
            let next = match self.candidates.remove(&block.header.model_hash) {
                Some(m) => m,
                None => {
                    let Some(deltas) = self.load_deltas(&block.entries, None) else {
                        return Ok(()); // waiting for bytes
                    };
                    match check_block(
                        &self.model_chain,
                        &self.rule,
                        self.genesis.f,
                        &self.model.params,
                        &block.entries,
                        &block.header.model_hash,
                        &deltas,
                    ) {
                        Ok(r) => r.model,
                        Err(e) => {
                            return Err(DaemonError::State(format!(
                                "the finalized block {h} does not recompute: {e}"
                            )))
                        }
                    }
                }
            };
            self.model_chain
                .apply(block.clone())
                .map_err(|v| DaemonError::State(format!("re-applying block {h}: {v}")))?;
            self.model = StoredModel {
                height: h,
                hash: block.header.model_hash,
                params: next,
            };
            self.state.put_model(&self.model)?;
        }
        Ok(())
    }

    /// The deltas of the entries' updates, read from the blob store as a round needs them, or
    /// `None` after requesting the missing bytes. Nothing is read until every blob is here:
    /// this runs on every event while a proposal waits. A blob not hashed on its way in (one
    /// stored before a restart) is checked once here; one that fails is discarded and fetched
    /// again.
    fn load_deltas(
        &mut self,
        entries: &[Entry],
        proposer: Option<libp2p::PeerId>,
    ) -> Option<StoredDeltas> {
        let updates: Vec<&UpdateCommitment> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Update(u) => Some(u),
                _ => None,
            })
            .collect();
        let mut missing = false;
        for u in &updates {
            let h = u.announcement.update_hash;
            if !self.have_blob(&h) {
                missing = true;
                let first = proposer
                    .into_iter()
                    .chain(peer_of_org(&u.announcement.org))
                    .collect();
                self.want_blob(h, first);
            }
        }
        if missing {
            return None;
        }
        let params = self.arch.num_params();
        for u in updates {
            let h = u.announcement.update_hash;
            if self.blobs_checked.contains(&h) {
                continue;
            }
            let good = matches!(self.store.blob(&h), Ok(Some(b)) if is_update_of(&b, params));
            if good {
                self.blobs_checked.insert(h);
                continue;
            }
            // Held but unreadable or corrupt on disk: fetch it again.
            warn!(target: TARGET, blob = %h.short(), "a stored update does not read back; fetching it again");
            self.blobs_held.remove(&h);
            if let Err(e) = self.store.discard_blob(&h) {
                warn!(target: TARGET, blob = %h.short(), error = %e, "cannot discard a corrupt update");
            }
            missing = true;
            let first = proposer
                .into_iter()
                .chain(peer_of_org(&u.announcement.org))
                .collect();
            self.want_blob(h, first);
        }
        (!missing).then(|| StoredDeltas::new(self.store.clone()))
    }

    /// Train for the current round if this member should and can afford it.
    async fn maybe_train(&mut self) -> Result<(), DaemonError> {
        let h = self.consensus.height();
        let member = self.consensus.chain().validators().contains(&self.me);
        if !member || self.training.is_some() || self.model.height + 1 != h {
            if let Some(slot) = &self.trainer {
                if !member {
                    slot.close("this node is not a validator in force: no update is taken");
                }
            }
            return Ok(());
        }
        if self.pool.contains_key(&self.me) {
            return Ok(());
        }
        if let Some(released) = self.state.released(h)? {
            // Released before a restart: the same update again, never a second one.
            info!(target: TARGET, round = h, "re-announcing the update released before the restart");
            self.release(released.commitment).await;
            return Ok(());
        }
        let Some(learner) = self.learner.clone() else {
            self.offer_round(h)?;
            return Ok(());
        };
        if self.exhausted_logged {
            // Spends only grow and the planned one is fixed: once over the cap, always over.
            return Ok(());
        }
        let planned = learner.planned_spend();
        let mut spends = self.state.spends()?;
        spends.push(planned);
        let delta = self.consensus.chain().delta();
        let after = privacy::epsilon(&spends, delta)
            .map(|e| e.epsilon)
            .unwrap_or(f64::INFINITY);
        let cap = self.consensus.chain().budget(&self.me).map_or(0.0, |b| b.1);
        if after > cap {
            if !self.exhausted_logged {
                warn!(target: TARGET, round = h, epsilon_after = after, cap, "privacy budget exhausted: this member stops contributing and keeps validating");
                self.exhausted_logged = true;
            }
            self.shared.update(|s, _| s.budget.exhausted = true);
            return Ok(());
        }
        self.training = Some(h);
        let params = self.model.params.clone();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            // A panic here would leave `training` set forever: the member would stop contributing
            // without a word. It is a bug, so it stops the node, saying so.
            let run = std::panic::AssertUnwindSafe(|| learner.train(h, &params));
            let msg = match std::panic::catch_unwind(run) {
                Ok(result) => super::driver::Internal::Trained {
                    round: h,
                    result: result.map_err(|e| e.to_string()),
                },
                Err(p) => super::driver::Internal::Failed {
                    task: "training",
                    reason: super::driver::panic_message(p.as_ref()),
                },
            };
            let _ = tx.send(msg);
        });
        Ok(())
    }

    pub(super) async fn on_trained(
        &mut self,
        round: u64,
        result: Result<LocalUpdate, String>,
    ) -> Result<(), DaemonError> {
        self.training = None;
        let mut u = match result {
            Ok(u) => u,
            Err(e) => {
                // An error, not a warning: a member that fails every round contributes nothing.
                error!(target: TARGET, round, error = %e, "local training failed; skipping this round");
                return Ok(());
            }
        };
        if round != self.consensus.height() || self.model.height + 1 != round {
            debug!(target: TARGET, round, "training finished after its round; discarded");
            return Ok(());
        }
        let (hash, blob) = match u.encoded.take() {
            Some(encoded) => encoded,
            None => {
                let blob = encode_update(&u.delta);
                (Digest::of(&blob), blob)
            }
        };
        self.store.put_checked_blob(&hash, &blob)?;
        drop(blob);
        self.blobs_held.insert(hash);
        self.blobs_checked.insert(hash);
        let mut announcement = UpdateAnnouncement {
            round,
            org: self.me,
            update_hash: hash,
            base_model: self.model.hash,
            num_examples: u.examples,
            dp: u.spend,
            metrics: u.metrics,
        };
        self.adversary_claims(&mut announcement);
        let commitment = announcement.sign(&self.key, &self.chain_id);
        let checked = limits::check_announcement(&commitment.announcement);
        if let (Err(e), None) = (checked, &self.adversary) {
            // Peers would reject it; releasing it would only spend budget for nothing.
            warn!(target: TARGET, round, error = %e, "own update's claims are out of range; not released");
            return Ok(());
        }
        // The spend is durable before the update can leave this machine.
        self.state.put_released(&ReleasedUpdate {
            commitment: commitment.clone(),
        })?;
        self.released_epsilon = None;
        info!(target: TARGET, round, update = %hash.short(), "update released");
        let announcement = commitment.announcement.clone();
        self.release(commitment).await;
        self.adversary_after_release(&announcement, &u.delta).await;
        Ok(())
    }

    async fn release(&mut self, c: UpdateCommitment) {
        self.pool.insert(
            self.me,
            PoolEntry {
                commitment: c.clone(),
                source: None,
            },
        );
        let _ = self.publish(Gossip::Announce(c)).await;
    }

    /// Re-announce our update (peers that started late or restarted missed it).
    pub(super) async fn reannounce(&mut self) {
        if let Some(e) = self.pool.get(&self.me) {
            let c = e.commitment.clone();
            let _ = self.publish(Gossip::Announce(c)).await;
        }
    }

    /// Leader: answer the payload request once enough updates are here.
    fn maybe_propose(&mut self) -> Result<(), DaemonError> {
        let Some((h, v)) = self.pending_payload else {
            return Ok(());
        };
        if h != self.consensus.height() || self.model.height + 1 != h {
            return Ok(());
        }
        let chain = self.consensus.chain();
        let validators = chain.validators().len();
        let quorum = chain.quorum();
        let elapsed = self.round_started.elapsed();
        let collect = Duration::from_millis(self.genesis.rounds.collect_timeout_ms);
        let mut ready: Vec<UpdateCommitment> = Vec::new();
        let hashes: Vec<Digest> = self
            .pool
            .values()
            .map(|e| e.commitment.announcement.update_hash)
            .collect();
        let held: Vec<bool> = hashes.iter().map(|h| self.have_blob(h)).collect();
        let chain = self.consensus.chain();
        for (e, have) in self.pool.values().zip(held) {
            let a = &e.commitment.announcement;
            let affordable = match (chain.epsilon_after(&a.org, &a.dp), chain.budget(&a.org)) {
                (Ok(eps), Some((_, cap))) => eps <= cap,
                _ => false,
            };
            // Validators reject a block that records an unplanned spend: leave such an update out
            // rather than propose a block that cannot pass.
            let affordable = affordable && chain.check_planned_spend(a).is_ok();
            if have && affordable && a.base_model == self.model.hash {
                ready.push(e.commitment.clone());
            }
        }
        let n = ready.len();
        let accepts = fedledger_ledger::genesis::check_rule(
            &self.genesis.aggregation.rule,
            n as u64,
            self.genesis.f,
        )
        .is_ok();
        let go = accepts
            && (n == validators || (n >= quorum && elapsed >= collect / 2) || elapsed >= collect);
        if !go {
            return Ok(());
        }
        let deltas = match self.load_deltas(
            &ready.iter().cloned().map(Entry::Update).collect::<Vec<_>>(),
            None,
        ) {
            Some(d) => d,
            None => return Ok(()),
        };
        let r = loop {
            let r = match compute_round(
                self.consensus.chain(),
                &self.rule,
                self.genesis.f,
                &self.model.params,
                ready.clone(),
                &deltas,
            ) {
                Ok(r) => r,
                Err(e) => {
                    warn!(target: TARGET, height = h, error = %e, "cannot build this round's block yet");
                    return Ok(());
                }
            };
            // A proposal larger than a gossip message would never be seen: shed the bulkiest
            // claims (deterministically) until it fits, rather than propose into the void.
            let size: usize = r.entries.iter().map(|e| e.encode().len()).sum();
            if size <= MAX_PROPOSAL_ENTRY_BYTES {
                break r;
            }
            let Some(i) = (0..ready.len()).max_by_key(|&i| {
                let a = &ready[i].announcement;
                (codec::encode(a).len(), std::cmp::Reverse(a.org))
            }) else {
                return Ok(());
            };
            let shed = ready.remove(i);
            warn!(target: TARGET, height = h, bytes = size, org = %shed.announcement.org.short(), "proposal over the gossip limit; leaving out the largest announcement");
            self.shared.reject("proposal-too-large");
            if fedledger_ledger::genesis::check_rule(
                &self.genesis.aggregation.rule,
                ready.len() as u64,
                self.genesis.f,
            )
            .is_err()
            {
                return Ok(());
            }
        };
        let parent_ts = self
            .store
            .block(h - 1)?
            .map_or(self.genesis.created_at_ms, |b| b.header.timestamp_ms);
        let now = super::driver::unix_ms();
        info!(target: TARGET, height = h, view = v, updates = n, included = r.included, at_ms = now, "proposing");
        self.candidates.insert(r.model_hash, r.model);
        self.pending_payload = None;
        let mut entries = r.entries;
        if let Some(change) = self.ready_membership_change(h) {
            info!(target: TARGET, height = h, "recording a membership change");
            entries.push(change);
        }
        self.queue.push_back(Event::Payload {
            height: h,
            view: v,
            payload: Payload {
                entries,
                model_hash: r.model_hash,
                timestamp_ms: now.max(parent_ts),
            },
        });
        Ok(())
    }

    /// Validator: judge proposals whose update bytes are all here.
    fn validate_pending(&mut self) -> Result<(), DaemonError> {
        let pending = std::mem::take(&mut self.pending_validation);
        // Until the view would time out anyway: large updates take longer to fetch than one
        // fetch timeout, and giving up early turns a slow fetch into a nullified view.
        let timeout = (self.fetch_timeout() * 2)
            .max(Duration::from_millis(self.genesis.rounds.view_timeout_ms));
        for p in pending {
            if p.height != self.consensus.height() {
                continue;
            }
            if self.model.height + 1 != p.height {
                self.pending_validation.push(p);
                continue;
            }
            let proposer = peer_of_org(&p.header.proposer);
            let result = match self.load_deltas(&p.entries, proposer) {
                None if p.since.elapsed() < timeout => {
                    self.pending_validation.push(p);
                    continue;
                }
                None => Err("the bytes of some updates could not be fetched".to_string()),
                Some(deltas) => check_block(
                    self.consensus.chain(),
                    &self.rule,
                    self.genesis.f,
                    &self.model.params,
                    &p.entries,
                    &p.header.model_hash,
                    &deltas,
                )
                .map(|r| {
                    self.candidates.insert(r.model_hash, r.model);
                }),
            };
            if let Err(e) = &result {
                warn!(target: TARGET, height = p.height, view = p.view, proposer = %p.header.proposer.short(), error = %e, "rejecting proposal");
                self.shared.reject("invalid-proposal");
            }
            self.queue.push_back(Event::Validated {
                height: p.height,
                view: p.view,
                block_hash: p.header.hash(),
                result,
            });
        }
        Ok(())
    }

    fn refresh_status(&mut self) {
        let phase = if self.stopped_at_max {
            "done"
        } else if self.model.height < self.consensus.chain().height() {
            "catching-up"
        } else if self.training.is_some() {
            "training"
        } else if self.pending_payload.is_some() || !self.pool.contains_key(&self.me) {
            "collecting"
        } else {
            "deciding"
        };
        let released = match self.released_epsilon {
            Some(e) => e,
            None => {
                let e = match self.state.spends() {
                    Ok(s) if !s.is_empty() => privacy::epsilon(&s, self.consensus.chain().delta())
                        .map_or(f64::INFINITY, |e| e.epsilon),
                    _ => 0.0,
                };
                self.released_epsilon = Some(e);
                e
            }
        };
        let model_hash = self.model.hash.to_hex();
        // From the ledger itself, so a node restarted with every block already stored (it
        // commits nothing new) still reports where it is.
        let chain = self.consensus.chain();
        let (height, tip) = (chain.height(), chain.tip_hash());
        let (spent, cap) = chain.budget(&self.me).unwrap_or((0.0, 0.0));
        self.shared.update(|s, _| {
            s.height = height;
            if height > 0 {
                s.last_block_hash = tip.to_hex();
            }
            s.budget.spent = spent;
            s.budget.cap = cap;
            s.phase = phase.into();
            s.model_hash = model_hash;
            s.budget.released = released;
            s.budget.left = (s.budget.cap - released).max(0.0);
        });
    }
}
