//! `POST /v1/chat`: the web chat's door to the engine.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::post;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::engine::{AskContext, Question};
use crate::reply::Reply;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub message: String,
    /// Read by the conversation store; accepted now so clients can send it.
    #[serde(default)]
    #[allow(dead_code)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub lang: Option<String>,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/chat", post(chat))
}

async fn chat(
    State(state): State<AppState>,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Json<Reply>, ApiError> {
    let Json(request) = body?;
    let question = Question::parse(&request.message)?;
    let lang = request
        .lang
        .filter(|l| l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()));
    let ctx = AskContext {
        lang,
        ..AskContext::now()
    };
    let asked = state.ask(question.as_str().to_string(), ctx).await?;
    Ok(Json(asked.reply))
}
