//! The staff console under `/console/`: server-rendered pages (templates in
//! `crate::html`), a little JavaScript for the live inbox, no external request.
//!
//! Every page and action belongs to an *area* that names the [`Action`] it needs; the
//! area's guard (one middleware, [`guard`]) finds the session from its cookie, refuses
//! what the account's roles do not allow (403), checks the CSRF token of every
//! state-changing request, and hands the handler the signed-in [`Staff`]. A route outside
//! an area is public: the sign-in and set-up pages and the assets, nothing else.
//! Every response carries a strict Content-Security-Policy and is not cached (the layer of
//! `http::headers`, common to every route).

mod admin;
mod home;
mod inbox;
mod kb;
mod proposals;
mod signin;
mod sso;
mod training;
mod try_it;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Utc;

use super::{ApiError, AppState};
use crate::html::console::{Chrome, NavItem, bare};
use crate::html::{Markup, html};
use crate::staff::{self, Account, Action, Session};

/// The session cookie; `__Host-` (Secure, no Domain, Path=/) when served over https.
const COOKIE: &str = "guichet_staff";
const COOKIE_SECURE: &str = "__Host-guichet_staff";
/// The pre-session cookie of the sign-in and set-up forms (double-submit CSRF token).
const PRE_COOKIE: &str = "guichet_form";
const PRE_COOKIE_SECURE: &str = "__Host-guichet_form";

/// The signed-in person of a request, put there by [`guard`].
#[derive(Debug, Clone)]
pub struct Staff {
    pub session: Session,
    pub token: String,
}

impl Staff {
    pub fn account(&self) -> &Account {
        &self.session.account
    }

    /// The page shell for this person: the sections their roles open, `current` marked.
    pub fn chrome(&self, current: &str) -> Chrome {
        Chrome {
            name: self.account().name.clone(),
            roles: self.account().roles_label(),
            csrf: self.session.csrf.clone(),
            nav: nav(self.account(), current),
        }
    }

    pub fn actor(&self) -> staff::Actor {
        staff::Actor::staff(self.account())
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Staff {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        // Only reachable behind a guard; a handler outside an area asking for it is a
        // programming error, answered as "not signed in" rather than a panic.
        parts
            .extensions
            .get::<Staff>()
            .cloned()
            .ok_or(ConsoleError::SignedOut)
    }
}

/// The sections of the top navigation, those `account` may open.
pub fn nav(account: &Account, current: &str) -> Vec<NavItem> {
    let items = [
        ("/console/inbox", "Demandes", Action::SeeInbox),
        (
            "/console/kb",
            "Base de connaissances",
            Action::ReadKnowledge,
        ),
        (
            "/console/proposals",
            "Mes propositions",
            Action::ProposeKnowledge,
        ),
        ("/console/review", "Relecture", Action::ValidateKnowledge),
        ("/console/try", "Essayer", Action::TryAssistant),
        (
            "/console/training",
            "Questions sans réponse",
            Action::ProposeKnowledge,
        ),
        ("/console/coverage", "Couverture", Action::SeeCoverage),
        (
            "/console/admin/staff",
            "Administration",
            Action::ManageStaff,
        ),
    ];
    items
        .into_iter()
        .filter(|(_, _, action)| account.may(*action))
        .map(|(href, label, _)| NavItem {
            href,
            label,
            current: href == current,
        })
        .collect()
}

/// What goes wrong in the console, as a page in French.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("session ended")]
    SignedOut,
    #[error("not allowed")]
    Forbidden,
    #[error("csrf token missing or wrong")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::store::StoreError> for ConsoleError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, text): (StatusCode, &str, String) = match &self {
            Self::SignedOut => (
                StatusCode::UNAUTHORIZED,
                "Session terminée",
                "Votre session a pris fin. Reconnectez-vous pour continuer.".into(),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "Accès refusé",
                "Votre rôle ne permet pas cette page ou cette action. Un administrateur peut \
                 changer vos rôles."
                    .into(),
            ),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "Formulaire expiré",
                "Le jeton de sécurité du formulaire manque ou ne correspond pas à votre \
                 session. Rechargez la page et recommencez."
                    .into(),
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Page introuvable",
                "Cette page n'existe pas ou plus.".into(),
            ),
            Self::Invalid(why) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Demande refusée",
                why.clone(),
            ),
            Self::Api(e) => {
                // The API's own response gives the status (and Retry-After for a 503);
                // the page says it in French.
                let api = e.status();
                let text = match api.as_u16() {
                    503 => "Le service est momentanément indisponible ; rien n'a été perdu, \
                            réessayez dans quelques secondes."
                        .to_string(),
                    409 => conflict_fr(e),
                    404 => "Cette page n'existe pas ou plus.".to_string(),
                    _ => "Une erreur est survenue ; elle est consignée dans le journal du \
                          serveur."
                        .to_string(),
                };
                let mut r = page_response(api, "Action impossible", &text);
                if api == StatusCode::SERVICE_UNAVAILABLE {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                }
                if api.is_server_error() {
                    tracing::error!("console: {e}");
                }
                return r;
            }
        };
        page_response(status, title, &text)
    }
}

