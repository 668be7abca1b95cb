//! The messengers (Messenger, WhatsApp, Telegram, a generic signed webhook) and the one
//! flow they share: inbound message -> dedupe (for the messengers, with the message
//! queued in the [`inbox`]) -> [`conversation`](crate::conversation) (hand-off state,
//! `Engine::ask` behind the in-flight limit, store) -> platform messages (formatted,
//! split) -> delivery.
//!
//! Each platform module only verifies, parses and renders; the words sent are always the
//! reply's validated texts, and the pieces of a split message join back to them.

pub mod format;
pub mod generic;
pub mod inbox;
pub mod messenger;
pub mod meta;
pub mod outbound;
pub mod signature;
pub mod split;
pub mod telegram;
pub mod whatsapp;

use std::time::Duration;

use axum::Router;
use chrono::Utc;
use serde_json::json;

use crate::conversation;
use crate::engine::{AskContext, Engine, MAX_MESSAGE_CHARS, Question};
use crate::http::{ApiError, AppState};
use crate::privacy::Redacted;
use crate::reply::{Outcome, Reply};
use crate::store::{Channel, Route};

use self::format::Markup;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(meta::router())
        .merge(telegram::router())
        .merge(generic::router())
}

pub use crate::conversation::{Handled, Inbound};

/// How long a background message waits for a free engine slot before giving up.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs one inbound message through the [`conversation`](crate::conversation) flow.
/// `None`: already processed (a retry). Background callers are `patient`: they wait for
/// a free slot instead of failing fast.
pub async fn converse(
    state: &AppState,
    inbound: Inbound,
    patient: bool,
) -> Result<Option<Handled>, ApiError> {
    // Once more when the ticket closed meanwhile: nothing was kept, and the message is
    // then answered as the conversation now stands.
    let mut again = true;
    loop {
        match converse_then(state, inbound.clone(), patient, |_| Ok(((), None))).await {
            Err(ApiError::StoreUnavailable(why)) if again && why.ends_with(TICKET_CLOSED) => {
                again = false;
            }
            other => return Ok(other?.map(|(h, ())| h)),
        }
    }
}

/// Why an exchange failed because the ticket it was to join closed while it was decided.
const TICKET_CLOSED: &str = "the conversation's ticket closed while the message was answered";

/// [`converse`], then `then` on the store in the same blocking step as the turn is
/// recorded (the inbox keeps the reply there, so that no crash in between can make a
/// replay record the question twice).
pub async fn converse_then<T: Send + 'static>(
    state: &AppState,
    inbound: Inbound,
    patient: bool,
    then: impl FnOnce(
        &conversation::Decided,
    ) -> Result<(T, Option<(i64, serde_json::Value)>), crate::store::StoreError>
    + Send
    + 'static,
) -> Result<Option<(Handled, T)>, ApiError> {
    let engine = state.engine()?;
    let prepared = conversation::prepare(&engine, inbound, Utc::now())?;
    let Some(pending) = state.with_store(move |s| prepared.lookup(s)).await? else {
        return Ok(None);
    };
    let asked = match pending.to_ask() {
        Some((question, ctx)) => Some(ask_patiently(state, question, ctx, patient).await?),
        None => None,
    };
    let (handled, after) = state
        .with_store(move |s| {
            let decided = pending.decide(&engine, asked);
            let (after, kept) = then(&decided)?;
            let handled = decided.commit(s, kept).map_err(|e| match e {
                // The ticket this message was to join closed while it was answered (an
                // agent resolved it): nothing was kept, and asked again it is decided
                // anew, so it is a moment's conflict ([`converse`] tries again; else 503
                // with Retry-After), not a 404.
                crate::store::StoreError::NotFound => {
                    crate::store::StoreError::Busy(TICKET_CLOSED.into())
                }
                e => e,
            })?;
            Ok((handled, after))
        })
        .await?;
    if handled.active.is_some() {
        state.tickets_changed();
    }
    if let Some(t) = &handled.ticket {
        generic::announce(
            state,
            json!({ "event": "handoff.created", "ticket": t }),
            Some(t.id),
        );
    }
    Ok(Some((handled, after)))
}

