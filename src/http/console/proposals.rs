//! The knowledge base's workflow in the console: editors propose (new entries, changes,
//! withdrawals), validators of the service review the word diff and validate or send
//! back, everyone reads an entry's history and restores an earlier validated revision.
//! The rules are in [`crate::kb`]; this module only translates: every action is checked
//! there (role and service), and audited here once it is done.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{Local, NaiveDate, Utc};
use serde::Deserialize;

use super::{ConsoleError, Page, Staff, area};
use crate::corpus::entry_edit::{EntryEdit, NewEntry, edit_entry, id_from, new_entry};
use crate::html::proposals::{
    self as view, EditForm, EntryFields, Mine, NewForm, Pending, Step, TranslationForm,
    entry_fields, field_diffs, notice, problems_block,
};
use crate::html::{Markup, html};
use crate::http::AppState;
use crate::kb::{self, Draft, KbError};
use crate::staff::{self, Account, Action};
use crate::store::{Origin, Revision, RevisionStatus, Store, StoreError};

/// Review dates this close (or past) are listed on validators' home page.
pub const REVIEW_SOON_DAYS: i64 = 30;
/// How far back "my proposals" looks in the audit log for new entries never made live.
const AUDIT_LOOKBACK: usize = 2000;

pub fn router(state: &AppState) -> Router<AppState> {
    area(
        state,
        Action::ReadKnowledge,
        Router::new().route("/console/kb/{id}/history", get(history)),
    )
    .merge(area(
        state,
        Action::ProposeKnowledge,
        Router::new()
            .route("/console/kb/{id}/propose", get(edit_form).post(edit_submit))
            .route("/console/proposals", get(mine))
            .route("/console/proposals/new", get(new_form).post(new_submit))
            .route("/console/proposals/{id}/cancel", post(cancel))
            .route("/console/kb/revisions/{id}/restore", post(restore)),
    ))
    .merge(area(
        state,
        Action::ValidateKnowledge,
        Router::new()
            .route("/console/review", get(review))
            .route("/console/review/{id}/validate", post(validate))
            .route("/console/review/{id}/send-back", post(send_back)),
    ))
    .merge(area(
        state,
        Action::ManageStaff,
        Router::new()
            .route("/console/admin/self-validation", get(self_validation))
            .route(
                "/console/admin/self-validation/{service}",
                post(set_self_validation),
            ),
    ))
}

fn today() -> NaiveDate {
    Local::now().date_naive()
}

/// A refusal of the core shown on the page it came from, with its status; what the
/// store or the corpus loader failed at is an error page.
fn refusal(e: KbError) -> Result<(StatusCode, Vec<String>), ConsoleError> {
    match e {
        KbError::Invalid(problems) => {
            // Errors first: they are what refuses it.
            let mut sorted = problems;
            sorted.sort_by_key(|p| std::cmp::Reverse(p.severity));
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                sorted.iter().map(ToString::to_string).collect(),
            ))
        }
        KbError::Forbidden(why) => Ok((StatusCode::FORBIDDEN, vec![why])),
        KbError::Refused(why) => Ok((StatusCode::CONFLICT, vec![why])),
        KbError::NotFound(_) => Err(ConsoleError::NotFound),
        KbError::Store(e) => Err(e.into()),
        KbError::Corpus(e) => Err(ConsoleError::Api(crate::http::ApiError::Internal(
            e.to_string(),
        ))),
    }
}

