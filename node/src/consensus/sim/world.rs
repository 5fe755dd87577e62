//! The simulated world: nodes, a seeded virtual network, virtual time, crashes and Byzantine
//! behaviour. Single-threaded and deterministic: one seed gives one trace.

use super::app::SimApp;
use super::check::{self, RunOutcome};
use super::scenario::{Byzantine, Scenario, Setup};
use crate::consensus::config::Faults;
use crate::consensus::{
    Action, Application, Config, Consensus, Event, Message, Proposal, SafetyState, SignedVote,
    Timer, VoteKind,
};
use fedledger_ledger::block::{
    MembershipAction, MembershipApproval, MembershipChange, MembershipRequest, UpdateCommitment,
};
use fedledger_ledger::genesis::{
    AggregationSpec, DpPolicy, Genesis, MemberSpec, ModelSpec, RoundPolicy, FORMAT_VERSION,
};
use fedledger_ledger::identity::domain;
use fedledger_ledger::{Block, Digest, OrgId, OrgKey, Signature};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// Deterministic simulation key of node `i`.
pub fn sim_key(i: usize) -> OrgKey {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
    secret[31] = 0x5e;
    OrgKey::from_secret(secret, format!("sim-{i}"))
}

/// A genesis for founders `0..n` tolerating `f`, with the given timeouts.
pub fn sim_genesis(n: usize, f: u32, collect_timeout_ms: u64, view_timeout_ms: u64) -> Genesis {
    let mut members: Vec<MemberSpec> = (0..n)
        .map(|i| MemberSpec {
            id: sim_key(i).id(),
            name: format!("sim-{i}"),
            epsilon_max: 1e6,
        })
        .collect();
    members.sort_by_key(|a| a.id);
    Genesis {
        format_version: FORMAT_VERSION,
        consortium: "fedledger simulation".into(),
        created_at_ms: 1_700_000_000_000,
        f,
        model: ModelSpec {
            kind: "logistic".into(),
            features: 4,
            classes: 2,
            hidden: vec![],
            init_seed: 1,
            schema_hash: String::new(),
            tensors: Vec::new(),
            decision_threshold: None,
        },
        aggregation: AggregationSpec {
            rule: "mean".into(),
            multi_krum_m: None,
            clip_radius: None,
        },
        dp: DpPolicy {
            clip_norm: 1.0,
            noise_multiplier: 1.1,
            batch_size: 32,
            local_epochs: 1,
            delta: 1e-5,
            plan: None,
        },
        rounds: RoundPolicy {
            collect_timeout_ms,
            view_timeout_ms,
            membership_delay: 2,
            max_rounds: 0,
        },
        members,
        transparency: None,
        purpose: None,
    }
}

#[derive(Debug, Clone)]
enum Wire {
    Consensus(Message),
    Update(UpdateCommitment),
}

#[derive(Debug)]
enum Ev {
    Deliver { to: usize, from: usize, wire: Wire },
    Timer { node: usize, inc: u64, timer: Timer },
    Local { node: usize, inc: u64, event: Event },
    AppTick { node: usize, inc: u64 },
    Crash { node: usize },
    Restart { node: usize },
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: OrgId,
    secret: [u8; 32],
    pub(crate) cons: Option<Consensus>,
    app: SimApp,
    /// Durable: the ledger.
    pub(crate) store: Vec<Block>,
    /// Durable: the last persisted safety state.
    safety: Option<SafetyState>,
    inc: u64,
    pub(crate) byz: Byzantine,
    /// Crashed and never restarting: excluded from liveness.
    pub(crate) gone: bool,
    round_started: u64,
    tick_at: Option<u64>,
    /// Byzantine: messages seen, for replays; conflicting proposal hashes by (height, view).
    seen: Vec<Message>,
    alt: BTreeMap<(u64, u64), Digest>,
}

impl Node {
    fn key(&self) -> OrgKey {
        OrgKey::from_secret(self.secret, "")
    }
}

/// One simulation run.
#[derive(Debug)]
pub struct World {
    pub(crate) setup: Setup,
    pub(crate) genesis: Genesis,
    chain_id: Digest,
    cfg: Config,
    pub(crate) nodes: Vec<Node>,
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    pub(crate) now: u64,
    rng: ChaCha8Rng,
    trace: Sha256,
    /// First hash committed at each height by an honest node.
    pub(crate) finalized: BTreeMap<u64, Digest>,
    pub(crate) agreement: Vec<String>,
    pub(crate) messages: u64,
    join: Option<(u64, MembershipChange)>,
    debug: bool,
}

