//! Models as flat parameter vectors plus a shape spec: logistic regression, softmax regression and
//! an MLP with one or two ReLU hidden layers.
//!
//! Layout of the flat vector: for each dense layer in order, its weight matrix (`out x in`,
//! row-major) followed by its bias (`out`). Logistic regression is one layer with one output
//! (the positive-class logit); softmax regression one layer with `classes` outputs; an MLP adds
//! hidden layers before the output layer (one logit for two classes, else `classes`).

pub mod grad;
pub mod hash;

use crate::learn::error::LearnError;
use fedledger_ledger::genesis::{ModelSpec, TensorSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use grad::{batch_gradient, loss_and_gradient, per_example_gradients, predict_proba};
pub use hash::{decode_update, encode_update, model_hash, update_hash};

/// Model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Binary logistic regression.
    Logistic,
    /// Multinomial logistic (softmax) regression.
    Softmax,
    /// Multi-layer perceptron with ReLU hidden layers.
    Mlp,
    /// Any model, declared as named tensors in the genesis and trained outside the node.
    Tensors,
}

impl FromStr for ModelKind {
    type Err = LearnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "logistic" => Ok(ModelKind::Logistic),
            "softmax" => Ok(ModelKind::Softmax),
            "mlp" => Ok(ModelKind::Mlp),
            "tensors" => Ok(ModelKind::Tensors),
            other => Err(LearnError::Config {
                what: "model",
                reason: format!("{other:?}: expected logistic, softmax, mlp or tensors"),
            }),
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Logistic => "logistic",
            ModelKind::Softmax => "softmax",
            ModelKind::Mlp => "mlp",
            ModelKind::Tensors => "tensors",
        })
    }
}

/// The shape spec: everything needed to interpret a flat parameter vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    /// Model family.
    pub kind: ModelKind,
    /// Input width (encoded features).
    pub features: usize,
    /// Number of classes (2 for logistic).
    pub classes: usize,
    /// Hidden widths (MLP only; one or two layers).
    pub hidden: Vec<usize>,
    /// The named tensors of a [`ModelKind::Tensors`] model; empty for the built-in kinds, whose
    /// layout [`Architecture::layout`] derives from their layers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensors: Vec<TensorSpec>,
}

/// One named tensor's place in the flat parameter vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSlot {
    /// Its name (`layer0.weight` for the built-in models).
    pub name: String,
    /// Dimensions, outermost first (row-major).
    pub shape: Vec<u64>,
    /// Offset of its first value in the flat vector.
    pub offset: u64,
}

/// One dense layer's place in the flat vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Offset of the weights (`outputs x inputs`, row-major); the bias follows them.
    pub offset: usize,
}

impl Layer {
    /// Offset of the bias.
    pub fn bias_offset(&self) -> usize {
        self.offset + self.inputs * self.outputs
    }

    /// Offset just past this layer.
    pub fn end(&self) -> usize {
        self.bias_offset() + self.outputs
    }
}

/// Widths and classes larger than this are refused (keeps a hostile genesis from asking for
/// terabytes).
pub const MAX_PARAMS: usize = 1 << 28;

impl Architecture {
    /// Build and check a shape.
    pub fn new(
        kind: ModelKind,
        features: usize,
        classes: usize,
        hidden: Vec<usize>,
    ) -> Result<Self, LearnError> {
        let bad = |reason: String| {
            Err(LearnError::Config {
                what: "model",
                reason,
            })
        };
        if features == 0 {
            return bad("a model needs at least one feature".into());
        }
        match kind {
            ModelKind::Logistic if classes != 2 => {
                return bad(format!(
                    "logistic regression is binary, the data has {classes} classes (use softmax)"
                ))
            }
            ModelKind::Softmax | ModelKind::Mlp if classes < 2 => {
                return bad("at least two classes are needed".into())
            }
            ModelKind::Mlp if !(1..=2).contains(&hidden.len()) || hidden.contains(&0) => {
                return bad("an mlp needs one or two hidden layers of width >= 1".into())
            }
            ModelKind::Logistic | ModelKind::Softmax if !hidden.is_empty() => {
                return bad(format!("{kind} has no hidden layers"))
            }
            ModelKind::Tensors => {
                return bad(
                    "a tensors model is built from its layout (Architecture::from_tensors)".into(),
                )
            }
            _ => {}
        }
        let arch = Architecture {
            kind,
            features,
            classes,
            hidden,
            tensors: Vec::new(),
        };
        let mut total: u128 = 0;
        let mut prev = features as u128;
        for w in arch.widths().into_iter().skip(1) {
            total += (prev + 1) * w as u128;
            prev = w as u128;
        }
        if total > MAX_PARAMS as u128 {
            return bad(format!(
                "{total} parameters exceeds the limit of {MAX_PARAMS}"
            ));
        }
        Ok(arch)
    }

