//! Shared by the loopback network tests: a service config on 127.0.0.1 and its listen address.
#![allow(clippy::unwrap_used, dead_code)]

use fedledger_node::p2p::{NetworkConfig, NetworkEvent};
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

/// Listen on a free loopback port, dial `bootstrap`, fast heartbeats.
pub fn config(bootstrap: Vec<libp2p::Multiaddr>) -> NetworkConfig {
    NetworkConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        topic: "fedledger-test".into(),
        heartbeat: Duration::from_millis(200),
        redial_every: Duration::from_secs(1),
    }
}

/// The first address the service reports listening on.
pub async fn next_listen(rx: &mut Receiver<NetworkEvent>) -> libp2p::Multiaddr {
    loop {
        if let Some(NetworkEvent::Listening(a)) = rx.recv().await {
            return a;
        }
    }
}