impl World {
    /// Build the world for `scenario` and `seed`, with the honest nodes' rules weakened by
    /// `faults` (only for showing that the checks can fail).
    pub(crate) fn new(scenario: Scenario, seed: u64, faults: Faults) -> Self {
        let salt = scenario as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt);
        let setup = scenario.setup(&mut rng);
        let genesis = sim_genesis(
            setup.n,
            setup.f,
            setup.collect_timeout_ms,
            setup.view_timeout_ms,
        );
        let chain_id = genesis.chain_id();
        let mut cfg = Config::from_genesis(&genesis);
        let join = (setup.joiners > 0).then(|| {
            let newcomer = sim_key(setup.n);
            (setup.join_from, approved_join(&genesis, &newcomer))
        });
        let total = setup.n + setup.joiners;
        let nodes = (0..total)
            .map(|i| {
                let key = sim_key(i);
                let byz = setup.byzantine.get(i).copied().unwrap_or_default();
                let mut ncfg = cfg.clone();
                if !byz.any() {
                    ncfg.faults = faults;
                }
                let cons =
                    Consensus::new(ncfg, OrgKey::from_secret(key.secret_bytes(), ""), &genesis);
                let mut app = SimApp::new(
                    OrgKey::from_secret(key.secret_bytes(), ""),
                    &genesis,
                    join.clone(),
                );
                app.poison = byz.poison;
                Node {
                    id: key.id(),
                    secret: key.secret_bytes(),
                    cons: Some(cons),
                    app,
                    store: vec![],
                    safety: None,
                    inc: 0,
                    byz,
                    gone: false,
                    round_started: 0,
                    tick_at: None,
                    seen: vec![],
                    alt: BTreeMap::new(),
                }
            })
            .collect();
        cfg.faults = faults;
        let mut w = World {
            setup,
            genesis,
            chain_id,
            cfg,
            nodes,
            queue: BTreeMap::new(),
            seq: 0,
            now: 0,
            rng,
            trace: Sha256::new(),
            finalized: BTreeMap::new(),
            agreement: vec![],
            messages: 0,
            join,
            debug: false,
        };
        for c in w.setup.crashes.clone() {
            w.push(c.at_ms, Ev::Crash { node: c.node });
            match c.restart_ms {
                Some(r) => w.push(r, Ev::Restart { node: c.node }),
                None => w.nodes[c.node].gone = true,
            }
        }
        w
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    fn record(&mut self, parts: &[&[u8]]) {
        self.trace.update(self.now.to_le_bytes());
        for p in parts {
            self.trace.update(p);
        }
    }

    /// Run and keep the world for inspection (tests).
    #[cfg(test)]
    pub(crate) fn run_debug(mut self) -> (RunOutcome, World) {
        self.debug = true;
        let o = self.run_inner();
        (o, self)
    }

    /// Run to the target height (or the time limit) and check every property.
    pub(crate) fn run(mut self) -> RunOutcome {
        self.run_inner()
    }

    fn run_inner(&mut self) -> RunOutcome {
        for i in 0..self.nodes.len() {
            self.start_node(i);
        }
        let mut done = false;
        while let Some(((t, _), ev)) = self.queue.pop_first() {
            if t > self.setup.time_limit_ms {
                break;
            }
            self.now = t;
            if self.handle(ev) && self.reached_target() {
                done = true;
                break;
            }
        }
        let trace = Digest(self.trace.clone().finalize().into());
        check::outcome(self, done, trace)
    }

    pub(crate) fn honest(&self, i: usize) -> bool {
        !self.nodes[i].byz.any()
    }

    fn reached_target(&self) -> bool {
        (0..self.nodes.len())
            .filter(|&i| self.honest(i) && !self.nodes[i].gone)
            .all(|i| self.nodes[i].store.len() as u64 >= self.setup.target_height)
    }

    fn start_node(&mut self, i: usize) {
        let actions = match self.nodes[i].cons.as_mut() {
            Some(c) => c.step(Event::Start),
            None => return,
        };
        self.execute(i, actions);
        self.start_round(i);
    }

