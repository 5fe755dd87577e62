//! Running a simulated federation round by round.

use super::glue;
use super::report::{OrgSummary, OrgUpdate, Personalization, RoundRecord, RoundReport, SimReport};
use super::{DataSource, DpPlanMode, Noise, SimConfig};
use crate::learn::aggregate::Aggregator;
use crate::learn::attack::Attack;
use crate::learn::data::{csv, synth, Dataset, Schema};
use crate::learn::error::LearnError;
use crate::learn::metrics::{evaluate_model_at, Metrics};
use crate::learn::model::{encode_update, model_hash, update_hash, Architecture};
use crate::learn::partition::partition;
use crate::learn::train::{train_local, DpSettings, TrainConfig, TrainOutput};
use crate::round::pool_metrics;
use fedledger_ledger::block::{DpSpend, LocalMetrics};
use fedledger_ledger::genesis::{DpPlanSpec, DpPolicy, ModelSpec};
use fedledger_ledger::privacy::{self, Accountant, DpPlan, DpPlanTarget};
use fedledger_ledger::Digest;
use rayon::prelude::*;

/// SplitMix64 finaliser: independent-looking seeds for every (purpose, round, org).
fn derive(seed: u64, parts: &[u64]) -> u64 {
    let mut z = seed;
    for &p in parts {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(p);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

const SEED_PARTITION: u64 = 1;
const SEED_SPLIT: u64 = 2;
const SEED_TRAIN: u64 = 3;
const SEED_CENTRAL: u64 = 4;
const SEED_ATTACK: u64 = 5;
const SEED_PERSONALIZE: u64 = 6;

/// A prepared simulation: data loaded and partitioned, model shape fixed, noise calibrated.
#[derive(Debug)]
pub struct Simulation {
    cfg: SimConfig,
    schema: Schema,
    arch: Architecture,
    rule: Aggregator,
    train: Vec<Dataset>,
    holdout: Vec<Dataset>,
    pooled_holdout: Dataset,
    /// Each organization's training settings (its own sigma; its own plan with `--dp-plan auto`).
    train_cfgs: Vec<TrainConfig>,
    plans: Vec<Option<DpPlan>>,
    init: Vec<f32>,
    /// Rows the schema's consent column dropped before anything else.
    consent_dropped: u64,
}

fn config_err(what: &'static str, reason: String) -> LearnError {
    LearnError::Config { what, reason }
}

impl Simulation {
    /// Load and partition the data, build the model, check the rule accepts (n, f), and
    /// calibrate noise when a target epsilon is given.
    pub fn new(cfg: SimConfig) -> Result<Self, LearnError> {
        if cfg.orgs == 0 || cfg.rounds == 0 {
            return Err(config_err(
                "simulation",
                "need at least one organization and one round".into(),
            ));
        }
        if cfg.byzantine >= cfg.orgs {
            return Err(config_err(
                "byzantine",
                format!(
                    "{} attackers among {} organizations leaves no honest one",
                    cfg.byzantine, cfg.orgs
                ),
            ));
        }
        if cfg.byzantine > 0 && cfg.attack.is_none() {
            return Err(config_err(
                "attack",
                format!("{} Byzantine organizations need an attack", cfg.byzantine),
            ));
        }
        if !(cfg.holdout > 0.0 && cfg.holdout < 1.0) {
            return Err(config_err(
                "holdout",
                format!("must be in (0, 1), found {}", cfg.holdout),
            ));
        }
        if !(cfg.delta > 0.0 && cfg.delta < 1.0) {
            return Err(config_err(
                "delta",
                format!("must be in (0, 1), found {}", cfg.delta),
            ));
        }
        let (table, schema) = match &cfg.data {
            DataSource::Synthetic { rows_per_org } => {
                let t = synth::generate(&synth::SynthConfig {
                    orgs: cfg.orgs,
                    rows_per_org: *rows_per_org,
                    seed: cfg.seed,
                });
                (t, synth::schema())
            }
            DataSource::Csv { path, schema } => {
                let schema = Schema::load(schema)?;
                (csv::load_table(path)?, schema)
            }
        };
        let (table, consent_dropped) = table.consenting(&schema)?;
        let data = table.encode(&schema)?;
        let parts = partition(
            &cfg.partition,
            &data,
            Some(&table),
            cfg.orgs,
            derive(cfg.seed, &[SEED_PARTITION]),
        )?;
        let mut train = Vec::with_capacity(cfg.orgs);
        let mut holdout = Vec::with_capacity(cfg.orgs);
        for (k, idx) in parts.iter().enumerate() {
            let (t, h) = data
                .subset(idx)
                .split(cfg.holdout, derive(cfg.seed, &[SEED_SPLIT, k as u64]));
            train.push(t);
            holdout.push(h);
        }
        let pooled_holdout = Dataset::concat(&holdout.iter().collect::<Vec<_>>())?;
        let arch = Architecture::new(
            cfg.model,
            data.num_features(),
            data.classes,
            cfg.hidden.clone(),
        )?;
        let rule = glue::parse_rule(&cfg.rule, cfg.orgs, cfg.rule_f())?;
        let (train_cfgs, plans) = Self::dp_settings(&cfg, &train)?;
        let init = arch.init(cfg.seed);
        if let Some(a) = cfg.attack {
            tracing::warn!(
                target: "fedledger::simulate",
                attack = %a,
                attackers = cfg.byzantine,
                "attack mode: the last {} organizations attack",
                cfg.byzantine
            );
        }
        tracing::info!(
            target: "fedledger::simulate",
            orgs = cfg.orgs,
            examples = data.len(),
            features = data.num_features(),
            params = arch.num_params(),
            rule = %cfg.rule,
            byzantine = cfg.byzantine,
            "simulation prepared"
        );
        Ok(Simulation {
            cfg,
            schema,
            arch,
            rule,
            train,
            holdout,
            pooled_holdout,
            train_cfgs,
            plans,
            init,
            consent_dropped,
        })
    }

    /// Every organization's training settings and, with `--dp-plan auto`, its plan.
    #[allow(clippy::type_complexity)]
    fn dp_settings(
        cfg: &SimConfig,
        train: &[Dataset],
    ) -> Result<(Vec<TrainConfig>, Vec<Option<DpPlan>>), LearnError> {
        let fixed = Self::train_config_for(cfg, 0.0);
        let mut cfgs = Vec::with_capacity(train.len());
        let mut plans = Vec::with_capacity(train.len());
        for d in train {
            let (tc, plan) = match (cfg.dp_plan, cfg.noise) {
                (DpPlanMode::Auto, Noise::TargetEpsilon(epsilon)) => {
                    let target = DpPlanTarget {
                        epsilon,
                        delta: cfg.delta,
                        rounds: u64::from(cfg.rounds),
                    };
                    let p = privacy::plan(&target, d.len() as u64)
                        .map_err(|e| LearnError::Privacy(e.to_string()))?;
                    let tc = TrainConfig {
                        batch_size: p.batch_size as usize,
                        local_epochs: p.local_epochs,
                        dp: Some(DpSettings {
                            clip_norm: p.clip_norm as f32,
                            noise_multiplier: p.noise_multiplier,
                        }),
                        ..fixed
                    };
                    (tc, Some(p))
                }
                (DpPlanMode::Auto, _) => {
                    return Err(config_err(
                        "dp plan",
                        "--dp-plan auto plans for a target epsilon: give --target-epsilon".into(),
                    ))
                }
                (DpPlanMode::Fixed, Noise::Off) => (fixed, None),
                (DpPlanMode::Fixed, Noise::Multiplier(s)) if s.is_finite() && s >= 0.0 => {
                    (Self::train_config_for(cfg, s), None)
                }
                (DpPlanMode::Fixed, Noise::Multiplier(s)) => {
                    return Err(config_err(
                        "noise multiplier",
                        format!("must be >= 0, found {s}"),
                    ))
                }
                (DpPlanMode::Fixed, Noise::TargetEpsilon(eps)) => {
                    let (q, steps) = fixed.schedule(d.len());
                    let s = glue::calibrate(q, steps, u64::from(cfg.rounds), eps, cfg.delta)?;
                    (Self::train_config_for(cfg, s), None)
                }
            };
            cfgs.push(tc);
            plans.push(plan);
        }
        Ok((cfgs, plans))
    }

    fn train_config_for(cfg: &SimConfig, sigma: f64) -> TrainConfig {
        TrainConfig {
            lr: cfg.lr,
            momentum: cfg.momentum,
            batch_size: cfg.batch_size,
            local_epochs: cfg.local_epochs,
            dp: match cfg.noise {
                Noise::Off => None,
                _ => Some(DpSettings {
                    clip_norm: cfg.clip_norm,
                    noise_multiplier: sigma,
                }),
            },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The data schema in use.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The model shape.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// The initial global model.
    pub fn initial_model(&self) -> &[f32] {
        &self.init
    }

    /// The genesis model spec this run corresponds to (init seed = simulation seed).
    pub fn model_spec(&self) -> ModelSpec {
        ModelSpec {
            kind: self.arch.kind.to_string(),
            features: self.arch.features as u32,
            classes: self.arch.classes as u32,
            hidden: self.arch.hidden.iter().map(|&h| h as u32).collect(),
            init_seed: self.cfg.seed,
            schema_hash: self.schema.hash().to_hex(),
            tensors: Vec::new(),
            decision_threshold: (self.cfg.decision_threshold != 0.5)
                .then_some(self.cfg.decision_threshold),
        }
    }

    /// The genesis DP policy this run corresponds to; its noise multiplier is the smallest any
    /// organization uses, and with `--dp-plan auto` it carries the plan target.
    pub fn dp_policy(&self) -> DpPolicy {
        let plan = match (self.cfg.dp_plan, self.cfg.noise) {
            (DpPlanMode::Auto, Noise::TargetEpsilon(target_epsilon)) => Some(DpPlanSpec {
                target_epsilon,
                rounds: u64::from(self.cfg.rounds),
            }),
            _ => None,
        };
        DpPolicy {
            clip_norm: f64::from(self.cfg.clip_norm),
            noise_multiplier: self
                .noise_multipliers()
                .into_iter()
                .reduce(f64::min)
                .unwrap_or(0.0),
            batch_size: self.cfg.batch_size as u32,
            local_epochs: self.cfg.local_epochs,
            delta: self.cfg.delta,
            plan,
        }
    }

    /// Each organization's noise multiplier (0 without DP).
    pub fn noise_multipliers(&self) -> Vec<f64> {
        (0..self.train_cfgs.len()).map(|k| self.sigma(k)).collect()
    }

    /// What organization `k` spends per round (sampling rate 0 steps' worth without DP).
    pub fn planned_spend(&self, k: usize) -> DpSpend {
        let (q, steps) = self.train_cfgs[k].schedule(self.train[k].len());
        DpSpend {
            sampling_rate: q,
            noise_multiplier: self.sigma(k),
            steps,
        }
    }

    fn sigma(&self, k: usize) -> f64 {
        self.train_cfgs[k].dp.map_or(0.0, |d| d.noise_multiplier)
    }

    /// Each organization's number of training examples.
    pub fn train_examples(&self) -> Vec<usize> {
        self.train.iter().map(Dataset::len).collect()
    }

    fn is_byzantine(&self, k: usize) -> bool {
        k >= self.cfg.orgs - self.cfg.byzantine
    }

    fn dp_on(&self) -> bool {
        !matches!(self.cfg.noise, Noise::Off)
    }

    /// Run every round, calling `on_round` after each with the ledger record and the table row;
    /// an error from the callback stops the run and is returned.
    pub fn run<F>(&self, on_round: F) -> Result<SimReport, LearnError>
    where
        F: FnMut(&RoundRecord, &RoundReport) -> Result<(), LearnError>,
    {
        self.run_seeded(self.default_round_seed(), on_round)
    }

    /// The aggregation seed of each round when no ledger supplies one: a hash of the simulation
    /// seed and the round.
    pub fn default_round_seed(&self) -> impl Fn(u64) -> Digest {
        let seed = self.cfg.seed;
        move |round: u64| {
            Digest::of_parts(&[
                b"fedledger/simulate/round-seed",
                &seed.to_le_bytes(),
                &round.to_le_bytes(),
            ])
        }
    }

    /// [`Simulation::run`] with the per-round aggregation seed (what drives bucketing; a node
    /// uses the previous block hash) taken from `round_seed(round)`, so a ledger written
    /// alongside can use its real block hashes.
    pub fn run_seeded<S, F>(
        &self,
        mut round_seed: S,
        mut on_round: F,
    ) -> Result<SimReport, LearnError>
    where
        S: FnMut(u64) -> Digest,
        F: FnMut(&RoundRecord, &RoundReport) -> Result<(), LearnError>,
    {
        let cfg = &self.cfg;
        let n = cfg.orgs;
        let attack = cfg.attack;
        let mut global = self.init.clone();
        let mut accountants: Vec<Accountant> = vec![Accountant::new(); n];
        let mut epsilons: Vec<Option<f64>> = vec![None; n];
        let mut rounds = Vec::with_capacity(cfg.rounds as usize);
        for round in 1..=u64::from(cfg.rounds) {
            let base_hash = model_hash(&global);
            let trained: Vec<(TrainOutput, LocalMetrics)> = (0..n)
                .into_par_iter()
                .map(|k| self.local_round(k, round, &global))
                .collect::<Result<_, _>>()?;
            let honest: Vec<&[f32]> = trained
                .iter()
                .enumerate()
                .filter(|(k, _)| !self.is_byzantine(*k))
                .map(|(_, (t, _))| t.delta.as_slice())
                .collect();
            // What the attackers' coalition knows of the rule: it aggregates a full round of
            // updates exactly as the real round will.
            let agg_seed = round_seed(round);
            let oracle = |set: &[&[f32]]| -> Result<Vec<f32>, LearnError> {
                let ids: Vec<(Digest, &[f32])> = set.iter().map(|u| (update_hash(u), *u)).collect();
                Ok(glue::aggregate(&self.rule, &ids, cfg.rule_f(), &agg_seed)?.0)
            };
            // A colluding attack is crafted once per round (one seed for the coalition) and every
            // attacker sends that same update.
            let mut shared: Option<Vec<f32>> = None;
            let mut deltas: Vec<Vec<f32>> = Vec::with_capacity(n);
            for (k, (t, _)) in trained.iter().enumerate() {
                match attack {
                    Some(a) if self.is_byzantine(k) && a.is_colluding() => {
                        let update = match &shared {
                            Some(u) => u.clone(),
                            None => {
                                let seed = derive(cfg.seed, &[SEED_ATTACK, round]);
                                let u = a.craft(
                                    &t.delta,
                                    &honest,
                                    n,
                                    cfg.byzantine,
                                    seed,
                                    Some(&oracle),
                                )?;
                                shared = Some(u.clone());
                                u
                            }
                        };
                        deltas.push(update);
                    }
                    Some(a) if self.is_byzantine(k) && !a.is_data_level() => {
                        let seed = derive(cfg.seed, &[SEED_ATTACK, round, k as u64]);
                        deltas.push(a.craft(&t.delta, &honest, n, cfg.byzantine, seed, None)?);
                    }
                    _ => deltas.push(t.delta.clone()),
                }
            }
            let hashes: Vec<Digest> = deltas.iter().map(|d| update_hash(d)).collect();
            let refs: Vec<(Digest, &[f32])> = hashes
                .iter()
                .copied()
                .zip(deltas.iter().map(Vec::as_slice))
                .collect();
            let (aggregate, outcomes) =
                glue::aggregate(&self.rule, &refs, cfg.rule_f(), &agg_seed)?;
            // The model step is consensus-critical: plain f32 addition, coordinate by coordinate.
            for (g, a) in global.iter_mut().zip(&aggregate) {
                *g += *a;
            }
            let mut updates = Vec::with_capacity(n);
            for (k, ((t, local), delta)) in trained.into_iter().zip(deltas).enumerate() {
                // Without noise there is no finite epsilon; the accountant would say +inf.
                if self.dp_on() && self.sigma(k) > 0.0 {
                    epsilons[k] = Some(glue::spend(&mut accountants[k], &t.spend, cfg.delta)?);
                }
                updates.push(OrgUpdate {
                    org: k,
                    byzantine: self.is_byzantine(k),
                    update_hash: hashes[k],
                    update: delta,
                    dp: t.spend,
                    epsilon_total: epsilons[k],
                    num_examples: self.train[k].len() as u64,
                    metrics: local,
                });
            }
            let eval = evaluate_model_at(
                &self.arch,
                &global,
                &self.pooled_holdout,
                self.cfg.decision_threshold,
            )?;
            let excluded: Vec<usize> = outcomes
                .iter()
                .filter(|o| !o.included)
                .map(|o| o.index)
                .collect();
            let report = RoundReport {
                round,
                loss: eval.log_loss,
                accuracy: eval.accuracy,
                auc: eval.auc,
                epsilon: self.max_honest_epsilon(&epsilons),
                included: n - excluded.len(),
                excluded: excluded.len(),
                excluded_byzantine: excluded.iter().filter(|&&i| self.is_byzantine(i)).count(),
                model_hash: model_hash(&global).to_hex(),
            };
            let locals: Vec<&LocalMetrics> =
                updates.iter().map(|u: &OrgUpdate| &u.metrics).collect();
            let record = RoundRecord {
                base_metrics: pool_metrics(&locals),
                round,
                base_model: base_hash,
                updates,
                rule: self.rule.name().to_string(),
                f: cfg.rule_f(),
                outcomes,
                aggregate_hash: Digest::of(&encode_update(&aggregate)),
                new_model: model_hash(&global),
            };
            tracing::debug!(target: "fedledger::simulate", round, auc = report.auc, excluded = report.excluded, "round done");
            on_round(&record, &report)?;
            rounds.push(report);
        }
        let final_metrics = evaluate_model_at(
            &self.arch,
            &global,
            &self.pooled_holdout,
            self.cfg.decision_threshold,
        )?;
        let centralized = self.centralized()?;
        let personalized: Vec<Option<Personalization>> = if cfg.personalize_epochs > 0 {
            (0..n)
                .into_par_iter()
                .map(|k| self.personalize(k, &global, &accountants[k]).map(Some))
                .collect::<Result<_, _>>()?
        } else {
            vec![None; n]
        };
        let orgs = (0..n)
            .zip(personalized)
            .map(|(k, personalized)| {
                let d = &self.train[k];
                OrgSummary {
                    personalized,
                    org: k,
                    train_examples: d.len() as u64,
                    holdout_examples: self.holdout[k].len() as u64,
                    positive_rate: d.y.iter().filter(|&&y| y == 1).count() as f64
                        / d.len().max(1) as f64,
                    byzantine: self.is_byzantine(k),
                    noise_multiplier: self.sigma(k),
                    epsilon: epsilons[k],
                    plan: self.plans[k],
                }
            })
            .collect();
        Ok(SimReport {
            config: cfg.clone(),
            rounds,
            final_metrics,
            centralized,
            orgs,
            consent_dropped: self.consent_dropped,
            initial_model_hash: model_hash(&self.init).to_hex(),
            final_model_hash: model_hash(&global).to_hex(),
        })
    }

    fn max_honest_epsilon(&self, eps: &[Option<f64>]) -> Option<f64> {
        eps.iter()
            .enumerate()
            .filter(|(k, _)| !self.is_byzantine(*k))
            .filter_map(|(_, e)| *e)
            .reduce(f64::max)
    }

    /// Fine-tune the final global model on organization `k`'s own training data (its own
    /// DP-SGD settings, `personalize_epochs` epochs) and score both on its own holdout.
    fn personalize(
        &self,
        k: usize,
        global: &[f32],
        accountant: &Accountant,
    ) -> Result<Personalization, LearnError> {
        let tc = TrainConfig {
            local_epochs: self.cfg.personalize_epochs,
            ..self.train_cfgs[k]
        };
        let out = train_local(
            &self.arch,
            global,
            &self.train[k],
            &tc,
            derive(self.cfg.seed, &[SEED_PERSONALIZE, k as u64]),
        )?;
        let own: Vec<f32> = global.iter().zip(&out.delta).map(|(g, d)| g + d).collect();
        let holdout = &self.holdout[k];
        let before = evaluate_model_at(&self.arch, global, holdout, self.cfg.decision_threshold)?;
        let after = evaluate_model_at(&self.arch, &own, holdout, self.cfg.decision_threshold)?;
        let epsilon_after = if self.dp_on() && self.sigma(k) > 0.0 {
            Some(glue::spend(
                &mut accountant.clone(),
                &out.spend,
                self.cfg.delta,
            )?)
        } else {
            None
        };
        Ok(Personalization {
            holdout_positives: holdout.y.iter().filter(|&&y| y == 1).count() as u64,
            holdout_examples: holdout.len() as u64,
            global_auc: before.auc,
            personalized_auc: after.auc,
            global_accuracy: before.accuracy,
            personalized_accuracy: after.accuracy,
            global_log_loss: before.log_loss,
            personalized_log_loss: after.log_loss,
            epsilon_after,
        })
    }

    /// One organization's round: evaluate the base model on its holdout, then train.
    fn local_round(
        &self,
        k: usize,
        round: u64,
        global: &[f32],
    ) -> Result<(TrainOutput, LocalMetrics), LearnError> {
        let local = evaluate_model_at(
            &self.arch,
            global,
            &self.holdout[k],
            self.cfg.decision_threshold,
        )?
        .to_local();
        let flipped;
        let data = match self.cfg.attack {
            Some(a) if a.is_data_level() && self.is_byzantine(k) => {
                flipped = Attack::flip_labels(&self.train[k]);
                &flipped
            }
            _ => &self.train[k],
        };
        let tc = self.train_cfgs[k];
        let out = train_local(
            &self.arch,
            global,
            data,
            &tc,
            derive(self.cfg.seed, &[SEED_TRAIN, round, k as u64]),
        )?;
        Ok((out, local))
    }

    /// The centralized baseline: the same model and number of epochs (rounds x local epochs) on
    /// the pooled training data of all organizations, without DP or attacks, evaluated on the
    /// pooled holdout.
    pub fn centralized(&self) -> Result<Metrics, LearnError> {
        let pooled = Dataset::concat(&self.train.iter().collect::<Vec<_>>())?;
        let tc = TrainConfig {
            local_epochs: self.cfg.rounds * self.cfg.local_epochs,
            dp: None,
            ..Self::train_config_for(&self.cfg, 0.0)
        };
        let out = train_local(
            &self.arch,
            &self.init,
            &pooled,
            &tc,
            derive(self.cfg.seed, &[SEED_CENTRAL]),
        )?;
        let params: Vec<f32> = self
            .init
            .iter()
            .zip(&out.delta)
            .map(|(a, b)| a + b)
            .collect();
        evaluate_model_at(
            &self.arch,
            &params,
            &self.pooled_holdout,
            self.cfg.decision_threshold,
        )
    }
}
