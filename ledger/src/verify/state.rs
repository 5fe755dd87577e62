//! The chain state every validator and auditor maintains: the validator set, each member's privacy
//! spend, and the tip. `apply` is the ledger's validity rule.

use super::certificate::verify_certificate;
use super::prepare::{prepare, PreparedBlock};
use super::report::{AuditReport, MemberReport, MembershipEvent};
use super::validators::ValidatorSet;
use super::{Rule, Violation};
use crate::block::{
    limits, Block, BlockHeader, BudgetSpend, DpSpend, Entry, EntryKind, FinalizationCertificate,
    MembershipAction, MembershipChange, RoundSummary, UpdateAnnouncement,
};
use crate::digest::Digest;
use crate::genesis::{self, Genesis, FORMAT_VERSION};
use crate::identity::OrgId;
use crate::privacy::{self, Converter, DpPlanTarget, RdpCache, RdpCurve};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

mod snapshot;
pub use snapshot::{ChainSnapshot, MemberSnapshot};

/// Relative tolerance between a recorded cumulative epsilon and the recomputed one. The accountant
/// is bit-identical across machines, so our own nodes agree exactly; the tolerance lets independent
/// verifiers (other languages) produce ledgers this one accepts.
pub const EPSILON_TOLERANCE: f64 = 1e-9;

/// Per-step RDP curves are cached by (q, sigma) bits; members reuse their settings every round.
const CURVE_CACHE_LIMIT: usize = 4096;

#[derive(Debug, Clone)]
struct Member {
    name: String,
    epsilon_max: f64,
    curve: RdpCurve,
    epsilon: f64,
    updates: u64,
    exclusions: u64,
    proposed: u64,
    joined_at: u64,
    left_at: Option<u64>,
}

/// State after applying blocks `1..=height`. Memory is O(members), whatever the ledger's length.
/// Cloneable so that a node can check a batch of synced blocks on a worker thread, against a copy
/// of its tip, before the batch reaches its event loop.
#[derive(Debug, Clone)]
pub struct ChainState {
    chain_id: Digest,
    consortium: String,
    f: u32,
    rule: String,
    delta: f64,
    membership_delay: u64,
    created_at_ms: u64,
    height: u64,
    tip: Digest,
    last_timestamp: u64,
    model_hash: Digest,
    validators: ValidatorSet,
    members: BTreeMap<OrgId, Member>,
    seen_requests: HashSet<Digest>,
    membership: Vec<MembershipEvent>,
    converter: Converter,
    curves: RefCell<RdpCache>,
    /// The genesis `[dp.plan]` target, when spends are planned.
    plan: Option<DpPlanTarget>,
    /// Planned spends by example count (members' counts rarely change; bounded).
    planned: RefCell<BTreeMap<u64, Result<DpSpend, String>>>,
    totals: Totals,
    /// The genesis's `[purpose]`, for reports.
    purpose: Option<genesis::PurposeSpec>,
}

/// Distinct example counts whose planned spend is kept; the cache is emptied when full.
const PLAN_CACHE_LIMIT: usize = 4096;

#[derive(Debug, Default, Clone)]
struct Totals {
    updates: u64,
    exclusions: u64,
    view_changes: u64,
    last_metrics: Option<crate::block::RoundMetrics>,
}

