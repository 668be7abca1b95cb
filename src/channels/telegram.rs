//! Telegram: `POST /webhooks/telegram` updates, checked with the
//! `X-Telegram-Bot-Api-Secret-Token` header (constant time), in; `sendMessage` out, plain
//! text, 4,096 characters a message; options as an inline keyboard whose `callback_data`
//! is the entry id, and `callback_query` updates answered with that entry.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use super::format::Markup;
use super::outbound::{Auth, SendFailure, post_json};
use super::signature::token_matches;
use super::{Inbound, Outgoing, Style, clip, inbox};
use crate::http::{ApiError, AppState, ErrorBody};
use crate::store::{Channel, Route};

pub const STYLE: Style = Style {
    markup: Markup::Plain,
    limit: 4096,
    numbered: false,
};

/// Telegram refuses longer `callback_data`.
const MAX_CALLBACK_BYTES: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/telegram", post(receive))
}

#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
    callback_query: Option<CallbackQuery>,
}

#[derive(Debug, Deserialize)]
struct Message {
    chat: Chat,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    id: String,
    data: Option<String>,
    message: Option<Message>,
}

/// Acknowledges once the update is queued in the inbox (else 503: Telegram sends it
/// again); answers in the background.
#[utoipa::path(
    post,
    path = "/webhooks/telegram",
    tag = "webhooks",
    request_body(content = serde_json::Value, description = "A Telegram `Update`"),
    params(("X-Telegram-Bot-Api-Secret-Token" = String, Header, description = "The secret set with `setWebhook`")),
    responses(
        (status = 200, description = "Queued", body = String, content_type = "text/plain"),
        (status = 400, description = "Not an update", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Telegram is not configured", body = ErrorBody),
    )
)]
pub(crate) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let Some(secret) = &state.config.telegram_secret else {
        return Err(ApiError::NotFound);
    };
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok());
    if !token_matches(secret.expose(), given) {
        tracing::warn!("Telegram webhook with a missing or wrong secret");
        return Err(ApiError::Unauthorized);
    }
    state.engine()?;
    let update: Update =
        serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let work = work_of(update);
    if let Some(id) = work.callback {
        answer_callback(&state, id);
    }
    match work.then {
        Some(Then::Greet { message_id, chat }) => {
            let route = Route::Telegram { chat_id: chat };
            inbox::accept_greeting(
                &state,
                Channel::Telegram,
                message_id,
                chat.to_string(),
                route,
            )
            .await?;
        }
        Some(Then::Ask(inbound)) => inbox::accept(&state, inbound).await?,
        None => {}
    }
    Ok("ok")
}

/// What an update asks of us.
#[derive(Debug, PartialEq, Eq)]
struct Work {
    /// The button press to acknowledge (it stops the spinner on the button).
    callback: Option<String>,
    then: Option<Then>,
}

#[derive(Debug, PartialEq, Eq)]
enum Then {
    /// Opening the bot (`/start`) is not a question: introduce the assistant, open no
    /// ticket.
    Greet {
        message_id: String,
        chat: i64,
    },
    Ask(Inbound),
}

fn work_of(update: Update) -> Work {
    let message_id = update.update_id.to_string();
    if let Some(cb) = update.callback_query {
        let then = cb
            .message
            .map(|m| Then::Ask(inbound(message_id, m.chat.id, String::new(), cb.data)));
        return Work {
            callback: Some(cb.id),
            then,
        };
    }
    let then = update.message.map(|m| {
        let text = m.text.unwrap_or_default();
        if text.trim_start().starts_with("/start") {
            Then::Greet {
                message_id,
                chat: m.chat.id,
            }
        } else {
            Then::Ask(inbound(message_id, m.chat.id, clip(&text), None))
        }
    });
    Work {
        callback: None,
        then,
    }
}

fn inbound(update_id: String, chat: i64, text: String, choice: Option<String>) -> Inbound {
    Inbound {
        channel: Channel::Telegram,
        message_id: Some(update_id),
        user: chat.to_string(),
        text,
        choice,
        lang: None,
        route: Route::Telegram { chat_id: chat },
    }
}

/// Stops the spinner on the button the person pressed.
fn answer_callback(state: &AppState, id: String) {
    let state = state.clone();
    tokio::spawn(async move {
        let Some(url) = method_url(&state, "answerCallbackQuery") else {
            return;
        };
        let body = json!({ "callback_query_id": id });
        let _ = post_json(&state, Channel::Telegram, None, &url, Auth::InUrl, &body).await;
    });
}

