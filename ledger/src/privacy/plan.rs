//! DP-SGD plans: the batch, local epochs, clipping norm and noise multiplier that reach a target
//! epsilon, chosen from the accountant and public sizes only.
//!
//! Why the plan has this shape. For a given target, the accountant fixes the *noise per unit of
//! movement* eta = sigma / (B sqrt(S)) almost independently of how the budget is split into
//! expected batch B and steps per round S (where sigma is large it grows like q sqrt(steps)).
//! With every per-example gradient clipped to C, a round moves the model by at most S C (times
//! the learning rate) and adds noise of standard deviation sigma C sqrt(S) / B = eta S C per
//! coordinate: noise in proportion to movement. So the real choice is how far a round may move:
//! far enough to converge in the planned rounds and no further. On the built-in data (8 members
//! of ~300 customers, 20 rounds, seeds 1-10) the best steps per round grew like 1/sqrt(eta):
//! about 25 at eta = 1/16 (epsilon 1), 14 at epsilon 0.3, 8 at epsilon 0.1. Movement is set
//! like 1/eta, 5 clip units at eta = 1/16: the aggregate is an unweighted mean, so a member with
//! few examples (large eta) should pull less, in inverse proportion to its noise; that beat
//! 1/sqrt(eta) at every epsilon we measured. Clamped to 1..=[`MAX_EPOCHS`] local epochs and a
//! clip of at most [`MAX_CLIP`].
//!
//! A plan is a pure function of (target epsilon, delta, rounds, local examples): it never looks at
//! the data, so a member's example count (which it signs) is all a validator needs to recompute
//! it and check the spend the member recorded.

use super::calibrate_noise;
use crate::block::DpSpend;
use crate::error::LedgerError;
use serde::{Deserialize, Serialize};

/// The expected batch size of a plan (capped at the member's examples).
pub const PLAN_BATCH: u64 = 64;
/// At most this many local epochs per round: more costs compute and moved no AUC in our runs.
pub const MAX_EPOCHS: u32 = 4;
/// The noise per unit of movement the constants below were measured at (epsilon 1 there).
pub const REFERENCE_NOISE: f64 = 0.0625;
/// Steps per round at [`REFERENCE_NOISE`]; scaled by sqrt(REFERENCE_NOISE / eta).
pub const REFERENCE_STEPS: f64 = 25.0;
/// Movement per round (steps x clip) at [`REFERENCE_NOISE`]; scaled by REFERENCE_NOISE / eta.
pub const REFERENCE_MOVEMENT: f64 = 5.0;
/// The clipping norm never exceeds this (larger would stop clipping most examples on scaled data).
pub const MAX_CLIP: f64 = 1.0;

/// What a plan aims for: recorded in the genesis under `[dp.plan]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DpPlanTarget {
    /// Epsilon after `rounds` rounds.
    pub epsilon: f64,
    /// The delta epsilon is measured at.
    pub delta: f64,
    /// Rounds the budget is spread over.
    pub rounds: u64,
}

/// The DP-SGD settings of one member for every round.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DpPlan {
    /// Expected batch size.
    pub batch_size: u64,
    /// Local epochs per round (in expectation, with Poisson sampling).
    pub local_epochs: u32,
    /// Per-example clipping norm C.
    pub clip_norm: f64,
    /// Noise multiplier sigma: the smallest that keeps all planned rounds within the target.
    pub noise_multiplier: f64,
    /// Poisson sampling rate q = batch / examples.
    pub sampling_rate: f64,
    /// Noisy steps per round.
    pub steps_per_round: u64,
    /// eta, the noise per unit of movement at the one-epoch reference schedule.
    pub noise_per_movement: f64,
}

impl DpPlan {
    /// What one round under this plan spends (what the member must record, bit for bit).
    pub fn spend(&self) -> DpSpend {
        DpSpend {
            sampling_rate: self.sampling_rate,
            noise_multiplier: self.noise_multiplier,
            steps: self.steps_per_round,
        }
    }
}

/// The Poisson sampling rate and steps of a round of `epochs` local epochs at expected batch
/// `batch` over `examples` examples: `q = min(1, batch / examples)`, `steps = ceil(epochs / q)`.
/// The one definition nodes, the simulator and validators share.
pub fn schedule(batch: u64, epochs: u32, examples: u64) -> (f64, u64) {
    let n = examples.max(1) as f64;
    let q = (batch.max(1) as f64 / n).min(1.0);
    let steps = (f64::from(epochs) / q).ceil() as u64;
    (q, steps.max(1))
}

