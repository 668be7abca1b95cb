//! The knowledge base for the counter and the phone (`ReadKnowledge`): search the way
//! residents ask (the engine's own outcome for the question, then the entries found by
//! its words), an entry's page, and the printable sheets. The engine runs behind the
//! in-flight limit and nothing is recorded: no conversation, no turn, no count.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;

use super::{ConsoleError, Page, Staff, area};
use crate::corpus::{Entry, Service};
use crate::engine::{AskContext, Question, QuestionError};
use crate::html::kb::{self, Assistant, Search};
use crate::http::AppState;
use crate::privacy::Redacted;
use crate::reply::Outcome;
use crate::staff::Action;

/// Most entries listed from the word search.
const MAX_HITS: usize = 30;

pub fn router(state: &AppState) -> Router<AppState> {
    area(
        state,
        Action::ReadKnowledge,
        Router::new()
            .route("/console/kb", get(search))
            .route("/console/kb/{id}", get(entry))
            .route("/console/kb/{id}/print", get(entry_print))
            .route("/console/kb/service/{service}/print", get(booklet)),
    )
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    service: String,
}

/// What the assistant would do, as entry indexes (computed on the blocking pool).
enum Found {
    Answer(usize),
    Clarify(Vec<usize>),
    Handoff(String),
}

/// A question typed in a console form, checked as the engine checks a message.
pub fn question(raw: &str) -> Result<Question, ConsoleError> {
    Question::parse(raw).map_err(|e| {
        ConsoleError::Invalid(match e {
            QuestionError::Empty => "La question est vide.".into(),
            QuestionError::TooLong => format!(
                "La question dépasse {} caractères.",
                crate::engine::MAX_MESSAGE_CHARS
            ),
        })
    })
}

async fn search(
    State(state): State<AppState>,
    me: Staff,
    Query(query): Query<SearchQuery>,
) -> Result<Page, ConsoleError> {
    let engine = state.engine()?;
    let corpus = engine.corpus();
    let service = match query.service.trim() {
        "" => None,
        key if corpus.services().contains(key) => Some(key.to_string()),
        _ => return Err(ConsoleError::Invalid("Ce service n'existe pas.".into())),
    };
    let in_service = |e: &Entry| service.as_deref().is_none_or(|s| e.service == s);
    let services: Vec<&Service> = corpus.services().iter().collect();
    let q = query.q.trim().to_string();
    let mut s = Search {
        q: &query.q,
        service: service.as_deref(),
        services,
        assistant: None,
        hits: Vec::new(),
        groups: Vec::new(),
    };
    if q.is_empty() {
        for svc in corpus.services().iter() {
            let entries: Vec<&Entry> = corpus
                .entries()
                .iter()
                .filter(|e| e.service == svc.key && in_service(e))
                .collect();
            if !entries.is_empty() {
                s.groups.push((svc, entries));
            }
        }
    } else {
        let question = question(&q)?;
        let (found, words) = state
            .with_engine(move |engine| {
                let asked = engine.ask(&Redacted::new(question.as_str()), &AskContext::now())?;
                let index = |id: &str| engine.corpus().index_of(id);
                let reply = asked.reply;
                let found = match reply.outcome {
                    Outcome::Answer => reply
                        .entry
                        .as_ref()
                        .and_then(|e| index(&e.id))
                        .map(Found::Answer),
                    Outcome::Clarify => Some(Found::Clarify(
                        reply
                            .options
                            .iter()
                            .flatten()
                            .filter_map(|o| index(&o.id))
                            .collect(),
                    )),
                    Outcome::Handoff => reply
                        .handoff
                        .as_ref()
                        .map(|h| Found::Handoff(h.contacts.service.clone())),
                };
                Ok::<_, crate::engine::EngineError>((found, engine.word_search(question.as_str())))
            })
            .await?
            .map_err(|e| crate::http::ApiError::Internal(e.to_string()))?;
        let answered = match &found {
            Some(Found::Answer(i)) => Some(*i),
            _ => None,
        };
        s.assistant = match found {
            Some(Found::Answer(i)) if in_service(corpus.entry(i)) => {
                Some(Assistant::Answer(corpus.entry(i)))
            }
            Some(Found::Clarify(options)) => {
                let options: Vec<&Entry> = options
                    .into_iter()
                    .map(|i| corpus.entry(i))
                    .filter(|e| in_service(e))
                    .collect();
                (!options.is_empty()).then_some(Assistant::Clarify(options))
            }
            Some(Found::Handoff(key)) => {
                Some(Assistant::Handoff(corpus.services().get_or_default(&key)))
            }
            _ => None,
        };
        s.hits = words
            .into_iter()
            .filter(|(i, _)| Some(*i) != answered)
            .map(|(i, _)| corpus.entry(i))
            .filter(|e| in_service(e))
            .take(MAX_HITS)
            .collect();
    }
    Ok(Page(kb::search_page(&me.chrome("/console/kb"), &s)))
}

fn find<'a>(
    engine: &'a crate::engine::Engine,
    id: &str,
) -> Result<(&'a Entry, &'a Service), ConsoleError> {
    let corpus = engine.corpus();
    let e = corpus
        .index_of(id)
        .map(|i| corpus.entry(i))
        .ok_or(ConsoleError::NotFound)?;
    Ok((e, corpus.services().get_or_default(&e.service)))
}

async fn entry(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> Result<Page, ConsoleError> {
    let engine = state.engine()?;
    let (e, service) = find(&engine, &id)?;
    let may_propose = crate::kb::may_for(me.account(), Action::ProposeKnowledge, &e.service);
    Ok(Page(kb::entry_page(
        &me.chrome("/console/kb"),
        e,
        service,
        chrono::Utc::now(),
        may_propose,
    )))
}

async fn entry_print(
    State(state): State<AppState>,
    _me: Staff,
    Path(id): Path<String>,
) -> Result<Page, ConsoleError> {
    let engine = state.engine()?;
    let (e, service) = find(&engine, &id)?;
    Ok(Page(kb::entry_print(e, service, engine.corpus().version())))
}

async fn booklet(
    State(state): State<AppState>,
    _me: Staff,
    Path(key): Path<String>,
) -> Result<Page, ConsoleError> {
    let engine = state.engine()?;
    let corpus = engine.corpus();
    let service = corpus.services().get(&key).ok_or(ConsoleError::NotFound)?;
    let entries: Vec<&Entry> = corpus
        .entries()
        .iter()
        .filter(|e| e.service == key)
        .collect();
    Ok(Page(kb::booklet_print(service, &entries, corpus.version())))
}
