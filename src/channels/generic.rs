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
use crate::http::{ApiError, AppState, ChatResponse, ErrorBody};
use crate::store::{Channel, Route};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/generic", post(receive))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenericMessage {
    /// The caller's id of this message: one seen before is a retry, answered again and
    /// not recorded twice.
    message_id: String,
    /// The caller's conversation (one person).
    conversation_id: String,
    text: String,
    #[serde(default)]
    lang: Option<String>,
}

/// Answers synchronously with the same object as `/v1/chat`. A message id seen before is
/// a retry (the caller may have lost the first response, or this process died before
/// sending it): it is answered again the same way, and nothing is recorded twice.
#[utoipa::path(
    post,
    path = "/webhooks/generic",
    tag = "webhooks",
    request_body = GenericMessage,
    params(("X-Guichet-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + \".\" + body)>`")),
    responses(
        (status = 200, description = "The reply, as `/v1/chat` gives it", body = ChatResponse),
        (status = 401, description = "Missing, stale or wrong signature", body = ErrorBody),
        (status = 404, description = "No webhook secret configured", body = ErrorBody),
        (status = 422, description = "Not a message", body = ErrorBody),
    )
)]
pub(crate) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ChatResponse>, ApiError> {
    let Some(secret) = &state.config.webhook_secret else {
        return Err(ApiError::NotFound);
    };
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(why) = generic_check(secret.expose(), &body, header, Utc::now().timestamp()) {
        tracing::warn!(?why, "generic webhook rejected");
        return Err(ApiError::Unauthorized);
    }
    let inbound = inbound_of(&body)?;
    let (conversation_id, text, lang) = (
        inbound.user.clone(),
        inbound.text.clone(),
        inbound.lang.clone(),
    );
    let (reply, greeting) = match converse(&state, inbound, false).await? {
        Some(handled) => (handled.reply, handled.greeting),
        None => {
            let reply =
                answer_again(&state, Channel::Generic, &conversation_id, &text, lang).await?;
            (reply, None)
        }
    };
    Ok(Json(ChatResponse {
        reply,
        greeting,
        ticket: None,
    }))
}

/// The message of a signed call's body: a JSON object with non-empty ids.
fn inbound_of(body: &[u8]) -> Result<Inbound, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    // serde would read `["id", "conversation", "text"]` as the struct, in field order.
    if !value.is_object() {
        return Err(ApiError::InvalidRequest(
            "the body must be a JSON object".into(),
        ));
    }
    let m =
        GenericMessage::deserialize(value).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    if m.message_id.is_empty() || m.conversation_id.is_empty() {
        return Err(ApiError::InvalidRequest(
            "message_id and conversation_id may not be empty".into(),
        ));
    }
    let lang = m
        .lang
        .filter(|l| l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()));
    Ok(Inbound {
        channel: Channel::Generic,
        message_id: Some(m.message_id),
        user: m.conversation_id.clone(),
        text: m.text,
        choice: None,
        lang,
        route: Route::Generic {
            conversation_id: m.conversation_id,
        },
    })
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

/// Fuzz harnesses of the signed webhook's body parser: any body is refused with a
/// request error or read without a panic; only JSON objects are read; a message reads
/// back as it was sent.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::channels::fuzzing::{CASES, bodies, text};

    const KEYS: &[&str] = &["message_id", "conversation_id", "text", "lang", "fr", "en"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_body_is_read_or_refused_as_a_bad_request(body in bodies(KEYS)) {
            match inbound_of(&body) {
                Ok(i) => {
                    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    prop_assert!(value.is_object(), "read from a non-object: {:?}", value);
                    prop_assert!(!i.user.is_empty() && i.message_id.as_ref().is_some_and(|m| !m.is_empty()));
                }
                Err(e) => prop_assert!(matches!(e, ApiError::InvalidRequest(_)), "{:?}", e),
            }
        }

        #[test]
        fn a_message_reads_back_as_it_was_sent(
            message_id in "[A-Za-z0-9-]{1,40}",
            conversation_id in "(?s).{1,40}",
            text in text(),
            lang in proptest::option::of("[a-zA-Z]{0,3}"),
        ) {
            let mut body = json!({ "message_id": message_id, "conversation_id": conversation_id, "text": text });
            if let Some(l) = &lang {
                body["lang"] = json!(l);
            }
            let i = inbound_of(body.to_string().as_bytes()).unwrap();
            prop_assert_eq!(i.message_id.as_deref(), Some(message_id.as_str()));
            prop_assert_eq!(&i.user, &conversation_id);
            prop_assert_eq!(&i.text, &text);
            let two_letters = lang.filter(|l| l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()));
            prop_assert_eq!(i.lang, two_letters);
            prop_assert_eq!(i.route, Route::Generic { conversation_id });
        }

        #[test]
        fn a_bare_array_is_not_a_message(
            message_id in "[a-z0-9]{1,10}",
            conversation_id in "[a-z0-9]{1,10}",
            text in "[a-z ]{1,20}",
        ) {
            let body = json!([message_id, conversation_id, text]);
            prop_assert!(inbound_of(body.to_string().as_bytes()).is_err());
        }
    }
}