fn conflict_fr(e: &ApiError) -> String {
    match e {
        ApiError::AlreadyClaimed(Some(who)) => {
            format!("Cette demande est déjà prise en charge par {who}.")
        }
        ApiError::AlreadyClaimed(None) => {
            "Cette demande est déjà prise en charge par un autre agent.".into()
        }
        ApiError::Conflict(why) => why.clone(),
        _ => "Cette action n'est plus possible.".into(),
    }
}

fn page_response(status: StatusCode, title: &str, text: &str) -> Response {
    let body = bare(
        title,
        html! {
            p.notice.error role="alert" { (text) }
            p { a href="/console/" { "Retour à la console" } }
        },
    );
    (status, Page(body)).into_response()
}

/// A rendered page as a response.
pub struct Page(pub Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.0.into_string(),
        )
            .into_response()
    }
}

/// The client's address, as a keyed hash (for the per-address sign-in limit): behind a
/// trusted proxy, the address it forwards, so that one client's mistakes do not lock
/// everyone out.
pub fn address_key(state: &AppState, request: &Request) -> String {
    let ip = super::clients::client_of(state, request)
        .map_or("unknown".to_string(), |ip| ip.to_string());
    state
        .store
        .pseudonym(crate::store::Channel::Web, &format!("staff-signin:{ip}"))
        .as_str()
        .to_string()
}

fn cookie_names(state: &AppState) -> (&'static str, &'static str) {
    if state.config.secure_cookies() {
        (COOKIE_SECURE, PRE_COOKIE_SECURE)
    } else {
        (COOKIE, PRE_COOKIE)
    }
}

/// A cookie of ours: HttpOnly, SameSite=Lax (the SSO's redirect back is a cross-site
/// navigation), Secure outside loopback, Path=/ (required by `__Host-`).
fn our_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(state.config.secure_cookies());
    c.set_path("/");
    c
}

/// The session cookie for `token` (a session cookie: gone when the browser closes).
pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    our_cookie(state, cookie_names(state).0, token)
}

/// The session cookie, removed.
pub fn removed_session_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = our_cookie(state, cookie_names(state).0, String::new());
    c.make_removal();
    c
}

/// The form token of a page without a session: the cookie's value if the browser has
/// one, else a new one (to set with [`pre_cookie`]).
pub fn form_token(state: &AppState, jar: &CookieJar) -> (String, bool) {
    match jar.get(cookie_names(state).1) {
        Some(c) if c.value().len() == 64 => (c.value().to_string(), false),
        _ => (staff::random_token(), true),
    }
}

pub fn pre_cookie(state: &AppState, token: String) -> Cookie<'static> {
    our_cookie(state, cookie_names(state).1, token)
}