fn method_url(state: &AppState, method: &str) -> Option<String> {
    let Some(token) = &state.config.telegram_bot_token else {
        tracing::error!("GUICHET_TELEGRAM_BOT_TOKEN is not set: cannot send");
        return None;
    };
    Some(format!(
        "{}/bot{}/{method}",
        state.config.telegram_api_base.trim_end_matches('/'),
        token.expose()
    ))
}

pub async fn send(
    state: &AppState,
    chat_id: i64,
    m: &Outgoing,
    ticket: Option<i64>,
) -> Result<(), SendFailure> {
    let Some(url) = method_url(state, "sendMessage") else {
        return Err(SendFailure {
            attempts: 0,
            detail: "GUICHET_TELEGRAM_BOT_TOKEN not set".into(),
        });
    };
    let mut body = json!({ "chat_id": chat_id, "text": m.text });
    let rows: Vec<_> = m
        .choices
        .iter()
        .filter(|c| c.entry_id.len() <= MAX_CALLBACK_BYTES)
        .map(|c| json!([{ "text": c.label, "callback_data": c.entry_id }]))
        .collect();
    if !rows.is_empty() {
        body["reply_markup"] = json!({ "inline_keyboard": rows });
    }
    post_json(state, Channel::Telegram, ticket, &url, Auth::InUrl, &body).await
}

/// Fuzz harnesses of the update parser: any body is refused or read without a panic; an
/// update built the way Telegram sends it reads back as what it says.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::channels::fuzzing::{CASES, bodies, text};
    use crate::engine::MAX_MESSAGE_CHARS;

    const KEYS: &[&str] = &[
        "update_id",
        "message",
        "chat",
        "id",
        "text",
        "callback_query",
        "data",
        "edited_message",
        "/start",
    ];

    #[derive(Debug, Clone)]
    enum Kind {
        Text(String),
        Start(String),
        Button {
            id: String,
            data: Option<String>,
            chat: Option<i64>,
        },
        Other,
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            text().prop_map(Kind::Text),
            "[ ]{0,2}/start[ a-z0-9]{0,12}".prop_map(Kind::Start),
            (
                "[0-9]{1,19}",
                proptest::option::of("[a-z0-9-]{1,64}"),
                proptest::option::of(any::<i64>())
            )
                .prop_map(|(id, data, chat)| Kind::Button { id, data, chat }),
            Just(Kind::Other),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_body_is_read_or_refused_without_a_panic(body in bodies(KEYS)) {
            if let Ok(update) = serde_json::from_slice::<Update>(&body) {
                let work = work_of(update);
                if let Some(Then::Ask(i)) = work.then {
                    prop_assert!(i.text.chars().count() <= MAX_MESSAGE_CHARS);
                }
            }
        }

        #[test]
        fn an_update_reads_back_as_what_it_says(update_id in any::<i64>(), chat in any::<i64>(), kind in kind()) {
            let mut update = json!({ "update_id": update_id });
            let expected = match &kind {
                Kind::Text(t) => {
                    update["message"] = json!({ "message_id": 7, "chat": { "id": chat, "type": "private" }, "text": t });
                    let clipped: String = t.chars().take(MAX_MESSAGE_CHARS).collect();
                    if t.trim_start().starts_with("/start") {
                        Work { callback: None, then: Some(Then::Greet { message_id: update_id.to_string(), chat }) }
                    } else {
                        Work { callback: None, then: Some(Then::Ask(inbound(update_id.to_string(), chat, clipped, None))) }
                    }
                }
                Kind::Start(t) => {
                    update["message"] = json!({ "chat": { "id": chat }, "text": t });
                    Work { callback: None, then: Some(Then::Greet { message_id: update_id.to_string(), chat }) }
                }
                Kind::Button { id, data, chat } => {
                    let mut cb = json!({ "id": id, "from": { "id": 1 } });
                    if let Some(d) = data {
                        cb["data"] = json!(d);
                    }
                    if let Some(c) = chat {
                        cb["message"] = json!({ "chat": { "id": c } });
                    }
                    update["callback_query"] = cb;
                    Work {
                        callback: Some(id.clone()),
                        then: chat.map(|c| Then::Ask(inbound(update_id.to_string(), c, String::new(), data.clone()))),
                    }
                }
                Kind::Other => {
                    update["edited_message"] = json!({ "chat": { "id": chat }, "text": "x" });
                    Work { callback: None, then: None }
                }
            };
            let parsed: Update = serde_json::from_slice(update.to_string().as_bytes()).unwrap();
            prop_assert_eq!(work_of(parsed), expected);
        }
    }
}