    /// A model given as named tensors (checked as the genesis checks them).
    pub fn from_tensors(
        features: usize,
        classes: usize,
        tensors: Vec<TensorSpec>,
    ) -> Result<Self, LearnError> {
        let spec = ModelSpec {
            kind: "tensors".into(),
            features: features as u32,
            classes: classes as u32,
            hidden: Vec::new(),
            init_seed: 0,
            schema_hash: String::new(),
            tensors,
            decision_threshold: None,
        };
        let total = spec.check_tensors().map_err(|reason| LearnError::Config {
            what: "model",
            reason,
        })?;
        if total > MAX_PARAMS as u64 {
            return Err(LearnError::Config {
                what: "model",
                reason: format!("{total} parameters exceeds the limit of {MAX_PARAMS}"),
            });
        }
        Ok(Architecture {
            kind: ModelKind::Tensors,
            features,
            classes,
            hidden: Vec::new(),
            tensors: spec.tensors,
        })
    }

    /// Whether the node's own trainer and evaluation can run this model (the built-in kinds);
    /// a tensors model is trained and evaluated outside the node.
    pub fn is_builtin(&self) -> bool {
        self.kind != ModelKind::Tensors
    }

    /// The named tensors of the flat vector, in order: the genesis layout of a tensors model;
    /// `layer{i}.weight` (`outputs x inputs`) and `layer{i}.bias` for the built-in ones.
    pub fn layout(&self) -> Vec<TensorSlot> {
        let mut offset = 0u64;
        let mut slot = |name: String, shape: Vec<u64>| {
            let len: u64 = shape.iter().product();
            let s = TensorSlot {
                name,
                shape,
                offset,
            };
            offset += len;
            s
        };
        if self.kind == ModelKind::Tensors {
            return self
                .tensors
                .iter()
                .map(|t| slot(t.name.clone(), t.shape.clone()))
                .collect();
        }
        let mut out = Vec::new();
        for (i, l) in self.layers().iter().enumerate() {
            out.push(slot(
                format!("layer{i}.weight"),
                vec![l.outputs as u64, l.inputs as u64],
            ));
            out.push(slot(format!("layer{i}.bias"), vec![l.outputs as u64]));
        }
        out
    }

    /// The shape a genesis model spec describes.
    pub fn from_spec(spec: &ModelSpec) -> Result<Self, LearnError> {
        let kind: ModelKind = spec.kind.parse()?;
        if kind == ModelKind::Tensors {
            return Self::from_tensors(
                spec.features as usize,
                spec.classes as usize,
                spec.tensors.clone(),
            );
        }
        Self::new(
            kind,
            spec.features as usize,
            spec.classes as usize,
            spec.hidden.iter().map(|&h| h as usize).collect(),
        )
    }

    /// Number of output units: one logit for binary problems, else one per class.
    pub fn outputs(&self) -> usize {
        if self.classes == 2 && self.kind != ModelKind::Softmax {
            1
        } else {
            self.classes
        }
    }

