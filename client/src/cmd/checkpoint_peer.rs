//! The `--peer` sources of `fedledger checkpoint` and `fedledger consistency`: a running
//! node's latest signed checkpoint over libp2p, and its consistency proofs over HTTP
//! (`GET /consistency` on its status address) or libp2p. Whatever a node answers is its word;
//! callers open notes with `open_checkpoint` and check proofs against signed roots.

use super::dial::{self, P2pPeer};
use anyhow::Context;
use fedledger_ledger::Digest;
use fedledger_node::daemon::{fetch_checkpoint, fetch_consistency};
use std::time::Duration;

/// Where a running node is asked: its status listener or its libp2p address.
#[derive(Debug, Clone)]
pub enum PeerSource {
    /// `HOST:PORT` of the status listener (HTTP).
    Http(String),
    /// A multiaddr ending in `/p2p/PEER_ID` (the fetch protocol).
    P2p(P2pPeer),
}

impl PeerSource {
    /// A multiaddr (it starts with `/`) is a libp2p address, anything else a status address.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        if s.starts_with('/') {
            Ok(PeerSource::P2p(dial::parse_p2p("peer", s)?))
        } else {
            Ok(PeerSource::Http(s.to_string()))
        }
    }
}

impl std::fmt::Display for PeerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerSource::Http(a) => write!(f, "{a}"),
            PeerSource::P2p(p) => write!(f, "{}", p.peer),
        }
    }
}

/// A node's consistency proof with the roots it claims (unchecked).
#[derive(Debug, serde::Deserialize)]
pub struct PeerProof {
    /// The node's root at the old size.
    pub old_root: Digest,
    /// The node's root at the new size.
    pub new_root: Digest,
    /// The proof hashes.
    pub proof: Vec<Digest>,
}

/// Ask `peer` for the consistency proof of its log from size `old` to size `new`.
pub fn consistency_proof(
    peer: &PeerSource,
    chain_id: &Digest,
    old: u64,
    new: u64,
    timeout: Duration,
) -> anyhow::Result<PeerProof> {
    match peer {
        PeerSource::Http(addr) => {
            let body = super::testnet::http_get(addr, &format!("/consistency?old={old}&new={new}"))
                .with_context(|| format!("asking {addr} for a consistency proof"))?;
            serde_json::from_str(&body).with_context(|| {
                format!("{addr} answered something that is not a consistency proof")
            })
        }
        PeerSource::P2p(to) => {
            let rt = dial::runtime()?;
            let a = rt.block_on(async {
                let net = dial::connect(to, chain_id, timeout).await?;
                let got = fetch_consistency(&net, to.peer, old, new, timeout).await;
                net.shutdown().await;
                got.map_err(|e| anyhow::anyhow!("{}: {e}", to.peer))
            })?;
            Ok(PeerProof {
                old_root: a.old_root,
                new_root: a.new_root,
                proof: a.proof,
            })
        }
    }
}

/// Ask the node at `to` for its latest signed checkpoint note over libp2p.
pub fn latest_checkpoint(
    to: &P2pPeer,
    chain_id: &Digest,
    timeout: Duration,
) -> anyhow::Result<String> {
    let rt = dial::runtime()?;
    let note = rt.block_on(async {
        let net = dial::connect(to, chain_id, timeout).await?;
        let got = fetch_checkpoint(&net, to.peer, timeout).await;
        net.shutdown().await;
        got.map_err(|e| anyhow::anyhow!("asking {} for its checkpoint: {e}", to.peer))
    })?;
    note.with_context(|| format!("{} has committed no block yet: no checkpoint", to.peer))
}
