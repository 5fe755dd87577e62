//! This member's data and local training: one DP-SGD round from a global model to a signed-ready
//! update, with the privacy spend known before training starts.

use super::config::{DataSection, TrainingSection};
use super::error::DaemonError;
use crate::learn::attack::Attack;
use crate::learn::data::{csv, synth, Dataset, Schema};
use crate::learn::metrics::evaluate_model_at;
use crate::learn::model::Architecture;
use crate::learn::train::{train_local, DpSettings, TrainConfig};
use crate::learn::LearnError;
use fedledger_ledger::block::{DpSpend, LocalMetrics};
use fedledger_ledger::{Digest, Genesis, OrgId};

/// Local data, model shape and training settings.
#[derive(Debug)]
pub struct Learner {
    /// The model shape from genesis.
    pub arch: Architecture,
    train: Dataset,
    holdout: Dataset,
    cfg: TrainConfig,
    attack: Option<Attack>,
    org: OrgId,
    /// The genesis's decision threshold, where local metrics are taken.
    threshold: f64,
}

/// One round's local result.
#[derive(Debug, Clone)]
pub struct LocalUpdate {
    /// The delta to release.
    pub delta: Vec<f32>,
    /// The privacy it spent.
    pub spend: DpSpend,
    /// The base model evaluated on local held-out data.
    pub metrics: LocalMetrics,
    /// Training examples used.
    pub examples: u64,
    /// The delta's update bytes and their hash, when whoever made the update already has them
    /// (an external trainer's submission is encoded and hashed to be checked): not redone for
    /// updates of hundreds of megabytes.
    pub encoded: Option<(Digest, Vec<u8>)>,
}

fn cfg_err(key: &str, reason: String) -> DaemonError {
    DaemonError::Config {
        key: key.into(),
        reason,
    }
}

impl Learner {
    /// Load this member's data as configured and check it fits the genesis model and schema.
    pub fn new(
        data: &DataSection,
        training: &TrainingSection,
        genesis: &Genesis,
        org: OrgId,
    ) -> Result<Self, DaemonError> {
        let (dataset, schema) = load_data(data)?;
        let pinned = &genesis.model.schema_hash;
        if !pinned.is_empty() && *pinned != schema.hash().to_hex() {
            return Err(cfg_err(
                "data.schema",
                format!(
                    "schema hash {} differs from the genesis schema_hash {pinned}: every member must encode features identically",
                    schema.hash().short()
                ),
            ));
        }
        // The group column's cardinality and value lengths are checked as the data is encoded
        // (`Table::encode`), against the same limits peers apply to announcements.
        let arch = Architecture::from_spec(&genesis.model)?;
        if dataset.num_features() != arch.features {
            return Err(cfg_err(
                "data",
                format!(
                    "the data has {} features, the genesis model expects {}",
                    dataset.num_features(),
                    arch.features
                ),
            ));
        }
        let seed = u64::from_le_bytes(first8(&Digest::of_parts(&[b"fedledger/split", &org.0])));
        let (train, holdout) = dataset.split(data.holdout, seed);
        if train.is_empty() || holdout.is_empty() {
            return Err(cfg_err(
                "data",
                format!(
                    "{} rows are too few to split into training and held-out data",
                    dataset.len()
                ),
            ));
        }
        let attack = match &training.attack {
            None => None,
            Some(a) => {
                let attack = a
                    .parse::<Attack>()
                    .map_err(|e| cfg_err("training.attack", e.to_string()))?;
                // Also refused by the config check; a node sees no other member's update.
                if attack.is_colluding() {
                    return Err(cfg_err(
                        "training.attack",
                        format!("`{a}` is a colluding attack: it needs the other members' honest updates, which a node does not see"),
                    ));
                }
                Some(attack)
            }
        };
        let dp = &genesis.dp;
        let cfg = match dp.plan_target() {
            // Validators recompute this plan from the example count the member signs and reject
            // any other spend.
            Some(target) => {
                let plan = fedledger_ledger::privacy::plan(&target, train.len() as u64)
                    .map_err(|e| cfg_err("dp.plan", e.to_string()))?;
                tracing::info!(
                    target: "fedledger::learn",
                    examples = train.len(),
                    batch = plan.batch_size,
                    epochs = plan.local_epochs,
                    steps = plan.steps_per_round,
                    clip = plan.clip_norm,
                    sigma = plan.noise_multiplier,
                    "DP-SGD settings planned for epsilon {} over {} rounds",
                    target.epsilon,
                    target.rounds
                );
                (
                    plan.batch_size as usize,
                    plan.local_epochs,
                    plan.clip_norm,
                    plan.noise_multiplier,
                )
            }
            None => (
                dp.batch_size as usize,
                dp.local_epochs,
                dp.clip_norm,
                dp.noise_multiplier,
            ),
        };
        let (batch_size, local_epochs, clip_norm, noise_multiplier) = cfg;
        let cfg = TrainConfig {
            lr: training.lr,
            momentum: training.momentum,
            batch_size,
            local_epochs,
            dp: Some(DpSettings {
                clip_norm: clip_norm as f32,
                noise_multiplier,
            }),
        };
        Ok(Learner {
            arch,
            train,
            holdout,
            cfg,
            attack,
            org,
            threshold: genesis.model.threshold(),
        })
    }

