//! The monitor's listener: `GET /checkpoint` (the latest checkpoint it verified, with its
//! cosignature, so other monitors can compare views) and `GET /metrics` (OpenMetrics), on the
//! node's bounded accept loop.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fedledger_node::daemon::status::{listener, metrics, Limits};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// The monitor's counters.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Alarms raised.
    pub alarms: Counter,
    /// Polls of a peer.
    pub polls: Counter,
    /// Polls that failed (unreachable peer, junk answer).
    pub peer_errors: Counter,
    /// Height verified.
    pub verified_height: Gauge,
}

impl Metrics {
    fn registry(&self) -> Registry {
        let mut r = Registry::default();
        r.register(
            "fedledger_monitor_alarms",
            "Split views, rewrites, invalid blocks and false checkpoints caught",
            self.alarms.clone(),
        );
        r.register(
            "fedledger_monitor_polls",
            "Polls of a peer",
            self.polls.clone(),
        );
        r.register(
            "fedledger_monitor_peer_errors",
            "Polls that failed: unreachable peer or an answer that did not verify",
            self.peer_errors.clone(),
        );
        r.register(
            "fedledger_monitor_verified_height",
            "Blocks verified",
            self.verified_height.clone(),
        );
        r
    }
}

/// The checkpoint the monitor serves.
pub type Served = Arc<RwLock<Option<String>>>;

#[derive(Clone)]
struct AppState {
    served: Served,
    registry: Arc<Registry>,
}

/// Serve on `addr`; returns the bound address.
pub async fn serve(addr: SocketAddr, served: Served, m: Metrics) -> anyhow::Result<SocketAddr> {
    let (l, local) = listener::bind(addr, "monitor listener").await?;
    let app = Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { (StatusCode::NOT_FOUND, "GET /checkpoint, GET /metrics\n") })
        .with_state(AppState {
            served,
            registry: Arc::new(m.registry()),
        });
    tokio::spawn(listener::accept_loop(l, app, Limits::default()));
    Ok(local)
}

async fn checkpoint(State(st): State<AppState>) -> Response {
    match st.served.read().ok().and_then(|s| s.clone()) {
        Some(note) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response(),
        None => (StatusCode::NOT_FOUND, "nothing verified yet\n").into_response(),
    }
}

async fn metrics_text(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::encode(&st.registry),
    )
        .into_response()
}