/// The plan of a member with `examples` local training examples.
///
/// # Errors
/// [`LedgerError::InvalidInput`] if `examples` or `target.rounds` is zero, or the accountant
/// cannot calibrate the target (epsilon not finite and positive, delta not in (0, 1), or a target
/// so loose or tight that no noise multiplier in [2^-20, 2^20] meets it).
pub fn plan(target: &DpPlanTarget, examples: u64) -> Result<DpPlan, LedgerError> {
    if examples == 0 {
        return Err(LedgerError::InvalidInput {
            what: "examples",
            reason: "a plan needs at least one local example".into(),
        });
    }
    if target.rounds == 0 {
        return Err(LedgerError::InvalidInput {
            what: "plan rounds",
            reason: "a plan spreads its budget over at least one round".into(),
        });
    }
    let batch = PLAN_BATCH.min(examples);
    // The reference schedule (one epoch per round) only measures eta.
    let (q, reference_steps) = schedule(batch, 1, examples);
    let sigma_ref = calibrate_noise(
        q,
        reference_steps,
        target.rounds,
        target.epsilon,
        target.delta,
    )?;
    let eta = sigma_ref / (batch as f64 * libm::sqrt(reference_steps as f64));
    let wanted_steps = REFERENCE_STEPS * libm::sqrt(REFERENCE_NOISE / eta);
    let epochs = libm::round(wanted_steps * q).clamp(1.0, f64::from(MAX_EPOCHS)) as u32;
    let (q, steps) = schedule(batch, epochs, examples);
    let clip = (REFERENCE_MOVEMENT * REFERENCE_NOISE / eta / steps as f64).min(MAX_CLIP);
    let sigma = if epochs == 1 {
        sigma_ref
    } else {
        calibrate_noise(q, steps, target.rounds, target.epsilon, target.delta)?
    };
    Ok(DpPlan {
        batch_size: batch,
        local_epochs: epochs,
        clip_norm: clip,
        noise_multiplier: sigma,
        sampling_rate: q,
        steps_per_round: steps,
        noise_per_movement: eta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::epsilon;

    fn target(epsilon: f64) -> DpPlanTarget {
        DpPlanTarget {
            epsilon,
            delta: 1e-5,
            rounds: 20,
        }
    }

    #[test]
    fn a_plan_spends_at_most_its_target_and_nearly_all_of_it() {
        for &(eps, n) in &[
            (0.1, 240u64),
            (0.3, 240),
            (1.0, 240),
            (1.0, 1000),
            (4.0, 50),
        ] {
            let p = plan(&target(eps), n).expect("plan");
            let spent = epsilon(&vec![p.spend(); 20], 1e-5)
                .expect("epsilon")
                .epsilon;
            assert!(spent <= eps, "eps {eps} n {n}: spent {spent}");
            assert!(spent >= eps * 0.999, "eps {eps} n {n}: spent only {spent}");
        }
    }

    #[test]
    fn tighter_budgets_plan_fewer_steps_and_shorter_moves() {
        let loose = plan(&target(1.0), 240).expect("plan");
        let tight = plan(&target(0.1), 240).expect("plan");
        assert!(tight.steps_per_round < loose.steps_per_round);
        assert!(
            tight.clip_norm * (tight.steps_per_round as f64)
                < loose.clip_norm * (loose.steps_per_round as f64)
        );
        assert!(tight.noise_per_movement > loose.noise_per_movement);
    }

    #[test]
    fn bounds_hold_at_the_extremes() {
        for &(eps, n) in &[(0.01, 10u64), (50.0, 100_000), (1.0, 1), (0.5, 64)] {
            let p = plan(&target(eps), n).expect("plan");
            assert!((1..=MAX_EPOCHS).contains(&p.local_epochs));
            assert!(p.clip_norm > 0.0 && p.clip_norm <= MAX_CLIP);
            assert!(p.batch_size <= n && p.sampling_rate <= 1.0);
            assert_eq!(
                schedule(p.batch_size, p.local_epochs, n),
                (p.sampling_rate, p.steps_per_round)
            );
        }
    }

    #[test]
    fn unusable_inputs_are_errors() {
        assert!(plan(&target(1.0), 0).is_err());
        assert!(plan(
            &DpPlanTarget {
                rounds: 0,
                ..target(1.0)
            },
            100
        )
        .is_err());
        assert!(plan(&target(f64::NAN), 100).is_err());
        assert!(plan(&target(-1.0), 100).is_err());
        assert!(plan(
            &DpPlanTarget {
                delta: 1.0,
                ..target(1.0)
            },
            100
        )
        .is_err());
    }

    #[test]
    fn plans_are_pinned() {
        // Validators recompute plans to check spends: a change here changes validity.
        let p = plan(&target(0.3), 290).expect("plan");
        let bits = (
            p.batch_size,
            p.local_epochs,
            p.clip_norm.to_bits(),
            p.noise_multiplier.to_bits(),
            p.sampling_rate.to_bits(),
            p.steps_per_round,
        );
        assert_eq!(
            bits,
            (
                64,
                3,
                0x3fbdf17f81516c38,
                0x4046c3c800000000,
                0x3fcc3f8f01c3f8f0,
                14
            ),
            "{p:?}"
        );
    }
}
