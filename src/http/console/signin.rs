//! Signing in (local account; the city's SSO when configured), choosing a password from a
//! set-up link, signing out. These pages have no session yet: their forms carry a
//! double-submit token (a cookie and the same value in the form), and a state change
//! sent from another site is refused.

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use serde::Deserialize;

use super::{
    ConsoleError, Page, Staff, address_key, cross_site, form_token, pre_cookie,
    removed_session_cookie, session_cookie, signed_in,
};
use crate::html::console::{bare, csrf_field};
use crate::html::{Markup, html};
use crate::http::AppState;
use crate::staff::{self, SignInError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/setup/{token}", get(setup_page).post(setup))
}

/// Signing out needs a session (and its CSRF token), not a role.
pub fn signed_in_router(state: &AppState) -> Router<AppState> {
    signed_in(
        state,
        Router::new()
            .route("/console/logout", post(logout))
            .route("/console/logout-everywhere", post(logout_everywhere)),
    )
}

/// Where to go after signing in: a console path only (never another site).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console/") && !n.contains("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/console/".into(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

fn login_form(
    state: &AppState,
    token: &str,
    next: &str,
    email: &str,
    error: Option<&str>,
) -> Markup {
    let sso = super::sso_enabled(state);
    bare(
        "Connexion",
        html! {
            div.signin {
                @if let Some(error) = error {
                    p.notice.error role="alert" id="erreur" { (error) }
                }
                @if sso {
                    p { a.button href="/console/login/oidc" { "Se connecter avec le compte de la ville" } }
                    p.muted { "Ou avec un compte local :" }
                }
                form method="post" action="/console/login" {
                    (csrf_field(token))
                    input type="hidden" name="next" value=(next);
                    label for="email" { "Adresse e-mail" }
                    input type="email" id="email" name="email" autocomplete="username" required
                        value=(email) aria-describedby=[error.map(|_| "erreur")];
                    label for="password" { "Mot de passe" }
                    input type="password" id="password" name="password"
                        autocomplete="current-password" required;
                    div.actions { button type="submit" { "Se connecter" } }
                }
                p.muted {
                    "Mot de passe oublié ou compte à créer : un administrateur vous envoie un lien."
                }
            }
        },
    )
}

fn with_pre_cookie(state: &AppState, jar: CookieJar, token: String, fresh: bool) -> CookieJar {
    if fresh {
        jar.add(pre_cookie(state, token))
    } else {
        jar
    }
}

