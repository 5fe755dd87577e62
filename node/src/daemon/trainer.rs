//! The trainer API (`[training] mode = "external"`): a trainer process on this machine fetches the
//! open round's global model and submits this member's update. The node checks it, accounts its
//! privacy with its own accountant, records the spend durably and releases it, exactly as an
//! update of its own trainer. Specified in `docs/trainer-api.md`.
//!
//! Routes (all need `Authorization: Bearer <token>`, the token in `<data_dir>/trainer.token`):
//! `GET /v1/round`, `GET /v1/layout`, `GET /v1/model`, `GET /v1/plan?examples=N`,
//! `POST /v1/update`. The model and the update travel as JSON or, for models of any size, as raw
//! little-endian f32 (`application/octet-stream`, the rest of the submission in a header).

use super::status::http::PeerAddr;
use super::status::{AdminToken, Limits};
use super::DaemonError;
use crate::learn::model::TensorSlot;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fedledger_ledger::block::{DpSpend, LocalMetrics};
use fedledger_ledger::genesis::DpPolicy;
use fedledger_ledger::Digest;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

const TARGET: &str = "fedledger::trainer";

/// The token file in the data dir (0600, rewritten at every start).
pub const TOKEN_FILE: &str = "trainer.token";
/// Smallest request-body limit: a JSON update of a few million parameters. A binary update may
/// be as large as the model (4 bytes a parameter) plus [`BODY_SLACK`].
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Room above the model's bytes for a request's framing.
const BODY_SLACK: usize = 1024 * 1024;
/// The header that carries a binary submission's fields other than the update (JSON).
pub const SUBMISSION_HEADER: &str = "x-fedledger-submission";
/// Headers of a binary model: its round and hash.
pub const ROUND_HEADER: &str = "x-fedledger-round";
/// See [`ROUND_HEADER`].
pub const BASE_MODEL_HEADER: &str = "x-fedledger-base-model";
/// Longest [`SUBMISSION_HEADER`] value taken.
const MAX_SUBMISSION_HEADER: usize = 64 * 1024;
const OCTET_STREAM: &str = "application/octet-stream";
/// How long a submission may wait for the node loop's verdict.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(30);

/// What `GET /v1/round` says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoundOffer {
    /// Whether the node takes an update now.
    pub open: bool,
    /// The round (block height) an update is for.
    pub round: u64,
    /// Hash of the global model to train from (hex).
    pub base_model: String,
    /// Number of model parameters (f32).
    pub params: usize,
    /// This member's epsilon so far (at `delta`) and its cap.
    pub epsilon_spent: f64,
    /// The member's cap.
    pub epsilon_max: f64,
    /// The delta epsilons are measured at.
    pub delta: f64,
    /// Why the round is not open (when it is not).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// A round on offer and the global model it starts from.
type Offered = (RoundOffer, Arc<Vec<f32>>);

/// The open round and its global model, written by the node loop, read by the API.
#[derive(Debug, Clone, Default)]
pub struct TrainerSlot(Arc<Mutex<Option<Offered>>>);

impl TrainerSlot {
    /// Offer `round` from `params`.
    pub fn open(&self, offer: RoundOffer, params: Arc<Vec<f32>>) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((offer, params));
        }
    }

    /// Close the round, saying why.
    pub fn close(&self, reason: &str) {
        if let Ok(mut g) = self.0.lock() {
            if let Some((o, _)) = g.as_mut() {
                o.open = false;
                o.reason = reason.into();
            }
        }
    }

    /// The round currently offered (open or not).
    pub fn offered_round(&self) -> Option<(u64, bool)> {
        self.0
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|(o, _)| (o.round, o.open)))
    }

    fn get(&self) -> Option<Offered> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

/// What a trainer submits (`POST /v1/update`, JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The round it is for.
    pub round: u64,
    /// Hash of the global model it was trained from (hex, from `/v1/round`).
    pub base_model: String,
    /// The update: local model minus global model, one f32 per parameter.
    pub delta: Vec<f32>,
    /// The DP-SGD parameters it used: sampling rate, noise multiplier, steps.
    pub dp: DpSpend,
    /// Local training examples.
    pub num_examples: u64,
    /// The global model's evaluation on the trainer's held-out data.
    pub metrics: LocalMetrics,
}

/// A binary submission's fields other than the update, as JSON in [`SUBMISSION_HEADER`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionMeta {
    /// The round it is for.
    pub round: u64,
    /// Hash of the global model it was trained from (hex).
    pub base_model: String,
    /// The DP-SGD parameters it used.
    pub dp: DpSpend,
    /// Local training examples.
    pub num_examples: u64,
    /// The global model's evaluation on the trainer's held-out data.
    pub metrics: LocalMetrics,
}

