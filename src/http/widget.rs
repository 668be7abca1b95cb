//! The website chat widget: its script, its style sheet and the demo city page (with its
//! own style sheet), all built
//! into the binary, and `GET /v1/widget/messages`, the validated sentences it shows.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use super::extract::Query;
use super::{ApiError, AppState};

const WIDGET_JS: &str = include_str!("../../assets/widget/widget.js");
const WIDGET_CSS: &str = include_str!("../../assets/widget/widget.css");
const DEMO_HTML: &str = include_str!("../../assets/demo/index.html");
const DEMO_CSS: &str = include_str!("../../assets/demo/demo.css");

/// Browsers may reuse the script and style sheet for an hour, then revalidate by ETag:
/// a new release reaches every city page within the hour.
const ASSET_CACHE: &str = "public, max-age=3600";
/// The validated sentences change with the corpus: a short cache.
const MESSAGES_CACHE: &str = "public, max-age=300";

/// The demo page runs with a strict policy, which shows that the widget needs no inline
/// script, no `eval` and no third party.
const DEMO_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: String,
}

impl Asset {
    fn new(body: &'static str, content_type: &'static str) -> Self {
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        Self {
            body,
            content_type,
            etag: format!("\"{}\"", &digest[..32]),
        }
    }

    fn respond(&self, request: &HeaderMap, cache: &'static str) -> Response {
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|t| t.trim() == self.etag));
        let etag = HeaderValue::from_str(&self.etag).expect("a hex ETag is a valid header");
        let common = [
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::ETAG, etag),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ];
        if fresh {
            return (StatusCode::NOT_MODIFIED, common).into_response();
        }
        (
            common,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            )],
            self.body,
        )
            .into_response()
    }
}

static JS: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(WIDGET_JS, "text/javascript; charset=utf-8"));
static CSS: LazyLock<Asset> = LazyLock::new(|| Asset::new(WIDGET_CSS, "text/css; charset=utf-8"));
static DEMO_STYLE: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(DEMO_CSS, "text/css; charset=utf-8"));
static DEMO: LazyLock<Asset> = LazyLock::new(|| Asset::new(DEMO_HTML, "text/html; charset=utf-8"));

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(demo))
        .route("/demo.css", get(demo_style))
        .route("/widget.js", get(script))
        .route("/widget.css", get(style))
        .route("/v1/widget/messages", get(messages))
}

async fn script(headers: HeaderMap) -> Response {
    JS.respond(&headers, ASSET_CACHE)
}

async fn style(headers: HeaderMap) -> Response {
    CSS.respond(&headers, ASSET_CACHE)
}

async fn demo_style(headers: HeaderMap) -> Response {
    DEMO_STYLE.respond(&headers, "no-cache")
}

async fn demo(headers: HeaderMap) -> Response {
    let mut response = DEMO.respond(&headers, "no-cache");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DEMO_CSP),
    );
    response
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct MessagesQuery {
    /// The language wanted (the corpus's primary one when it has no messages in it).
    lang: Option<String>,
}

/// The validated sentences the widget shows on its own, and the services' names.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetMessages {
    pub lang: String,
    pub corpus_version: String,
    pub messages: WidgetSentences,
    /// Each service's display name, by key.
    pub services: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetSentences {
    pub greeting: String,
    pub personal_data_warning: String,
    pub clarify: String,
    pub open_now: String,
    pub closed_now: String,
    pub error_generic: String,
    pub error_busy: String,
    pub feedback_thanks: String,
    pub agent_label: String,
    pub ticket_waiting: String,
    pub ticket_unattended: String,
    pub ticket_resolved: String,
    pub ticket_cancelled: String,
}

/// The validated sentences the widget shows on its own (greeting, warnings, thanks...), in
/// the asked language or the corpus's primary one, and the services' display names.
#[utoipa::path(
    get,
    path = "/v1/widget/messages",
    tag = "chat",
    params(MessagesQuery),
    responses((status = 200, description = "The widget's sentences", body = WidgetMessages))
)]
pub(super) async fn messages(
    State(state): State<AppState>,
    Query(query): Query<MessagesQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let engine = state.engine()?;
    let corpus = engine.corpus();
    let (lang, set) = corpus
        .messages()
        .get(query.lang.as_deref().unwrap_or_default());
    let services = corpus
        .services()
        .iter()
        .map(|s| {
            let name = match (lang, &s.name_en) {
                ("en", Some(en)) => en,
                _ => &s.name,
            };
            (s.key.clone(), name.clone())
        })
        .collect();
    let body = WidgetMessages {
        lang: lang.to_string(),
        corpus_version: corpus.version().to_string(),
        messages: WidgetSentences {
            greeting: set.greeting.clone(),
            personal_data_warning: set.personal_data_warning.clone(),
            clarify: set.clarify.clone(),
            open_now: set.open_now.clone(),
            closed_now: set.closed_now.clone(),
            error_generic: set.error_generic.clone(),
            error_busy: set.error_busy.clone(),
            feedback_thanks: set.feedback_thanks.clone(),
            agent_label: set.agent_label.clone(),
            ticket_waiting: set.ticket_waiting.clone(),
            ticket_unattended: set.ticket_unattended.clone(),
            ticket_resolved: set.ticket_resolved.clone(),
            ticket_cancelled: set.ticket_cancelled.clone(),
        },
        services,
    };
    let mut response = (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static(MESSAGES_CACHE),
        )],
        axum::Json(body),
    )
        .into_response();
    // A simple GET: it needs no preflight, only the same origin list as `/v1/chat`.
    let allowed = headers
        .get(header::ORIGIN)
        .filter(|o| {
            o.to_str()
                .is_ok_and(|o| state.config.allowed_origins.iter().any(|a| a == o))
        })
        .cloned();
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    Ok(response)
}
