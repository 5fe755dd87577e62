//! The node's live status (`GET /status`, JSON) and counters (`GET /metrics`, Prometheus text),
//! served on a small loopback HTTP listener.

use super::error::DaemonError;
use crate::p2p::NetworkStats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, info};

const TARGET: &str = "fedledger::status";

/// What `GET /status` returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// This organization's id (hex).
    pub org: String,
    /// Its name from the key file.
    pub name: String,
    /// The chain id (hex).
    pub chain_id: String,
    /// Whether this organization is a validator at the next height.
    pub member: bool,
    /// Last committed height.
    pub height: u64,
    /// Current consensus view of the next height.
    pub view: u64,
    /// What the node is doing: `training`, `collecting`, `deciding`, `catching-up`, `done`.
    pub phase: String,
    /// Connected peers.
    pub peers: usize,
    /// Hash of the last committed block (hex; empty before the first).
    pub last_block_hash: String,
    /// Hash of the current global model (hex).
    pub model_hash: String,
    /// This member's privacy budget.
    pub budget: BudgetStatus,
    /// Pooled metrics of the last committed round (the base model evaluated by members).
    pub last_metrics: Option<RoundMetricsStatus>,
    /// Updates the last committed round excluded.
    pub last_excluded: u32,
    /// Whose (org ids, hex).
    #[serde(default)]
    pub last_excluded_orgs: Vec<String>,
    /// Join and leave requests seen and not yet recorded.
    pub pending_requests: Vec<PendingRequestStatus>,
    /// Every validator's committed privacy spend, from the ledger.
    pub members: Vec<MemberBudget>,
    /// Our libp2p addresses.
    pub listen: Vec<String>,
    /// Our PeerId.
    pub peer_id: String,
}

/// Privacy budget figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetStatus {
    /// Epsilon spent according to the ledger (committed spends).
    pub spent: f64,
    /// Epsilon spent by every update this node released (committed or not).
    pub released: f64,
    /// The cap from genesis.
    pub cap: f64,
    /// `cap - released`.
    pub left: f64,
    /// The node stopped contributing because the next round would cross the cap.
    pub exhausted: bool,
}

/// A membership request waiting for approvals or a block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingRequestStatus {
    /// The subject (hex).
    pub org: String,
    /// `join NAME` or `leave`.
    pub action: String,
    /// Approvals collected.
    pub approvals: usize,
    /// Whether this node approved it.
    pub approved_here: bool,
}

/// A local operator's command, from the status listener (loopback only by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// Approve the pending request of this organization.
    Admit(fedledger_ledger::OrgId),
    /// Ask to leave the consortium.
    Leave,
}

/// One validator's committed spend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberBudget {
    /// Organization id (hex).
    pub org: String,
    /// Name from genesis or its join request.
    pub name: String,
    /// Epsilon spent on the ledger.
    pub epsilon_spent: f64,
    /// Its cap.
    pub epsilon_max: f64,
}

/// Accuracy figures of a round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundMetricsStatus {
    /// The round.
    pub round: u64,
    /// Pooled accuracy.
    pub accuracy: f64,
    /// Pooled AUC.
    pub auc: f64,
    /// Pooled log loss.
    pub loss: f64,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Rounds committed since start.
    pub rounds: u64,
    /// Sum and count of round latencies, seconds (round start to commit here).
    pub round_seconds_sum: f64,
    /// Latest round latency, seconds.
    pub round_seconds_last: f64,
    /// Gossip and fetch payload bytes sent.
    pub bytes_sent: u64,
    /// Gossip and fetch payload bytes received.
    pub bytes_received: u64,
    /// Rejected or ignored inputs by reason.
    pub rejected: BTreeMap<String, u64>,
    /// View changes.
    pub view_changes: u64,
    /// Blocks received through sync.
    pub synced_blocks: u64,
    /// What the consensus state machine dropped, by reason (a copy of its own totals), plus
    /// conflicting proposals and votes seen (`equivocation`); shown in `rejected` as
    /// `consensus-<reason>`.
    pub consensus_drops: BTreeMap<&'static str, u64>,
}

/// Shared between the driver (writer) and the HTTP listener (reader).
#[derive(Debug, Clone, Default)]
pub struct Shared {
    inner: Arc<Mutex<(Status, Counters)>>,
    admin: Arc<Mutex<Vec<AdminCommand>>>,
    /// The network layer's shed counts, read live (the node loop may be the thing behind).
    network: Arc<OnceLock<Arc<NetworkStats>>>,
}

