//! The learning area's error type.

/// Everything that can go wrong while loading data, building models, training or simulating.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The data schema is unusable.
    #[error("schema {source_name}: {reason}")]
    Schema {
        /// The schema file (or `built-in`).
        source_name: String,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A data file broke the schema at a specific place.
    #[error("{file}:{line}: column {column:?}: {reason}")]
    Data {
        /// The data file.
        file: String,
        /// 1-based line number in the file (the header is line 1); 0 when not line-specific.
        line: u64,
        /// The column involved.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// A data file as a whole is unusable (empty, no header, ...).
    #[error("{file}: {reason}")]
    DataFile {
        /// The data file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A configuration value (CLI string, spec) is unusable.
    #[error("invalid {what}: {reason}")]
    Config {
        /// Which setting.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Parameters or data do not match the model's shape.
    #[error("shape mismatch: {reason}")]
    Shape {
        /// What did not match.
        reason: String,
    },
    /// The privacy accountant refused the request.
    #[error("privacy accounting: {0}")]
    Privacy(String),
    /// The aggregation rule refused the updates.
    #[error("aggregation: {0}")]
    Aggregation(String),
}
