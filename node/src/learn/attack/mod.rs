//! Attacks a (test or demo) member can be configured to mount. Update-level attacks rewrite the
//! delta a member would have sent; `label-flip` poisons the training data instead; the colluding
//! attacks (`alie`, `ipm`, `min-max`, `min-sum`, `mimic`, `alie-adaptive`) are computed from the
//! honest members' updates, which a coalition of attackers is assumed to see (the strongest
//! standard threat model), and `alie-adaptive` also knows the aggregation rule.
//!
//! CLI names: `sign-flip[:SCALE]`, `gaussian[:STD]`, `scaling[:FACTOR]`, `label-flip`,
//! `alie[:Z]`, `ipm[:EPS]` (the optional number overrides the default strength),
//! `min-max[:std|unit|sign]`, `min-sum[:std|unit|sign]` (the perturbation), `mimic`,
//! `alie-adaptive`.

mod alie;
mod mimic;
mod min_max;
mod stats;

pub use alie::{alie_z, inverse_normal_cdf, ADAPTIVE_GRID};
pub use min_max::{Objective, Perturbation};

use crate::learn::data::Dataset;
use crate::learn::error::LearnError;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Aggregates a full round of updates (the honest ones, then the attackers' copies) with the
/// configured rule and f, for attacks that know the rule.
pub type Oracle<'a> = dyn Fn(&[&[f32]]) -> Result<Vec<f32>, LearnError> + 'a;

/// The attacks, with their strength parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Attack {
    /// Send `-scale * own delta` (default scale 4: with -1, two attackers among eight only
    /// shrink the plain mean's step instead of reversing it).
    SignFlip {
        /// Multiplier of the flipped update.
        scale: f32,
    },
    /// Send pure noise N(0, std^2) per coordinate (default std 1).
    Gaussian {
        /// Noise standard deviation.
        std: f32,
    },
    /// Send `factor * own delta` (model boosting; default factor 10).
    Scaling {
        /// Multiplier.
        factor: f32,
    },
    /// Train honestly on data whose labels are flipped (class c becomes classes - 1 - c).
    LabelFlip,
    /// A Little Is Enough (Baruch et al. 2019): every attacker sends `mean - z * std` of the
    /// honest updates, per coordinate. `z` defaults to the paper's value for (n, f).
    Alie {
        /// Override of z.
        z: Option<f64>,
    },
    /// Inner-product manipulation (Xie et al., UAI 2019): every attacker sends `-eps * mean` of the
    /// honest updates (default eps 0.5).
    Ipm {
        /// Strength.
        eps: f32,
    },
    /// Min-max (Shejwalkar and Houmansadr, "Manipulating the Byzantine", NDSS 2021): every
    /// attacker sends `mean + gamma * p` with gamma the largest the paper's halving search
    /// (from 10, tolerance 1e-5) finds for which its largest distance to an honest update is
    /// at most the largest distance between two honest updates.
    MinMax {
        /// The direction p (default `-std`).
        perturbation: Perturbation,
    },
    /// Min-sum (same paper): as min-max, with the constraint that its sum of squared distances
    /// to the honest updates is at most the largest such sum of an honest update.
    MinSum {
        /// The direction p (default `-std`).
        perturbation: Perturbation,
    },
    /// Mimic (Karimireddy, He and Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets
    /// via Bucketing", ICLR 2022): every attacker sends a copy of the honest update farthest
    /// along the honest updates' top principal direction, over-representing it.
    Mimic,
    /// ALIE whose z is chosen knowing the aggregation rule: over z = 0.25, 0.5, ..., 5 and the
    /// paper's z, the one whose aggregate (honest updates plus the attackers' copies) lies
    /// farthest from the honest mean. Needs an aggregation oracle.
    AlieAdaptive,
}

