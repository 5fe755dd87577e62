//! The node's TOML configuration: documented defaults, environment overrides and validation
//! that names the offending key.

use super::error::DaemonError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `fedledger-node run` needs. See `configs/node.example.toml` for every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Directory for the ledger, update blobs, consensus state and privacy spends (sled).
    pub data_dir: PathBuf,
    /// The organization's key file (`fedledger keygen`); may come from `FEDLEDGER_KEY`.
    #[serde(default)]
    pub key: PathBuf,
    /// The consortium's genesis file; may come from `FEDLEDGER_GENESIS`.
    #[serde(default)]
    pub genesis: PathBuf,
    /// Peer-to-peer settings.
    #[serde(default)]
    pub network: NetworkSection,
    /// The status and metrics HTTP listener.
    #[serde(default)]
    pub status: StatusSection,
    /// This member's training data.
    #[serde(default)]
    pub data: DataSection,
    /// Local training.
    #[serde(default)]
    pub training: TrainingSection,
    /// Joining, admitting and leaving.
    #[serde(default)]
    pub membership: MembershipSection,
}

/// `[membership]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipSection {
    /// `manual` (approve with `fedledger admit ORG --node ADDR`) or `auto` (approve every
    /// well-formed join whose schema matches genesis, and every leave; for testnets).
    #[serde(default = "default_admission")]
    pub admission: String,
    /// Set on a node that is not a member yet: request to join with this privacy cap.
    #[serde(default)]
    pub join_epsilon_max: Option<f64>,
}

fn default_admission() -> String {
    "manual".into()
}

impl Default for MembershipSection {
    fn default() -> Self {
        MembershipSection {
            admission: default_admission(),
            join_epsilon_max: None,
        }
    }
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Multiaddrs to listen on.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// Peers to dial at start and redial after a disconnect, with their `/p2p/PEER_ID`.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// Gossipsub heartbeat, milliseconds.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// How often disconnected bootstrap peers are redialled, milliseconds.
    #[serde(default = "default_redial_ms")]
    pub redial_ms: u64,
    /// How long to wait for an update blob from a peer, milliseconds. A batch of blocks gets a
    /// quarter of it, within 1-5 s ([`super::sync::sync_timeout`]).
    #[serde(default = "default_fetch_timeout_ms")]
    pub fetch_timeout_ms: u64,
}

/// `[status]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSection {
    /// Address of the HTTP listener for `/status` and `/metrics`; empty to disable. Loopback by
    /// default: the status reveals nothing secret, but the node is not a web server.
    #[serde(default = "default_status_listen")]
    pub listen: String,
    /// Accept `POST /admit` and `/leave` (with the admin token) from non-loopback callers.
    /// Off by default: the token travels in clear over plain HTTP.
    #[serde(default)]
    pub allow_remote_admin: bool,
}

/// `[data]`: where this member's customers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// `synthetic` (the built-in generator) or `csv`.
    #[serde(default = "default_source")]
    pub source: String,
    /// CSV file (source = "csv").
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Schema TOML for the CSV (source = "csv").
    #[serde(default)]
    pub schema: Option<PathBuf>,
    /// Which synthetic organization's customers this member holds (source = "synthetic").
    #[serde(default)]
    pub synthetic_org: usize,
    /// Customers per synthetic organization.
    #[serde(default = "default_rows")]
    pub synthetic_rows: usize,
    /// Seed of the synthetic population (the same on every member).
    #[serde(default = "default_seed")]
    pub synthetic_seed: u64,
    /// Share of local rows held out to evaluate the global model each round.
    #[serde(default = "default_holdout")]
    pub holdout: f64,
}

/// `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSection {
    /// Learning rate of local SGD.
    #[serde(default = "default_lr")]
    pub lr: f32,
    /// Heavy-ball momentum.
    #[serde(default = "default_momentum")]
    pub momentum: f32,
    /// Testing only: make this member attack (`sign-flip`, `gaussian`, `scaling`, `label-flip`;
    /// the colluding attacks, which need the honest updates, are refused).
    #[serde(default)]
    pub attack: Option<String>,
    /// Stop training after this round (0 = the genesis `max_rounds`, or forever if that is 0).
    #[serde(default)]
    pub stop_after: u64,
    /// `local` (the node trains the genesis model on `[data]`) or `external` (a trainer process
    /// submits updates through the trainer API on `trainer_listen`; `[data]` is unused).
    #[serde(default = "default_training_mode")]
    pub mode: String,
    /// Loopback address of the trainer API (external mode). Its token is written to
    /// `<data_dir>/trainer.token` (0600) at every start.
    #[serde(default = "default_trainer_listen")]
    pub trainer_listen: String,
}

