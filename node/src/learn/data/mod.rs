//! Tabular data: raw tables, their schema-driven encoding into a [`Dataset`], splits and subsets.

pub mod csv;
pub mod schema;
pub mod synth;

use crate::learn::error::LearnError;
use fedledger_ledger::block::limits::{MAX_GROUPS, MAX_GROUP_NAME_BYTES};
use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
pub use schema::Schema;

/// Raw rows as strings, with where they came from (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// File name (or `synthetic`).
    pub source: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
    /// 1-based file line of each row (the header is line 1).
    pub lines: Vec<u64>,
}

impl Table {
    /// Index of column `name`, or an error naming the file and the columns it has.
    pub fn column_index(&self, name: &str) -> Result<usize, LearnError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| LearnError::Data {
                file: self.source.clone(),
                line: 1,
                column: name.to_string(),
                reason: format!("missing column (the header has {:?})", self.header),
            })
    }

    /// The values of column `name`, one per row.
    pub fn column(&self, name: &str) -> Result<Vec<&str>, LearnError> {
        let i = self.column_index(name)?;
        Ok(self.rows.iter().map(|r| r[i].as_str()).collect())
    }

    /// The rows the schema's consent column allows (all of them without one), and how many
    /// were dropped.
    pub fn consenting(&self, schema: &Schema) -> Result<(Table, u64), LearnError> {
        let Some(c) = &schema.consent else {
            return Ok((self.clone(), 0));
        };
        let i = self.column_index(&c.column)?;
        let keep: Vec<usize> = (0..self.rows.len())
            .filter(|&r| self.rows[r].get(i).is_some_and(|v| v.trim() == c.value))
            .collect();
        let dropped = (self.rows.len() - keep.len()) as u64;
        Ok((
            Table {
                source: self.source.clone(),
                header: self.header.clone(),
                rows: keep.iter().map(|&r| self.rows[r].clone()).collect(),
                lines: keep
                    .iter()
                    .map(|&r| self.lines.get(r).copied().unwrap_or(0))
                    .collect(),
            },
            dropped,
        ))
    }

    /// Encode every row by `schema` into a [`Dataset`]; rows keep their order.
    pub fn encode(&self, schema: &Schema) -> Result<Dataset, LearnError> {
        if self.rows.is_empty() {
            return Err(LearnError::DataFile {
                file: self.source.clone(),
                reason: "no data rows".into(),
            });
        }
        let err = |row: usize, column: &str, reason: String| LearnError::Data {
            file: self.source.clone(),
            line: self.lines.get(row).copied().unwrap_or(0),
            column: column.to_string(),
            reason,
        };
        let label_col = self.column_index(&schema.label.column)?;
        let numeric: Vec<usize> = schema
            .numeric
            .iter()
            .map(|n| self.column_index(&n.column))
            .collect::<Result<_, _>>()?;
        let categorical: Vec<usize> = schema
            .categorical
            .iter()
            .map(|c| self.column_index(&c.column))
            .collect::<Result<_, _>>()?;
        let group_col = match &schema.group {
            Some(g) => Some(self.column_index(&g.column)?),
            None => None,
        };
        let width = schema.num_features();
        let mut x = Array2::<f32>::zeros((self.rows.len(), width));
        let mut y = Vec::with_capacity(self.rows.len());
        let mut group_names: Vec<String> = Vec::new();
        let mut group_index: std::collections::HashMap<&str, u32> = Default::default();
        // Row of the first value past the cap, reported with the total once every row is read.
        let mut first_over_cap: Option<usize> = None;
        let mut groups = Vec::new();
        for (r, row) in self.rows.iter().enumerate() {
            // Tables from the CSV reader are rectangular; one built by hand might not be.
            if row.len() != self.header.len() {
                return Err(err(
                    r,
                    "",
                    format!(
                        "row has {} fields, the header has {}",
                        row.len(),
                        self.header.len()
                    ),
                ));
            }
            let label = row[label_col].trim();
            if label.is_empty() {
                return Err(err(r, &schema.label.column, "empty label".into()));
            }
            y.push(
                schema
                    .class_of(label)
                    .map_err(|e| err(r, &schema.label.column, e))?,
            );
            for (j, (spec, &c)) in schema.numeric.iter().zip(&numeric).enumerate() {
                let raw = row[c].trim();
                if raw.is_empty() {
                    return Err(err(r, &spec.column, "empty cell (not a number)".into()));
                }
                let v: f64 = raw
                    .parse()
                    .map_err(|_| err(r, &spec.column, format!("{raw:?} is not a number")))?;
                x[[r, j]] = spec.transform(v).map_err(|e| err(r, &spec.column, e))?;
            }
            let mut offset = schema.numeric.len();
            for (spec, &c) in schema.categorical.iter().zip(&categorical) {
                let raw = row[c].trim();
                let k = spec.values.iter().position(|v| v == raw).ok_or_else(|| {
                    err(
                        r,
                        &spec.column,
                        format!("unknown category {raw:?} (allowed: {:?})", spec.values),
                    )
                })?;
                x[[r, offset + k]] = 1.0;
                offset += spec.values.len();
            }
            if let Some(g) = group_col {
                let name = row[g].trim();
                let column = schema.group.as_ref().map_or("", |s| s.column.as_str());
                // Peers refuse metrics with longer group values or more groups than the ledger
                // allows, so such data would silently lose every round's update.
                if name.len() > MAX_GROUP_NAME_BYTES {
                    return Err(err(
                        r,
                        column,
                        format!(
                            "group value of {} bytes, at most {MAX_GROUP_NAME_BYTES} allowed",
                            name.len()
                        ),
                    ));
                }
                let next = group_index.len() as u32;
                let idx = *group_index.entry(name).or_insert(next);
                if idx == next {
                    group_names.push(name.to_string());
                    if group_names.len() > MAX_GROUPS && first_over_cap.is_none() {
                        first_over_cap = Some(r);
                    }
                }
                groups.push(idx);
            }
        }
        if let (Some(r), Some(g)) = (first_over_cap, &schema.group) {
            return Err(err(
                r,
                &g.column,
                format!(
                    "the group column has {} distinct values, at most {MAX_GROUPS} allowed (the ledger's limit on fairness groups); this row has value number {}",
                    group_names.len(),
                    MAX_GROUPS + 1
                ),
            ));
        }
        // Group indices follow sorted names so that reports are ordered the same everywhere.
        let mut order: Vec<usize> = (0..group_names.len()).collect();
        order.sort_by(|&a, &b| group_names[a].cmp(&group_names[b]));
        let mut remap = vec![0u32; group_names.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old] = new as u32;
        }
        for g in &mut groups {
            *g = remap[*g as usize];
        }
        let group_names = order.iter().map(|&i| group_names[i].clone()).collect();
        Ok(Dataset {
            x,
            y,
            classes: schema.classes(),
            groups,
            group_names,
        })
    }
}

