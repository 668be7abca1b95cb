//! The conversation flow and the rules of a ticket's life, in one place for every door
//! (the web chat, the messengers' webhooks, the agents' API): a person's message is
//! deduplicated, answered or met with how to reach a person, and may open a ticket; an
//! agent takes, answers and closes it; the person may cancel it.
//!
//! Synchronous and framework-free: callers run it on a blocking thread. Asking the engine
//! is the one slow step and sits behind the in-flight limit of the caller, so receiving a
//! message is split around it: [`prepare`] (no store), [`Prepared::lookup`] (the store),
//! the caller's `Engine::ask` of [`Pending::to_ask`], then [`Pending::finish`]. [`receive`]
//! chains them for a caller that holds the engine already. `Engine` builds every `Reply`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::corpus::PRIMARY_LANG;
use crate::engine::{AskContext, Asked, Engine, EngineError, Question, QuestionError, Trace};
use crate::privacy::Redacted;
use crate::reply::{HandoffReason, Outcome, Reply};
use crate::store::{
    Author, Channel, Claimant, ClosedBy, Conversation, Exchange, NewTicket, NewTurn, Route, Store,
    StoreError, Ticket, TicketStatus, TicketStep, TurnKind,
};
use crate::text::detect_lang;

/// Longest agent message accepted, in characters.
pub const MAX_REPLY_CHARS: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error(transparent)]
    Question(#[from] QuestionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the engine failed: {0}")]
    Engine(#[from] EngineError),
    #[error("the reply is empty")]
    EmptyReply,
    #[error("a reply is at most {MAX_REPLY_CHARS} characters")]
    ReplyTooLong,
    #[error("no served entry has the id {0:?}")]
    UnknownEntry(String),
}

/// A message as a channel received it, before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub channel: Channel,
    /// The platform's message id, for exactly-once processing. [`Prepared::lookup`]
    /// checks it; none: the web chat, and messages from the messengers' inbox (checked
    /// when queued).
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

/// A message read and redacted, not yet looked up.
#[derive(Debug, Clone)]
pub struct Prepared {
    channel: Channel,
    message_id: Option<String>,
    user: String,
    /// The served entry the person picked, if the choice names one.
    chosen: Option<usize>,
    /// What the person typed, when they did not pick a served option.
    question: Option<Question>,
    redacted: Redacted,
    ctx: AskContext,
    route: Route,
}

/// Reads a message: a picked option that names a served entry, else the text as a
/// question (an empty or over-long one is refused). What is stored is redacted here.
pub fn prepare(
    engine: &Engine,
    inbound: Inbound,
    now: DateTime<Utc>,
) -> Result<Prepared, QuestionError> {
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
    // A picked option is kept as its entry id (redacted like anything the person sent).
    let redacted = match (&question, &choice) {
        (Some(q), _) => Redacted::new(q.as_str()),
        (None, id) => Redacted::new(id.as_deref().unwrap_or_default()),
    };
    Ok(Prepared {
        channel,
        message_id,
        user,
        chosen,
        question,
        redacted,
        ctx: AskContext { lang, now },
        route,
    })
}

impl Prepared {
    /// Dedupes and finds the conversation and its open ticket. `None`: this message id
    /// was processed already (a platform's retry).
    pub fn lookup(self, store: &dyn Store) -> Result<Option<Pending>, StoreError> {
        let now = self.ctx.now;
        if let Some(mid) = &self.message_id
            && !store.first_delivery(self.channel, mid, now)?
        {
            tracing::debug!(channel = self.channel.as_str(), "already processed");
            return Ok(None);
        }
        let external = store.pseudonym(self.channel, &self.user);
        let conversation = store.conversation(self.channel, &external, now)?;
        let active = store.active_ticket(conversation.id)?;
        Ok(Some(Pending {
            message: self,
            conversation,
            active,
        }))
    }
}

/// A message whose conversation is known, waiting for the engine's answer if it needs one.
#[derive(Debug, Clone)]
pub struct Pending {
    message: Prepared,
    conversation: Conversation,
    active: Option<Ticket>,
}

impl Pending {
    /// The question the engine must answer before [`Pending::finish`], if any. While a
    /// ticket is open, only the web chat asks: the person is still in front of the
    /// widget, and a question the corpus answers gets its validated answer; on the
    /// messengers the assistant only repeats how to reach a person.
    pub fn to_ask(&self) -> Option<(Redacted, AskContext)> {
        let m = &self.message;
        let asks = self.active.is_none() || m.channel == Channel::Web;
        (asks && m.chosen.is_none() && m.question.is_some())
            .then(|| (m.redacted.clone(), m.ctx.clone()))
    }

    /// Decides the reply given the engine's answer to [`Pending::to_ask`] (`None` when it
    /// asked nothing), and what to record: the person's turn, and a ticket on a hand-off
    /// the person asked for or the assistant was not sure about. Nothing is recorded
    /// until [`Decided::commit`].
    ///
    /// # Panics
    /// When [`Pending::to_ask`] named a question and `asked` is none, with no ticket open:
    /// there is nothing to reply from.
    pub fn decide(self, engine: &Engine, asked: Option<Asked>) -> Decided {
        let Pending {
            message: m,
            conversation,
            active,
        } = self;
        let first = conversation.turns == 0;
        let asked_lang = m.ctx.lang.as_deref().unwrap_or(PRIMARY_LANG);
        let kind = if m.chosen.is_some() {
            TurnKind::Option
        } else {
            TurnKind::Message
        };

        if let Some(ticket) = active {
            let answered = match (m.chosen, asked) {
                _ if m.channel != Channel::Web => None,
                (Some(index), _) => Some((chosen_reply(engine, index, asked_lang), None)),
                (None, Some(asked)) => (asked.reply.outcome == Outcome::Answer)
                    .then_some((asked.reply, Some(asked.trace))),
                (None, None) => None,
            };
            let (reply, trace) = answered.unwrap_or_else(|| {
                (
                    ticket_open_reply(engine, &ticket, m.question.as_ref(), &m.ctx),
                    None,
                )
            });
            let turn = person_turn(kind, m.redacted, &reply, trace.as_ref());
            return Decided {
                greeting: first.then(|| greeting(engine, &reply.lang)),
                reply,
                channel: m.channel,
                now: m.ctx.now,
                exchange: Exchange {
                    conversation: conversation.id,
                    turn,
                    ticket: TicketStep::AddQuestion(ticket.id),
                    kept_reply: None,
                },
            };
        }

        let (reply, trace) = match (m.chosen, asked) {
            (Some(index), _) => (chosen_reply(engine, index, asked_lang), None),
            (None, Some(asked)) => (asked.reply, Some(asked.trace)),
            (None, None) => unreachable!("the engine is asked for every typed question"),
        };
        let turn = person_turn(kind, m.redacted.clone(), &reply, trace.as_ref());
        let step = match reply.handoff.as_ref() {
            Some(h)
                if matches!(
                    h.reason,
                    HandoffReason::LowConfidence | HandoffReason::Requested
                ) =>
            {
                TicketStep::Open(NewTicket {
                    channel: m.channel,
                    conversation: conversation.id,
                    reason: h.reason,
                    question: m.redacted,
                    candidates: trace
                        .as_ref()
                        .map(|t| t.candidates.iter().map(|c| c.id.clone()).collect())
                        .unwrap_or_default(),
                    service: h.contacts.service.clone(),
                    route: m.route,
                })
            }
            _ => TicketStep::None,
        };
        Decided {
            greeting: first.then(|| greeting(engine, &reply.lang)),
            reply,
            channel: m.channel,
            now: m.ctx.now,
            exchange: Exchange {
                conversation: conversation.id,
                turn,
                ticket: step,
                kept_reply: None,
            },
        }
    }

    /// [`Pending::decide`], then [`Decided::commit`] with no reply to keep.
    pub fn finish(
        self,
        engine: &Engine,
        store: &dyn Store,
        asked: Option<Asked>,
    ) -> Result<Handled, StoreError> {
        self.decide(engine, asked).commit(store, None)
    }
}

/// The reply decided for a message, and what recording it will change.
#[derive(Debug, Clone)]
pub struct Decided {
    pub reply: Reply,
    /// The assistant's introduction, on the first reply of a conversation.
    pub greeting: Option<String>,
    channel: Channel,
    now: DateTime<Utc>,
    exchange: Exchange,
}

impl Decided {
    /// Records the exchange in one transaction, with `kept_reply` (an inbox row and the
    /// platform messages that answer it) when the reply is delivered later: a crash
    /// leaves the turn, the ticket and the kept reply all recorded or none. The caller
    /// announces an opened ticket ([`Handled::ticket`]).
    pub fn commit(
        mut self,
        store: &dyn Store,
        kept_reply: Option<(i64, serde_json::Value)>,
    ) -> Result<Handled, StoreError> {
        self.exchange.kept_reply = kept_reply;
        let done = store.record_exchange(&self.exchange, self.now)?;
        // Counted once recorded: a replay of a kept reply records nothing, counts nothing.
        crate::telemetry::replied(self.channel, self.reply.outcome);
        match (&self.exchange.ticket, &done.opened) {
            (TicketStep::AddQuestion(id), _) => tracing::info!(
                channel = self.channel.as_str(),
                ticket = id,
                outcome = ?self.reply.outcome,
                "ticket open: question added to it"
            ),
            (_, Some(t)) => tracing::info!(
                channel = self.channel.as_str(),
                ticket = t.id,
                reason = t.reason.as_str(),
                "hand-off ticket opened"
            ),
            _ => {}
        }
        Ok(Handled {
            reply: self.reply,
            greeting: self.greeting,
            conversation: self.exchange.conversation,
            ticket: done.opened,
            active: done.active,
        })
    }
}

/// The whole of receiving a message, for a caller that may ask the engine where it runs.
/// `None`: already processed (a retry).
pub fn receive(
    engine: &Engine,
    store: &dyn Store,
    inbound: Inbound,
    now: DateTime<Utc>,
) -> Result<Option<Handled>, ConversationError> {
    let Some(pending) = prepare(engine, inbound, now)?.lookup(store)? else {
        return Ok(None);
    };
    let asked = match pending.to_ask() {
        Some((question, ctx)) => Some(engine.ask(&question, &ctx)?),
        None => None,
    };
    Ok(Some(pending.finish(engine, store, asked)?))
}

/// What the assistant says while a person has the conversation: how to reach them.
pub fn ticket_open_reply(
    engine: &Engine,
    ticket: &Ticket,
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

/// The open ticket of a person's conversation on `channel`, if they have one (nothing is
/// created: for a message answered again).
pub fn active_ticket_of(
    store: &dyn Store,
    channel: Channel,
    user: &str,
) -> Result<Option<Ticket>, StoreError> {
    let external = store.pseudonym(channel, user);
    match store.find_conversation(channel, &external)? {
        Some(c) => store.active_ticket(c.id),
        None => Ok(None),
    }
}

/// The assistant's introduction, in `lang`.
pub fn greeting(engine: &Engine, lang: &str) -> String {
    engine.corpus().messages().get(lang).1.greeting.clone()
}

/// The answer to an option the person picked from a clarification.
pub fn chosen_reply(engine: &Engine, index: usize, lang: &str) -> Reply {
    engine.answer(index, lang)
}

/// The served entry of a picked option, if `id` names one.
pub fn chosen(engine: &Engine, id: &str, lang: Option<&str>) -> Option<Reply> {
    let index = engine.corpus().index_of(id)?;
    Some(chosen_reply(engine, index, lang.unwrap_or(PRIMARY_LANG)))
}

fn person_turn(kind: TurnKind, text: Redacted, reply: &Reply, trace: Option<&Trace>) -> NewTurn {
    NewTurn {
        author: Author::Person,
        kind,
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

/// An agent takes a ticket. One another agent has is refused
/// ([`StoreError::AlreadyClaimed`], naming who has it): two agents never answer one
/// person at once.
pub fn take<'a>(
    store: &dyn Store,
    ticket: i64,
    by: impl Into<Claimant<'a>>,
    now: DateTime<Utc>,
) -> Result<Ticket, StoreError> {
    let ticket = store.claim_ticket(ticket, by.into(), now)?;
    tracing::info!(ticket = ticket.id, "ticket claimed");
    Ok(ticket)
}

/// An agent's message, recorded and ready to go back through the person's channel.
#[derive(Debug, Clone)]
pub struct AgentReply {
    /// The ticket after the reply (taken by the agent if it was not).
    pub ticket: Ticket,
    /// The text as stored and delivered: redacted, like everything that passes through
    /// the assistant (an agent who pastes a person's IBAN back does not put it in the
    /// store or on a platform).
    pub text: Redacted,
    /// Where to deliver it; none for a ticket without a route.
    pub route: Option<Route>,
}

/// Checks an agent's message: not empty, not over [`MAX_REPLY_CHARS`]; redacted.
pub fn agent_text(raw: &str) -> Result<Redacted, ConversationError> {
    let raw = raw.trim();
    if crate::text::is_blank(raw) {
        return Err(ConversationError::EmptyReply);
    }
    if raw.chars().count() > MAX_REPLY_CHARS {
        return Err(ConversationError::ReplyTooLong);
    }
    Ok(Redacted::new(raw))
}

/// An agent answers a ticket (taking it if nobody has it; refused if another agent has
/// it): the turn is recorded with the agent's name, and the caller delivers the text
/// through [`AgentReply::route`].
pub fn answer<'a>(
    store: &dyn Store,
    ticket: i64,
    by: impl Into<Claimant<'a>>,
    text: Redacted,
    now: DateTime<Utc>,
) -> Result<AgentReply, StoreError> {
    agent_turn(store, ticket, by.into(), text, None, now)
}

/// An agent sends a validated answer: entry `entry_id`'s text in `lang` when it has a
/// validated, current translation, else in its own language, byte for byte, exactly as
/// the assistant would serve it ([`Engine::entry_reply`]). The turn records the entry
/// and the served text's SHA-256, like the assistant's, and the agent's name.
pub fn answer_with_entry<'a>(
    store: &dyn Store,
    engine: &Engine,
    ticket: i64,
    by: impl Into<Claimant<'a>>,
    entry_id: &str,
    lang: &str,
    now: DateTime<Utc>,
) -> Result<(AgentReply, crate::reply::EntryReply), ConversationError> {
    let index = engine
        .corpus()
        .index_of(entry_id)
        .ok_or_else(|| ConversationError::UnknownEntry(entry_id.to_string()))?;
    let (entry, _) = engine.entry_reply(index, lang);
    let text = Redacted::validated(&entry.answer);
    let served = (entry.id.clone(), entry.answer_sha256.clone());
    let reply = agent_turn(store, ticket, by.into(), text, Some(served), now)?;
    tracing::info!(ticket, entry = %entry.id, "validated answer sent by an agent");
    Ok((reply, entry))
}

fn agent_turn(
    store: &dyn Store,
    ticket: i64,
    by: Claimant<'_>,
    text: Redacted,
    entry: Option<(String, String)>,
    now: DateTime<Utc>,
) -> Result<AgentReply, StoreError> {
    let ticket = store.take_for_reply(ticket, by, now)?;
    let (entry_id, answer_sha256) = entry.unzip();
    let turn = NewTurn {
        author: Author::Agent,
        kind: TurnKind::Message,
        text: text.clone(),
        outcome: None,
        entry_id,
        answer_sha256,
        confidence: None,
        scores: None,
        agent: ticket.claimed_by.clone(),
    };
    store.record_turn(ticket.conversation, &turn, now)?;
    Ok(AgentReply {
        route: ticket.route.clone(),
        ticket,
        text,
    })
}

/// An agent closes a ticket, with a note for colleagues (redacted, never sent to the
/// person): the assistant takes over again.
pub fn close(
    store: &dyn Store,
    ticket: i64,
    note: Option<&Redacted>,
    now: DateTime<Utc>,
) -> Result<Ticket, StoreError> {
    let mut ticket = store.resolve_ticket(ticket, ClosedBy::Agent, now)?;
    if let Some(note) = note.filter(|n| !n.as_str().trim().is_empty()) {
        store.note_ticket(ticket.id, note)?;
        ticket.note = Some(note.as_str().to_string());
    }
    tracing::info!(
        ticket = ticket.id,
        "ticket resolved: the assistant takes over"
    );
    Ok(ticket)
}

/// The id of the web conversation of `session`, if it has one.
fn web_conversation(store: &dyn Store, session: &str) -> Result<Option<i64>, StoreError> {
    let external = store.pseudonym(Channel::Web, session);
    Ok(store
        .find_conversation(Channel::Web, &external)?
        .map(|c| c.id))
}

/// The person withdraws their request for a person: the open ticket of their web
/// conversation is closed (by the person). Returns the ticket closed; none when there was
/// nothing to cancel (not an error: the widget may have missed that an agent closed it).
pub fn cancel(
    store: &dyn Store,
    session: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let Some(c) = web_conversation(store, session)? else {
        return Ok(None);
    };
    let Some(t) = store.active_ticket(c)? else {
        return Ok(None);
    };
    let cancelled = match store.resolve_ticket(t.id, ClosedBy::Person, now) {
        Ok(t) => Some(t.id),
        // Closed by an agent in between: nothing left to cancel.
        Err(StoreError::Conflict(_)) => None,
        Err(e) => return Err(e),
    };
    if let Some(id) = cancelled {
        tracing::info!(ticket = id, "ticket cancelled by the person");
    }
    Ok(cancelled)
}

/// What the widget shows of an open ticket: its state, who has it, whether anyone can
/// answer now, and the validated sentence that says so.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebTicket {
    pub status: TicketStatus,
    /// The agent's first name or role once taken (the corpus's `agent_label` when the
    /// integration that took it gave none); never an email.
    pub agent: Option<String>,
    /// Someone can answer now: an agent took it, or the service is open. When not, the
    /// person is told that nobody will answer here before it reopens.
    pub attended: bool,
    /// `ticket_waiting` or `ticket_unattended`, in `lang`.
    pub notice: String,
    pub lang: String,
}

