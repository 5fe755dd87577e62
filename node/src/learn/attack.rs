//! Attacks a (test or demo) member can be configured to mount. Update-level attacks rewrite the
//! delta a member would have sent; `label-flip` poisons the training data instead; the colluding
//! attacks (`alie`, `ipm`) are computed from the honest members' updates, which a coalition of
//! attackers is assumed to see (the strongest standard threat model).
//!
//! CLI names: `sign-flip[:SCALE]`, `gaussian[:STD]`, `scaling[:FACTOR]`, `label-flip`,
//! `alie[:Z]`, `ipm[:EPS]`; the optional number overrides the default strength.

use crate::learn::data::Dataset;
use crate::learn::error::LearnError;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
    /// Inner-product manipulation (Xie et al. 2020): every attacker sends `-eps * mean` of the
    /// honest updates (default eps 0.5).
    Ipm {
        /// Strength.
        eps: f32,
    },
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
            _ => {
                return Err(bad(format!(
                    "{s:?}: expected sign-flip, gaussian, scaling, label-flip, alie or ipm \
                     (optionally NAME:NUMBER)"
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
        }
    }
}

/// The inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9), for ALIE's z.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail(libm::sqrt(-2.0 * libm::log(p)))
    } else if p > 1.0 - 0.02425 {
        -tail(libm::sqrt(-2.0 * libm::log(1.0 - p)))
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// ALIE's z for n participants of which f attack: with s = floor(n/2 + 1) - f supporters needed,
/// z = Phi^-1((n - s) / n) (Baruch et al. 2019, Algorithm 3).
pub fn alie_z(n: usize, f: usize) -> f64 {
    let s = (n / 2 + 1).saturating_sub(f);
    inverse_normal_cdf((n - s.min(n)) as f64 / n.max(1) as f64)
}

impl Attack {
    /// Whether the attack poisons data rather than rewriting the update.
    pub fn is_data_level(&self) -> bool {
        matches!(self, Attack::LabelFlip)
    }

    /// Whether the attack needs the honest members' updates.
    pub fn is_colluding(&self) -> bool {
        matches!(self, Attack::Alie { .. } | Attack::Ipm { .. })
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
    /// Gaussian attack.
    pub fn craft(
        &self,
        own: &[f32],
        honest: &[&[f32]],
        n: usize,
        f: usize,
        seed: u64,
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
        let mean = || -> Vec<f64> {
            let mut m = vec![0.0f64; dim];
            for h in honest {
                for (a, &v) in m.iter_mut().zip(h.iter()) {
                    *a += f64::from(v);
                }
            }
            let k = honest.len() as f64;
            m.iter_mut().for_each(|a| *a /= k);
            m
        };
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
            Attack::Ipm { eps } => mean()
                .into_iter()
                .map(|m| (-f64::from(eps) * m) as f32)
                .collect(),
            Attack::Alie { z } => {
                let z = z.unwrap_or_else(|| alie_z(n, f));
                let m = mean();
                let k = honest.len() as f64;
                let mut var = vec![0.0f64; dim];
                for h in honest {
                    for ((s, &v), mu) in var.iter_mut().zip(h.iter()).zip(&m) {
                        *s += (f64::from(v) - mu).powi(2);
                    }
                }
                m.iter()
                    .zip(&var)
                    .map(|(mu, s)| (mu - z * (s / k).sqrt()) as f32)
                    .collect()
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
        ] {
            let a: Attack = s.parse().unwrap();
            assert_eq!(a, want, "{s}");
            assert_eq!(a.to_string().parse::<Attack>().unwrap(), a);
        }
        for bad in ["flip", "sign-flip:x", "label-flip:2", "gaussian:inf", ""] {
            assert!(bad.parse::<Attack>().is_err(), "{bad}");
        }
    }

    #[test]
    fn inverse_cdf_and_alie_z_match_known_values() {
        assert!(inverse_normal_cdf(0.5).abs() < 1e-9);
        assert!((inverse_normal_cdf(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((inverse_normal_cdf(0.01) + 2.326_347_874).abs() < 1e-8);
        // n = 50, f = 24 in the paper: s = 2, z = Phi^-1(48/50) ~ 1.75.
        assert!((alie_z(50, 24) - 1.750_686_07).abs() < 1e-6);
        // n = 8, f = 2: s = 3, z = Phi^-1(5/8).
        assert!((alie_z(8, 2) - 0.318_639_364).abs() < 1e-8);
    }

    #[test]
    fn crafted_updates_follow_their_definitions() {
        let own = [1.0f32, -2.0];
        let h1 = [1.0f32, 0.0];
        let h2 = [3.0f32, 2.0];
        let honest: Vec<&[f32]> = vec![&h1, &h2];
        let craft = |a: Attack| a.craft(&own, &honest, 4, 1, 7).unwrap();
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
                .craft(&own, &honest, 4, 1, 8)
                .unwrap()
        );
        assert!(Attack::Ipm { eps: 1.0 }.craft(&own, &[], 4, 1, 0).is_err());
        let short = [1.0f32];
        assert!(Attack::SignFlip { scale: 1.0 }
            .craft(&own, &[&short], 4, 1, 0)
            .is_err());
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