    /// The spend one round will cost, known before training (for the budget check).
    pub fn planned_spend(&self) -> DpSpend {
        let (q, steps) = self.cfg.schedule(self.train.len());
        DpSpend {
            sampling_rate: q,
            noise_multiplier: self.cfg.dp.map_or(0.0, |d| d.noise_multiplier),
            steps,
        }
    }

    /// The configured attack, if this member is a (test) attacker.
    pub fn attack(&self) -> Option<Attack> {
        self.attack
    }

    /// Train round `round` from `global`. Deterministic in (member, round, global): a node that
    /// crashes before releasing and retrains produces the same update.
    pub fn train(&self, round: u64, global: &[f32]) -> Result<LocalUpdate, LearnError> {
        let metrics =
            evaluate_model_at(&self.arch, global, &self.holdout, self.threshold)?.to_local();
        let seed = u64::from_le_bytes(first8(&Digest::of_parts(&[
            b"fedledger/train",
            &self.org.0,
            &round.to_be_bytes(),
        ])));
        let flipped;
        let data = match self.attack {
            Some(a) if a.is_data_level() => {
                flipped = Attack::flip_labels(&self.train);
                &flipped
            }
            _ => &self.train,
        };
        let out = train_local(&self.arch, global, data, &self.cfg, seed)?;
        let delta = match self.attack {
            // Only attacks that rewrite this member's own update get here (`new` refuses the
            // colluding ones), so no honest updates and no aggregation oracle are needed.
            Some(a) if !a.is_data_level() => a.craft(&out.delta, &[], 1, 1, seed, None)?,
            _ => out.delta,
        };
        Ok(LocalUpdate {
            encoded: None,
            delta,
            spend: out.spend,
            metrics,
            examples: self.train.len() as u64,
        })
    }
}

/// This member's examples and schema as `[data]` configures them, encoded exactly as the node
/// trains on them (also what `fedledger encode` writes for an external trainer).
pub fn load_data(data: &DataSection) -> Result<(Dataset, Schema), DaemonError> {
    let loaded = match data.source.as_str() {
        "csv" => {
            let (Some(path), Some(schema_path)) = (&data.path, &data.schema) else {
                return Err(cfg_err(
                    "data.path",
                    "csv source needs path and schema".into(),
                ));
            };
            let schema = Schema::load(schema_path)?;
            (csv::load(path, &schema)?, schema)
        }
        _ => {
            let table = synth::generate(&synth::SynthConfig {
                orgs: data.synthetic_org + 1,
                rows_per_org: data.synthetic_rows,
                seed: data.synthetic_seed,
            });
            let schema = synth::schema();
            let all = table.encode(&schema)?;
            let first = data.synthetic_org * data.synthetic_rows;
            let mine: Vec<usize> = (first..first + data.synthetic_rows).collect();
            (all.subset(&mine), schema)
        }
    };
    Ok(loaded)
}

fn first8(d: &Digest) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_bytes()[..8]);
    b
}