impl Shared {
    /// Mutate under the lock.
    pub fn update(&self, f: impl FnOnce(&mut Status, &mut Counters)) {
        if let Ok(mut g) = self.inner.lock() {
            let (s, c) = &mut *g;
            f(s, c);
        }
    }

    /// Copies of both; the network layer's shed counts are merged into `rejected`.
    pub fn snapshot(&self) -> (Status, Counters) {
        let (s, mut c) = self
            .inner
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        for (reason, n) in std::mem::take(&mut c.consensus_drops) {
            *c.rejected.entry(format!("consensus-{reason}")).or_default() += n;
        }
        if let Some(stats) = self.network.get() {
            for (reason, n) in stats.reasons() {
                if n > 0 {
                    *c.rejected.entry(reason.to_string()).or_default() += n;
                }
            }
        }
        (s, c)
    }

    /// Show `stats` (load shed by the network layer) in `/metrics`; the first call wins.
    pub fn attach_network_stats(&self, stats: Arc<NetworkStats>) {
        let _ = self.network.set(stats);
    }

    /// Queue an operator command for the node loop.
    pub fn push_admin(&self, c: AdminCommand) {
        if let Ok(mut q) = self.admin.lock() {
            if q.len() < 64 {
                q.push(c);
            }
        }
    }

    /// Take the queued operator commands.
    pub fn take_admin(&self) -> Vec<AdminCommand> {
        self.admin
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default()
    }

    /// Count a rejected input.
    pub fn reject(&self, reason: &str) {
        self.update(|_, c| *c.rejected.entry(reason.to_string()).or_default() += 1);
    }
}

/// The Prometheus text exposition.
pub fn prometheus(s: &Status, c: &Counters) -> String {
    let mut o = String::new();
    let mut g = |name: &str, help: &str, kind: &str, v: String| {
        o.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        ));
    };
    g(
        "fedledger_height",
        "Last committed height.",
        "gauge",
        s.height.to_string(),
    );
    g(
        "fedledger_view",
        "Consensus view at the next height.",
        "gauge",
        s.view.to_string(),
    );
    g(
        "fedledger_peers",
        "Connected peers.",
        "gauge",
        s.peers.to_string(),
    );
    g(
        "fedledger_rounds_total",
        "Rounds committed since start.",
        "counter",
        c.rounds.to_string(),
    );
    g(
        "fedledger_round_seconds_last",
        "Latency of the last round, start to local commit.",
        "gauge",
        format!("{}", c.round_seconds_last),
    );
    g(
        "fedledger_bytes_sent_total",
        "Payload bytes sent (gossip and fetch).",
        "counter",
        c.bytes_sent.to_string(),
    );
    g(
        "fedledger_bytes_received_total",
        "Payload bytes received (gossip and fetch).",
        "counter",
        c.bytes_received.to_string(),
    );
    g(
        "fedledger_view_changes_total",
        "Views left through a nullification.",
        "counter",
        c.view_changes.to_string(),
    );
    g(
        "fedledger_synced_blocks_total",
        "Blocks received through sync.",
        "counter",
        c.synced_blocks.to_string(),
    );
    g(
        "fedledger_epsilon_spent",
        "Epsilon spent on the ledger.",
        "gauge",
        format!("{}", s.budget.spent),
    );
    g(
        "fedledger_epsilon_cap",
        "Epsilon cap.",
        "gauge",
        format!("{}", s.budget.cap),
    );
    if let Some(peak) = peak_rss_bytes() {
        g(
            "fedledger_process_peak_resident_bytes",
            "Peak resident memory of this process (VmHWM).",
            "gauge",
            peak.to_string(),
        );
    }
    o.push_str("# HELP fedledger_round_seconds Round latency, start to local commit.\n# TYPE fedledger_round_seconds summary\n");
    o.push_str(&format!(
        "fedledger_round_seconds_sum {}\nfedledger_round_seconds_count {}\n",
        c.round_seconds_sum, c.rounds
    ));
    o.push_str("# HELP fedledger_rejected_total Inputs rejected or ignored, by reason.\n# TYPE fedledger_rejected_total counter\n");
    for (reason, n) in &c.rejected {
        o.push_str(&format!(
            "fedledger_rejected_total{{reason=\"{reason}\"}} {n}\n"
        ));
    }
    o
}

