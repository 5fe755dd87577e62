//! The per-run CSV: a header row, then one row per run with every coordinate and metric.

use super::summary::RunRow;
use crate::learn::error::LearnError;
use std::path::Path;

/// Write `rows` to `path` as CSV (columns are the fields of [`RunRow`]; an empty cell is a
/// missing value: no DP, no attackers).
pub fn write_csv(path: &Path, rows: &[RunRow]) -> Result<(), LearnError> {
    let io = |e: std::io::Error| LearnError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut w = csv::Writer::from_path(path).map_err(|e| io(e.into()))?;
    for r in rows {
        w.serialize(r).map_err(|e| io(e.into()))?;
    }
    w.flush().map_err(io)
}
