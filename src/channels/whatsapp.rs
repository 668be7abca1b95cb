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
use crate::http::{ApiError, AppState, ErrorBody};
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
#[utoipa::path(
    post,
    path = "/webhooks/whatsapp",
    tag = "webhooks",
    request_body(content = serde_json::Value, description = "A WhatsApp Cloud API `whatsapp_business_account` event"),
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

/// The messages of an event that call for an answer, in order: the text and button
/// replies of `messages` changes; statuses and other objects give none.
fn inbounds(event: Event) -> Vec<Inbound> {
    if event.object != "whatsapp_business_account" {
        return Vec::new();
    }
    let mut out = Vec::new();
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
            out.push(Inbound {
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
            });
        }
    }
    out
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

/// Fuzz harnesses of the change parser: any body is refused or read without a panic; a
/// batch built the way the Cloud API sends it gives its messages, in order.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::channels::fuzzing::{CASES, bodies, text};
    use crate::engine::MAX_MESSAGE_CHARS;

    const KEYS: &[&str] = &[
        "object",
        "whatsapp_business_account",
        "entry",
        "changes",
        "field",
        "messages",
        "value",
        "metadata",
        "phone_number_id",
        "id",
        "from",
        "text",
        "body",
        "interactive",
        "button_reply",
        "list_reply",
        "statuses",
    ];

    #[derive(Debug, Clone)]
    enum Item {
        Text {
            id: String,
            from: String,
            body: String,
        },
        Button {
            id: String,
            from: String,
            reply: String,
            list: bool,
        },
    }

    fn item() -> impl Strategy<Value = Item> {
        let id = "wamid\\.[A-Za-z0-9=]{1,30}";
        let from = "[0-9]{6,15}";
        prop_oneof![
            (id, from, text()).prop_map(|(id, from, body)| Item::Text { id, from, body }),
            (id, from, "[a-z0-9-]{1,40}", any::<bool>()).prop_map(|(id, from, reply, list)| {
                Item::Button {
                    id,
                    from,
                    reply,
                    list,
                }
            }),
        ]
    }

    #[derive(Debug, Clone)]
    struct Change {
        /// `messages`, or another field whose changes carry no messages to answer.
        messages: bool,
        phone_number_id: Option<String>,
        items: Vec<Item>,
    }

    fn change() -> impl Strategy<Value = Change> {
        (
            any::<bool>(),
            proptest::option::of("[0-9]{5,16}"),
            proptest::collection::vec(item(), 0..4),
        )
            .prop_map(|(messages, phone_number_id, items)| Change {
                messages,
                phone_number_id,
                items,
            })
    }

    fn json_of(item: &Item) -> Value {
        match item {
            Item::Text { id, from, body } => {
                json!({ "id": id, "from": from, "timestamp": "1", "type": "text", "text": { "body": body } })
            }
            Item::Button {
                id,
                from,
                reply,
                list,
            } => {
                let kind = if *list { "list_reply" } else { "button_reply" };
                json!({ "id": id, "from": from, "type": "interactive", "interactive": { "type": kind, kind: { "id": reply, "title": "1" } } })
            }
        }
    }

    fn expected(phone_number_id: &str, item: &Item) -> Inbound {
        let (id, from, text, choice) = match item {
            Item::Text { id, from, body } => (id, from, body.as_str(), None),
            Item::Button {
                id, from, reply, ..
            } => (id, from, "", Some(reply.clone())),
        };
        Inbound {
            channel: Channel::Whatsapp,
            message_id: Some(id.clone()),
            user: from.clone(),
            text: text.chars().take(MAX_MESSAGE_CHARS).collect(),
            choice,
            lang: None,
            route: Route::Whatsapp {
                phone_number_id: phone_number_id.to_string(),
                to: from.clone(),
            },
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
            entries in proptest::collection::vec(proptest::collection::vec(change(), 0..3), 0..3),
            business in any::<bool>(),
        ) {
            let event = json!({
                "object": if business { "whatsapp_business_account" } else { "page" },
                "entry": entries.iter().map(|changes| json!({
                    "id": "1",
                    "changes": changes.iter().map(|c| {
                        let mut value = json!({
                            "messaging_product": "whatsapp",
                            "messages": c.items.iter().map(json_of).collect::<Vec<_>>(),
                        });
                        if let Some(p) = &c.phone_number_id {
                            value["metadata"] = json!({ "display_phone_number": "1", "phone_number_id": p });
                        }
                        json!({ "field": if c.messages { "messages" } else { "statuses" }, "value": value })
                    }).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            let want: Vec<Inbound> = if business {
                entries
                    .iter()
                    .flatten()
                    .filter(|c| c.messages)
                    .filter_map(|c| c.phone_number_id.as_ref().map(|p| (p, &c.items)))
                    .flat_map(|(p, items)| items.iter().map(move |i| expected(p, i)))
                    .collect()
            } else {
                Vec::new()
            };
            let parsed: Event = serde_json::from_slice(event.to_string().as_bytes()).unwrap();
            prop_assert_eq!(inbounds(parsed), want);
        }
    }
}