impl WebTicket {
    pub fn of(engine: &Engine, ticket: &Ticket, lang: &str, now: DateTime<Utc>) -> Self {
        let (lang, messages) = engine.corpus().messages().get(lang);
        // An agent who took it is there, whatever the hours; else the service's hours say
        // whether anyone can.
        let attended = ticket.status == TicketStatus::Claimed
            || engine
                .corpus()
                .services()
                .get_or_default(&ticket.service)
                .is_open_at(now);
        Self {
            status: ticket.status,
            agent: (ticket.status == TicketStatus::Claimed).then(|| {
                ticket
                    .claimed_by
                    .clone()
                    .unwrap_or_else(|| messages.agent_label.clone())
            }),
            attended,
            notice: if attended {
                messages.ticket_waiting.clone()
            } else {
                messages.ticket_unattended.clone()
            },
            lang: lang.to_string(),
        }
    }
}

/// An agent's message as the widget shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentMessage {
    pub id: i64,
    /// The agent's name or role (the corpus's `agent_label` when none was given).
    pub agent: String,
    pub text: String,
    pub at: DateTime<Utc>,
    /// A validated answer the agent sent: its entry id and the text's SHA-256 (the widget
    /// renders it as it renders the assistant's answers).
    pub entry: Option<(String, String)>,
}

