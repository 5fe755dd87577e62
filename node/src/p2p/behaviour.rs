//! The composed libp2p behaviour: connection limits, gossipsub (signed, strict,
//! content-addressed, scored), identify, and the fetch request-response protocol.

use super::codec::{FetchCodec, PROTOCOL};
use super::limits::{limits_config, MAX_FETCH_STREAMS_PER_CONNECTION};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{connection_limits, gossipsub, identify, identity::Keypair, request_response};
use std::time::Duration;

/// Largest gossip message: announcements, proposals and votes are small; proposals carry a block
/// body of signed entries, which stays well under this.
pub const MAX_GOSSIP_BYTES: usize = 1024 * 1024;

/// Everything the node speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Caps on pending and established connections (see [`super::limits`]). First, so it
    /// refuses a connection before the others set anything up for it.
    pub limits: connection_limits::Behaviour,
    /// Small signed consensus and announcement messages.
    pub gossipsub: gossipsub::Behaviour,
    /// Bulk bytes by hash.
    pub fetch: request_response::Behaviour<FetchCodec>,
    /// Peer addresses and protocols.
    pub identify: identify::Behaviour,
}

impl Behaviour {
    /// Build it for `key`.
    pub fn new(key: &Keypair, heartbeat: Duration) -> Result<Self, String> {
        // Content-addressed ids: a message republished by anyone is the same message.
        let message_id_fn = |m: &gossipsub::Message| {
            gossipsub::MessageId::from(fedledger_ledger::Digest::of(&m.data).to_hex())
        };
        let config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(heartbeat)
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .message_id_fn(message_id_fn)
            .max_transmit_size(MAX_GOSSIP_BYTES)
            .build()
            .map_err(|e| e.to_string())?;
        let mut gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
                .map_err(|e| e.to_string())?;
        // Members are known by key, and several may share an address (a testnet on one machine,
        // nodes behind one NAT): the IP-colocation penalty would graylist honest peers, so it is
        // off. Invalid messages (Reject) still cost a peer its score and its mesh slots.
        let params = gossipsub::PeerScoreParams {
            ip_colocation_factor_weight: 0.0,
            ..gossipsub::PeerScoreParams::default()
        };
        gossipsub
            .with_peer_score(params, gossipsub::PeerScoreThresholds::default())
            .map_err(|e| e.to_string())?;
        let fetch = request_response::Behaviour::new(
            [(PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(60))
                .with_max_concurrent_streams(MAX_FETCH_STREAMS_PER_CONNECTION),
        );
        let identify =
            identify::Behaviour::new(identify::Config::new("/fedledger/1".into(), key.public()));
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(limits_config()),
            gossipsub,
            fetch,
            identify,
        })
    }
}
