//! The node: owns the consensus state machine, the stores and the model, and turns network
//! events, timers and finished background work into state-machine events and back into actions.

use super::config::NodeConfig;
use super::error::DaemonError;
use super::learner::{Learner, LocalUpdate};
use super::state::{NodeState, StoredModel};
use super::status::{self, Shared};
use crate::consensus::{self, Action, Consensus, Event, Message, Timer};
use crate::learn::aggregate::Aggregator;
use crate::learn::model::model_hash;
use crate::p2p::{NetworkConfig, NetworkEvent, NetworkHandle, NetworkService};
use fedledger_ledger::block::UpdateCommitment;
use fedledger_ledger::store::{LedgerStore, SledStore, LEDGER_SUBDIR};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Block, BlockHeader, Digest, Entry, Genesis, OrgId, OrgKey};
use libp2p::PeerId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

pub(super) const TARGET: &str = "fedledger::node";

/// Work finished outside the event loop.
#[derive(Debug)]
pub(super) enum Internal {
    /// A consensus timer fired.
    Timer(Timer),
    /// Local training for a round finished.
    Trained {
        round: u64,
        result: Result<LocalUpdate, String>,
    },
    /// A blob fetch finished: its verified bytes stored (their length), no peer had it
    /// (`Ok(None)`), or storing them failed.
    Blob {
        hash: Digest,
        stored: Result<Option<u64>, String>,
    },
    /// Blocks fetched for catch-up, from `org`'s node.
    Blocks { org: OrgId, blocks: Vec<Block> },
    /// A sync attempt finished (successfully or not): another may start.
    SyncDone(super::sync::SyncReport),
    /// An essential background task panicked: the node stops with this reason.
    Failed { task: &'static str, reason: String },
    /// The external trainer submitted an update.
    Submitted(super::trainer::Submitted),
}

/// An update announced for the current round.
#[derive(Debug, Clone)]
pub(super) struct PoolEntry {
    pub commitment: UpdateCommitment,
    /// Who told us (first forwarder), to fetch the bytes from.
    pub source: Option<PeerId>,
}

/// A proposal waiting for update bytes before it can be judged.
#[derive(Debug, Clone)]
pub(super) struct PendingValidation {
    pub height: u64,
    pub view: u64,
    pub header: BlockHeader,
    pub entries: Vec<Entry>,
    pub since: Instant,
}

/// The running node.
#[derive(Debug)]
pub struct Node {
    pub(super) cfg: NodeConfig,
    pub(super) genesis: Genesis,
    pub(super) key: OrgKey,
    pub(super) me: OrgId,
    pub(super) chain_id: Digest,
    pub(super) rule: Aggregator,
    pub(super) store: SledStore,
    pub(super) state: NodeState,
    pub(super) consensus: Consensus,
    /// This node's own trainer; `None` when an external trainer submits through the API.
    pub(super) learner: Option<Arc<Learner>>,
    /// The genesis model's shape.
    pub(super) arch: crate::learn::model::Architecture,
    /// The round offered to the external trainer (external mode).
    pub(super) trainer: Option<super::trainer::TrainerSlot>,
    /// The model after height `model.height`, and the ledger state at that height.
    pub(super) model: StoredModel,
    pub(super) model_chain: ChainState,
    /// Next models computed while proposing or validating, by model hash.
    pub(super) candidates: BTreeMap<Digest, Vec<f32>>,
    /// Announcements of the current round, by member; later rounds are buffered.
    pub(super) pool: BTreeMap<OrgId, PoolEntry>,
    pub(super) early: BTreeMap<u64, Vec<PoolEntry>>,
    pub(super) pending_payload: Option<(u64, u64)>,
    pub(super) pending_validation: Vec<PendingValidation>,
    pub(super) blobs_in_flight: BTreeSet<Digest>,
    /// Update bytes known to be in the blob store (a cache of the store's answer).
    pub(super) blobs_held: BTreeSet<Digest>,
    /// This round's blobs that this process hashed itself before storing them (fetched and
    /// verified, or its own): read back without hashing them again.
    pub(super) blobs_checked: BTreeSet<Digest>,
    pub(super) blob_failures: BTreeMap<Digest, u32>,
    pub(super) training: Option<u64>,
    pub(super) round_height: u64,
    pub(super) round_started: Instant,
    pub(super) exhausted_logged: bool,
    /// Epsilon over every update released so far (cached; `None` after a release).
    pub(super) released_epsilon: Option<f64>,
    /// The sync slot and which peers are backed off from it.
    pub(super) sync: super::sync::SyncPeers,
    pub(super) last_sync_probe: Instant,
    pub(super) last_reannounce: Instant,
    pub(super) net: NetworkHandle,
    /// The network service's task. It ends only when told to, so ending earlier (a panic, as a
    /// zero redial interval once caused) is fatal; this handle says why.
    pub(super) net_task: Option<tokio::task::JoinHandle<()>>,
    /// Answers peers' fetches off this loop.
    pub(super) fetch_server: super::serve::FetchServer,
    pub(super) tx: mpsc::UnboundedSender<Internal>,
    pub(super) shared: Shared,
    pub(super) peers: BTreeSet<PeerId>,
    pub(super) nonce: u64,
    pub(super) queue: VecDeque<Event>,
    pub(super) stopped_at_max: bool,
    /// Membership requests seen, by request hash.
    pub(super) requests: super::requests::RequestTable,
    /// Our own join or leave request, re-sent until recorded.
    /// Gossip queued by synchronous handlers, sent at the next turn of the loop.
    pub(super) outbox: Vec<super::wire::Gossip>,
    pub(super) last_membership_tick: Instant,
    pub(super) my_request: Option<(
        fedledger_ledger::block::MembershipRequest,
        fedledger_ledger::Signature,
    )>,
    /// The consensus drop totals last copied to the status counters.
    pub(super) last_consensus_drops: BTreeMap<&'static str, u64>,
    /// Test adversaries only (`fedledger-adversary`); `None` in every real node.
    pub(super) adversary: Option<super::adversary::Adversary>,
}

/// Open the data dir, verify the stored ledger, restore model and safety state. Refuses a
/// ledger that fails verification, naming the first bad height.
fn open_stores(
    cfg: &NodeConfig,
    genesis: &Genesis,
) -> Result<(SledStore, NodeState, Vec<Block>), DaemonError> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| DaemonError::Io {
        what: format!("creating {}", cfg.data_dir.display()),
        source: e,
    })?;
    let store = SledStore::open(&cfg.data_dir.join(LEDGER_SUBDIR))?;
    let state = NodeState::open(store.db(), Some(cfg.data_dir.join("model")))?;
    let mut chain = ChainState::new(genesis);
    let mut blocks = Vec::new();
    for b in store.blocks(1) {
        let b = b.map_err(|v| DaemonError::TamperedLedger {
            height: v.height,
            reason: v.to_string(),
        })?;
        chain
            .apply(b.clone())
            .map_err(|v| DaemonError::TamperedLedger {
                height: v.height,
                reason: v.to_string(),
            })?;
        blocks.push(b);
    }
    Ok((store, state, blocks))
}