    /// Returns whether something was committed.
    fn handle(&mut self, ev: Ev) -> bool {
        match ev {
            Ev::Deliver { to, from, wire } => {
                if self.nodes[to].cons.is_none() {
                    return false;
                }
                match wire {
                    Wire::Update(u) => {
                        let node = &mut self.nodes[to];
                        let Some(cons) = node.cons.as_ref() else {
                            return false;
                        };
                        if node.app.receive_update(cons.chain(), u) {
                            self.try_payload(to);
                        }
                        false
                    }
                    Wire::Consensus(m) => {
                        self.record(&[b"deliver", &[to as u8, from as u8], &message_tag(&m)]);
                        if self.nodes[to].byz.forge && self.nodes[to].seen.len() < 64 {
                            self.nodes[to].seen.push(m.clone());
                        }
                        let from_id = self.nodes[from].id;
                        self.step(
                            to,
                            Event::Message {
                                from: from_id,
                                message: m,
                            },
                        )
                    }
                }
            }
            Ev::Timer { node, inc, timer } => {
                if self.nodes[node].inc != inc {
                    return false;
                }
                self.record(&[b"timer", &[node as u8]]);
                if self.nodes[node].byz.forge && matches!(timer, Timer::Retry { .. }) {
                    self.forge(node);
                }
                self.step(node, Event::Timer(timer))
            }
            Ev::Local { node, inc, event } => {
                if self.nodes[node].inc != inc {
                    return false;
                }
                self.step(node, event)
            }
            Ev::AppTick { node, inc } => {
                if self.nodes[node].inc == inc {
                    self.nodes[node].tick_at = None;
                    self.try_payload(node);
                }
                false
            }
            Ev::Crash { node } => {
                if self.debug {
                    eprintln!("{} node {node} crash", self.now);
                }
                self.record(&[b"crash", &[node as u8]]);
                let n = &mut self.nodes[node];
                n.cons = None;
                n.inc += 1;
                n.tick_at = None;
                false
            }
            Ev::Restart { node } => {
                if self.debug {
                    eprintln!("{} node {node} restart", self.now);
                }
                self.record(&[b"restart", &[node as u8]]);
                self.restart(node);
                false
            }
        }
    }

    fn restart(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let byz = n.byz;
        let mut cfg = self.cfg.clone();
        if byz.any() {
            cfg.faults = Faults::default();
        }
        let cons = match Consensus::restore(
            cfg,
            n.key(),
            &self.genesis,
            n.store.clone(),
            n.safety.clone(),
        ) {
            Ok(c) => c,
            Err(e) => {
                self.agreement
                    .push(format!("node {i} could not restore: {e}"));
                return;
            }
        };
        let mut app = SimApp::new(n.key(), &self.genesis, self.join.clone());
        app.poison = byz.poison;
        for b in &n.store {
            app.committed(b);
        }
        n.app = app;
        n.cons = Some(cons);
        n.round_started = 0;
        self.start_node(i);
    }

    fn step(&mut self, i: usize, event: Event) -> bool {
        let actions = match self.nodes[i].cons.as_mut() {
            Some(c) => c.step(event),
            None => return false,
        };
        self.execute(i, actions)
    }

    /// Execute actions in order; returns whether a block was committed.
    fn execute(&mut self, i: usize, actions: Vec<Action>) -> bool {
        let mut committed = false;
        for a in actions {
            match a {
                Action::Persist(s) => self.nodes[i].safety = Some(s),
                Action::Broadcast(m) => self.send_consensus(i, None, m),
                Action::Send { to, message } => {
                    if let Some(j) = self.index_of(&to) {
                        self.send_consensus(i, Some(j), message);
                    }
                }
                Action::StartTimer { timer, after_ms } => {
                    let inc = self.nodes[i].inc;
                    self.push(
                        self.now + after_ms,
                        Ev::Timer {
                            node: i,
                            inc,
                            timer,
                        },
                    );
                }
                Action::RequestPayload { height, view, .. } => {
                    self.nodes[i].app.pending = Some((height, view));
                    self.try_payload(i);
                }
                Action::RequestValidation {
                    height,
                    view,
                    header,
                    entries,
                } => {
                    let node = &mut self.nodes[i];
                    let Some(cons) = node.cons.as_ref() else {
                        continue;
                    };
                    let result = node.app.validate(cons.chain(), &header, &entries);
                    let inc = node.inc;
                    let delay = self.rng.gen_range(1..10);
                    let event = Event::Validated {
                        height,
                        view,
                        block_hash: header.hash(),
                        result,
                    };
                    self.push(
                        self.now + delay,
                        Ev::Local {
                            node: i,
                            inc,
                            event,
                        },
                    );
                }
                Action::Commit(b) => {
                    committed = true;
                    self.on_commit(i, b);
                }
                Action::ServeBlocks {
                    to,
                    from_height,
                    to_height,
                } => {
                    let Some(j) = self.index_of(&to) else {
                        continue;
                    };
                    let store = &self.nodes[i].store;
                    let lo = usize::try_from(from_height.saturating_sub(1)).unwrap_or(usize::MAX);
                    let hi = usize::try_from(to_height)
                        .unwrap_or(usize::MAX)
                        .min(store.len());
                    if lo < hi {
                        let blocks = store[lo..hi].to_vec();
                        self.send_consensus(i, Some(j), Message::SyncResponse { blocks });
                    }
                }
            }
        }
        if committed {
            self.start_round(i);
        }
        committed
    }

