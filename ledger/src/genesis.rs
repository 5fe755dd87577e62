//! The genesis file: the consortium's founding parameters; its canonical hash is the chain id.

use crate::codec;
use crate::digest::Digest;
use crate::error::LedgerError;
use crate::identity::OrgId;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Current ledger format version, written in genesis and in every block header.
pub const FORMAT_VERSION: u16 = 1;

const GENESIS_DOMAIN: &[u8] = b"fedledger/genesis/v1";

/// The founding document of a consortium. Human-edited TOML; see `configs/genesis.example.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Ledger format version; must be [`FORMAT_VERSION`].
    pub format_version: u16,
    /// The consortium's name (informational; part of the chain id).
    pub consortium: String,
    /// Unix time in milliseconds; block timestamps must not precede it.
    pub created_at_ms: u64,
    /// How many Byzantine members the consortium tolerates, both in consensus (n >= 3f+1) and in
    /// aggregation (per rule).
    pub f: u32,
    /// The model everyone trains.
    pub model: ModelSpec,
    /// The robust aggregation rule.
    pub aggregation: AggregationSpec,
    /// Differential-privacy policy shared by all members.
    pub dp: DpPolicy,
    /// Round timing and membership rules.
    pub rounds: RoundPolicy,
    /// Founding members. Sorted by id in the canonical form.
    pub members: Vec<MemberSpec>,
    /// Witnesses whose cosignatures of checkpoints an audit requires (`[transparency]`).
    /// Absent from the canonical encoding when unset, so chain ids of genesis files without it
    /// are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparency: Option<TransparencyPolicy>,
    /// What the consortium processes customer data for (`[purpose]`). Every signature on the
    /// ledger is bound to the chain id, the hash of this file, so every update commitment and
    /// join request binds to it. Absent from the canonical encoding when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<PurposeSpec>,
}

/// The lawful bases of GDPR Article 6(1), as `[purpose] lawful_basis` names them.
pub const LAWFUL_BASES: [&str; 6] = [
    "consent",
    "contract",
    "legal-obligation",
    "vital-interests",
    "public-task",
    "legitimate-interests",
];

/// `[purpose]`: purpose limitation and data minimization, declared once for the consortium.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeSpec {
    /// What the model is trained for, in words.
    pub purpose: String,
    /// The lawful basis of the processing (one of [`LAWFUL_BASES`]).
    pub lawful_basis: String,
    /// The categories of personal data used (e.g. "account balance", "income").
    pub data_categories: Vec<String>,
    /// How long members keep the data and the updates derived from it, in words.
    pub retention: String,
}

impl PurposeSpec {
    fn validate(&self) -> Result<(), String> {
        let text = |name: &str, v: &str, max: usize| {
            if v.trim().is_empty() || v.len() > max {
                Err(format!("purpose.{name} must be 1 to {max} bytes"))
            } else {
                Ok(())
            }
        };
        text("purpose", &self.purpose, 1024)?;
        text("retention", &self.retention, 256)?;
        if !LAWFUL_BASES.contains(&self.lawful_basis.as_str()) {
            return Err(format!(
                "purpose.lawful_basis {:?}: expected one of {}",
                self.lawful_basis.chars().take(64).collect::<String>(),
                LAWFUL_BASES.join(", ")
            ));
        }
        if self.data_categories.is_empty() || self.data_categories.len() > 64 {
            return Err("purpose.data_categories must list 1 to 64 categories".into());
        }
        for c in &self.data_categories {
            text("data_categories[]", c, 128)?;
        }
        Ok(())
    }
}

/// Most witnesses a genesis may name.
pub const MAX_WITNESSES: usize = 64;

/// `[transparency]`: the independent witnesses of the consortium's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransparencyPolicy {
    /// C2SP verifier keys (`<name>+<key id>+<base64(0x04 || Ed25519 key)>`) of the witnesses,
    /// as `fedledger monitor --print-vkey` prints them.
    pub witnesses: Vec<String>,
    /// How many of them must cosign a checkpoint for an audit to accept it (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_quorum: Option<u32>,
}

