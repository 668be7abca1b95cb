//! Signing in with the city's identity provider (OpenID Connect, authorization code +
//! PKCE; the protocol is in `crate::http::oidc`). The sign-in under way is kept in the
//! store (any replica can finish it), keyed by the hash of its `state`, and bound to the
//! browser that began it by a short-lived cookie holding that state.
//!
//! Accounts are keyed by (issuer, subject), never by email: a first sign-in creates the
//! account, with the roles of the configured claim when the provider gives them (then the
//! provider stays authoritative: they are updated at each sign-in), else none until an
//! admin gives one. An email that already has a local account is not taken over.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{ConsoleError, Page, session_cookie};
use crate::html::console::bare;
use crate::html::html;
use crate::http::AppState;
use crate::http::oidc::{Identity, Oidc, OidcError, Pending};
use crate::staff::{self, Account, Actor, NewAccount, Role};
use crate::store::{Store, StoreError};

/// How long a sign-in may stay at the provider.
const PENDING_FOR: Duration = Duration::minutes(10);
const STATE_COOKIE: &str = "guichet_sso";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login/oidc", get(begin))
        .route("/console/login/oidc/callback", get(callback))
}

/// The provider's client, discovered at the first sign-in and kept (a provider down when
/// guichet starts does not stop it from starting).
async fn client(state: &AppState) -> Result<&Oidc, OidcError> {
    let settings = state
        .config
        .oidc()
        .ok_or_else(|| OidcError::Misconfigured("single sign-on is not configured".into()))?;
    let redirect = format!("{}/console/login/oidc/callback", state.config.public_url());
    state
        .sso
        .get_or_try_init(|| Oidc::discover(settings, redirect))
        .await
}

fn failed(e: &OidcError) -> Response {
    tracing::warn!("staff single sign-on failed: {e}");
    let status = match e {
        OidcError::Unreachable(_) => axum::http::StatusCode::BAD_GATEWAY,
        OidcError::Expired | OidcError::Denied(_) => axum::http::StatusCode::UNAUTHORIZED,
        _ => axum::http::StatusCode::FORBIDDEN,
    };
    let page = bare(
        "Connexion impossible",
        html! {
            p.notice.error role="alert" { (e.message_fr()) }
            p { a href="/console/login" { "Revenir à la page de connexion" } }
        },
    );
    (status, Page(page)).into_response()
}