impl Node {
    /// Start everything: stores, model, network, status listener. Returns the node and the
    /// receivers its loop consumes.
    pub(super) async fn start(
        cfg: NodeConfig,
        shared: Shared,
        adversary: Option<super::adversary::Adversary>,
    ) -> Result<
        (
            Node,
            mpsc::Receiver<NetworkEvent>,
            mpsc::UnboundedReceiver<Internal>,
        ),
        DaemonError,
    > {
        let genesis = Genesis::load(&cfg.genesis)?;
        let key = OrgKey::read_from(&cfg.key)?;
        let me = key.id();
        let rule =
            Aggregator::from_spec(&genesis.aggregation).map_err(|e| DaemonError::Config {
                key: "genesis aggregation".into(),
                reason: e.to_string(),
            })?;
        let arch = crate::learn::model::Architecture::from_spec(&genesis.model).map_err(|e| {
            DaemonError::Config {
                key: "genesis model".into(),
                reason: e.to_string(),
            }
        })?;
        let learner = if cfg.training.is_external() {
            None
        } else if !arch.is_builtin() {
            return Err(DaemonError::Config {
                key: "training.mode".into(),
                reason: "the genesis model is a tensors layout, which the node cannot train itself: set [training] mode = \"external\" and train it through the trainer API".into(),
            });
        } else {
            Some(Arc::new(Learner::new(
                &cfg.data,
                &cfg.training,
                &genesis,
                me,
            )?))
        };
        let (store, state, blocks) = open_stores(&cfg, &genesis)?;
        let tip = blocks.len() as u64;
        let init = arch.init(genesis.model.init_seed);
        let model = match state.model()? {
            Some(m) if m.height <= tip && m.params.len() == init.len() => m,
            Some(m) => {
                return Err(DaemonError::State(format!(
                    "the stored model is for height {} with {} parameters; the ledger ends at {tip} and the model has {}",
                    m.height,
                    m.params.len(),
                    init.len()
                )))
            }
            None => StoredModel {
                height: 0,
                hash: model_hash(&init),
                params: init,
            },
        };
        let mut model_chain = ChainState::new(&genesis);
        for b in blocks.iter().take(model.height as usize) {
            model_chain
                .apply(b.clone())
                .map_err(|v| DaemonError::TamperedLedger {
                    height: v.height,
                    reason: v.to_string(),
                })?;
        }
        if model.height > 0 && model_chain.model_hash() != model.hash {
            return Err(DaemonError::State(format!(
                "the stored model {} is not the one committed at height {}",
                model.hash.short(),
                model.height
            )));
        }
        let safety = state.safety()?;
        let mut ccfg = consensus::Config::from_genesis(&genesis);
        // Re-sends go to every peer through gossip; at a quarter of the view timeout they swamp
        // larger consortia on small machines. Half the view timeout still lands before it fires.
        ccfg.retry_ms = (ccfg.view_timeout_ms / 2).max(1000);
        let block_hashes: Vec<Digest> = blocks.iter().map(|b| b.header.hash()).collect();
        let consensus = Consensus::restore(
            ccfg,
            OrgKey::from_secret(key.secret_bytes(), key.name.clone()),
            &genesis,
            blocks,
            safety,
        )
        .map_err(|e| DaemonError::State(e.to_string()))?;
        let chain_id = consensus.chain().chain_id();
        shared.transparency.append(&block_hashes, &chain_id, &key);
        shared.transparency.attach_store(store.clone());
        let parse = |list: &[String]| -> Vec<libp2p::Multiaddr> {
            list.iter().filter_map(|a| a.parse().ok()).collect()
        };
        let (service, net, events) = NetworkService::new(
            &key,
            NetworkConfig {
                listen: parse(&cfg.network.listen),
                bootstrap: parse(&cfg.network.bootstrap),
                topic: format!("fedledger/{}", chain_id.to_hex()),
                heartbeat: Duration::from_millis(cfg.network.heartbeat_ms),
                redial_every: Duration::from_millis(cfg.network.redial_ms),
            },
        )?;
        // One registry for the node's figures and libp2p's own (recorded in the swarm loop).
        let mut registry = status::metrics::node_registry(&shared);
        let net_task = tokio::spawn(service.with_metrics(&mut registry).run());
        shared.attach_network_stats(net.stats().clone());
        let fetch_server =
            super::serve::FetchServer::new(store.clone(), net.stats().clone(), shared.clone());
        if !cfg.status.listen.is_empty() {
            if let Ok(addr) = cfg.status.listen.parse() {
                // A new token at every start, before the listener accepts anything.
                let admin = status::AdminSettings {
                    token: status::AdminToken::create_in(&cfg.data_dir)?,
                    allow_remote: cfg.status.allow_remote_admin,
                };
                status::serve(addr, shared.clone(), Arc::new(registry), admin).await?;
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let trainer = if cfg.training.is_external() {
            let addr = cfg
                .training
                .trainer_listen
                .parse()
                .map_err(|_| DaemonError::Config {
                    key: "training.trainer_listen".into(),
                    reason: format!("`{}` is not an IP:port", cfg.training.trainer_listen),
                })?;
            let slot = super::trainer::TrainerSlot::default();
            let (submit, mut submitted) = mpsc::unbounded_channel();
            let api = super::trainer::serve(
                addr,
                &cfg.data_dir,
                slot.clone(),
                submit,
                genesis.dp.clone(),
                arch.layout(),
            )
            .await?;
            shared.update(|s, _| {
                s.trainer = Some(status::TrainerStatus {
                    api: api.to_string(),
                    ..Default::default()
                })
            });
            let itx = tx.clone();
            tokio::spawn(async move {
                while let Some(s) = submitted.recv().await {
                    if itx.send(Internal::Submitted(s)).is_err() {
                        break;
                    }
                }
            });
            Some(slot)
        } else {
            None
        };
        let member = genesis.members.iter().any(|m| m.id == me);
        shared.update(|s, _| {
            s.org = me.to_hex();
            s.name = key.name.clone();
            s.chain_id = chain_id.to_hex();
            s.member = member;
            s.peer_id = net.local_peer().to_string();
        });
        info!(
            target: TARGET,
            org = %me.short(),
            chain = %chain_id.short(),
            height = tip,
            model_height = model.height,
            peer = %net.local_peer(),
            "node started"
        );
        let node = Node {
            cfg,
            genesis,
            me,
            key,
            chain_id,
            rule,
            store,
            state,
            consensus,
            learner,
            arch,
            trainer,
            model,
            model_chain,
            candidates: BTreeMap::new(),
            pool: BTreeMap::new(),
            early: BTreeMap::new(),
            pending_payload: None,
            pending_validation: Vec::new(),
            blobs_in_flight: BTreeSet::new(),
            blobs_held: BTreeSet::new(),
            blobs_checked: BTreeSet::new(),
            blob_failures: BTreeMap::new(),
            training: None,
            round_height: 0,
            round_started: Instant::now(),
            exhausted_logged: false,
            released_epsilon: None,
            sync: super::sync::SyncPeers::new(crate::p2p::MAX_BLOCKS_PER_RESPONSE),
            last_sync_probe: Instant::now(),
            last_reannounce: Instant::now(),
            net,
            net_task: Some(net_task),
            fetch_server,
            tx,
            shared,
            peers: BTreeSet::new(),
            nonce: rand::random(),
            queue: VecDeque::new(),
            stopped_at_max: false,
            requests: super::requests::RequestTable::new(
                super::membership::MAX_PENDING_JOINS,
                super::membership::REQUEST_STALE_AFTER,
            ),
            my_request: None,
            adversary,
            last_consensus_drops: BTreeMap::new(),
            outbox: Vec::new(),
            last_membership_tick: Instant::now()
                .checked_sub(Duration::from_secs(10))
                .unwrap_or_else(Instant::now),
        };
        Ok((node, events, rx))
    }

    /// Run until SIGINT/SIGTERM or a fatal error.
    pub(super) async fn run(
        mut self,
        mut events: mpsc::Receiver<NetworkEvent>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
    ) -> Result<(), DaemonError> {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut term = signal_term()?;
        self.queue.push_back(Event::Start);
        let result = loop {
            if let Err(e) = self.drive().await {
                break Err(e);
            }
            if let Err(e) = self.progress().await {
                break Err(e);
            }
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.on_network(ev).await,
                    // Only the network service sends events, and it stops only when we tell it to.
                    None => break Err(self.network_ended().await),
                },
                Some(i) = internal.recv() => {
                    if let Err(e) = self.on_internal(i).await {
                        break Err(e);
                    }
                }
                _ = tick.tick() => self.on_tick().await,
                _ = tokio::signal::ctrl_c() => {
                    info!(target: TARGET, "SIGINT: shutting down");
                    break Ok(());
                }
                _ = term.recv() => {
                    info!(target: TARGET, "SIGTERM: shutting down");
                    break Ok(());
                }
            }
        };
        if let Err(e) = &result {
            error!(target: TARGET, error = %e, "stopping on a fatal error");
        }
        self.net.shutdown().await;
        self.store.flush()?;
        info!(target: TARGET, height = self.consensus.chain().height(), "stopped");
        result
    }

