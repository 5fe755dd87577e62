//! The node's HTTP listener: live status (`GET /status`, JSON), metrics (`GET /metrics`,
//! OpenMetrics text) and the operator's admin calls (`POST /admit?org=ID`, `POST /leave`, which
//! need the admin token). Loopback by default.
//!
//! One file per concern: [`types`] (what `/status` says), [`shared`] (the state the node loop
//! writes), [`metrics`] (the registry), [`token`] and [`guard`] (who may call the admin
//! endpoints), [`http`] (the routes), [`listener`] (connections, limits and timeouts).

pub mod guard;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod shared;
pub mod token;
pub mod transparency;
pub mod types;

pub use guard::AdminSettings;
pub use listener::Limits;
pub use shared::{Counters, Shared};
pub use token::{AdminToken, TOKEN_FILE};
pub use types::{
    AdminCommand, BudgetStatus, MemberBudget, PendingRequestStatus, RoundMetricsStatus, Status,
    TrainerStatus,
};

use super::error::DaemonError;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::info;

const TARGET: &str = "fedledger::status";

/// Serve on `addr` until the runtime stops, with the default [`Limits`]. Returns the bound
/// address.
pub async fn serve(
    addr: SocketAddr,
    shared: Shared,
    registry: Arc<Registry>,
    admin: AdminSettings,
) -> Result<SocketAddr, DaemonError> {
    serve_with_limits(addr, shared, registry, admin, Limits::default()).await
}

/// [`serve`] with explicit limits (tests use small ones).
pub async fn serve_with_limits(
    addr: SocketAddr,
    shared: Shared,
    registry: Arc<Registry>,
    admin: AdminSettings,
    limits: Limits,
) -> Result<SocketAddr, DaemonError> {
    let (listener, local) = listener::bind(addr, "status listener").await?;
    let app = http::router(http::AppState {
        shared,
        registry,
        admin: Arc::new(admin),
        local,
    });
    info!(target: TARGET, %local, max_connections = limits.max_connections, "status listener up");
    tokio::spawn(listener::accept_loop(listener, app, limits));
    Ok(local)
}

#[cfg(test)]
mod tests;
