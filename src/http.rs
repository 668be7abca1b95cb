//! The web layer: `router(state)` assembles each area's own router. Only this module and
//! `channels` know axum; they translate HTTP to `Engine::ask` and back.

mod chat;
mod clients;
pub mod console;
mod coverage;
mod error;
mod extract;
mod feedback;
mod handoffs;
mod headers;
mod health;
mod metrics;
pub mod oidc;
mod openapi;
mod reload;
mod retention;
mod serve;
mod widget;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::http::{HeaderValue, Method, header};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::engine::{AskContext, Asked, Engine};
use crate::privacy::Redacted;
use crate::store::{Store, StoreError};

pub use chat::ChatResponse;
pub use error::{ApiError, ErrorBody};
pub use openapi::ApiDoc;
pub use reload::{KbProblem, KbState, refresh as refresh_kb, spawn_kb_watch};
pub use retention::{purge_expired, spawn_retention};
pub use serve::{ServeOptions, serve};

/// Largest request body accepted (a question is at most 1,000 characters).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler shares. Nothing here is per-conversation: a second replica built
/// from the same corpus and store answers the same.
#[derive(Clone)]
pub struct AppState {
    /// The engine of the current corpus; replaced when an admin changes a service's
    /// contacts (questions under way finish on the engine they started with).
    engine: Arc<std::sync::RwLock<Option<Arc<Engine>>>>,
    permits: Arc<Semaphore>,
    pub config: Arc<Config>,
    /// Conversations, tickets, feedback, processed ids: the only shared state.
    pub store: Arc<dyn Store>,
    /// Outbound HTTP (platforms' send APIs, hand-off notifications).
    pub client: reqwest::Client,
    /// Work that outlives its request (answering acknowledged messages), waited for at
    /// shutdown so that a stop does not interrupt a reply half sent.
    pub background: tokio_util::task::TaskTracker,
    /// The city's identity provider, discovered at the first staff sign-in through it.
    pub sso: Arc<tokio::sync::OnceCell<oidc::Oidc>>,
    /// Bumped when this process opens or changes a ticket: wakes the console's live
    /// inboxes at once (they also poll the store, for changes made by other replicas).
    tickets: Arc<tokio::sync::watch::Sender<u64>>,
    /// Cancelled when the server stops: long-lived responses (the live inbox's event
    /// streams) end, so that a graceful shutdown does not wait for them.
    pub stopping: tokio_util::sync::CancellationToken,
    /// The knowledge base this replica serves (see [`spawn_kb_watch`]).
    pub kb: Arc<KbState>,
}

impl AppState {
    /// A state whose engine is set later (the server listens while the model loads).
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_inflight));
        // Installed before anything is counted: counts made before it would be lost.
        crate::telemetry::handle();
        Self {
            engine: Arc::new(std::sync::RwLock::new(None)),
            permits,
            config: Arc::new(config),
            store,
            client: crate::channels::outbound::client(),
            background: tokio_util::task::TaskTracker::new(),
            sso: Arc::new(tokio::sync::OnceCell::new()),
            tickets: Arc::new(tokio::sync::watch::Sender::new(0)),
            stopping: tokio_util::sync::CancellationToken::new(),
            kb: Arc::new(KbState::default()),
        }
    }

    /// Says that a ticket was opened or changed here (see [`AppState::watch_tickets`]).
    pub fn tickets_changed(&self) {
        self.tickets.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes when [`AppState::tickets_changed`] is called.
    pub fn watch_tickets(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tickets.subscribe()
    }

    /// Runs store calls on the blocking pool (SQLite blocks; the executor must not).
    pub async fn with_store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
            .map_err(|e| {
                crate::telemetry::store_failed(&e);
                ApiError::from(e)
            })
    }

    pub fn set_engine(&self, engine: Arc<Engine>) {
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = Some(engine);
    }

    pub fn engine(&self) -> Result<Arc<Engine>, ApiError> {
        self.engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(ApiError::NotReady)
    }

    /// Runs a question on the blocking pool, behind the in-flight limit: when the limit
    /// is reached, callers get a fast 503 rather than a growing queue.
    pub async fn ask(&self, question: Redacted, ctx: AskContext) -> Result<Asked, ApiError> {
        self.with_engine(move |engine| engine.ask(&question, &ctx))
            .await?
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Runs `f` on the engine on the blocking pool, behind the same in-flight limit as
    /// [`AppState::ask`] (one permit for the whole job: a batch is one caller).
    pub async fn with_engine<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Engine) -> T + Send + 'static,
        T: Send + 'static,
    {
        let engine = self.engine()?;
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&engine)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("engine task failed: {e}")))
    }
}

fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

/// How long a request may take before a 503 (the engine answers a question in tens of
/// milliseconds; this is for a store or a machine in trouble).
const TIMEOUT: Duration = Duration::from_secs(30);
/// The same for the long jobs of agents (batch probes, the coverage report).
pub const SLOW_TIMEOUT: Duration = Duration::from_secs(300);

fn timeout(after: Duration) -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, after)
}

pub fn router(state: AppState) -> Router {
    let public = chat::router().merge(feedback::router());
    let api = clients::limited(
        &state,
        public,
        state.config.rate_public,
        clients::Counted::Posts,
    )
    .layer(cors(&state.config));
    let agents = clients::limited(
        &state,
        handoffs::router(&state),
        state.config.rate_agents,
        clients::Counted::All,
    );
    let slow = coverage::slow_router()
        .merge(console::slow_router(&state))
        .layer(timeout(SLOW_TIMEOUT));
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .merge(api)
        .merge(widget::router())
        .merge(agents)
        .merge(coverage::router())
        .merge(console::router(&state))
        .merge(crate::channels::router())
        .layer(timeout(TIMEOUT))
        .merge(slow)
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(error::method_not_allowed_as_json))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(route_span)
                // Server errors are logged where they happen (ApiError), at the level
                // they deserve; a 503 while the model loads is not an error.
                .on_failure(
                    tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
                ),
        )
        // Outermost: counts each request with the status its client received.
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

/// The router of `GUICHET_METRICS_ADDR`: `/metrics` without the admin token.
pub fn metrics_router(state: AppState) -> Router {
    metrics::separate(state)
}

/// The span of a request names its method and route template only: the URI itself may
/// carry a webhook's verify token or a conversation id, which logs must not keep.
fn route_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(unmatched)", |p| p.as_str());
    tracing::debug_span!("request", method = %request.method(), route)
}