impl SubmissionMeta {
    fn with_delta(self, delta: Vec<f32>) -> Submission {
        Submission {
            round: self.round,
            base_model: self.base_model,
            delta,
            dp: self.dp,
            num_examples: self.num_examples,
            metrics: self.metrics,
        }
    }
}

/// `GET /v1/layout`: the model's named tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayoutBody {
    /// Number of parameters (f32) in all.
    pub params: u64,
    /// Tensors in flat-vector order.
    pub tensors: Vec<TensorSlot>,
}

/// The node's answer to an accepted submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    /// SHA-256 of the update bytes (hex), as announced to the peers.
    pub update_hash: String,
    /// This member's epsilon after the spend.
    pub epsilon_after: f64,
}

/// Why a submission was refused: an HTTP status and a sentence.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// 400 (malformed or out of range), 409 (wrong round or model, or over the budget).
    pub status: StatusCode,
    /// What is wrong.
    pub reason: String,
}

impl Rejection {
    /// A 400.
    pub fn bad(reason: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }
    /// A 409.
    pub fn conflict(reason: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::CONFLICT,
            reason: reason.into(),
        }
    }
}

/// A submission on its way to the node loop, with the channel for its verdict.
#[derive(Debug)]
pub struct Submitted {
    /// The update.
    pub submission: Submission,
    /// Where the verdict goes.
    pub reply: oneshot::Sender<Result<Accepted, Rejection>>,
}

#[derive(Clone)]
struct AppState {
    token: Arc<AdminToken>,
    slot: TrainerSlot,
    submit: mpsc::UnboundedSender<Submitted>,
    dp: Arc<DpPolicy>,
    layout: Arc<LayoutBody>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppState")
    }
}

/// Write a fresh token to `<data_dir>/trainer.token` and serve the API on `addr`; submissions go
/// to `submit`. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    data_dir: &std::path::Path,
    slot: TrainerSlot,
    submit: mpsc::UnboundedSender<Submitted>,
    dp: DpPolicy,
    layout: Vec<TensorSlot>,
) -> Result<SocketAddr, DaemonError> {
    let token = AdminToken::generate();
    token.write(&data_dir.join(TOKEN_FILE))?;
    let (listener, local) = super::status::listener::bind(addr, "trainer API").await?;
    let state = AppState {
        token: Arc::new(token),
        slot,
        submit,
        dp: Arc::new(dp),
        layout: Arc::new(LayoutBody {
            params: layout.iter().map(|t| t.shape.iter().product::<u64>()).sum(),
            tensors: layout,
        }),
    };
    let app = router(state);
    let limits = Limits {
        max_connections: 16,
        // A large update takes a while to upload.
        connection_deadline: Duration::from_secs(300),
        ..Limits::default()
    };
    info!(target: TARGET, %local, "trainer API up");
    tokio::spawn(super::status::listener::accept_loop(listener, app, limits));
    Ok(local)
}

fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.layout.params)
        .unwrap_or(usize::MAX)
        .saturating_mul(4)
        .saturating_add(BODY_SLACK)
        .max(MAX_BODY);
    Router::new()
        .route("/v1/round", get(round))
        .route("/v1/layout", get(layout))
        .route("/v1/model", get(model))
        .route("/v1/plan", get(plan))
        .route("/v1/update", post(update))
        .layer(DefaultBodyLimit::max(body_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "GET /v1/round, GET /v1/layout, GET /v1/model, GET /v1/plan?examples=N, POST /v1/update\n",
            )
        })
        .with_state(state)
}

async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let loopback = req
        .extensions()
        .get::<PeerAddr>()
        .is_some_and(|p| p.0.ip().to_canonical().is_loopback());
    if !loopback {
        return (
            StatusCode::FORBIDDEN,
            "the trainer API serves loopback callers only\n",
        )
            .into_response();
    }
    match presented {
        Some(t) if st.token.matches(t) => next.run(req).await,
        _ => {
            warn!(target: TARGET, path = req.uri().path(), "trainer request without the right token refused");
            let mut r = (
                StatusCode::UNAUTHORIZED,
                format!("needs Authorization: Bearer <the token in {TOKEN_FILE}>\n"),
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
    }
}

fn not_open() -> RoundOffer {
    RoundOffer {
        open: false,
        round: 0,
        base_model: Digest::ZERO.to_hex(),
        params: 0,
        epsilon_spent: 0.0,
        epsilon_max: 0.0,
        delta: 0.0,
        reason: "the node has not offered a round yet".into(),
    }
}

async fn round(State(st): State<AppState>) -> Json<RoundOffer> {
    Json(st.slot.get().map_or_else(not_open, |(o, _)| o))
}

#[derive(Serialize)]
struct ModelBody<'a> {
    round: u64,
    base_model: &'a str,
    params: &'a [f32],
}

