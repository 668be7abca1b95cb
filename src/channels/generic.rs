//! The generic signed webhook for any other integration (a helpdesk, an SMS gateway):
//! `POST /webhooks/generic` with `X-Guichet-Signature: t=..,v1=..`, the reply returned in
//! the response; and our own signed notifications to `GUICHET_HANDOFF_WEBHOOK_URL`
//! (new tickets, agents' replies to generic conversations).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::outbound::{Auth, SIGNATURE_HEADER, SendFailure, post_json};
use super::signature::generic_check;
use super::{Inbound, Outgoing, answer_again, converse};
use crate::http::{ApiError, AppState};
use crate::store::{Channel, Route};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/generic", post(receive))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericMessage {
    message_id: String,
    conversation_id: String,
    text: String,
    #[serde(default)]
    lang: Option<String>,
}

/// Answers synchronously with the same object as `/v1/chat`. A message id seen before is
/// a retry (the caller may have lost the first response, or this process died before
/// sending it): it is answered again the same way, and nothing is recorded twice.
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Some(secret) = &state.config.webhook_secret else {
        return Err(ApiError::NotFound);
    };
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(why) = generic_check(secret.expose(), &body, header, Utc::now().timestamp()) {
        tracing::warn!(?why, "generic webhook rejected");
        return Err(ApiError::Unauthorized);
    }
    let m: GenericMessage =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    if m.message_id.is_empty() || m.conversation_id.is_empty() {
        return Err(ApiError::InvalidRequest(
            "message_id and conversation_id may not be empty".into(),
        ));
    }
    let conversation_id = m.conversation_id.clone();
    let lang = m
        .lang
        .filter(|l| l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()));
    let inbound = Inbound {
        channel: Channel::Generic,
        message_id: Some(m.message_id),
        user: conversation_id.clone(),
        text: m.text.clone(),
        choice: None,
        lang: lang.clone(),
        route: Route::Generic {
            conversation_id: conversation_id.clone(),
        },
    };
    let (reply, greeting) = match converse(&state, inbound, false).await? {
        Some(handled) => (handled.reply, handled.greeting),
        None => {
            let reply =
                answer_again(&state, Channel::Generic, &conversation_id, &m.text, lang).await?;
            (reply, None)
        }
    };
    let mut out = serde_json::to_value(&reply).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(g) = greeting {
        out["greeting"] = json!(g);
    }
    Ok(Json(out))
}

/// Tells the helpdesk (`GUICHET_HANDOFF_WEBHOOK_URL`), in the background, signed with
/// `GUICHET_WEBHOOK_SECRET`. Without both, nothing is sent.
pub fn announce(state: &AppState, event: Value, ticket: Option<i64>) {
    let (Some(url), Some(_)) = (
        &state.config.handoff_webhook_url,
        &state.config.webhook_secret,
    ) else {
        return;
    };
    let url = url.clone();
    let state = state.clone();
    tokio::spawn(async move {
        let Some(secret) = &state.config.webhook_secret else {
            return;
        };
        let _ = post_json(
            &state,
            Channel::Generic,
            ticket,
            &url,
            Auth::Signed(secret.expose()),
            &event,
        )
        .await;
    });
}

/// An agent's reply to a conversation that came through the generic webhook.
pub async fn send_agent_reply(
    state: &AppState,
    conversation_id: &str,
    m: &Outgoing,
    ticket: Option<i64>,
) -> Result<(), SendFailure> {
    let (Some(url), Some(secret)) = (
        &state.config.handoff_webhook_url,
        &state.config.webhook_secret,
    ) else {
        return Err(SendFailure {
            attempts: 0,
            detail: "GUICHET_HANDOFF_WEBHOOK_URL or GUICHET_WEBHOOK_SECRET not set".into(),
        });
    };
    let event = json!({
        "event": "handoff.reply",
        "ticket_id": ticket,
        "conversation_id": conversation_id,
        "text": m.text,
    });
    post_json(
        state,
        Channel::Generic,
        ticket,
        url,
        Auth::Signed(secret.expose()),
        &event,
    )
    .await
}