/// Asks the engine; background callers retry while it is busy or still loading.
async fn ask_patiently(
    state: &AppState,
    question: Redacted,
    ctx: AskContext,
    patient: bool,
) -> Result<crate::engine::Asked, ApiError> {
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match state.ask(question.clone(), ctx.clone()).await {
            Err(ApiError::Busy | ApiError::NotReady) if patient && started.elapsed() < PATIENCE => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// The reply to a message already processed, asked again (a synchronous caller lost the
/// first response): the same answer, or the ticket-open message if a person has the
/// conversation now. Nothing is recorded.
pub async fn answer_again(
    state: &AppState,
    channel: Channel,
    user: &str,
    text: &str,
    lang: Option<String>,
) -> Result<Reply, ApiError> {
    let engine = state.engine()?;
    let question = Question::parse(text)?;
    let ctx = AskContext {
        lang,
        now: Utc::now(),
    };
    let user = user.to_string();
    let ticket = state
        .with_store(move |s| conversation::active_ticket_of(s, channel, &user))
        .await?;
    if let Some(ticket) = ticket {
        return Ok(conversation::ticket_open_reply(
            &engine,
            &ticket,
            Some(&question),
            &ctx,
        ));
    }
    Ok(state
        .ask(Redacted::new(question.as_str()), ctx)
        .await?
        .reply)
}

/// A platform's rendering rules.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub markup: Markup,
    /// Longest message, in UTF-16 units.
    pub limit: usize,
    /// Options are listed as "1. question" in the text, with buttons "1", "2"...
    /// (platforms whose buttons are too short for a whole question).
    pub numbered: bool,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outgoing {
    pub text: String,
    pub choices: Vec<Choice>,
}

/// A button offering a validated question.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    pub label: String,
    pub entry_id: String,
}

fn pieces(text: &str, limit: usize) -> Vec<Outgoing> {
    split::split(text, limit)
        .into_iter()
        .map(|p| Outgoing {
            text: p.to_string(),
            choices: Vec::new(),
        })
        .collect()
}

/// The messages that carry `reply` (and the greeting) on a platform.
pub fn compose(
    engine: &Engine,
    reply: &Reply,
    greeting: Option<&str>,
    style: Style,
) -> Vec<Outgoing> {
    let mut out = Vec::new();
    if let Some(g) = greeting {
        out.extend(pieces(g, style.limit));
    }
    let (_, messages) = engine.corpus().messages().get(&reply.lang);
    match reply.outcome {
        Outcome::Answer => {
            // A notice about the text served (its translation is being validated again).
            if let Some(m) = &reply.message {
                out.extend(pieces(m, style.limit));
            }
            if let Some(e) = &reply.entry {
                out.extend(pieces(
                    &format::render(&e.answer, style.markup),
                    style.limit,
                ));
            }
        }
        Outcome::Clarify => {
            let options = reply.options.as_deref().unwrap_or_default();
            let mut text = reply.message.clone().unwrap_or_default();
            if style.numbered {
                text.push('\n');
                for (i, o) in options.iter().enumerate() {
                    text.push_str(&format!("\n{}. {}", i + 1, o.question));
                }
            }
            let mut msgs = pieces(&text, style.limit);
            if let Some(last) = msgs.last_mut() {
                last.choices = options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| Choice {
                        label: if style.numbered {
                            (i + 1).to_string()
                        } else {
                            o.question.clone()
                        },
                        entry_id: o.id.clone(),
                    })
                    .collect();
            }
            out.extend(msgs);
        }
        Outcome::Handoff => {
            if let Some(h) = &reply.handoff {
                let c = &h.contacts;
                let mut text = h.message.clone();
                for also in &h.also {
                    text.push_str("\n\n");
                    text.push_str(&also.message);
                }
                text.push_str("\n\n");
                text.push_str(&c.name);
                for line in [&c.phone, &c.email, &c.address, &c.web]
                    .into_iter()
                    .flatten()
                {
                    text.push('\n');
                    text.push_str(line);
                }
                text.push('\n');
                text.push_str(if c.open_now {
                    &messages.open_now
                } else {
                    &messages.closed_now
                });
                out.extend(pieces(&text, style.limit));
            }
        }
    }
    out
}