async fn login_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> Response {
    let (token, fresh) = form_token(&state, &jar);
    let next = safe_next(q.next.as_deref());
    let page = login_form(&state, &token, &next, "", None);
    (with_pre_cookie(&state, jar, token, fresh), Page(page)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// The form token must be the cookie's (double submit) and the request same-site.
fn check_form_token(
    state: &AppState,
    jar: &CookieJar,
    headers: &axum::http::HeaderMap,
    sent: &str,
) -> bool {
    let (expected, fresh) = form_token(state, jar);
    !fresh && !cross_site(state, headers) && staff::same_token(&expected, sent)
}

async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    request: Request,
) -> Result<Response, ConsoleError> {
    let addr = address_key(&state, &request);
    let headers = request.headers().clone();
    let Form(form): Form<LoginForm> = Form::from_request(request, &state)
        .await
        .map_err(|e| ConsoleError::Invalid(format!("formulaire incomplet : {e}")))?;
    if !check_form_token(&state, &jar, &headers, &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let next = safe_next(form.next.as_deref());
    let (email, password) = (form.email.clone(), form.password);
    let signed =
        state
            .with_store(move |s| {
                let now = Utc::now();
                match staff::sign_in(s, &email, &password, &addr, now) {
                    Ok(Ok(account)) => Ok(Ok(staff::open_session(s, &account, "password", now)
                        .map_err(staff_store_error)?)),
                    Ok(Err(refused)) => Ok(Err(refused)),
                    Err(e) => Err(staff_store_error(e)),
                }
            })
            .await?;
    match signed {
        Ok(opened) => {
            let jar = jar.add(session_cookie(&state, opened.token));
            Ok((jar, Redirect::to(&next)).into_response())
        }
        Err(refused) => {
            let status = match refused {
                SignInError::Invalid => StatusCode::UNAUTHORIZED,
                SignInError::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            };
            let (token, _) = form_token(&state, &jar);
            let page = login_form(
                &state,
                &token,
                &next,
                &form.email,
                Some(&refused.to_string()),
            );
            Ok((status, Page(page)).into_response())
        }
    }
}

/// A staff error inside a store call: the store's own error, or a message.
fn staff_store_error(e: staff::StaffError) -> crate::store::StoreError {
    match e {
        staff::StaffError::Store(e) => e,
        other => crate::store::StoreError::Conflict(other.to_string()),
    }
}

fn setup_form(token: &str, form_token: &str, name: &str, error: Option<&str>) -> Markup {
    bare(
        "Choisir votre mot de passe",
        html! {
            div.signin {
                p { "Bonjour " (name) ". Choisissez le mot de passe de votre compte (au moins "
                    (staff::MIN_PASSWORD_CHARS) " caractères ; une phrase facile à retenir convient)." }
                @if let Some(error) = error {
                    p.notice.error role="alert" id="erreur" { (error) }
                }
                form method="post" action={ "/console/setup/" (token) } {
                    (csrf_field(form_token))
                    label for="password" { "Nouveau mot de passe" }
                    input type="password" id="password" name="password" autocomplete="new-password"
                        required minlength=(staff::MIN_PASSWORD_CHARS) aria-describedby=[error.map(|_| "erreur")];
                    label for="again" { "Le même, une seconde fois" }
                    input type="password" id="again" name="again" autocomplete="new-password" required;
                    div.actions { button type="submit" { "Enregistrer et se connecter" } }
                }
            }
        },
    )
}

fn expired_link() -> Response {
    (
        StatusCode::GONE,
        Page(bare(
            "Lien expiré",
            html! {
                p.notice.error role="alert" {
                    "Ce lien de création de mot de passe n'est plus valable (déjà utilisé ou trop \
                     ancien). Demandez-en un nouveau à un administrateur."
                }
            },
        )),
    )
        .into_response()
}

/// The account a set-up link is for, while the link is valid.
async fn link_account(
    state: &AppState,
    token: &str,
) -> Result<Option<staff::Account>, ConsoleError> {
    let t = token.to_string();
    Ok(state
        .with_store(move |s| staff::setup_account(s, &t, Utc::now()).map_err(staff_store_error))
        .await?)
}

async fn setup_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Result<Response, ConsoleError> {
    let Some(account) = link_account(&state, &token).await? else {
        return Ok(expired_link());
    };
    let (form, fresh) = form_token(&state, &jar);
    let page = setup_form(&token, &form, &account.name, None);
    Ok((with_pre_cookie(&state, jar, form, fresh), Page(page)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    password: String,
    again: String,
    csrf: String,
}

async fn setup(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(token): Path<String>,
    request: Request,
) -> Result<Response, ConsoleError> {
    let headers = request.headers().clone();
    let Form(form): Form<SetupForm> = Form::from_request(request, &state)
        .await
        .map_err(|e| ConsoleError::Invalid(format!("formulaire incomplet : {e}")))?;
    if !check_form_token(&state, &jar, &headers, &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let Some(account) = link_account(&state, &token).await? else {
        return Ok(expired_link());
    };
    let (form_tok, _) = form_token(&state, &jar);
    if form.password != form.again {
        let page = setup_form(
            &token,
            &form_tok,
            &account.name,
            Some("Les deux mots de passe diffèrent."),
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response());
    }
    let password = form.password;
    let t = token.clone();
    let done =
        state
            .with_store(move |s| {
                let now = Utc::now();
                match staff::complete_setup(s, &t, &password, now) {
                    Ok(account) => Ok(Ok(staff::open_session(s, &account, "setup", now)
                        .map_err(staff_store_error)?)),
                    Err(staff::StaffError::Store(e)) => Err(e),
                    Err(refused) => Ok(Err(refused.to_string())),
                }
            })
            .await?;
    match done {
        Ok(opened) => {
            let jar = jar.add(session_cookie(&state, opened.token));
            Ok((jar, Redirect::to("/console/")).into_response())
        }
        Err(why) => {
            let page = setup_form(&token, &form_tok, &account.name, Some(&why));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response())
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Staff,
) -> Result<Response, ConsoleError> {
    state
        .with_store(move |s| staff::close_session(s, &me.token, me.account(), Utc::now()))
        .await?;
    let jar = jar.add(removed_session_cookie(&state));
    Ok((jar, Redirect::to("/console/login")).into_response())
}

async fn logout_everywhere(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Staff,
) -> Result<Response, ConsoleError> {
    state
        .with_store(move |s| {
            staff::close_all_sessions(s, me.account(), &me.actor(), Utc::now()).map(|_| ())
        })
        .await?;
    let jar = jar.add(removed_session_cookie(&state));
    Ok((jar, Redirect::to("/console/login")).into_response())
}