impl TransparencyPolicy {
    /// The witnesses' keys (validated by [`Genesis::validate`]).
    pub fn witness_keys(&self) -> Vec<crate::tlog::WitnessKey> {
        self.witnesses
            .iter()
            .filter_map(|v| crate::tlog::WitnessKey::parse_vkey(v).ok())
            .collect()
    }

    /// Cosignatures an audit requires.
    pub fn quorum(&self) -> usize {
        self.witness_quorum
            .map_or(self.witnesses.len(), |q| q as usize)
    }

    fn validate(&self) -> Result<(), String> {
        if self.witnesses.is_empty() || self.witnesses.len() > MAX_WITNESSES {
            return Err(format!(
                "transparency.witnesses must name 1 to {MAX_WITNESSES} witnesses"
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for v in &self.witnesses {
            let w = crate::tlog::WitnessKey::parse_vkey(v)
                .map_err(|e| format!("transparency.witnesses: {e}"))?;
            if !names.insert(w.name) {
                return Err("transparency.witnesses: a witness name appears twice".into());
            }
        }
        if !(1..=self.witnesses.len()).contains(&self.quorum()) {
            return Err(format!(
                "transparency.witness_quorum must be 1 to {} (the witnesses named)",
                self.witnesses.len()
            ));
        }
        Ok(())
    }
}

/// The largest model a genesis may declare, in f32 parameters (1 GiB of weights): keeps a hostile
/// genesis from asking every node for terabytes.
pub const MAX_MODEL_PARAMS: u64 = 1 << 28;
/// Most tensors in a `kind = "tensors"` layout.
pub const MAX_TENSORS: usize = 4096;
/// Most dimensions of one tensor.
pub const MAX_TENSOR_DIMS: usize = 8;
/// Longest tensor name, in bytes.
pub const MAX_TENSOR_NAME: usize = 128;

/// The model architecture and its initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// `logistic`, `softmax` or `mlp` (trained by the node or outside it), or `tensors`: any
    /// model, declared as the named f32 tensors below and trained outside the node.
    pub kind: String,
    /// Number of input features after encoding.
    pub features: u32,
    /// Number of classes (2 for logistic).
    pub classes: u32,
    /// Hidden layer widths for `mlp` (one or two layers); empty otherwise.
    #[serde(default)]
    pub hidden: Vec<u32>,
    /// Seed of the initial weights, so every node starts from the same model.
    pub init_seed: u64,
    /// SHA-256 of the data schema every member must use (hex), or empty.
    #[serde(default)]
    pub schema_hash: String,
    /// `[[model.tensors]]` of a `kind = "tensors"` model, in the order they are laid out in the
    /// flat parameter vector (each row-major). Absent from the canonical encoding when empty, so
    /// chain ids of genesis files without it are unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensors: Vec<TensorSpec>,
    /// The decision rule of a binary model: a customer is predicted positive when P(class 1)
    /// is at least this. Every threshold metric members report (accuracy, group positive and
    /// true-positive rates, hence the fairness gaps) is taken here. Unset: 0.5. On rare
    /// positives (a few percent) 0.5 soon predicts nobody positive; set it near the base rate.
    /// Absent from the canonical encoding when unset, so chain ids are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_threshold: Option<f64>,
}

/// One named tensor of a model layout (f32, row-major).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// Name, unique in the layout (`fc1.weight`): what a trainer maps its own parameters by.
    pub name: String,
    /// Dimensions, outermost first; each at least 1.
    pub shape: Vec<u64>,
}

impl TensorSpec {
    /// Number of values (the product of the dimensions, saturating).
    pub fn len(&self) -> u64 {
        self.shape.iter().fold(1u64, |a, &d| a.saturating_mul(d))
    }

    /// Whether the tensor holds no value (never, in a valid layout).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parse the command-line form `name:DIMxDIM,name:DIM` (`fc1.weight:256x784,fc1.bias:256`).
    pub fn parse_list(s: &str) -> Result<Vec<TensorSpec>, String> {
        s.split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                let (name, dims) = t
                    .trim()
                    .rsplit_once(':')
                    .ok_or_else(|| format!("{t:?}: expected NAME:DIMxDIM..."))?;
                let shape = dims
                    .split('x')
                    .map(|d| {
                        d.trim()
                            .parse::<u64>()
                            .map_err(|e| format!("{t:?}: dimension {d:?}: {e}"))
                    })
                    .collect::<Result<Vec<u64>, String>>()?;
                Ok(TensorSpec {
                    name: name.to_string(),
                    shape,
                })
            })
            .collect()
    }
}

