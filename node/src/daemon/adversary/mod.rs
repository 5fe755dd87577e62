//! A lying member for tests: a real node that runs named misbehaviours over the real network.
//!
//! Reachable only through the separate `fedledger-adversary` binary (never through a node
//! config), so no production node can turn it on by accident. Everything else about the process
//! is a normal member: it trains, votes, stores and serves, except where a misbehaviour says
//! otherwise, so the honest nodes meet the lie inside a working consortium.

mod flood;
mod hooks;

use fedledger_ledger::Digest;
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::str::FromStr;

/// One named misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Misbehaviour {
    /// Signs announcements whose loss is NaN.
    NanMetrics,
    /// Signs announcements with padded groups, `u64::MAX` counts, or accuracy/AUC out of range.
    HugeMetrics,
    /// Signs a DP spend other than the genesis plan's for its example count (more noise or
    /// fewer steps than it used: a smaller epsilon on the ledger than it spent).
    OffPlanSpend,
    /// Releases two different updates in one round.
    EquivocateUpdate,
    /// As leader, gossips two different blocks in one view.
    EquivocateProposal,
    /// As leader, gossips a block with a wrong aggregate or wrong budget spends.
    InvalidProposal,
    /// Announces updates but never serves their bytes.
    WithholdBytes,
    /// Never sends a vote.
    WithholdVotes,
    /// Re-publishes old rounds' gossip.
    Replay,
    /// Far-future and next-height votes and proposals from 50 fresh peer ids.
    VoteFlood,
    /// Serves slow, oversized or forged blocks to nodes that ask it for blocks, and lures them
    /// into asking with far-future votes.
    SyncHijack,
    /// Gossips join requests from fresh keys, many per second.
    JoinSpam,
    /// Floods every peer with fetch requests.
    FetchFlood,
}

impl Misbehaviour {
    /// Every misbehaviour, in the order the docs list them.
    pub const ALL: [Misbehaviour; 13] = [
        Misbehaviour::NanMetrics,
        Misbehaviour::HugeMetrics,
        Misbehaviour::OffPlanSpend,
        Misbehaviour::EquivocateUpdate,
        Misbehaviour::EquivocateProposal,
        Misbehaviour::InvalidProposal,
        Misbehaviour::WithholdBytes,
        Misbehaviour::WithholdVotes,
        Misbehaviour::Replay,
        Misbehaviour::VoteFlood,
        Misbehaviour::SyncHijack,
        Misbehaviour::JoinSpam,
        Misbehaviour::FetchFlood,
    ];

    /// The name used on the command line and in docs.
    pub fn name(&self) -> &'static str {
        match self {
            Misbehaviour::NanMetrics => "nan-metrics",
            Misbehaviour::HugeMetrics => "huge-metrics",
            Misbehaviour::OffPlanSpend => "off-plan-spend",
            Misbehaviour::EquivocateUpdate => "equivocate-update",
            Misbehaviour::EquivocateProposal => "equivocate-proposal",
            Misbehaviour::InvalidProposal => "invalid-proposal",
            Misbehaviour::WithholdBytes => "withhold-bytes",
            Misbehaviour::WithholdVotes => "withhold-votes",
            Misbehaviour::Replay => "replay",
            Misbehaviour::VoteFlood => "vote-flood",
            Misbehaviour::SyncHijack => "sync-hijack",
            Misbehaviour::JoinSpam => "join-spam",
            Misbehaviour::FetchFlood => "fetch-flood",
        }
    }
}

impl fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Misbehaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Misbehaviour::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Misbehaviour::ALL.iter().map(|m| m.name()).collect();
                format!("unknown adversary {s:?}; known: {}", names.join(", "))
            })
    }
}

/// Parse `a,b,c` into misbehaviours.
pub fn parse_list(list: &str) -> Result<BTreeSet<Misbehaviour>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Misbehaviour::from_str)
        .collect()
}

/// Most gossip bodies remembered for replay.
const REPLAY_MEMORY: usize = 512;

/// The adversary's state inside the node.
#[derive(Debug, Default)]
pub struct Adversary {
    /// What it does.
    pub behaviours: BTreeSet<Misbehaviour>,
    /// Gossip seen, oldest first, for `replay`: (height it was about, body).
    seen: VecDeque<(u64, super::wire::Gossip)>,
    /// Blob hashes of this node's own updates (withheld by `withhold-bytes`).
    own_blobs: BTreeSet<Digest>,
    /// Requests answered with a lie so far (rotates the `sync-hijack` variants).
    hijacks: u64,
    /// Proposals tampered so far (rotates the `invalid-proposal` variants).
    tampered: u64,
    /// Fresh-key swarms of `vote-flood`, started on the first tick.
    flood: Option<flood::Flood>,
}

impl Adversary {
    /// An adversary that does `behaviours`.
    pub fn new(behaviours: BTreeSet<Misbehaviour>) -> Self {
        Adversary {
            behaviours,
            ..Adversary::default()
        }
    }

    /// Whether it does `m`.
    pub fn does(&self, m: Misbehaviour) -> bool {
        self.behaviours.contains(&m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for m in Misbehaviour::ALL {
            assert_eq!(m.name().parse::<Misbehaviour>(), Ok(m));
        }
        let set = parse_list("nan-metrics, replay,").unwrap();
        assert_eq!(set.len(), 2);
        let e = parse_list("nan-metrics,teleport").unwrap_err();
        assert!(e.contains("teleport") && e.contains("fetch-flood"), "{e}");
    }
}