impl TrainingSection {
    /// Whether an external trainer computes this member's updates.
    pub fn is_external(&self) -> bool {
        self.mode == "external"
    }
}

fn default_training_mode() -> String {
    "local".into()
}
fn default_trainer_listen() -> String {
    "127.0.0.1:7190".into()
}

fn default_listen() -> Vec<String> {
    vec!["/ip4/0.0.0.0/tcp/7100".into()]
}
fn default_heartbeat_ms() -> u64 {
    500
}
fn default_redial_ms() -> u64 {
    2000
}
fn default_fetch_timeout_ms() -> u64 {
    30_000
}
fn default_status_listen() -> String {
    "127.0.0.1:7180".into()
}
fn default_source() -> String {
    "synthetic".into()
}
fn default_rows() -> usize {
    1000
}
fn default_seed() -> u64 {
    7
}
fn default_holdout() -> f64 {
    0.2
}
fn default_lr() -> f32 {
    0.1
}
fn default_momentum() -> f32 {
    0.9
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            listen: default_listen(),
            bootstrap: Vec::new(),
            heartbeat_ms: default_heartbeat_ms(),
            redial_ms: default_redial_ms(),
            fetch_timeout_ms: default_fetch_timeout_ms(),
        }
    }
}
impl Default for StatusSection {
    fn default() -> Self {
        StatusSection {
            listen: default_status_listen(),
            allow_remote_admin: false,
        }
    }
}
impl Default for DataSection {
    fn default() -> Self {
        DataSection {
            source: default_source(),
            path: None,
            schema: None,
            synthetic_org: 0,
            synthetic_rows: default_rows(),
            synthetic_seed: default_seed(),
            holdout: default_holdout(),
        }
    }
}
impl Default for TrainingSection {
    fn default() -> Self {
        TrainingSection {
            lr: default_lr(),
            momentum: default_momentum(),
            attack: None,
            stop_after: 0,
            mode: default_training_mode(),
            trainer_listen: default_trainer_listen(),
        }
    }
}

/// `network.heartbeat_ms`: gossipsub's heartbeat; below 10 ms it only burns CPU.
pub const HEARTBEAT_MS: (u64, u64) = (10, 60_000);
/// `network.redial_ms`: 0 panics the redial timer; over 10 minutes a lost peer stays lost.
pub const REDIAL_MS: (u64, u64) = (100, 600_000);
/// `network.fetch_timeout_ms`: below 100 ms no blob arrives; an hour is already a stuck round.
pub const FETCH_TIMEOUT_MS: (u64, u64) = (100, 3_600_000);
/// Most `network.listen` addresses.
pub const MAX_LISTEN: usize = 16;
/// Most `network.bootstrap` addresses.
pub const MAX_BOOTSTRAP: usize = 1024;
/// `data.synthetic_rows`: at least enough rows to split into training and held-out data.
pub const SYNTHETIC_ROWS: (u64, u64) = (10, 10_000_000);
/// `data.synthetic_org`.
pub const SYNTHETIC_ORG: (u64, u64) = (0, 4095);
/// Most rows the synthetic generator may build ((synthetic_org + 1) x synthetic_rows).
pub const MAX_SYNTHETIC_TOTAL_ROWS: u64 = 20_000_000;
/// Largest `training.lr`: SGD with a larger step diverges on scaled features.
pub const MAX_LR: f32 = 10.0;
/// Largest `membership.join_epsilon_max`: far beyond any meaningful privacy guarantee.
pub const MAX_JOIN_EPSILON: f64 = 1e6;

/// `Err` naming `key` unless `lo <= value <= hi`.
fn check_range(key: &str, value: u64, (lo, hi): (u64, u64)) -> Result<(), DaemonError> {
    if (lo..=hi).contains(&value) {
        return Ok(());
    }
    Err(DaemonError::Config {
        key: key.into(),
        reason: format!("must be in {lo}..={hi}, found {value}"),
    })
}

/// Environment variables that override keys of the file (for containers and scripts).
pub const ENV_OVERRIDES: [(&str, &str); 7] = [
    ("FEDLEDGER_DATA_DIR", "data_dir"),
    ("FEDLEDGER_KEY", "key"),
    ("FEDLEDGER_GENESIS", "genesis"),
    ("FEDLEDGER_LISTEN", "network.listen (comma-separated)"),
    ("FEDLEDGER_BOOTSTRAP", "network.bootstrap (comma-separated)"),
    ("FEDLEDGER_STATUS_LISTEN", "status.listen"),
    ("FEDLEDGER_JOIN_EPSILON_MAX", "membership.join_epsilon_max"),
];