fn viol(
    height: u64,
    rule: Rule,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Violation {
    Violation {
        height,
        rule,
        expected: expected.into(),
        found: found.into(),
    }
}

impl ChainState {
    /// The state at height 0. The genesis must already be validated ([`Genesis::load`] does).
    pub fn new(genesis: &Genesis) -> Self {
        let members = genesis
            .members
            .iter()
            .map(|m| {
                let member = Member {
                    name: m.name.clone(),
                    epsilon_max: m.epsilon_max,
                    curve: RdpCurve::zero(),
                    epsilon: 0.0,
                    updates: 0,
                    exclusions: 0,
                    proposed: 0,
                    joined_at: 0,
                    left_at: None,
                };
                (m.id, member)
            })
            .collect();
        // delta was validated in (0, 1) by Genesis::validate, so the converter always builds; fall
        // back to a tiny delta rather than panic if a caller skipped validation.
        let converter = Converter::new(genesis.dp.delta)
            .or_else(|_| Converter::new(1e-5))
            .unwrap_or_else(|e| panic!("converter for a fixed valid delta: {e}"));
        let chain_id = genesis.chain_id();
        ChainState {
            chain_id,
            consortium: genesis.consortium.clone(),
            f: genesis.f,
            rule: genesis.aggregation.rule.clone(),
            delta: genesis.dp.delta,
            membership_delay: genesis.rounds.membership_delay,
            created_at_ms: genesis.created_at_ms,
            height: 0,
            tip: chain_id,
            last_timestamp: genesis.created_at_ms,
            model_hash: Digest::ZERO,
            validators: ValidatorSet::from_genesis(genesis),
            members,
            seen_requests: HashSet::new(),
            membership: Vec::new(),
            converter,
            curves: RefCell::new(RdpCache::new(CURVE_CACHE_LIMIT)),
            plan: genesis.dp.plan_target(),
            planned: RefCell::new(BTreeMap::new()),
            totals: Totals::default(),
            purpose: genesis.purpose.clone(),
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> Digest {
        self.chain_id
    }
    /// Height of the last applied block (0 before the first).
    pub fn height(&self) -> u64 {
        self.height
    }
    /// Hash of the last applied block, or the chain id at height 0.
    pub fn tip_hash(&self) -> Digest {
        self.tip
    }
    /// The global model hash committed by the last block (zero at height 0).
    pub fn model_hash(&self) -> Digest {
        self.model_hash
    }
    /// Validators in force for the next height, sorted.
    pub fn validators(&self) -> &[OrgId] {
        self.validators.members()
    }
    /// Leader of (next height, `view`).
    pub fn leader(&self, view: u64) -> OrgId {
        self.validators
            .leader(self.height + 1, view)
            .unwrap_or(OrgId([0; 32]))
    }
    /// Votes needed for a certificate at the next height.
    pub fn quorum(&self) -> usize {
        self.validators.quorum()
    }
    /// A member's cumulative epsilon and cap, if it is or was a member.
    pub fn budget(&self, org: &OrgId) -> Option<(f64, f64)> {
        self.members.get(org).map(|m| (m.epsilon, m.epsilon_max))
    }
    /// Whether `m` could be recorded in the next block, as the only membership change in it (its
    /// signatures are checked separately). What a leader asks before including a change.
    pub fn membership_admissible(&self, m: &MembershipChange) -> Result<(), String> {
        self.check_membership(self.height + 1, m, &[], 0)
            .map_err(|v| v.to_string())
    }
    /// Whether `org` validates at `height` (> [`Self::height`]) as far as the applied blocks
    /// tell: a change recorded in a block not applied yet is unknown (see
    /// [`Self::validators_known_at`]).
    pub fn is_validator_at(&self, org: &OrgId, height: u64) -> bool {
        self.validators.contains_at(org, height)
    }
    /// How many validate at `height` (> [`Self::height`]) as far as the applied blocks tell.
    pub fn validator_count_at(&self, height: u64) -> usize {
        self.validators.len_at(height)
    }
    /// Votes needed for a certificate at `height` (> [`Self::height`]) as far as the applied
    /// blocks tell.
    pub fn quorum_at(&self, height: u64) -> usize {
        self.validators.quorum_at(height)
    }
    /// Whether the applied blocks fix the validator set at `height`: a change effective then is
    /// recorded `membership_delay` blocks earlier, so it is known once that block is applied.
    pub fn validators_known_at(&self, height: u64) -> bool {
        height.saturating_sub(self.membership_delay) <= self.height
    }
    /// Whether `org` has a recorded membership change that has not taken effect yet.
    pub fn membership_pending(&self, org: &OrgId) -> bool {
        self.validators.is_pending(org)
    }
    /// Blocks between recording a membership change and its effect.
    pub fn membership_delay(&self) -> u64 {
        self.membership_delay
    }
    /// The delta every epsilon is measured at.
    pub fn delta(&self) -> f64 {
        self.delta
    }

    /// The cumulative epsilon `org` would reach after `spend` (what a validator checks against the
    /// cap, and what a node checks before releasing an update).
    pub fn epsilon_after(&self, org: &OrgId, spend: &DpSpend) -> Result<f64, String> {
        let m = self
            .members
            .get(org)
            .ok_or_else(|| format!("{} is not a member", org.short()))?;
        let mut curve = m.curve.clone();
        self.add_spend(&mut curve, spend)?;
        Ok(self.converter.epsilon(&curve).epsilon)
    }

    /// Under a genesis `[dp.plan]`, the spend an update must record: the plan for the example
    /// count its member signed, bit for bit. Without a plan any well-formed spend is accepted
    /// (it is still accounted against the cap). A member that trains with other settings, or
    /// records less than it spent, is caught here rather than trusted.
    pub fn check_planned_spend(&self, a: &UpdateAnnouncement) -> Result<(), String> {
        let Some(target) = &self.plan else {
            return Ok(());
        };
        let planned = {
            let mut cache = self.planned.borrow_mut();
            if cache.len() >= PLAN_CACHE_LIMIT && !cache.contains_key(&a.num_examples) {
                cache.clear();
            }
            cache
                .entry(a.num_examples)
                .or_insert_with(|| {
                    privacy::plan(target, a.num_examples)
                        .map(|p| p.spend())
                        .map_err(|e| e.to_string())
                })
                .clone()
        };
        let p = planned.map_err(|e| {
            format!(
                "no DP plan for {} examples ({e}) under the genesis target",
                a.num_examples
            )
        })?;
        if dp_bits(&p) != dp_bits(&a.dp) {
            return Err(format!(
                "records q={} sigma={} steps={}, but the plan for its {} examples is q={} sigma={} steps={}",
                a.dp.sampling_rate,
                a.dp.noise_multiplier,
                a.dp.steps,
                a.num_examples,
                p.sampling_rate,
                p.noise_multiplier,
                p.steps
            ));
        }
        Ok(())
    }

    fn add_spend(&self, curve: &mut RdpCurve, spend: &DpSpend) -> Result<(), String> {
        let mut cache = self.curves.borrow_mut();
        let per_step = cache
            .get(spend.sampling_rate, spend.noise_multiplier)
            .map_err(|e| e.to_string())?;
        curve.add_steps(per_step, spend.steps);
        Ok(())
    }

    /// Check a proposed block body (everything but the certificate) without changing state.
    pub fn check_proposal(&self, header: &BlockHeader, entries: &[Entry]) -> Result<(), Violation> {
        let block = Block {
            header: header.clone(),
            entries: entries.to_vec(),
            certificate: FinalizationCertificate::default(),
        };
        let prepared = prepare(block, &self.chain_id, false);
        self.check_prepared(&prepared, false).map(|_| ())
    }

    /// Check a certificate (members, count, signatures) against the validators in force.
    pub fn check_certificate(
        &self,
        header: &BlockHeader,
        cert: &FinalizationCertificate,
    ) -> Result<(), Violation> {
        verify_certificate(&self.validators, &self.chain_id, header, cert, true)
    }

    /// Fully check `block` as the next one and apply it.
    pub fn apply(&mut self, block: Block) -> Result<(), Violation> {
        let prepared = prepare(block, &self.chain_id, true);
        self.apply_prepared(&prepared)
    }

    /// Apply a block whose stateless checks ran already (possibly on another thread).
    pub fn apply_prepared(&mut self, prepared: &PreparedBlock) -> Result<(), Violation> {
        let spends = self.check_prepared(prepared, true)?;
        self.commit(prepared, spends);
        Ok(())
    }

    /// All checks; returns each update's new cumulative RDP curve and epsilon, to commit.
    fn check_prepared(
        &self,
        p: &PreparedBlock,
        with_certificate: bool,
    ) -> Result<Vec<(OrgId, RdpCurve, f64)>, Violation> {
        let hd = &p.block.header;
        let h = self.height + 1;
        if hd.version != FORMAT_VERSION {
            return Err(viol(
                h,
                Rule::FormatVersion,
                format!("version {FORMAT_VERSION}"),
                format!("version {}", hd.version),
            ));
        }
        if hd.chain_id != self.chain_id {
            return Err(viol(
                h,
                Rule::ChainId,
                format!("chain {}", self.chain_id),
                format!("chain {}", hd.chain_id),
            ));
        }
        if hd.height != h {
            return Err(viol(
                h,
                Rule::Height,
                format!("height {h}"),
                format!("height {}", hd.height),
            ));
        }
        if hd.prev_hash != self.tip {
            return Err(viol(
                h,
                Rule::PrevHash,
                format!("prev_hash {}", self.tip),
                format!("{}", hd.prev_hash),
            ));
        }
        p.stateless.clone()?;
        if hd.timestamp_ms < self.last_timestamp {
            return Err(viol(
                h,
                Rule::Timestamp,
                format!("timestamp >= {}", self.last_timestamp),
                format!("{}", hd.timestamp_ms),
            ));
        }
        let leader = self.validators.leader(h, hd.view);
        if leader != Some(hd.proposer) {
            return Err(viol(
                h,
                Rule::Leader,
                format!(
                    "proposer {} (leader of view {})",
                    leader.map(|l| l.short()).unwrap_or_default(),
                    hd.view
                ),
                format!("proposer {}", hd.proposer.short()),
            ));
        }
        self.check_order(h, &p.block.entries)?;
        let spends = self.check_entries(h, &p.block.entries)?;
        if with_certificate {
            self.check_certificate_members(&p.block)?;
        }
        Ok(spends)
    }

    fn check_order(&self, h: u64, entries: &[Entry]) -> Result<(), Violation> {
        for (i, w) in entries.windows(2).enumerate() {
            let (a, b) = (w[0].sort_key(), w[1].sort_key());
            let ok = a.0 < b.0 || (a.0 == b.0 && a.1 < b.1 && a.0 != EntryKind::Summary);
            if !ok {
                return Err(viol(
                    h,
                    Rule::EntryOrder,
                    "entries sorted by kind, then by member, one per member and kind".to_string(),
                    format!("entry {} ({:?}) after entry {} ({:?})", i + 1, b.0, i, a.0),
                ));
            }
        }
        Ok(())
    }

    fn check_entries(
        &self,
        h: u64,
        entries: &[Entry],
    ) -> Result<Vec<(OrgId, RdpCurve, f64)>, Violation> {
        let mut updates: BTreeMap<OrgId, (Digest, DpSpend)> = BTreeMap::new();
        let mut budgets: Vec<&BudgetSpend> = Vec::new();
        let mut exclusions = 0u32;
        let mut summary: Option<&RoundSummary> = None;
        let mut joining: Vec<OrgId> = Vec::new();
        let mut leaving = 0usize;
        let mut examples = 0u64;
        for e in entries {
            match e {
                Entry::Membership(m) => {
                    self.check_membership(h, m, &joining, leaving)?;
                    match m.request.action {
                        MembershipAction::Join { .. } => joining.push(m.request.subject),
                        MembershipAction::Leave => leaving += 1,
                    }
                }
                Entry::Update(u) => {
                    let a = &u.announcement;
                    if a.round != h {
                        return Err(viol(
                            h,
                            Rule::Update,
                            format!("round {h}"),
                            format!("update of {} for round {}", a.org.short(), a.round),
                        ));
                    }
                    if !self.validators.contains(&a.org) {
                        return Err(viol(
                            h,
                            Rule::Update,
                            "updates from validators in force",
                            format!("update from non-member {}", a.org.short()),
                        ));
                    }
                    check_dp(h, &a.dp)?;
                    limits::check_announcement(a).map_err(|e| {
                        viol(
                            h,
                            Rule::Range,
                            "member claims within the honest ranges (docs/ledger-format.md)",
                            format!("update of {}: {e}", a.org.short()),
                        )
                    })?;
                    self.check_planned_spend(a).map_err(|e| {
                        viol(
                            h,
                            Rule::Budget,
                            "spends planned by the genesis [dp.plan] (docs/ledger-format.md)",
                            format!("update of {}: {e}", a.org.short()),
                        )
                    })?;
                    examples = examples.checked_add(a.metrics.examples).ok_or_else(|| {
                        viol(
                            h,
                            Rule::Range,
                            "evaluated example counts whose sum fits in 64 bits",
                            "an overflowing sum".to_string(),
                        )
                    })?;
                    updates.insert(a.org, (a.update_hash, a.dp));
                }
                Entry::Budget(b) => budgets.push(b),
                Entry::Exclusion(x) => {
                    match updates.get(&x.org) {
                        Some((hash, _)) if *hash == x.update_hash && x.round == h => {}
                        _ => {
                            return Err(viol(
                                h,
                                Rule::Exclusion,
                                "an exclusion of an update committed in this block",
                                format!(
                                    "exclusion of {} by {}",
                                    x.update_hash.short(),
                                    x.org.short()
                                ),
                            ))
                        }
                    }
                    exclusions += 1;
                }
                Entry::Summary(s) => summary = Some(s),
            }
        }
        if budgets.len() != updates.len() {
            return Err(viol(
                h,
                Rule::Budget,
                format!("one budget spend per update ({})", updates.len()),
                format!("{} budget spends", budgets.len()),
            ));
        }
        let mut spends = Vec::with_capacity(budgets.len());
        for b in budgets {
            let Some((hash, dp)) = updates.get(&b.org) else {
                return Err(viol(
                    h,
                    Rule::Budget,
                    "a spend for a committed update",
                    format!("spend by {} without an update", b.org.short()),
                ));
            };
            if *hash != b.update_hash || b.round != h || dp_bits(dp) != dp_bits(&b.dp) {
                return Err(viol(
                    h,
                    Rule::Budget,
                    format!("spend matching {}'s signed update", b.org.short()),
                    "a spend whose round, update hash or DP parameters differ".to_string(),
                ));
            }
            let Some(member) = self.members.get(&b.org) else {
                return Err(viol(
                    h,
                    Rule::Budget,
                    "a spend by a member",
                    format!("spend by unknown {}", b.org.short()),
                ));
            };
            let mut curve = member.curve.clone();
            self.add_spend(&mut curve, &b.dp)
                .map_err(|e| viol(h, Rule::Budget, "computable DP parameters", e))?;
            let eps = self.converter.epsilon(&curve).epsilon;
            let tol = EPSILON_TOLERANCE * eps.abs().max(1.0);
            if !b.epsilon_total.is_finite() || (b.epsilon_total - eps).abs() > tol {
                return Err(viol(
                    h,
                    Rule::Budget,
                    format!("{}'s epsilon_total {eps} (recomputed)", b.org.short()),
                    format!("{}", b.epsilon_total),
                ));
            }
            if eps > member.epsilon_max {
                return Err(viol(
                    h,
                    Rule::Budget,
                    format!(
                        "{}'s cumulative epsilon <= cap {}",
                        b.org.short(),
                        member.epsilon_max
                    ),
                    format!("epsilon {eps}"),
                ));
            }
            spends.push((b.org, curve, eps));
        }
        if let Some(s) = summary {
            self.check_summary(h, s, updates.len(), exclusions)?;
        }
        Ok(spends)
    }

    fn check_summary(
        &self,
        h: u64,
        s: &RoundSummary,
        updates: usize,
        exclusions: u32,
    ) -> Result<(), Violation> {
        let bad = |expected: String, found: String| Err(viol(h, Rule::Summary, expected, found));
        if s.round != h {
            return bad(format!("round {h}"), format!("round {}", s.round));
        }
        if s.rule != self.rule || s.f != self.f {
            return bad(
                format!("rule {} with f={}", self.rule, self.f),
                format!("rule {} with f={}", s.rule, s.f),
            );
        }
        if s.excluded != exclusions || (s.included as usize + s.excluded as usize) != updates {
            return bad(
                format!(
                    "{} included + {exclusions} excluded = {updates} updates",
                    updates.saturating_sub(exclusions as usize)
                ),
                format!("{} included + {} excluded", s.included, s.excluded),
            );
        }
        let m = &s.metrics;
        let finite = [
            m.loss,
            m.accuracy,
            m.auc,
            m.demographic_parity_gap,
            m.equal_opportunity_gap,
        ]
        .iter()
        .chain(s.params.iter().map(|(_, v)| v))
        .all(|x| x.is_finite());
        if !finite {
            return bad(
                "finite metrics and parameters".into(),
                "NaN or infinity".into(),
            );
        }
        limits::check_round_metrics(m).map_err(|e| {
            viol(
                h,
                Rule::Range,
                "pooled metrics within the honest ranges (docs/ledger-format.md)",
                format!("summary: {e}"),
            )
        })
    }

    fn check_membership(
        &self,
        h: u64,
        m: &MembershipChange,
        joining: &[OrgId],
        leaving: usize,
    ) -> Result<(), Violation> {
        let bad = |expected: String, found: String| Err(viol(h, Rule::Membership, expected, found));
        let subject = m.request.subject;
        if self.seen_requests.contains(&m.request.hash()) {
            return bad(
                "a new membership request".into(),
                format!("a replay of an earlier request for {}", subject.short()),
            );
        }
        if m.effective_height != h + self.membership_delay {
            return bad(
                format!("effective height {}", h + self.membership_delay),
                format!("{}", m.effective_height),
            );
        }
        if self.validators.is_pending(&subject) || joining.contains(&subject) {
            return bad(
                "no other pending change for the subject".into(),
                format!("{} already has one", subject.short()),
            );
        }
        match &m.request.action {
            MembershipAction::Join {
                epsilon_max, name, ..
            } => {
                if self
                    .members
                    .get(&subject)
                    .is_some_and(|x| x.left_at.is_none())
                {
                    return bad(
                        "a join by a non-member".into(),
                        format!("{} is already a member", subject.short()),
                    );
                }
                if !(epsilon_max.is_finite() && *epsilon_max > 0.0) || name.len() > 256 {
                    return bad(
                        "a positive finite privacy cap and a name <= 256 bytes".into(),
                        format!("cap {epsilon_max}"),
                    );
                }
            }
            MembershipAction::Leave => {
                if !self.validators.contains(&subject) {
                    return bad(
                        "a leave by a validator".into(),
                        format!("{} is not one", subject.short()),
                    );
                }
                let n_after = (self.validators.size_after_pending() + joining.len())
                    .saturating_sub(leaving + 1) as u64;
                if let Err(e) = genesis::check_bft(n_after, self.f)
                    .and_then(|_| genesis::check_rule(&self.rule, n_after, self.f))
                {
                    return bad("a validator set that still works after the leave".into(), e);
                }
            }
        }
        let mut prev: Option<OrgId> = None;
        for a in &m.approvals {
            if prev.is_some_and(|p| p >= a.approver) {
                return bad(
                    "approvals sorted by approver without duplicates".into(),
                    format!("{} out of order or repeated", a.approver.short()),
                );
            }
            prev = Some(a.approver);
            if !self.validators.contains(&a.approver) {
                return bad(
                    "approvals from validators in force".into(),
                    format!("approval by outsider {}", a.approver.short()),
                );
            }
        }
        if m.approvals.len() < self.validators.quorum() {
            return bad(
                format!("at least {} approvals", self.validators.quorum()),
                format!("{}", m.approvals.len()),
            );
        }
        Ok(())
    }

    fn check_certificate_members(&self, block: &Block) -> Result<(), Violation> {
        // Signatures were verified in the stateless stage.
        verify_certificate(
            &self.validators,
            &self.chain_id,
            &block.header,
            &block.certificate,
            false,
        )
    }

    fn commit(&mut self, p: &PreparedBlock, spends: Vec<(OrgId, RdpCurve, f64)>) {
        let h = p.block.header.height;
        for (org, curve, eps) in spends {
            if let Some(m) = self.members.get_mut(&org) {
                m.curve = curve;
                m.epsilon = eps;
                m.updates += 1;
            }
        }
        self.totals.updates += p
            .block
            .entries
            .iter()
            .filter(|e| e.kind() == EntryKind::Update)
            .count() as u64;
        for e in &p.block.entries {
            match e {
                Entry::Exclusion(x) => {
                    self.totals.exclusions += 1;
                    if let Some(m) = self.members.get_mut(&x.org) {
                        m.exclusions += 1;
                    }
                }
                Entry::Membership(m) => self.record_membership(h, m),
                Entry::Summary(s) => self.totals.last_metrics = Some(s.metrics.clone()),
                _ => {}
            }
        }
        if let Some(m) = self.members.get_mut(&p.block.header.proposer) {
            m.proposed += 1;
        }
        if p.block.header.view > 0 {
            self.totals.view_changes += 1;
        }
        self.height = h;
        self.tip = p.hash;
        self.last_timestamp = p.block.header.timestamp_ms;
        self.model_hash = p.block.header.model_hash;
        self.validators.advance_to(h + 1);
    }

    fn record_membership(&mut self, h: u64, m: &MembershipChange) {
        self.seen_requests.insert(m.request.hash());
        self.validators.schedule(m);
        let subject = m.request.subject;
        let (action, name) = match &m.request.action {
            MembershipAction::Join {
                name, epsilon_max, ..
            } => {
                let entry = self.members.entry(subject).or_insert_with(|| Member {
                    name: name.clone(),
                    epsilon_max: *epsilon_max,
                    curve: RdpCurve::zero(),
                    epsilon: 0.0,
                    updates: 0,
                    exclusions: 0,
                    proposed: 0,
                    joined_at: m.effective_height,
                    left_at: None,
                });
                // A member that left and is admitted again keeps its spend: privacy loss is forever.
                entry.left_at = None;
                entry.joined_at = m.effective_height;
                entry.epsilon_max = *epsilon_max;
                ("join", name.clone())
            }
            MembershipAction::Leave => {
                let name = self
                    .members
                    .get(&subject)
                    .map(|x| x.name.clone())
                    .unwrap_or_default();
                if let Some(x) = self.members.get_mut(&subject) {
                    x.left_at = Some(m.effective_height);
                }
                ("leave", name)
            }
        };
        self.membership.push(MembershipEvent {
            height: h,
            effective_height: m.effective_height,
            org: subject,
            name,
            action: action.to_string(),
            approvals: m.approvals.len(),
        });
    }

    /// A summary of everything applied so far.
    pub fn report(&self) -> AuditReport {
        AuditReport {
            chain_id: self.chain_id,
            consortium: self.consortium.clone(),
            height: self.height,
            tip: self.tip,
            model_hash: self.model_hash,
            created_at_ms: self.created_at_ms,
            last_timestamp_ms: self.last_timestamp,
            delta: self.delta,
            rule: self.rule.clone(),
            f: self.f,
            updates: self.totals.updates,
            exclusions: self.totals.exclusions,
            view_changes: self.totals.view_changes,
            validators: self.validators.members().to_vec(),
            members: self
                .members
                .iter()
                .map(|(id, m)| MemberReport {
                    id: *id,
                    name: m.name.clone(),
                    epsilon_max: m.epsilon_max,
                    epsilon_spent: m.epsilon,
                    updates: m.updates,
                    exclusions: m.exclusions,
                    blocks_proposed: m.proposed,
                    joined_at: m.joined_at,
                    left_at: m.left_at,
                })
                .collect(),
            membership: self.membership.clone(),
            last_metrics: self.totals.last_metrics.clone(),
            purpose: self.purpose.clone(),
        }
    }
}

fn dp_bits(d: &DpSpend) -> (u64, u64, u64) {
    (
        d.sampling_rate.to_bits(),
        d.noise_multiplier.to_bits(),
        d.steps,
    )
}

fn check_dp(h: u64, dp: &DpSpend) -> Result<(), Violation> {
    let ok = dp.sampling_rate.is_finite()
        && (0.0..=1.0).contains(&dp.sampling_rate)
        && dp.noise_multiplier.is_finite()
        && dp.noise_multiplier >= 0.0;
    if !ok {
        return Err(viol(
            h,
            Rule::Update,
            "sampling rate in [0, 1] and a finite noise multiplier >= 0",
            format!("q={} sigma={}", dp.sampling_rate, dp.noise_multiplier),
        ));
    }
    Ok(())
}
