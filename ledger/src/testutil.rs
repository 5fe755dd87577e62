//! Builds realistic, fully signed ledgers for tests and benchmarks (feature `test-utils`).

use crate::block::{
    Block, BlockPlan, BudgetSpend, DpSpend, Entry, Exclusion, FinalizationCertificate,
    FinalizeVote, LocalMetrics, MembershipAction, MembershipApproval, MembershipChange,
    MembershipRequest, RoundMetrics, RoundSummary, UpdateAnnouncement,
};
use crate::digest::Digest;
use crate::genesis::{
    AggregationSpec, DpPolicy, Genesis, MemberSpec, ModelSpec, RoundPolicy, FORMAT_VERSION,
};
use crate::identity::{domain, OrgId, OrgKey};
use crate::verify::ChainState;

/// Deterministic key number `i` (tests only).
pub fn test_key(i: u64) -> OrgKey {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&i.to_le_bytes());
    secret[31] = 0xfe;
    OrgKey::from_secret(secret, format!("org-{i}"))
}

/// A genesis for `n` test members with tolerance `f` and `rule`.
pub fn test_genesis(n: usize, f: u32, rule: &str, epsilon_max: f64) -> Genesis {
    let mut members: Vec<MemberSpec> = (0..n as u64)
        .map(|i| MemberSpec {
            id: test_key(i).id(),
            name: format!("org-{i}"),
            epsilon_max,
        })
        .collect();
    members.sort_by_key(|a| a.id);
    Genesis {
        format_version: FORMAT_VERSION,
        consortium: "test consortium".into(),
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
            rule: rule.into(),
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
            collect_timeout_ms: 1000,
            view_timeout_ms: 2000,
            membership_delay: 2,
            max_rounds: 0,
        },
        members,
        transparency: None,
        purpose: None,
    }
}

/// What goes into the next block; defaults to "every validator contributes".
#[derive(Debug, Clone, Default)]
pub struct RoundPlan {
    /// View (0 = first leader).
    pub view: u64,
    /// Contributors; `None` means every validator in force.
    pub contributors: Option<Vec<OrgId>>,
    /// Contributors whose updates the rule excluded.
    pub excluded: Vec<OrgId>,
    /// Membership changes to record.
    pub membership: Vec<MembershipChange>,
    /// The DP spend of every update (default q=0.01, sigma=1.1, 10 steps).
    pub spend: Option<DpSpend>,
    /// Whether to add a round summary (default true via [`TestChain::next_block`]).
    pub no_summary: bool,
    /// The evaluation every contributor claims (default: 200 examples, plausible values).
    pub claimed: Option<LocalMetrics>,
    /// The summary's pooled metrics (default: plausible values).
    pub pooled: Option<RoundMetrics>,
}

/// A chain under construction: keys, genesis, and the state of what was built so far.
#[derive(Debug)]
pub struct TestChain {
    /// Every key this chain knows (founders and joiners), by id.
    pub keys: Vec<OrgKey>,
    /// The genesis.
    pub genesis: Genesis,
    /// State after the blocks built so far.
    pub state: ChainState,
    nonce: u64,
}

impl TestChain {
    /// A chain of `n` founders.
    pub fn new(n: usize, f: u32, rule: &str) -> Self {
        Self::with_genesis(
            (0..n as u64).map(test_key).collect(),
            test_genesis(n, f, rule, 1e6),
        )
    }

    /// A chain for a given genesis whose founders' keys are `keys`.
    pub fn with_genesis(keys: Vec<OrgKey>, genesis: Genesis) -> Self {
        let state = ChainState::new(&genesis);
        TestChain {
            keys,
            genesis,
            state,
            nonce: 0,
        }
    }

    /// The key of `org`.
    pub fn key(&self, org: &OrgId) -> &OrgKey {
        self.keys
            .iter()
            .find(|k| k.id() == *org)
            .unwrap_or_else(|| panic!("no key for {}", org.short()))
    }

    /// The chain id.
    pub fn chain_id(&self) -> Digest {
        self.state.chain_id()
    }

    /// A join request for a new key, approved by a quorum, effective after the delay.
    pub fn join(&mut self, newcomer: OrgKey, epsilon_max: f64) -> MembershipChange {
        let request = MembershipRequest {
            subject: newcomer.id(),
            action: MembershipAction::Join {
                name: newcomer.name.clone(),
                epsilon_max,
                schema_hash: Digest::ZERO,
            },
            nonce: self.bump(),
        };
        let change = self.approve(&newcomer, request);
        self.keys.push(newcomer);
        change
    }

    /// A leave request by `org`, approved by a quorum.
    pub fn leave(&mut self, org: &OrgId) -> MembershipChange {
        let request = MembershipRequest {
            subject: *org,
            action: MembershipAction::Leave,
            nonce: self.bump(),
        };
        let key = OrgKey::from_secret(self.key(org).secret_bytes(), "");
        self.approve(&key, request)
    }

    fn bump(&mut self) -> u64 {
        self.nonce += 1;
        self.nonce
    }