    fn on_commit(&mut self, i: usize, b: Block) {
        let h = b.header.height;
        let hash = b.hash();
        if self.debug {
            eprintln!(
                "{} node {i} commit h{h} v{} {}",
                self.now,
                b.header.view,
                hash.short()
            );
        }
        self.record(&[b"commit", &[i as u8], hash.as_bytes()]);
        if self.honest(i) {
            match self.finalized.get(&h) {
                None => {
                    self.finalized.insert(h, hash);
                }
                Some(x) if *x != hash => self.agreement.push(format!(
                    "height {h}: node {i} committed {}, another honest node committed {}",
                    hash.short(),
                    x.short()
                )),
                Some(_) => {}
            }
        }
        let node = &mut self.nodes[i];
        if node.store.len() as u64 + 1 != h {
            self.agreement.push(format!(
                "node {i} committed height {h} on top of {} stored blocks",
                node.store.len()
            ));
        }
        node.app.committed(&b);
        node.store.push(b);
    }

    /// A new round (height) begins at node `i`: sign and gossip its update.
    fn start_round(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        let Some(cons) = node.cons.as_ref() else {
            return;
        };
        let h = cons.height();
        if node.round_started == h {
            return;
        }
        node.round_started = h;
        node.app.now_ms = now;
        if let Some(u) = node.app.start_round(cons.chain()) {
            for j in 0..self.nodes.len() {
                if j != i {
                    self.deliver(i, j, Wire::Update(u.clone()));
                }
            }
        }
        self.try_payload(i);
    }

    fn try_payload(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        let Some(cons) = node.cons.as_ref() else {
            return;
        };
        let Some((h, v)) = node.app.pending else {
            return;
        };
        if h != cons.height() {
            node.app.pending = None;
            return;
        }
        node.app.now_ms = now;
        match node.app.payload(cons.chain(), h, v) {
            Some(payload) => {
                node.app.pending = None;
                let inc = node.inc;
                let event = Event::Payload {
                    height: h,
                    view: v,
                    payload,
                };
                self.push(
                    now + 1,
                    Ev::Local {
                        node: i,
                        inc,
                        event,
                    },
                );
            }
            None => {
                let at = node.app.deadline_ms().max(now + 1);
                if node.tick_at.is_none() {
                    node.tick_at = Some(at);
                    let inc = node.inc;
                    self.push(at, Ev::AppTick { node: i, inc });
                }
            }
        }
    }

