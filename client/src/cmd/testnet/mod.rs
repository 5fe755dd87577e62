//! `fedledger testnet`: a real multi-node consortium on this machine, watched round by round,
//! then exported, audited and compared.

mod procs;
pub use procs::{http_get, node_binary};
mod setup;
mod timing;

use anyhow::{bail, Context};
use procs::Fleet;
use serde::Serialize;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Run a local testnet: N `fedledger-node` processes on 127.0.0.1 with their own data, live
/// progress per round, then export and audit every node's ledger and check they are identical.
///
/// Every process it starts is stopped at the end, on failure, and on Ctrl-C (the nodes share
/// the terminal's process group and shut down cleanly on SIGINT).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Founding organizations (nodes) [default: 4; with --byzantine and no --rule, enough for
    /// Krum: 2f+3].
    #[arg(long = "nodes")]
    pub nodes_arg: Option<usize>,
    /// Resolved node count.
    #[arg(skip)]
    pub nodes: usize,
    /// Training rounds (blocks).
    #[arg(long, default_value_t = 10)]
    pub rounds: u64,
    /// How many of the founders (the first ones) train in Python through the trainer API
    /// (`python3 -m fedledger.member`, DP-SGD in numpy) instead of in their node. Needs
    /// `pip install ./client/python`.
    #[arg(long, default_value_t = 0)]
    pub python: usize,
    /// The Python module the --python members run (`python3 -m MODULE --node ADDR --token-file
    /// FILE --data CSV`), e.g. `fedledger.examples.sklearn_member` (needs scikit-learn).
    #[arg(long, default_value = "fedledger.member", value_name = "MODULE")]
    pub python_module: String,
    /// How many of the founders attack (the last ones).
    #[arg(long, default_value_t = 0)]
    pub byzantine: usize,
    /// The attack: sign-flip, gaussian, scaling or label-flip.
    #[arg(long)]
    pub attack: Option<String>,
    /// Run the Byzantine nodes (the last --byzantine founders, default 1) as lying members
    /// (`fedledger-adversary`) with these misbehaviours: nan-metrics, huge-metrics,
    /// off-plan-spend (needs --target-epsilon), equivocate-update, equivocate-proposal, invalid-proposal, withhold-bytes, withhold-votes,
    /// replay, vote-flood, sync-hijack, join-spam, fetch-flood. The honest nodes must finalize
    /// every round with identical ledgers that pass `audit --deep`; the summary lists what they
    /// rejected.
    #[arg(long, value_name = "NAME[,NAME]")]
    pub adversary: Option<String>,
    /// Aggregation rule (mean, median, trimmed-mean, krum, multi-krum, bulyan,
    /// geometric-median, centered-clipping), optionally after pre-aggregation steps (`nnm+krum`),
    /// or robust = arc+nnm+multi-krum [default: median; with --byzantine and --attack, robust,
    /// which excludes whole updates and so shows the attacker excluded in the ledger].
    #[arg(long = "rule")]
    pub rule_arg: Option<String>,
    /// Resolved rule.
    #[arg(skip)]
    pub rule: String,
    /// A CSV of customers to partition across the organizations (default: built-in synthetic
    /// customer data, each organization with its own population).
    #[arg(long, value_name = "FILE", requires = "schema")]
    pub data: Option<PathBuf>,
    /// The CSV's schema (TOML).
    #[arg(long, value_name = "FILE", requires = "data")]
    pub schema: Option<PathBuf>,
    /// How to split the CSV: iid, dirichlet:ALPHA or column:NAME.
    #[arg(long, default_value = "iid")]
    pub partition: String,
    /// Hidden layer widths: train an MLP instead of logistic regression (e.g. `1000,990` for a
    /// model of about a million parameters).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Vec<u32>,
    /// Declare the model as named f32 tensors (genesis `kind = "tensors"`) instead of a built-in
    /// one: NAME:DIMxDIM,... where `{features}` stands for the encoded feature count, e.g.
    /// `fc1.weight:16x{features},fc1.bias:16,fc2.weight:1x16,fc2.bias:1` with
    /// `fedledger.examples.mlp_member` (the --python-module default then). Every member trains
    /// in Python (--python defaults to all nodes).
    #[arg(long, value_name = "LAYOUT", conflicts_with = "hidden")]
    pub tensors: Option<String>,
    /// Synthetic customers per organization.
    #[arg(long, default_value_t = 1000)]
    pub rows: usize,
    /// DP-SGD noise multiplier.
    #[arg(long, default_value_t = 1.0)]
    pub noise_multiplier: f64,
    /// Plan each member's DP-SGD settings (batch, epochs, clip, noise) so that --rounds rounds
    /// spend this epsilon, from its own example count (genesis `[dp.plan]`), instead of the fixed
    /// --noise-multiplier with batch 64, one epoch and clip 1.
    #[arg(long, conflicts_with = "noise_multiplier")]
    pub target_epsilon: Option<f64>,
    /// Each organization's privacy cap (epsilon at delta 1e-5).
    #[arg(long, default_value_t = 10.0)]
    pub epsilon_max: f64,
    /// Leader's collection deadline per round (ms).
    #[arg(long, default_value_t = 2000)]
    pub collect_timeout_ms: u64,
    /// View timeout (ms).
    #[arg(long, default_value_t = 3000)]
    pub view_timeout_ms: u64,
    /// Seed of data, partition and initial model.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The genesis's decision threshold (`model.decision_threshold`): members take accuracy and
    /// the fairness rates at P(positive) >= this [default: 0.5].
    #[arg(long, value_name = "P")]
    pub threshold: Option<f64>,
    /// Where to put keys, genesis, configs, data dirs and logs (default: a fresh temp dir).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the directory afterwards for inspection (it is always kept on failure).
    #[arg(long)]
    pub keep: bool,
    /// A new organization joins mid-run: started with `fedledger join` once round 2 is
    /// committed, approved automatically by the founders, a validator `membership_delay` blocks
    /// after its admission is recorded.
    #[arg(long)]
    pub join: bool,
    /// The fedledger-node binary (default: next to this one).
    #[arg(long, value_name = "FILE")]
    pub node_bin: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Only write keys, genesis, data and node configs into --dir and print the node list as
    /// JSON; start nothing (for scripted and end-to-end tests).
    #[arg(long, requires = "dir")]
    pub setup_only: bool,
}

