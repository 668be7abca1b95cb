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
use crate::http::{ApiError, AppState, ErrorBody};
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
#[utoipa::path(
    post,
    path = "/webhooks/messenger",
    tag = "webhooks",
    request_body(content = serde_json::Value, description = "A Messenger `page` event"),
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=<hex HMAC-SHA256(app secret, body)>`")),
    responses(
        (status = 200, description = "Queued", body = String, content_type = "text/plain"),
        (status = 400, description = "Not an event", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 404, description = "Meta is not configured", body = ErrorBody),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let event: Event = meta::verified(&state, &headers, &body)?;
    for inbound in inbounds(event) {
        inbox::accept(&state, inbound).await?;
    }
    Ok("EVENT_RECEIVED")
}

/// The messages of an event that call for an answer, in order: a page's messages and
/// postbacks; echoes, deliveries, reads and other objects give none.
fn inbounds(event: Event) -> Vec<Inbound> {
    if event.object != "page" {
        return Vec::new();
    }
    let mut out = Vec::new();
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
        out.push(Inbound {
            channel: Channel::Messenger,
            message_id: Some(mid),
            user: psid.clone(),
            text: clip(&text),
            choice,
            lang: None,
            route: Route::Messenger { psid },
        });
    }
    out
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

/// Fuzz harnesses of the event parser: any body is refused or read without a panic; a
/// batch built the way Messenger sends it gives its messages, in order.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::channels::fuzzing::{CASES, bodies, text};
    use crate::engine::MAX_MESSAGE_CHARS;

    const KEYS: &[&str] = &[
        "object",
        "page",
        "entry",
        "messaging",
        "sender",
        "id",
        "message",
        "mid",
        "text",
        "is_echo",
        "quick_reply",
        "payload",
        "postback",
        "delivery",
    ];

    #[derive(Debug, Clone)]
    enum Item {
        Text {
            psid: String,
            mid: String,
            text: String,
            quick: Option<String>,
        },
        Postback {
            psid: String,
            mid: String,
            payload: Option<String>,
        },
        Echo {
            psid: String,
            mid: String,
        },
        Delivery {
            psid: String,
        },
    }

    fn item() -> impl Strategy<Value = Item> {
        let id = "[0-9]{1,20}";
        let mid = "m_[A-Za-z0-9_-]{1,30}";
        prop_oneof![
            (id, mid, text(), proptest::option::of("[a-z0-9-]{1,40}")).prop_map(
                |(psid, mid, text, quick)| Item::Text {
                    psid,
                    mid,
                    text,
                    quick
                }
            ),
            (id, mid, proptest::option::of("[a-z0-9-]{1,40}"))
                .prop_map(|(psid, mid, payload)| Item::Postback { psid, mid, payload }),
            (id, mid).prop_map(|(psid, mid)| Item::Echo { psid, mid }),
            id.prop_map(|psid| Item::Delivery { psid }),
        ]
    }

    fn json_of(item: &Item) -> Value {
        match item {
            Item::Text {
                psid,
                mid,
                text,
                quick,
            } => {
                let mut m = json!({ "mid": mid, "text": text });
                if let Some(q) = quick {
                    m["quick_reply"] = json!({ "payload": q });
                }
                json!({ "sender": { "id": psid }, "recipient": { "id": "1" }, "timestamp": 1, "message": m })
            }
            Item::Postback { psid, mid, payload } => {
                json!({ "sender": { "id": psid }, "postback": { "mid": mid, "title": "1", "payload": payload } })
            }
            Item::Echo { psid, mid } => {
                json!({ "sender": { "id": psid }, "message": { "mid": mid, "text": "x", "is_echo": true } })
            }
            Item::Delivery { psid } => {
                json!({ "sender": { "id": psid }, "delivery": { "mids": ["m_1"], "watermark": 1 } })
            }
        }
    }

    fn expected(item: &Item) -> Option<Inbound> {
        let inbound = |psid: &str, mid: &str, text: &str, choice: Option<String>| Inbound {
            channel: Channel::Messenger,
            message_id: Some(mid.to_string()),
            user: psid.to_string(),
            text: text.chars().take(MAX_MESSAGE_CHARS).collect(),
            choice,
            lang: None,
            route: Route::Messenger {
                psid: psid.to_string(),
            },
        };
        match item {
            Item::Text {
                psid,
                mid,
                text,
                quick,
            } => Some(inbound(psid, mid, text, quick.clone())),
            Item::Postback { psid, mid, payload } => Some(inbound(psid, mid, "", payload.clone())),
            Item::Echo { .. } | Item::Delivery { .. } => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_body_is_read_or_refused_without_a_panic(body in bodies(KEYS)) {
            if let Ok(event) = serde_json::from_slice::<Event>(&body) {
                for i in inbounds(event) {
                    prop_assert!(i.text.chars().count() <= MAX_MESSAGE_CHARS);
                }
            }
        }

        #[test]
        fn a_batch_gives_its_messages_in_order(
            entries in proptest::collection::vec(proptest::collection::vec(item(), 0..4), 0..4),
            page in any::<bool>(),
        ) {
            let event = json!({
                "object": if page { "page" } else { "instagram" },
                "entry": entries.iter().map(|items| json!({
                    "id": "1", "time": 1, "messaging": items.iter().map(json_of).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            let want: Vec<Inbound> = if page {
                entries.iter().flatten().filter_map(expected).collect()
            } else {
                Vec::new()
            };
            let parsed: Event = serde_json::from_slice(event.to_string().as_bytes()).unwrap();
            prop_assert_eq!(inbounds(parsed), want);
        }
    }
}
