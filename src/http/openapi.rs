//! `GET /openapi.json`: the description of the public, agents' and webhook API, generated
//! from the handlers and the very types they read and write (utoipa), so that it cannot
//! drift from the code.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HttpMethod, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type,
    header::HeaderBuilder,
};

use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "guichet",
        description = "Le guichet numérique : des réponses validées, mot pour mot, ou une personne. \
            Every error is `{\"error\": {\"code\", \"message\"}}` with a stable `code`; \
            503 and 429 carry `Retry-After`."
    ),
    paths(
        super::chat::chat,
        super::chat::messages,
        super::chat::cancel,
        super::feedback::feedback,
        super::widget::messages,
        super::health::healthz,
        super::health::readyz,
        super::handoffs::list,
        super::handoffs::claim,
        super::handoffs::reply,
        super::handoffs::resolve,
        crate::channels::generic::receive,
        crate::channels::telegram::receive,
        crate::channels::messenger::receive,
        crate::channels::whatsapp::receive,
        crate::channels::meta::subscribe,
    ),
    modifiers(&Common),
    tags(
        (name = "chat", description = "The web widget's API (CORS: the configured origins)"),
        (name = "agents", description = "Hand-offs, for the agents' tools: `Authorization: Bearer GUICHET_ADMIN_TOKEN` (404 when no token is configured)"),
        (name = "webhooks", description = "The messengers' webhooks, signed"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// What every operation shares, added here once rather than repeated on each handler:
/// the 503 with `Retry-After` that any route can give (store unavailable, model loading,
/// engine busy, timeout), the errors of JSON bodies and of parameters, the 401 of the
/// token, the 429 of the rate limits, and the bearer scheme.
struct Common;

impl utoipa::Modify for Common {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        for (path, item) in api.paths.paths.iter_mut() {
            for (method, op) in [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
            ] {
                let Some(op) = op.as_mut() else { continue };
                add_common(path, method, op);
            }
        }
    }
}

fn add_common(path: &str, method: HttpMethod, op: &mut Operation) {
    let has_body = op.request_body.is_some();
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    // The rate limits of `clients::limited`: the chat's and feedback's POSTs, every
    // agents' request (webhooks are signed, and outside them).
    let limited = path.starts_with("/v1/handoffs")
        || (method == HttpMethod::Post && (path.starts_with("/v1/chat") || path == "/v1/feedback"));
    let webhook = path.starts_with("/webhooks/");
    let mut add = |status: &str, description: &str, retry: bool| {
        let responses = &mut op.responses.responses;
        if responses.contains_key(status) {
            return;
        }
        responses.insert(status.to_string(), error_response(description, retry));
    };
    add(
        "503",
        "Unavailable for a moment (`unavailable`, `not_ready`, `busy`): try again after `Retry-After` seconds; nothing was kept",
        true,
    );
    if limited {
        add(
            "429",
            "Too many requests from this client (`rate_limited`): try again after `Retry-After` seconds",
            true,
        );
    }
    if secured {
        add(
            "401",
            "Missing or wrong bearer token (`unauthorized`)",
            false,
        );
        add("404", "No admin token configured (`not_found`)", false);
    }
    if has_body && !webhook {
        add("400", "The body is not JSON (`malformed_json`)", false);
        add("413", "The body is too large (`payload_too_large`)", false);
        add(
            "415",
            "Not sent as `application/json` (`unsupported_media_type`)",
            false,
        );
        add("422", "Not the expected fields (`invalid_request`)", false);
    }
    if has_params {
        add(
            "400",
            "A bad query string or path parameter (`invalid_query`, `invalid_path`)",
            false,
        );
    }
}

fn error_response(description: &str, retry: bool) -> RefOr<utoipa::openapi::Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if retry {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .description(Some("Seconds to wait"))
                .build(),
        );
    }
    RefOr::T(response.build())
}

/// Built once: it only changes with the code.
static JSON: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the description serialises")
});

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi))
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        JSON.as_str(),
    )
        .into_response()
}
