//! WhatsApp Cloud API: `POST /webhooks/whatsapp` changes (batched
//! `entry[].changes[].value.messages[]`; statuses ignored) in, `POST
//! {base}/{phone_number_id}/messages` out. WhatsApp's `*bold*`, 4,096 characters a
//! message; up to three options as reply buttons "1", "2", "3" whose id is the entry id.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::format::Markup;
use super::messenger::missing;
use super::outbound::{Auth, SendFailure, post_json};
use super::{Inbound, Outgoing, Style, clip, inbox, meta};
use crate::http::{ApiError, AppState};
use crate::store::{Channel, Route};

pub const STYLE: Style = Style {
    markup: Markup::WhatsApp,
    limit: 4096,
    numbered: true,
};

/// WhatsApp's limits on interactive messages: beyond them, plain text.
const MAX_BUTTONS: usize = 3;
const MAX_INTERACTIVE_BODY: usize = 1024;

#[derive(Debug, Deserialize)]
struct Event {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    field: String,
    value: Value,
}

#[derive(Debug, Deserialize)]
struct Value {
    metadata: Option<Metadata>,
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Debug, Deserialize)]
struct Message {
    id: String,
    from: String,
    text: Option<Text>,
    interactive: Option<Interactive>,
}

#[derive(Debug, Deserialize)]
struct Text {
    body: String,
}

#[derive(Debug, Deserialize)]
struct Interactive {
    button_reply: Option<ReplyId>,
    list_reply: Option<ReplyId>,
}

#[derive(Debug, Deserialize)]
struct ReplyId {
    id: String,
}

/// Acknowledges once each message is queued in the inbox (else 503: Meta sends the
/// batch again, and what was queued is not queued twice); answers in the background.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let event: Event = meta::verified(&state, &headers, &body)?;
    if event.object != "whatsapp_business_account" {
        return Ok("EVENT_RECEIVED");
    }
    for change in event
        .entry
        .into_iter()
        .flat_map(|e| e.changes)
        .filter(|c| c.field == "messages")
    {
        let Some(phone_number_id) = change.value.metadata.map(|m| m.phone_number_id) else {
            continue;
        };
        for m in change.value.messages {
            let choice = m
                .interactive
                .and_then(|i| i.button_reply.or(i.list_reply))
                .map(|r| r.id);
            let text = m.text.map(|t| t.body).unwrap_or_default();
            inbox::accept(
                &state,
                Inbound {
                    channel: Channel::Whatsapp,
                    message_id: Some(m.id),
                    user: m.from.clone(),
                    text: clip(&text),
                    choice,
                    lang: None,
                    route: Route::Whatsapp {
                        phone_number_id: phone_number_id.clone(),
                        to: m.from,
                    },
                },
            )
            .await?;
        }
    }
    Ok("EVENT_RECEIVED")
}

pub async fn send(
    state: &AppState,
    phone_number_id: &str,
    to: &str,
    m: &Outgoing,
    ticket: Option<i64>,
) -> Result<(), SendFailure> {
    let Some(token) = &state.config.whatsapp_token else {
        return Err(missing("GUICHET_WHATSAPP_TOKEN"));
    };
    let interactive = !m.choices.is_empty()
        && m.choices.len() <= MAX_BUTTONS
        && super::split::platform_len(&m.text) <= MAX_INTERACTIVE_BODY;
    let body = if interactive {
        let buttons: Vec<_> = m
            .choices
            .iter()
            .map(|c| json!({ "type": "reply", "reply": { "id": c.entry_id, "title": c.label } }))
            .collect();
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": { "text": m.text },
                "action": { "buttons": buttons },
            },
        })
    } else {
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": { "body": m.text, "preview_url": false },
        })
    };
    let url = format!(
        "{}/{phone_number_id}/messages",
        state.config.meta_api_base.trim_end_matches('/')
    );
    post_json(
        state,
        Channel::Whatsapp,
        ticket,
        &url,
        Auth::Bearer(token.expose()),
        &body,
    )
    .await
}
