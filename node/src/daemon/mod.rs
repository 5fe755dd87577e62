//! The node daemon (`fedledger-node run`): the learning core, the consensus state machine and
//! the ledger wired to a libp2p network, with crash-safe persistence and a status endpoint.

pub mod adversary;
pub mod blob_fetch;
pub mod config;
mod driver;
pub mod error;
mod external;
pub mod learner;
mod membership;
mod network;
mod requests;
mod rounds;
mod serve;
pub mod state;
pub mod status;
pub(crate) mod stored_deltas;
pub mod sync;
pub mod trainer;
pub mod wire;

pub use config::NodeConfig;
pub use driver::Node;
pub use error::DaemonError;
pub use network::{fetch_blocks, fetch_checkpoint, fetch_consistency};
pub use status::{AdminToken, Shared, Status, TOKEN_FILE};

/// Start a node from `cfg` and run it until SIGINT/SIGTERM or a fatal error.
pub async fn run(cfg: NodeConfig) -> Result<(), DaemonError> {
    let shared = Shared::default();
    let (node, events, internal) = Node::start(cfg, shared, None).await?;
    node.run(events, internal).await
}

/// Run a node that misbehaves as told: for `fedledger-adversary` (tests and demos) only.
pub async fn run_adversary(
    cfg: NodeConfig,
    behaviours: std::collections::BTreeSet<adversary::Misbehaviour>,
) -> Result<(), DaemonError> {
    let names: Vec<&str> = behaviours.iter().map(|m| m.name()).collect();
    tracing::warn!(target: "fedledger::node", adversary = %names.join(","), "THIS NODE IS A TEST ADVERSARY: it lies to the consortium on purpose");
    let shared = Shared::default();
    let adversary = adversary::Adversary::new(behaviours);
    let (node, events, internal) = Node::start(cfg, shared, Some(adversary)).await?;
    node.run(events, internal).await
}
