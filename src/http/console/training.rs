//! The training loop in the console: questions residents asked that were not answered,
//! grouped by meaning per service; an editor attaches them as alternates of an entry,
//! drafts a new entry from them, or dismisses them as out of scope, and each decision is
//! kept as a label for `guichet calibrate --from-store`. The rules are in
//! [`crate::training`] and [`crate::kb`]; every action mines the groups again and acts only
//! on questions the page shows this account (never on what the form claims).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Duration, Local, Utc};
use serde::Deserialize;

use super::{ConsoleError, Page, Staff, area, page_response, signed_in};
use crate::coverage::gaps::{self, Asked};
use crate::html::training::{self as pages, Listing};
use crate::http::{ApiError, AppState};
use crate::kb::{self, KbError};
use crate::staff::{self, Account, Action};
use crate::training::{self, Creation, Group, Near, TrainingError};

/// The period shown when none is asked for, and the longest one.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = crate::coverage::report::MAX_DAYS as i64;
/// Entries listed from a word search on the choice page.
const MAX_HITS: usize = 10;

pub fn router(state: &AppState) -> Router<AppState> {
    // Editors and validators read the page (two roles, so the handler checks them);
    // only editors act.
    signed_in(
        state,
        Router::new().route("/console/training", get(listing)),
    )
    .merge(area(
        state,
        Action::ProposeKnowledge,
        Router::new()
            .route("/console/training/attach/choose", post(choose))
            .route("/console/training/attach", post(attach))
            .route("/console/training/create/form", post(create_form))
            .route("/console/training/create", post(create))
            .route("/console/training/dismiss", post(dismiss)),
    ))
}

fn period(days: Option<i64>) -> Result<i64, ConsoleError> {
    let days = days.unwrap_or(DEFAULT_DAYS);
    if (1..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(ConsoleError::Invalid(format!(
            "La période va de 1 à {MAX_DAYS} jours."
        )))
    }
}

/// The groups of the last `days` days (labelled questions left out), and how many
/// unanswered questions the store held.
async fn mined(state: &AppState, days: i64) -> Result<(Vec<Group>, usize), ConsoleError> {
    let since = Utc::now() - Duration::days(days);
    let (turns, labels) = state
        .with_store(move |s| Ok((s.unanswered_since(since, gaps::MAX_STORED)?, s.kb_labels()?)))
        .await?;
    let asked: Vec<Asked> = turns.into_iter().map(Asked::from).collect();
    let n = asked.len();
    let groups = state
        .with_engine(move |engine| {
            training::groups(engine, &asked, &labels, gaps::DEFAULT_THRESHOLD)
        })
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((groups, n))
}

fn services_of(state: &AppState) -> Result<Vec<(String, String)>, ConsoleError> {
    Ok(state
        .engine()?
        .corpus()
        .services()
        .iter()
        .map(|s| (s.key.clone(), s.name.clone()))
        .collect())
}

/// A training error as the page an editor reads (French, with the status it deserves).
fn refused(e: TrainingError) -> Response {
    let (status, text) = match e {
        TrainingError::Forbidden(m) | TrainingError::Kb(KbError::Forbidden(m)) => {
            (StatusCode::FORBIDDEN, m)
        }
        TrainingError::Refused(m)
        | TrainingError::Kb(KbError::Refused(m))
        | TrainingError::Kb(KbError::NotFound(m)) => (StatusCode::UNPROCESSABLE_ENTITY, m),
        e @ (TrainingError::Kb(KbError::Invalid(_)) | TrainingError::Edit(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        other => return ConsoleError::Api(ApiError::Internal(other.to_string())).into_response(),
    };
    page_response(status, "Action refusée", &text)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    days: Option<i64>,
    /// How many questions were just dismissed (after the redirect).
    ecartees: Option<usize>,
}

async fn listing(
    State(state): State<AppState>,
    me: Staff,
    Query(query): Query<ListQuery>,
) -> Result<Page, ConsoleError> {
    let account = me.account();
    if !(account.may(Action::ProposeKnowledge) || account.may(Action::ValidateKnowledge)) {
        return Err(ConsoleError::Forbidden);
    }
    let days = period(query.days)?;
    let (groups, asked) = mined(&state, days).await?;
    let services = services_of(&state)?;
    let editor_of = |service: Option<&str>| {
        account.may(Action::ProposeKnowledge)
            && service.is_none_or(|s| account.services.iter().any(|m| m == s))
    };
    let listing = Listing {
        days,
        services: &services,
        groups: groups.iter().filter(|g| g.visible_to(account)).collect(),
        editor_of: &editor_of,
        asked,
        notice: query
            .ecartees
            .map(|n| format!("{n} question(s) écartée(s) : elles iront à un agent, comme avant.")),
    };
    Ok(Page(pages::listing(
        &me.chrome("/console/training"),
        &listing,
    )))
}

/// A console form with repeated fields (`q` once per question).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &Bytes) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn days(&self) -> Result<i64, ConsoleError> {
        let days = match self.one("days").map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => Some(
                d.parse::<i64>()
                    .map_err(|_| ConsoleError::Invalid("La période n'est pas un nombre.".into()))?,
            ),
            None => None,
        };
        period(days)
    }
}

/// The group the form's questions belong to, as the page shows it to this account now,
/// and the questions as stored.
async fn picked(
    state: &AppState,
    account: &Account,
    fields: &Fields,
) -> Result<Result<(Group, Vec<String>, i64), Response>, ConsoleError> {
    let days = fields.days()?;
    let (groups, _) = mined(state, days).await?;
    Ok(match training::chosen(&groups, account, &fields.all("q")) {
        Ok((group, questions)) => Ok((group.clone(), questions, days)),
        Err(e) => Err(refused(e)),
    })
}

