//! The messengers (Messenger, WhatsApp, Telegram, a generic signed webhook) and the one
//! flow they share: inbound message -> dedupe (for the messengers, with the message
//! queued in the [`inbox`]) -> conversation (hand-off state) -> `Engine::ask` -> store ->
//! platform messages (formatted, split) -> delivery.
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

use crate::corpus::PRIMARY_LANG;
use crate::engine::{AskContext, Engine, MAX_MESSAGE_CHARS, Question};
use crate::http::{ApiError, AppState};
use crate::privacy::Redacted;
use crate::reply::{HandoffReason, Outcome, Reply};
use crate::store::{Author, Channel, NewTicket, NewTurn, Route, Ticket};
use crate::text::detect_lang;

use self::format::Markup;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(meta::router())
        .merge(telegram::router())
        .merge(generic::router())
}

/// A message as a channel received it, before anything is stored.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    /// The platform's message id, for exactly-once processing. [`converse`] checks it;
    /// none: the web chat, and messages from the [`inbox`] (checked when queued).
    pub message_id: Option<String>,
    /// The platform's user, chat or session id; pseudonymised before it is stored.
    pub user: String,
    pub text: String,
    /// An option the person picked (an entry id) instead of typing.
    pub choice: Option<String>,
    pub lang: Option<String>,
    /// How to answer later (an agent's reply).
    pub route: Route,
}

/// What the flow decided for one inbound message.
#[derive(Debug, Clone)]
pub struct Handled {
    pub reply: Reply,
    /// The assistant's introduction, on the first reply of a conversation.
    pub greeting: Option<String>,
    pub conversation: i64,
    /// The ticket this message opened, if it did.
    pub ticket: Option<Ticket>,
    /// The conversation's ticket still open after this message (the one it opened, or
    /// one opened before): a person has, or will have, the conversation.
    pub active: Option<Ticket>,
}

