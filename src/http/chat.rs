//! `POST /v1/chat`: the web chat's door to the engine, through the same conversation flow
//! as the messengers (turns stored redacted, hand-off tickets, greeting on the first
//! reply); `GET /v1/chat/{session_id}/messages`: agents' replies, polled by the widget.

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::channels::{self, Inbound, converse};
use crate::corpus::PRIMARY_LANG;
use crate::engine::{AskContext, Question};
use crate::privacy::Redacted;
use crate::reply::Reply;
use crate::store::{Author, Channel, Route};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub message: String,
    /// The widget's random conversation id (16 to 128 letters, digits, `-`, `_`); without
    /// it, nothing is stored.
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub lang: Option<String>,
    /// The entry id of an option the person picked from a "did you mean" (`message` then
    /// holds its question, as shown): that entry is served, and the clarification counts
    /// as resolved. An id that is not served (any more) is ignored: `message` is asked.
    #[serde(default)]
    pub choice: Option<String>,
}

/// The reply object, with the assistant's introduction on the first reply only.
#[derive(Debug, Serialize)]
pub struct ChatResponse {
    #[serde(flatten)]
    pub reply: Reply,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat", post(chat))
        .route("/v1/chat/{session_id}/messages", get(messages))
}

/// A session id is the only key to a conversation's agent replies: long and random.
fn check_session(id: &str) -> Result<(), ApiError> {
    let ok = (16..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::InvalidRequest(
            "session_id must be 16 to 128 letters, digits, '-' or '_'".into(),
        ))
    }
}

async fn chat(
    State(state): State<AppState>,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Json<ChatResponse>, ApiError> {
    let Json(request) = body?;
    let question = Question::parse(&request.message)?;
    let lang = request
        .lang
        .filter(|l| l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()));
    // Without a session there is no conversation to remember: nothing is stored, and
    // no greeting (the reply object stays exactly the engine's).
    let Some(session) = request.session_id else {
        let ctx = AskContext {
            lang,
            ..AskContext::now()
        };
        if let Some(reply) = request
            .choice
            .as_deref()
            .and_then(|id| chosen_reply(&state, id, ctx.lang.as_deref()))
        {
            return Ok(Json(ChatResponse {
                reply,
                greeting: None,
            }));
        }
        let asked = state.ask(Redacted::new(question.as_str()), ctx).await?;
        return Ok(Json(ChatResponse {
            reply: asked.reply,
            greeting: None,
        }));
    };
    check_session(&session)?;
    let inbound = Inbound {
        channel: Channel::Web,
        message_id: None,
        user: session,
        text: question.as_str().to_string(),
        choice: request.choice,
        lang,
        route: Route::Web,
    };
    let handled = converse(&state, inbound, false)
        .await?
        .ok_or_else(|| ApiError::Internal("a web message was taken for a retry".into()))?;
    Ok(Json(ChatResponse {
        reply: handled.reply,
        greeting: handled.greeting,
    }))
}

/// The served entry of a picked option, if the id names one.
fn chosen_reply(state: &AppState, id: &str, lang: Option<&str>) -> Option<Reply> {
    let engine = state.engine().ok()?;
    let index = engine.corpus().index_of(id)?;
    Some(channels::chosen_reply(
        &engine,
        index,
        lang.unwrap_or(PRIMARY_LANG),
    ))
}

#[derive(Debug, Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
}

/// Agents' messages in this conversation after the message id `after` (0: all).
async fn messages(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Query(after): Query<After>,
) -> Result<Json<Value>, ApiError> {
    check_session(&session)?;
    let turns = state
        .with_store(move |s| {
            let external = s.pseudonym(Channel::Web, &session);
            match s.find_conversation(Channel::Web, &external)? {
                Some(c) => s.turns_after(c.id, Some(Author::Agent), after.after),
                None => Ok(Vec::new()),
            }
        })
        .await?;
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|t| json!({ "id": t.id, "author": "agent", "text": t.text, "at": t.at }))
        .collect();
    Ok(Json(json!({ "messages": messages })))
}