impl FromStr for Attack {
    type Err = LearnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| LearnError::Config {
            what: "attack",
            reason,
        };
        let (name, arg) = match s.trim().split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s.trim(), None),
        };
        let num = |default: f64| -> Result<f64, LearnError> {
            match arg {
                None => Ok(default),
                Some(a) => a
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(format!("{a:?} is not a number in {s:?}"))),
            }
        };
        let perturbation = || -> Result<Perturbation, LearnError> {
            arg.map_or(Ok(Perturbation::Std), str::parse)
        };
        Ok(match name {
            "sign-flip" => Attack::SignFlip {
                scale: num(4.0)? as f32,
            },
            "gaussian" => Attack::Gaussian {
                std: num(1.0)? as f32,
            },
            "scaling" => Attack::Scaling {
                factor: num(10.0)? as f32,
            },
            "label-flip" if arg.is_none() => Attack::LabelFlip,
            "alie" => Attack::Alie {
                z: match arg {
                    None => None,
                    Some(_) => Some(num(0.0)?),
                },
            },
            "ipm" => Attack::Ipm {
                eps: num(0.5)? as f32,
            },
            "min-max" => Attack::MinMax {
                perturbation: perturbation()?,
            },
            "min-sum" => Attack::MinSum {
                perturbation: perturbation()?,
            },
            "mimic" if arg.is_none() => Attack::Mimic,
            "alie-adaptive" if arg.is_none() => Attack::AlieAdaptive,
            _ => {
                return Err(bad(format!(
                    "{s:?}: expected sign-flip[:SCALE], gaussian[:STD], scaling[:FACTOR], \
                     label-flip, alie[:Z], ipm[:EPS], min-max[:std|unit|sign], \
                     min-sum[:std|unit|sign], mimic or alie-adaptive"
                )))
            }
        })
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::SignFlip { scale } => write!(f, "sign-flip:{scale}"),
            Attack::Gaussian { std } => write!(f, "gaussian:{std}"),
            Attack::Scaling { factor } => write!(f, "scaling:{factor}"),
            Attack::LabelFlip => write!(f, "label-flip"),
            Attack::Alie { z: Some(z) } => write!(f, "alie:{z}"),
            Attack::Alie { z: None } => write!(f, "alie"),
            Attack::Ipm { eps } => write!(f, "ipm:{eps}"),
            Attack::MinMax { perturbation } => write!(f, "min-max:{perturbation}"),
            Attack::MinSum { perturbation } => write!(f, "min-sum:{perturbation}"),
            Attack::Mimic => write!(f, "mimic"),
            Attack::AlieAdaptive => write!(f, "alie-adaptive"),
        }
    }
}

impl Attack {
    /// Whether the attack poisons data rather than rewriting the update.
    pub fn is_data_level(&self) -> bool {
        matches!(self, Attack::LabelFlip)
    }

    /// Whether the attack needs the honest members' updates. Every attacker of a colluding
    /// attack sends the same update.
    pub fn is_colluding(&self) -> bool {
        matches!(
            self,
            Attack::Alie { .. }
                | Attack::Ipm { .. }
                | Attack::MinMax { .. }
                | Attack::MinSum { .. }
                | Attack::Mimic
                | Attack::AlieAdaptive
        )
    }

    /// Whether the attack needs an aggregation oracle (it knows the rule).
    pub fn needs_oracle(&self) -> bool {
        matches!(self, Attack::AlieAdaptive)
    }

    /// The data-level poisoning: labels flipped (class c becomes classes - 1 - c).
    pub fn flip_labels(data: &Dataset) -> Dataset {
        let mut d = data.clone();
        let k = d.classes as u32;
        for y in &mut d.y {
            *y = k - 1 - (*y).min(k - 1);
        }
        d
    }