impl NodeConfig {
    /// Read `path`, apply environment overrides, resolve relative paths against the file's
    /// directory, and validate.
    pub fn load(path: &Path) -> Result<Self, DaemonError> {
        let text = std::fs::read_to_string(path).map_err(|e| DaemonError::Io {
            what: format!("reading the config file {}", path.display()),
            source: e,
        })?;
        let mut cfg = Self::parse(&text).map_err(|e| e.in_config_file(path))?;
        cfg.apply_env(|k| std::env::var(k).ok());
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve(base);
        cfg.validate().map_err(|e| e.in_config_file(path))?;
        Ok(cfg)
    }

    /// Parse TOML text (no overrides, no validation). The error names the line and key but
    /// does not quote the line (a config may hold a token).
    pub fn parse(text: &str) -> Result<Self, DaemonError> {
        toml::from_str(text).map_err(|e| {
            let p = fedledger_ledger::files::toml_problem(text, &e);
            DaemonError::Config {
                key: p.key.clone().unwrap_or_else(|| "-".into()),
                reason: match p.line {
                    Some(l) => format!("line {l}: {}", p.message),
                    None => p.message,
                },
            }
        })
    }

    /// Apply `FEDLEDGER_*` overrides read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        let list = |s: String| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        };
        if let Some(v) = get("FEDLEDGER_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("FEDLEDGER_KEY") {
            self.key = v.into();
        }
        if let Some(v) = get("FEDLEDGER_GENESIS") {
            self.genesis = v.into();
        }
        if let Some(v) = get("FEDLEDGER_LISTEN") {
            self.network.listen = list(v);
        }
        if let Some(v) = get("FEDLEDGER_BOOTSTRAP") {
            self.network.bootstrap = list(v);
        }
        if let Some(v) = get("FEDLEDGER_STATUS_LISTEN") {
            self.status.listen = v;
        }
        if let Some(v) = get("FEDLEDGER_JOIN_EPSILON_MAX") {
            // An unparseable value becomes NaN, which validation reports under the key.
            self.membership.join_epsilon_max = Some(v.trim().parse().unwrap_or(f64::NAN));
        }
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.key);
        fix(&mut self.genesis);
        if let Some(p) = self.data.path.as_mut() {
            fix(p);
        }
        if let Some(p) = self.data.schema.as_mut() {
            fix(p);
        }
    }

    /// Check every value; the error names the key.
    pub fn validate(&self) -> Result<(), DaemonError> {
        let bad = |key: &str, reason: String| {
            Err(DaemonError::Config {
                key: key.into(),
                reason,
            })
        };
        if self.key.as_os_str().is_empty() {
            return bad("key", "required (or FEDLEDGER_KEY)".into());
        }
        if self.genesis.as_os_str().is_empty() {
            return bad("genesis", "required (or FEDLEDGER_GENESIS)".into());
        }
        if self.network.listen.is_empty() {
            return bad("network.listen", "needs at least one address".into());
        }
        for (key, list) in [
            ("network.listen", &self.network.listen),
            ("network.bootstrap", &self.network.bootstrap),
        ] {
            for a in list {
                if let Err(e) = a.parse::<libp2p::Multiaddr>() {
                    return bad(key, format!("`{a}` is not a multiaddr: {e}"));
                }
            }
        }
        // Every duration and count has a range: a zero interval panics the timer that uses it
        // (it took the network task down, silently), and an absurd one disables what it paces.
        for (key, value, range) in [
            (
                "network.heartbeat_ms",
                self.network.heartbeat_ms,
                HEARTBEAT_MS,
            ),
            ("network.redial_ms", self.network.redial_ms, REDIAL_MS),
            (
                "network.fetch_timeout_ms",
                self.network.fetch_timeout_ms,
                FETCH_TIMEOUT_MS,
            ),
        ] {
            check_range(key, value, range)?;
        }
        for (key, list, most) in [
            ("network.listen", &self.network.listen, MAX_LISTEN),
            ("network.bootstrap", &self.network.bootstrap, MAX_BOOTSTRAP),
        ] {
            if list.len() > most {
                return bad(
                    key,
                    format!("at most {most} addresses, found {}", list.len()),
                );
            }
        }
        if !self.status.listen.is_empty() && self.status.listen.parse::<SocketAddr>().is_err() {
            return bad(
                "status.listen",
                format!("`{}` is not an IP:port", self.status.listen),
            );
        }
        match self.training.mode.as_str() {
            "local" => {}
            "external" => {
                match self.training.trainer_listen.parse::<SocketAddr>() {
                    Ok(a) if a.ip().is_loopback() => {}
                    Ok(a) => {
                        return bad(
                            "training.trainer_listen",
                            format!("{a} is not a loopback address: the trainer API serves the global model and takes this member's updates, so it stays on this machine"),
                        )
                    }
                    Err(_) => {
                        return bad(
                            "training.trainer_listen",
                            format!("`{}` is not an IP:port", self.training.trainer_listen),
                        )
                    }
                }
                if self.training.attack.is_some() {
                    return bad(
                        "training.attack",
                        "an external trainer computes the updates; the built-in attacks need mode = \"local\"".into(),
                    );
                }
            }
            other => {
                return bad(
                    "training.mode",
                    format!("`{other}`: expected \"local\" or \"external\""),
                )
            }
        }
        match self.data.source.as_str() {
            "synthetic" => {
                check_range(
                    "data.synthetic_rows",
                    self.data.synthetic_rows as u64,
                    SYNTHETIC_ROWS,
                )?;
                check_range(
                    "data.synthetic_org",
                    self.data.synthetic_org as u64,
                    SYNTHETIC_ORG,
                )?;
                // The generator builds every organization up to this one before taking its
                // share, so the product is what costs memory.
                let total = (self.data.synthetic_org as u64 + 1)
                    .saturating_mul(self.data.synthetic_rows as u64);
                if total > MAX_SYNTHETIC_TOTAL_ROWS {
                    return bad(
                        "data.synthetic_rows",
                        format!(
                            "(synthetic_org + 1) x synthetic_rows = {total} rows would be generated; at most {MAX_SYNTHETIC_TOTAL_ROWS}"
                        ),
                    );
                }
            }
            "csv" => {
                if self.data.path.is_none() {
                    return bad("data.path", "required when data.source = \"csv\"".into());
                }
                if self.data.schema.is_none() {
                    return bad("data.schema", "required when data.source = \"csv\"".into());
                }
            }
            other => {
                return bad(
                    "data.source",
                    format!("`{other}`: expected \"synthetic\" or \"csv\""),
                )
            }
        }
        if !(self.data.holdout > 0.0 && self.data.holdout < 1.0) {
            return bad(
                "data.holdout",
                format!("must be in (0, 1), found {}", self.data.holdout),
            );
        }
        if !(self.training.lr.is_finite() && self.training.lr > 0.0 && self.training.lr <= MAX_LR) {
            return bad(
                "training.lr",
                format!("must be in (0, {MAX_LR}], found {}", self.training.lr),
            );
        }
        if !(self.training.momentum.is_finite() && (0.0..1.0).contains(&self.training.momentum)) {
            return bad(
                "training.momentum",
                format!("must be in [0, 1), found {}", self.training.momentum),
            );
        }
        if !matches!(self.membership.admission.as_str(), "manual" | "auto") {
            return bad(
                "membership.admission",
                format!(
                    "`{}`: expected \"manual\" or \"auto\"",
                    self.membership.admission
                ),
            );
        }
        if let Some(e) = self.membership.join_epsilon_max {
            if !(e.is_finite() && e > 0.0 && e <= MAX_JOIN_EPSILON) {
                return bad(
                    "membership.join_epsilon_max",
                    format!("must be in (0, {MAX_JOIN_EPSILON}], found {e}"),
                );
            }
        }
        if let Some(a) = &self.training.attack {
            match a.parse::<crate::learn::attack::Attack>() {
                Ok(at) if at.is_colluding() => {
                    return bad(
                        "training.attack",
                        format!("`{a}` is a colluding attack: it needs the other members' honest updates, which a node does not see (run it with `fedledger simulate`); a node can mount sign-flip, gaussian, scaling or label-flip"),
                    )
                }
                Ok(_) => {}
                Err(e) => return bad("training.attack", e.to_string()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "data_dir = \"d\"\nkey = \"k\"\ngenesis = \"g\"\n";

    #[test]
    fn defaults_fill_a_minimal_file() {
        let c = NodeConfig::parse(MINIMAL).unwrap();
        c.validate().unwrap();
        assert_eq!(c.status.listen, "127.0.0.1:7180");
        assert_eq!(c.data.source, "synthetic");
        assert_eq!(c.membership.admission, "manual");
    }

    #[test]
    fn errors_name_the_key() {
        let e = NodeConfig::parse(&format!("{MINIMAL}[network]\nlisten = [\"nonsense\"]\n"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("network.listen"), "{e}");
        let e = NodeConfig::parse(&format!("{MINIMAL}[trainin]\nlr = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("trainin"), "{e}");
        let e = NodeConfig::parse(&format!("{MINIMAL}[data]\nsource = \"csv\"\n"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.path"), "{e}");
    }

    #[test]
    fn a_node_mounts_only_attacks_that_need_nothing_but_its_own_update() {
        let with = |a: &str| {
            NodeConfig::parse(&format!("{MINIMAL}[training]\nattack = \"{a}\"\n"))
                .unwrap()
                .validate()
        };
        for ok in ["sign-flip", "gaussian:2", "scaling", "label-flip"] {
            with(ok).unwrap();
        }
        for colluding in [
            "alie",
            "ipm",
            "min-max",
            "min-sum:unit",
            "mimic",
            "alie-adaptive",
        ] {
            let e = with(colluding).unwrap_err().to_string();
            assert!(
                e.contains("training.attack") && e.contains("colluding"),
                "{colluding}: {e}"
            );
        }
        let e = with("min-max:sideways").unwrap_err().to_string();
        assert!(
            e.contains("training.attack") && e.contains("std, unit or sign"),
            "{e}"
        );
    }

    #[test]
    fn every_duration_and_count_is_range_checked() {
        let cases = [
            (
                "[network]\nredial_ms = 0\n",
                "network.redial_ms",
                "100..=600000",
            ),
            (
                "[network]\nheartbeat_ms = 0\n",
                "network.heartbeat_ms",
                "10..=60000",
            ),
            (
                "[network]\nfetch_timeout_ms = 99999999999\n",
                "network.fetch_timeout_ms",
                "100..=3600000",
            ),
            (
                "[data]\nsynthetic_rows = 5\n",
                "data.synthetic_rows",
                "10..=10000000",
            ),
            (
                "[data]\nsynthetic_org = 100000\n",
                "data.synthetic_org",
                "0..=4095",
            ),
            (
                "[data]\nsynthetic_org = 4000\nsynthetic_rows = 100000\n",
                "data.synthetic_rows",
                "20000000",
            ),
            ("[data]\nholdout = 1.0\n", "data.holdout", "(0, 1)"),
            ("[training]\nlr = 0.0\n", "training.lr", "(0, 10]"),
            (
                "[training]\nmode = \"remote\"\n",
                "training.mode",
                "external",
            ),
            (
                "[training]\nmode = \"external\"\ntrainer_listen = \"0.0.0.0:7190\"\n",
                "training.trainer_listen",
                "loopback",
            ),
            ("[training]\nlr = 1e9\n", "training.lr", "(0, 10]"),
            (
                "[training]\nmomentum = -0.5\n",
                "training.momentum",
                "[0, 1)",
            ),
            (
                "[membership]\njoin_epsilon_max = -1.0\n",
                "membership.join_epsilon_max",
                "(0, ",
            ),
        ];
        for (extra, key, range) in cases {
            let e = NodeConfig::parse(&format!("{MINIMAL}{extra}"))
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains(range), "{extra}: {e}");
        }
    }

    #[test]
    fn load_names_the_file_and_parse_errors_name_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.toml");
        std::fs::write(&p, format!("{MINIMAL}[network]\nredial_ms = 0\n")).unwrap();
        let e = NodeConfig::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("node.toml") && e.contains("network.redial_ms"),
            "{e}"
        );
        std::fs::write(&p, format!("{MINIMAL}[network]\nredial_ms = \"soon\"\n")).unwrap();
        let e = NodeConfig::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("node.toml") && e.contains("line 5") && e.contains("network.redial_ms"),
            "{e}"
        );
        std::fs::write(&p, format!("{MINIMAL}[network]\nredial = 5\n")).unwrap();
        let e = NodeConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("unknown field `redial`"), "{e}");
        let e = NodeConfig::load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.toml"), "{e}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = NodeConfig::parse(MINIMAL).unwrap();
        c.apply_env(|k| match k {
            "FEDLEDGER_BOOTSTRAP" => Some("/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2".into()),
            "FEDLEDGER_STATUS_LISTEN" => Some("127.0.0.1:9".into()),
            _ => None,
        });
        assert_eq!(c.network.bootstrap.len(), 2);
        assert_eq!(c.status.listen, "127.0.0.1:9");
    }
}