fn services_named(state: &AppState) -> Vec<(String, String)> {
    state
        .engine()
        .map(|e| {
            e.corpus()
                .services()
                .iter()
                .map(|s| (s.key.clone(), s.name.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn service_name(state: &AppState, key: &str) -> String {
    services_named(state)
        .into_iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| key.to_string(), |(_, n)| n)
}

/// The live path and text of entry `id`.
async fn live_entry(state: &AppState, id: &str) -> Result<(String, String), ConsoleError> {
    let id = id.to_string();
    state
        .with_store(move |s| {
            let Some(path) = s.kb_entry_path(&id)? else {
                return Ok(None);
            };
            let (files, _) = kb::live_files(s).map_err(store_only)?;
            Ok(files.get(&path).map(|t| (path, t.to_string())))
        })
        .await?
        .ok_or(ConsoleError::NotFound)
}

/// A store error out of a [`KbError`] the store alone produced.
fn store_only(e: KbError) -> StoreError {
    match e {
        KbError::Store(e) => e,
        other => StoreError::Corrupt(other.to_string()),
    }
}

fn one(body: &[(String, String)], name: &str) -> String {
    body.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.replace("\r\n", "\n"))
        .unwrap_or_default()
}

fn checked(body: &[(String, String)], name: &str) -> bool {
    body.iter().any(|(k, v)| k == name && !v.is_empty())
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn date(raw: &str) -> Result<Option<NaiveDate>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| format!("la date « {raw} » n'est pas une date (AAAA-MM-JJ)"))
}

fn redirect(to: &str, done: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}fait={done}#statut")).into_response()
}

#[derive(Debug, Deserialize, Default)]
struct Done {
    #[serde(default)]
    fait: String,
}

fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "proposee" => {
            "Proposition enregistrée : elle attend la validation d'un validateur du service."
        }
        "abandonnee" => "Proposition abandonnée.",
        "reprise" => {
            "La version a été reprise comme nouvelle proposition : elle attend sa validation."
        }
        "validee" => {
            "Proposition validée : elle est en ligne, servie par chaque serveur dans quelques secondes."
        }
        "renvoyee" => "Proposition renvoyée à son auteur avec votre commentaire.",
        "enregistre" => "Réglage enregistré.",
        _ => return None,
    })
}

fn done_notice(q: &Done) -> Markup {
    notice(done_text(&q.fait), None)
}

// ---- Propose a change ------------------------------------------------------------------

async fn edit_form(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let (_, text) = live_entry(&state, &id).await?;
    let fields = entry_fields(&text).ok_or(ConsoleError::NotFound)?;
    if !kb::may_for(me.account(), Action::ProposeKnowledge, &fields.service) {
        return Ok(forbidden_page(&me, &fields.service, &state));
    }
    let form = EditForm::of(&fields, &service_name(&state, &fields.service));
    Ok(Page(view::edit_page(
        &me.chrome("/console/proposals"),
        &form,
        None,
    ))
    .into_response())
}

fn forbidden_page(me: &Staff, service: &str, state: &AppState) -> Response {
    let text = format!(
        "Seuls les éditeurs du service {} peuvent proposer une modification de cette fiche.",
        service_name(state, service)
    );
    (
        StatusCode::FORBIDDEN,
        Page(crate::html::console::page(
            &me.chrome("/console/proposals"),
            "Accès refusé",
            notice(None, Some(&text)),
        )),
    )
        .into_response()
}

/// The form as typed.
fn typed_edit(body: &[(String, String)], current: &EditForm) -> EditForm {
    EditForm {
        entry_id: current.entry_id.clone(),
        service_name: current.service_name.clone(),
        question: one(body, "question"),
        answer: one(body, "answer"),
        alternates: one(body, "alternates"),
        easy_read: one(body, "easy_read"),
        translations: current
            .translations
            .iter()
            .map(|t| TranslationForm {
                lang: t.lang.clone(),
                question: one(body, &format!("tr_{}_question", t.lang)),
                answer: one(body, &format!("tr_{}_answer", t.lang)),
                remove: checked(body, &format!("tr_{}_remove", t.lang)),
            })
            .collect(),
        new_lang: one(body, "new_lang").trim().to_string(),
        new_question: one(body, "new_question"),
        new_answer: one(body, "new_answer"),
        review_by: one(body, "review_by").trim().to_string(),
        withdraw: checked(body, "withdraw"),
        comment: one(body, "comment"),
    }
}

