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
use crate::http::{ApiError, AppState};
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
async fn receive(
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
    let message_id = update.update_id.to_string();
    if let Some(cb) = update.callback_query {
        answer_callback(&state, cb.id);
        if let Some(chat) = cb.message.map(|m| m.chat.id) {
            inbox::accept(&state, inbound(message_id, chat, String::new(), cb.data)).await?;
        }
    } else if let Some(m) = update.message {
        let text = m.text.unwrap_or_default();
        if text.trim_start().starts_with("/start") {
            // Opening the bot is not a question: introduce the assistant, open no ticket.
            let chat = m.chat.id;
            let route = Route::Telegram { chat_id: chat };
            inbox::accept_greeting(
                &state,
                Channel::Telegram,
                message_id,
                chat.to_string(),
                route,
            )
            .await?;
        } else {
            inbox::accept(&state, inbound(message_id, m.chat.id, clip(&text), None)).await?;
        }
    }
    Ok("ok")
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
