//! Administration (admins only): staff accounts (add with a one-time set-up link, roles
//! and services, disable, enable, new link, end someone's sessions) and the audit log.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::{ConsoleError, Page, Staff, area};
use crate::html::console::{csrf_field, page};
use crate::html::{Markup, html};
use crate::http::AppState;
use crate::staff::{self, Account, Action, NewAccount, Role};

pub fn router(state: &AppState) -> Router<AppState> {
    area(
        state,
        Action::ManageStaff,
        Router::new()
            .route("/console/admin/staff", get(accounts).post(add))
            .route("/console/admin/staff/{id}/roles", post(set_roles))
            .route("/console/admin/staff/{id}/disable", post(disable))
            .route("/console/admin/staff/{id}/enable", post(enable))
            .route("/console/admin/staff/{id}/link", post(new_link))
            .route("/console/admin/staff/{id}/signout", post(sign_out))
            .route("/console/admin/services", get(services_page))
            .route("/console/admin/services/{key}", post(edit_service)),
    )
    .merge(area(
        state,
        Action::SeeAudit,
        Router::new().route("/console/admin/audit", get(audit)),
    ))
}

fn services_of(state: &AppState) -> Result<Vec<(String, String)>, ConsoleError> {
    let engine = state.engine()?;
    Ok(engine
        .corpus()
        .services()
        .iter()
        .map(|s| (s.key.clone(), s.name.clone()))
        .collect())
}

pub(super) fn sub_nav(current: &str) -> Markup {
    html! {
        nav aria-label="Administration" {
            ul.plain {
                @for (href, label) in [
                    ("/console/admin/staff", "Comptes"),
                    ("/console/admin/services", "Services : coordonnées et horaires"),
                    ("/console/admin/self-validation", "Validation de ses propres propositions"),
                    ("/console/admin/audit", "Journal des actions"),
                ] {
                    li {
                        @if href == current { a href=(href) aria-current="page" { (label) } }
                        @else { a href=(href) { (label) } }
                    }
                }
            }
        }
    }
}

fn role_boxes(prefix: &str, checked: &[Role]) -> Markup {
    html! {
        fieldset.checks {
            legend { "Rôles" }
            @for role in Role::ALL {
                @let id = format!("{prefix}-{}", role.as_str());
                div.check {
                    input type="checkbox" id=(id) name="role" value=(role.as_str())
                        checked[checked.contains(&role)];
                    label for=(id) { (role.label()) }
                }
            }
        }
    }
}

fn service_boxes(prefix: &str, services: &[(String, String)], checked: &[String]) -> Markup {
    html! {
        fieldset.checks {
            legend { "Services (éditeur, validateur)" }
            @for (key, name) in services {
                @let id = format!("{prefix}-s-{key}");
                div.check {
                    input type="checkbox" id=(id) name="service" value=(key)
                        checked[checked.contains(key)];
                    label for=(id) { (name) }
                }
            }
        }
    }
}

