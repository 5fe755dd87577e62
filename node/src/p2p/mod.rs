//! libp2p networking: gossip of small signed messages, request-response for bulk bytes, and the
//! mapping from peers to organizations.
//!
//! An event loop ([`NetworkService`]) owns the swarm; the rest of the node talks to it through a
//! cloneable [`NetworkHandle`] and receives [`NetworkEvent`]s. Gossip carries only digests and
//! small signed messages; update blobs and blocks are fetched by hash over request-response with
//! explicit size limits.

mod backlog;
mod behaviour;
mod codec;
mod identity;
mod limits;
mod service;

pub use behaviour::MAX_GOSSIP_BYTES;
pub use codec::{
    BlobManifest, ConsistencyAnswer, FetchCodec, FetchRequest, FetchResponse, CHUNK_BYTES,
    MAX_BLOCKS_PER_RESPONSE, MAX_CHUNKS, MAX_REASON_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES,
};
pub use identity::{keypair_for, org_of_peer, peer_of_org};
pub use limits::{
    NetworkStats, EVENT_QUEUE, MAX_CONNECTIONS_PER_PEER, MAX_ESTABLISHED, MAX_ESTABLISHED_INCOMING,
    MAX_FETCH_STREAMS_PER_CONNECTION, MAX_INBOUND_FETCHES, MAX_INBOUND_FETCHES_PER_PEER,
    MAX_NEGOTIATING_STREAMS, MAX_PENDING_INCOMING, MAX_PENDING_OUTGOING,
};
pub use service::{NetworkConfig, NetworkError, NetworkEvent, NetworkHandle, NetworkService};
