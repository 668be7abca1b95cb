//! The API's error type: every variant maps explicitly to a status and a stable `code`;
//! 5xx bodies never carry internals (those go to the log).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::conversation::ConversationError;
use crate::engine::{MAX_MESSAGE_CHARS, QuestionError};
use crate::store::StoreError;

/// The body of every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people (English); programs read `code`.
    pub message: String,
    /// With `already_claimed`: the name or role of the agent who has the ticket (null
    /// when the integration that took it gave none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub claimed_by: Option<Option<String>>,
}

/// The stable codes of errors: integrations may match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MalformedJson,
    InvalidRequest,
    UnsupportedMediaType,
    PayloadTooLarge,
    EmptyMessage,
    MessageTooLong,
    UnknownEntry,
    TooManyItems,
    Unauthorized,
    Forbidden,
    InvalidQuery,
    InvalidPath,
    MethodNotAllowed,
    RateLimited,
    Conflict,
    AlreadyClaimed,
    NotFound,
    NotReady,
    Busy,
    Unavailable,
    Internal,
}

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

    fn parts(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson),
            Self::InvalidRequest(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest)
            }
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            Self::EmptyMessage => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::EmptyMessage),
            Self::MessageTooLong => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::MessageTooLong),
            Self::UnknownEntry => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::UnknownEntry),
            Self::TooManyItems { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::TooManyItems)
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::Forbidden => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            Self::InvalidQuery(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery),
            Self::InvalidPath(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidPath),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            Self::AlreadyClaimed(_) => (StatusCode::CONFLICT, ErrorCode::AlreadyClaimed),
            Self::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::NotReady => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NotReady),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy),
            Self::Unavailable(_) | Self::StoreUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            }
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
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
            _ if matches!(
                code,
                ErrorCode::Busy | ErrorCode::NotReady | ErrorCode::Unavailable
            ) =>
            {
                Some(1)
            }
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
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                claimed_by,
            },
        };
        let mut response = (status, Json(body)).into_response();
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
