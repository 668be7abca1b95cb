//! The API's error type: every variant maps explicitly to a status and a stable `code`;
//! 5xx bodies never carry internals (those go to the log).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::conversation::ConversationError;
use crate::engine::{MAX_MESSAGE_CHARS, QuestionError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request does not have the expected fields: {0}")]
    InvalidRequest(String),
    #[error("send the body as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the message is empty")]
    EmptyMessage,
    #[error("the message is longer than {MAX_MESSAGE_CHARS} characters")]
    MessageTooLong,
    #[error("no validated entry has this id and answer_sha256")]
    UnknownEntry,
    #[error("a batch has at most {max} items, this one has {got}")]
    TooManyItems { max: usize, got: usize },
    #[error("authentication required")]
    Unauthorized,
    #[error("the verification token does not match")]
    Forbidden,
    #[error("the query string is not valid: {0}")]
    InvalidQuery(String),
    #[error("the address is not valid: {0}")]
    InvalidPath(String),
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("too many requests, try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("{0}")]
    Conflict(String),
    /// Another agent has the ticket: the body names them (`claimed_by`, null when the
    /// integration that took it gave no name).
    #[error("another agent has taken this ticket")]
    AlreadyClaimed(Option<String>),
    #[error("not found")]
    NotFound,
    #[error("the assistant is starting, try again in a moment")]
    NotReady,
    #[error("the assistant is busy, try again in a moment")]
    Busy,
    /// The message could not be kept (the store failed): the sender must send it again.
    #[error("the message could not be recorded, send it again")]
    Unavailable(String),
    /// The store cannot be read or written (locked, full, failing): nothing was kept.
    #[error("the service cannot reach its data, try again in a moment")]
    StoreUnavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            Self::InvalidRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::EmptyMessage => (StatusCode::UNPROCESSABLE_ENTITY, "empty_message"),
            Self::MessageTooLong => (StatusCode::UNPROCESSABLE_ENTITY, "message_too_long"),
            Self::UnknownEntry => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_entry"),
            Self::TooManyItems { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "too_many_items"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            Self::InvalidPath(_) => (StatusCode::BAD_REQUEST, "invalid_path"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::AlreadyClaimed(_) => (StatusCode::CONFLICT, "already_claimed"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::Unavailable(_) | Self::StoreUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => Self::MalformedJson(e.body_text()),
            JsonRejection::JsonDataError(e) => Self::InvalidRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::BytesRejection(_) => Self::PayloadTooLarge,
            other => Self::MalformedJson(other.body_text()),
        }
    }
}

impl From<QuestionError> for ApiError {
    fn from(e: QuestionError) -> Self {
        match e {
            QuestionError::Empty => Self::EmptyMessage,
            QuestionError::TooLong => Self::MessageTooLong,
        }
    }
}

impl From<ConversationError> for ApiError {
    fn from(e: ConversationError) -> Self {
        match e {
            ConversationError::Question(e) => e.into(),
            ConversationError::Store(e) => e.into(),
            ConversationError::Engine(e) => Self::Internal(e.to_string()),
            ConversationError::EmptyReply => Self::EmptyMessage,
            e @ ConversationError::ReplyTooLong => Self::InvalidRequest(e.to_string()),
            e @ ConversationError::UnknownEntry(_) => Self::InvalidRequest(e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(why) => Self::Conflict(why),
            StoreError::AlreadyClaimed(by) => Self::AlreadyClaimed(by),
            // Locked, full, read-only, failing, or a row gone between two statements
            // (`Query returned no rows` when a conversation was purged mid-message):
            // nothing was kept, and the same request may succeed in a moment.
            StoreError::Backend(_)
            | StoreError::Busy(_)
            | StoreError::Unavailable(_)
            | StoreError::Folder { .. } => Self::StoreUnavailable(e.to_string()),
            StoreError::KeyFile { .. }
            | StoreError::Json(_)
            | StoreError::Corrupt(_)
            | StoreError::Config(_) => Self::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        match &self {
            Self::Busy => metrics::counter!(crate::telemetry::BUSY).increment(1),
            Self::RateLimited { .. } => {
                metrics::counter!(crate::telemetry::RATE_LIMITED).increment(1);
            }
            _ => {}
        }
        let retry_after = match &self {
            Self::RateLimited { retry_after } => Some((*retry_after).max(1)),
            _ if matches!(code, "busy" | "not_ready" | "unavailable") => Some(1),
            _ => None,
        };
        let claimed_by = match &self {
            Self::AlreadyClaimed(by) => Some(by.clone()),
            _ => None,
        };
        let message = if status.is_server_error() {
            match &self {
                Self::Internal(detail) => tracing::error!(%detail, "internal error"),
                Self::Unavailable(detail) => tracing::error!(%detail, "message not recorded"),
                Self::StoreUnavailable(detail) => tracing::error!(%detail, "store unavailable"),
                _ => {}
            }
            // Only our own fixed wording: no internals in 5xx bodies.
            match self {
                Self::Internal(_) => "internal error".to_string(),
                other => other.to_string(),
            }
        } else {
            self.to_string()
        };
        let mut error = json!({ "code": code, "message": message });
        if let Some(by) = claimed_by {
            error["claimed_by"] = json!(by);
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// axum answers a method a route does not have with an empty 405: the same in our JSON
/// shape, its `Allow` header kept. A middleware rather than a fallback per route, so that
/// the layers of each route (CORS preflights) still run first.
pub async fn method_not_allowed_as_json(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut json = ApiError::MethodNotAllowed.into_response();
    if let Some(allow) = allow {
        json.headers_mut().insert(header::ALLOW, allow);
    }
    json
}
