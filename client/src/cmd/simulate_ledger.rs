//! Writing the ledger a simulation would have produced: real keys, a genesis, and one signed,
//! verified block per round built by the same round-assembly code a leader uses.

use anyhow::{bail, Context};
use fedledger_ledger::block::{
    BlockPlan, FinalizationCertificate, FinalizeVote, UpdateAnnouncement,
};
use fedledger_ledger::genesis::{
    AggregationSpec, Genesis, MemberSpec, RoundPolicy, FORMAT_VERSION,
};
use fedledger_ledger::store::{LedgerStore, SledStore, LEDGER_SUBDIR};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Block, Digest, OrgKey};
use fedledger_node::learn::aggregate::Aggregator;
use fedledger_node::learn::model::encode_update;
use fedledger_node::learn::simulate::{Noise, RoundRecord, Simulation};
use fedledger_node::round::{assemble_entries, Excluded};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Builds and stores one block per simulated round.
#[derive(Debug)]
pub struct LedgerWriter {
    dir: PathBuf,
    keys: Vec<OrgKey>,
    genesis: Genesis,
    state: ChainState,
    store: SledStore,
    rule_params: Vec<(String, f64)>,
}

/// What was written.
#[derive(Debug, Serialize)]
pub struct LedgerNote {
    /// The directory.
    pub dir: String,
    /// Blocks written.
    pub blocks: u64,
    /// The chain id.
    pub chain_id: String,
}

impl LedgerWriter {
    /// Create keys, the genesis and an empty store in `dir`.
    pub fn create(dir: &Path, sim: &Simulation, epsilon_max: Option<f64>) -> anyhow::Result<Self> {
        let cfg = sim.config();
        let cap = match (epsilon_max, cfg.noise) {
            (_, Noise::Off) => bail!(
                "--ledger-out needs differential privacy (--target-epsilon or --noise-multiplier): \
                 the ledger accounts every member's privacy spend against its cap"
            ),
            (Some(e), _) => e,
            (None, Noise::TargetEpsilon(e)) => e,
            // A fixed multiplier: cap at what the run will spend, from the same accountant.
            (None, Noise::Multiplier(_)) => projected_epsilon(sim)?,
        };
        if dir.join(LEDGER_SUBDIR).exists() || dir.join("genesis.toml").exists() {
            bail!(
                "{} already holds a ledger; choose an empty directory",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir.join("keys"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let mut keys = Vec::with_capacity(cfg.orgs);
        let mut members = Vec::with_capacity(cfg.orgs);
        for i in 0..cfg.orgs {
            let key = OrgKey::generate(format!("org-{i}"));
            key.write_to(&dir.join("keys").join(format!("org-{i}.key")))?;
            members.push(MemberSpec {
                id: key.id(),
                name: key.name.clone(),
                epsilon_max: cap,
            });
            keys.push(key);
        }
        let rule = Aggregator::parse(&cfg.rule)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut model = sim.model_spec();
        model.schema_hash = sim.schema().hash().to_hex();
        let genesis = Genesis {
            format_version: FORMAT_VERSION,
            consortium: format!("simulation seed {}", cfg.seed),
            created_at_ms: now,
            f: u32::try_from(cfg.rule_f()).context("f is too large")?,
            model,
            aggregation: AggregationSpec {
                rule: rule.name().to_string(),
                multi_krum_m: None,
                clip_radius: None,
            },
            dp: sim.dp_policy(),
            rounds: RoundPolicy {
                collect_timeout_ms: 5000,
                view_timeout_ms: 10_000,
                membership_delay: 2,
                max_rounds: u64::from(cfg.rounds),
            },
            members,
            transparency: None,
            purpose: None,
        };
        let genesis = Genesis::from_toml(&genesis.to_toml())
            .context("this simulation cannot be a consortium")?;
        std::fs::write(dir.join("genesis.toml"), genesis.to_toml())?;
        let store = SledStore::open(&dir.join(LEDGER_SUBDIR))?;
        Ok(LedgerWriter {
            dir: dir.to_path_buf(),
            keys,
            state: ChainState::new(&genesis),
            genesis,
            store,
            rule_params: rule.params(),
        })
    }

    /// The hash of the last block written (the genesis chain id before the first).
    pub fn tip_hash(&self) -> Digest {
        self.state.tip_hash()
    }

    /// Sign the round's updates, assemble, certify, verify and store its block and update blobs.
    pub fn add_round(&mut self, rec: &RoundRecord) -> anyhow::Result<()> {
        let chain = self.state.chain_id();
        let mut contributions = Vec::with_capacity(rec.updates.len());
        for u in &rec.updates {
            let key = self
                .keys
                .get(u.org)
                .context("update from an unknown organization")?;
            let blob = encode_update(&u.update);
            let stored = self.store.put_blob(&blob)?;
            if stored != u.update_hash {
                bail!(
                    "update of org-{} hashes to {stored}, announced {}",
                    u.org,
                    u.update_hash
                );
            }
            contributions.push(
                UpdateAnnouncement {
                    round: rec.round,
                    org: key.id(),
                    update_hash: u.update_hash,
                    base_model: rec.base_model,
                    num_examples: u.num_examples,
                    dp: u.dp,
                    metrics: u.metrics.clone(),
                }
                .sign(key, &chain),
            );
        }
        let excluded: Vec<Excluded> = rec
            .outcomes
            .iter()
            .filter(|o| !o.included)
            .map(|o| Excluded {
                index: o.index,
                reason: o.reason.clone(),
                score: o.score,
            })
            .collect();
        let entries = assemble_entries(
            &self.state,
            &self.genesis.aggregation.rule,
            self.genesis.f,
            self.rule_params.clone(),
            contributions,
            &excluded,
        )?;
        let (header, entries) = BlockPlan {
            chain_id: chain,
            height: rec.round,
            view: 0,
            prev_hash: self.state.tip_hash(),
            model_hash: rec.new_model,
            proposer: self.state.leader(0),
            // Simulated rounds are one second apart on the ledger's clock.
            timestamp_ms: self.genesis.created_at_ms + rec.round * 1000,
        }
        .seal(entries);
        let vote = FinalizeVote {
            height: rec.round,
            view: 0,
            block_hash: header.hash(),
        };
        let votes = self
            .state
            .validators()
            .iter()
            .filter_map(|v| self.keys.iter().find(|k| k.id() == *v))
            .map(|k| vote.sign(k, &chain))
            .collect();
        let block = Block {
            header,
            entries,
            certificate: FinalizationCertificate::from_votes(0, votes),
        };
        self.state
            .apply(block.clone())
            .map_err(|v| anyhow::anyhow!("the simulated block is invalid: {v}"))?;
        self.store.append(&block)?;
        Ok(())
    }

    /// Flush and report.
    pub fn finish(self) -> anyhow::Result<LedgerNote> {
        self.store.flush()?;
        Ok(LedgerNote {
            dir: self.dir.display().to_string(),
            blocks: self.state.height(),
            chain_id: self.state.chain_id().to_hex(),
        })
    }
}

/// The largest epsilon any organization will have spent after all rounds at its fixed noise.
fn projected_epsilon(sim: &Simulation) -> anyhow::Result<f64> {
    let cfg = sim.config();
    let train = sim.train_examples();
    let mut worst: f64 = 0.0;
    for k in 0..train.len() {
        let rounds = vec![sim.planned_spend(k); cfg.rounds as usize];
        worst = worst.max(fedledger_ledger::privacy::epsilon(&rounds, cfg.delta)?.epsilon);
    }
    // Headroom for the rounding of the projection; the ledger records the exact spends.
    Ok(worst * 1.01)
}