/// Runs a training action on the blocking pool.
async fn blocking<T, F>(state: &AppState, f: F) -> Result<Result<T, TrainingError>, ConsoleError>
where
    F: FnOnce(&dyn crate::store::Store) -> Result<T, TrainingError> + Send + 'static,
    T: Send + 'static,
{
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| ConsoleError::Api(ApiError::Internal(format!("training task failed: {e}"))))
}

async fn choose(
    State(state): State<AppState>,
    me: Staff,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let fields = Fields::parse(&body);
    let (group, questions, days) = match picked(&state, me.account(), &fields).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let account = me.account().clone();
    let mine = |e: &Near| kb::may_for(&account, Action::ProposeKnowledge, &e.service);
    let nearest: Vec<Near> = group.nearest.iter().filter(|e| mine(e)).cloned().collect();
    let search = fields.one("search").unwrap_or("").trim().to_string();
    let hits: Vec<Near> = if search.is_empty() {
        Vec::new()
    } else {
        let words = super::kb::question(&search)?;
        let engine = state.engine()?;
        let corpus = engine.corpus();
        engine
            .word_search(words.as_str())
            .into_iter()
            .map(|(i, score)| {
                let e = corpus.entry(i);
                Near {
                    id: e.id.to_string(),
                    question: e.question.clone(),
                    service: e.service.clone(),
                    score,
                }
            })
            .filter(|e| mine(e) && !nearest.iter().any(|n| n.id == e.id))
            .take(MAX_HITS)
            .collect()
    };
    let services = services_of(&state)?;
    Ok(Page(pages::choose(
        &me.chrome("/console/training"),
        &services,
        &questions,
        days,
        &nearest,
        &search,
        &hits,
    ))
    .into_response())
}

async fn attach(
    State(state): State<AppState>,
    me: Staff,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let fields = Fields::parse(&body);
    let Some(entry) = fields
        .one("entry")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
    else {
        return Err(ConsoleError::Invalid(
            "Choisissez la fiche à laquelle rattacher les questions.".into(),
        ));
    };
    let (_, questions, days) = match picked(&state, me.account(), &fields).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let account = me.account().clone();
    let actor = me.actor();
    let done = blocking(&state, move |s| {
        let now = Utc::now();
        let p = training::attach(
            s,
            &account,
            &entry,
            &questions,
            Local::now().date_naive(),
            now,
        )?;
        staff::audit(
            s,
            &actor,
            "training.attach",
            Some(&p.entry_id),
            Some(&format!(
                "proposition n° {} : {} question(s) rattachée(s)",
                p.revision,
                questions.len()
            )),
            now,
        )?;
        Ok(p)
    })
    .await?;
    Ok(match done {
        Ok(p) => Page(pages::proposed(
            &me.chrome("/console/training"),
            "Questions rattachées à une fiche",
            &p,
            days,
        ))
        .into_response(),
        Err(e) => refused(e),
    })
}

async fn create_form(
    State(state): State<AppState>,
    me: Staff,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let fields = Fields::parse(&body);
    let (group, questions, days) = match picked(&state, me.account(), &fields).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let services = services_of(&state)?;
    let mine: Vec<String> = me
        .account()
        .services
        .iter()
        .filter(|s| services.iter().any(|(k, _)| k == *s))
        .cloned()
        .collect();
    Ok(Page(pages::create_form(
        &me.chrome("/console/training"),
        &services,
        &mine,
        &questions,
        days,
        group.service.as_deref(),
    ))
    .into_response())
}

async fn create(
    State(state): State<AppState>,
    me: Staff,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let fields = Fields::parse(&body);
    let service = fields.one("service").unwrap_or("").trim().to_string();
    let question = super::kb::question(fields.one("question").unwrap_or(""))?;
    let answer = fields.one("answer").unwrap_or("").to_string();
    let (_, questions, days) = match picked(&state, me.account(), &fields).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let account = me.account().clone();
    let actor = me.actor();
    let done = blocking(&state, move |s| {
        let now = Utc::now();
        let p = training::create(
            s,
            &account,
            &Creation {
                service: &service,
                question: question.as_str(),
                answer: &answer,
                questions: &questions,
            },
            Local::now().date_naive(),
            now,
        )?;
        staff::audit(
            s,
            &actor,
            "training.create",
            Some(&p.entry_id),
            Some(&format!(
                "proposition n° {} : nouvelle fiche, {} question(s)",
                p.revision,
                questions.len()
            )),
            now,
        )?;
        Ok(p)
    })
    .await?;
    Ok(match done {
        Ok(p) => Page(pages::proposed(
            &me.chrome("/console/training"),
            "Fiche proposée",
            &p,
            days,
        ))
        .into_response(),
        Err(e) => refused(e),
    })
}

async fn dismiss(
    State(state): State<AppState>,
    me: Staff,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let fields = Fields::parse(&body);
    let (group, questions, days) = match picked(&state, me.account(), &fields).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let account = me.account().clone();
    let actor = me.actor();
    let service = group.service.clone();
    let done = blocking(&state, move |s| {
        let now = Utc::now();
        let n = training::dismiss(s, &account, service.as_deref(), &questions, now)?;
        staff::audit(
            s,
            &actor,
            "training.dismiss",
            service.as_deref(),
            Some(&format!("{n} question(s) écartée(s) : pour une personne")),
            now,
        )?;
        Ok(n)
    })
    .await?;
    Ok(match done {
        Ok(n) => {
            Redirect::to(&format!("/console/training?days={days}&ecartees={n}")).into_response()
        }
        Err(e) => refused(e),
    })
}
