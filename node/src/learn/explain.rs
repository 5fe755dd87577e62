//! Why the model scores one customer as it does: each schema feature's contribution to the
//! log-odds (or, for several classes, to the predicted class's logit), in words.
//!
//! A logistic or softmax model is linear in the encoded features, so a feature's contribution
//! is exactly its coefficient times its encoded value (on the schema's standardized scale the
//! reference value 0 is the schema's mean), and the contributions plus the intercept are the
//! logit. An MLP is not: there a feature's contribution is the change in the logit when that
//! feature alone is set to its reference (0 encoded: the mean for standard scaling, no category
//! for one-hot), which is deterministic and needs no data beyond the record.

use super::data::schema::{Scaling, Schema};
use super::error::LearnError;
use super::model::{predict_proba, Architecture, ModelKind};
use ndarray::Array2;
use serde::Serialize;
use std::collections::BTreeMap;

/// One feature's part in the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// The schema column.
    pub feature: String,
    /// The record's value, as given.
    pub value: String,
    /// Where the value sits ("2.10 sd above the mean", "= rent").
    pub position: String,
    /// Its contribution to the explained logit.
    pub contribution: f64,
    /// The sentence: "balance 2.10 sd above the mean: +1.80 to the log-odds".
    pub text: String,
}

/// The explanation of one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// `coefficients` (linear models, exact) or `occlusion` (MLP).
    pub method: &'static str,
    /// The class explained (1 for a binary model; the predicted class otherwise).
    pub class: usize,
    /// The model's probability of that class.
    pub probability: f64,
    /// The logit of that class (the log-odds for a binary model).
    pub logit: f64,
    /// The logit with every feature at its reference (the intercept for a linear model).
    pub baseline: f64,
    /// Every schema feature, largest contribution (in absolute value) first.
    pub reasons: Vec<Reason>,
}

fn bad(column: &str, reason: String) -> LearnError {
    LearnError::Data {
        file: "record".into(),
        line: 0,
        column: column.to_string(),
        reason,
    }
}

/// Encode one record (column -> value; the label is not needed) as the schema does.
pub fn encode_record(
    schema: &Schema,
    record: &BTreeMap<String, String>,
) -> Result<Vec<f32>, LearnError> {
    let mut x = vec![0f32; schema.num_features()];
    for (j, spec) in schema.numeric.iter().enumerate() {
        let raw = record
            .get(&spec.column)
            .map(|s| s.trim())
            .ok_or_else(|| bad(&spec.column, "missing from the record".into()))?;
        let v: f64 = raw
            .parse()
            .map_err(|_| bad(&spec.column, format!("{raw:?} is not a number")))?;
        x[j] = spec.transform(v).map_err(|e| bad(&spec.column, e))?;
    }
    let mut offset = schema.numeric.len();
    for spec in &schema.categorical {
        let raw = record
            .get(&spec.column)
            .map(|s| s.trim())
            .ok_or_else(|| bad(&spec.column, "missing from the record".into()))?;
        let k = spec.values.iter().position(|v| v == raw).ok_or_else(|| {
            bad(
                &spec.column,
                format!("unknown category {raw:?} (allowed: {:?})", spec.values),
            )
        })?;
        x[offset + k] = 1.0;
        offset += spec.values.len();
    }
    Ok(x)
}

/// The encoded columns of each schema feature: `(name, first column, width)`.
fn feature_columns(schema: &Schema) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = schema
        .numeric
        .iter()
        .enumerate()
        .map(|(j, n)| (n.column.clone(), j, 1))
        .collect();
    let mut offset = schema.numeric.len();
    for c in &schema.categorical {
        out.push((c.column.clone(), offset, c.values.len()));
        offset += c.values.len();
    }
    out
}

