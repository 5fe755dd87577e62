//! Dialling one node over libp2p as a non-member (a throwaway key, no membership needed), for
//! `fedledger fetch`, `fedledger checkpoint --peer` and `fedledger consistency --peer`.

use anyhow::{bail, Context};
use fedledger_ledger::{Digest, OrgKey};
use fedledger_node::p2p::{NetworkConfig, NetworkEvent, NetworkHandle, NetworkService};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use std::time::Duration;

/// A node's libp2p address and the peer id it must end with.
#[derive(Debug, Clone)]
pub struct P2pPeer {
    /// The whole address, dialled as given.
    pub addr: Multiaddr,
    /// Its `/p2p/PEER_ID` part: the connection must be to this identity.
    pub peer: PeerId,
}

/// Parse `--{flag} {s}` as a multiaddr that names the peer (`.../p2p/PEER_ID`).
pub fn parse_p2p(flag: &str, s: &str) -> anyhow::Result<P2pPeer> {
    let addr: Multiaddr = s
        .parse()
        .with_context(|| format!("--{flag} {s}: not a multiaddr"))?;
    let Some(peer) = addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    }) else {
        bail!("--{flag} {s}: needs /p2p/PEER_ID at the end (`fedledger keygen --json` and a node's /status show it)");
    };
    Ok(P2pPeer { addr, peer })
}

/// A runtime for one command's network work (the CLI is otherwise synchronous).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Connect to `to` on the chain's topic with a throwaway key, within `timeout`. The network
/// service and a task draining its events run on the current runtime until it stops.
pub async fn connect(
    to: &P2pPeer,
    chain_id: &Digest,
    timeout: Duration,
) -> anyhow::Result<NetworkHandle> {
    let me = OrgKey::generate("auditor");
    let (svc, net, mut events) = NetworkService::new(
        &me,
        NetworkConfig {
            listen: Vec::new(),
            bootstrap: vec![to.addr.clone()],
            topic: format!("fedledger/{}", chain_id.to_hex()),
            heartbeat: Duration::from_secs(1),
            redial_every: Duration::from_secs(2),
        },
    )?;
    tokio::spawn(svc.run());
    tokio::time::timeout(timeout, async {
        loop {
            match events.recv().await {
                Some(NetworkEvent::Connected(p)) if p == to.peer => return Ok(()),
                Some(_) => {}
                None => bail!("the network service stopped"),
            }
        }
    })
    .await
    .with_context(|| {
        format!(
            "could not connect to {} within {}s",
            to.addr,
            timeout.as_secs()
        )
    })??;
    // Keep the event queue drained while the caller asks its questions.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    Ok(net)
}