async fn begin(State(state): State<AppState>, jar: CookieJar) -> Result<Response, ConsoleError> {
    if state.config.oidc().is_none() {
        return Err(ConsoleError::NotFound);
    }
    let oidc = match client(&state).await {
        Ok(c) => c,
        Err(e) => return Ok(failed(&e)),
    };
    let (url, pending) = oidc.begin();
    let key = staff::token_hash(&pending.state);
    let cookie_state = pending.state.clone();
    let json = serde_json::to_string(&pending).map_err(StoreError::from)?;
    state
        .with_store(move |s| s.put_oidc_login(&key, &json, Utc::now()))
        .await?;
    let mut c = Cookie::new(STATE_COOKIE, cookie_state);
    c.set_http_only(true);
    // Lax: the provider's redirect back is a top-level navigation from another site.
    c.set_same_site(SameSite::Lax);
    c.set_secure(state.config.secure_cookies());
    c.set_path("/console/login/oidc");
    Ok((jar.add(c), Redirect::to(url.as_str())).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<Callback>,
) -> Result<Response, ConsoleError> {
    if state.config.oidc().is_none() {
        return Err(ConsoleError::NotFound);
    }
    if let Some(error) = &q.error {
        return Ok(failed(&OidcError::from_callback(
            error,
            q.error_description.as_deref(),
        )));
    }
    let (Some(code), Some(returned)) = (q.code, q.state) else {
        return Ok(failed(&OidcError::Expired));
    };
    // The browser that comes back must be the one that left.
    let bound = jar
        .get(STATE_COOKIE)
        .is_some_and(|c| staff::same_token(c.value(), &returned));
    let key = staff::token_hash(&returned);
    let pending = state
        .with_store(move |s| s.take_oidc_login(&key, Utc::now() - PENDING_FOR))
        .await?;
    let (true, Some(pending)) = (bound, pending) else {
        return Ok(failed(&OidcError::Expired));
    };
    let pending: Pending = serde_json::from_str(&pending).map_err(StoreError::from)?;
    let oidc = match client(&state).await {
        Ok(c) => c,
        Err(e) => return Ok(failed(&e)),
    };
    let identity = match oidc.finish(pending, &code).await {
        Ok(i) => i,
        Err(e) => return Ok(failed(&e)),
    };
    let claim_given = state
        .config
        .oidc()
        .is_some_and(|_| !identity.roles.is_empty());
    let opened = state
        .with_store(move |s| {
            let now = Utc::now();
            let account = match account_for(s, &identity, claim_given, now)? {
                Ok(a) => a,
                Err(why) => return Ok(Err(why)),
            };
            if account.disabled {
                return Ok(Err(
                    "Ce compte est désactivé. Adressez-vous à un administrateur.".into(),
                ));
            }
            staff::open_session(s, &account, "sso", now)
                .map(Ok)
                .map_err(|e| match e {
                    staff::StaffError::Store(e) => e,
                    other => StoreError::Conflict(other.to_string()),
                })
        })
        .await?;
    let mut gone = Cookie::from(STATE_COOKIE);
    gone.set_path("/console/login/oidc");
    let jar = jar.remove(gone);
    match opened {
        Ok(opened) => Ok((
            jar.add(session_cookie(&state, opened.token)),
            Redirect::to("/console/"),
        )
            .into_response()),
        Err(why) => Ok((jar, failed_text(&why)).into_response()),
    }
}

fn failed_text(why: &str) -> Response {
    let page = bare(
        "Connexion impossible",
        html! {
            p.notice.error role="alert" { (why) }
            p { a href="/console/login" { "Revenir à la page de connexion" } }
        },
    );
    (axum::http::StatusCode::FORBIDDEN, Page(page)).into_response()
}

/// Roles named by the provider that guichet knows (others are ignored, not refused: a
/// provider's claim often carries roles of other applications).
fn known_roles(names: &[String]) -> Vec<Role> {
    let mut roles: Vec<Role> = names.iter().filter_map(|n| Role::parse(n)).collect();
    roles.sort();
    roles.dedup();
    roles
}

/// The account of a signed-in identity: found by (issuer, subject), its roles updated
/// from the claim when the provider gave one; created at the first sign-in.
fn account_for(
    s: &dyn Store,
    identity: &Identity,
    claim_given: bool,
    now: chrono::DateTime<Utc>,
) -> Result<Result<Account, String>, StoreError> {
    let sso = Actor {
        staff: None,
        label: "sso".into(),
    };
    let roles = known_roles(&identity.roles);
    if let Some(account) = s.staff_by_sso(&identity.issuer, &identity.subject)? {
        let editors_keep_services = roles
            .iter()
            .any(|r| matches!(r, Role::Editor | Role::Validator));
        if claim_given && roles != account.roles && !editors_keep_services {
            s.set_roles(account.id, &roles, &account.services)?;
            let label = Account {
                roles,
                ..account.clone()
            }
            .roles_label();
            staff::audit(
                s,
                &sso,
                "staff.roles",
                Some(&account.email),
                Some(&label),
                now,
            )?;
        }
        return Ok(Ok(s.staff(account.id)?.unwrap_or(account)));
    }
    let Some(email) = identity.email.as_deref() else {
        return Ok(Err(
            "Le fournisseur d'identité n'a pas donné d'adresse e-mail vérifiée : un administrateur doit créer votre compte."
                .into(),
        ));
    };
    if s.staff_by_email(&email.to_lowercase())?.is_some() {
        return Ok(Err(format!(
            "Un compte local existe déjà pour {email} : un administrateur peut le relier à votre compte de la ville."
        )));
    }
    // Editors and validators need their services, which only an admin gives.
    let roles: Vec<Role> = roles
        .into_iter()
        .filter(|r| !matches!(r, Role::Editor | Role::Validator))
        .collect();
    let name = identity.name.as_deref();
    let mut new = match NewAccount::new(email, name, roles.clone(), vec![], &[]) {
        Ok(n) => n,
        // A name that is not one (an email as display name): the email's first name.
        Err(staff::StaffError::Name(_)) => match NewAccount::new(email, None, roles, vec![], &[]) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e.to_string())),
        },
        Err(e) => return Ok(Err(e.to_string())),
    };
    new.sso = Some((identity.issuer.clone(), identity.subject.clone()));
    let account = s.add_staff(&new, now)?;
    staff::audit(
        s,
        &sso,
        "staff.add",
        Some(&account.email),
        Some(&account.roles_label()),
        now,
    )?;
    Ok(Ok(account))
}