async fn layout(State(st): State<AppState>) -> Json<LayoutBody> {
    Json((*st.layout).clone())
}

fn wants_binary(headers: &axum::http::HeaderMap, name: header::HeaderName) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(OCTET_STREAM))
}

async fn model(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    match st.slot.get() {
        Some((o, params)) if o.open && wants_binary(&headers, header::ACCEPT) => {
            // Streamed a megabyte at a time: a model of hundreds of megabytes is never encoded
            // whole, once per download.
            const VALUES_PER_PART: usize = 1 << 18;
            let len = params.len();
            let parts = futures::stream::iter((0..len).step_by(VALUES_PER_PART).map(move |i| {
                let part = &params[i..len.min(i + VALUES_PER_PART)];
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(
                    crate::learn::model::encode_update(part),
                ))
            }));
            let mut r = axum::body::Body::from_stream(parts).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len * 4));
            h.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(OCTET_STREAM),
            );
            if let Ok(v) = header::HeaderValue::from_str(&o.round.to_string()) {
                h.insert(ROUND_HEADER, v);
            }
            if let Ok(v) = header::HeaderValue::from_str(&o.base_model) {
                h.insert(BASE_MODEL_HEADER, v);
            }
            r
        }
        Some((o, params)) if o.open => Json(ModelBody {
            round: o.round,
            base_model: &o.base_model,
            params: &params,
        })
        .into_response(),
        Some((o, _)) => (StatusCode::CONFLICT, format!("{}\n", o.reason)).into_response(),
        None => (StatusCode::CONFLICT, format!("{}\n", not_open().reason)).into_response(),
    }
}

#[derive(Deserialize)]
struct PlanQuery {
    examples: u64,
}

/// The DP-SGD settings the genesis plan gives a member with this many examples: what a trainer
/// must use for its spends to be valid under a genesis `[dp.plan]`.
async fn plan(State(st): State<AppState>, Query(q): Query<PlanQuery>) -> Response {
    let Some(target) = st.dp.plan_target() else {
        return (
            StatusCode::NOT_FOUND,
            "this consortium's genesis has no [dp.plan]; any settings within the budget are accepted\n",
        )
            .into_response();
    };
    match fedledger_ledger::privacy::plan(&target, q.examples) {
        Ok(p) => Json(p).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

/// A binary submission: the fields from [`SUBMISSION_HEADER`], the update from the body.
fn binary_submission(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Submission, String> {
    let meta = headers
        .get(SUBMISSION_HEADER)
        .ok_or_else(|| format!("a binary update needs the {SUBMISSION_HEADER} header"))?;
    if meta.len() > MAX_SUBMISSION_HEADER {
        return Err(format!(
            "the {SUBMISSION_HEADER} header is over {MAX_SUBMISSION_HEADER} bytes"
        ));
    }
    let meta: SubmissionMeta = serde_json::from_slice(meta.as_bytes())
        .map_err(|e| format!("the {SUBMISSION_HEADER} header: {e}"))?;
    if body.len() % 4 != 0 {
        return Err(format!(
            "an update of {} bytes is not a whole number of f32 values",
            body.len()
        ));
    }
    // Finiteness and the layout are checked with every other submission (check_submission).
    let delta = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(meta.with_delta(delta))
}

async fn update(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Parsed here rather than by the Json extractor, so a bad body gets our own message.
    let parsed = if wants_binary(&headers, header::CONTENT_TYPE) {
        binary_submission(&headers, &body)
    } else {
        serde_json::from_slice::<Submission>(&body)
            .map_err(|e| format!("{e} (non-finite numbers are not JSON)"))
    };
    drop(body);
    let submission = match parsed {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not a valid submission: {e}\n"),
            )
                .into_response()
        }
    };
    let (reply, verdict) = oneshot::channel();
    if st.submit.send(Submitted { submission, reply }).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the node is stopping\n").into_response();
    }
    match tokio::time::timeout(VERDICT_TIMEOUT, verdict).await {
        Ok(Ok(Ok(a))) => Json(a).into_response(),
        Ok(Ok(Err(r))) => (r.status, format!("{}\n", r.reason)).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not answer in time; retry\n",
        )
            .into_response(),
    }
}
