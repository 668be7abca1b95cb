//! `POST /v1/feedback`: "was this answer helpful?" for one validated text. Only the entry,
//! its hash and the verdict are stored: nothing about the person.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use serde::Deserialize;

use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::store::Feedback;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 80)]
    pub entry_id: String,
    /// The SHA-256 the reply gave with the text (`entry.answer_sha256`, or a variant's).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub answer_sha256: String,
    pub helpful: bool,
    /// Accepted from the widget, never stored: feedback is not tied to a conversation.
    #[serde(default)]
    #[allow(dead_code)]
    pub session_id: Option<String>,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/feedback", post(feedback))
}

/// "Was this answer helpful?" for one validated text (the answer, a translation or the
/// easy-read version, named by its SHA-256).
#[utoipa::path(
    post,
    path = "/v1/feedback",
    tag = "chat",
    request_body = FeedbackRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 422, description = "No validated text has this id and hash", body = super::error::ErrorBody),
    )
)]
pub(super) async fn feedback(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<FeedbackRequest>,
) -> Result<StatusCode, ApiError> {
    let engine = state.engine()?;
    let corpus = engine.corpus();
    // The hash of any validated text of the entry: the answer, a translation, easy-read.
    let known = corpus.index_of(&request.entry_id).is_some_and(|i| {
        let e = corpus.entry(i);
        let sha = request.answer_sha256.as_str();
        e.answer_sha256 == sha
            || e.translations.values().any(|t| t.sha256 == sha)
            || e.easy_read.as_ref().is_some_and(|v| v.sha256 == sha)
    });
    if !known {
        return Err(ApiError::UnknownEntry);
    }
    let feedback = Feedback {
        entry_id: request.entry_id,
        answer_sha256: request.answer_sha256,
        helpful: request.helpful,
    };
    state
        .with_store(move |s| s.record_feedback(&feedback, Utc::now()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
