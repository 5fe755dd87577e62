//! The routes: `GET /status`, `GET /metrics`, `GET /checkpoint`, `GET /consistency`,
//! `GET /blocks` (open),
//! `POST /admit?org=ID` and `POST /leave`
//! (behind [`super::guard`]).

use super::guard::{self, AdminSettings};
use super::metrics;
use super::shared::Shared;
use super::types::AdminCommand;
use super::TARGET;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::{debug, info, warn};

/// The caller's address, put into each request's extensions by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Status and counters, and the admin queue.
    pub shared: Shared,
    /// The metrics registry (the node's own plus libp2p's).
    pub registry: Arc<Registry>,
    /// Token and remote-admin setting.
    pub admin: Arc<AdminSettings>,
    /// The listener's own address (its origin).
    pub local: SocketAddr,
}

/// The router.
pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/admit", post(admit))
        .route("/leave", post(leave))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics_text))
        .route("/checkpoint", get(checkpoint))
        .route("/consistency", get(consistency))
        .route("/blocks", get(blocks))
        .merge(admin)
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "GET /status, GET /metrics, GET /checkpoint, GET /consistency?old=N&new=M, GET /blocks?from=H&max=N, POST /admit?org=ID, POST /leave\n",
            )
        })
        .with_state(state)
}

async fn status(State(st): State<AppState>) -> Response {
    // Pretty, as always: operators read it with curl.
    match serde_json::to_string_pretty(&st.shared.snapshot().0) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn metrics_text(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::encode(&st.registry),
    )
        .into_response()
}

/// The latest checkpoint this node signed (a C2SP signed note), 404 before the first block.
async fn checkpoint(State(st): State<AppState>) -> Response {
    match st.shared.transparency.checkpoint() {
        Some(note) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response(),
        None => (StatusCode::NOT_FOUND, "no block committed yet\n").into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct ConsistencyQuery {
    old: u64,
    new: u64,
}

/// The RFC 6962 consistency proof between two sizes of this node's log, with both roots.
async fn consistency(State(st): State<AppState>, Query(q): Query<ConsistencyQuery>) -> Response {
    match st.shared.transparency.consistency(q.old, q.new) {
        Ok(p) => match serde_json::to_string_pretty(&p) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        },
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct BlocksQuery {
    from: u64,
    #[serde(default = "default_max")]
    max: u64,
}

fn default_max() -> u64 {
    super::transparency::MAX_BLOCKS_PER_REQUEST
}

/// Committed blocks from `from` on, each as a 4-byte big-endian length and the block's
/// canonical bytes (`application/octet-stream`); empty past the tip. Monitors verify them.
async fn blocks(State(st): State<AppState>, Query(q): Query<BlocksQuery>) -> Response {
    let t = st.shared.transparency.clone();
    match tokio::task::spawn_blocking(move || t.blocks(q.from, q.max)).await {
        Ok(Ok(blocks)) => {
            let mut body = Vec::with_capacity(blocks.iter().map(|b| b.len() + 4).sum());
            for b in &blocks {
                // A block is at most MAX_ENCODED_LEN (64 MiB) bytes: its length fits.
                body.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
                body.extend_from_slice(b);
            }
            ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
        }
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Refuse the request unless [`guard::check`] passes; nothing behind it runs otherwise.
async fn require_admin(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
    match guard::check(&st.admin, st.local, peer, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(r) => {
            let path = req.uri().path();
            if peer.is_some_and(|p| p.ip().to_canonical().is_loopback()) {
                warn!(target: TARGET, ?peer, path, status = r.status.as_u16(), reason = r.reason, "admin request refused");
            } else {
                // Remote callers could fill the log; they get the reason, the log a debug line.
                debug!(target: TARGET, ?peer, path, status = r.status.as_u16(), reason = r.reason, "admin request refused");
            }
            let mut resp = (r.status, format!("{}\n", r.reason)).into_response();
            if r.status == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            resp
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct AdmitQuery {
    org: String,
}

async fn admit(State(st): State<AppState>, Query(q): Query<AdmitQuery>) -> Response {
    let org = match q.org.parse::<fedledger_ledger::OrgId>() {
        Ok(o) => o,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad org id: {e}\n")).into_response(),
    };
    queue(
        &st.shared,
        AdminCommand::Admit(org),
        format!("approval of {} queued\n", org.short()),
    )
}

async fn leave(State(st): State<AppState>) -> Response {
    queue(
        &st.shared,
        AdminCommand::Leave,
        "leave request queued\n".into(),
    )
}

fn queue(shared: &Shared, c: AdminCommand, ok: String) -> Response {
    let what = format!("{c:?}");
    if shared.push_admin(c) {
        info!(target: TARGET, command = %what, "admin command queued");
        (StatusCode::ACCEPTED, ok).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many admin commands waiting for the node; retry shortly\n",
        )
            .into_response()
    }
}