fn accounts_page(
    me: &Staff,
    list: &[Account],
    services: &[(String, String)],
    notice: Option<Markup>,
) -> Markup {
    let chrome = me.chrome("/console/admin/staff");
    let csrf = chrome.csrf.clone();
    page(
        &chrome,
        "Comptes du personnel",
        html! {
            (sub_nav("/console/admin/staff"))
            @if let Some(notice) = notice { (notice) }
            h2 id="ajouter" { "Ajouter un compte" }
            form method="post" action="/console/admin/staff" aria-labelledby="ajouter" {
                (csrf_field(&csrf))
                label for="new-email" { "Adresse e-mail" }
                input type="email" id="new-email" name="email" required;
                label for="new-name" { "Nom affiché (prénom ou fonction, jamais un e-mail)" }
                input type="text" id="new-name" name="name" placeholder="Camille";
                (role_boxes("new", &[Role::Agent]))
                (service_boxes("new", services, &[]))
                div.actions { button type="submit" { "Créer le compte" } }
            }
            h2 { "Comptes" }
            table.stack {
                caption.sr-only { "Comptes du personnel" }
                thead { tr {
                    th scope="col" { "Compte" }
                    th scope="col" { "Rôles" }
                    th scope="col" { "Connexion" }
                    th scope="col" { "Actions" }
                } }
                tbody {
                    @for a in list {
                        tr {
                            td { b { (a.name) } br; (a.email)
                                @if a.disabled { br; span.badge { "désactivé" } } }
                            td {
                                (a.roles_label())
                                details {
                                    summary { "Modifier les rôles de " (a.name) }
                                    form method="post" action={ "/console/admin/staff/" (a.id) "/roles" } {
                                        (csrf_field(&csrf))
                                        (role_boxes(&format!("a{}", a.id), &a.roles))
                                        (service_boxes(&format!("a{}", a.id), services, &a.services))
                                        button.secondary type="submit" { "Enregistrer les rôles de " (a.name) }
                                    }
                                }
                            }
                            td {
                                @if a.has_password { "mot de passe" br; }
                                @if a.sso { "SSO de la ville" br; }
                                @if !a.has_password && !a.sso { "lien de création en attente" }
                            }
                            td {
                                div.actions {
                                    @if a.disabled {
                                        form.inline method="post" action={ "/console/admin/staff/" (a.id) "/enable" } {
                                            (csrf_field(&csrf)) button.secondary type="submit" { "Réactiver" }
                                        }
                                    } @else if a.id != me.account().id {
                                        form.inline method="post" action={ "/console/admin/staff/" (a.id) "/disable" } {
                                            (csrf_field(&csrf)) button.danger type="submit" { "Désactiver" }
                                        }
                                    }
                                    form.inline method="post" action={ "/console/admin/staff/" (a.id) "/link" } {
                                        (csrf_field(&csrf)) button.secondary type="submit" { "Nouveau lien de mot de passe" }
                                    }
                                    form.inline method="post" action={ "/console/admin/staff/" (a.id) "/signout" } {
                                        (csrf_field(&csrf)) button.secondary type="submit" { "Fermer ses sessions" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn render(
    state: &AppState,
    me: &Staff,
    notice: Option<Markup>,
) -> Result<Response, ConsoleError> {
    let services = services_of(state)?;
    let list = state.with_store(|s| s.list_staff()).await?;
    Ok(Page(accounts_page(me, &list, &services, notice)).into_response())
}

async fn accounts(State(state): State<AppState>, me: Staff) -> Result<Response, ConsoleError> {
    render(&state, &me, None).await
}

/// Form fields as a list (`role` and `service` repeat).
fn fields(body: &[(String, String)], name: &str) -> Vec<String> {
    body.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

fn one(body: &[(String, String)], name: &str) -> String {
    body.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

fn error_notice(text: &str) -> Markup {
    html! { p.notice.error role="alert" { (text) } }
}

async fn add(
    State(state): State<AppState>,
    me: Staff,
    Form(body): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let services = services_of(&state)?;
    let known: Vec<&str> = services.iter().map(|(k, _)| k.as_str()).collect();
    let roles = match Role::parse_list(&fields(&body, "role").join(" ")) {
        Ok(r) => r,
        Err(e) => return render(&state, &me, Some(error_notice(&e.to_string()))).await,
    };
    let name = one(&body, "name");
    let new = match NewAccount::new(
        &one(&body, "email"),
        (!name.is_empty()).then_some(name.as_str()),
        roles,
        fields(&body, "service"),
        &known,
    ) {
        Ok(n) => n,
        Err(e) => return render(&state, &me, Some(error_notice(&e.to_string()))).await,
    };
    let actor = me.actor();
    let added = state
        .with_store(
            move |s| match staff::add_account(s, &new, &actor, Utc::now()) {
                Ok(done) => Ok(Ok(done)),
                Err(staff::StaffError::Store(crate::store::StoreError::Conflict(why))) => {
                    Ok(Err(why))
                }
                Err(staff::StaffError::Store(e)) => Err(e),
                Err(e) => Ok(Err(e.to_string())),
            },
        )
        .await?;
    match added {
        Ok((account, token)) => {
            let link = staff::setup_link(&state.config.public_url(), &token);
            let notice = html! {
                div.notice.ok role="status" {
                    p { "Compte créé pour " b { (account.email) } " (" (account.roles_label()) ")." }
                    p { "Transmettez-lui ce lien (valable " (staff::SETUP_VALID.num_hours())
                        " h, une seule fois) pour choisir son mot de passe ; il ne sera plus affiché :" }
                    p { code { (link) } }
                }
            };
            render(&state, &me, Some(notice)).await
        }
        Err(why) => render(&state, &me, Some(error_notice(&why))).await,
    }
}

async fn target(state: &AppState, id: i64) -> Result<Account, ConsoleError> {
    state
        .with_store(move |s| s.staff(id))
        .await?
        .ok_or(ConsoleError::NotFound)
}

async fn set_roles(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
    Form(body): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let account = target(&state, id).await?;
    let services = services_of(&state)?;
    let known: Vec<&str> = services.iter().map(|(k, _)| k.as_str()).collect();
    let roles = Role::parse_list(&fields(&body, "role").join(" "))
        .map_err(|e| ConsoleError::Invalid(e.to_string()))?;
    let chosen = fields(&body, "service");
    if let Err(e) = NewAccount::new(
        &account.email,
        Some(&account.name),
        roles.clone(),
        chosen.clone(),
        &known,
    ) {
        return render(&state, &me, Some(error_notice(&e.to_string()))).await;
    }
    if account.id == me.account().id && !roles.contains(&Role::Admin) {
        let text = "Vous ne pouvez pas retirer votre propre rôle d'administrateur : demandez-le à un autre administrateur.";
        return render(&state, &me, Some(error_notice(text))).await;
    }
    let actor = me.actor();
    let label = Account {
        roles: roles.clone(),
        services: chosen.clone(),
        ..account.clone()
    }
    .roles_label();
    let shown = label.clone();
    state
        .with_store(move |s| {
            s.set_roles(id, &roles, &chosen)?;
            staff::audit(
                s,
                &actor,
                "staff.roles",
                Some(&account.email),
                Some(&label),
                Utc::now(),
            )
        })
        .await?;
    let notice = html! { p.notice.ok role="status" { "Rôles enregistrés : " (shown) "." } };
    render(&state, &me, Some(notice)).await
}

async fn switch(
    state: &AppState,
    me: &Staff,
    id: i64,
    disabled: bool,
) -> Result<Response, ConsoleError> {
    let account = target(state, id).await?;
    if account.id == me.account().id && disabled {
        return Err(ConsoleError::Invalid(
            "Vous ne pouvez pas désactiver votre propre compte.".into(),
        ));
    }
    let actor = me.actor();
    state
        .with_store(move |s| {
            let now = Utc::now();
            s.set_disabled(id, disabled, now)?;
            let action = if disabled {
                "staff.disable"
            } else {
                "staff.enable"
            };
            staff::audit(s, &actor, action, Some(&account.email), None, now)
        })
        .await?;
    Ok(Redirect::to("/console/admin/staff").into_response())
}

async fn disable(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    switch(&state, &me, id, true).await
}

async fn enable(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    switch(&state, &me, id, false).await
}

async fn new_link(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let account = target(&state, id).await?;
    if account.disabled {
        return Err(ConsoleError::Invalid(
            "Ce compte est désactivé : réactivez-le d'abord.".into(),
        ));
    }
    let actor = me.actor();
    let a = account.clone();
    let token = state
        .with_store(move |s| {
            let now = Utc::now();
            let token = staff::setup_token(s, &a, now).map_err(|e| match e {
                staff::StaffError::Store(e) => e,
                other => crate::store::StoreError::Conflict(other.to_string()),
            })?;
            staff::audit(s, &actor, "staff.link", Some(&a.email), None, now)?;
            Ok(token)
        })
        .await?;
    let link = staff::setup_link(&state.config.public_url(), &token);
    let notice = html! {
        div.notice.ok role="status" {
            p { "Nouveau lien pour " b { (account.email) } " (valable " (staff::SETUP_VALID.num_hours()) " h, une seule fois) :" }
            p { code { (link) } }
        }
    };
    render(&state, &me, Some(notice)).await
}

async fn sign_out(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let account = target(&state, id).await?;
    let actor = me.actor();
    let a = account.clone();
    let n = state
        .with_store(move |s| staff::close_all_sessions(s, &a, &actor, Utc::now()))
        .await?;
    let notice =
        html! { p.notice.ok role="status" { (n) " session(s) de " (account.email) " fermée(s)." } };
    render(&state, &me, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

const AUDIT_PAGE: usize = 100;

async fn audit(
    State(state): State<AppState>,
    me: Staff,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ConsoleError> {
    let rows = state
        .with_store(move |s| s.audit_log(AUDIT_PAGE, q.before))
        .await?;
    let chrome = me.chrome("/console/admin/staff");
    let older = (rows.len() == AUDIT_PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let body = html! {
        (sub_nav("/console/admin/audit"))
        p.muted { "Qui a fait quoi, et quand (heure UTC). Conservé " (state.config.audit_days) " jours, au-delà de la durée de conservation des conversations." }
        table {
            caption.sr-only { "Journal des actions du personnel" }
            thead { tr {
                th scope="col" { "Quand" } th scope="col" { "Qui" } th scope="col" { "Action" }
                th scope="col" { "Sur" } th scope="col" { "Détail" }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td { (r.at.format("%d/%m/%Y %H:%M:%S")) }
                        td { (r.actor) }
                        td { code { (r.action) } }
                        td { (r.target.as_deref().unwrap_or("")) }
                        td { (r.detail.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        @if let Some(id) = older {
            p { a href={ "/console/admin/audit?before=" (id) } { "Plus ancien" } }
        }
    };
    Ok(Page(page(&chrome, "Journal des actions", body)).into_response())
}

const DAY_LABELS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];

fn services_form(me: &Staff, engine: &crate::engine::Engine, notice: Option<Markup>) -> Markup {
    let chrome = me.chrome("/console/admin/staff");
    let csrf = chrome.csrf.clone();
    page(
        &chrome,
        "Services : coordonnées et horaires",
        html! {
            (sub_nav("/console/admin/services"))
            @if let Some(notice) = notice { (notice) }
            p.muted {
                "Ce que l'assistant et le guichet donnent pour joindre chaque service. Un champ vide "
                "est retiré ; des horaires vides : fermé ce jour-là. Format des horaires : "
                code { "08:30-12:00, 13:30-17:30" } "."
            }
            @for s in engine.corpus().services().iter() {
                @let hours = s.hours.display();
                section aria-labelledby={ "svc-" (s.key) } {
                    h2 id={ "svc-" (s.key) } { (s.name) }
                    form method="post" action={ "/console/admin/services/" (s.key) } {
                        (csrf_field(&csrf))
                        div.grid {
                            div {
                                @for (field, label, current) in [
                                    ("phone", "Téléphone", &s.phone),
                                    ("email", "E-mail", &s.email),
                                    ("address", "Adresse", &s.address),
                                    ("web", "Site", &s.web),
                                ] {
                                    @let id = format!("{}-{field}", s.key);
                                    label for=(id) { (label) }
                                    input type="text" id=(id) name=(field) value=(current.as_deref().unwrap_or(""));
                                }
                            }
                            fieldset.checks {
                                legend { "Horaires (" (s.timezone.name()) ")" }
                                @for (day, label) in crate::corpus::services_edit::DAYS.iter().zip(DAY_LABELS) {
                                    @let id = format!("{}-{day}", s.key);
                                    div {
                                        label for=(id) { (label) }
                                        input type="text" id=(id) name=(day)
                                            value=(hours.get(day).map(|r| r.join(", ")).unwrap_or_default());
                                    }
                                }
                            }
                        }
                        div.actions { button type="submit" { "Enregistrer : " (s.name) } }
                    }
                }
            }
        },
    )
}

async fn services_page(State(state): State<AppState>, me: Staff) -> Result<Response, ConsoleError> {
    let engine = state.engine()?;
    Ok(Page(services_form(&me, &engine, None)).into_response())
}

async fn edit_service(
    State(state): State<AppState>,
    me: Staff,
    Path(key): Path<String>,
    Form(body): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    use crate::corpus::services_edit::{ContactsEdit, DAYS, edit_contacts};
    let engine = state.engine()?;
    if engine.corpus().services().get(&key).is_none() {
        return Err(ConsoleError::NotFound);
    }
    let edit = ContactsEdit {
        phone: one(&body, "phone"),
        email: one(&body, "email"),
        address: one(&body, "address"),
        web: one(&body, "web"),
        hours: DAYS
            .iter()
            .map(|d| (d.to_string(), one(&body, d)))
            .collect(),
    };
    let actor = me.actor();
    let account = me.account().clone();
    let k = key.clone();
    let done = state
        .with_store(move |s| {
            let (files, _) = match crate::kb::live_files(s) {
                Ok(f) => f,
                Err(crate::kb::KbError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(vec![e.to_string()])),
            };
            let Some(old) = files.get("services.toml") else {
                return Ok(Err(vec![
                    "la base de connaissances n'a pas de services.toml : importez un corpus".into(),
                ]));
            };
            let path = files.path_of("services.toml");
            let new = match edit_contacts(&path, old, &k, &edit) {
                Ok(new) => new,
                Err(problems) => {
                    return Ok(Err(problems
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()));
                }
            };
            // The whole knowledge base must still pass its checks (a service referenced
            // nowhere, a default gone): otherwise nothing changes.
            let now = Utc::now();
            match crate::kb::admin_change(
                s,
                &account,
                "services.toml",
                &new,
                chrono::Local::now().date_naive(),
                now,
            ) {
                Ok(_) => {}
                Err(crate::kb::KbError::Store(e)) => return Err(e),
                Err(crate::kb::KbError::Invalid(problems)) => {
                    return Ok(Err(problems.iter().map(|p| p.to_string()).collect()));
                }
                Err(e) => return Ok(Err(vec![e.to_string()])),
            }
            staff::audit(
                s,
                &actor,
                "service.update",
                Some(&k),
                Some("coordonnées et horaires"),
                now,
            )?;
            Ok(Ok(()))
        })
        .await?;
    let notice = match done {
        Ok(()) => {
            state.kb_changed();
            html! {
                p.notice.ok role="status" {
                    "Enregistré dans la base de connaissances. L'assistant, la console et les autres "
                    "serveurs donnent les nouvelles coordonnées dans quelques secondes."
                }
            }
        }
        Err(problems) => html! {
            div.notice.error role="alert" {
                p { "Rien n'a été changé :" }
                ul.plain { @for p in &problems { li { (p) } } }
            }
        },
    };
    Ok(Page(services_form(&me, &engine, Some(notice))).into_response())
}