/// A message from a platform, taken whole: an over-long one is cut to what the engine
/// reads (the person still gets an answer rather than an error they cannot see).
pub fn clip(text: &str) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

fn style_of(route: &Route) -> Style {
    match route {
        Route::Messenger { .. } => messenger::STYLE,
        Route::Whatsapp { .. } => whatsapp::STYLE,
        Route::Telegram { .. } => telegram::STYLE,
        Route::Web | Route::Generic { .. } => Style {
            markup: Markup::Plain,
            limit: usize::MAX,
            numbered: false,
        },
    }
}

/// An agent's message as the platform of `route` carries it: split, nothing else.
pub fn agent_messages(route: &Route, text: &str) -> Vec<Outgoing> {
    pieces(text, style_of(route).limit)
}

/// Delivers an agent's reply through the person's channel (the web widget polls the
/// store, where the turn is already): the agents' API and the console share it. False
/// when it could not be delivered, or the ticket has no route.
pub async fn deliver_agent_reply(state: &AppState, answered: &conversation::AgentReply) -> bool {
    let id = answered.ticket.id;
    let delivered = match &answered.route {
        Some(route) => {
            let msgs = agent_messages(route, answered.text.as_str());
            deliver(state, route, &msgs, Some(id)).await.is_ok()
        }
        None => false,
    };
    tracing::info!(ticket = id, delivered, "agent reply");
    delivered
}

/// Sends messages through the platform of `route`, in order; stops at the first that
/// cannot be delivered (sending the rest would garble the answer).
pub async fn deliver(
    state: &AppState,
    route: &Route,
    msgs: &[Outgoing],
    ticket: Option<i64>,
) -> Result<(), outbound::SendFailure> {
    for m in msgs {
        match route {
            Route::Messenger { psid } => messenger::send(state, psid, m, ticket).await?,
            Route::Whatsapp {
                phone_number_id,
                to,
            } => whatsapp::send(state, phone_number_id, to, m, ticket).await?,
            Route::Telegram { chat_id } => telegram::send(state, *chat_id, m, ticket).await?,
            Route::Generic { conversation_id } => {
                generic::send_agent_reply(state, conversation_id, m, ticket).await?
            }
            // The widget polls the store; the caller stored the message.
            Route::Web => {}
        }
    }
    Ok(())
}

/// What the webhook fuzz harnesses share: JSON documents made of the platforms' own
/// field names, so that arbitrary values reach past the first type check.
#[cfg(test)]
pub(crate) mod fuzzing {
    use proptest::prelude::*;
    use serde_json::Value;

    /// Cases per webhook harness: seconds in a debug build.
    pub const CASES: u32 = 512;

    pub fn json_like(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "(?s).{0,20}".prop_map(Value::String),
            proptest::sample::select(keys).prop_map(|k| Value::String(k.to_string())),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((proptest::sample::select(keys), inner), 0..6).prop_map(
                    |fields| {
                        Value::Object(
                            fields
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect(),
                        )
                    }
                ),
            ]
        })
        .boxed()
    }

    /// Arbitrary bytes, JSON-like documents, and those documents cut anywhere.
    pub fn bodies(keys: &'static [&'static str]) -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            json_like(keys).prop_map(|v| v.to_string().into_bytes()),
            (json_like(keys), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
                let mut b = v.to_string().into_bytes();
                b.truncate(cut.index(b.len() + 1));
                b
            }),
        ]
        .boxed()
    }

    /// Message texts as people send them, long ones included.
    pub fn text() -> BoxedStrategy<String> {
        prop_oneof!["(?s).{0,80}", "[a-zé ]{0,10}".prop_map(|s| s.repeat(150)),].boxed()
    }
}