    /// Layer widths from input to output.
    fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.features];
        w.extend(&self.hidden);
        w.push(self.outputs());
        w
    }

    /// The dense layers in order.
    pub fn layers(&self) -> Vec<Layer> {
        let w = self.widths();
        let mut offset = 0;
        w.windows(2)
            .map(|p| {
                let l = Layer {
                    inputs: p[0],
                    outputs: p[1],
                    offset,
                };
                offset = l.end();
                l
            })
            .collect()
    }

    /// Length of the flat parameter vector.
    pub fn num_params(&self) -> usize {
        if self.kind == ModelKind::Tensors {
            // Bounded by MAX_PARAMS at construction.
            return self.tensors.iter().map(|t| t.len() as usize).sum();
        }
        self.layers().last().map(Layer::end).unwrap_or(0)
    }

    /// Deterministic initial parameters from `seed`: Glorot-uniform weights for the output layer,
    /// He-uniform for hidden ReLU layers, zero biases. Same seed, same bits on every machine: only ChaCha20 draws,
    /// products and an IEEE-exact square root are involved.
    ///
    /// A tensors model: every tensor of two or more dimensions uniform in +-1/sqrt(fan-in) (the
    /// product of all but its first dimension, as PyTorch's default for linear and convolution
    /// weights), tensors of one dimension (biases, norms' shifts) zero, in layout order.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut params = vec![0.0f32; self.num_params()];
        if self.kind == ModelKind::Tensors {
            for t in self.layout() {
                if t.shape.len() < 2 {
                    continue;
                }
                let fan_in: u64 = t.shape[1..].iter().product();
                let limit = (1.0 / libm::sqrt(fan_in as f64)) as f32;
                let len: u64 = t.shape.iter().product();
                let range = t.offset as usize..(t.offset + len) as usize;
                for p in &mut params[range] {
                    *p = (rng.gen::<f32>() * 2.0 - 1.0) * limit;
                }
            }
            return params;
        }
        let layers = self.layers();
        let last = layers.len() - 1;
        for (i, l) in layers.iter().enumerate() {
            let limit = if i == last {
                libm::sqrt(6.0 / (l.inputs + l.outputs) as f64) as f32
            } else {
                libm::sqrt(6.0 / l.inputs as f64) as f32
            };
            for p in &mut params[l.offset..l.bias_offset()] {
                *p = (rng.gen::<f32>() * 2.0 - 1.0) * limit;
            }
        }
        params
    }

    /// Check a parameter (or delta) vector has this shape and only finite values.
    pub fn check(&self, params: &[f32]) -> Result<(), LearnError> {
        if params.len() != self.num_params() {
            return Err(LearnError::Shape {
                reason: format!(
                    "{} values given, the {} model has {}",
                    params.len(),
                    self.kind,
                    self.num_params()
                ),
            });
        }
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(LearnError::Shape {
                reason: format!("value {i} is {}", params[i]),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_and_counts() {
        let lr = Architecture::new(ModelKind::Logistic, 5, 2, vec![]).unwrap();
        assert_eq!(lr.num_params(), 6);
        let sm = Architecture::new(ModelKind::Softmax, 5, 3, vec![]).unwrap();
        assert_eq!(sm.num_params(), 18);
        let mlp = Architecture::new(ModelKind::Mlp, 5, 2, vec![8, 4]).unwrap();
        assert_eq!(mlp.num_params(), 6 * 8 + 9 * 4 + 5);
        let l = mlp.layers();
        assert_eq!(l[1].offset, 48);
        assert_eq!(l[2].end(), mlp.num_params());
        assert!(Architecture::new(ModelKind::Logistic, 5, 3, vec![]).is_err());
        assert!(Architecture::new(ModelKind::Mlp, 5, 2, vec![]).is_err());
        assert!(Architecture::new(ModelKind::Mlp, 5, 2, vec![1, 2, 3]).is_err());
        assert!(Architecture::new(ModelKind::Mlp, 1 << 20, 2, vec![1 << 20]).is_err());
    }

    #[test]
    fn from_genesis_spec_and_seeded_init() {
        let spec = ModelSpec {
            kind: "mlp".into(),
            features: 4,
            classes: 2,
            hidden: vec![16],
            init_seed: 42,
            schema_hash: String::new(),
            tensors: Vec::new(),
            decision_threshold: None,
        };
        let a = Architecture::from_spec(&spec).unwrap();
        let p = a.init(spec.init_seed);
        assert_eq!(p, a.init(42));
        assert_ne!(p, a.init(43));
        assert!(a.check(&p).is_ok());
        assert!(p[a.layers()[0].bias_offset()..a.layers()[0].end()]
            .iter()
            .all(|&b| b == 0.0));
        assert!(a.check(&p[1..]).is_err());
        let mut nan = p.clone();
        nan[3] = f32::NAN;
        assert!(a.check(&nan).is_err());
    }

    #[test]
    fn a_tensors_layout_is_laid_out_in_order_and_seeded_like_pytorch() {
        let tensors =
            TensorSpec::parse_list("conv.weight:4x2x3x3,conv.bias:4,fc.weight:2x36,fc.bias:2")
                .unwrap();
        let a = Architecture::from_tensors(8, 2, tensors).unwrap();
        assert!(!a.is_builtin());
        assert_eq!(a.num_params(), 72 + 4 + 72 + 2);
        let l = a.layout();
        assert_eq!(
            l.iter()
                .map(|t| (t.name.as_str(), t.offset))
                .collect::<Vec<_>>(),
            [
                ("conv.weight", 0),
                ("conv.bias", 72),
                ("fc.weight", 76),
                ("fc.bias", 148)
            ]
        );
        let p = a.init(7);
        assert_eq!(p, a.init(7));
        // Weights within 1/sqrt(fan-in), biases zero.
        assert!(
            p[..72].iter().all(|w| w.abs() <= 1.0 / 18f32.sqrt())
                && p[..72].iter().any(|w| *w != 0.0)
        );
        assert!(p[72..76].iter().all(|b| *b == 0.0));
        assert!(p[76..148].iter().all(|w| w.abs() <= 1.0 / 6.0));
        assert!(a.check(&p).is_ok() && a.check(&p[1..]).is_err());
        // Golden: the initial model hash of a tensors genesis is consensus.
        assert_eq!(
            model_hash(&p).to_hex(),
            "0a7497821455ff65f691a8d789939860ba2142b93914b9544bee2fd9167db62a"
        );
        // The built-in kinds name their layers.
        let mlp = Architecture::new(ModelKind::Mlp, 5, 2, vec![8]).unwrap();
        let names: Vec<String> = mlp
            .layout()
            .into_iter()
            .map(|t| format!("{}{:?}@{}", t.name, t.shape, t.offset))
            .collect();
        assert_eq!(
            names,
            [
                "layer0.weight[8, 5]@0",
                "layer0.bias[8]@40",
                "layer1.weight[1, 8]@48",
                "layer1.bias[1]@56"
            ]
        );
        assert_eq!(
            mlp.layout().last().map(|t| t.offset + 1),
            Some(mlp.num_params() as u64)
        );
        assert!(Architecture::new(ModelKind::Tensors, 5, 2, vec![]).is_err());
    }
}
