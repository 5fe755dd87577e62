//! The state shared between the node loop (writer) and the status listener (reader): the
//! `/status` document, the counters behind `/metrics`, and the queue of operator commands.

use super::types::{AdminCommand, Status};
use crate::p2p::NetworkStats;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Most operator commands waiting for the node loop; more are refused (503), not dropped silently.
pub const ADMIN_QUEUE: usize = 64;

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Rounds committed since start.
    pub rounds: u64,
    /// Latest round latency, seconds (round start to commit here).
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
#[derive(Debug, Clone)]
pub struct Shared {
    inner: Arc<Mutex<(Status, Counters)>>,
    admin: Arc<Mutex<Vec<AdminCommand>>>,
    /// The network layer's shed counts, read live (the node loop may be the thing behind).
    network: Arc<OnceLock<Arc<NetworkStats>>>,
    /// Round latency, start to local commit (a live histogram: buckets cannot be rebuilt from
    /// a sum and a count at scrape time).
    round_seconds: Histogram,
    /// The block log and the latest checkpoint this node signed.
    pub transparency: super::transparency::Transparency,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            inner: Arc::default(),
            admin: Arc::default(),
            network: Arc::default(),
            // 50 ms .. ~100 s: a loopback round takes ~0.1 s, a slow consortium tens of seconds.
            round_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            transparency: Default::default(),
        }
    }
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

    /// Record a committed round: the counters and the latency histogram.
    pub fn record_round(&self, latency_seconds: f64) {
        self.update(|_, c| {
            c.rounds += 1;
            c.round_seconds_last = latency_seconds;
        });
        self.round_seconds.observe(latency_seconds);
    }

    /// The round latency histogram (registered in the metrics registry).
    pub(super) fn round_seconds(&self) -> Histogram {
        self.round_seconds.clone()
    }

    /// Show `stats` (load shed by the network layer) in `/metrics`; the first call wins.
    pub fn attach_network_stats(&self, stats: Arc<NetworkStats>) {
        let _ = self.network.set(stats);
    }

    /// Queue an operator command for the node loop. False if the queue is full.
    pub fn push_admin(&self, c: AdminCommand) -> bool {
        match self.admin.lock() {
            Ok(mut q) if q.len() < ADMIN_QUEUE => {
                q.push(c);
                true
            }
            _ => false,
        }
    }

    /// Take the queued operator commands.
    pub fn take_admin(&self) -> Vec<AdminCommand> {
        self.admin
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default()
    }

    /// How many operator commands are queued (tests: a rejected request queues nothing).
    pub fn admin_queued(&self) -> usize {
        self.admin.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Count a rejected input.
    pub fn reject(&self, reason: &str) {
        self.update(|_, c| *c.rejected.entry(reason.to_string()).or_default() += 1);
    }
}
