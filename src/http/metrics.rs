//! `GET /metrics` in Prometheus text format, and the layer that counts and times every
//! request by its route template (never its raw path: no ids, no tokens in labels).
//! Served behind the admin token on the main address, or without it on the separate
//! address `GUICHET_METRICS_ADDR` names.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use metrics::{counter, gauge, histogram};

use super::{ApiError, AppState};
use crate::telemetry;

/// `/metrics` on the main address: the admin token first (as every admin route).
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(guarded))
}

/// The router of the metrics address: `/metrics` only, no token (the address is the
/// protection), and the JSON 404 for anything else.
pub fn separate(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(open))
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(super::headers::security_headers))
        .with_state(state)
}

async fn guarded(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    super::handoffs::authorize(&state, &headers)?;
    open(State(state)).await
}

async fn open(State(state): State<AppState>) -> Result<Response, ApiError> {
    sample(&state).await;
    let mut response = telemetry::render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// What is read rather than counted, read at each scrape: the engine's slots in use, and
/// the inbox (from the store: every replica sees the same one). A store that fails here
/// leaves the last values and is counted as a store error; the rest is still served.
async fn sample(state: &AppState) {
    let capacity = state.config.max_inflight;
    let free = state.permits.available_permits();
    gauge!(telemetry::ENGINE_CAPACITY).set(capacity as f64);
    gauge!(telemetry::ENGINE_IN_FLIGHT).set(capacity.saturating_sub(free) as f64);
    if let Ok(depth) = state.with_store(|s| s.inbox_depth()).await {
        gauge!(telemetry::INBOX_DEPTH).set(depth.rows as f64);
        let age = depth.oldest.map_or(0.0, |t| {
            (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
        });
        gauge!(telemetry::INBOX_OLDEST_AGE).set(age);
    }
}

/// Counts and times a request under its route template. Methods outside the standard set
/// share one label, so that a client inventing methods cannot grow the series.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_string(), |p| p.as_str().to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let in_flight = InFlight::enter();
    let response = next.run(request).await;
    drop(in_flight);
    let status = response.status().as_u16().to_string();
    histogram!(telemetry::HTTP_DURATION, "method" => method, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    counter!(telemetry::HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// One request in flight; leaves the gauge when dropped, also when the client goes away
/// and the request's future is dropped unfinished.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        gauge!(telemetry::HTTP_IN_FLIGHT).increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(telemetry::HTTP_IN_FLIGHT).decrement(1.0);
    }
}