    /// Why the network service's task ended without being asked to (its panic message).
    async fn network_ended(&mut self) -> DaemonError {
        task_ended("network", self.net_task.take()).await
    }

    /// Feed queued events to consensus and execute the actions, in order.
    pub(super) async fn drive(&mut self) -> Result<(), DaemonError> {
        while let Some(ev) = self.queue.pop_front() {
            let before = self.consensus.height();
            let actions = self.consensus.step(ev);
            for a in actions {
                self.execute(a).await?;
            }
            let stats = self.consensus.stats();
            let mut drops = stats.drops.clone();
            if stats.equivocations > 0 {
                drops.insert("equivocation", stats.equivocations);
            }
            if self.consensus.height() != before || drops != self.last_consensus_drops {
                let view_changes = stats.view_changes;
                self.last_consensus_drops = drops.clone();
                self.shared.update(|_, c| {
                    c.view_changes = view_changes;
                    c.consensus_drops = drops;
                });
            }
        }
        Ok(())
    }

    async fn execute(&mut self, action: Action) -> Result<(), DaemonError> {
        match action {
            Action::Persist(s) => {
                let t = Instant::now();
                self.state.put_safety(&s)?;
                tracing::debug!(target: TARGET, us = t.elapsed().as_micros() as u64, "safety state persisted");
            }
            Action::Broadcast(m) => {
                tracing::debug!(target: TARGET, kind = m.kind_name(), height = m.height(), "broadcast");
                self.publish_consensus(m).await
            }
            Action::Send { to, message } => match message {
                Message::SyncRequest { from_height } => self.request_blocks(Some(to), from_height),
                other => self.publish_consensus(other).await,
            },
            Action::StartTimer { timer, after_ms } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                    let _ = tx.send(Internal::Timer(timer));
                });
            }
            Action::RequestPayload { height, view, .. } => {
                self.pending_payload = Some((height, view));
            }
            Action::RequestValidation {
                height,
                view,
                header,
                entries,
            } => self.pending_validation.push(PendingValidation {
                height,
                view,
                header,
                entries,
                since: Instant::now(),
            }),
            Action::Commit(block) => self.commit(block)?,
            Action::ServeBlocks { .. } => {
                // Blocks are served over request-response (see `serve_fetch`), never as gossip.
            }
        }
        Ok(())
    }

    fn commit(&mut self, block: Block) -> Result<(), DaemonError> {
        let h = block.header.height;
        if self.store.tip()?.map_or(0, |t| t.0) >= h {
            return Ok(());
        }
        self.store.append(&block)?;
        self.shared
            .transparency
            .append(&[block.header.hash()], &self.chain_id, &self.key);
        let latency = self.round_started.elapsed().as_secs_f64();
        let summary = block.entries.iter().find_map(|e| match e {
            Entry::Summary(s) => Some(s.clone()),
            _ => None,
        });
        info!(
            target: TARGET,
            height = h,
            view = block.header.view,
            block = %block.header.hash().short(),
            model = %block.header.model_hash.short(),
            included = summary.as_ref().map_or(0, |s| s.included),
            excluded = summary.as_ref().map_or(0, |s| s.excluded),
            at_ms = unix_ms(),
            "committed"
        );
        let excluded_orgs: Vec<String> = block
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Exclusion(x) => Some(x.org.to_hex()),
                _ => None,
            })
            .collect();
        let chain = self.consensus.chain();
        let (spent, cap) = chain.budget(&self.me).unwrap_or((0.0, 0.0));
        let members: Vec<status::MemberBudget> = chain
            .validators()
            .iter()
            .map(|v| {
                let (spent, cap) = chain.budget(v).unwrap_or((0.0, 0.0));
                status::MemberBudget {
                    org: v.to_hex(),
                    name: self
                        .genesis
                        .members
                        .iter()
                        .find(|m| m.id == *v)
                        .map(|m| m.name.clone())
                        .unwrap_or_default(),
                    epsilon_spent: spent,
                    epsilon_max: cap,
                }
            })
            .collect();
        self.shared.update(|s, _| {
            s.members = members;
            s.height = h;
            s.last_block_hash = block.header.hash().to_hex();
            s.budget.spent = spent;
            s.budget.cap = cap;
            if let Some(sum) = &summary {
                s.last_metrics = Some(status::RoundMetricsStatus {
                    round: sum.round,
                    accuracy: sum.metrics.accuracy,
                    auc: sum.metrics.auc,
                    loss: sum.metrics.loss,
                });
                s.last_excluded = sum.excluded;
                s.last_excluded_orgs = excluded_orgs;
            }
        });
        self.shared.record_round(latency);
        Ok(())
    }

    async fn on_internal(&mut self, i: Internal) -> Result<(), DaemonError> {
        match i {
            Internal::Timer(t) => {
                if !self.stopped_at_max {
                    self.queue.push_back(Event::Timer(t));
                }
            }
            Internal::Trained { round, result } => self.on_trained(round, result).await?,
            Internal::Submitted(s) => self.on_submitted(s).await?,
            Internal::Blob { hash, stored } => self.on_blob(hash, stored)?,
            Internal::Blocks { org, blocks } => {
                if !blocks.is_empty() {
                    self.shared
                        .update(|_, c| c.synced_blocks += blocks.len() as u64);
                    self.queue.push_back(Event::Message {
                        from: org,
                        message: Message::SyncResponse { blocks },
                    });
                }
            }
            Internal::SyncDone(r) => self.on_sync_done(r),
            Internal::Failed { task, reason } => {
                return Err(DaemonError::TaskFailed { task, reason })
            }
        }
        Ok(())
    }

    async fn on_tick(&mut self) {
        for c in self.shared.take_admin() {
            self.on_admin(c);
        }
        if let Ok(p) = self.net.peers().await {
            self.peers = p.into_iter().collect();
        }
        let n = self.peers.len();
        let view = self.consensus.view();
        self.shared.update(|s, _| {
            s.peers = n;
            s.view = view;
        });
        // Catch-up that does not depend on anyone gossiping: ask a peer for blocks past our tip.
        if self.last_sync_probe.elapsed() >= Duration::from_millis(1000) {
            self.last_sync_probe = Instant::now();
            let next = self.consensus.chain().height() + 1;
            self.request_blocks(None, next);
        }
        // Peers that (re)started after our announcement would otherwise never fetch our update.
        if self.last_reannounce.elapsed() >= Duration::from_millis(3000) {
            self.last_reannounce = Instant::now();
            if !self.stopped_at_max {
                self.reannounce().await;
            }
        }
        self.adversary_tick().await;
        if self.last_membership_tick.elapsed() >= Duration::from_millis(1000) {
            self.last_membership_tick = Instant::now();
            if !self.stopped_at_max {
                self.membership_tick().await;
            }
        }
    }

    /// The height after which this node stops (genesis `max_rounds`, or `training.stop_after`).
    pub(super) fn last_round(&self) -> Option<u64> {
        let cfg = self.cfg.training.stop_after;
        let gen = self.genesis.rounds.max_rounds;
        match (cfg, gen) {
            (0, 0) => None,
            (0, g) => Some(g),
            (c, 0) => Some(c),
            (c, g) => Some(c.min(g)),
        }
    }

    pub(super) fn warn_drop(&self, reason: &str, detail: &str) {
        warn!(target: TARGET, reason, detail, "input dropped");
        self.shared.reject(reason);
    }
}

