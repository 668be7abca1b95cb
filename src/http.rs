//! The web layer: `router(state)` assembles each area's own router. Only this module and
//! `channels` know axum; they translate HTTP to `Engine::ask` and back.

mod chat;
mod error;
mod health;

use std::sync::{Arc, OnceLock};
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

pub use error::ApiError;

/// Largest request body accepted (a question is at most 1,000 characters).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler shares. Nothing here is per-conversation: a second replica built
/// from the same corpus and store answers the same.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<OnceLock<Arc<Engine>>>,
    permits: Arc<Semaphore>,
    pub config: Arc<Config>,
}

impl AppState {
    /// A state whose engine is set later (the server listens while the model loads).
    pub fn new(config: Config) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_inflight));
        Self {
            engine: Arc::new(OnceLock::new()),
            permits,
            config: Arc::new(config),
        }
    }

    pub fn set_engine(&self, engine: Arc<Engine>) {
        let _ = self.engine.set(engine);
    }

    pub fn engine(&self) -> Result<Arc<Engine>, ApiError> {
        self.engine.get().cloned().ok_or(ApiError::NotReady)
    }

    /// Runs a question on the blocking pool, behind the in-flight limit: when the limit
    /// is reached, callers get a fast 503 rather than a growing queue.
    pub async fn ask(&self, question: String, ctx: AskContext) -> Result<Asked, ApiError> {
        let engine = self.engine()?;
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            engine.ask(&question, &ctx)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("question task failed: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))
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
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

pub fn router(state: AppState) -> Router {
    let api = chat::router().layer(cors(&state.config));
    Router::new()
        .merge(health::router())
        .merge(api)
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
