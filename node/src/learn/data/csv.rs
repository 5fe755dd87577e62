//! CSV loading: read a file into a [`Table`] and encode it by a [`Schema`], with errors that name
//! the file, line and column.

use crate::learn::data::{Dataset, Schema, Table};
use crate::learn::error::LearnError;
use std::path::Path;

/// Read CSV text (with a header row) into a [`Table`]; `source` names it in errors.
pub fn read_table(text: &[u8], source: &str) -> Result<Table, LearnError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text);
    let file_err = |reason: String| LearnError::DataFile {
        file: source.to_string(),
        reason,
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| file_err(format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(file_err("empty file (no header row)".into()));
    }
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            LearnError::Data {
                file: source.to_string(),
                line,
                column: String::new(),
                reason: match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("row has {len} fields, the header has {expected_len}"),
                    _ => e.to_string(),
                },
            }
        })?;
        lines.push(record.position().map(|p| p.line()).unwrap_or(0));
        rows.push(record.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(file_err("no data rows after the header".into()));
    }
    Ok(Table {
        source: source.to_string(),
        header,
        rows,
        lines,
    })
}

/// Read a CSV file into a [`Table`].
pub fn load_table(path: &Path) -> Result<Table, LearnError> {
    let bytes = std::fs::read(path).map_err(|e| LearnError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    read_table(&bytes, &path.display().to_string())
}

/// Read a CSV file and encode it by `schema`, without the rows the schema's consent column
/// excludes (their number is logged).
pub fn load(path: &Path, schema: &Schema) -> Result<Dataset, LearnError> {
    let (table, dropped) = load_table(path)?.consenting(schema)?;
    if dropped > 0 {
        tracing::info!(
            target: "fedledger::data",
            file = %path.display(),
            used = table.rows.len(),
            dropped,
            "rows without consent dropped before training and evaluation"
        );
    }
    table.encode(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"
[label]
column = "default"
positive = "Yes"
[group]
column = "student"
[[numeric]]
column = "balance"
scaling = "standard"
mean = 100.0
std = 50.0
[[categorical]]
column = "student"
values = ["No", "Yes"]
"#;

    fn load_str(csv: &str) -> Result<Dataset, LearnError> {
        let schema = Schema::from_toml(SCHEMA, "s").unwrap();
        read_table(csv.as_bytes(), "f.csv")?.encode(&schema)
    }

    #[test]
    fn rows_without_consent_are_dropped_and_counted_and_the_hash_is_unchanged_without_it() {
        let plain = Schema::from_toml(SCHEMA, "s").unwrap();
        let with = Schema::from_toml(
            &format!("{SCHEMA}[consent]\ncolumn = \"consent\"\nvalue = \"yes\"\n"),
            "s",
        )
        .unwrap();
        assert_ne!(plain.hash(), with.hash());
        let csv = "default,student,balance,consent\nNo,Yes,150,yes\nYes,No,50,no\nNo,No,90,\nYes,Yes,70,yes\n";
        let table = read_table(csv.as_bytes(), "f.csv").unwrap();
        let (kept, dropped) = table.consenting(&with).unwrap();
        assert_eq!((kept.rows.len(), dropped), (2, 2));
        assert_eq!(kept.lines, vec![2, 5], "file lines kept for error messages");
        assert_eq!(kept.encode(&with).unwrap().y, vec![0, 1]);
        let (all, none) = table.consenting(&plain).unwrap();
        assert_eq!((all.rows.len(), none), (4, 0));
        let no_column = read_table(b"default,student,balance\nNo,Yes,1\n", "g.csv").unwrap();
        let e = no_column.consenting(&with).unwrap_err().to_string();
        assert!(e.contains("consent"), "{e}");
    }

    #[test]
    fn loads_and_encodes() {
        let d = load_str("default,student,balance\nNo,Yes,150\nYes,No,50\n").unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.y, [0, 1]);
        assert_eq!(d.x.row(0).to_vec(), [1.0, 0.0, 1.0]);
        assert_eq!(d.x.row(1).to_vec(), [-1.0, 1.0, 0.0]);
        assert_eq!(d.group_names, ["No", "Yes"]);
        assert_eq!(d.groups, [1, 0]);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let cases = [
            (
                "default,balance\nNo,1\n",
                ":1:",
                "student",
                "missing column",
            ),
            (
                "default,student,balance\nNo,No,1\nNo,No,abc\n",
                ":3:",
                "balance",
                "not a number",
            ),
            (
                "default,student,balance\nNo,No,NaN\n",
                ":2:",
                "balance",
                "finite",
            ),
            (
                "default,student,balance\nNo,Maybe,1\n",
                ":2:",
                "student",
                "unknown category",
            ),
            ("default,student,balance\nNo,No\n", ":2:", "", "fields"),
        ];
        for (csv, at, column, what) in cases {
            let e = load_str(csv).unwrap_err().to_string();
            assert!(e.starts_with("f.csv"), "{e}");
            assert!(
                e.contains(at) && e.contains(column) && e.contains(what),
                "{e}"
            );
        }
        let schema = Schema::from_toml(SCHEMA, "s").unwrap();
        let mut ragged = read_table(b"default,student,balance\nNo,No,1\n", "r.csv").unwrap();
        ragged.rows[0].pop();
        let e = ragged.encode(&schema).unwrap_err().to_string();
        assert!(e.contains("r.csv:2") && e.contains("2 fields"), "{e}");
        let e = load_str("").unwrap_err().to_string();
        assert!(e.contains("f.csv") && e.contains("empty"), "{e}");
        let e = load_str("default,student,balance\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no data rows"), "{e}");
    }

    #[test]
    fn values_a_member_could_not_train_on_are_refused_at_load() {
        let cases = [
            // finite as f64, inf as f32: training would fail every round
            ("No,No,1e300\n", ":3:", "balance", "f32"),
            ("No,No,-1e41\n", ":3:", "balance", "f32"),
            ("No,No,inf\n", ":3:", "balance", "finite"),
            ("No,No,-Infinity\n", ":3:", "balance", "finite"),
            ("No,No,nan\n", ":3:", "balance", "finite"),
            ("No,No,\n", ":3:", "balance", "empty cell"),
            ("No,No,1,2\n", ":3:", "", "4 fields"),
            (",No,1\n", ":3:", "default", "empty label"),
        ];
        for (row, at, column, what) in cases {
            let e = load_str(&format!("default,student,balance\nNo,No,1\n{row}"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("f.csv"), "{e}");
            assert!(
                e.contains(at) && e.contains(&format!("{column:?}")) && e.contains(what),
                "{row}: {e}"
            );
        }
        // 3e38 still fits f32
        assert!(load_str("default,student,balance\nNo,No,3e38\n").is_ok());
    }

    #[test]
    fn a_group_column_beyond_the_ledger_limit_is_refused_with_the_count() {
        use fedledger_ledger::block::limits::MAX_GROUPS;
        const GROUPED: &str = r#"
[label]
column = "default"
positive = "Yes"
[group]
column = "customer"
[[numeric]]
column = "balance"
"#;
        let schema = Schema::from_toml(GROUPED, "s").unwrap();
        let mut csv = String::from("default,customer,balance\n");
        for i in 0..1000 {
            csv.push_str(&format!("No,c{i},1\n"));
        }
        let e = read_table(csv.as_bytes(), "g.csv")
            .unwrap()
            .encode(&schema)
            .unwrap_err()
            .to_string();
        // The first row past the cap is row MAX_GROUPS + 1, on line MAX_GROUPS + 2.
        assert!(
            e.contains(&format!("g.csv:{}:", MAX_GROUPS + 2))
                && e.contains("\"customer\"")
                && e.contains("1000 distinct values")
                && e.contains(&format!("at most {MAX_GROUPS}")),
            "{e}"
        );
        let mut csv = String::from("default,customer,balance\n");
        for i in 0..MAX_GROUPS {
            csv.push_str(&format!("No,c{i},1\nYes,c{i},2\n"));
        }
        let d = read_table(csv.as_bytes(), "g.csv")
            .unwrap()
            .encode(&schema)
            .unwrap();
        assert_eq!(d.group_names.len(), MAX_GROUPS);
        let long = "x".repeat(200);
        let e = read_table(
            format!("default,customer,balance\nNo,{long},1\n").as_bytes(),
            "g.csv",
        )
        .unwrap()
        .encode(&schema)
        .unwrap_err()
        .to_string();
        assert!(e.contains("g.csv:2:") && e.contains("200 bytes"), "{e}");
    }

    #[test]
    fn loads_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, "default,student,balance\nYes,No,0\n").unwrap();
        let schema = Schema::from_toml(SCHEMA, "s").unwrap();
        assert_eq!(load(&p, &schema).unwrap().y, [1]);
        let e = load(&dir.path().join("nope.csv"), &schema).unwrap_err();
        assert!(e.to_string().contains("nope.csv"));
    }
}
