//! The agents' inbox: the tickets waiting, live (a server-sent event stream that sends
//! the list again whenever it changes), one ticket's page, and the actions on it (take,
//! reply, send a validated answer, close). Every action goes through
//! [`conversation`](crate::conversation), is delivered like the agents' API does
//! ([`deliver_agent_reply`]), is audited, and ends with a 303 back to the ticket.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::{ConsoleError, Page, Staff, area};
use crate::channels::deliver_agent_reply;
use crate::conversation::{self, ConversationError};
use crate::corpus::PRIMARY_LANG;
use crate::engine::{Engine, Question};
use crate::html::console::titled;
use crate::html::inbox::{Can, Found, TicketView, inbox_body, inbox_list, ticket_body};
use crate::http::{ApiError, AppState};
use crate::privacy::Redacted;
use crate::staff::{self, Action};
use crate::store::{Store, StoreError, Ticket, TicketStatus};
use crate::text::detect_lang;

/// How often a live inbox looks at the store (changes made by another replica).
const POLL: Duration = Duration::from_secs(2);
/// The list is sent again at least this often, so that waiting times stay right.
const REFRESH: Duration = Duration::from_secs(60);
/// A stream ends after this long; the browser reconnects through the guard, which checks
/// the session again (a signed-out agent's inbox stops).
const STREAM_LIFE: Duration = Duration::from_secs(300);
/// Validated answers offered for a search on the ticket page.
const FOUND: usize = 5;

pub fn router(state: &AppState) -> Router<AppState> {
    area(
        state,
        Action::SeeInbox,
        Router::new()
            .route("/console/inbox", get(inbox))
            .route("/console/inbox/events", get(events))
            .route("/console/tickets/{id}", get(ticket)),
    )
    .merge(area(
        state,
        Action::HandleTicket,
        Router::new()
            .route("/console/tickets/{id}/take", post(take))
            .route("/console/tickets/{id}/reply", post(reply))
            .route("/console/tickets/{id}/send-entry", post(send_entry))
            .route("/console/tickets/{id}/close", post(close)),
    ))
}

/// Open and claimed tickets, oldest first.
fn waiting(store: &dyn Store) -> Result<Vec<Ticket>, StoreError> {
    let mut all = store.tickets(Some(TicketStatus::Open))?;
    all.extend(store.tickets(Some(TicketStatus::Claimed))?);
    all.sort_by_key(|t| (t.created_at, t.id));
    Ok(all)
}

fn open_count(tickets: &[Ticket]) -> usize {
    tickets
        .iter()
        .filter(|t| t.status == TicketStatus::Open)
        .count()
}

async fn inbox(State(state): State<AppState>, me: Staff) -> Result<Response, ConsoleError> {
    let engine = state.engine()?;
    let tickets = state.with_store(waiting).await?;
    let doc_title = format!("({}) Demandes", open_count(&tickets));
    let body = inbox_body(&engine, &tickets, Utc::now());
    Ok(Page(titled(
        &me.chrome("/console/inbox"),
        &doc_title,
        "Demandes",
        body,
    ))
    .into_response())
}

/// What makes the list change: which tickets, their state, who has them, how many
/// messages.
type Fingerprint = Vec<(i64, TicketStatus, Option<String>, usize)>;

fn fingerprint(tickets: &[Ticket]) -> Fingerprint {
    tickets
        .iter()
        .map(|t| (t.id, t.status, t.claimed_by.clone(), t.questions.len()))
        .collect()
}

struct Live {
    state: AppState,
    wake: tokio::sync::watch::Receiver<u64>,
    last: Option<(Fingerprint, tokio::time::Instant)>,
    until: tokio::time::Instant,
}

impl Live {
    /// The next list to send: at once on connecting, then when it changes (polled every
    /// [`POLL`], or woken by this process), or after [`REFRESH`]. `None`: the stream
    /// has lived its time, or the server stops.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.last.is_some() {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = self.wake.changed() => {}
                    () = self.state.stopping.cancelled() => return None,
                }
            }
            if tokio::time::Instant::now() >= self.until || self.state.stopping.is_cancelled() {
                return None;
            }
            let (Ok(engine), Ok(tickets)) =
                (self.state.engine(), self.state.with_store(waiting).await)
            else {
                // The store or the engine is not there for now: try again at the next tick.
                self.last
                    .get_or_insert((Vec::new(), tokio::time::Instant::now()));
                continue;
            };
            let print = fingerprint(&tickets);
            let due = match &self.last {
                None => true,
                Some((seen, at)) => *seen != print || at.elapsed() >= REFRESH,
            };
            if due {
                self.last = Some((print, tokio::time::Instant::now()));
                let html = inbox_list(&engine, &tickets, Utc::now()).into_string();
                return Some(
                    Event::default()
                        .event("inbox")
                        .retry(Duration::from_secs(3))
                        .data(html),
                );
            }
        }
    }
}

