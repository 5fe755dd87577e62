//! Errors of the node daemon.

use fedledger_ledger::LedgerError;

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A configuration value is missing or wrong.
    #[error("config key `{key}`: {reason}")]
    Config {
        /// The key, dotted (`network.listen`).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key of the config file is missing or wrong (a [`DaemonError::Config`] with its file).
    #[error("{file}: config key `{key}`: {reason}")]
    ConfigFile {
        /// The config file.
        file: String,
        /// The key, dotted (`network.redial_ms`).
        key: String,
        /// What is wrong with it, with the allowed range.
        reason: String,
    },
    /// A task the node cannot run without (the network service, local training) panicked or
    /// ended on its own. The node stops rather than keep running deaf or idle.
    #[error("the {task} task failed: {reason}")]
    TaskFailed {
        /// Which task.
        task: &'static str,
        /// The panic message, or how it ended.
        reason: String,
    },
    /// The stored ledger fails verification: the node refuses to run on it.
    #[error("the stored ledger is invalid at height {height}: {reason}")]
    TamperedLedger {
        /// First bad height.
        height: u64,
        /// The verifier's finding.
        reason: String,
    },
    /// The node's own state (model, safety state, spends) is unreadable or inconsistent.
    #[error("node state: {0}")]
    State(String),
    /// Storage failure.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Training data or model problem.
    #[error(transparent)]
    Learn(#[from] crate::learn::error::LearnError),
    /// Networking could not start.
    #[error(transparent)]
    Network(#[from] crate::p2p::NetworkError),
    /// The admin token file could not be written.
    #[error(transparent)]
    AdminToken(#[from] super::status::token::TokenError),
    /// Local I/O (status listener, files).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl DaemonError {
    /// Name the config file in a [`DaemonError::Config`]; other errors are returned unchanged.
    pub fn in_config_file(self, file: &std::path::Path) -> DaemonError {
        match self {
            DaemonError::Config { key, reason } => DaemonError::ConfigFile {
                file: file.display().to_string(),
                key,
                reason,
            },
            other => other,
        }
    }
}
