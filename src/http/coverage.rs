//! The agents' coverage routes, behind `Authorization: Bearer GUICHET_ADMIN_TOKEN` (404
//! without a token configured): `POST /v1/coverage` runs a batch of probes (never
//! recorded as traffic), `GET /v1/gaps?days=N` mines the unanswered questions of the store,
//! `GET /v1/report?days=N` is the page `guichet report` writes.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::handoffs::authorize;
use super::{ApiError, AppState};
use crate::coverage::{self, CoverageError, MAX_BATCH, Probe, gaps, report};
use crate::html::{self, Styles};

/// A full batch: 1,000 questions of up to 1,000 characters, with room for JSON.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Longest period gap mining and the report look back over.
const MAX_DAYS: i64 = report::MAX_DAYS as i64;

/// The quick routes, under the router's common timeout.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/gaps", get(list_gaps))
}

/// The long jobs (a batch of 1,000 probes; the report, which runs the self-test over
/// every phrasing), each holding one engine permit: [`super::router`] gives them a
/// timeout of their own, [`super::SLOW_TIMEOUT`].
pub fn slow_router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/coverage",
            post(probe).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)),
        )
        .route("/v1/report", get(report_page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoverageRequest {
    items: Vec<Probe>,
}

impl From<CoverageError> for ApiError {
    fn from(e: CoverageError) -> Self {
        match e {
            CoverageError::TooMany(got) => Self::TooManyItems {
                max: MAX_BATCH,
                got,
            },
            CoverageError::Question { .. } => Self::InvalidRequest(e.to_string()),
            CoverageError::Engine(e) => Self::Internal(e.to_string()),
        }
    }
}

async fn probe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CoverageRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let Json(request) = body?;
    coverage::validate(&request.items)?;
    let items = request.items;
    let count = items.len();
    let results = state
        .with_engine(move |engine| coverage::run(engine, &items, Utc::now()))
        .await??;
    let summary = coverage::summarise(&results);
    tracing::info!(
        items = count,
        passed = summary.passed,
        judged = summary.judged,
        "coverage batch"
    );
    Ok(Json(json!({ "summary": summary, "results": results })))
}

/// The period asked for, in days (30 when not given).
fn period_days(days: Option<i64>) -> Result<i64, ApiError> {
    let days = days.unwrap_or(30);
    if (1..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(ApiError::InvalidRequest(format!(
            "days must be between 1 and {MAX_DAYS}"
        )))
    }
}

#[derive(Debug, Deserialize)]
struct GapsQuery {
    days: Option<i64>,
    threshold: Option<f32>,
}

async fn list_gaps(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<GapsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let days = period_days(query.days)?;
    let threshold = query.threshold.unwrap_or(gaps::DEFAULT_THRESHOLD);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ApiError::InvalidRequest(
            "threshold must be between 0 and 1".into(),
        ));
    }
    let since = Utc::now() - Duration::days(days);
    let turns = state
        .with_store(move |s| s.unanswered_since(since, gaps::MAX_STORED))
        .await?;
    let asked: Vec<gaps::Asked> = turns.into_iter().map(gaps::Asked::from).collect();
    let questions = asked.len();
    let (found, for_a_person) = state
        .with_engine(move |engine| {
            gaps::mine(engine, &asked, threshold)
                .map(|found| (found, gaps::requests_for_a_person(engine, &asked)))
        })
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(questions, gaps = found.len(), "gaps mined");
    Ok(Json(json!({
        "days": days,
        "questions": questions,
        "requests_for_a_person": for_a_person,
        "gaps": found,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    days: Option<i64>,
}

/// The coverage report as one HTML page (admin only: it shows what people asked).
async fn report_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    // Inline: the file an agent saves opens anywhere (the console serves it linked).
    let page =
        html::report::page(&report_of(&state, query.days).await?, Styles::Inline).into_string();
    Ok((
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (
                CONTENT_SECURITY_POLICY,
                super::headers::INLINE_STYLE_CSP.as_str(),
            ),
        ],
        page,
    )
        .into_response())
}

/// The coverage report over the last `days` days (30 when not given): the page of
/// `GET /v1/report` and of the console's coverage section.
pub(crate) async fn report_of(
    state: &AppState,
    days: Option<i64>,
) -> Result<report::Report, ApiError> {
    let days = period_days(days)?;
    let now = Utc::now();
    let period = report::Period::last_days(days as u32, now);
    let since = period.since();
    let (traffic, unanswered) = state
        .with_store(move |s| {
            Ok((
                s.traffic_since(since)?,
                s.unanswered_since(since, gaps::MAX_STORED)?,
            ))
        })
        .await?;
    let corpus_dir = state.config.corpus.clone();
    let page = state
        .with_engine(move |engine| {
            report::assemble(
                engine,
                &corpus_dir,
                period,
                &traffic,
                &unanswered,
                gaps::DEFAULT_THRESHOLD,
                now,
            )
        })
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(page)
}
