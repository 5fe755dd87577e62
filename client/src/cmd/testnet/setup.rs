//! Laying out a testnet on disk: keys, genesis, per-node data and node configs.

use super::Args;
use anyhow::{bail, Context};
use fedledger_ledger::genesis::{
    check_bft, check_rule, AggregationSpec, DpPlanSpec, DpPolicy, Genesis, MemberSpec, ModelSpec,
    RoundPolicy, TensorSpec, FORMAT_VERSION,
};
use fedledger_ledger::OrgKey;
use fedledger_node::learn::data::{csv, synth, Schema, Table};
use fedledger_node::learn::partition::{partition, Partition};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// One node of the testnet.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Display name (`org-0`).
    pub name: String,
    /// Its data dir.
    pub dir: PathBuf,
    /// Its config file.
    pub config: PathBuf,
    /// Organization id (hex).
    pub org: String,
    /// Its libp2p address with /p2p.
    pub addr: String,
    /// Status listener `127.0.0.1:port`.
    pub status: String,
    /// Configured attack, if any.
    pub attack: Option<String>,
    /// Misbehaviours it runs as `fedledger-adversary`, if any.
    pub adversary: Option<String>,
    /// Not in genesis: joins mid-run.
    pub joiner: bool,
    /// The trainer API address when a Python process trains for it (`--python`).
    pub trainer: Option<String>,
}

/// A free loopback TCP port (bound, read, released: a tiny race that is fine on one machine).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The largest f that both BFT (n >= 3f+1) and the rule accept, at least `min_f`.
fn choose_f(rule: &str, n: u64, min_f: u32) -> anyhow::Result<u32> {
    let mut best = None;
    for f in 0..=((n.saturating_sub(1)) / 3) as u32 {
        if check_bft(n, f).is_ok() && check_rule(rule, n, f).is_ok() {
            best = Some(f);
        }
    }
    match best {
        Some(f) if f >= min_f => Ok(f),
        _ => {
            let why = check_rule(rule, n, min_f.max(1))
                .err()
                .or_else(|| check_bft(n, min_f.max(1)).err().map(|e| e.to_string()))
                .unwrap_or_default();
            bail!(
                "{n} nodes cannot tolerate {} Byzantine with rule {rule}: {why}; add --nodes",
                min_f.max(1)
            )
        }
    }
}

