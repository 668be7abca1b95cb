//! Messenger: `POST /webhooks/messenger` events (batched `entry[].messaging[]`; echoes,
//! deliveries and reads ignored) in, Send API (`POST {base}/me/messages`) out. Plain
//! text, 2,000 characters a message; options as quick replies "1", "2"... whose payload
//! is the entry id.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::format::Markup;
use super::outbound::{Auth, SendFailure, post_json};
use super::{Inbound, Outgoing, Style, clip, inbox, meta};
use crate::http::{ApiError, AppState};
use crate::store::{Channel, Route};

pub const STYLE: Style = Style {
    markup: Markup::Plain,
    limit: 2000,
    numbered: true,
};

#[derive(Debug, Deserialize)]
struct Event {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Debug, Deserialize)]
struct Messaging {
    sender: Option<Id>,
    message: Option<Message>,
    postback: Option<Postback>,
}

#[derive(Debug, Deserialize)]
struct Id {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Message {
    mid: String,
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    quick_reply: Option<Payload>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    payload: String,
}

#[derive(Debug, Deserialize)]
struct Postback {
    mid: Option<String>,
    payload: Option<String>,
}

/// Acknowledges once each message is queued in the inbox (else 503: Meta sends the
/// batch again, and what was queued is not queued twice); answers in the background.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let event: Event = meta::verified(&state, &headers, &body)?;
    if event.object != "page" {
        return Ok("EVENT_RECEIVED");
    }
    for m in event.entry.into_iter().flat_map(|e| e.messaging) {
        let Some(psid) = m.sender.map(|s| s.id) else {
            continue;
        };
        let (mid, text, choice) = match (m.message, m.postback) {
            (Some(msg), _) if msg.is_echo => continue,
            (Some(msg), _) => (
                msg.mid,
                msg.text.unwrap_or_default(),
                msg.quick_reply.map(|q| q.payload),
            ),
            (
                None,
                Some(Postback {
                    mid: Some(mid),
                    payload,
                    ..
                }),
            ) => (mid, String::new(), payload),
            // Deliveries, reads, reactions: nothing to answer.
            (None, _) => continue,
        };
        inbox::accept(
            &state,
            Inbound {
                channel: Channel::Messenger,
                message_id: Some(mid),
                user: psid.clone(),
                text: clip(&text),
                choice,
                lang: None,
                route: Route::Messenger { psid },
            },
        )
        .await?;
    }
    Ok("EVENT_RECEIVED")
}

/// One message through the Send API. An agent's reply may come after Messenger's 24-hour
/// window, which the `HUMAN_AGENT` tag is for.
pub async fn send(
    state: &AppState,
    psid: &str,
    m: &Outgoing,
    ticket: Option<i64>,
) -> Result<(), SendFailure> {
    let Some(token) = &state.config.messenger_page_token else {
        return Err(missing("GUICHET_MESSENGER_PAGE_TOKEN"));
    };
    let mut message = json!({ "text": m.text });
    if !m.choices.is_empty() {
        message["quick_replies"] = m
            .choices
            .iter()
            .map(|c| json!({ "content_type": "text", "title": c.label, "payload": c.entry_id }))
            .collect();
    }
    let mut body = json!({ "recipient": { "id": psid }, "message": message });
    if ticket.is_some() {
        body["messaging_type"] = json!("MESSAGE_TAG");
        body["tag"] = json!("HUMAN_AGENT");
    } else {
        body["messaging_type"] = json!("RESPONSE");
    }
    let url = format!(
        "{}/me/messages",
        state.config.meta_api_base.trim_end_matches('/')
    );
    post_json(
        state,
        Channel::Messenger,
        ticket,
        &url,
        Auth::Bearer(token.expose()),
        &body,
    )
    .await
}

pub(super) fn missing(what: &str) -> SendFailure {
    tracing::error!("{what} is not set: cannot send");
    SendFailure {
        attempts: 0,
        detail: format!("{what} not set"),
    }
}