/// Peak resident set size from `/proc/self/status` (Linux only; `None` elsewhere).
fn peak_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Serve `/status` and `/metrics` on `addr` until the task is dropped. Returns the bound address.
pub async fn serve(addr: SocketAddr, shared: Shared) -> Result<SocketAddr, DaemonError> {
    let listener = TcpListener::bind(addr).await.map_err(|e| DaemonError::Io {
        what: format!("status listener on {addr}"),
        source: e,
    })?;
    let bound = listener.local_addr().map_err(|e| DaemonError::Io {
        what: "status listener address".into(),
        source: e,
    })?;
    info!(target: TARGET, %bound, "status listener up");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, peer)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                // Requests are a line plus headers, no body: read up to the blank line (4 KiB at
                // most, 5 s at most); anything longer is not ours.
                let mut buf = Vec::with_capacity(512);
                let mut chunk = [0u8; 1024];
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
                while buf.len() < 4096 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout_at(deadline, sock.read(&mut chunk)).await {
                        Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                        Ok(Ok(k)) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let n = buf.len();
                let line = String::from_utf8_lossy(&buf[..n]);
                let mut words = line.split_whitespace();
                let method = words.next().unwrap_or("");
                let path = words.next().unwrap_or("");
                let (s, c) = shared.snapshot();
                let (code, ctype, body) = match (method, path) {
                    ("POST", p) if p.starts_with("/admit?org=") => {
                        match p["/admit?org=".len()..].parse::<fedledger_ledger::OrgId>() {
                            Ok(org) => {
                                shared.push_admin(AdminCommand::Admit(org));
                                (
                                    "202 Accepted",
                                    "text/plain",
                                    format!("approval of {} queued\n", org.short()),
                                )
                            }
                            Err(e) => (
                                "400 Bad Request",
                                "text/plain",
                                format!("bad org id: {e}\n"),
                            ),
                        }
                    }
                    ("POST", "/leave") => {
                        shared.push_admin(AdminCommand::Leave);
                        (
                            "202 Accepted",
                            "text/plain",
                            "leave request queued\n".to_string(),
                        )
                    }
                    ("GET", p) => match p {
                        "/status" => (
                            "200 OK",
                            "application/json",
                            serde_json::to_string_pretty(&s).unwrap_or_default(),
                        ),
                        "/metrics" => ("200 OK", "text/plain; version=0.0.4", prometheus(&s, &c)),
                        _ => (
                            "404 Not Found",
                            "text/plain",
                            "try /status or /metrics\n".into(),
                        ),
                    },
                    _ => (
                        "405 Method Not Allowed",
                        "text/plain",
                        "GET /status, GET /metrics, POST /admit?org=ID, POST /leave\n".into(),
                    ),
                };
                debug!(target: TARGET, %peer, path, "request");
                let resp = format!(
                    "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_shed_counts_show_in_metrics_live() {
        let shared = Shared::default();
        let stats = Arc::new(NetworkStats::default());
        shared.attach_network_stats(stats.clone());
        shared.reject("malformed");
        let (s, c) = shared.snapshot();
        let text = prometheus(&s, &c);
        assert!(!text.contains("overload"), "zero counts are not shown");
        stats.count_overload_gossip();
        stats.count_overload_fetch();
        stats.count_overload_fetch();
        let (s, c) = shared.snapshot();
        let text = prometheus(&s, &c);
        assert!(text.contains("fedledger_rejected_total{reason=\"overload-gossip\"} 1\n"));
        assert!(text.contains("fedledger_rejected_total{reason=\"overload-fetch\"} 2\n"));
        assert!(text.contains("fedledger_rejected_total{reason=\"malformed\"} 1\n"));
    }

    #[test]
    fn consensus_drops_and_peak_memory_show_in_metrics() {
        let shared = Shared::default();
        shared.reject("non-member");
        shared.update(|_, c| {
            c.consensus_drops.insert("not-member", 3);
            c.consensus_drops.insert("equivocation", 1);
        });
        let (s, c) = shared.snapshot();
        let text = prometheus(&s, &c);
        assert!(text.contains("fedledger_rejected_total{reason=\"consensus-not-member\"} 3\n"));
        assert!(text.contains("fedledger_rejected_total{reason=\"consensus-equivocation\"} 1\n"));
        assert!(text.contains("fedledger_rejected_total{reason=\"non-member\"} 1\n"));
        if cfg!(target_os = "linux") {
            assert!(
                text.contains("fedledger_process_peak_resident_bytes "),
                "{text}"
            );
        }
    }
}
