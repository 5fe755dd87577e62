//! Round timing and traffic of a testnet, from the nodes' JSON logs and `/metrics`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Figures over all rounds of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timing {
    /// Rounds measured.
    pub rounds: usize,
    /// From the (last) leader's proposal, holding every update it includes, to the block being
    /// committed on every node, ms.
    pub latency_p50_ms: f64,
    /// 95th percentile of the same.
    pub latency_p95_ms: f64,
    /// Worst round.
    pub latency_max_ms: f64,
    /// Mean payload bytes (gossip and fetch) sent per node per round.
    pub bytes_sent_per_node_round: f64,
}

/// `(message, height, at_ms)` of the node's `proposing` and `committed` log lines.
fn events(log: &Path) -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let f = &v["fields"];
            Some((
                f["message"].as_str()?.to_string(),
                f["height"].as_u64()?,
                f["at_ms"].as_u64()?,
            ))
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
    sorted[i]
}

/// Compute the figures from the logs of `nodes` and their sent-byte counters.
pub fn measure(logs: &[std::path::PathBuf], bytes_sent: &[u64], rounds: u64) -> Timing {
    let mut proposed: BTreeMap<u64, u64> = BTreeMap::new();
    let mut committed: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for log in logs {
        for (msg, h, at) in events(log) {
            match msg.as_str() {
                // The last proposal of a height is the one that was finalized.
                "proposing" => {
                    let e = proposed.entry(h).or_insert(at);
                    *e = (*e).max(at);
                }
                "committed" => committed.entry(h).or_default().push(at),
                _ => {}
            }
        }
    }
    let mut lat: Vec<f64> = proposed
        .iter()
        .filter_map(|(h, p)| {
            let c = committed.get(h)?;
            (c.len() == logs.len())
                .then(|| c.iter().copied().max().unwrap_or(*p).saturating_sub(*p) as f64)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let total: u64 = bytes_sent.iter().sum();
    Timing {
        rounds: lat.len(),
        latency_p50_ms: percentile(&lat, 0.5),
        latency_p95_ms: percentile(&lat, 0.95),
        latency_max_ms: lat.last().copied().unwrap_or(0.0),
        bytes_sent_per_node_round: total as f64
            / (bytes_sent.len().max(1) as f64 * rounds.max(1) as f64),
    }
}

/// `fedledger_bytes_sent_total` from a node's `/metrics`.
pub fn bytes_sent(status_addr: &str) -> u64 {
    super::procs::http_get(status_addr, "/metrics")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("fedledger_bytes_sent_total "))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