/// Write everything under `root`; returns the nodes (founders first, then the joiner).
pub fn lay_out(a: &Args, root: &Path) -> anyhow::Result<(Vec<NodeSpec>, Genesis)> {
    std::fs::create_dir_all(root.join("keys"))?;
    let total = a.nodes + usize::from(a.join);
    let mut keys = Vec::with_capacity(total);
    for i in 0..total {
        // Testnet keys derive from --seed, so two runs with the same seed (say, with and without
        // an attacker) have the same organizations, data splits and DP noise. Never for real use.
        let secret = fedledger_ledger::Digest::of_parts(&[
            b"fedledger/testnet-key",
            &a.seed.to_le_bytes(),
            &(i as u64).to_le_bytes(),
        ]);
        let key = OrgKey::from_secret(secret.0, format!("org-{i}"));
        key.write_to(&root.join("keys").join(format!("org-{i}.key")))?;
        keys.push(key);
    }
    // Data: synthetic per organization, or a CSV partitioned across all (joiner included).
    let (schema, features, classes, csv_parts) = match (&a.data, &a.schema) {
        (Some(data), Some(schema_path)) => {
            let schema = Schema::load(schema_path)?;
            let table = csv::load_table(data)?;
            let encoded = table.encode(&schema)?;
            let spec: Partition = a.partition.parse()?;
            let parts = partition(&spec, &encoded, Some(&table), total, a.seed)?;
            std::fs::create_dir_all(root.join("data"))?;
            let mut files = Vec::new();
            for (i, idx) in parts.iter().enumerate() {
                let sub = Table {
                    source: format!("{} part {i}", table.source),
                    header: table.header.clone(),
                    rows: idx.iter().map(|&r| table.rows[r].clone()).collect(),
                    lines: idx.iter().map(|&r| table.lines[r]).collect(),
                };
                let path = root.join("data").join(format!("org-{i}.csv"));
                std::fs::write(&path, synth::to_csv(&sub))?;
                files.push(path);
            }
            let f = encoded.num_features();
            let c = schema.classes();
            (schema, f, c, Some((files, schema_path.canonicalize()?)))
        }
        (None, None) => {
            let schema = synth::schema();
            let sample = synth::generate(&synth::SynthConfig {
                orgs: 1,
                rows_per_org: 10,
                seed: a.seed,
            })
            .encode(&schema)?;
            (schema, sample.num_features(), 2, None)
        }
        _ => bail!("--data and --schema go together"),
    };
    let f = choose_f(&a.rule, a.nodes as u64, a.byzantine as u32)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let genesis = Genesis {
        format_version: FORMAT_VERSION,
        consortium: "fedledger testnet".into(),
        created_at_ms: now,
        f,
        model: ModelSpec {
            kind: if a.tensors.is_some() {
                "tensors"
            } else if !a.hidden.is_empty() {
                "mlp"
            } else if classes > 2 {
                "softmax"
            } else {
                "logistic"
            }
            .into(),
            features: features as u32,
            classes: classes as u32,
            hidden: a.hidden.clone(),
            init_seed: a.seed,
            schema_hash: schema.hash().to_hex(),
            tensors: match &a.tensors {
                Some(t) => TensorSpec::parse_list(&t.replace("{features}", &features.to_string()))
                    .map_err(|e| anyhow::anyhow!("--tensors: {e}"))?,
                None => Vec::new(),
            },
            decision_threshold: a.threshold,
        },
        aggregation: AggregationSpec {
            rule: a.rule.clone(),
            multi_krum_m: None,
            clip_radius: None,
        },
        dp: DpPolicy {
            clip_norm: 1.0,
            noise_multiplier: a.noise_multiplier,
            batch_size: 64,
            local_epochs: 1,
            delta: 1e-5,
            plan: a.target_epsilon.map(|target_epsilon| DpPlanSpec {
                target_epsilon,
                rounds: a.rounds,
            }),
        },
        rounds: RoundPolicy {
            collect_timeout_ms: a.collect_timeout_ms,
            view_timeout_ms: a.view_timeout_ms,
            membership_delay: 2,
            max_rounds: a.rounds,
        },
        members: keys
            .iter()
            .take(a.nodes)
            .map(|k| MemberSpec {
                id: k.id(),
                name: k.name.clone(),
                epsilon_max: a.epsilon_max,
            })
            .collect(),
        transparency: None,
        purpose: None,
    };
    let genesis = Genesis::from_toml(&genesis.to_toml()).context("the testnet genesis")?;
    let genesis_path = root.join("genesis.toml");
    std::fs::write(&genesis_path, genesis.to_toml())?;
    // Distinct ports: a released port can come straight back from the kernel, and two nodes
    // (or a node's libp2p and another's status listener) must never be given the same one.
    let mut used = std::collections::BTreeSet::new();
    let mut pick = move || -> anyhow::Result<u16> {
        loop {
            let p = free_port()?;
            if used.insert(p) {
                return Ok(p);
            }
        }
    };
    let mut ports = Vec::with_capacity(total);
    for _ in 0..total {
        ports.push((pick()?, pick()?));
    }
    let addrs: Vec<String> = keys
        .iter()
        .zip(&ports)
        .map(|(k, (p, _))| {
            let peer = fedledger_node::p2p::peer_of_org(&k.id())
                .map(|p| p.to_string())
                .unwrap_or_default();
            format!("/ip4/127.0.0.1/tcp/{p}/p2p/{peer}")
        })
        .collect();
    let mut nodes = Vec::with_capacity(total);
    for i in 0..total {
        let name = format!("org-{i}");
        let dir = root.join(&name);
        let byzantine = i >= a.nodes - a.byzantine && i < a.nodes;
        let attack = byzantine.then(|| a.attack.clone()).flatten();
        let adversary = byzantine.then(|| a.adversary.clone()).flatten();
        let bootstrap: Vec<String> = addrs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| format!("\"{s}\""))
            .collect();
        let data = match &csv_parts {
            Some((files, schema)) => format!(
                "source = \"csv\"\npath = {:?}\nschema = {:?}\n",
                files[i].display().to_string(),
                schema.display().to_string()
            ),
            None => format!(
                "source = \"synthetic\"\nsynthetic_org = {i}\nsynthetic_rows = {}\nsynthetic_seed = {}\n",
                a.rows, a.seed
            ),
        };
        let trainer = if i < a.python {
            Some(format!("127.0.0.1:{}", pick()?))
        } else {
            None
        };
        let attack_line = match (&attack, &trainer) {
            (_, Some(t)) => format!("mode = \"external\"\ntrainer_listen = \"{t}\"\n"),
            (Some(x), None) => format!("attack = \"{x}\"\n"),
            (None, None) => String::new(),
        };
        let status = format!("127.0.0.1:{}", ports[i].1);
        // Founders approve joins automatically; the joiner asks (via `fedledger join`).
        let membership = if i >= a.nodes {
            format!("join_epsilon_max = {}\n", a.epsilon_max)
        } else if a.join {
            "admission = \"auto\"\n".to_string()
        } else {
            String::new()
        };
        let text = format!(
            "# {name} of a local testnet (written by `fedledger testnet`).\n\
             data_dir = \"{name}\"\nkey = \"keys/{name}.key\"\ngenesis = \"genesis.toml\"\n\n\
             [network]\nlisten = [\"/ip4/127.0.0.1/tcp/{}\"]\nbootstrap = [{}]\nheartbeat_ms = 500\nredial_ms = 1000\nfetch_timeout_ms = 10000\n\n\
             [status]\nlisten = \"{status}\"\n\n[data]\n{data}\n[training]\n{attack_line}\n[membership]\n{membership}",
            ports[i].0,
            bootstrap.join(", ")
        );
        let config = root.join(format!("{name}.toml"));
        std::fs::write(&config, text)?;
        nodes.push(NodeSpec {
            name,
            org: keys[i].id().to_hex(),
            dir,
            config,
            addr: addrs[i].clone(),
            status,
            attack,
            adversary,
            joiner: i >= a.nodes,
            trainer,
        });
    }
    Ok((nodes, genesis))
}
