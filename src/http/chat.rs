//! `POST /v1/chat`: the web chat's door to the engine, through the same conversation flow
//! as the messengers (turns stored redacted, hand-off tickets, greeting on the first
//! reply); `GET /v1/chat/{session_id}/messages`: agents' replies and the ticket's state,
//! polled by the widget while a ticket is open; `POST /v1/chat/{session_id}/cancel`: the
//! person withdraws their request for a person.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::extract::{JsonBody, Path, Query};
use super::{ApiError, AppState};
use crate::channels::{Inbound, converse};
use crate::conversation;
use crate::corpus::PRIMARY_LANG;
use chrono::Utc;

use crate::conversation::WebTicket;
use crate::engine::{AskContext, Question};
use crate::privacy::Redacted;
use crate::reply::Reply;
use crate::store::{Channel, Route};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// What the person wrote (1 to 1,000 characters, not only spaces or invisible ones).
    #[schema(min_length = 1, max_length = 1000)]
    pub message: String,
    /// The widget's random conversation id (16 to 128 letters, digits, `-`, `_`); without
    /// it, nothing is stored.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{16,128}$")]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    #[serde(flatten)]
    pub reply: Reply,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub greeting: Option<String>,
    /// The conversation's open ticket, when a person has or will have it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ticket: Option<WebTicket>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat", post(chat))
        .route("/v1/chat/{session_id}/messages", get(messages))
        .route("/v1/chat/{session_id}/cancel", post(cancel))
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

/// Asks the assistant: a validated answer word for word, a "did you mean", or a hand-off
/// to a person.
#[utoipa::path(
    post,
    path = "/v1/chat",
    tag = "chat",
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The reply", body = ChatResponse),
        (status = 422, description = "Empty, too long, or a bad session id", body = ErrorBody),
    )
)]
pub(super) async fn chat(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ChatRequest>,
) -> Result<Json<ChatResponse>, ApiError> {
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
            crate::telemetry::replied(Channel::Web, reply.outcome);
            return Ok(Json(ChatResponse {
                reply,
                greeting: None,
                ticket: None,
            }));
        }
        let asked = state.ask(Redacted::new(question.as_str()), ctx).await?;
        crate::telemetry::replied(Channel::Web, asked.reply.outcome);
        return Ok(Json(ChatResponse {
            reply: asked.reply,
            greeting: None,
            ticket: None,
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
    let engine = state.engine()?;
    let ticket = handled
        .active
        .as_ref()
        .map(|t| WebTicket::of(&engine, t, &handled.reply.lang, Utc::now()));
    Ok(Json(ChatResponse {
        reply: handled.reply,
        greeting: handled.greeting,
        ticket,
    }))
}

/// The served entry of a picked option, if the id names one.
fn chosen_reply(state: &AppState, id: &str, lang: Option<&str>) -> Option<Reply> {
    conversation::chosen(&*state.engine().ok()?, id, lang)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct After {
    /// Only messages with a greater id (0: all).
    #[serde(default)]
    after: i64,
    /// The language of the widget's interface, for the ticket's notice.
    #[serde(default)]
    lang: Option<String>,
}

/// What the widget polls while a ticket is open.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentMessages {
    pub messages: Vec<AgentMessageView>,
    /// The conversation's open ticket; `null` once it is closed.
    pub ticket: Option<WebTicket>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentMessageView {
    pub id: i64,
    pub author: Author,
    /// The agent's first name or role.
    pub agent: String,
    pub text: String,
    pub at: chrono::DateTime<Utc>,
    /// A validated answer the agent sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub entry: Option<EntryRef>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Agent,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryRef {
    pub id: String,
    pub answer_sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cancelled {
    /// Whether there was a request to withdraw.
    pub cancelled: bool,
    /// The validated sentence that says so.
    pub message: String,
    pub lang: String,
}

/// Agents' messages in this conversation after the message id `after` (0: all), each
/// with the name or role of who wrote it, and the conversation's open ticket (`null`
/// once it is closed: the assistant answers again).
#[utoipa::path(
    get,
    path = "/v1/chat/{session_id}/messages",
    tag = "chat",
    params(("session_id" = String, Path, description = "The widget's conversation id"), After),
    responses(
        (status = 200, description = "Agents' messages and the open ticket", body = AgentMessages),
        (status = 422, description = "Not a session id", body = ErrorBody),
    )
)]
pub(super) async fn messages(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Query(after): Query<After>,
) -> Result<Json<AgentMessages>, ApiError> {
    check_session(&session)?;
    let engine = state.engine()?;
    let since = after.after;
    let (turns, ticket) = state
        .with_store(move |s| conversation::web_poll(s, &session, since))
        .await?;
    let lang = after.lang.as_deref().unwrap_or(PRIMARY_LANG);
    let view = conversation::web_view(&engine, turns, ticket.as_ref(), lang, Utc::now());
    let messages = view
        .messages
        .into_iter()
        .map(|m| AgentMessageView {
            id: m.id,
            author: Author::Agent,
            agent: m.agent,
            text: m.text,
            at: m.at,
            entry: m
                .entry
                .map(|(id, answer_sha256)| EntryRef { id, answer_sha256 }),
        })
        .collect();
    Ok(Json(AgentMessages {
        messages,
        ticket: view.ticket,
    }))
}

/// The person withdraws their request for a person ([`conversation::cancel`]): the
/// assistant answers again. Nothing to cancel is not an error.
#[utoipa::path(
    post,
    path = "/v1/chat/{session_id}/cancel",
    tag = "chat",
    params(("session_id" = String, Path, description = "The widget's conversation id"), After),
    responses(
        (status = 200, description = "Withdrawn, or nothing to withdraw", body = Cancelled),
        (status = 422, description = "Not a session id", body = ErrorBody),
    )
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Query(after): Query<After>,
) -> Result<Json<Cancelled>, ApiError> {
    check_session(&session)?;
    let engine = state.engine()?;
    let cancelled = state
        .with_store(move |s| conversation::cancel(s, &session, Utc::now()))
        .await?;
    if cancelled.is_some() {
        state.tickets_changed();
    }
    let (lang, set) = engine
        .corpus()
        .messages()
        .get(after.lang.as_deref().unwrap_or(PRIMARY_LANG));
    Ok(Json(Cancelled {
        cancelled: cancelled.is_some(),
        message: set.ticket_cancelled.clone(),
        lang: lang.to_string(),
    }))
}