/// The edit of the entry: only what differs from the live text, so that a field left
/// alone stays byte for byte as validated.
fn edit_of(typed: &EditForm, live: &EntryFields) -> Result<EntryEdit, String> {
    let same = |a: &str, b: &str| a.trim() == b.trim();
    let mut edit = EntryEdit::default();
    if !same(&typed.question, &live.question) {
        edit.question = Some(typed.question.trim().to_string());
    }
    if !same(&typed.answer, &live.answer) {
        edit.answer = Some(typed.answer.clone());
    }
    let alternates = lines(&typed.alternates);
    if alternates != live.alternates {
        edit.alternates = Some(alternates);
    }
    let easy = live.easy_read.as_deref().unwrap_or_default();
    if !same(&typed.easy_read, easy) {
        edit.easy_read =
            Some((!typed.easy_read.trim().is_empty()).then(|| typed.easy_read.clone()));
    }
    for t in &typed.translations {
        let Some((q, a)) = live.translations.get(&t.lang) else {
            continue;
        };
        if t.remove {
            edit.translations.push((t.lang.clone(), None));
        } else if !same(&t.question, q) || !same(&t.answer, a) {
            edit.translations
                .push((t.lang.clone(), Some((t.question.clone(), t.answer.clone()))));
        }
    }
    let new_lang = typed.new_lang.trim();
    if !new_lang.is_empty() {
        if !view::LANGS.contains(&new_lang) {
            return Err(format!("langue inconnue : {new_lang}"));
        }
        if typed.new_question.trim().is_empty() || typed.new_answer.trim().is_empty() {
            return Err(
                "une nouvelle traduction a besoin de sa question et de sa réponse".to_string(),
            );
        }
        edit.translations.push((
            new_lang.to_string(),
            Some((typed.new_question.clone(), typed.new_answer.clone())),
        ));
    }
    if let Some(d) = date(&typed.review_by)?
        && Some(d.format("%Y-%m-%d").to_string()) != live.review_by
    {
        edit.review_by = Some(d);
    }
    edit.withdraw = typed.withdraw;
    Ok(edit)
}

async fn edit_submit(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    Form(body): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let (path, live_text) = live_entry(&state, &id).await?;
    let live = entry_fields(&live_text).ok_or(ConsoleError::NotFound)?;
    if !kb::may_for(me.account(), Action::ProposeKnowledge, &live.service) {
        return Ok(forbidden_page(&me, &live.service, &state));
    }
    let shown = EditForm::of(&live, &service_name(&state, &live.service));
    let typed = typed_edit(&body, &shown);
    let chrome = me.chrome("/console/proposals");
    let refused = |status: StatusCode, problems: Vec<String>, text: Option<&str>| {
        (
            status,
            Page(view::edit_page(
                &chrome,
                &typed,
                Some(problems_block(&problems, text)),
            )),
        )
            .into_response()
    };
    let edit = match edit_of(&typed, &live) {
        Ok(e) => e,
        Err(why) => return Ok(refused(StatusCode::UNPROCESSABLE_ENTITY, vec![why], None)),
    };
    let text = match edit_entry(&live_text, &edit) {
        Ok(t) => t,
        Err(e) => {
            return Ok(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![format!("{path}, {e}")],
                None,
            ));
        }
    };
    let draft = Draft {
        path: path.clone(),
        text: text.clone(),
        comment: Some(typed.comment.trim().to_string()),
        origin: Origin::Proposal,
    };
    match propose(&state, &me, draft, "kb.propose").await? {
        Ok(_) => Ok(redirect("/console/proposals", "proposee")),
        Err(e) => {
            let (status, problems) = refusal(e)?;
            Ok(refused(status, problems, Some(&text)))
        }
    }
}

/// Records a proposal through the core and audits it; the core's refusal as a value.
async fn propose(
    state: &AppState,
    me: &Staff,
    draft: Draft,
    audit_as: &'static str,
) -> Result<Result<i64, KbError>, ConsoleError> {
    let account = me.account().clone();
    let actor = me.actor();
    Ok(state
        .with_store(move |s| {
            let now = Utc::now();
            let done = kb::propose(s, &account, &draft, today(), now);
            if let Ok(id) = done {
                staff::audit(
                    s,
                    &actor,
                    audit_as,
                    Some(&draft.path),
                    Some(&format!("proposition n° {id}")),
                    now,
                )?;
            }
            Ok(done)
        })
        .await?)
}

