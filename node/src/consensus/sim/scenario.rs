//! Named scenarios: network conditions, faults and Byzantine roles, drawn from a seed.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How a Byzantine member misbehaves (it otherwise runs the honest state machine).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Byzantine {
    /// As leader, send one proposal to half the nodes and a conflicting one to the other half.
    pub equivocate: bool,
    /// Send each notarize and finalize vote alongside a conflicting one.
    pub double_vote: bool,
    /// Propose blocks whose aggregate does not match the updates (application-invalid).
    pub poison: bool,
    /// Inject forged signatures, votes signed for another chain, and replays of old messages.
    pub forge: bool,
    /// Send no votes at all.
    pub withhold: bool,
}

impl Byzantine {
    /// Whether any misbehaviour is switched on.
    pub fn any(&self) -> bool {
        self.equivocate || self.double_vote || self.poison || self.forge || self.withhold
    }
}

/// A period during which the nodes are split into two sides that cannot talk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Start, virtual ms.
    pub start_ms: u64,
    /// End (heal), virtual ms.
    pub end_ms: u64,
    /// Side of each node.
    pub side: Vec<bool>,
}

/// The virtual network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Minimum one-way latency (ms).
    pub latency_ms: u64,
    /// Extra uniform random delay in [0, jitter] (ms).
    pub jitter_ms: u64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Partitions.
    pub partitions: Vec<Partition>,
}

/// A crash of node `node` at `at_ms`, restarting at `restart_ms` (never if `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// Node index.
    pub node: usize,
    /// When it crashes.
    pub at_ms: u64,
    /// When it restarts from its persisted state.
    pub restart_ms: Option<u64>,
}

/// Everything one run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// Founding validators.
    pub n: usize,
    /// Tolerated faults.
    pub f: u32,
    /// Nodes that start as followers and join (their index is >= n).
    pub joiners: usize,
    /// Record the join from this height on.
    pub join_from: u64,
    /// Heights every honest node must finalize.
    pub target_height: u64,
    /// Give up (liveness failure) after this much virtual time.
    pub time_limit_ms: u64,
    /// The network.
    pub net: NetConfig,
    /// Crashes.
    pub crashes: Vec<Crash>,
    /// Byzantine role per node (default: honest).
    pub byzantine: Vec<Byzantine>,
    /// Leader's collection deadline (ms).
    pub collect_timeout_ms: u64,
    /// View timeout (ms).
    pub view_timeout_ms: u64,
}

/// The named scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// Everyone honest and online, a fast reliable network.
    AllOnline,
    /// f validators crash early and never return.
    CrashedMinority,
    /// A Byzantine leader equivocates and double-votes.
    EquivocatingLeader,
    /// A Byzantine member proposes wrong aggregates, forges and replays messages.
    InvalidProposal,
    /// The network splits for seconds, then heals.
    PartitionHeals,
    /// Heavy loss and jitter.
    LossyNetwork,
    /// Validators crash and restart from persisted state, one at a time.
    RestartMidRound,
    /// A new member is admitted by a ledger entry and starts validating at the effective height.
    MembershipChange,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 8] = [
        Scenario::AllOnline,
        Scenario::CrashedMinority,
        Scenario::EquivocatingLeader,
        Scenario::InvalidProposal,
        Scenario::PartitionHeals,
        Scenario::LossyNetwork,
        Scenario::RestartMidRound,
        Scenario::MembershipChange,
    ];

    /// The scenario's name on the command line and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::AllOnline => "all_online",
            Scenario::CrashedMinority => "crashed_minority",
            Scenario::EquivocatingLeader => "equivocating_leader",
            Scenario::InvalidProposal => "invalid_proposal",
            Scenario::PartitionHeals => "partition_heals",
            Scenario::LossyNetwork => "lossy_network",
            Scenario::RestartMidRound => "restart_mid_round",
            Scenario::MembershipChange => "membership_change",
        }
    }

    /// Look a scenario up by name.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Draw this scenario's parameters from `rng`.
    pub fn setup(&self, rng: &mut ChaCha8Rng) -> Setup {
        let n = [4usize, 4, 4, 5, 7][rng.gen_range(0..5)];
        let f = ((n - 1) / 3) as u32;
        let mut s = Setup {
            n,
            f,
            joiners: 0,
            join_from: 0,
            target_height: 6,
            time_limit_ms: 120_000,
            net: NetConfig {
                latency_ms: rng.gen_range(5..30),
                jitter_ms: rng.gen_range(0..40),
                loss: 0.0,
                partitions: vec![],
            },
            crashes: vec![],
            byzantine: vec![Byzantine::default(); n],
            collect_timeout_ms: 300,
            view_timeout_ms: 1_000,
        };
        // Faulty nodes are chosen among all indices, so any of them may lead early views.
        let mut faulty: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            faulty.swap(i, rng.gen_range(0..=i));
        }
        faulty.truncate(f as usize);
        match self {
            Scenario::AllOnline => {}
            Scenario::CrashedMinority => {
                for &i in &faulty {
                    s.crashes.push(Crash {
                        node: i,
                        at_ms: rng.gen_range(0..1_500),
                        restart_ms: None,
                    });
                }
            }
            Scenario::EquivocatingLeader => {
                for &i in &faulty {
                    s.byzantine[i] = Byzantine {
                        equivocate: true,
                        double_vote: true,
                        ..Byzantine::default()
                    };
                }
            }
            Scenario::InvalidProposal => {
                for &i in &faulty {
                    s.byzantine[i] = Byzantine {
                        poison: true,
                        forge: true,
                        withhold: rng.gen_bool(0.5),
                        ..Byzantine::default()
                    };
                }
            }
            Scenario::PartitionHeals => {
                let start_ms = rng.gen_range(0..1_000);
                let len = rng.gen_range(1_000..5_000);
                let side: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.5)).collect();
                s.net.partitions.push(Partition {
                    start_ms,
                    end_ms: start_ms + len,
                    side,
                });
            }
            Scenario::LossyNetwork => {
                s.net.loss = rng.gen_range(0.05..0.25);
                s.net.jitter_ms = rng.gen_range(20..120);
            }
            Scenario::RestartMidRound => {
                // Crashes of at most f nodes at a time: back-to-back windows that do not overlap.
                let mut t = rng.gen_range(0..500);
                for _ in 0..rng.gen_range(2..5) {
                    let node = rng.gen_range(0..n);
                    let down = rng.gen_range(50..1_500);
                    s.crashes.push(Crash {
                        node,
                        at_ms: t,
                        restart_ms: Some(t + down),
                    });
                    t += down + rng.gen_range(1..800);
                }
            }
            Scenario::MembershipChange => {
                s.joiners = 1;
                s.join_from = rng.gen_range(1..3);
                s.target_height = 8;
            }
        }
        s
    }
}