fn position(schema: &Schema, feature: usize, value: &str, encoded: f32) -> String {
    let Some(spec) = schema.numeric.get(feature) else {
        return format!("= {value}");
    };
    let e = f64::from(encoded);
    let scale = if spec.log1p { " (log scale)" } else { "" };
    match spec.scaling {
        Scaling::Standard if e.abs() < 0.005 => format!("at the mean{scale}"),
        Scaling::Standard if e > 0.0 => format!("{e:.2} sd above the mean{scale}"),
        Scaling::Standard => format!("{:.2} sd below the mean{scale}", -e),
        Scaling::Minmax => format!("at {:.0}% of its range{scale}", 100.0 * e),
        Scaling::None => format!("= {value}"),
    }
}

/// Explain how `params` of `arch` score `record`.
pub fn explain(
    arch: &Architecture,
    params: &[f32],
    schema: &Schema,
    record: &BTreeMap<String, String>,
) -> Result<Explanation, LearnError> {
    if arch.kind == ModelKind::Tensors {
        return Err(LearnError::Config {
            what: "model",
            reason: "a tensors model is trained outside the node; explain it with its own tooling"
                .into(),
        });
    }
    if schema.num_features() != arch.features {
        return Err(LearnError::Config {
            what: "schema",
            reason: format!(
                "encodes {} features, the model takes {}",
                schema.num_features(),
                arch.features
            ),
        });
    }
    arch.check(params)?;
    let x = encode_record(schema, record)?;
    let proba = |x: &[f32]| -> Result<Vec<f64>, LearnError> {
        let m =
            Array2::from_shape_vec((1, x.len()), x.to_vec()).map_err(|e| LearnError::Config {
                what: "record",
                reason: e.to_string(),
            })?;
        Ok(predict_proba(arch, params, m.view())?
            .row(0)
            .iter()
            .map(|&p| f64::from(p))
            .collect())
    };
    let p = proba(&x)?;
    let class = if arch.outputs() == 1 {
        1
    } else {
        (0..p.len()).fold(0, |best, k| if p[k] > p[best] { k } else { best })
    };
    let columns = feature_columns(schema);
    let value_of = |name: &str| record.get(name).cloned().unwrap_or_default();
    let unit = if arch.outputs() == 1 {
        "log-odds"
    } else {
        "logit"
    };
    let (method, baseline, contributions): (&'static str, f64, Vec<f64>) = match arch.kind {
        ModelKind::Logistic | ModelKind::Softmax => {
            let layer = arch.layers()[0];
            // Row `out` of the weights holds the coefficients of output `out`.
            let out = if arch.outputs() == 1 { 0 } else { class };
            let w = |j: usize| f64::from(params[layer.offset + out * layer.inputs + j]);
            let intercept = f64::from(params[layer.bias_offset() + out]);
            let c = columns
                .iter()
                .map(|(_, first, width)| {
                    (*first..first + width)
                        .map(|j| w(j) * f64::from(x[j]))
                        .sum()
                })
                .collect();
            ("coefficients", intercept, c)
        }
        _ => {
            let logit = |p: &[f64]| {
                let q = p[class].clamp(1e-15, 1.0 - 1e-15);
                if arch.outputs() == 1 {
                    q.ln() - (1.0 - q).ln()
                } else {
                    q.ln()
                }
            };
            let full = logit(&p);
            let mut c = Vec::with_capacity(columns.len());
            for (_, first, width) in &columns {
                let mut occluded = x.clone();
                occluded[*first..first + width]
                    .iter_mut()
                    .for_each(|v| *v = 0.0);
                c.push(full - logit(&proba(&occluded)?));
            }
            let reference = logit(&proba(&vec![0.0; x.len()])?);
            ("occlusion", reference, c)
        }
    };
    let logit = match method {
        "coefficients" => baseline + contributions.iter().sum::<f64>(),
        _ => {
            let q = p[class].clamp(1e-15, 1.0 - 1e-15);
            if arch.outputs() == 1 {
                q.ln() - (1.0 - q).ln()
            } else {
                q.ln()
            }
        }
    };
    let mut reasons: Vec<Reason> = columns
        .iter()
        .zip(&contributions)
        .enumerate()
        .map(|(i, ((name, first, _), &c))| {
            let value = value_of(name);
            let position = position(schema, i, &value, x[*first]);
            Reason {
                text: format!("{name} {position}: {c:+.2} to the {unit}"),
                feature: name.clone(),
                value,
                position,
                contribution: c,
            }
        })
        .collect();
    reasons.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    Ok(Explanation {
        method,
        class,
        probability: p[class],
        logit,
        baseline,
        reasons,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::learn::data::synth;

    fn record() -> BTreeMap<String, String> {
        [
            ("age", "66"),
            ("income", "52000"),
            ("balance", "5560"),
            ("tenure_months", "90"),
            ("products", "1"),
            ("channel", "mobile"),
            ("region", "rural"),
            ("churn", "ignored"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn logistic_attributions_are_exactly_the_coefficients_contributions() {
        let schema = synth::schema();
        let arch =
            Architecture::new(ModelKind::Logistic, schema.num_features(), 2, vec![]).unwrap();
        let params: Vec<f32> = (0..arch.num_params())
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let e = explain(&arch, &params, &schema, &record()).unwrap();
        assert_eq!(e.method, "coefficients");
        let x = encode_record(&schema, &record()).unwrap();
        // balance is numeric feature 2: coefficient times its standardized value, bit for bit.
        let balance = e.reasons.iter().find(|r| r.feature == "balance").unwrap();
        assert_eq!(balance.contribution, f64::from(params[2]) * f64::from(x[2]));
        assert!(
            balance.position.starts_with("2.10 sd above the mean"),
            "{}",
            balance.position
        );
        // channel = mobile is one-hot column 5 + 2 = 7: its coefficient alone.
        let channel = e.reasons.iter().find(|r| r.feature == "channel").unwrap();
        assert_eq!(channel.contribution, f64::from(params[7]));
        assert_eq!(channel.position, "= mobile");
        // Intercept plus contributions is the model's log-odds.
        assert_eq!(e.baseline, f64::from(params[schema.num_features()]));
        let from_model = (e.probability / (1.0 - e.probability)).ln();
        assert!(
            (e.logit - from_model).abs() < 1e-4,
            "{} vs {from_model}",
            e.logit
        );
        // Largest first.
        assert!(e
            .reasons
            .windows(2)
            .all(|w| w[0].contribution.abs() >= w[1].contribution.abs()));
        assert!(e.reasons[0].text.contains("to the log-odds"));
    }

    #[test]
    fn mlp_occlusion_is_deterministic_and_a_feature_at_its_reference_contributes_nothing() {
        let schema = synth::schema();
        let arch = Architecture::new(ModelKind::Mlp, schema.num_features(), 2, vec![8]).unwrap();
        let params = arch.init(3);
        let mut r = record();
        r.insert("age".into(), "42".into()); // the schema's mean: encoded 0
        let a = explain(&arch, &params, &schema, &r).unwrap();
        let b = explain(&arch, &params, &schema, &r).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.method, "occlusion");
        let age = a.reasons.iter().find(|x| x.feature == "age").unwrap();
        assert_eq!(age.contribution, 0.0);
        assert_eq!(age.position, "at the mean");
    }

    #[test]
    fn bad_records_and_models_are_refused_by_column() {
        let schema = synth::schema();
        let arch =
            Architecture::new(ModelKind::Logistic, schema.num_features(), 2, vec![]).unwrap();
        let params = arch.init(1);
        for (col, val) in [("age", "old"), ("channel", "fax"), ("income", "-5")] {
            let mut r = record();
            r.insert(col.into(), val.into());
            let e = explain(&arch, &params, &schema, &r)
                .unwrap_err()
                .to_string();
            assert!(e.contains(col), "{e}");
        }
        let mut r = record();
        r.remove("balance");
        assert!(explain(&arch, &params, &schema, &r)
            .unwrap_err()
            .to_string()
            .contains("balance"));
        assert!(explain(&arch, &params[1..], &schema, &record()).is_err());
        let wide = Architecture::new(ModelKind::Logistic, 3, 2, vec![]).unwrap();
        assert!(explain(&wide, &wide.init(1), &schema, &record()).is_err());
    }
}