// ---- A new entry -----------------------------------------------------------------------

fn editor_services(state: &AppState, account: &Account) -> Vec<(String, String)> {
    services_named(state)
        .into_iter()
        .filter(|(k, _)| kb::may_for(account, Action::ProposeKnowledge, k))
        .collect()
}

async fn new_form(State(state): State<AppState>, me: Staff) -> Result<Response, ConsoleError> {
    let services = editor_services(&state, me.account());
    let form = NewForm {
        service: services.first().map(|(k, _)| k.clone()).unwrap_or_default(),
        services,
        review_by: (today() + chrono::Months::new(12))
            .format("%Y-%m-%d")
            .to_string(),
        ..NewForm::default()
    };
    Ok(Page(view::new_page(
        &me.chrome("/console/proposals"),
        &form,
        None,
    ))
    .into_response())
}

async fn new_submit(
    State(state): State<AppState>,
    me: Staff,
    Form(body): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let form = NewForm {
        services: editor_services(&state, me.account()),
        service: one(&body, "service").trim().to_string(),
        id: one(&body, "id").trim().to_string(),
        question: one(&body, "question"),
        answer: one(&body, "answer"),
        alternates: one(&body, "alternates"),
        review_by: one(&body, "review_by").trim().to_string(),
        comment: one(&body, "comment"),
    };
    let chrome = me.chrome("/console/proposals");
    let refused = |status: StatusCode, problems: Vec<String>, text: Option<&str>| {
        (
            status,
            Page(view::new_page(
                &chrome,
                &form,
                Some(problems_block(&problems, text)),
            )),
        )
            .into_response()
    };
    let review_by = match date(&form.review_by) {
        Ok(Some(d)) => d,
        Ok(None) => today() + chrono::Months::new(12),
        Err(why) => return Ok(refused(StatusCode::UNPROCESSABLE_ENTITY, vec![why], None)),
    };
    if form.question.trim().is_empty() || form.answer.trim().is_empty() {
        return Ok(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["une fiche a besoin d'une question et d'une réponse".into()],
            None,
        ));
    }
    let id = if form.id.is_empty() {
        id_from(&form.question)
    } else {
        form.id.clone()
    };
    let (path, text) = new_entry(&NewEntry {
        id: id.clone(),
        service: form.service.clone(),
        question: form.question.clone(),
        answer: form.answer.clone(),
        alternates: lines(&form.alternates),
        tags: Vec::new(),
        url: None,
        review_by,
    });
    let exists = {
        let (p, i) = (path.clone(), id.clone());
        state
            .with_store(move |s| {
                Ok(s.kb_live_revision(&p)?.is_some() || s.kb_entry_path(&i)?.is_some())
            })
            .await?
    };
    if exists {
        return Ok(refused(
            StatusCode::CONFLICT,
            vec![format!(
                "une fiche « {id} » existe déjà : choisissez un autre identifiant, ou proposez une modification de celle-ci"
            )],
            None,
        ));
    }
    let draft = Draft {
        path,
        text: text.clone(),
        comment: Some(form.comment.trim().to_string()),
        origin: Origin::Proposal,
    };
    match propose(&state, &me, draft, "kb.propose").await? {
        Ok(_) => Ok(redirect("/console/proposals", "proposee")),
        Err(e) => {
            let (status, problems) = refusal(e)?;
            Ok(refused(status, problems, Some(&text)))
        }
    }
}

// ---- My proposals ----------------------------------------------------------------------

fn title_of(r: &Revision) -> String {
    r.content
        .as_deref()
        .and_then(entry_fields)
        .map(|f| f.question)
        .filter(|q| !q.is_empty())
        .unwrap_or_else(|| r.path.clone())
}