    /// The update an attacker sends. `own` is the delta it trained honestly (on flipped labels
    /// for `label-flip`), `honest` the honest members' deltas (used by colluding attacks),
    /// `n` the number of participants and `f` the number of attackers, `seed` drives the
    /// Gaussian attack and mimic's power iteration (give every attacker of a colluding attack
    /// the same seed), `oracle` aggregates a full set of updates with the configured rule (only
    /// `alie-adaptive` uses it, and fails without one).
    pub fn craft(
        &self,
        own: &[f32],
        honest: &[&[f32]],
        n: usize,
        f: usize,
        seed: u64,
        oracle: Option<&Oracle<'_>>,
    ) -> Result<Vec<f32>, LearnError> {
        let dim = own.len();
        if honest.iter().any(|h| h.len() != dim) {
            return Err(LearnError::Shape {
                reason: "honest updates differ in length from the attacker's".into(),
            });
        }
        if self.is_colluding() && honest.is_empty() {
            return Err(LearnError::Config {
                what: "attack",
                reason: format!("{self} needs at least one honest update to work from"),
            });
        }
        Ok(match *self {
            Attack::SignFlip { scale } => own.iter().map(|v| -scale * v).collect(),
            Attack::Scaling { factor } => own.iter().map(|v| factor * v).collect(),
            Attack::LabelFlip => own.to_vec(),
            Attack::Gaussian { std } => {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                (0..dim)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        (z * f64::from(std)) as f32
                    })
                    .collect()
            }
            Attack::Ipm { eps } => stats::mean(honest, dim)
                .into_iter()
                .map(|m| (-f64::from(eps) * m) as f32)
                .collect(),
            Attack::Alie { z } => alie::craft(honest, dim, z.unwrap_or_else(|| alie_z(n, f))),
            Attack::MinMax { perturbation } => {
                min_max::craft(Objective::MinMax, perturbation, honest, dim).1
            }
            Attack::MinSum { perturbation } => {
                min_max::craft(Objective::MinSum, perturbation, honest, dim).1
            }
            Attack::Mimic => honest[mimic::pick(honest, dim, seed)].to_vec(),
            Attack::AlieAdaptive => {
                let oracle = oracle.ok_or_else(|| LearnError::Config {
                    what: "attack",
                    reason: format!(
                        "{self} needs the aggregation rule (an oracle), which only the \
                         simulator provides"
                    ),
                })?;
                alie::craft_adaptive(honest, dim, n, f, oracle)?.1
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_names_and_parameters() {
        for (s, want) in [
            ("sign-flip", Attack::SignFlip { scale: 4.0 }),
            ("sign-flip:1", Attack::SignFlip { scale: 1.0 }),
            ("gaussian", Attack::Gaussian { std: 1.0 }),
            ("scaling", Attack::Scaling { factor: 10.0 }),
            ("label-flip", Attack::LabelFlip),
            ("alie", Attack::Alie { z: None }),
            ("alie:1.5", Attack::Alie { z: Some(1.5) }),
            ("ipm", Attack::Ipm { eps: 0.5 }),
            ("ipm:0.1", Attack::Ipm { eps: 0.1 }),
            (
                "min-max",
                Attack::MinMax {
                    perturbation: Perturbation::Std,
                },
            ),
            (
                "min-max:unit",
                Attack::MinMax {
                    perturbation: Perturbation::Unit,
                },
            ),
            (
                "min-sum:sign",
                Attack::MinSum {
                    perturbation: Perturbation::Sign,
                },
            ),
            (
                "min-sum:std",
                Attack::MinSum {
                    perturbation: Perturbation::Std,
                },
            ),
            ("mimic", Attack::Mimic),
            ("alie-adaptive", Attack::AlieAdaptive),
        ] {
            let a: Attack = s.parse().unwrap();
            assert_eq!(a, want, "{s}");
            assert_eq!(a.to_string().parse::<Attack>().unwrap(), a);
        }
        for bad in [
            "flip",
            "sign-flip:x",
            "label-flip:2",
            "gaussian:inf",
            "",
            "min-max:",
            "min-max:2",
            "min-sum:Unit",
            "minmax",
            "mimic:1",
            "alie-adaptive:2",
            "alie:adaptive",
        ] {
            assert!(bad.parse::<Attack>().is_err(), "{bad}");
        }
    }

    #[test]
    fn crafted_updates_follow_their_definitions() {
        let own = [1.0f32, -2.0];
        let h1 = [1.0f32, 0.0];
        let h2 = [3.0f32, 2.0];
        let honest: Vec<&[f32]> = vec![&h1, &h2];
        let craft = |a: Attack| a.craft(&own, &honest, 4, 1, 7, None).unwrap();
        assert_eq!(craft(Attack::SignFlip { scale: 2.0 }), [-2.0, 4.0]);
        assert_eq!(craft(Attack::Scaling { factor: 3.0 }), [3.0, -6.0]);
        assert_eq!(craft(Attack::Ipm { eps: 0.5 }), [-1.0, -0.5]);
        // mean (2, 1), population std (1, 1).
        assert_eq!(craft(Attack::Alie { z: Some(1.5) }), [0.5, -0.5]);
        let g = craft(Attack::Gaussian { std: 1.0 });
        assert_eq!(g, craft(Attack::Gaussian { std: 1.0 }));
        assert_ne!(
            g,
            Attack::Gaussian { std: 1.0 }
                .craft(&own, &honest, 4, 1, 8, None)
                .unwrap()
        );
        for a in [
            Attack::Ipm { eps: 1.0 },
            Attack::Mimic,
            Attack::AlieAdaptive,
        ] {
            assert!(a.craft(&own, &[], 4, 1, 0, None).is_err(), "{a}");
        }
        let short = [1.0f32];
        assert!(Attack::SignFlip { scale: 1.0 }
            .craft(&own, &[&short], 4, 1, 0, None)
            .is_err());
    }

    #[test]
    fn new_colluding_attacks_send_their_definitions() {
        let own = [9.0f32, 9.0];
        let h: [[f32; 2]; 4] = [[0.0, 1.0], [4.0, 1.0], [1.0, 1.5], [2.0, 0.5]];
        let honest: Vec<&[f32]> = h.iter().map(|r| r.as_slice()).collect();
        for (a, objective) in [
            (
                Attack::MinMax {
                    perturbation: Perturbation::Std,
                },
                Objective::MinMax,
            ),
            (
                Attack::MinSum {
                    perturbation: Perturbation::Std,
                },
                Objective::MinSum,
            ),
        ] {
            let want = min_max::craft(objective, Perturbation::Std, &honest, 2).1;
            assert_eq!(a.craft(&own, &honest, 6, 2, 1, None).unwrap(), want);
        }
        // Spread is along the first coordinate; update 1 lies farthest from the mean (1.75).
        assert_eq!(
            Attack::Mimic.craft(&own, &honest, 6, 2, 1, None).unwrap(),
            h[1]
        );
        // alie-adaptive needs the rule, and uses the one it is given.
        let err = Attack::AlieAdaptive
            .craft(&own, &honest, 6, 2, 1, None)
            .unwrap_err();
        assert!(err.to_string().contains("oracle"), "{err}");
        let mean_rule = |set: &[&[f32]]| -> Result<Vec<f32>, LearnError> {
            Ok((0..2)
                .map(|k| set.iter().map(|u| u[k]).sum::<f32>() / set.len() as f32)
                .collect())
        };
        // Under the mean the farthest aggregate is at the largest z: mean - 5 * std.
        assert_eq!(
            Attack::AlieAdaptive
                .craft(&own, &honest, 6, 2, 1, Some(&mean_rule))
                .unwrap(),
            alie::craft(&honest, 2, 5.0)
        );
        assert!(Attack::AlieAdaptive.needs_oracle() && !Attack::Mimic.needs_oracle());
    }

    #[test]
    fn label_flip_flips_every_label() {
        let d = Dataset {
            x: ndarray::Array2::zeros((3, 1)),
            y: vec![0, 1, 2],
            classes: 3,
            groups: vec![],
            group_names: vec![],
        };
        assert_eq!(Attack::flip_labels(&d).y, [2, 1, 0]);
    }
}
