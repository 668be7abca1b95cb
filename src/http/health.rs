//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: model and
//! indexes are loaded, questions can be answered).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    Ok(Json(json!({
        "status": "ready",
        "entries": engine.corpus().entries().len(),
        "corpus_version": engine.corpus().version(),
        "model": engine.embedder().model_id(),
    })))
}