/// One organization's line in the summary.
#[derive(Debug, Serialize)]
struct OrgLine {
    name: String,
    org: String,
    attack: Option<String>,
    adversary: Option<String>,
    deep_ok: bool,
    height: u64,
    tip: String,
    valid: bool,
    updates: u64,
    exclusions: u64,
    epsilon_spent: f64,
    epsilon_max: f64,
}

/// The summary.
#[derive(Debug, Serialize)]
struct Summary {
    dir: String,
    rounds: u64,
    seconds: f64,
    identical: bool,
    all_valid: bool,
    timing: timing::Timing,
    /// Membership changes recorded (from the first node's audit).
    membership: Vec<serde_json::Value>,
    first_round: Option<RoundLine>,
    last_round: Option<RoundLine>,
    /// What the honest nodes rejected or shed, by reason (summed over them, from `/metrics`).
    rejected: std::collections::BTreeMap<String, u64>,
    /// The largest peak resident memory of an honest node, MiB (0 where not measurable).
    peak_rss_mib: f64,
    orgs: Vec<OrgLine>,
}

#[derive(Debug, Clone, Serialize)]
struct RoundLine {
    round: u64,
    accuracy: f64,
    auc: f64,
    loss: f64,
    excluded: u32,
}

/// Run it.
pub fn run(mut a: Args) -> anyhow::Result<ExitCode> {
    if let Some(list) = &a.adversary {
        let set =
            fedledger_node::daemon::adversary::parse_list(list).map_err(anyhow::Error::msg)?;
        if set.is_empty() {
            bail!("--adversary names no misbehaviour");
        }
        if a.byzantine == 0 {
            a.byzantine = 1;
        }
    }
    let byz = a.byzantine;
    let poisoning = byz > 0 && a.attack.is_some();
    a.rule = a
        .rule_arg
        .clone()
        .unwrap_or_else(|| if poisoning { "robust" } else { "median" }.to_string());
    a.nodes = match a.nodes_arg {
        Some(n) => n,
        None if a.rule_arg.is_none() && byz > 0 && !poisoning => (3 * byz + 1).max(4),
        None if a.rule_arg.is_none() && byz > 0 => {
            let n = (2 * byz + 3).max(3 * byz + 1).max(4);
            eprintln!(
                "--byzantine {byz}: using rule robust (arc+nnm+multi-krum: clip the largest updates, mix each with its n-f nearest, keep the n-f most central mixes) with {n} nodes (it needs n >= 2f+3); choose with --rule and --nodes"
            );
            n
        }
        None => 4,
    };
    if a.nodes < 1 || a.rounds < 1 {
        bail!("need at least one node and one round");
    }
    // Out-of-range flags are refused here, naming the flag, rather than as a node that fails to
    // start (its config carries --rows) or a genesis error about a key the user never typed.
    if !(10..=10_000_000).contains(&a.rows) {
        bail!("--rows must be in 10..=10000000, found {}", a.rows);
    }
    for (flag, v) in [
        ("--collect-timeout-ms", a.collect_timeout_ms),
        ("--view-timeout-ms", a.view_timeout_ms),
    ] {
        if !(1..=3_600_000).contains(&v) {
            bail!("{flag} must be in 1..=3600000, found {v}");
        }
    }
    if !(a.epsilon_max.is_finite()
        && a.epsilon_max > 0.0
        && a.epsilon_max <= fedledger_node::daemon::config::MAX_JOIN_EPSILON)
    {
        bail!(
            "--epsilon-max must be in (0, {}], found {}",
            fedledger_node::daemon::config::MAX_JOIN_EPSILON,
            a.epsilon_max
        );
    }
    if !(a.noise_multiplier.is_finite() && a.noise_multiplier >= 0.0) {
        bail!(
            "--noise-multiplier must be a number >= 0, found {}",
            a.noise_multiplier
        );
    }
    if let Some(e) = a.target_epsilon {
        if !(e.is_finite() && e > 0.0 && e <= a.epsilon_max) {
            bail!(
                "--target-epsilon must be a positive number no larger than --epsilon-max ({}), found {e}",
                a.epsilon_max
            );
        }
        if a.rounds == 0 {
            bail!("--target-epsilon spreads the budget over --rounds, which must be at least 1");
        }
    }
    if a.byzantine > 0 && a.attack.is_none() && a.adversary.is_none() {
        bail!("--byzantine needs --attack NAME or --adversary NAME");
    }
    if a.tensors.is_some() {
        if a.python == 0 {
            a.python = a.nodes - a.byzantine;
        }
        if a.python_module == "fedledger.member" {
            // That one trains the built-in logistic layout only.
            a.python_module = "fedledger.examples.mlp_member".into();
        }
        if a.python + a.byzantine != a.nodes || a.byzantine > 0 && a.adversary.is_none() {
            bail!(
                "a --tensors model is trained outside the nodes: every member but --adversary ones must be a --python one"
            );
        }
    }
    if a.python > 0 && a.python + a.byzantine > a.nodes {
        bail!(
            "--python {} and --byzantine {} overlap among {} nodes: Python members are the first, attackers the last",
            a.python,
            a.byzantine,
            a.nodes
        );
    }
    if a.byzantine >= a.nodes {
        bail!(
            "{} attackers among {} nodes leaves no honest one",
            a.byzantine,
            a.nodes
        );
    }
    let root = match &a.dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d)?.next().is_some() {
                bail!("{} is not empty; choose a new directory", d.display());
            }
            d.clone()
        }
        None => std::env::temp_dir().join(format!("fedledger-testnet-{}", std::process::id())),
    };
    let result = run_in(&a, &root);
    match &result {
        Ok(code) if *code == ExitCode::SUCCESS && !a.keep && !a.setup_only => {
            let _ = std::fs::remove_dir_all(&root);
        }
        _ => eprintln!(
            "testnet files (keys, configs, data dirs, logs): {}",
            root.display()
        ),
    }
    result
}