impl ModelSpec {
    /// The decision threshold members evaluate at (0.5 unless the genesis sets one).
    pub fn threshold(&self) -> f64 {
        self.decision_threshold.unwrap_or(0.5)
    }

    /// Check a `tensors` layout: names unique, printable and short; shapes non-empty with
    /// positive dimensions; the total within [`MAX_MODEL_PARAMS`].
    pub fn check_tensors(&self) -> Result<u64, String> {
        if self.tensors.is_empty() {
            return Err("a kind = \"tensors\" model needs at least one [[model.tensors]]".into());
        }
        if self.tensors.len() > MAX_TENSORS {
            return Err(format!(
                "{} tensors exceed the limit of {MAX_TENSORS}",
                self.tensors.len()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        let mut total: u64 = 0;
        for t in &self.tensors {
            let ok_char = |c: char| c.is_ascii_alphanumeric() || "._-/:[]".contains(c);
            if t.name.is_empty() || t.name.len() > MAX_TENSOR_NAME || !t.name.chars().all(ok_char) {
                return Err(format!(
                    "tensor name {:?} must be 1-{MAX_TENSOR_NAME} characters of A-Z a-z 0-9 . _ - / : [ ]",
                    t.name.chars().take(MAX_TENSOR_NAME + 1).collect::<String>()
                ));
            }
            if !names.insert(t.name.as_str()) {
                return Err(format!("tensor name {:?} appears twice", t.name));
            }
            if t.shape.is_empty() || t.shape.len() > MAX_TENSOR_DIMS || t.shape.contains(&0) {
                return Err(format!(
                    "tensor {:?} needs 1-{MAX_TENSOR_DIMS} dimensions, each at least 1 (found {:?})",
                    t.name, t.shape
                ));
            }
            total = total.saturating_add(t.len());
        }
        if total > MAX_MODEL_PARAMS {
            return Err(format!(
                "the layout has {total} parameters, over the limit of {MAX_MODEL_PARAMS}"
            ));
        }
        Ok(total)
    }
}

/// Aggregation rule names accepted in genesis and on the command line.
pub const RULES: &[&str] = &[
    "mean",
    "median",
    "trimmed-mean",
    "krum",
    "multi-krum",
    "bulyan",
    "geometric-median",
    "centered-clipping",
];

/// The aggregation rule and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationSpec {
    /// One of [`RULES`], optionally after pre-aggregation steps (`arc+nnm+krum`, see
    /// [`crate::rule_name`]), or `robust`.
    pub rule: String,
    /// Multi-Krum's m (defaults to n - f when absent).
    #[serde(default)]
    pub multi_krum_m: Option<u32>,
    /// Centered clipping radius (tau), when that rule is used.
    #[serde(default)]
    pub clip_radius: Option<f64>,
}

/// The DP-SGD policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpPolicy {
    /// Per-example clipping norm C.
    pub clip_norm: f64,
    /// Noise multiplier sigma (noise std is sigma * C). 0 disables DP (testing only).
    pub noise_multiplier: f64,
    /// Expected batch size; the sampling rate is batch / local examples.
    pub batch_size: u32,
    /// Local epochs per round.
    pub local_epochs: u32,
    /// The delta every member's epsilon is measured at.
    pub delta: f64,
    /// Plan each member's settings from a target epsilon instead ([`crate::privacy::plan`]):
    /// then the fixed clip, noise, batch and epochs above are unused, and every recorded spend
    /// must be the plan's for the member's signed example count. Absent from the canonical
    /// encoding when unset, so chain ids of genesis files without it are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<DpPlanSpec>,
}

/// `[dp.plan]`: the target a member's DP-SGD settings are planned for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpPlanSpec {
    /// Epsilon each member reaches (at `dp.delta`) after `rounds` rounds.
    pub target_epsilon: f64,
    /// The rounds the budget is spread over.
    pub rounds: u64,
}

