//! The network event loop that owns the swarm, and the cloneable handle the node uses to drive it.

use super::backlog::ControlBacklog;
use super::behaviour::{Behaviour, BehaviourEvent};
use super::codec::{FetchRequest, FetchResponse};
use super::identity::{keypair_for, org_of_peer};
use super::limits::{
    InboundFetches, NetworkStats, COMMAND_QUEUE, EVENT_QUEUE, MAX_NEGOTIATING_STREAMS,
};
use fedledger_ledger::{OrgId, OrgKey};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, InboundRequestId, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

const TARGET: &str = "fedledger::p2p";

/// Network settings.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/7100`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and to redial when disconnected (`/ip4/../tcp/../p2p/PEER`).
    pub bootstrap: Vec<Multiaddr>,
    /// Gossip topic; one per chain (the chain id's hex).
    pub topic: String,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
    /// How often disconnected bootstrap peers are redialled.
    pub redial_every: Duration,
}

/// Network failures reported to callers.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The swarm could not be built or could not listen.
    #[error("network setup: {0}")]
    Setup(String),
    /// A publish was refused (e.g. no peers subscribed yet, or duplicate content).
    #[error("publish failed: {0}")]
    Publish(String),
    /// A fetch failed (timeout, unsupported protocol, connection closed, oversized response).
    #[error("fetch from {peer} failed: {reason}")]
    Fetch {
        /// The peer asked.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The event loop has stopped.
    #[error("the network service has stopped")]
    Stopped,
}

/// What the network tells the node.
///
/// Gossip and fetch requests are shed (gossip reported `Ignore`, fetches dropped, both counted in
/// [`NetworkStats`]) when the node's queue is full: the network task never waits for the node.
/// Connection and listen events are never dropped; they wait in a small backlog instead.
#[derive(Debug)]
pub enum NetworkEvent {
    /// A gossip message awaiting validation: the node must answer with
    /// [`NetworkHandle::report_validation`] (Accept, Reject or Ignore).
    Gossip {
        /// The peer that forwarded it to us.
        source: PeerId,
        /// The organization that forwarded it, if the peer is one.
        org: Option<OrgId>,
        /// Content-addressed id.
        id: MessageId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A peer asks for a blob or blocks; answer with [`NetworkHandle::respond`].
    Fetch {
        /// Who asks.
        peer: PeerId,
        /// What.
        request: FetchRequest,
        /// Where the answer goes.
        channel: ResponseChannel<FetchResponse>,
    },
    /// A connection to a peer opened.
    Connected(PeerId),
    /// The last connection to a peer closed.
    Disconnected(PeerId),
    /// We listen on this address.
    Listening(Multiaddr),
}

enum Command {
    Publish(Vec<u8>, oneshot::Sender<Result<(), NetworkError>>),
    Validate(MessageId, PeerId, MessageAcceptance),
    Fetch(
        PeerId,
        FetchRequest,
        oneshot::Sender<Result<FetchResponse, NetworkError>>,
    ),
    Respond(ResponseChannel<FetchResponse>, FetchResponse),
    Dial(Multiaddr),
    Peers(oneshot::Sender<Vec<PeerId>>),
    Shutdown,
}

/// Cloneable handle to the network event loop.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    tx: mpsc::Sender<Command>,
    local: PeerId,
    stats: Arc<NetworkStats>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Publish(..) => "Publish",
            Command::Validate(..) => "Validate",
            Command::Fetch(..) => "Fetch",
            Command::Respond(..) => "Respond",
            Command::Dial(..) => "Dial",
            Command::Peers(..) => "Peers",
            Command::Shutdown => "Shutdown",
        })
    }
}

impl NetworkHandle {
    /// Our PeerId.
    pub fn local_peer(&self) -> PeerId {
        self.local
    }

    /// What the network layer shed under load.
    pub fn stats(&self) -> &Arc<NetworkStats> {
        &self.stats
    }

    async fn send(&self, c: Command) -> Result<(), NetworkError> {
        self.tx.send(c).await.map_err(|_| NetworkError::Stopped)
    }