fn run_in(a: &Args, root: &std::path::Path) -> anyhow::Result<ExitCode> {
    let (nodes, genesis) = setup::lay_out(a, root)?;
    if a.setup_only {
        let list: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "name": n.name, "org": n.org, "config": n.config, "dir": n.dir,
                    "addr": n.addr, "status": n.status, "attack": n.attack, "joiner": n.joiner,
                    "trainer": n.trainer,
                })
            })
            .collect();
        super::print_json(&serde_json::json!({
            "dir": root,
            "genesis": root.join("genesis.toml"),
            "f": genesis.f,
            "nodes": list,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.python > 0 {
        python_ready()?;
    }
    let bin = procs::node_binary(a.node_bin.as_deref())?;
    let adversary_bin = procs::adversary_binary(&bin);
    let genesis_path = root.join("genesis.toml");
    eprintln!(
        "testnet: {} nodes, {} rounds, rule {} (f = {}), chain {} in {}",
        a.nodes,
        a.rounds,
        a.rule,
        genesis.f,
        fedledger_ledger::verify::ChainState::new(&genesis)
            .chain_id()
            .short(),
        root.display()
    );
    let mut fleet = Fleet::default();
    for n in nodes.iter().filter(|n| !n.joiner) {
        let log = root.join(format!("{}.log", n.name));
        match &n.adversary {
            Some(behave) => {
                fleet.start_adversary(&adversary_bin, &n.name, &n.config, behave, &log)?
            }
            None => fleet.start(&bin, &n.name, &n.config, &log)?,
        }
        eprintln!(
            "  {}  {}  status {}{}{}",
            n.name,
            n.addr,
            n.status,
            n.attack
                .as_ref()
                .map(|x| format!("  attacks with {x}"))
                .unwrap_or_default(),
            n.adversary
                .as_ref()
                .map(|x| format!("  ADVERSARY: {x}"))
                .unwrap_or_default()
        );
    }
    for n in nodes.iter().filter(|n| n.trainer.is_some()) {
        start_python_member(&mut fleet, n, root, &a.python_module)?;
    }
    // The transparency log can be watched from outside while the testnet runs.
    let peers: String = nodes
        .iter()
        .filter(|n| !n.joiner)
        .map(|n| format!(" --peer {}", n.status))
        .collect();
    eprintln!(
        "  watch it live: fedledger monitor --genesis {}{peers} --state {} --interval 1",
        genesis_path.display(),
        root.join("monitor").display()
    );
    let started = Instant::now();
    let per_round = Duration::from_millis(a.collect_timeout_ms + 2 * a.view_timeout_ms);
    let deadline = started + Duration::from_secs(60) + per_round * (2 * a.rounds as u32);
    let mut shown = 0u64;
    let mut joiner_started = false;
    let mut rounds: Vec<RoundLine> = Vec::new();
    loop {
        fleet.check_alive()?;
        let statuses: Vec<_> = nodes.iter().map(|n| procs::status(&n.status)).collect();
        let heights: Vec<u64> = statuses
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| s.height))
            .collect();
        let top = heights.iter().copied().max().unwrap_or(0);
        if top > shown {
            if let Some(s) = statuses.iter().flatten().find(|s| s.height == top) {
                let mut members: Vec<_> = s.members.iter().collect();
                members.sort_by_key(|m| m.name.clone());
                let eps: Vec<String> = members
                    .iter()
                    .map(|m| format!("{} {:.2}", m.name, m.epsilon_spent))
                    .collect();
                if let Some(m) = &s.last_metrics {
                    let line = RoundLine {
                        round: top,
                        accuracy: m.accuracy,
                        auc: m.auc,
                        loss: m.loss,
                        excluded: s.last_excluded,
                    };
                    let who: Vec<String> = s
                        .last_excluded_orgs
                        .iter()
                        .map(|o| {
                            nodes
                                .iter()
                                .find(|n| n.org == *o)
                                .map(|n| {
                                    format!(
                                        "{}{}",
                                        n.name,
                                        if n.attack.is_some() || n.adversary.is_some() {
                                            "*"
                                        } else {
                                            ""
                                        }
                                    )
                                })
                                .unwrap_or_else(|| o[..o.len().min(8)].to_string())
                        })
                        .collect();
                    let excluded = if who.is_empty() {
                        "0".to_string()
                    } else {
                        format!("{} ({})", line.excluded, who.join(" "))
                    };
                    eprintln!(
                        "round {:>3}/{}  accuracy {:.4}  auc {:.4}  loss {:.4}  excluded {}  epsilon [{}]  ({:.1}s)",
                        top,
                        a.rounds,
                        line.accuracy,
                        line.auc,
                        line.loss,
                        excluded,
                        eps.join(", "),
                        started.elapsed().as_secs_f64()
                    );
                    rounds.push(line);
                }
            }
            shown = top;
        }
        if let Some(j) = nodes.iter().find(|n| n.joiner) {
            // As soon as the founders are connected: the network is running, the joiner is not
            // in genesis, and there is time for its admission before the last round.
            let connected = statuses
                .iter()
                .take(a.nodes)
                .all(|s| s.as_ref().is_some_and(|s| s.peers > 0));
            if !joiner_started && connected {
                joiner_started = true;
                let key = root.join("keys").join(format!("{}.key", j.name));
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.arg("join")
                    .arg("--genesis")
                    .arg(&genesis_path)
                    .arg("--bootstrap")
                    .arg(&nodes[0].addr)
                    .arg("--key")
                    .arg(&key)
                    .arg("--config")
                    .arg(&j.config)
                    .arg("--epsilon-max")
                    .arg(a.epsilon_max.to_string())
                    .arg("--node-bin")
                    .arg(&bin)
                    .arg("--log-format")
                    .arg("json")
                    .env(
                        "RUST_LOG",
                        std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
                    );
                fleet.start_command(&j.name, cmd, &root.join(format!("{}.log", j.name)))?;
                eprintln!(
                    "{} asks to join (`fedledger join`) while the founders run round {}",
                    j.name,
                    top + 1
                );
            }
        }
        // Liars need not keep up; the honest nodes must.
        let running: Vec<u64> = nodes
            .iter()
            .zip(&heights)
            .filter(|(n, _)| n.adversary.is_none())
            .filter(|(n, _)| !n.joiner || joiner_started)
            .map(|(_, h)| *h)
            .collect();
        if joiner_started == nodes.iter().any(|n| n.joiner)
            && running.iter().all(|h| *h >= a.rounds)
        {
            break;
        }
        if statuses
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.budget.exhausted))
        {
            bail!(
                "every organization's privacy budget is spent at round {top}: no update can be released, so no further block can be built; raise --epsilon-max or --noise-multiplier, or run fewer --rounds"
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the testnet did not reach round {} in time (heights {heights:?}); see the logs",
                a.rounds
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let seconds = started.elapsed().as_secs_f64();
    let rejected = rejected_by(nodes.iter().filter(|n| n.adversary.is_none()));
    let peak_rss_mib = nodes
        .iter()
        .filter(|n| n.adversary.is_none())
        .filter_map(|n| metric(&n.status, "fedledger_process_peak_resident_bytes"))
        .fold(0.0f64, f64::max)
        / (1024.0 * 1024.0);
    let sent: Vec<u64> = nodes
        .iter()
        .map(|n| timing::bytes_sent(&n.status))
        .collect();
    fleet.stop();
    let logs: Vec<PathBuf> = nodes
        .iter()
        .map(|n| root.join(format!("{}.log", n.name)))
        .collect();
    let timing = timing::measure(&logs, &sent, a.rounds);
    eprintln!(
        "all nodes reached round {}; exporting and auditing every ledger",
        a.rounds
    );
    let exe = std::env::current_exe()?;
    let mut orgs = Vec::new();
    let mut membership = Vec::new();
    let mut ledger_rounds: Vec<serde_json::Value> = Vec::new();
    for n in &nodes {
        let file = root.join(format!("{}.fedledger", n.name));
        let out = Command::new(&exe)
            .arg("export")
            .arg("--data-dir")
            .arg(&n.dir)
            .arg("--out")
            .arg(&file)
            .output()?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            if n.adversary.is_none() {
                bail!("export of {} failed: {why}", n.name);
            }
            // An adversary's ledger is its own business (a flooder may never commit at all).
            eprintln!("{} (adversary): no ledger to audit: {}", n.name, why.trim());
            continue;
        }
        let out = Command::new(&exe)
            .arg("audit")
            .arg("--genesis")
            .arg(&genesis_path)
            .arg("--file")
            .arg(&file)
            .arg("--json")
            .arg("--rounds")
            .arg("--deep")
            .arg("--blobs")
            .arg(&n.dir)
            .output()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "audit of {}: {}",
                n.name,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let report = &v["report"];
        if membership.is_empty() {
            membership = report["membership"].as_array().cloned().unwrap_or_default();
        }
        if ledger_rounds.is_empty() {
            ledger_rounds = v["rounds"].as_array().cloned().unwrap_or_default();
        }
        let me = fedledger_ledger::OrgKey::read_from(
            &root.join("keys").join(format!("{}.key", n.name)),
        )?
        .id()
        .to_hex();
        let member = report["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["id"] == me.as_str()))
            .cloned()
            .unwrap_or_default();
        let deep = &v["deep"];
        let deep_ok = deep["mismatches"].as_array().is_some_and(|m| m.is_empty())
            && deep["complete"].as_bool().unwrap_or(false);
        orgs.push(OrgLine {
            name: n.name.clone(),
            org: me,
            attack: n.attack.clone(),
            adversary: n.adversary.clone(),
            deep_ok,
            height: report["height"].as_u64().unwrap_or(0),
            tip: report["tip"].as_str().unwrap_or("").to_string(),
            valid: v["valid"].as_bool().unwrap_or(false),
            updates: member["updates"].as_u64().unwrap_or(0),
            exclusions: member["exclusions"].as_u64().unwrap_or(0),
            epsilon_spent: member["epsilon_spent"].as_f64().unwrap_or(0.0),
            epsilon_max: member["epsilon_max"].as_f64().unwrap_or(0.0),
        });
    }
    // First and last round from the ledger itself (the live progress may skip rounds).
    let from_ledger = |r: &serde_json::Value| -> Option<RoundLine> {
        Some(RoundLine {
            round: r["height"].as_u64()?,
            accuracy: r["accuracy"].as_f64()?,
            auc: r["auc"].as_f64()?,
            loss: r["loss"].as_f64()?,
            excluded: r["excluded"].as_u64().unwrap_or(0) as u32,
        })
    };
    if let (Some(f), Some(l)) = (
        ledger_rounds.first().and_then(from_ledger),
        ledger_rounds.last().and_then(from_ledger),
    ) {
        rounds = vec![f, l];
    }
    // The verdict is about the honest nodes: an adversary may keep whatever it likes.
    let honest: Vec<&OrgLine> = orgs.iter().filter(|o| o.adversary.is_none()).collect();
    let identical = honest
        .windows(2)
        .all(|w| w[0].tip == w[1].tip && w[0].height == w[1].height);
    let all_valid = honest.iter().all(|o| o.valid && o.deep_ok);
    let summary = Summary {
        dir: root.display().to_string(),
        rounds: a.rounds,
        seconds,
        timing,
        membership,
        identical,
        all_valid,
        first_round: rounds.first().cloned(),
        last_round: rounds.last().cloned(),
        rejected,
        peak_rss_mib,
        orgs,
    };
    if a.json {
        super::print_json(&summary)?;
    } else {
        print_summary(&summary);
    }
    Ok(if identical && all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--python` needs the package: say how to get it rather than fail later in a log.
fn python_ready() -> anyhow::Result<()> {
    let ok = Command::new("python3")
        .args(["-c", "import fedledger, numpy"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!("--python needs python3 with the fedledger package: pip install ./client/python");
    }
    Ok(())
}

/// Encode node `n`'s data for its Python trainer, wait for the node's trainer token, and start
/// `python3 -m fedledger.member` against it (logging to `<name>.python.log`).
fn start_python_member(
    fleet: &mut Fleet,
    n: &setup::NodeSpec,
    root: &std::path::Path,
    module: &str,
) -> anyhow::Result<()> {
    let Some(api) = &n.trainer else {
        return Ok(());
    };
    let csv = root.join(format!("{}.csv", n.name));
    super::encode::write_encoded(&n.config, &csv)?;
    let token = n.dir.join(fedledger_node::daemon::trainer::TOKEN_FILE);
    let waited = Instant::now();
    while !token.exists() {
        if waited.elapsed() > Duration::from_secs(30) {
            bail!(
                "{} wrote no trainer token in 30 s; see {}.log",
                n.name,
                n.name
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut cmd = Command::new("python3");
    cmd.args(["-m", module, "--node", api.as_str(), "--token-file"])
        .arg(&token)
        .arg("--data")
        .arg(&csv);
    let log = root.join(format!("{}.python.log", n.name));
    fleet.start_helper(&format!("{}-python", n.name), cmd, &log)?;
    eprintln!(
        "  {}  trains in Python (trainer API {api}, log {})",
        n.name,
        log.display()
    );
    Ok(())
}

fn print_summary(s: &Summary) {
    println!(
        "\ntestnet: {} rounds in {:.1}s; ledgers {}; audit {}",
        s.rounds,
        s.seconds,
        if s.identical {
            "IDENTICAL on every node"
        } else {
            "DIFFER"
        },
        if s.all_valid {
            "VALID (deep) on every node"
        } else {
            "FAILED"
        }
    );
    if s.peak_rss_mib > 0.0 {
        println!(
            "memory: honest nodes peaked at {:.0} MiB resident",
            s.peak_rss_mib
        );
    }
    if !s.rejected.is_empty() {
        let list: Vec<String> = s.rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!("rejected by the honest nodes: {}", list.join(", "));
    }
    if let (Some(f), Some(l)) = (&s.first_round, &s.last_round) {
        println!(
            "model: accuracy {:.4} -> {:.4}, auc {:.4} -> {:.4} (round {} -> {})",
            f.accuracy, l.accuracy, f.auc, l.auc, f.round, l.round
        );
    }
    for m in &s.membership {
        println!(
            "membership: {} ({}) {} recorded at height {}, effective at {} with {} approvals",
            m["name"].as_str().unwrap_or(""),
            &m["org"].as_str().unwrap_or("")[..8.min(m["org"].as_str().unwrap_or("").len())],
            m["action"].as_str().unwrap_or(""),
            m["height"],
            m["effective_height"],
            m["approvals"]
        );
    }
    let t = &s.timing;
    println!(
        "rounds: proposal to commit on every node p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; {:.0} KiB sent per node per round",
        t.latency_p50_ms,
        t.latency_p95_ms,
        t.latency_max_ms,
        t.bytes_sent_per_node_round / 1024.0
    );
    println!(
        "\n  {:<8} {:<10} {:>6} {:>8} {:>9} {:>8} {:>6}  {:<10} tip",
        "org", "id", "height", "updates", "excluded", "epsilon", "cap", "attack"
    );
    for o in &s.orgs {
        println!(
            "  {:<8} {:<10} {:>6} {:>8} {:>9} {:>8.3} {:>6.1}  {:<10} {}{}",
            o.name,
            &o.org[..8],
            o.height,
            o.updates,
            o.exclusions,
            o.epsilon_spent,
            o.epsilon_max,
            o.adversary
                .as_deref()
                .or(o.attack.as_deref())
                .unwrap_or("-"),
            &o.tip[..o.tip.len().min(16)],
            match (o.valid, o.deep_ok) {
                (true, true) => "",
                (true, false) => "  DEEP AUDIT FAILED",
                _ => "  AUDIT FAILED",
            }
        );
    }
}

/// `fedledger_rejected_total{reason="R"} N` lines of these nodes' `/metrics`, summed by reason.
fn rejected_by<'a>(
    nodes: impl Iterator<Item = &'a setup::NodeSpec>,
) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for n in nodes {
        let Ok(text) = procs::http_get(&n.status, "/metrics") else {
            continue;
        };
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("fedledger_rejected_total{reason=\"") else {
                continue;
            };
            let Some((reason, value)) = rest.split_once("\"} ") else {
                continue;
            };
            if let Ok(v) = value.trim().parse::<f64>() {
                *out.entry(reason.to_string()).or_insert(0) += v as u64;
            }
        }
    }
    out
}

/// One unlabelled sample from a node's `/metrics`.
fn metric(status: &str, name: &str) -> Option<f64> {
    let text = procs::http_get(status, "/metrics").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
