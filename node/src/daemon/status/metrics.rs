//! `/metrics`: the node's figures as a prometheus-client registry (OpenMetrics text), plus
//! whatever else registers into it (libp2p's own metrics, see [`crate::p2p::NetworkService`]).
//!
//! The node's counters live in [`Shared`] under one lock (the driver updates several at once);
//! a [`Collector`] reads one consistent snapshot per scrape instead of mirroring every field
//! into atomics. Names are the ones `/metrics` always served: counters are registered without
//! `_total` and the encoder adds it, so users see `fedledger_rounds_total` as before.

use super::shared::Shared;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A registry holding the node's own metrics, read from `shared` at every scrape.
pub fn node_registry(shared: &Shared) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "fedledger_round_seconds",
        "Round latency, start to local commit.",
        shared.round_seconds(),
    );
    registry.register_collector(Box::new(NodeCollector {
        shared: shared.clone(),
    }));
    registry
}

/// The OpenMetrics text of `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; an error here would be a bug in a collector.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::warn!(target: super::TARGET, error = %e, "encoding /metrics failed");
    }
    out
}

#[derive(Debug)]
struct NodeCollector {
    shared: Shared,
}

fn gauge<N: prometheus_client::encoding::EncodeGaugeValue + std::fmt::Debug>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: N,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    c.encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

impl Collector for NodeCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (s, c) = self.shared.snapshot();
        let e = &mut enc;
        gauge(e, "fedledger_height", "Last committed height.", s.height)?;
        gauge(
            e,
            "fedledger_view",
            "Consensus view at the next height.",
            s.view,
        )?;
        gauge(e, "fedledger_peers", "Connected peers.", s.peers as u64)?;
        counter(
            e,
            "fedledger_rounds",
            "Rounds committed since start.",
            c.rounds,
        )?;
        gauge(
            e,
            "fedledger_round_seconds_last",
            "Latency of the last round, start to local commit.",
            c.round_seconds_last,
        )?;
        counter(
            e,
            "fedledger_bytes_sent",
            "Payload bytes sent (gossip and fetch).",
            c.bytes_sent,
        )?;
        counter(
            e,
            "fedledger_bytes_received",
            "Payload bytes received (gossip and fetch).",
            c.bytes_received,
        )?;
        counter(
            e,
            "fedledger_view_changes",
            "Views left through a nullification.",
            c.view_changes,
        )?;
        counter(
            e,
            "fedledger_synced_blocks",
            "Blocks received through sync.",
            c.synced_blocks,
        )?;
        gauge(
            e,
            "fedledger_epsilon_spent",
            "Epsilon spent on the ledger.",
            s.budget.spent,
        )?;
        gauge(e, "fedledger_epsilon_cap", "Epsilon cap.", s.budget.cap)?;
        if let Some(peak) = peak_rss_bytes() {
            gauge(
                e,
                "fedledger_process_peak_resident_bytes",
                "Peak resident memory of this process (VmHWM).",
                peak,
            )?;
        }
        // Zero counts are left out (a reason appears with its first rejection), as before.
        let mut family = e.encode_descriptor(
            "fedledger_rejected",
            "Inputs rejected or ignored, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in &c.rejected {
            let labels = [("reason", reason.as_str())];
            ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Peak resident set size from `/proc/self/status` (Linux only; `None` elsewhere).
fn peak_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::p2p::NetworkStats;
    use std::sync::Arc;

    fn text(shared: &Shared) -> String {
        encode(&node_registry(shared))
    }

    #[test]
    fn network_shed_counts_show_in_metrics_live() {
        let shared = Shared::default();
        let stats = Arc::new(NetworkStats::default());
        shared.attach_network_stats(stats.clone());
        shared.reject("malformed");
        let t = text(&shared);
        assert!(!t.contains("overload"), "zero counts are not shown");
        stats.count_overload_gossip();
        stats.count_overload_fetch();
        stats.count_overload_fetch();
        let t = text(&shared);
        assert!(t.contains("fedledger_rejected_total{reason=\"overload-gossip\"} 1\n"));
        assert!(t.contains("fedledger_rejected_total{reason=\"overload-fetch\"} 2\n"));
        assert!(t.contains("fedledger_rejected_total{reason=\"malformed\"} 1\n"));
    }

    #[test]
    fn consensus_drops_and_peak_memory_show_in_metrics() {
        let shared = Shared::default();
        shared.reject("non-member");
        shared.update(|_, c| {
            c.consensus_drops.insert("not-member", 3);
            c.consensus_drops.insert("equivocation", 1);
        });
        let t = text(&shared);
        assert!(t.contains("fedledger_rejected_total{reason=\"consensus-not-member\"} 3\n"));
        assert!(t.contains("fedledger_rejected_total{reason=\"consensus-equivocation\"} 1\n"));
        assert!(t.contains("fedledger_rejected_total{reason=\"non-member\"} 1\n"));
        if cfg!(target_os = "linux") {
            assert!(t.contains("fedledger_process_peak_resident_bytes "), "{t}");
        }
    }

    #[test]
    fn names_users_see_are_stable() {
        let shared = Shared::default();
        shared.update(|s, c| {
            s.height = 7;
            s.peers = 3;
            s.budget.spent = 1.5;
            s.budget.cap = 8.0;
            c.bytes_sent = 1234;
        });
        shared.record_round(0.25);
        shared.record_round(0.5);
        let t = text(&shared);
        for line in [
            "fedledger_height 7\n",
            "fedledger_view 0\n",
            "fedledger_peers 3\n",
            "fedledger_rounds_total 2\n",
            "fedledger_round_seconds_last 0.5\n",
            "fedledger_bytes_sent_total 1234\n",
            "fedledger_bytes_received_total 0\n",
            "fedledger_view_changes_total 0\n",
            "fedledger_synced_blocks_total 0\n",
            "fedledger_epsilon_spent 1.5\n",
            "fedledger_epsilon_cap 8.0\n",
            "fedledger_round_seconds_sum 0.75\n",
            "fedledger_round_seconds_count 2\n",
        ] {
            assert!(t.contains(line), "{line:?} missing from\n{t}");
        }
        assert!(
            t.contains("fedledger_round_seconds_bucket{le=\"0.8\"} 2\n"),
            "{t}"
        );
        assert!(t.ends_with("# EOF\n"), "{t}");
    }
}