/// Every revision `staff` wrote, newest first: over the live files, the drafts, and the
/// paths their audited proposals named (a new entry sent back was never live).
fn revisions_by(s: &dyn Store, staff: i64) -> Result<Vec<Revision>, StoreError> {
    let mut paths: Vec<String> = s.kb_live()?.into_iter().map(|f| f.path).collect();
    paths.extend(s.kb_drafts(None)?.into_iter().map(|r| r.path));
    paths.extend(
        s.audit_log(AUDIT_LOOKBACK, None)?
            .into_iter()
            .filter(|e| e.staff == Some(staff) && e.action.starts_with("kb."))
            .filter_map(|e| e.target)
            .filter(|t| t.starts_with("entries/")),
    );
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for p in paths {
        out.extend(
            s.kb_history(&p)?
                .into_iter()
                .filter(|r| r.author_staff == Some(staff) && r.origin != Origin::Import),
        );
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.id));
    Ok(out)
}

async fn mine(
    State(state): State<AppState>,
    me: Staff,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let id = me.account().id;
    let list = state.with_store(move |s| revisions_by(s, id)).await?;
    let mine: Vec<Mine> = list
        .into_iter()
        .map(|r| Mine {
            title: title_of(&r),
            revision: r,
        })
        .collect();
    let may_create = !editor_services(&state, me.account()).is_empty();
    Ok(Page(view::mine_page(
        &me.chrome("/console/proposals"),
        &mine,
        may_create,
        done_notice(&done),
    ))
    .into_response())
}

async fn cancel(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let account = me.account().clone();
    let actor = me.actor();
    let done = state
        .with_store(move |s| {
            let now = Utc::now();
            let done = kb::cancel(s, &account, id, now);
            if done.is_ok() {
                let path = s.kb_revision(id)?.map(|r| r.path);
                staff::audit(
                    s,
                    &actor,
                    "kb.cancel",
                    path.as_deref(),
                    Some(&format!("proposition n° {id}")),
                    now,
                )?;
            }
            Ok(done)
        })
        .await?;
    match done {
        Ok(()) => Ok(redirect("/console/proposals", "abandonnee")),
        Err(e) => {
            let (status, problems) = refusal(e)?;
            Ok(message_page(&me, "/console/proposals", status, &problems))
        }
    }
}

fn message_page(me: &Staff, current: &str, status: StatusCode, problems: &[String]) -> Response {
    (
        status,
        Page(crate::html::console::page(
            &me.chrome(current),
            "Action refusée",
            html! {
                (notice(None, Some(&problems.join("\n"))))
                p { a href=(current) { "Retour" } }
            },
        )),
    )
        .into_response()
}

async fn restore(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let account = me.account().clone();
    let actor = me.actor();
    let done = state
        .with_store(move |s| {
            let now = Utc::now();
            let done = kb::restore(s, &account, id, today(), now);
            if let Ok(new) = done {
                let path = s.kb_revision(new)?.map(|r| r.path);
                staff::audit(
                    s,
                    &actor,
                    "kb.restore",
                    path.as_deref(),
                    Some(&format!("version n° {id} reprise : proposition n° {new}")),
                    now,
                )?;
            }
            Ok(done)
        })
        .await?;
    match done {
        Ok(_) => Ok(redirect("/console/proposals", "reprise")),
        Err(e) => {
            let (status, problems) = refusal(e)?;
            Ok(message_page(&me, "/console/proposals", status, &problems))
        }
    }
}

// ---- Review ----------------------------------------------------------------------------

async fn pending_for(state: &AppState, account: &Account) -> Result<Vec<Pending>, ConsoleError> {
    let services = account.services.clone();
    let me = account.id;
    let rows = state
        .with_store(move |s| {
            let drafts = s.kb_drafts(Some(&services))?;
            let (files, _) = kb::live_files(s).map_err(store_only)?;
            let mut out = Vec::new();
            for d in drafts {
                let live = s.kb_live_revision(&d.path)?;
                let base = files.get(&d.path).map(str::to_string);
                let service = d.service.clone().unwrap_or_default();
                let own = d.author_staff == Some(me) && !s.kb_self_validation(&service)?;
                out.push((d, base, live, own));
            }
            Ok(out)
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(d, base, live, own)| Pending {
            title: title_of(&d),
            service_name: service_name(state, d.service.as_deref().unwrap_or_default()),
            diffs: field_diffs(base.as_deref(), d.content.as_deref()),
            outdated: live != d.base,
            own,
            revision: d,
        })
        .collect())
}