    fn approve(&self, subject: &OrgKey, request: MembershipRequest) -> MembershipChange {
        let chain = self.chain_id();
        let rh = request.hash();
        let mut approvals: Vec<MembershipApproval> = self
            .state
            .validators()
            .iter()
            .take(self.state.quorum())
            .map(|v| MembershipApproval {
                approver: *v,
                signature: self.key(v).sign(domain::MEMBERSHIP_APPROVAL, &chain, &rh),
            })
            .collect();
        approvals.sort_by_key(|a| a.approver);
        MembershipChange {
            request_signature: subject.sign(domain::MEMBERSHIP_REQUEST, &chain, &request),
            request,
            approvals,
            effective_height: self.state.height() + 1 + self.genesis.rounds.membership_delay,
        }
    }

    /// Build the next block per `plan`, signed by a quorum, without applying it.
    pub fn build(&self, plan: &RoundPlan) -> Block {
        let h = self.state.height() + 1;
        let chain = self.chain_id();
        let contributors = plan
            .contributors
            .clone()
            .unwrap_or_else(|| self.state.validators().to_vec());
        let spend = plan.spend.unwrap_or(DpSpend {
            sampling_rate: 0.01,
            noise_multiplier: 1.1,
            steps: 10,
        });
        let mut entries = Vec::new();
        for org in &contributors {
            let update_hash = Digest::of_parts(&[b"update", &h.to_le_bytes(), &org.0]);
            let ann = UpdateAnnouncement {
                round: h,
                org: *org,
                update_hash,
                base_model: self.state.model_hash(),
                num_examples: 1000,
                dp: spend,
                metrics: plan.claimed.clone().unwrap_or(LocalMetrics {
                    examples: 200,
                    loss: 0.5,
                    accuracy: 0.8,
                    auc: 0.85,
                    groups: vec![],
                }),
            };
            entries.push(Entry::Update(ann.sign(self.key(org), &chain)));
            let epsilon_total = self
                .state
                .epsilon_after(org, &spend)
                .unwrap_or(f64::INFINITY);
            entries.push(Entry::Budget(BudgetSpend {
                round: h,
                org: *org,
                update_hash,
                dp: spend,
                epsilon_total,
            }));
            if plan.excluded.contains(org) {
                entries.push(Entry::Exclusion(Exclusion {
                    round: h,
                    org: *org,
                    update_hash,
                    rule: self.genesis.aggregation.rule.clone(),
                    reason: "score not among the lowest".into(),
                    score: Some(42.0),
                }));
            }
        }
        entries.extend(plan.membership.iter().cloned().map(Entry::Membership));
        if !plan.no_summary {
            entries.push(Entry::Summary(RoundSummary {
                round: h,
                rule: self.genesis.aggregation.rule.clone(),
                f: self.genesis.f,
                params: vec![],
                included: (contributors.len() - plan.excluded.len()) as u32,
                excluded: plan.excluded.len() as u32,
                evaluated_model: self.state.model_hash(),
                metrics: plan.pooled.clone().unwrap_or(RoundMetrics {
                    examples: 1000,
                    loss: 0.5,
                    accuracy: 0.8,
                    auc: 0.85,
                    ..Default::default()
                }),
            }));
        }
        let (header, entries) = BlockPlan {
            chain_id: chain,
            height: h,
            view: plan.view,
            prev_hash: self.state.tip_hash(),
            model_hash: Digest::of_parts(&[b"model", &h.to_le_bytes()]),
            proposer: self.state.leader(plan.view),
            timestamp_ms: self.genesis.created_at_ms + h * 1000,
        }
        .seal(entries);
        let vote = FinalizeVote {
            height: h,
            view: plan.view,
            block_hash: header.hash(),
        };
        let votes = self
            .state
            .validators()
            .iter()
            .take(self.state.quorum())
            .map(|v| vote.sign(self.key(v), &chain))
            .collect();
        Block {
            header,
            entries,
            certificate: FinalizationCertificate::from_votes(plan.view, votes),
        }
    }

    /// `block` with `entries` instead of its own, sealed and certified again by the same
    /// signers: what a colluding quorum could finalize (for tests of the validity rules).
    pub fn reseal(&self, block: &Block, entries: Vec<Entry>) -> Block {
        let h = &block.header;
        let (header, entries) = BlockPlan {
            chain_id: h.chain_id,
            height: h.height,
            view: h.view,
            prev_hash: h.prev_hash,
            model_hash: h.model_hash,
            proposer: h.proposer,
            timestamp_ms: h.timestamp_ms,
        }
        .seal(entries);
        let vote = FinalizeVote {
            height: header.height,
            view: header.view,
            block_hash: header.hash(),
        };
        let votes = block
            .certificate
            .votes
            .iter()
            .map(|v| vote.sign(self.key(&v.signer), &self.chain_id()))
            .collect();
        Block {
            header,
            entries,
            certificate: FinalizationCertificate::from_votes(h.view, votes),
        }
    }

    /// Apply a block to the builder's state; panics if it is invalid (it is a test helper).
    pub fn push(&mut self, block: Block) -> Block {
        self.state
            .apply(block.clone())
            .unwrap_or_else(|v| panic!("test chain built an invalid block: {v}"));
        block
    }

    /// Build and apply the next block with every validator contributing.
    pub fn next_block(&mut self) -> Block {
        let b = self.build(&RoundPlan::default());
        self.push(b)
    }
}