/// `GET /console/inbox/events`: the list, server-rendered (escaped by maud), as an
/// `inbox` event each time it changes. Not buffered nor cached by a reverse proxy.
async fn events(State(state): State<AppState>, _me: Staff) -> impl IntoResponse {
    let live = Live {
        wake: state.watch_tickets(),
        state,
        last: None,
        until: tokio::time::Instant::now() + STREAM_LIFE,
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        live.next().await.map(|e| (Ok::<_, Infallible>(e), live))
    });
    (
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}

#[derive(Debug, Default, Deserialize)]
struct TicketQuery {
    /// A knowledge base search typed on the page.
    q: Option<String>,
    /// The action just done, for the status notice.
    fait: Option<String>,
}

fn notice_of(done: &str) -> Option<&'static str> {
    Some(match done {
        "prise" => "Vous avez pris la demande : la personne voit qu'un agent s'en occupe.",
        "envoye" => "Message envoyé à la personne.",
        "reponse" => "Réponse validée envoyée à la personne, mot pour mot.",
        "non-remis" => {
            "Message enregistré, mais la plateforme de la personne ne l'a pas accepté : \
             réessayez, ou passez par les coordonnées du service."
        }
        "close" => "Demande close : l'assistant reprend la conversation.",
        _ => return None,
    })
}

/// The language the person wrote in, from their messages (French when unsure).
fn lang_of(ticket: &Ticket) -> String {
    detect_lang(&ticket.questions.join(" "), PRIMARY_LANG)
}

fn can(me: &Staff, ticket: &Ticket) -> Can {
    if !me.account().may(Action::HandleTicket) {
        return Can::Read;
    }
    match ticket.status {
        TicketStatus::Resolved => Can::Read,
        TicketStatus::Open => Can::Take,
        TicketStatus::Claimed if ticket.claimed_staff == Some(me.account().id) => Can::Answer,
        TicketStatus::Claimed => Can::Other,
    }
}

/// The engine's own retrieval for the search box: the best entries for what the agent
/// typed, in the person's language when validated in it.
fn search(engine: &Engine, q: &str, lang: &str) -> Result<Vec<Found>, ApiError> {
    let ranked = engine
        .retrieve(q)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ranked
        .into_iter()
        .take(FOUND)
        .map(|c| Found {
            entry: engine.entry_reply(c.entry, lang).0,
        })
        .collect())
}

async fn ticket(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
    Query(query): Query<TicketQuery>,
) -> Result<Response, ConsoleError> {
    let engine = state.engine()?;
    let (ticket, turns) = state
        .with_store(move |s| {
            let t = s.ticket(id)?.ok_or(StoreError::NotFound)?;
            let turns = s.turns_after(t.conversation, None, 0)?;
            Ok((t, turns))
        })
        .await
        .map_err(|e| match e {
            ApiError::NotFound => ConsoleError::NotFound,
            e => e.into(),
        })?;
    let lang = lang_of(&ticket);
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| {
            Question::parse(q)
                .map_err(|e| ConsoleError::Invalid(format!("Recherche refusée : {e}.")))
        })
        .transpose()?;
    let found = match &q {
        Some(q) => {
            let (q, l) = (q.as_str().to_string(), lang.clone());
            state.with_engine(move |e| search(e, &q, &l)).await??
        }
        None => Vec::new(),
    };
    let chrome = me.chrome("/console/inbox");
    let view = TicketView {
        engine: &engine,
        ticket: &ticket,
        turns: &turns,
        now: Utc::now(),
        can: can(&me, &ticket),
        csrf: &chrome.csrf,
        notice: query.fait.as_deref().and_then(notice_of),
        query: q.as_ref().map(Question::as_str),
        found: &found,
        lang: &lang,
    };
    let title = format!("Demande n° {}", ticket.id);
    Ok(Page(titled(&chrome, &title, &title, ticket_body(&view))).into_response())
}

