//! `fedledger genesis`: create and inspect a consortium's genesis file.

use anyhow::Context;
use fedledger_ledger::genesis::{
    AggregationSpec, DpPlanSpec, DpPolicy, Genesis, MemberSpec, ModelSpec, PurposeSpec,
    RoundPolicy, FORMAT_VERSION,
};
use fedledger_ledger::{OrgId, OrgKey};
use std::path::PathBuf;
use std::process::ExitCode;

/// Create or inspect a genesis file (the consortium's founding parameters; its hash is the
/// chain id).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a new genesis file from the founding members' ids or key files.
    New(Box<NewArgs>),
    /// Validate a genesis file and print its chain id and parameters.
    Show(ShowArgs),
}

/// Arguments of `genesis new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// Consortium name.
    #[arg(long)]
    consortium: String,
    /// A founding member as ID_OR_KEYFILE=NAME[:EPSILON_MAX] (repeat; EPSILON_MAX defaults to
    /// --epsilon-max). ID is 64 hex characters; a key file contributes its public id only.
    #[arg(
        long = "member",
        value_name = "ID_OR_KEYFILE=NAME[:EPS]",
        required = true
    )]
    members: Vec<String>,
    /// Byzantine members tolerated (consensus needs n >= 3f+1; the rule may need more).
    #[arg(long, default_value_t = 1)]
    f: u32,
    /// Aggregation rule: mean, median, trimmed-mean, krum, multi-krum, bulyan,
    /// geometric-median, centered-clipping.
    #[arg(long, default_value = "trimmed-mean")]
    rule: String,
    /// Default privacy cap (epsilon at --delta) per member.
    #[arg(long, default_value_t = 8.0)]
    epsilon_max: f64,
    /// delta of every member's (epsilon, delta) guarantee.
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// DP-SGD noise multiplier sigma.
    #[arg(long, default_value_t = 1.0)]
    noise_multiplier: f64,
    /// DP-SGD per-example clipping norm C.
    #[arg(long, default_value_t = 1.0)]
    clip_norm: f64,
    /// Expected batch size (sampling rate = batch / local examples).
    #[arg(long, default_value_t = 64)]
    batch_size: u32,
    /// Local epochs per round.
    #[arg(long, default_value_t = 1)]
    local_epochs: u32,
    /// Plan every member's DP-SGD settings (batch, epochs, clip, noise) from this target
    /// epsilon and its example count, instead of the fixed settings above (needs --plan-rounds).
    #[arg(long, requires = "plan_rounds")]
    plan_epsilon: Option<f64>,
    /// The rounds a planned budget is spread over.
    #[arg(long, requires = "plan_epsilon")]
    plan_rounds: Option<u64>,
    /// Model: logistic, softmax or mlp (built in), or tensors (any model, laid out by
    /// --tensors and trained outside the node, `[training] mode = "external"`).
    #[arg(long, default_value = "logistic")]
    model: String,
    /// The named f32 tensors of a `--model tensors` layout, in order: NAME:DIMxDIM,...
    /// (e.g. `fc1.weight:256x784,fc1.bias:256`).
    #[arg(long, value_name = "LAYOUT")]
    tensors: Option<String>,
    /// Input features after encoding.
    #[arg(long, default_value_t = 8)]
    features: u32,
    /// Classes.
    #[arg(long, default_value_t = 2)]
    classes: u32,
    /// Hidden layer widths for an mlp, comma-separated.
    #[arg(long, value_delimiter = ',')]
    hidden: Vec<u32>,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 1)]
    init_seed: u64,
    /// Leader's collection deadline per round (ms).
    #[arg(long, default_value_t = 5_000)]
    collect_timeout_ms: u64,
    /// View timeout before voting to skip a leader (ms).
    #[arg(long, default_value_t = 10_000)]
    view_timeout_ms: u64,
    /// Membership changes take effect this many heights after they are recorded.
    #[arg(long, default_value_t = 2)]
    membership_delay: u64,
    /// Stop after this many rounds (0 = no limit).
    #[arg(long, default_value_t = 0)]
    max_rounds: u64,
    /// What the consortium trains for, in words (`[purpose]`; with --lawful-basis,
    /// --data-category and --retention). Every update commitment and join request is bound to
    /// it through the chain id.
    #[arg(long, requires_all = ["lawful_basis", "data_category", "retention"])]
    purpose: Option<String>,
    /// The lawful basis: consent, contract, legal-obligation, vital-interests, public-task or
    /// legitimate-interests (GDPR Art. 6(1)).
    #[arg(long, requires = "purpose")]
    lawful_basis: Option<String>,
    /// A category of personal data used (repeat).
    #[arg(long, requires = "purpose")]
    data_category: Vec<String>,
    /// How long members keep the data and what is derived from it, in words.
    #[arg(long, requires = "purpose")]
    retention: Option<String>,
    /// Decision threshold of a binary model: members take accuracy, group rates and fairness
    /// gaps at P(class 1) >= this (default 0.5; set it near the base rate for rare positives).
    #[arg(long, value_name = "P")]
    decision_threshold: Option<f64>,
    /// Where to write it (refuses to overwrite).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Arguments of `genesis show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// Print {"chain_id", "genesis"} as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_member(spec: &str, default_eps: f64) -> anyhow::Result<MemberSpec> {
    let (who, rest) = spec
        .split_once('=')
        .with_context(|| format!("--member {spec:?}: expected ID_OR_KEYFILE=NAME[:EPS]"))?;
    let (name, eps) = match rest.rsplit_once(':') {
        Some((n, e)) => (
            n.to_string(),
            e.parse::<f64>()
                .with_context(|| format!("--member {spec:?}: {e:?} is not a number"))?,
        ),
        None => (rest.to_string(), default_eps),
    };
    let id = match who.parse::<OrgId>() {
        Ok(id) => id,
        Err(_) => OrgKey::read_from(std::path::Path::new(who))
            .with_context(|| {
                format!("--member {spec:?}: {who:?} is neither an org id nor a readable key file")
            })?
            .id(),
    };
    Ok(MemberSpec {
        id,
        name,
        epsilon_max: eps,
    })
}