impl DpPolicy {
    /// The plan target, when the policy plans settings.
    pub fn plan_target(&self) -> Option<crate::privacy::DpPlanTarget> {
        self.plan.map(|p| crate::privacy::DpPlanTarget {
            epsilon: p.target_epsilon,
            delta: self.delta,
            rounds: p.rounds,
        })
    }
}

/// Timing and membership rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundPolicy {
    /// How long the leader waits for updates before proposing with what it has (ms).
    pub collect_timeout_ms: u64,
    /// How long a validator waits in a view before voting to nullify it (ms).
    pub view_timeout_ms: u64,
    /// A membership change recorded at height h takes effect at h + this.
    pub membership_delay: u64,
    /// Stop after this many rounds (0 = no limit).
    #[serde(default)]
    pub max_rounds: u64,
}

/// A founding member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// Its ed25519 public key.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Its privacy cap: total epsilon at the policy's delta.
    pub epsilon_max: f64,
}

impl Genesis {
    /// Parse and validate a genesis TOML document.
    pub fn from_toml(text: &str) -> Result<Self, LedgerError> {
        // One line with the line number and key, like every other file error (toml's own
        // message spans several lines and quotes the line).
        let mut g: Genesis = toml::from_str(text).map_err(|e| LedgerError::InvalidGenesis {
            reason: crate::files::toml_problem(text, &e).to_string(),
        })?;
        g.members.sort_by_key(|a| a.id);
        g.validate()?;
        Ok(g)
    }