fn back(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/console/tickets/{id}?fait={done}#statut")).into_response()
}

fn not_found(e: ApiError) -> ConsoleError {
    match e {
        ApiError::NotFound => ConsoleError::NotFound,
        e => e.into(),
    }
}

async fn take(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let (account, actor) = (me.account().clone(), me.actor());
    state
        .with_store(move |s| {
            let now = Utc::now();
            let t = conversation::take(s, id, &account, now)?;
            staff::audit(
                s,
                &actor,
                "ticket.claim",
                Some(&t.id.to_string()),
                None,
                now,
            )?;
            Ok(t)
        })
        .await
        .map_err(not_found)?;
    state.tickets_changed();
    Ok(back(id, "prise"))
}

#[derive(Debug, Deserialize)]
struct ReplyForm {
    #[serde(default)]
    text: String,
}

fn refused(e: ConversationError) -> ConsoleError {
    match e {
        ConversationError::EmptyReply => ConsoleError::Invalid("Le message est vide.".into()),
        ConversationError::ReplyTooLong => ConsoleError::Invalid(format!(
            "Un message fait au plus {} caractères.",
            conversation::MAX_REPLY_CHARS
        )),
        ConversationError::UnknownEntry(id) => ConsoleError::Invalid(format!(
            "La réponse {id} n'est pas (ou plus) dans la base validée."
        )),
        e => not_found(e.into()),
    }
}

async fn reply(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, ConsoleError> {
    let text = conversation::agent_text(&form.text).map_err(refused)?;
    let (account, actor) = (me.account().clone(), me.actor());
    let answered = state
        .with_store(move |s| {
            let now = Utc::now();
            let a = conversation::answer(s, id, &account, text, now)?;
            staff::audit(s, &actor, "ticket.reply", Some(&id.to_string()), None, now)?;
            Ok(a)
        })
        .await
        .map_err(not_found)?;
    state.tickets_changed();
    let delivered = deliver_agent_reply(&state, &answered).await;
    Ok(back(id, if delivered { "envoye" } else { "non-remis" }))
}

#[derive(Debug, Deserialize)]
struct EntryForm {
    entry: String,
    #[serde(default)]
    lang: String,
}

async fn send_entry(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
    Form(form): Form<EntryForm>,
) -> Result<Response, ConsoleError> {
    let engine = state.engine()?;
    let lang = if form.lang.len() == 2 && form.lang.bytes().all(|b| b.is_ascii_lowercase()) {
        form.lang
    } else {
        PRIMARY_LANG.to_string()
    };
    let (account, actor) = (me.account().clone(), me.actor());
    let entry = form.entry;
    let answered = state
        .with_store(move |s| {
            let now = Utc::now();
            let result =
                conversation::answer_with_entry(s, &engine, id, &account, &entry, &lang, now);
            match result {
                Ok((a, served)) => {
                    staff::audit(
                        s,
                        &actor,
                        "ticket.answer",
                        Some(&id.to_string()),
                        Some(&served.id),
                        now,
                    )?;
                    Ok(Ok(a))
                }
                Err(ConversationError::Store(e)) => Err(e),
                Err(e) => Ok(Err(e)),
            }
        })
        .await
        .map_err(not_found)?
        .map_err(refused)?;
    state.tickets_changed();
    let delivered = deliver_agent_reply(&state, &answered).await;
    Ok(back(id, if delivered { "reponse" } else { "non-remis" }))
}

#[derive(Debug, Deserialize)]
struct CloseForm {
    #[serde(default)]
    note: String,
}

async fn close(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
    Form(form): Form<CloseForm>,
) -> Result<Response, ConsoleError> {
    let note = form.note.trim();
    if note.chars().count() > 2000 {
        return Err(ConsoleError::Invalid(
            "Une note fait au plus 2000 caractères.".into(),
        ));
    }
    let note = (!note.is_empty()).then(|| Redacted::new(note));
    let actor = me.actor();
    state
        .with_store(move |s| {
            let now = Utc::now();
            let t = conversation::close(s, id, note.as_ref(), now)?;
            let detail = t.note.as_ref().map(|_| "avec une note");
            staff::audit(
                s,
                &actor,
                "ticket.close",
                Some(&id.to_string()),
                detail,
                now,
            )?;
            Ok(t)
        })
        .await
        .map_err(not_found)?;
    state.tickets_changed();
    Ok(back(id, "close"))
}
