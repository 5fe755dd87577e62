//! The node daemon (`fedledger-node run`): the learning core, the consensus state machine and
//! the ledger wired to a libp2p network, with crash-safe persistence and a status endpoint.

pub mod config;
mod driver;
pub mod error;
pub mod learner;
mod membership;
mod network;
mod requests;
mod rounds;
pub mod state;
pub mod status;
pub mod wire;

pub use config::NodeConfig;
pub use driver::Node;
pub use error::DaemonError;
pub use network::fetch_blocks;
pub use status::{Shared, Status};

/// Start a node from `cfg` and run it until SIGINT/SIGTERM or a fatal error.
pub async fn run(cfg: NodeConfig) -> Result<(), DaemonError> {
    let shared = Shared::default();
    let (node, events, internal) = Node::start(cfg, shared).await?;
    node.run(events, internal).await
}