/// The fatal error for an essential task that ended on its own: its panic message, or that it
/// stopped. Called once its channel has closed, so the task is finishing or finished.
pub(super) async fn task_ended(
    task: &'static str,
    handle: Option<tokio::task::JoinHandle<()>>,
) -> DaemonError {
    let stopped = || "it stopped without being asked to".to_string();
    let reason = match handle {
        Some(h) => match tokio::time::timeout(Duration::from_secs(5), h).await {
            Ok(Ok(())) => stopped(),
            Ok(Err(e)) => join_error_reason(e),
            Err(_) => "it closed its event channel and did not finish".to_string(),
        },
        None => stopped(),
    };
    DaemonError::TaskFailed { task, reason }
}

/// The panic message of a task, or how it ended.
pub(super) fn join_error_reason(e: tokio::task::JoinError) -> String {
    if e.is_cancelled() {
        return "it was cancelled".into();
    }
    match e.try_into_panic() {
        Ok(payload) => panic_message(payload.as_ref()),
        Err(e) => e.to_string(),
    }
}

/// The text of a panic payload (`panic!` gives `&str` or `String`).
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".into()
    }
}

/// Wall-clock milliseconds, for log lines that tools correlate across nodes.
pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(unix)]
fn signal_term() -> Result<tokio::signal::unix::Signal, DaemonError> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| {
        DaemonError::Io {
            what: "installing the SIGTERM handler".into(),
            source: e,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_reports_its_message() {
        let t = tokio::spawn(async {
            let zero = std::hint::black_box(0u64);
            // What `redial_ms = 0` did to the network task.
            let _ = tokio::time::interval(Duration::from_millis(zero));
        });
        let reason = join_error_reason(t.await.unwrap_err());
        assert!(reason.starts_with("panicked: "), "{reason}");
        assert!(reason.contains("must be non-zero"), "{reason}");
    }

    #[tokio::test]
    async fn an_essential_task_that_ends_is_a_fatal_error_naming_it() {
        // Like the network service: it owns the event sender, and the node sees the channel
        // close when it dies.
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let h = tokio::spawn(async move {
            let _tx = tx;
            let zero = std::hint::black_box(0u64);
            let _ = tokio::time::interval(Duration::from_millis(zero));
        });
        assert!(rx.recv().await.is_none());
        let e = task_ended("network", Some(h)).await.to_string();
        assert!(
            e.starts_with("the network task failed: panicked: ") && e.contains("non-zero"),
            "{e}"
        );
        let quiet = tokio::spawn(async {});
        let e = task_ended("network", Some(quiet)).await.to_string();
        assert_eq!(
            e,
            "the network task failed: it stopped without being asked to"
        );
    }
}
