//! The data schema (TOML): which column is the label, which are features and how each is encoded.
//!
//! Scaling constants live in the schema rather than being fitted on local data, so every member
//! transforms features identically and the model means the same thing everywhere.

use crate::learn::error::LearnError;
use fedledger_ledger::Digest;
use serde::{Deserialize, Serialize};
use std::path::Path;

const SCHEMA_DOMAIN: &[u8] = b"fedledger/schema/v1";

/// A data schema: label, features, optional fairness group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// The label column.
    pub label: LabelSpec,
    /// The column whose values define groups for fairness metrics (need not be a feature).
    #[serde(default)]
    pub group: Option<GroupSpec>,
    /// Numeric feature columns, in feature order.
    #[serde(default)]
    pub numeric: Vec<NumericSpec>,
    /// Categorical feature columns (one-hot encoded), after the numeric ones.
    #[serde(default)]
    pub categorical: Vec<CategoricalSpec>,
    /// The column recording each customer's consent: rows without it are dropped before
    /// anything is trained or evaluated. Absent from the hashed encoding when unset, so schema
    /// hashes of schemas without it are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentSpec>,
}

/// `[consent]`: which rows may be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSpec {
    /// Column name.
    pub column: String,
    /// The value that means the customer consented (any other value: dropped).
    pub value: String,
}

/// The label column and how its values map to classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    /// Column name.
    pub column: String,
    /// Binary task: this value is class 1, every other value class 0.
    #[serde(default)]
    pub positive: Option<String>,
    /// Multi-class task: the class values, in class-index order. Other values are errors.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
}

/// The fairness group column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Column name.
    pub column: String,
}

/// How a numeric column is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    /// Used as is.
    None,
    /// `(x - mean) / std`, with `mean` and `std` given.
    Standard,
    /// `(x - min) / (max - min)`, with `min` and `max` given.
    Minmax,
}

/// A numeric feature column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericSpec {
    /// Column name.
    pub column: String,
    /// Apply `ln(1 + x)` before scaling (values must be > -1).
    #[serde(default)]
    pub log1p: bool,
    /// Scaling applied after the optional `log1p`.
    #[serde(default = "default_scaling")]
    pub scaling: Scaling,
    /// Mean for `standard` scaling (of the value after `log1p`, if set).
    #[serde(default)]
    pub mean: Option<f64>,
    /// Standard deviation for `standard` scaling.
    #[serde(default)]
    pub std: Option<f64>,
    /// Minimum for `minmax` scaling.
    #[serde(default)]
    pub min: Option<f64>,
    /// Maximum for `minmax` scaling.
    #[serde(default)]
    pub max: Option<f64>,
}

fn default_scaling() -> Scaling {
    Scaling::None
}

/// A categorical feature column, one-hot encoded over `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoricalSpec {
    /// Column name.
    pub column: String,
    /// The allowed values; any other value is an error (so members cannot silently disagree).
    pub values: Vec<String>,
}

impl NumericSpec {
    /// Transform one raw value; `Err` carries the reason (the caller adds file/line/column).
    pub fn transform(&self, raw: f64) -> Result<f32, String> {
        if !raw.is_finite() {
            return Err(format!("value {raw} is not a finite number"));
        }
        let v = if self.log1p {
            if raw <= -1.0 {
                return Err(format!("log1p needs values > -1, found {raw}"));
            }
            libm::log1p(raw)
        } else {
            raw
        };
        let scaled = match self.scaling {
            Scaling::None => v,
            // Validated at load time, so these are present and usable.
            Scaling::Standard => (v - self.mean.unwrap_or(0.0)) / self.std.unwrap_or(1.0),
            Scaling::Minmax => {
                let lo = self.min.unwrap_or(0.0);
                (v - lo) / (self.max.unwrap_or(1.0) - lo)
            }
        };
        // Finite as f64 is not enough: 1e300 becomes inf as f32, and training on it fails every
        // round while the node looks healthy.
        let narrowed = scaled as f32;
        if !narrowed.is_finite() {
            return Err(format!(
                "value {raw:e} is {scaled:.3e} after scaling, outside the f32 range (about ±3.4e38)"
            ));
        }
        Ok(narrowed)
    }
}