/// What the widget polls while a ticket is open: agents' messages after the message id
/// `after` (0: all), and the open ticket (none once closed: the assistant answers again).
#[derive(Debug, Clone)]
pub struct WebMessages {
    pub messages: Vec<AgentMessage>,
    pub ticket: Option<WebTicket>,
}

/// The store's part of [`web_messages`]: agents' turns after `after` and the open ticket.
pub fn web_poll(
    store: &dyn Store,
    session: &str,
    after: i64,
) -> Result<(Vec<crate::store::Turn>, Option<Ticket>), StoreError> {
    match web_conversation(store, session)? {
        Some(c) => Ok((
            store.turns_after(c, Some(Author::Agent), after)?,
            store.active_ticket(c)?,
        )),
        None => Ok((Vec::new(), None)),
    }
}

/// The web view of a poll, in `lang` (the widget's interface language).
pub fn web_view(
    engine: &Engine,
    turns: Vec<crate::store::Turn>,
    ticket: Option<&Ticket>,
    lang: &str,
    now: DateTime<Utc>,
) -> WebMessages {
    let (_, set) = engine.corpus().messages().get(lang);
    WebMessages {
        messages: turns
            .into_iter()
            .map(|t| AgentMessage {
                id: t.id,
                agent: t.agent.unwrap_or_else(|| set.agent_label.clone()),
                text: t.text,
                at: t.at,
                entry: t.entry_id.zip(t.answer_sha256),
            })
            .collect(),
        ticket: ticket.map(|t| WebTicket::of(engine, t, lang, now)),
    }
}

/// [`web_poll`] then [`web_view`].
pub fn web_messages(
    engine: &Engine,
    store: &dyn Store,
    session: &str,
    after: i64,
    lang: &str,
    now: DateTime<Utc>,
) -> Result<WebMessages, StoreError> {
    let (turns, ticket) = web_poll(store, session, after)?;
    Ok(web_view(engine, turns, ticket.as_ref(), lang, now))
}