    fn index_of(&self, id: &OrgId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == *id)
    }

    /// Send from node `i` to `to` (or everyone), through its Byzantine filter.
    fn send_consensus(&mut self, i: usize, to: Option<usize>, m: Message) {
        let byz = self.nodes[i].byz;
        let me = self.nodes[i].id;
        if byz.withhold && matches!(m, Message::Vote(_) | Message::Certificate(_)) {
            return;
        }
        // A conflicting twin for the odd-numbered recipients.
        let mut twin: Option<Message> = None;
        match &m {
            Message::Propose(p) if byz.equivocate && p.header.proposer == me => {
                let mut header = p.header.clone();
                header.timestamp_ms += 1;
                let alt = Proposal::sign(header, p.entries.clone(), &self.nodes[i].key());
                self.nodes[i]
                    .alt
                    .insert((p.header.height, p.header.view), alt.header.hash());
                twin = Some(Message::Propose(Box::new(alt)));
            }
            Message::Vote(v)
                if byz.double_vote && v.signer == me && v.kind != VoteKind::Nullify =>
            {
                let other = self.nodes[i]
                    .alt
                    .get(&(v.height, v.view))
                    .copied()
                    .filter(|h| *h != v.block_hash)
                    .unwrap_or_else(|| Digest::of_parts(&[b"alt", v.block_hash.as_bytes()]));
                let key = self.nodes[i].key();
                twin = Some(Message::Vote(SignedVote::sign(
                    v.kind,
                    v.height,
                    v.view,
                    other,
                    &key,
                    &self.chain_id,
                )));
            }
            _ => {}
        }
        let targets: Vec<usize> = match to {
            Some(j) => vec![j],
            None => (0..self.nodes.len()).filter(|&j| j != i).collect(),
        };
        for j in targets {
            let msg = match (&twin, j % 2) {
                (Some(t), 1) => t.clone(),
                _ => m.clone(),
            };
            self.deliver(i, j, Wire::Consensus(msg));
        }
    }

    fn deliver(&mut self, from: usize, to: usize, wire: Wire) {
        let net = &self.setup.net;
        let cut = net.partitions.iter().any(|p| {
            self.now >= p.start_ms && self.now < p.end_ms && p.side.get(from) != p.side.get(to)
        });
        if cut {
            return;
        }
        if net.loss > 0.0 && self.rng.gen_bool(net.loss) {
            return;
        }
        let delay = net.latency_ms + self.rng.gen_range(0..=net.jitter_ms);
        self.messages += 1;
        self.push(self.now + delay, Ev::Deliver { to, from, wire });
    }

    /// Byzantine noise: a vote forged in an honest member's name, a vote signed for another
    /// chain, a proposal with a broken signature, and a replay of something seen earlier.
    fn forge(&mut self, i: usize) {
        let Some(cons) = self.nodes[i].cons.as_ref() else {
            return;
        };
        let (h, v) = (cons.height(), cons.view());
        let victim = self.nodes[(i + 1) % self.setup.n].id;
        let mut sig = [0u8; 64];
        self.rng.fill(&mut sig[..]);
        let forged = SignedVote {
            kind: VoteKind::Nullify,
            height: h,
            view: v,
            block_hash: Digest::ZERO,
            signer: victim,
            signature: Signature(sig),
        };
        let key = self.nodes[i].key();
        let other_chain = SignedVote::sign(
            VoteKind::Notarize,
            h,
            v,
            Digest::of(b"elsewhere"),
            &key,
            &Digest::of(b"another consortium"),
        );
        let mut out = vec![Message::Vote(forged), Message::Vote(other_chain)];
        let seen = &self.nodes[i].seen;
        if !seen.is_empty() {
            let k = self.rng.gen_range(0..seen.len());
            let replay = seen[k].clone();
            if let Message::Propose(mut p) = replay.clone() {
                p.signature.0[0] ^= 1;
                out.push(Message::Propose(p));
            }
            out.push(replay);
        }
        for m in out {
            for j in 0..self.nodes.len() {
                if j != i {
                    self.deliver(i, j, Wire::Consensus(m.clone()));
                }
            }
        }
    }
}

/// A compact, content-identifying tag of a message for the trace hash.
fn message_tag(m: &Message) -> Vec<u8> {
    let mut t = Vec::with_capacity(80);
    t.extend_from_slice(m.kind_name().as_bytes());
    t.extend_from_slice(&m.height().to_le_bytes());
    match m {
        Message::Propose(p) => t.extend_from_slice(&p.signature.0),
        Message::Vote(v) => t.extend_from_slice(&v.signature.0),
        Message::Certificate(c) => {
            t.extend_from_slice(&c.view.to_le_bytes());
            t.extend_from_slice(&(c.votes.len() as u64).to_le_bytes());
        }
        Message::SyncRequest { from_height } => t.extend_from_slice(&from_height.to_le_bytes()),
        Message::SyncResponse { blocks } => {
            t.extend_from_slice(&(blocks.len() as u64).to_le_bytes())
        }
    }
    t
}

/// A join request by `newcomer`, approved by a quorum of the founders (effective height is set
/// by the leader that records it).
fn approved_join(genesis: &Genesis, newcomer: &OrgKey) -> MembershipChange {
    let chain = genesis.chain_id();
    let request = MembershipRequest {
        subject: newcomer.id(),
        action: MembershipAction::Join {
            name: newcomer.name.clone(),
            epsilon_max: 1e6,
            schema_hash: Digest::ZERO,
        },
        nonce: 1,
    };
    let rh = request.hash();
    let q = fedledger_ledger::genesis::quorum(genesis.members.len(), genesis.f);
    let founders: Vec<OrgKey> = (0..genesis.members.len()).map(sim_key).collect();
    let mut approvals: Vec<MembershipApproval> = founders
        .iter()
        .take(q)
        .map(|k| MembershipApproval {
            approver: k.id(),
            signature: k.sign(domain::MEMBERSHIP_APPROVAL, &chain, &rh),
        })
        .collect();
    approvals.sort_by_key(|a| a.approver);
    MembershipChange {
        request_signature: newcomer.sign(domain::MEMBERSHIP_REQUEST, &chain, &request),
        request,
        approvals,
        effective_height: 0,
    }
}
