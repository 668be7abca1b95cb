//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: model and
//! indexes are loaded, questions can be answered).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: Alive,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Alive {
    Ok,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    pub status: Readiness,
    /// Entries served.
    pub entries: usize,
    pub corpus_version: String,
    /// The embedding model's id.
    pub model: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    Ready,
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub(super) async fn healthz() -> Json<Health> {
    Json(Health { status: Alive::Ok })
}

/// The model and indexes are loaded: questions can be answered (else 503 `not_ready`).
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Ready)))]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let engine = state.engine()?;
    Ok(Json(Ready {
        status: Readiness::Ready,
        entries: engine.corpus().entries().len(),
        corpus_version: engine.corpus().version().to_string(),
        model: engine.embedder().model_id().to_string(),
    }))
}