impl Schema {
    /// Parse and validate a schema document; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Self, LearnError> {
        let schema: Schema = toml::from_str(text).map_err(|e| LearnError::Schema {
            source_name: source_name.to_string(),
            reason: e.to_string(),
        })?;
        schema.validate(source_name)?;
        Ok(schema)
    }

    /// Read, parse and validate a schema file.
    pub fn load(path: &Path) -> Result<Self, LearnError> {
        let text = std::fs::read_to_string(path).map_err(|e| LearnError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The TOML form.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| panic!("schema always serialises: {e}"))
    }

    /// SHA-256 over a domain tag and the canonical encoding: what genesis `schema_hash` pins.
    pub fn hash(&self) -> Digest {
        Digest::of_parts(&[SCHEMA_DOMAIN, &fedledger_ledger::codec::encode(self)])
    }

    /// Number of classes the label maps to.
    pub fn classes(&self) -> usize {
        match &self.label.classes {
            Some(c) => c.len(),
            None => 2,
        }
    }

    /// Encoded feature names, in column order of the feature matrix.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.numeric.iter().map(|n| n.column.clone()).collect();
        for c in &self.categorical {
            for v in &c.values {
                names.push(format!("{}={}", c.column, v));
            }
        }
        names
    }

    /// Width of the encoded feature vector.
    pub fn num_features(&self) -> usize {
        self.numeric.len()
            + self
                .categorical
                .iter()
                .map(|c| c.values.len())
                .sum::<usize>()
    }

    /// Map a label value to a class index.
    pub fn class_of(&self, value: &str) -> Result<u32, String> {
        match (&self.label.positive, &self.label.classes) {
            (Some(p), _) => Ok(u32::from(value == p)),
            (None, Some(classes)) => classes
                .iter()
                .position(|c| c == value)
                .map(|i| i as u32)
                .ok_or_else(|| format!("label {value:?} is not one of the classes {classes:?}")),
            (None, None) => Err("schema has neither label.positive nor label.classes".into()),
        }
    }

    /// Check the schema is usable: a label mapping, at least one feature, scaling constants
    /// present and sane, no duplicate columns.
    pub fn validate(&self, source_name: &str) -> Result<(), LearnError> {
        let bad = |reason: String| {
            Err(LearnError::Schema {
                source_name: source_name.to_string(),
                reason,
            })
        };
        match (&self.label.positive, &self.label.classes) {
            (Some(_), Some(_)) => {
                return bad("label: give either `positive` (binary) or `classes`, not both".into())
            }
            (None, None) => {
                return bad("label: give `positive` (binary) or `classes` (multi-class)".into())
            }
            (None, Some(c)) => {
                if c.len() < 2 {
                    return bad("label.classes: at least two classes are needed".into());
                }
                let mut sorted = c.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != c.len() {
                    return bad("label.classes: a class is listed twice".into());
                }
            }
            (Some(_), None) => {}
        }
        if self.num_features() == 0 {
            return bad("no feature columns: add [[numeric]] or [[categorical]] entries".into());
        }
        let mut cols: Vec<&str> = self.numeric.iter().map(|n| n.column.as_str()).collect();
        cols.extend(self.categorical.iter().map(|c| c.column.as_str()));
        let mut sorted = cols.clone();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            if w[0] == w[1] {
                return bad(format!("column {:?} is used as a feature twice", w[0]));
            }
        }
        if cols.contains(&self.label.column.as_str()) {
            return bad(format!(
                "the label column {:?} cannot also be a feature",
                self.label.column
            ));
        }
        for n in &self.numeric {
            // Also the constants the scaling does not use: a NaN written out and read back may
            // come back with another sign bit, so the schema hash (in genesis) would change.
            for (key, v) in [
                ("mean", n.mean),
                ("std", n.std),
                ("min", n.min),
                ("max", n.max),
            ] {
                if v.is_some_and(|x| !x.is_finite()) {
                    return bad(format!(
                        "numeric {:?}: `{key}` must be a finite number",
                        n.column
                    ));
                }
            }
            let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
            match n.scaling {
                Scaling::None => {}
                Scaling::Standard => match (finite(n.mean), finite(n.std)) {
                    (Some(_), Some(s)) if s > 0.0 => {}
                    _ => {
                        return bad(format!(
                            "numeric {:?}: standard scaling needs finite `mean` and `std` > 0",
                            n.column
                        ))
                    }
                },
                Scaling::Minmax => match (finite(n.min), finite(n.max)) {
                    (Some(lo), Some(hi)) if hi > lo => {}
                    _ => {
                        return bad(format!(
                            "numeric {:?}: minmax scaling needs finite `min` < `max`",
                            n.column
                        ))
                    }
                },
            }
        }
        for c in &self.categorical {
            if c.values.is_empty() {
                return bad(format!("categorical {:?}: `values` is empty", c.column));
            }
            let mut v = c.values.clone();
            v.sort();
            v.dedup();
            if v.len() != c.values.len() {
                return bad(format!(
                    "categorical {:?}: a value is listed twice",
                    c.column
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDIT: &str = r#"
[label]
column = "default"
positive = "Yes"

[group]
column = "student"

[[numeric]]
column = "balance"
scaling = "standard"
mean = 835.37
std = 483.69

[[numeric]]
column = "income"
log1p = true
scaling = "minmax"
min = 6.0
max = 12.0

[[categorical]]
column = "student"
values = ["No", "Yes"]
"#;

    #[test]
    fn parses_and_transforms_as_declared() {
        let s = Schema::from_toml(CREDIT, "t").unwrap();
        assert_eq!(s.num_features(), 4);
        assert_eq!(
            s.feature_names(),
            ["balance", "income", "student=No", "student=Yes"]
        );
        let b = s.numeric[0].transform(835.37 + 483.69).unwrap();
        assert!((b - 1.0).abs() < 1e-6);
        let i = s.numeric[1].transform(libm::expm1(9.0)).unwrap();
        assert!((i - 0.5).abs() < 1e-6, "{i}");
        assert!(s.numeric[0].transform(f64::NAN).is_err());
        assert!(s.numeric[1].transform(-2.0).is_err());
        assert_eq!(s.class_of("Yes"), Ok(1));
        assert_eq!(s.class_of("No"), Ok(0));
    }

    #[test]
    fn rejects_incomplete_scaling_and_duplicate_columns() {
        let missing_std = CREDIT.replace("std = 483.69", "");
        let e = Schema::from_toml(&missing_std, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.toml") && e.contains("balance") && e.contains("std"),
            "{e}"
        );
        let dup = CREDIT.replace("column = \"income\"", "column = \"balance\"");
        assert!(Schema::from_toml(&dup, "x").is_err());
        let both = CREDIT.replace(
            "positive = \"Yes\"",
            "positive = \"Yes\"\nclasses = [\"a\"]",
        );
        assert!(Schema::from_toml(&both, "x").is_err());
        let unknown = format!("{CREDIT}\nextra = 1\n");
        assert!(Schema::from_toml(&unknown, "x").is_err());
    }

    #[test]
    fn non_finite_constants_are_refused_even_when_unused() {
        // Found by fedledger-fuzz: `mean = -nan` under `scaling = "none"` was accepted, and the
        // NaN's sign did not survive to_toml/from_toml, so the schema hash changed.
        for v in ["-nan", "nan", "inf", "-inf"] {
            let t = CREDIT.replace("mean = 835.37", &format!("mean = {v}"));
            let t = t.replacen("scaling = \"standard\"\n", "", 1);
            let e = Schema::from_toml(&t, "x.toml").unwrap_err().to_string();
            assert!(e.contains("`mean` must be a finite number"), "{v}: {e}");
        }
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let s = Schema::from_toml(CREDIT, "t").unwrap();
        let again = Schema::from_toml(&s.to_toml(), "t").unwrap();
        assert_eq!(s.hash(), again.hash());
        let mut other = s.clone();
        other.numeric[0].mean = Some(835.0);
        assert_ne!(s.hash(), other.hash());
    }
}
