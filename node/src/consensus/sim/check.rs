//! The properties checked after every run: agreement, validity, liveness (and, by re-running,
//! determinism).

use super::app::expected_model;
use super::world::World;
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::Digest;
use serde::Serialize;
use std::collections::BTreeMap;

/// What one run produced and which properties it violated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutcome {
    /// Scenario name.
    pub scenario: &'static str,
    /// Seed.
    pub seed: u64,
    /// Founding validators.
    pub n: usize,
    /// Lowest height finalized by an honest node that stayed up.
    pub min_height: u64,
    /// Highest height finalized by any honest node.
    pub max_height: u64,
    /// Sum of finalized blocks' views (each view > 0 means view changes at that height).
    pub view_changes: u64,
    /// Virtual time at the end (ms).
    pub virtual_ms: u64,
    /// Messages sent over the virtual network.
    pub messages: u64,
    /// Messages honest nodes dropped, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Two honest nodes committed different blocks at one height.
    pub agreement: Vec<String>,
    /// An honest node's chain fails the ledger verifier or the recomputed aggregate.
    pub validity: Vec<String>,
    /// Honest nodes that stayed up did not reach the target height in time.
    pub liveness: Vec<String>,
    /// Running hash of every delivery, timer, crash and commit.
    #[serde(serialize_with = "hex_digest")]
    pub trace: Digest,
}

fn hex_digest<S: serde::Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_hex())
}

impl RunOutcome {
    /// Whether any property was violated.
    pub fn failed(&self) -> bool {
        !(self.agreement.is_empty() && self.validity.is_empty() && self.liveness.is_empty())
    }
}

pub(crate) fn outcome(w: &World, done: bool, trace: Digest) -> RunOutcome {
    let honest: Vec<usize> = (0..w.nodes.len()).filter(|&i| w.honest(i)).collect();
    let mut agreement = w.agreement.clone();
    // Every pair of honest ledgers must agree on their common prefix (covers commits the
    // on-line check could not see, e.g. of a node that crashed).
    let longest = honest
        .iter()
        .copied()
        .max_by_key(|&i| (w.nodes[i].store.len(), usize::MAX - i));
    if let Some(l) = longest {
        for &i in &honest {
            for (a, b) in w.nodes[i].store.iter().zip(&w.nodes[l].store) {
                if a.hash() != b.hash() {
                    agreement.push(format!(
                        "height {}: nodes {i} and {l} hold different blocks",
                        a.header.height
                    ));
                    break;
                }
            }
        }
    }
    let mut validity = Vec::new();
    let mut view_changes = 0;
    if let Some(l) = longest {
        let mut chain = ChainState::new(&w.genesis);
        for b in &w.nodes[l].store {
            view_changes += b.header.view;
            let expected = expected_model(&chain, &b.entries);
            if b.header.model_hash != expected {
                validity.push(format!(
                    "height {}: model hash {} is not the recomputed aggregate {}",
                    b.header.height,
                    b.header.model_hash.short(),
                    expected.short()
                ));
                break;
            }
            if let Err(v) = chain.apply(b.clone()) {
                validity.push(format!("ledger verifier: {v}"));
                break;
            }
        }
    }
    let live: Vec<usize> = honest
        .iter()
        .copied()
        .filter(|&i| !w.nodes[i].gone)
        .collect();
    let mut liveness = Vec::new();
    if !done {
        for &i in &live {
            let h = w.nodes[i].store.len() as u64;
            if h < w.setup.target_height {
                liveness.push(format!(
                    "node {i} finalized {h} of {} heights in {} virtual ms",
                    w.setup.target_height, w.now
                ));
            }
        }
        if liveness.is_empty() {
            liveness.push("stopped before the target without a lagging node".into());
        }
    }
    let mut drops = BTreeMap::new();
    for &i in &honest {
        if let Some(c) = &w.nodes[i].cons {
            for (k, v) in &c.stats().drops {
                *drops.entry((*k).to_string()).or_default() += v;
            }
        }
    }
    RunOutcome {
        scenario: "",
        seed: 0,
        n: w.setup.n,
        min_height: live
            .iter()
            .map(|&i| w.nodes[i].store.len() as u64)
            .min()
            .unwrap_or(0),
        max_height: honest
            .iter()
            .map(|&i| w.nodes[i].store.len() as u64)
            .max()
            .unwrap_or(0),
        view_changes,
        virtual_ms: w.now,
        messages: w.messages,
        drops,
        agreement,
        validity,
        liveness,
        trace,
    }
}
