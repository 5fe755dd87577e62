//! Splitting one dataset among simulated organizations: IID, Dirichlet label skew, or by a column.

use crate::learn::data::{Dataset, Table};
use crate::learn::error::LearnError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How examples are dealt to organizations. Serialised as its spec string (`dirichlet:0.5`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Partition {
    /// Shuffled and dealt evenly: every organization sees the same distribution.
    Iid,
    /// Label skew: each class is split among organizations by proportions drawn from
    /// Dirichlet(alpha). Small alpha means very different label mixes.
    Dirichlet {
        /// Concentration, > 0.
        alpha: f64,
    },
    /// One organization per distinct value of a column (e.g. a store id), in sorted value order.
    Column {
        /// Column name in the raw table.
        name: String,
    },
}

impl FromStr for Partition {
    type Err = LearnError;
    /// Parse `iid`, `dirichlet:ALPHA` or `column:NAME`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| LearnError::Config {
            what: "partition",
            reason,
        };
        let s = s.trim();
        if s == "iid" {
            return Ok(Partition::Iid);
        }
        if let Some(a) = s.strip_prefix("dirichlet:") {
            let alpha: f64 = a
                .parse()
                .map_err(|_| bad(format!("{a:?} is not a number in {s:?}")))?;
            if !(alpha.is_finite() && alpha > 0.0) {
                return Err(bad(format!("dirichlet alpha must be > 0, found {alpha}")));
            }
            return Ok(Partition::Dirichlet { alpha });
        }
        if let Some(name) = s.strip_prefix("column:") {
            if name.is_empty() {
                return Err(bad("column: needs a column name".into()));
            }
            return Ok(Partition::Column {
                name: name.to_string(),
            });
        }
        Err(bad(format!(
            "{s:?}: expected `iid`, `dirichlet:ALPHA` or `column:NAME`"
        )))
    }
}

impl TryFrom<String> for Partition {
    type Error = LearnError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Partition> for String {
    fn from(p: Partition) -> String {
        p.to_string()
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Iid => write!(f, "iid"),
            Partition::Dirichlet { alpha } => write!(f, "dirichlet:{alpha}"),
            Partition::Column { name } => write!(f, "column:{name}"),
        }
    }
}

/// Every organization must end up with at least this many examples (Dirichlet redraws until so).
pub const MIN_PER_ORG: usize = 10;