    /// Gossip `data` on the chain's topic.
    pub async fn publish(&self, data: Vec<u8>) -> Result<(), NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Publish(data, tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Tell gossipsub whether a received message is valid (forward), invalid (penalise the
    /// source) or to be ignored.
    pub async fn report_validation(
        &self,
        id: MessageId,
        source: PeerId,
        verdict: MessageAcceptance,
    ) -> Result<(), NetworkError> {
        self.send(Command::Validate(id, source, verdict)).await
    }

    /// Ask `peer` for a blob or blocks.
    pub async fn fetch(
        &self,
        peer: PeerId,
        request: FetchRequest,
    ) -> Result<FetchResponse, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Fetch(peer, request, tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Answer a fetch request.
    pub async fn respond(
        &self,
        channel: ResponseChannel<FetchResponse>,
        response: FetchResponse,
    ) -> Result<(), NetworkError> {
        self.send(Command::Respond(channel, response)).await
    }

    /// Dial an address.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        self.send(Command::Dial(addr)).await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerId>, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Peers(tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// Stop the event loop.
    pub async fn shutdown(&self) {
        let _ = self.send(Command::Shutdown).await;
    }
}

/// The event loop. Run it with [`NetworkService::run`] on its own task.
pub struct NetworkService {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetworkEvent>,
    /// Connection and listen events waiting for room in `events`.
    control: ControlBacklog,
    /// Fetch requests handed to the node and not answered yet.
    inbound: InboundFetches,
    stats: Arc<NetworkStats>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<FetchResponse, NetworkError>>>,
    bootstrap: Vec<Multiaddr>,
    redial_every: Duration,
    /// libp2p's own metrics (connections, gossipsub, identify), when a registry was given.
    metrics: Option<libp2p::metrics::Metrics>,
}

impl std::fmt::Debug for NetworkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetworkService({})", self.swarm.local_peer_id())
    }
}

impl NetworkService {
    /// Build the swarm for organization `key`, start listening, and dial the bootstrap peers.
    pub fn new(
        key: &OrgKey,
        config: NetworkConfig,
    ) -> Result<(NetworkService, NetworkHandle, mpsc::Receiver<NetworkEvent>), NetworkError> {
        let setup = |e: String| NetworkError::Setup(e);
        // Both become timer periods, and a zero period panics the service's task.
        if config.redial_every.is_zero() || config.heartbeat.is_zero() {
            return Err(setup(
                "the heartbeat and redial intervals must be positive".into(),
            ));
        }
        let heartbeat = config.heartbeat;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair_for(key))
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| setup(e.to_string()))?
            .with_behaviour(|k| {
                Behaviour::new(k, heartbeat)
                    .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
            })
            .map_err(|e| setup(e.to_string()))?
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(Duration::from_secs(3600))
                    .with_max_negotiating_inbound_streams(MAX_NEGOTIATING_STREAMS)
            })
            .build();
        let topic = IdentTopic::new(config.topic.clone());
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| setup(e.to_string()))?;
        // Score on the chain's topic: every message a peer forwards that we Reject costs it
        // (quadratically), so a few forgeries push it below the graylist threshold and out of
        // the mesh. Delivery-rate penalties are off: rounds are slow and messages few, so an
        // honest peer would look lazy.
        let topic_params = gossipsub::TopicScoreParams {
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            invalid_message_deliveries_weight: -10.0,
            invalid_message_deliveries_decay: 0.9,
            ..gossipsub::TopicScoreParams::default()
        };
        swarm
            .behaviour_mut()
            .gossipsub
            .set_topic_params(topic.clone(), topic_params)
            .map_err(|e| setup(e.to_string()))?;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| setup(format!("listen on {addr}: {e}")))?;
        }
        for addr in &config.bootstrap {
            if let Err(e) = swarm.dial(addr.clone()) {
                warn!(target: TARGET, %addr, error = %e, "could not dial bootstrap peer");
            }
        }
        let (ctx, crx) = mpsc::channel(COMMAND_QUEUE);
        let (etx, erx) = mpsc::channel(EVENT_QUEUE);
        let local = *swarm.local_peer_id();
        let stats = Arc::new(NetworkStats::default());
        let service = NetworkService {
            swarm,
            topic,
            commands: crx,
            events: etx,
            control: ControlBacklog::default(),
            inbound: InboundFetches::default(),
            stats: stats.clone(),
            pending: HashMap::new(),
            bootstrap: config.bootstrap,
            redial_every: config.redial_every,
            metrics: None,
        };
        let handle = NetworkHandle {
            tx: ctx,
            local,
            stats,
        };
        Ok((service, handle, erx))
    }

    /// Register libp2p's metrics (`libp2p_swarm_*`, `libp2p_gossipsub_*`, `libp2p_identify_*`)
    /// in `registry` and record swarm events into them from the event loop.
    pub fn with_metrics(mut self, registry: &mut prometheus_client::registry::Registry) -> Self {
        self.metrics = Some(libp2p::metrics::Metrics::new(registry));
        self
    }

    /// Run until shut down or until every handle is dropped. Never waits for the node: a full
    /// event queue sheds gossip and fetches, and holds connection events back in the backlog.
    pub async fn run(mut self) {
        let mut redial = tokio::time::interval(self.redial_every);
        loop {
            let backlog = !self.control.is_empty();
            // An owned permit: it must not borrow `self` into the branch handlers.
            let room = self.events.clone().reserve_owned();
            tokio::select! {
                event = self.swarm.select_next_some() => {
                    self.record(&event);
                    self.on_swarm_event(event)
                }
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(c) => self.on_command(c),
                },
                permit = room, if backlog => match permit {
                    Ok(permit) => {
                        if let Some(e) = self.control.pop() {
                            permit.send(e);
                        }
                    }
                    // The node stopped listening: nobody will read these.
                    Err(_) => self.control.clear(),
                },
                _ = redial.tick() => self.redial(),
            }
        }
        info!(target: TARGET, "network service stopped");
    }

    fn record(&self, event: &SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder;
        let Some(m) = &self.metrics else {
            return;
        };
        m.record(event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => m.record(e),
            _ => {}
        }
    }

    fn redial(&mut self) {
        for addr in &self.bootstrap {
            let peer = addr.iter().find_map(|p| match p {
                Protocol::P2p(id) => Some(id),
                _ => None,
            });
            let connected = peer.is_some_and(|p| self.swarm.is_connected(&p));
            if !connected && peer != Some(*self.swarm.local_peer_id()) {
                debug!(target: TARGET, %addr, "redialling bootstrap peer");
                let _ = self.swarm.dial(addr.clone());
            }
        }
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Publish(data, reply) => {
                let r = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(self.topic.clone(), data)
                    .map(|_| ())
                    .map_err(|e| NetworkError::Publish(e.to_string()));
                let _ = reply.send(r);
            }
            Command::Validate(id, source, verdict) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, verdict);
            }
            Command::Fetch(peer, request, reply) => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .fetch
                    .send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::Respond(channel, response) => {
                if self
                    .swarm
                    .behaviour_mut()
                    .fetch
                    .send_response(channel, response)
                    .is_err()
                {
                    debug!(target: TARGET, "fetch response dropped: the requester went away");
                }
            }
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    warn!(target: TARGET, %addr, error = %e, "dial failed");
                }
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Shutdown => {}
        }
    }

    /// Hand a connection or listen event to the node, after any held back before it.
    fn emit_control(&mut self, e: NetworkEvent) {
        self.control.push(e);
        while let Some(e) = self.control.pop() {
            match self.events.try_send(e) {
                Ok(()) => {}
                Err(TrySendError::Full(e)) => {
                    self.control.unpop(e);
                    break;
                }
                Err(TrySendError::Closed(_)) => {
                    self.control.clear();
                    break;
                }
            }
        }
    }

    /// Hand a gossip message to the node for validation, or, if its queue is full, tell
    /// gossipsub to ignore it now (so it leaves the validation cache and is not forwarded).
    fn emit_gossip(&mut self, source: PeerId, id: MessageId, data: Vec<u8>) {
        let org = org_of_peer(&source);
        let event = NetworkEvent::Gossip {
            source,
            org,
            id,
            data,
        };
        let (id, full) = match self.events.try_send(event) {
            Ok(()) => return,
            Err(TrySendError::Full(NetworkEvent::Gossip { id, .. })) => (id, true),
            Err(TrySendError::Closed(NetworkEvent::Gossip { id, .. })) => (id, false),
            Err(_) => return,
        };
        if full {
            self.stats.count_overload_gossip();
            debug!(target: TARGET, %source, reason = "overload-gossip", "gossip shed: the node is behind");
        }
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, MessageAcceptance::Ignore);
    }

    /// Hand a fetch request to the node, or drop it (the requester sees a failure) when the
    /// peer or everyone has too many requests in flight or the node's queue is full.
    fn emit_fetch(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        request: FetchRequest,
        channel: ResponseChannel<FetchResponse>,
    ) {
        if !self.inbound.admit(peer, request_id) {
            self.stats.count_overload_fetch();
            debug!(target: TARGET, %peer, reason = "overload-fetch", "fetch shed: too many in flight");
            return;
        }
        let event = NetworkEvent::Fetch {
            peer,
            request,
            channel,
        };
        // On failure the channel is dropped here; the behaviour then reports the request as
        // failed (response omission), which frees its slot.
        if let Err(TrySendError::Full(_)) = self.events.try_send(event) {
            self.stats.count_overload_fetch();
            debug!(target: TARGET, %peer, reason = "overload-fetch", "fetch shed: the node is behind");
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.emit_gossip(propagation_source, message_id, message.data),
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(request_response::Event::Message {
                peer,
                message,
                ..
            })) => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => self.emit_fetch(peer, request_id, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(
                request_response::Event::OutboundFailure {
                    peer,
                    request_id,
                    error,
                    ..
                },
            )) => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetworkError::Fetch {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(
                request_response::Event::InboundFailure {
                    peer,
                    request_id,
                    error,
                    ..
                },
            )) => {
                self.inbound.release(&request_id);
                debug!(target: TARGET, %peer, %error, "inbound fetch failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(
                request_response::Event::ResponseSent { request_id, .. },
            )) => self.inbound.release(&request_id),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(
                libp2p::identify::Event::Received { peer_id, info, .. },
            )) => {
                for addr in info.listen_addrs {
                    self.swarm.add_peer_address(peer_id, addr);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(target: TARGET, %address, "listening");
                self.emit_control(NetworkEvent::Listening(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => {
                self.emit_control(NetworkEvent::Connected(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.emit_control(NetworkEvent::Disconnected(peer_id));
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(target: TARGET, ?peer_id, %error, "outgoing connection failed");
            }
            _ => {}
        }
    }
}