/// How long a background message waits for a free engine slot before giving up.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs one inbound message through the flow. `None`: already processed (a retry).
/// Background callers are `patient`: they wait for a free slot instead of failing fast.
pub async fn converse(
    state: &AppState,
    inbound: Inbound,
    patient: bool,
) -> Result<Option<Handled>, ApiError> {
    let engine = state.engine()?;
    let now = Utc::now();
    let Inbound {
        channel,
        message_id,
        user,
        text,
        choice,
        lang,
        route,
    } = inbound;
    let chosen = choice
        .as_deref()
        .and_then(|id| engine.corpus().index_of(id));
    let question = match chosen {
        Some(_) => None,
        None => Some(Question::parse(&text)?),
    };
    let redacted = match (&question, &choice) {
        (Some(q), _) => Redacted::new(q.as_str()),
        (None, id) => Redacted::new(&format!(
            "{}{}",
            crate::store::OPTION_TURN_PREFIX,
            id.as_deref().unwrap_or_default()
        )),
    };
    let found = state
        .with_store(move |s| {
            if let Some(mid) = &message_id
                && !s.first_delivery(channel, mid, now)?
            {
                return Ok(None);
            }
            let external = s.pseudonym(channel, &user);
            let conversation = s.conversation(channel, &external, now)?;
            let active = s.active_ticket(conversation.id)?;
            Ok(Some((conversation, active)))
        })
        .await?;
    let Some((conversation, active)) = found else {
        tracing::debug!(channel = channel.as_str(), "already processed");
        return Ok(None);
    };
    let ctx = AskContext { lang, now };
    let first = conversation.turns == 0;

    // A ticket is open. On the web, the person is still in front of the widget: a
    // question the corpus answers gets its validated answer (the agent sees it in the
    // ticket). Otherwise, and on the messengers, the assistant only repeats how to reach
    // a person.
    if let Some(ticket) = active {
        let answered = if channel == Channel::Web {
            match (chosen, &question) {
                (Some(index), _) => {
                    let asked = ctx.lang.as_deref().unwrap_or(PRIMARY_LANG);
                    Some((chosen_reply(&engine, index, asked), None))
                }
                (None, Some(_)) => {
                    let asked =
                        ask_patiently(state, redacted.clone(), ctx.clone(), patient).await?;
                    (asked.reply.outcome == Outcome::Answer)
                        .then_some((asked.reply, Some(asked.trace)))
                }
                (None, None) => None,
            }
        } else {
            None
        };
        let (reply, trace) = match answered {
            Some(answer) => answer,
            None => (
                ticket_open_reply(&engine, &ticket, question.as_ref(), &ctx),
                None,
            ),
        };
        let turn = person_turn(redacted.clone(), &reply, trace.as_ref());
        let id = ticket.id;
        let active = state
            .with_store(move |s| {
                s.add_question(id, &redacted)?;
                s.record_turn(conversation.id, &turn, now)?;
                s.ticket(id)
            })
            .await?;
        tracing::info!(
            channel = channel.as_str(),
            ticket = id,
            outcome = ?reply.outcome,
            "ticket open: question added to it"
        );
        return Ok(Some(Handled {
            greeting: first.then(|| greeting(&engine, &reply.lang)),
            reply,
            conversation: conversation.id,
            ticket: None,
            active,
        }));
    }

    let (reply, trace) = match (chosen, question) {
        (Some(index), _) => {
            let asked = ctx.lang.as_deref().unwrap_or(PRIMARY_LANG);
            (chosen_reply(&engine, index, asked), None)
        }
        (None, Some(_)) => {
            let asked = ask_patiently(state, redacted.clone(), ctx, patient).await?;
            (asked.reply, Some(asked.trace))
        }
        (None, None) => unreachable!("a question or a valid choice"),
    };
    let turn = person_turn(redacted.clone(), &reply, trace.as_ref());
    let new_ticket = match reply.handoff.as_ref().map(|h| h.reason) {
        Some(HandoffReason::LowConfidence | HandoffReason::Requested) => {
            let h = reply.handoff.as_ref().expect("a hand-off reply");
            Some(NewTicket {
                channel,
                conversation: conversation.id,
                reason: serde_json::to_value(h.reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                question: redacted,
                candidates: trace
                    .as_ref()
                    .map(|t| t.candidates.iter().map(|c| c.id.clone()).collect())
                    .unwrap_or_default(),
                service: h.contacts.service.clone(),
                route,
            })
        }
        Some(HandoffReason::Empty | HandoffReason::TicketOpen) | None => None,
    };
    let ticket = state
        .with_store(move |s| {
            s.record_turn(conversation.id, &turn, now)?;
            new_ticket.map(|t| s.open_ticket(&t, now)).transpose()
        })
        .await?;
    if let Some(t) = &ticket {
        tracing::info!(channel = channel.as_str(), ticket = t.id, reason = %t.reason, "hand-off ticket opened");
        generic::announce(
            state,
            json!({ "event": "handoff.created", "ticket": t }),
            Some(t.id),
        );
    }
    Ok(Some(Handled {
        greeting: first.then(|| greeting(&engine, &reply.lang)),
        reply,
        conversation: conversation.id,
        active: ticket.clone(),
        ticket,
    }))
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

/// What the assistant says while a person has the conversation: how to reach them.
fn ticket_open_reply(
    engine: &Engine,
    ticket: &crate::store::Ticket,
    question: Option<&Question>,
    ctx: &AskContext,
) -> Reply {
    let asked_lang = ctx
        .lang
        .clone()
        .unwrap_or_else(|| detect_lang(question.map_or("", Question::as_str), PRIMARY_LANG));
    let service = engine.corpus().services().get_or_default(&ticket.service);
    engine.handoff(HandoffReason::TicketOpen, service, &asked_lang, ctx)
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
        .with_store(move |s| {
            let external = s.pseudonym(channel, &user);
            match s.find_conversation(channel, &external)? {
                Some(c) => s.active_ticket(c.id),
                None => Ok(None),
            }
        })
        .await?;
    if let Some(ticket) = ticket {
        return Ok(ticket_open_reply(&engine, &ticket, Some(&question), &ctx));
    }
    Ok(state
        .ask(Redacted::new(question.as_str()), ctx)
        .await?
        .reply)
}

fn greeting(engine: &Engine, lang: &str) -> String {
    engine.corpus().messages().get(lang).1.greeting.clone()
}

/// The answer to an option the person picked from a clarification.
pub fn chosen_reply(engine: &Engine, index: usize, lang: &str) -> Reply {
    engine.answer(index, lang)
}

fn person_turn(text: Redacted, reply: &Reply, trace: Option<&crate::engine::Trace>) -> NewTurn {
    NewTurn {
        author: Author::Person,
        text,
        outcome: Some(reply.outcome),
        entry_id: reply.entry.as_ref().map(|e| e.id.clone()),
        answer_sha256: reply.entry.as_ref().map(|e| e.answer_sha256.clone()),
        confidence: trace.map(|t| t.confidence),
        // Ids and numbers only: nothing the person wrote.
        scores: trace.map(|t| json!({ "margin": t.margin, "candidates": t.candidates })),
        agent: None,
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub text: String,
    pub choices: Vec<Choice>,
}

/// A button offering a validated question.
#[derive(Debug, Clone, PartialEq, Eq)]
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
