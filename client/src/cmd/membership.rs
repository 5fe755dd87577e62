//! `fedledger join`, `fedledger admit`, `fedledger leave`: changing who is in the consortium
//! through the running network.

use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Start a node for a new organization: it syncs and verifies the ledger from the bootstrap
/// peer, then asks to join (signed request with its name, privacy cap and the genesis schema
/// hash) until a quorum of members approves and a block records it. It becomes a validator
/// `membership_delay` blocks later and trains from then on. Runs in the foreground like
/// `fedledger-node run` (which it executes).
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// The consortium's genesis file.
    #[arg(long, value_name = "FILE")]
    pub genesis: PathBuf,
    /// A member's libp2p address with /p2p/PEER_ID.
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// The new organization's key (`fedledger keygen`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Node configuration (data dir, listen address, data, status listener).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Requested privacy cap (epsilon at the genesis delta).
    #[arg(long, default_value_t = 8.0)]
    pub epsilon_max: f64,
    /// The fedledger-node binary (default: next to this one).
    #[arg(long, value_name = "FILE")]
    pub node_bin: Option<PathBuf>,
    /// Log format of the node: text or json.
    #[arg(long, default_value = "text")]
    pub log_format: String,
}

/// Where the node's admin token is: the node writes a new one to `<data dir>/admin.token`
/// (mode 0600) at every start; admin calls present it as `Authorization: Bearer`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// The node's data dir (`data_dir` in its config), holding `admin.token`.
    #[arg(long, value_name = "DIR", required_unless_present = "token_file")]
    pub data_dir: Option<PathBuf>,
    /// The admin token file itself (instead of --data-dir).
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    pub token_file: Option<PathBuf>,
}

impl TokenArgs {
    /// The token, or an error naming the file and what to do.
    pub fn read(&self) -> anyhow::Result<String> {
        let path = match (&self.token_file, &self.data_dir) {
            (Some(f), _) => f.clone(),
            (None, Some(d)) => d.join(fedledger_node::daemon::TOKEN_FILE),
            (None, None) => bail!("give the node's --data-dir or --token-file"),
        };
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read the admin token {} (the node writes it when it starts, readable by \
                 the node's user only: is the node running with this data dir, and are you that user?)",
                path.display()
            )
        })?;
        let token = text.trim();
        if token.is_empty() {
            bail!("the admin token file {} is empty", path.display());
        }
        Ok(token.to_string())
    }
}

/// Approve the pending join (or leave) request of ORG_ID as the member running the node at
/// `--node` (its status listener). A change is recorded once a quorum of members approved it.
#[derive(Debug, clap::Args)]
pub struct AdmitArgs {
    /// The requesting organization's id (64 hex characters).
    pub org_id: String,
    /// The member node's status address (host:port).
    #[arg(long, value_name = "ADDR")]
    pub node: String,
    /// The node's admin token.
    #[command(flatten)]
    pub token: TokenArgs,
}

/// Ask to leave the consortium, as the member running the node at `--node`. The other members
/// approve it like a join (`fedledger admit`); it takes effect `membership_delay` blocks after it
/// is recorded, if the remaining members can still tolerate f faults under the rule.
#[derive(Debug, clap::Args)]
pub struct LeaveArgs {
    /// This member's node status address (host:port).
    #[arg(long, value_name = "ADDR")]
    pub node: String,
    /// The node's admin token.
    #[command(flatten)]
    pub token: TokenArgs,
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    p.canonicalize()
        .with_context(|| format!("{} does not exist", p.display()))
}

/// Run `join`: exec the node with the join settings.
pub fn join(a: JoinArgs) -> anyhow::Result<ExitCode> {
    // The node's own check (`membership.join_epsilon_max`), named by the flag the user typed.
    let most = fedledger_node::daemon::config::MAX_JOIN_EPSILON;
    if !(a.epsilon_max.is_finite() && a.epsilon_max > 0.0 && a.epsilon_max <= most) {
        bail!(
            "--epsilon-max must be in (0, {most}], found {}",
            a.epsilon_max
        );
    }
    if a.bootstrap.is_empty() {
        bail!("--bootstrap: give at least one member's address (/ip4/../tcp/../p2p/PEER_ID)");
    }
    let bin = super::testnet::node_binary(a.node_bin.as_deref())?;
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("run")
        .arg("--config")
        .arg(absolute(&a.config)?)
        .arg("--log-format")
        .arg(&a.log_format)
        .env("FEDLEDGER_GENESIS", absolute(&a.genesis)?)
        .env("FEDLEDGER_KEY", absolute(&a.key)?)
        .env("FEDLEDGER_BOOTSTRAP", a.bootstrap.join(","))
        .env("FEDLEDGER_JOIN_EPSILON_MAX", a.epsilon_max.to_string());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        bail!("could not start fedledger-node: {e}");
    }
    #[cfg(not(unix))]
    {
        let st = cmd.status()?;
        Ok(if st.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        })
    }
}

fn post(addr: &str, path: &str, token: &str) -> anyhow::Result<String> {
    let sock: std::net::SocketAddr = addr
        .parse()
        .with_context(|| format!("--node {addr}: expected host:port of a status listener"))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(3))
        .with_context(|| format!("no node status listener at {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut buf = String::new();
    s.take(1 << 20).read_to_string(&mut buf)?;
    let (head, body) = buf
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if head.starts_with("HTTP/1.1 401") || head.starts_with("HTTP/1.1 403") {
        bail!(
            "{}: {} (the token changes at every start of the node: is it this node's, read after its last start?)",
            head.lines().next().unwrap_or(""),
            body.trim()
        );
    }
    if !head.starts_with("HTTP/1.1 2") {
        bail!("{}: {}", head.lines().next().unwrap_or(""), body.trim());
    }
    Ok(body.trim().to_string())
}

/// Run `admit`.
pub fn admit(a: AdmitArgs) -> anyhow::Result<ExitCode> {
    let org: fedledger_ledger::OrgId = a
        .org_id
        .parse()
        .map_err(|e| anyhow::anyhow!("ORG_ID: {e}"))?;
    let token = a.token.read()?;
    println!(
        "{}",
        post(&a.node, &format!("/admit?org={}", org.to_hex()), &token)?
    );
    Ok(ExitCode::SUCCESS)
}

/// Run `leave`.
pub fn leave(a: LeaveArgs) -> anyhow::Result<ExitCode> {
    let token = a.token.read()?;
    println!("{}", post(&a.node, "/leave", &token)?);
    Ok(ExitCode::SUCCESS)
}