async fn review_response(
    state: &AppState,
    me: &Staff,
    status: StatusCode,
    notice_markup: Markup,
) -> Result<Response, ConsoleError> {
    let items = pending_for(state, me.account()).await?;
    Ok((
        status,
        Page(view::review_page(
            &me.chrome("/console/review"),
            &items,
            notice_markup,
        )),
    )
        .into_response())
}

async fn review(
    State(state): State<AppState>,
    me: Staff,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    review_response(&state, &me, StatusCode::OK, done_notice(&done)).await
}

async fn validate(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let account = me.account().clone();
    let actor = me.actor();
    let done = state
        .with_store(move |s| {
            let now = Utc::now();
            let done = kb::validate(s, &account, id, today(), now);
            if let Ok(version) = done {
                let r = s.kb_revision(id)?;
                staff::audit(
                    s,
                    &actor,
                    "kb.validate",
                    r.as_ref().map(|r| r.path.as_str()),
                    Some(&format!(
                        "proposition n° {id}, version {version}, sha256 {}",
                        r.as_ref()
                            .and_then(|r| r.answer_sha256.as_deref())
                            .unwrap_or_default()
                    )),
                    now,
                )?;
            }
            Ok(done)
        })
        .await?;
    match done {
        Ok(_) => {
            state.kb_changed();
            Ok(redirect("/console/review", "validee"))
        }
        Err(e) => {
            let (status, problems) = refusal(e)?;
            let text = format!(
                "La proposition n° {id} n'a pas été validée :\n{}",
                problems.join("\n")
            );
            review_response(&state, &me, status, notice(None, Some(&text))).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct Comment {
    #[serde(default)]
    comment: String,
}

async fn send_back(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
    Form(form): Form<Comment>,
) -> Result<Response, ConsoleError> {
    let account = me.account().clone();
    let actor = me.actor();
    let comment = form.comment.clone();
    let done = state
        .with_store(move |s| {
            let now = Utc::now();
            let done = kb::send_back(s, &account, id, &comment, now);
            if done.is_ok() {
                let path = s.kb_revision(id)?.map(|r| r.path);
                staff::audit(
                    s,
                    &actor,
                    "kb.send_back",
                    path.as_deref(),
                    Some(&format!("proposition n° {id}")),
                    now,
                )?;
            }
            Ok(done)
        })
        .await?;
    match done {
        Ok(()) => Ok(redirect("/console/review", "renvoyee")),
        Err(e) => {
            let (status, problems) = refusal(e)?;
            let text = format!(
                "La proposition n° {id} n'a pas été renvoyée :\n{}",
                problems.join("\n")
            );
            review_response(&state, &me, status, notice(None, Some(&text))).await
        }
    }
}

// ---- History ---------------------------------------------------------------------------

async fn history(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let keys: Vec<String> = services_named(&state).into_iter().map(|(k, _)| k).collect();
    let entry = id.clone();
    let found = state
        .with_store(move |s| {
            // The live path; for an entry no longer live, where its service would keep it.
            let mut paths: Vec<String> = s.kb_entry_path(&entry)?.into_iter().collect();
            if paths.is_empty() && entry_edit_safe(&entry) {
                paths = keys
                    .iter()
                    .map(|k| format!("entries/{k}/{entry}.md"))
                    .collect();
            }
            for p in paths {
                let h = s.kb_history(&p)?;
                if !h.is_empty() {
                    let live = s.kb_live_revision(&p)?;
                    return Ok(Some((h, live)));
                }
            }
            Ok(None)
        })
        .await?;
    let Some((revisions, live)) = found else {
        return Err(ConsoleError::NotFound);
    };
    let title = revisions
        .iter()
        .find(|r| r.content.is_some())
        .map_or_else(|| id.clone(), title_of);
    let content_of = |rid: Option<i64>| {
        rid.and_then(|rid| revisions.iter().find(|r| r.id == rid))
            .and_then(|r| r.content.as_deref())
    };
    let steps: Vec<Step> = revisions
        .iter()
        .map(|r| {
            let service = r.service.as_deref().unwrap_or_default();
            Step {
                diffs: field_diffs(content_of(r.base), r.content.as_deref()),
                live: live == Some(r.id),
                may_restore: r.status == RevisionStatus::Validated
                    && r.content.is_some()
                    && live != Some(r.id)
                    && kb::may_for(me.account(), Action::ProposeKnowledge, service),
                revision: r.clone(),
            }
        })
        .collect();
    Ok(Page(view::history_page(
        &me.chrome("/console/kb"),
        &id,
        &title,
        &steps,
        done_notice(&done),
    ))
    .into_response())
}

/// An entry id that can be part of a path.
fn entry_edit_safe(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

// ---- Self-validation (administrators) ------------------------------------------------

async fn self_validation_response(
    state: &AppState,
    me: &Staff,
    notice_markup: Markup,
) -> Result<Response, ConsoleError> {
    let services = services_named(state);
    let rows = state
        .with_store(move |s| {
            services
                .into_iter()
                .map(|(k, n)| {
                    let allowed = s.kb_self_validation(&k)?;
                    Ok((k, n, allowed))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await?;
    Ok(Page(view::self_validation_page(
        &me.chrome("/console/admin/staff"),
        super::admin::sub_nav("/console/admin/self-validation"),
        &rows,
        notice_markup,
    ))
    .into_response())
}

async fn self_validation(
    State(state): State<AppState>,
    me: Staff,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    self_validation_response(&state, &me, done_notice(&done)).await
}

#[derive(Debug, Deserialize)]
struct Allowed {
    #[serde(default)]
    allowed: String,
}

async fn set_self_validation(
    State(state): State<AppState>,
    me: Staff,
    Path(service): Path<String>,
    Form(form): Form<Allowed>,
) -> Result<Response, ConsoleError> {
    if !services_named(&state).iter().any(|(k, _)| *k == service) {
        return Err(ConsoleError::NotFound);
    }
    let allowed = form.allowed == "1";
    let (staff_id, actor) = (me.account().id, me.actor());
    state
        .with_store(move |s| {
            let now = Utc::now();
            s.set_kb_self_validation(&service, allowed, Some(staff_id), now)?;
            staff::audit(
                s,
                &actor,
                "kb.self_validation",
                Some(&service),
                Some(if allowed { "permise" } else { "retirée" }),
                now,
            )
        })
        .await?;
    Ok(redirect("/console/admin/self-validation", "enregistre"))
}

// ---- Home page -------------------------------------------------------------------------

/// An entry whose review date is near or past.
pub struct ReviewDue {
    pub entry_id: String,
    pub service: String,
    pub question: String,
    pub review_by: NaiveDate,
    pub past: bool,
}

/// What a validator's home page shows: proposals waiting for their services, and the
/// entries of their services whose review date is within [`REVIEW_SOON_DAYS`] or past.
pub async fn validator_todo(
    state: &AppState,
    account: &Account,
) -> Result<(usize, Vec<ReviewDue>), ConsoleError> {
    let services = account.services.clone();
    let today = today();
    Ok(state
        .with_store(move |s| {
            let waiting = s.kb_drafts(Some(&services))?.len();
            let (files, _) = kb::live_files(s).map_err(store_only)?;
            let mut due = Vec::new();
            for (path, text) in files.iter() {
                if !path.starts_with("entries/") {
                    continue;
                }
                let Some(f) = entry_fields(text) else {
                    continue;
                };
                if !services.contains(&f.service) || f.status.as_deref() == Some("withdrawn") {
                    continue;
                }
                let Some(d) = f
                    .review_by
                    .as_deref()
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                else {
                    continue;
                };
                if (d - today).num_days() <= REVIEW_SOON_DAYS {
                    due.push(ReviewDue {
                        entry_id: f.id,
                        service: f.service,
                        question: f.question,
                        review_by: d,
                        past: d < today,
                    });
                }
            }
            due.sort_by_key(|d| d.review_by);
            Ok((waiting, due))
        })
        .await?)
}