/// Encoded examples: features, class labels and (optionally) a fairness group per example.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Features, one row per example.
    pub x: Array2<f32>,
    /// Class index per example, in `0..classes`.
    pub y: Vec<u32>,
    /// Number of classes.
    pub classes: usize,
    /// Group index per example (into `group_names`), or empty when the schema has no group.
    pub groups: Vec<u32>,
    /// Group names, sorted.
    pub group_names: Vec<String>,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Width of a feature row.
    pub fn num_features(&self) -> usize {
        self.x.ncols()
    }

    /// The examples at `indices`, in that order (group names are kept whole).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            x: self.x.select(Axis(0), indices),
            y: indices.iter().map(|&i| self.y[i]).collect(),
            classes: self.classes,
            groups: if self.groups.is_empty() {
                Vec::new()
            } else {
                indices.iter().map(|&i| self.groups[i]).collect()
            },
            group_names: self.group_names.clone(),
        }
    }

    /// Shuffle with `seed` and split into (train, holdout) with `holdout_fraction` of the
    /// examples (at least one each when there are two or more) held out.
    pub fn split(&self, holdout_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut ChaCha20Rng::seed_from_u64(seed));
        let n = self.len();
        let mut h = (n as f64 * holdout_fraction.clamp(0.0, 1.0)).round() as usize;
        if n >= 2 {
            h = h.clamp(1, n - 1);
        }
        let (hold, train) = idx.split_at(h.min(n));
        (self.subset(train), self.subset(hold))
    }

    /// Concatenate datasets with the same width, classes and group names.
    pub fn concat(parts: &[&Dataset]) -> Result<Dataset, LearnError> {
        let first = parts.first().ok_or_else(|| LearnError::Shape {
            reason: "nothing to concatenate".into(),
        })?;
        for p in parts {
            if p.num_features() != first.num_features()
                || p.classes != first.classes
                || p.group_names != first.group_names
            {
                return Err(LearnError::Shape {
                    reason: "datasets differ in features, classes or groups".into(),
                });
            }
        }
        let views: Vec<_> = parts.iter().map(|p| p.x.view()).collect();
        let x = ndarray::concatenate(Axis(0), &views).map_err(|e| LearnError::Shape {
            reason: e.to_string(),
        })?;
        Ok(Dataset {
            x,
            y: parts.iter().flat_map(|p| p.y.iter().copied()).collect(),
            classes: first.classes,
            groups: parts
                .iter()
                .flat_map(|p| p.groups.iter().copied())
                .collect(),
            group_names: first.group_names.clone(),
        })
    }

    /// Count of examples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        for &y in &self.y {
            if let Some(slot) = c.get_mut(y as usize) {
                *slot += 1;
            }
        }
        c
    }
}
