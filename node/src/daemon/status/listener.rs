//! The accept loop: a bounded number of connections, each closed when idle or too long-lived,
//! and a pause after a failed `accept` instead of a spin.
//!
//! At the cap, the oldest connection with no request in progress is closed to make room (an
//! idle keep-alive or a connection that never sent a complete request head): so a flood of idle
//! connections cannot lock out the operator's `fedledger status`, while the cap still bounds the
//! descriptors and memory the listener holds. Only when every connection is busy is a new one
//! closed at once.

use super::http::PeerAddr;
use super::TARGET;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use tracing::{debug, warn};

/// Bounds of the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections held open at once.
    pub max_connections: usize,
    /// A request head (line and headers) must arrive within this, also on an idle keep-alive
    /// connection waiting for its next request.
    pub header_read_timeout: Duration,
    /// A connection is closed this long after it was accepted, whatever it is doing.
    pub connection_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Far more than operators and a scraper need, far fewer than the node's descriptors.
            max_connections: 256,
            header_read_timeout: Duration::from_secs(5),
            connection_deadline: Duration::from_secs(30),
        }
    }
}

/// Pause after a failed `accept` (EMFILE, ENFILE, ENOBUFS...): retrying at once would spin a
/// core without freeing anything. Doubles from 10 ms to 1 s; reset by a successful accept.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// First pause.
    pub const MIN: Duration = Duration::from_millis(10);
    /// Longest pause.
    pub const MAX: Duration = Duration::from_secs(1);

    /// The pause to take now; the next one is twice as long (up to [`Self::MAX`]).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }

    /// Back to [`Self::MIN`].
    pub fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::MIN }
    }
}

/// Something connections come from (a [`TcpListener`]; a stand-in in tests).
pub trait Acceptor: Send + 'static {
    /// The connection type.
    type Conn: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection and its peer address.
    fn next_conn(&mut self) -> impl Future<Output = io::Result<(Self::Conn, SocketAddr)>> + Send;
}

impl Acceptor for TcpListener {
    type Conn = TcpStream;
    fn next_conn(&mut self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        self.accept()
    }
}

/// One open connection, as the loop sees it. It holds the connection's permit, so closing a
/// connection to make room frees its permit at once, without waiting for its task to wind down
/// (on a busy node that wait is a scheduling round trip per accepted connection).
#[derive(Debug)]
struct Slot {
    abort: AbortHandle,
    in_flight: Arc<AtomicUsize>,
    _permit: OwnedSemaphorePermit,
}

/// Open connections by accept order (oldest first).
type Slots = Arc<Mutex<BTreeMap<u64, Slot>>>;

/// The table, even after a panic elsewhere poisoned its lock: every update to it is a single
/// insert or remove, so it is never left half-changed, and the listener must keep serving.
fn table(slots: &Slots) -> std::sync::MutexGuard<'_, BTreeMap<u64, Slot>> {
    slots.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes a connection from [`Slots`] when its task ends, however it ends.
struct Leave(Slots, u64);
impl Drop for Leave {
    fn drop(&mut self) {
        table(&self.0).remove(&self.1);
    }
}

/// Counts a request in progress on its connection while alive.
struct InFlight(Arc<AtomicUsize>);
impl InFlight {
    fn enter(c: &Arc<AtomicUsize>) -> Self {
        c.fetch_add(1, Ordering::SeqCst);
        InFlight(c.clone())
    }
}
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Close the oldest connection with no request in progress. False if every one is busy.
fn evict_one(slots: &Slots) -> bool {
    let mut s = table(slots);
    let victim = s
        .iter()
        .find(|(_, slot)| slot.in_flight.load(Ordering::SeqCst) == 0)
        .map(|(id, _)| *id);
    match victim.and_then(|id| s.remove(&id)) {
        Some(slot) => {
            // The permit goes with the slot now; the socket closes when the aborted task is
            // dropped, a moment later.
            slot.abort.abort();
            true
        }
        None => false,
    }
}

/// Bind `addr` for an HTTP listener named `what` (in errors); returns it and its address.
pub async fn bind(
    addr: SocketAddr,
    what: &str,
) -> Result<(TcpListener, SocketAddr), crate::daemon::DaemonError> {
    let io =
        |what: String| move |source: io::Error| crate::daemon::DaemonError::Io { what, source };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(io(format!("{what} on {addr}")))?;
    let local = listener
        .local_addr()
        .map_err(io(format!("{what} address")))?;
    Ok((listener, local))
}

/// Serve `app` on connections from `acceptor` until the task running this is dropped.
pub async fn accept_loop<A: Acceptor>(mut acceptor: A, app: Router, limits: Limits) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let slots: Slots = Arc::default();
    let mut backoff = Backoff::default();
    let mut next_id = 0u64;
    loop {
        let (conn, peer) = match acceptor.next_conn().await {
            Ok(c) => {
                backoff.reset();
                c
            }
            Err(e) => {
                let pause = backoff.next_delay();
                warn!(target: TARGET, error = %e, pause_ms = pause.as_millis() as u64, "accept failed; pausing");
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        // Evicting drops the victim's permit with its slot, so the second try succeeds.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) if evict_one(&slots) => permits.clone().try_acquire_owned().ok(),
            Err(_) => None,
        };
        let Some(permit) = permit else {
            debug!(target: TARGET, %peer, "connection refused: every connection is busy");
            drop(conn);
            continue;
        };
        let id = next_id;
        next_id += 1;
        let in_flight = Arc::new(AtomicUsize::new(0));
        let app = app.clone();
        let task_in_flight = in_flight.clone();
        let task_slots = slots.clone();
        // Hold the table while spawning, so the task cannot leave it before it is entered.
        let mut open = table(&slots);
        let task = tokio::spawn(async move {
            // Leaving the table drops the slot and with it the permit.
            let _leave = Leave(task_slots, id);
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                let guard = InFlight::enter(&task_in_flight);
                let mut app = app.clone();
                async move {
                    let _guard = guard;
                    tower_service::Service::call(&mut app, req).await
                }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(64 * 1024);
            let serving = http.serve_connection(TokioIo::new(conn), service);
            match tokio::time::timeout(limits.connection_deadline, serving).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(target: TARGET, %peer, error = %e, "connection ended"),
                Err(_) => debug!(target: TARGET, %peer, "connection closed at its deadline"),
            }
        });
        open.insert(
            id,
            Slot {
                abort: task.abort_handle(),
                in_flight,
                _permit: permit,
            },
        );
    }
}