/// Example indices per organization. `table` is the raw table `data` was encoded from (same row
/// order); it is needed only for `column:` partitions. Each list is sorted.
pub fn partition(
    spec: &Partition,
    data: &Dataset,
    table: Option<&Table>,
    orgs: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>, LearnError> {
    let bad = |reason: String| LearnError::Config {
        what: "partition",
        reason,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut parts = match spec {
        Partition::Iid => {
            if orgs == 0 || data.len() < orgs * MIN_PER_ORG {
                return Err(bad(format!(
                    "{} examples cannot give {orgs} organizations {MIN_PER_ORG} each",
                    data.len()
                )));
            }
            let mut idx: Vec<usize> = (0..data.len()).collect();
            idx.shuffle(&mut rng);
            let mut parts = vec![Vec::new(); orgs];
            for (k, i) in idx.into_iter().enumerate() {
                parts[k % orgs].push(i);
            }
            parts
        }
        Partition::Dirichlet { alpha } => dirichlet(data, orgs, *alpha, &mut rng)?,
        Partition::Column { name } => {
            let table = table.ok_or_else(|| {
                bad(format!(
                    "column:{name} needs the raw table the data came from"
                ))
            })?;
            let values = table.column(name)?;
            if values.len() != data.len() {
                return Err(bad("table and dataset differ in length".into()));
            }
            let mut distinct: Vec<&str> = values.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if orgs != 0 && distinct.len() != orgs {
                return Err(bad(format!(
                    "column {name:?} has {} distinct values but {orgs} organizations were asked for",
                    distinct.len()
                )));
            }
            let mut parts = vec![Vec::new(); distinct.len()];
            for (i, v) in values.iter().enumerate() {
                if let Ok(k) = distinct.binary_search(v) {
                    parts[k].push(i);
                }
            }
            parts
        }
    };
    for p in &mut parts {
        p.sort_unstable();
    }
    Ok(parts)
}

fn dirichlet(
    data: &Dataset,
    orgs: usize,
    alpha: f64,
    rng: &mut ChaCha20Rng,
) -> Result<Vec<Vec<usize>>, LearnError> {
    let bad = |reason: String| LearnError::Config {
        what: "partition",
        reason,
    };
    if orgs == 0 || data.len() < orgs * MIN_PER_ORG {
        return Err(bad(format!(
            "{} examples cannot give {orgs} organizations {MIN_PER_ORG} each",
            data.len()
        )));
    }
    let gamma = Gamma::new(alpha, 1.0).map_err(|e| bad(format!("alpha {alpha}: {e}")))?;
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); data.classes];
    for (i, &y) in data.y.iter().enumerate() {
        if let Some(c) = by_class.get_mut(y as usize) {
            c.push(i);
        }
    }
    // The usual recipe (Hsu et al. 2019): redraw until every organization has enough examples.
    for _attempt in 0..1000 {
        let mut parts = vec![Vec::new(); orgs];
        for class in &by_class {
            let mut idx = class.clone();
            idx.shuffle(rng);
            let w: Vec<f64> = (0..orgs).map(|_| gamma.sample(rng)).collect();
            let total: f64 = w.iter().sum();
            let mut start = 0usize;
            let mut acc = 0.0;
            for (k, wk) in w.iter().enumerate() {
                acc += wk;
                let end = if k + 1 == orgs || total <= 0.0 {
                    idx.len()
                } else {
                    ((acc / total) * idx.len() as f64).round() as usize
                };
                let end = end.clamp(start, idx.len());
                parts[k].extend_from_slice(&idx[start..end]);
                start = end;
            }
        }
        if parts.iter().all(|p| p.len() >= MIN_PER_ORG) {
            return Ok(parts);
        }
    }
    Err(bad(format!(
        "dirichlet:{alpha} over {orgs} organizations left one with fewer than {MIN_PER_ORG} \
         examples in 1000 draws; use a larger alpha or fewer organizations"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::data::synth;

    fn data() -> (Table, Dataset) {
        let t = synth::generate(&synth::SynthConfig {
            orgs: 4,
            rows_per_org: 300,
            seed: 1,
        });
        let d = t.encode(&synth::schema()).unwrap();
        (t, d)
    }

    fn check_cover(parts: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn parses_specs() {
        assert_eq!("iid".parse::<Partition>().unwrap(), Partition::Iid);
        assert_eq!(
            "dirichlet:0.5".parse::<Partition>().unwrap(),
            Partition::Dirichlet { alpha: 0.5 }
        );
        assert_eq!(
            "column:org".parse::<Partition>().unwrap().to_string(),
            "column:org"
        );
        for bad in ["dirichlet:-1", "dirichlet:x", "column:", "random"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_scheme_covers_all_examples_once() {
        let (t, d) = data();
        for spec in ["iid", "dirichlet:0.5", "column:org"] {
            let spec: Partition = spec.parse().unwrap();
            let parts = partition(&spec, &d, Some(&t), 4, 9).unwrap();
            assert_eq!(parts.len(), 4);
            check_cover(&parts, d.len());
            assert_eq!(parts, partition(&spec, &d, Some(&t), 4, 9).unwrap());
        }
        let by_col = partition(&"column:org".parse().unwrap(), &d, Some(&t), 4, 0).unwrap();
        assert_eq!(by_col[2], (600..900).collect::<Vec<_>>());
        assert!(partition(&"column:org".parse().unwrap(), &d, Some(&t), 3, 0).is_err());
    }

    #[test]
    fn small_alpha_skews_labels_more_than_large() {
        let (_, d) = data();
        let spread = |alpha: f64| {
            let parts = partition(&Partition::Dirichlet { alpha }, &d, None, 4, 5).unwrap();
            let rates: Vec<f64> = parts
                .iter()
                .map(|p| p.iter().map(|&i| f64::from(d.y[i])).sum::<f64>() / p.len() as f64)
                .collect();
            rates.iter().cloned().fold(0.0, f64::max) - rates.iter().cloned().fold(1.0, f64::min)
        };
        assert!(
            spread(0.1) > spread(100.0),
            "{} {}",
            spread(0.1),
            spread(100.0)
        );
    }
}