/// The session a request's cookie opens, if any.
async fn session_of(state: &AppState, jar: &CookieJar) -> Result<Option<Staff>, ApiError> {
    let Some(token) = jar
        .get(cookie_names(state).0)
        .map(|c| c.value().to_string())
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    let t = token.clone();
    let session = state
        .with_store(move |s| staff::session(s, &t, Utc::now()))
        .await?;
    Ok(session.map(|session| Staff { session, token }))
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a state-changing request sent from another site (when the browser says so:
/// `Sec-Fetch-Site` or `Origin`), whatever its token.
fn cross_site(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => {
            let own = state.config.public_url();
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            origin != own
                && host.is_none_or(|h| origin != format!("http://{h}"))
                && host.is_none_or(|h| origin != format!("https://{h}"))
        }
        None => false,
    }
}

/// The CSRF token a request carries: the `X-CSRF-Token` header (the console's scripts)
/// or the `csrf` field of a form body. The body is read (bounded) and put back.
async fn carried_token(request: Request) -> Result<(Option<String>, Request), ConsoleError> {
    if let Some(t) = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return Ok((Some(t.to_string()), request));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((None, request));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, super::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    Ok((token, Request::from_parts(parts, Body::from(bytes))))
}

/// The guard of an area needing `action`: signed in (else the sign-in page for a page,
/// 401 for anything else), allowed (else 403), CSRF-checked for a state change.
async fn guard(
    State((state, action)): State<(AppState, Option<Action>)>,
    jar: CookieJar,
    request: Request,
    next: Next,
) -> Response {
    match admit(&state, action, jar, request).await {
        Ok(request) => next.run(request).await,
        Err(response) => response,
    }
}

async fn admit(
    state: &AppState,
    action: Option<Action>,
    jar: CookieJar,
    request: Request,
) -> Result<Request, Response> {
    let staff = match session_of(state, &jar).await {
        Ok(Some(staff)) => staff,
        Ok(None) => {
            if request.method() == Method::GET && !wants_event_stream(request.headers()) {
                let next = request
                    .uri()
                    .path_and_query()
                    .map_or("/console/", |p| p.as_str());
                let to = format!("/console/login?next={}", urlencode(next));
                return Err(Redirect::to(&to).into_response());
            }
            return Err(ConsoleError::SignedOut.into_response());
        }
        Err(e) => return Err(ConsoleError::Api(e).into_response()),
    };
    let mut request = request;
    if unsafe_method(request.method()) {
        if cross_site(state, request.headers()) {
            return Err(ConsoleError::Csrf.into_response());
        }
        let (token, back) = carried_token(request)
            .await
            .map_err(IntoResponse::into_response)?;
        if !token.is_some_and(|t| staff::same_token(&t, &staff.session.csrf)) {
            tracing::warn!(action = ?action, "console: state change without a valid CSRF token refused");
            return Err(ConsoleError::Csrf.into_response());
        }
        request = back;
    }
    if action.is_some_and(|a| !staff.account().may(a)) {
        return Err(ConsoleError::Forbidden.into_response());
    }
    request.extensions_mut().insert(staff);
    Ok(request)
}

fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A sub-router whose every route needs `action`.
pub fn area(state: &AppState, action: Action, routes: Router<AppState>) -> Router<AppState> {
    routes.route_layer(middleware::from_fn_with_state(
        (state.clone(), Some(action)),
        guard,
    ))
}

/// A sub-router whose routes need a session and no particular role (the home page, which
/// tells a role-less account to wait, and signing out).
pub fn signed_in(state: &AppState, routes: Router<AppState>) -> Router<AppState> {
    routes.route_layer(middleware::from_fn_with_state(
        (state.clone(), None::<Action>),
        guard,
    ))
}

/// The signed-in person of a request, when there is one (the pages outside areas: the
/// home page decides between the dashboard and the "waiting for a role" page).
pub async fn optional_staff(state: &AppState, jar: &CookieJar) -> Result<Option<Staff>, ApiError> {
    session_of(state, jar).await
}

const CSS: &str = crate::html::STYLESHEET;
const JS: &str = include_str!("../../assets/console/console.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route(
            "/console/assets/console.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/console/assets/console.js",
            get(|| async { asset(JS, "text/javascript; charset=utf-8") }),
        )
        .merge(super::clients::limited(
            state,
            signin::router(),
            state.config.rate_signin,
            super::clients::Counted::Posts,
        ))
        .merge(sso::router())
        .merge(home::router(state))
        .merge(admin::router(state))
        .merge(inbox::router(state))
        .merge(kb::router(state))
        .merge(try_it::router(state))
        .merge(proposals::router(state))
        .merge(training::router(state))
}

/// The console's long jobs (the coverage report, a batch probe), under
/// [`super::SLOW_TIMEOUT`] rather than the common one; with the same headers.
pub fn slow_router(state: &AppState) -> Router<AppState> {
    try_it::slow_router(state)
}

/// Whether sign-in through the city's identity provider is configured.
pub fn sso_enabled(state: &AppState) -> bool {
    state.config.oidc().is_some()
}

/// The address of the caller, when the server was started with connection info.
pub fn peer(request_ext: &axum::http::Extensions) -> Option<SocketAddr> {
    request_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a)
}
