//! `fedledger checkpoint` and `fedledger consistency`: signed C2SP checkpoints of a stored
//! ledger, and RFC 6962 consistency proofs between two of them.

use super::checkpoint_peer::{self, PeerSource};
use crate::source::{audit_source, LedgerSource};
use anyhow::Context;
use fedledger_ledger::identity::{OrgId, OrgKey};
use fedledger_ledger::tlog::{self, BlockLog, OpenedCheckpoint};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Digest, Genesis};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Print the signed checkpoint of a stored ledger at a height, or a running node's latest.
///
/// The checkpoint (C2SP tlog-checkpoint: origin `fedledger/<chain id>`, size = height, RFC 6962
/// root over the block hashes) is signed as a C2SP signed note by each --key, which must be a
/// member's. The ledger is audited first; a checkpoint is only ever made of a valid history.
/// With --peer, the node's latest checkpoint is fetched over libp2p instead and printed as the
/// node signed it, once its signature by a genesis member is checked (exit status 1 if not).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(false)))]
pub struct CheckpointArgs {
    /// The consortium's genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// A node's data directory (its ledger lives in DIR/ledger). The node must be stopped.
    #[arg(long, value_name = "DIR", group = "source")]
    data_dir: Option<PathBuf>,
    /// A single-file export written by `fedledger export` or `fedledger fetch`.
    #[arg(long, value_name = "FILE", group = "source")]
    file: Option<PathBuf>,
    /// Fetch a running node's latest signed checkpoint over libp2p (its address ending in
    /// /p2p/PEER_ID). Signatures are checked against the genesis members only.
    #[arg(long, value_name = "MULTIADDR", group = "source", conflicts_with_all = ["height", "keys"])]
    peer: Option<String>,
    /// The height (tree size) [default: the tip].
    #[arg(long)]
    height: Option<u64>,
    /// A member's key file to sign with (repeat for several signatures).
    #[arg(long = "key", value_name = "FILE", required_unless_present = "peer")]
    keys: Vec<PathBuf>,
    /// Write the signed checkpoint here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print origin, size, root and the signed note as JSON (with --peer also the signers).
    #[arg(long)]
    json: bool,
    /// Seconds to wait for a --peer to connect and to answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

/// Check that one signed checkpoint's history is a prefix of another's.
///
/// Both checkpoints must be signed by members of this consortium. The consistency proof comes
/// from a stored ledger (which must reach the newer size and is audited first) or from a
/// running node (`GET /consistency`). Exit status 0 if consistent, 1 if not (naming what
/// differs), 2 if an input is unreadable.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("prover").required(true).multiple(false)))]
pub struct ConsistencyArgs {
    /// The consortium's genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// The earlier signed checkpoint.
    #[arg(long, value_name = "FILE")]
    old: PathBuf,
    /// The later signed checkpoint.
    #[arg(long, value_name = "FILE")]
    new: PathBuf,
    /// Prove from a node's data directory (the node must be stopped).
    #[arg(long, value_name = "DIR", group = "prover")]
    data_dir: Option<PathBuf>,
    /// Prove from an export written by `fedledger export` or `fedledger fetch`.
    #[arg(long, value_name = "FILE", group = "prover")]
    file: Option<PathBuf>,
    /// Ask a running node for the proof: its status address (HOST:PORT, over HTTP) or its
    /// libp2p address ending in /p2p/PEER_ID. Signatures are then checked against the genesis
    /// members only; members who joined later need --data-dir.
    #[arg(long, value_name = "HOST:PORT|MULTIADDR", group = "prover")]
    peer: Option<String>,
    /// Print the verdict, both checkpoints and the proof as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for a libp2p --peer to connect and to answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

/// A verified ledger as a log: its block hashes and everyone who was ever a member.
struct History {
    chain_id: Digest,
    log: BlockLog,
    members: Vec<OrgId>,
}

/// Audit the ledger and build its log; an invalid ledger is an error naming the height.
fn history(genesis: &Genesis, source: &LedgerSource) -> anyhow::Result<History> {
    let mut log = BlockLog::new();
    let mut members: Vec<OrgId> = ChainState::new(genesis).validators().to_vec();
    let outcome = audit_source(genesis, source, |block, state| {
        log.append(&block.hash());
        for v in state.validators() {
            if !members.contains(v) {
                members.push(*v);
            }
        }
    })?;
    if let Some(v) = outcome.violation {
        anyhow::bail!("the ledger is invalid, so it has no checkpoint: {v}");
    }
    Ok(History {
        chain_id: genesis.chain_id(),
        log,
        members,
    })
}

/// Make and print a signed checkpoint.
pub fn checkpoint(a: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let genesis = Genesis::load(&a.genesis)?;
    if let Some(peer) = &a.peer {
        return checkpoint_of_peer(&genesis, peer, &a);
    }
    let source = LedgerSource {
        data_dir: a.data_dir.clone(),
        file: a.file.clone(),
    };
    let h = history(&genesis, &source)?;
    let size = a.height.unwrap_or(h.log.size());
    if size > h.log.size() {
        anyhow::bail!(
            "--height {size} is beyond the ledger's tip ({})",
            h.log.size()
        );
    }
    let keys = a
        .keys
        .iter()
        .map(|p| OrgKey::read_from(p).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (k, p) in keys.iter().zip(&a.keys) {
        if !h.members.contains(&k.id()) {
            anyhow::bail!(
                "{} is the key of {}, which has never been a member of this consortium",
                p.display(),
                k.id().short()
            );
        }
    }
    let refs: Vec<&OrgKey> = keys.iter().collect();
    let note = tlog::sign_checkpoint(&h.chain_id, &h.log, size, &refs)?;
    let root = h.log.root(size)?;
    if let Some(out) = &a.out {
        std::fs::write(out, &note).with_context(|| format!("writing {}", out.display()))?;
    }
    if a.json {
        super::print_json(&serde_json::json!({
            "origin": tlog::origin(&h.chain_id),
            "size": size,
            "root": root.to_hex(),
            "note": note,
        }))?;
    } else if a.out.is_none() {
        print!("{note}");
    } else {
        eprintln!(
            "checkpoint of size {size} (root {}) signed by {} key(s)",
            root.short(),
            keys.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Fetch, open and print a running node's latest checkpoint.
fn checkpoint_of_peer(
    genesis: &Genesis,
    peer: &str,
    a: &CheckpointArgs,
) -> anyhow::Result<ExitCode> {
    let to = super::dial::parse_p2p("peer", peer)?;
    let chain_id = genesis.chain_id();
    let members = ChainState::new(genesis).validators().to_vec();
    let note =
        checkpoint_peer::latest_checkpoint(&to, &chain_id, Duration::from_secs(a.timeout.max(1)))?;
    let opened = match tlog::open_checkpoint(note.as_bytes(), &chain_id, &members) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "fedledger checkpoint: {} served a checkpoint that is not signed by a genesis member: {e}",
                to.peer
            );
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(out) = &a.out {
        std::fs::write(out, &note).with_context(|| format!("writing {}", out.display()))?;
    }
    let signers: Vec<String> = opened.signers.iter().map(|o| o.to_hex()).collect();
    if a.json {
        super::print_json(&serde_json::json!({
            "origin": opened.origin,
            "size": opened.size,
            "root": opened.root.to_hex(),
            "signers": signers,
            "unknown_signatures": opened.unknown_signatures,
            "note": note,
            "peer": to.peer.to_string(),
        }))?;
    } else {
        if a.out.is_none() {
            print!("{note}");
        }
        eprintln!(
            "checkpoint of size {} (root {}) from {}, signed by member(s) {}",
            opened.size,
            opened.root.short(),
            to.peer,
            opened
                .signers
                .iter()
                .map(|o| o.short())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The bytes of a signed checkpoint file, refused unread if larger than a note can be.
pub(crate) fn read_note(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > tlog::MAX_NOTE_BYTES as u64 {
        anyhow::bail!(
            "{} is larger than a signed checkpoint can be",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_checkpoint(
    path: &Path,
    chain_id: &Digest,
    members: &[OrgId],
) -> anyhow::Result<(OpenedCheckpoint, String)> {
    let bytes = read_note(path)?;
    let opened = tlog::open_checkpoint(&bytes, chain_id, members)
        .with_context(|| format!("{} is not a checkpoint signed by a member", path.display()))?;
    Ok((opened, String::from_utf8_lossy(&bytes).into_owned()))
}

/// Prove and check consistency between two checkpoints.
pub fn consistency(a: ConsistencyArgs) -> anyhow::Result<ExitCode> {
    let genesis = Genesis::load(&a.genesis)?;
    let chain_id = genesis.chain_id();
    let (old, new, verdict) = match &a.peer {
        Some(peer) => {
            let members = ChainState::new(&genesis).validators().to_vec();
            let (old, _) = read_checkpoint(&a.old, &chain_id, &members)?;
            let (new, _) = read_checkpoint(&a.new, &chain_id, &members)?;
            let peer = PeerSource::parse(peer)?;
            let timeout = Duration::from_secs(a.timeout.max(1));
            let verdict = judge_by_peer(&peer, &chain_id, &old, &new, timeout)?;
            (old, new, verdict)
        }
        None => {
            let source = LedgerSource {
                data_dir: a.data_dir.clone(),
                file: a.file.clone(),
            };
            let h = history(&genesis, &source)?;
            let (old, _) = read_checkpoint(&a.old, &chain_id, &h.members)?;
            let (new, _) = read_checkpoint(&a.new, &chain_id, &h.members)?;
            let verdict = judge(&h, &old, &new)?;
            (old, new, verdict)
        }
    };
    if a.json {
        let cp = |c: &OpenedCheckpoint| {
            serde_json::json!({
                "size": c.size,
                "root": c.root.to_hex(),
                "signers": c.signers.iter().map(|o| o.to_hex()).collect::<Vec<_>>(),
            })
        };
        super::print_json(&serde_json::json!({
            "consistent": verdict.is_ok(),
            "reason": verdict.as_ref().err(),
            "old": cp(&old),
            "new": cp(&new),
        }))?;
    } else {
        match &verdict {
            Ok(proof) => println!(
                "consistent: the history of size {} (root {}) is a prefix of the history of size {} (root {}); proof of {} hashes checked",
                old.size,
                old.root.short(),
                new.size,
                new.root.short(),
                proof
            ),
            Err(why) => println!("NOT consistent: {why}"),
        }
    }
    Ok(if verdict.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// As [`judge`], with the proof from a running node, which is not trusted: its roots must equal
/// the checkpoints' and its proof is checked against them.
fn judge_by_peer(
    peer: &PeerSource,
    chain_id: &Digest,
    old: &OpenedCheckpoint,
    new: &OpenedCheckpoint,
    timeout: Duration,
) -> anyhow::Result<Result<usize, String>> {
    if old.size > new.size {
        return Ok(Err(format!(
            "the old checkpoint is larger (size {}) than the new one (size {}): swap --old and --new",
            old.size, new.size
        )));
    }
    if old.size == 0 {
        return Ok(Ok(0));
    }
    let p = checkpoint_peer::consistency_proof(peer, chain_id, old.size, new.size, timeout)?;
    for (label, c, theirs) in [("old", old, &p.old_root), ("new", new, &p.new_root)] {
        if *theirs != c.root {
            return Ok(Err(format!(
                "the {label} checkpoint's root at size {} is {}, {peer}'s is {}: the histories differ at or before height {}",
                c.size,
                c.root.short(),
                theirs.short(),
                c.size
            )));
        }
    }
    Ok(
        match tlog::verify_consistency(old.size, &old.root, new.size, &new.root, &p.proof) {
            Ok(()) => Ok(p.proof.len()),
            Err(e) => Err(e.to_string()),
        },
    )
}

/// `Ok(proof length)` if `old` is a prefix of `new`, else what differs.
fn judge(
    h: &History,
    old: &OpenedCheckpoint,
    new: &OpenedCheckpoint,
) -> anyhow::Result<Result<usize, String>> {
    if old.size > new.size {
        return Ok(Err(format!(
            "the old checkpoint is larger (size {}) than the new one (size {}): swap --old and --new",
            old.size, new.size
        )));
    }
    if new.size > h.log.size() {
        anyhow::bail!(
            "the ledger holds {} blocks; it cannot prove anything about size {}",
            h.log.size(),
            new.size
        );
    }
    // Which checkpoint disagrees with this (audited) ledger, if either.
    for (label, c) in [("old", old), ("new", new)] {
        let ours = h.log.root(c.size)?;
        if ours != c.root {
            return Ok(Err(format!(
                "the {label} checkpoint's root at size {} is {}, this ledger's is {}: the histories differ at or before height {}",
                c.size,
                c.root.short(),
                ours.short(),
                c.size
            )));
        }
    }
    if old.size == 0 {
        return Ok(Ok(0));
    }
    let proof = h.log.consistency(old.size, new.size)?;
    Ok(
        match tlog::verify_consistency(old.size, &old.root, new.size, &new.root, &proof) {
            Ok(()) => Ok(proof.len()),
            Err(e) => Err(e.to_string()),
        },
    )
}