    /// Read, parse and validate a genesis file.
    pub fn load(path: &Path) -> Result<Self, LedgerError> {
        let text = std::fs::read_to_string(path).map_err(|e| LedgerError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            LedgerError::InvalidGenesis { reason } => LedgerError::InvalidGenesis {
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    /// The TOML form (members sorted by id).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| panic!("genesis always serialises: {e}"))
    }

    /// The chain id: SHA-256 over a domain tag and the canonical encoding (members sorted by id).
    pub fn chain_id(&self) -> Digest {
        let mut sorted = self.clone();
        sorted.members.sort_by_key(|a| a.id);
        Digest::of_parts(&[GENESIS_DOMAIN, &codec::encode(&sorted)])
    }

    /// Founding member ids, sorted.
    pub fn member_ids(&self) -> Vec<OrgId> {
        let mut ids: Vec<OrgId> = self.members.iter().map(|m| m.id).collect();
        ids.sort();
        ids
    }

    /// Check that this consortium can work: sizes, rule requirements, finite positive parameters.
    pub fn validate(&self) -> Result<(), LedgerError> {
        let bad = |reason: String| Err(LedgerError::InvalidGenesis { reason });
        if self.format_version != FORMAT_VERSION {
            return bad(format!(
                "format_version is {}, this build reads version {FORMAT_VERSION}",
                self.format_version
            ));
        }
        if self.members.is_empty() {
            return bad("members: at least one member is required".into());
        }
        for w in self.members.windows(2) {
            if w[0].id == w[1].id {
                return bad(format!("members: {} is listed twice", w[0].id));
            }
        }
        for m in &self.members {
            if !(m.epsilon_max.is_finite() && m.epsilon_max > 0.0) {
                return bad(format!(
                    "members.{}: epsilon_max must be a positive number",
                    m.name
                ));
            }
            if m.name.len() > 256 {
                return bad("members: a name is longer than 256 bytes".into());
            }
        }
        let n = self.members.len() as u64;
        check_bft(n, self.f).or_else(&bad)?;
        check_rule(&self.aggregation.rule, n, self.f).or_else(&bad)?;
        let dp = &self.dp;
        if !(dp.delta > 0.0 && dp.delta < 1.0) {
            return bad(format!("dp.delta must be in (0, 1), found {}", dp.delta));
        }
        if !(dp.clip_norm.is_finite() && dp.clip_norm > 0.0) {
            return bad("dp.clip_norm must be a positive number".into());
        }
        if !(dp.noise_multiplier.is_finite() && dp.noise_multiplier >= 0.0) {
            return bad("dp.noise_multiplier must be >= 0".into());
        }
        if dp.batch_size == 0 || dp.local_epochs == 0 {
            return bad("dp.batch_size and dp.local_epochs must be at least 1".into());
        }
        if let Some(p) = &dp.plan {
            if !(p.target_epsilon.is_finite() && p.target_epsilon > 0.0) {
                return bad(format!(
                    "dp.plan.target_epsilon must be a positive number, found {}",
                    p.target_epsilon
                ));
            }
            if p.rounds == 0 {
                return bad("dp.plan.rounds must be at least 1".into());
            }
            if let Some(m) = self
                .members
                .iter()
                .find(|m| m.epsilon_max < p.target_epsilon)
            {
                return bad(format!(
                    "dp.plan.target_epsilon {} exceeds the cap {} of member {}: it would be refused before the planned rounds end",
                    p.target_epsilon, m.epsilon_max, m.name
                ));
            }
        }
        let m = &self.model;
        if !["logistic", "softmax", "mlp", "tensors"].contains(&m.kind.as_str()) {
            return bad(format!(
                "model.kind must be logistic, softmax, mlp or tensors, found {:?}",
                m.kind
            ));
        }
        if m.kind == "tensors" {
            m.check_tensors()
                .map_err(|reason| LedgerError::InvalidGenesis {
                    reason: format!("model.tensors: {reason}"),
                })?;
        } else if !m.tensors.is_empty() {
            return bad(format!(
                "model.tensors is for kind = \"tensors\"; a {} model has a fixed layout",
                m.kind
            ));
        }
        if m.features == 0 || m.classes < 2 {
            return bad("model.features must be >= 1 and model.classes >= 2".into());
        }
        if let Some(t) = m.decision_threshold {
            if !(t > 0.0 && t < 1.0) {
                return bad(format!(
                    "model.decision_threshold must be in (0, 1), found {t}"
                ));
            }
            if m.classes != 2 {
                return bad("model.decision_threshold is for binary models (classes = 2)".into());
            }
        }
        if m.kind == "mlp" && !(1..=2).contains(&m.hidden.len()) {
            return bad("model.hidden must list one or two layer widths for an mlp".into());
        }
        if self.rounds.view_timeout_ms == 0 || self.rounds.collect_timeout_ms == 0 {
            return bad("rounds.view_timeout_ms and rounds.collect_timeout_ms must be > 0".into());
        }
        if self.rounds.membership_delay == 0 {
            return bad("rounds.membership_delay must be at least 1".into());
        }
        if let Some(t) = &self.transparency {
            t.validate()
                .map_err(|reason| LedgerError::InvalidGenesis { reason })?;
        }
        if let Some(p) = &self.purpose {
            p.validate()
                .map_err(|reason| LedgerError::InvalidGenesis { reason })?;
        }
        Ok(())
    }
}

/// BFT needs n >= 3f+1 validators.
pub fn check_bft(n: u64, f: u32) -> Result<(), String> {
    let need = 3 * u64::from(f) + 1;
    if n < need {
        return Err(format!(
            "BFT consensus needs n >= 3f+1 (here n={n}, f={f}, so at least {need} members)"
        ));
    }
    Ok(())
}

/// Whether `rule` can run with n updates of which f may be Byzantine. `rule` may name
/// pre-aggregation steps before the rule ([`crate::rule_name`]): bucketing hands the rule
/// ceil(n/2) bucket means, of which f may still be Byzantine, and NNM needs n > f.
pub fn check_rule(rule: &str, n: u64, f: u32) -> Result<(), String> {
    let name = crate::rule_name::RuleName::parse(rule)?;
    let f64_ = u64::from(f);
    if name.pre.contains(&"nnm") && n <= f64_ {
        return Err(format!(
            "nearest-neighbour mixing needs n > f (here n={n}, f={f})"
        ));
    }
    let inputs = name.rule_inputs(n);
    let base = name.rule;
    let (need, what) = match base {
        "mean" => (1, "mean needs n >= 1".to_string()),
        "median" | "geometric-median" | "centered-clipping" => {
            (2 * f64_ + 1, format!("{base} needs n >= 2f+1"))
        }
        "trimmed-mean" => (2 * f64_ + 1, "trimmed mean needs n >= 2f+1".into()),
        "krum" | "multi-krum" => (
            2 * f64_ + 3,
            format!("{} needs n >= 2f+3", rule_title(base)),
        ),
        "bulyan" => (4 * f64_ + 3, "Bulyan needs n >= 4f+3".into()),
        other => {
            return Err(format!(
                "aggregation.rule {:?} is not one of {} (optionally after pre-aggregation \
                 steps {}, joined by '+', or {:?})",
                other.chars().take(80).collect::<String>(),
                RULES.join(", "),
                crate::rule_name::PRE_AGGREGATIONS.join(", "),
                crate::rule_name::ROBUST,
            ));
        }
    };
    if inputs < need {
        if inputs != n {
            return Err(format!(
                "{what}, and bucketing leaves {inputs} bucket means of n={n} updates (f={f})"
            ));
        }
        return Err(format!("{what} (here n={n}, f={f})"));
    }
    Ok(())
}

fn rule_title(rule: &str) -> &'static str {
    match rule {
        "krum" => "Krum",
        _ => "Multi-Krum",
    }
}

/// Votes needed for a certificate among `n` validators tolerating `f` faults: the smallest q with
/// q >= 2f+1 and any two quorums intersecting in at least f+1 members (2q - n >= f+1). For
/// n = 3f+1 this is exactly 2f+1.
pub fn quorum(n: usize, f: u32) -> usize {
    let f = f as usize;
    (2 * f + 1).max((n + f) / 2 + 1).min(n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_matches_2f_plus_1_at_3f_plus_1_and_intersects_otherwise() {
        assert_eq!(quorum(4, 1), 3);
        assert_eq!(quorum(7, 2), 5);
        assert_eq!(quorum(1, 0), 1);
        for f in 0..6u32 {
            for n in (3 * f as usize + 1)..40 {
                let q = quorum(n, f);
                assert!(q > 2 * f as usize);
                assert!(2 * q > n + f as usize, "n={n} f={f} q={q}");
                assert!(q <= n - f as usize, "liveness n={n} f={f} q={q}");
            }
        }
    }

    #[test]
    fn rule_requirements_name_the_numbers() {
        let e = check_rule("krum", 4, 1).err().unwrap_or_default();
        assert!(
            e.contains("Krum needs n >= 2f+3") && e.contains("n=4"),
            "{e}"
        );
        assert!(check_rule("krum", 5, 1).is_ok());
        assert!(check_rule("bulyan", 6, 1).is_err());
        assert!(check_rule("bulyan", 7, 1).is_ok());
        assert!(check_rule("nope", 7, 1).is_err());
        assert!(check_bft(3, 1).is_err());
        assert!(check_bft(4, 1).is_ok());
    }

    #[test]
    fn a_tensors_layout_is_checked_and_leaves_other_chain_ids_alone() {
        let mut g = crate::testutil::test_genesis(4, 1, "median", 10.0);
        let before = g.chain_id();
        g.model.tensors = Vec::new();
        assert_eq!(g.chain_id(), before, "an empty layout is not encoded");
        let layout =
            TensorSpec::parse_list("fc1.weight:16x8, fc1.bias:16,head.weight:1x16,head.bias:1")
                .unwrap();
        assert_eq!(layout[0].shape, vec![16, 8]);
        assert_eq!(
            layout.iter().map(TensorSpec::len).sum::<u64>(),
            16 * 8 + 16 + 16 + 1
        );
        // A layout on a built-in kind is refused; on kind = "tensors" it is the model.
        g.model.tensors = layout.clone();
        assert!(g.validate().is_err());
        g.model.kind = "tensors".into();
        assert!(g.validate().is_ok());
        assert_ne!(g.chain_id(), before);
        let bad = [
            ("", "needs at least one"),
            ("a:2,a:3", "twice"),
            ("a:0", "at least 1"),
            ("a b:2", "characters"),
            ("a:1x1x1x1x1x1x1x1x1", "dimensions"),
            ("a:65536x65536", "over the limit"),
        ];
        for (spec, says) in bad {
            g.model.tensors = TensorSpec::parse_list(spec).unwrap();
            let e = g
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(says), "{spec}: {e}");
        }
        assert!(TensorSpec::parse_list("a").is_err());
        assert!(TensorSpec::parse_list("a:2xq").is_err());
        // Saturating, so a hostile shape cannot wrap around the limit.
        let huge = TensorSpec {
            name: "h".into(),
            shape: vec![u64::MAX, 3],
        };
        assert_eq!(huge.len(), u64::MAX);
    }
}
