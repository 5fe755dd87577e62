//! Local training: SGD with momentum over local epochs, optionally as DP-SGD (Poisson sampling,
//! per-example clipping, Gaussian noise). Returns the update as a delta from the global model.

mod local;

pub use local::train_local;

use fedledger_ledger::block::DpSpend;
use serde::{Deserialize, Serialize};

/// DP-SGD settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DpSettings {
    /// Per-example L2 clipping bound C.
    pub clip_norm: f32,
    /// Noise multiplier sigma: the summed clipped gradient gets N(0, (sigma C)^2) per coordinate.
    pub noise_multiplier: f64,
}

/// How a member trains locally.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Learning rate.
    pub lr: f32,
    /// Heavy-ball momentum (0 = plain SGD). The buffer starts at zero every round.
    pub momentum: f32,
    /// (Expected) batch size; with DP the sampling rate is `batch_size / examples`.
    pub batch_size: usize,
    /// Passes over the local data per round (in expectation, with Poisson sampling).
    pub local_epochs: u32,
    /// DP-SGD, or plain minibatch SGD when `None`.
    pub dp: Option<DpSettings>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            lr: 0.1,
            momentum: 0.9,
            batch_size: 64,
            local_epochs: 1,
            dp: None,
        }
    }
}

impl TrainConfig {
    /// The Poisson sampling rate and number of steps a round takes on `examples` local examples:
    /// `q = min(1, batch / examples)` and `steps = ceil(local_epochs / q)`. Known before training
    /// so the accountant can refuse a round that would cross a budget.
    pub fn schedule(&self, examples: usize) -> (f64, u64) {
        fedledger_ledger::privacy::schedule(
            self.batch_size as u64,
            self.local_epochs,
            examples as u64,
        )
    }
}

/// The result of one round of local training.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutput {
    /// Local model minus global model.
    pub delta: Vec<f32>,
    /// The privacy this release spent (noise multiplier 0 when DP is off).
    pub spend: DpSpend,
    /// Mean training loss over the steps (of the pre-step parameters).
    pub mean_loss: f64,
    /// Share of sampled examples whose gradient was clipped (0 without DP).
    pub clipped_fraction: f64,
}
