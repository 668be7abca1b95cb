//! "Try it" (`TryAssistant`): a question through `Engine::ask` exactly as a resident's,
//! shown with its trace; and the coverage section (`SeeCoverage`): the report and the
//! batch probe. Nothing here goes through the conversation flow or the store's writes:
//! no turn, no ticket, no daily count.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::kb::question;
use super::{ConsoleError, Page, Staff, area};
use crate::coverage::{self, MAX_BATCH, Probe};
use crate::engine::AskContext;
use crate::html::console::page;
use crate::html::try_it::{self, Asked, Thresholds};
use crate::html::{self, html};
use crate::http::{ApiError, AppState};
use crate::privacy::Redacted;
use crate::staff::Action;

pub fn router(state: &AppState) -> Router<AppState> {
    area(
        state,
        Action::TryAssistant,
        Router::new().route("/console/try", get(try_page)),
    )
    .merge(area(
        state,
        Action::SeeCoverage,
        Router::new().route("/console/coverage", get(coverage_page)),
    ))
}

/// The coverage report and the batch probe: long jobs, under the slow timeout.
pub fn slow_router(state: &AppState) -> Router<AppState> {
    area(
        state,
        Action::SeeCoverage,
        Router::new()
            .route("/console/coverage/report", get(report))
            .route("/console/coverage/probe", post(probe)),
    )
}

#[derive(Debug, Deserialize)]
struct TryQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    lang: String,
}

async fn try_page(
    State(state): State<AppState>,
    me: Staff,
    Query(query): Query<TryQuery>,
) -> Result<Page, ConsoleError> {
    let engine = state.engine()?;
    let langs: Vec<&str> = engine.corpus().messages().languages().collect();
    let lang = query.lang.trim();
    if !lang.is_empty() && !langs.contains(&lang) {
        return Err(ConsoleError::Invalid(
            "Cette langue n'est pas proposée.".into(),
        ));
    }
    let thresholds = Thresholds {
        answer: engine.policy().answer_threshold(),
        clarify: engine.policy().clarify_threshold(),
    };
    let result = if query.q.trim().is_empty() {
        None
    } else {
        let question = question(&query.q)?;
        let ctx = AskContext {
            lang: (!lang.is_empty()).then(|| lang.to_string()),
            ..AskContext::now()
        };
        // The engine alone: `AppState::ask` is the same call behind the same limit, and
        // nothing on this path writes to the store.
        Some(state.ask(Redacted::new(question.as_str()), ctx).await?)
    };
    let asked = Asked {
        q: &query.q,
        lang,
        langs: langs.clone(),
    };
    Ok(Page(try_it::try_page(
        &me.chrome("/console/try"),
        &asked,
        result.as_ref().map(|a| (&a.reply, &a.trace)),
        &thresholds,
    )))
}

async fn coverage_page(me: Staff) -> Page {
    Page(try_it::coverage_page(&me.chrome("/console/coverage")))
}

#[derive(Debug, Deserialize)]
struct ReportQuery {
    days: Option<i64>,
}

async fn report(
    State(state): State<AppState>,
    me: Staff,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ConsoleError> {
    let report = crate::http::coverage::report_of(&state, query.days).await?;
    let body = html! {
        p.muted { (html::report::about(&report)) }
        (html::report::content(&report))
    };
    let chrome = me.chrome("/console/coverage");
    Ok(Page(page(&chrome, "Rapport de couverture de l'assistant", body)).into_response())
}

#[derive(Debug, Deserialize)]
struct ProbeForm {
    #[serde(default)]
    questions: String,
}

async fn probe(
    State(state): State<AppState>,
    me: Staff,
    Form(form): Form<ProbeForm>,
) -> Result<Response, ConsoleError> {
    // Numbered as typed, so a refused line is named by the line the person sees.
    let lines: Vec<(usize, &str)> = form
        .questions
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(ConsoleError::Invalid(
            "Écrivez au moins une question (une par ligne).".into(),
        ));
    }
    if lines.len() > MAX_BATCH {
        return Err(ConsoleError::Invalid(format!(
            "{} questions : c'est plus que les {MAX_BATCH} d'un test.",
            lines.len()
        )));
    }
    if let Some((n, _)) = lines.iter().find(|(_, l)| question(l).is_err()) {
        return Err(ConsoleError::Invalid(format!(
            "La question de la ligne {n} dépasse {} caractères.",
            crate::engine::MAX_MESSAGE_CHARS
        )));
    }
    let probes: Vec<Probe> = lines
        .into_iter()
        .map(|(_, l)| Probe {
            question: l.to_string(),
            expect: None,
        })
        .collect();
    let results = state
        .with_engine(move |engine| coverage::run(engine, &probes, Utc::now()))
        .await?
        .map_err(ApiError::from)?;
    let summary = coverage::summarise(&results);
    let chrome = me.chrome("/console/coverage");
    let body = html::probe::content(&results, &summary);
    Ok(Page(page(&chrome, "Test d'une liste de questions", body)).into_response())
}
