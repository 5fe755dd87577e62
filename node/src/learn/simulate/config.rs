//! What a simulation runs: data, federation, model, rule, attack, DP and seed.

use crate::learn::attack::Attack;
use crate::learn::model::ModelKind;
use crate::learn::partition::Partition;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the examples come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    /// The built-in synthetic customer generator (its own schema), `rows_per_org` customers for
    /// each organization, seeded by the simulation seed.
    Synthetic {
        /// Customers generated per organization.
        rows_per_org: usize,
    },
    /// A CSV file encoded by a TOML schema.
    Csv {
        /// The data file.
        path: PathBuf,
        /// The schema file.
        schema: PathBuf,
    },
}

/// How much noise DP-SGD adds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Noise {
    /// No DP: plain minibatch SGD, no clipping, infinite epsilon.
    Off,
    /// A fixed noise multiplier sigma for every organization.
    Multiplier(f64),
    /// Each organization's sigma is calibrated so that after all planned rounds its epsilon at
    /// `delta` is this target (organizations differ in size, hence in sampling rate).
    TargetEpsilon(f64),
}

/// How each organization's DP-SGD settings are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpPlanMode {
    /// The same batch, epochs and clip for everyone; sigma from [`Noise`].
    #[default]
    Fixed,
    /// Planned per organization from the target epsilon and its example count
    /// ([`fedledger_ledger::privacy::plan`]), as a node does under a genesis `[dp.plan]`.
    Auto,
}

impl std::str::FromStr for DpPlanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fixed" => Ok(DpPlanMode::Fixed),
            "auto" => Ok(DpPlanMode::Auto),
            other => Err(format!("unknown DP plan {other:?}: expected fixed or auto")),
        }
    }
}

impl std::fmt::Display for DpPlanMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DpPlanMode::Fixed => "fixed",
            DpPlanMode::Auto => "auto",
        })
    }
}

/// A simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// The examples.
    pub data: DataSource,
    /// Number of organizations.
    pub orgs: usize,
    /// How examples are split among them.
    pub partition: Partition,
    /// Training rounds.
    pub rounds: u32,
    /// Model family.
    pub model: ModelKind,
    /// Hidden widths (MLP only).
    pub hidden: Vec<usize>,
    /// Aggregation rule (CLI name, e.g. `krum`).
    pub rule: String,
    /// The f the rule is configured for; `None` means the number of Byzantine members.
    pub rule_f: Option<usize>,
    /// How many organizations attack (the last ones by index).
    pub byzantine: usize,
    /// What they do.
    pub attack: Option<Attack>,
    /// DP noise.
    pub noise: Noise,
    /// Fixed settings, or planned from the target epsilon (needs [`Noise::TargetEpsilon`]).
    #[serde(default)]
    pub dp_plan: DpPlanMode,
    /// The delta epsilon is measured at.
    pub delta: f64,
    /// Per-example clipping bound C (with DP on).
    pub clip_norm: f32,
    /// (Expected) batch size.
    pub batch_size: usize,
    /// Local epochs per round.
    pub local_epochs: u32,
    /// Local learning rate.
    pub lr: f32,
    /// Local momentum.
    pub momentum: f32,
    /// Share of each organization's examples held out for evaluation.
    pub holdout: f64,
    /// Seed of everything (data, partition, init, sampling, noise, attacks).
    pub seed: u64,
    /// After the global rounds, each organization fine-tunes the final global model on its own
    /// training data for this many local epochs (DP-SGD with its own settings, the spend added
    /// to its epsilon) and is scored on its own holdout, global against personalized; 0: off.
    #[serde(default)]
    pub personalize_epochs: u32,
    /// A binary model's decision threshold: accuracy, precision, recall, F1 and the fairness
    /// rates are taken at P(class 1) >= this (the genesis's `model.decision_threshold`).
    #[serde(default = "half")]
    pub decision_threshold: f64,
}

fn half() -> f64 {
    0.5
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            data: DataSource::Synthetic { rows_per_org: 1000 },
            orgs: 8,
            partition: Partition::Dirichlet { alpha: 0.5 },
            rounds: 20,
            model: ModelKind::Logistic,
            hidden: Vec::new(),
            rule: "mean".into(),
            rule_f: None,
            byzantine: 0,
            attack: None,
            noise: Noise::Off,
            dp_plan: DpPlanMode::Fixed,
            delta: 1e-5,
            clip_norm: 1.0,
            batch_size: 64,
            local_epochs: 1,
            lr: 0.1,
            momentum: 0.9,
            holdout: 0.2,
            seed: 7,
            personalize_epochs: 0,
            decision_threshold: 0.5,
        }
    }
}

impl SimConfig {
    /// The f the aggregation rule runs with.
    pub fn rule_f(&self) -> usize {
        self.rule_f.unwrap_or(self.byzantine)
    }
}