/// Run it.
pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::New(a) => {
            let members = a
                .members
                .iter()
                .map(|m| parse_member(m, a.epsilon_max))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let created_at_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let g = Genesis {
                format_version: FORMAT_VERSION,
                consortium: a.consortium,
                created_at_ms,
                f: a.f,
                model: ModelSpec {
                    kind: a.model,
                    features: a.features,
                    classes: a.classes,
                    hidden: a.hidden,
                    init_seed: a.init_seed,
                    schema_hash: String::new(),
                    tensors: match &a.tensors {
                        Some(t) => fedledger_ledger::genesis::TensorSpec::parse_list(t)
                            .map_err(|e| anyhow::anyhow!("--tensors: {e}"))?,
                        None => Vec::new(),
                    },
                    decision_threshold: a.decision_threshold,
                },
                aggregation: AggregationSpec {
                    rule: a.rule,
                    multi_krum_m: None,
                    clip_radius: None,
                },
                dp: DpPolicy {
                    clip_norm: a.clip_norm,
                    noise_multiplier: a.noise_multiplier,
                    batch_size: a.batch_size,
                    local_epochs: a.local_epochs,
                    delta: a.delta,
                    plan: match (a.plan_epsilon, a.plan_rounds) {
                        (Some(target_epsilon), Some(rounds)) => Some(DpPlanSpec {
                            target_epsilon,
                            rounds,
                        }),
                        _ => None,
                    },
                },
                rounds: RoundPolicy {
                    collect_timeout_ms: a.collect_timeout_ms,
                    view_timeout_ms: a.view_timeout_ms,
                    membership_delay: a.membership_delay,
                    max_rounds: a.max_rounds,
                },
                members,
                transparency: None,
                purpose: a.purpose.clone().map(|purpose| PurposeSpec {
                    purpose,
                    lawful_basis: a.lawful_basis.clone().unwrap_or_default(),
                    data_categories: a.data_category.clone(),
                    retention: a.retention.clone().unwrap_or_default(),
                }),
            };
            // Round-trip through the parser so what we write is exactly what nodes will accept.
            let g = Genesis::from_toml(&g.to_toml())?;
            if a.out.exists() {
                anyhow::bail!(
                    "{} exists; refusing to overwrite a genesis",
                    a.out.display()
                );
            }
            // Through a temp file and a rename: a half-written genesis would give a different
            // chain id to whoever copies it.
            fedledger_ledger::files::write_new_atomic(&a.out, g.to_toml().as_bytes(), 0o644)
                .with_context(|| format!("writing {}", a.out.display()))?;
            println!("{}", g.chain_id());
            eprintln!(
                "wrote {} ({} members); the line above is the chain id",
                a.out.display(),
                g.members.len()
            );
        }
        Command::Show(a) => {
            let g = Genesis::load(&a.genesis)?;
            if a.json {
                super::print_json(&serde_json::json!({"chain_id": g.chain_id(), "genesis": g}))?;
            } else {
                println!("chain id     {}", g.chain_id());
                println!("consortium   {}", g.consortium);
                println!(
                    "rule         {} with f={} (quorum {} of {})",
                    g.aggregation.rule,
                    g.f,
                    fedledger_ledger::genesis::quorum(g.members.len(), g.f),
                    g.members.len()
                );
                println!(
                    "model        {} ({} features, {} classes)",
                    g.model.kind, g.model.features, g.model.classes
                );
                match &g.dp.plan {
                    Some(p) => println!(
                        "dp           planned per member for epsilon {} over {} rounds, delta={:e}",
                        p.target_epsilon, p.rounds, g.dp.delta
                    ),
                    None => println!(
                        "dp           sigma={} C={} batch={} epochs={} delta={:e}",
                        g.dp.noise_multiplier,
                        g.dp.clip_norm,
                        g.dp.batch_size,
                        g.dp.local_epochs,
                        g.dp.delta
                    ),
                }
                if let Some(p) = &g.purpose {
                    print_purpose(p, "");
                }
                for m in &g.members {
                    println!(
                        "member       {} {:<20} epsilon_max {}",
                        m.id.short(),
                        m.name,
                        m.epsilon_max
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `[purpose]` lines of `genesis show` and `audit`, indented by `indent`.
pub fn print_purpose(p: &PurposeSpec, indent: &str) {
    println!("{indent}purpose      {}", p.purpose);
    println!("{indent}lawful basis {}", p.lawful_basis);
    println!("{indent}data         {}", p.data_categories.join(", "));
    println!("{indent}retention    {}", p.retention);
}
