//! What Messenger and the WhatsApp Cloud API share, as Meta documents it: the `GET`
//! subscription check (`hub.challenge` when `hub.verify_token` matches, else 403) and the
//! `X-Hub-Signature-256` check of every `POST`, over the raw body, before any parsing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::signature::{meta_is_valid, token_matches};
use super::{messenger, whatsapp};
use crate::http::{ApiError, AppState, ErrorBody};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/webhooks/messenger",
            get(subscribe).post(messenger::receive),
        )
        .route("/webhooks/whatsapp", get(subscribe).post(whatsapp::receive))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Subscription {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription check: `hub.challenge` back when `hub.verify_token` matches.
#[utoipa::path(
    get,
    path = "/webhooks/messenger",
    tag = "webhooks",
    params(Subscription),
    responses(
        (status = 200, description = "The challenge", body = String, content_type = "text/plain"),
        (status = 403, description = "Wrong token or mode", body = ErrorBody),
        (status = 404, description = "Meta is not configured", body = ErrorBody),
    )
)]
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    query: Result<Query<Subscription>, QueryRejection>,
) -> Result<String, ApiError> {
    let Some(expected) = &state.config.meta_verify_token else {
        return Err(ApiError::NotFound);
    };
    let Ok(Query(q)) = query else {
        return Err(ApiError::Forbidden);
    };
    match (q.mode.as_deref(), q.challenge) {
        (Some("subscribe"), Some(challenge))
            if token_matches(expected.expose(), q.verify_token.as_deref()) =>
        {
            tracing::info!("Meta webhook subscription confirmed");
            Ok(challenge)
        }
        _ => {
            tracing::warn!("Meta webhook subscription refused");
            Err(ApiError::Forbidden)
        }
    }
}

/// The body of a signed Meta `POST`, parsed only once the signature holds. No app secret:
/// the channel is off (404). The engine must be ready, else Meta is told to retry (503).
pub fn verified<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    let Some(secret) = &state.config.meta_app_secret else {
        return Err(ApiError::NotFound);
    };
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !meta_is_valid(secret.expose(), body, header) {
        tracing::warn!("Meta webhook with a missing or wrong signature");
        return Err(ApiError::Unauthorized);
    }
    state.engine()?;
    serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))
}
