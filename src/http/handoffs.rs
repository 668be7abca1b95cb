//! The agents' side of the hand-off, behind `Authorization: Bearer GUICHET_ADMIN_TOKEN`:
//! list tickets, claim one (`{"agent": "Camille"}`: the first name or role the person
//! sees; a ticket someone has is refused with 409 naming them), reply through the
//! person's channel, resolve (the assistant takes over again). Without a token configured, these routes do not exist (404).

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::extract::{JsonBody, Path, Query};
use super::{ApiError, AppState};
use crate::channels::deliver_agent_reply;
use crate::channels::signature::{bearer, token_matches};
use crate::conversation;
use crate::store::{AgentName, Ticket, TicketStatus};

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/handoffs", get(list))
        .route("/v1/handoffs/{id}/claim", post(claim))
        .route("/v1/handoffs/{id}/reply", post(reply))
        .route("/v1/handoffs/{id}/resolve", post(resolve))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin))
}

/// The token is checked before anything else of the request is read: a caller without
/// it learns nothing from how its path, query or body are judged.
async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    authorize(&state, request.headers())?;
    Ok(next.run(request).await)
}

pub(super) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.config.admin_token else {
        return Err(ApiError::NotFound);
    };
    let given = bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    if token_matches(token.expose(), given) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// `open`, `claimed`, `resolved` or `all` (the default).
    #[param(pattern = "^(open|claimed|resolved|all)$")]
    status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Tickets {
    pub tickets: Vec<Ticket>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketBody {
    pub ticket: Ticket,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentReplied {
    pub ticket: Ticket,
    /// Whether the person's platform took the message (the web widget polls: false).
    pub delivered: bool,
    /// The text as delivered, personal data redacted.
    pub text: String,
}

/// The tickets, newest first.
#[utoipa::path(
    get,
    path = "/v1/handoffs",
    tag = "agents",
    params(ListQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The tickets", body = Tickets),
        (status = 422, description = "Unknown status", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Tickets>, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(TicketStatus::parse(s).ok_or_else(|| {
            ApiError::InvalidRequest("status must be open, claimed, resolved or all".into())
        })?),
    };
    let tickets = state.with_store(move |s| s.tickets(status)).await?;
    Ok(Json(Tickets { tickets }))
}

/// Who acts on a ticket, as an integration says it: `{"agent": "Camille"}`, or no body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentRequest {
    /// The first name or role the person sees.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 60)]
    agent: Option<String>,
}

/// An optional JSON body: none, or one that parses.
fn agent_body(body: &Bytes) -> Result<Option<AgentName>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: AgentRequest = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::InvalidRequest(e.to_string())
        } else {
            ApiError::MalformedJson(e.to_string())
        }
    })?;
    agent_name(request.agent.as_deref())
}

fn agent_name(raw: Option<&str>) -> Result<Option<AgentName>, ApiError> {
    raw.map(AgentName::parse)
        .transpose()
        .map_err(ApiError::InvalidRequest)
}

/// Takes a ticket. A ticket another agent has is refused with 409 `already_claimed`,
/// naming who has it: two agents never answer one person at once.
#[utoipa::path(
    post,
    path = "/v1/handoffs/{id}/claim",
    tag = "agents",
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body(content = Option<AgentRequest>, description = "Who takes it; no body: an integration that gives no name"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Taken", body = TicketBody),
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 409, description = "Another agent has it (`already_claimed`, naming them), or it is closed", body = ErrorBody),
    )
)]
pub(super) async fn claim(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<TicketBody>, ApiError> {
    let agent = agent_body(&body)?;
    let ticket = state
        .with_store(move |s| {
            let now = Utc::now();
            let t = conversation::take(s, id, agent.as_ref(), now)?;
            audit_api(
                s,
                "ticket.claim",
                id,
                agent.as_ref().map(|a| a.as_str()),
                now,
            )?;
            Ok(t)
        })
        .await?;
    state.tickets_changed();
    Ok(Json(TicketBody { ticket }))
}

/// Closes a ticket: the assistant answers the person again.
#[utoipa::path(
    post,
    path = "/v1/handoffs/{id}/resolve",
    tag = "agents",
    params(("id" = i64, Path, description = "The ticket's id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Resolved", body = TicketBody),
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 409, description = "Already closed", body = ErrorBody),
    )
)]
pub(super) async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<TicketBody>, ApiError> {
    let ticket = state
        .with_store(move |s| {
            let now = Utc::now();
            let t = conversation::close(s, id, None, now)?;
            audit_api(s, "ticket.close", id, None, now)?;
            Ok(t)
        })
        .await?;
    state.tickets_changed();
    Ok(Json(TicketBody { ticket }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplyRequest {
    /// The agent's message (redacted before it is sent and stored).
    #[schema(min_length = 1, max_length = 4000)]
    text: String,
    /// The agent's first name or role, shown to the person. It must be the one who took
    /// the ticket (an integration that took it without a name replies without one); an
    /// open ticket is taken by it.
    #[serde(default)]
    agent: Option<String>,
}

/// The agent's message goes back through the person's channel, redacted first
/// ([`conversation::agent_text`]); the response shows the text as delivered.
#[utoipa::path(
    post,
    path = "/v1/handoffs/{id}/reply",
    tag = "agents",
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body = ReplyRequest,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Recorded, and sent through the person's channel", body = AgentReplied),
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 409, description = "Another agent has it, or it is closed", body = ErrorBody),
    )
)]
pub(super) async fn reply(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    JsonBody(request): JsonBody<ReplyRequest>,
) -> Result<Json<AgentReplied>, ApiError> {
    let text = conversation::agent_text(&request.text)?;
    let agent = agent_name(request.agent.as_deref())?;
    let answered = state
        .with_store(move |s| {
            let now = Utc::now();
            let a = conversation::answer(s, id, agent.as_ref(), text, now)?;
            audit_api(s, "ticket.reply", id, a.ticket.claimed_by.as_deref(), now)?;
            Ok(a)
        })
        .await?;
    state.tickets_changed();
    let delivered = deliver_agent_reply(&state, &answered).await;
    Ok(Json(AgentReplied {
        ticket: answered.ticket,
        delivered,
        text: answered.text.as_str().to_string(),
    }))
}

/// The agents' API's actions go to the staff audit log too, as done by `api` (the bearer
/// token of an integration), with the name the integration gave.
fn audit_api(
    s: &dyn crate::store::Store,
    action: &str,
    ticket: i64,
    agent: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    let detail = agent.map(|a| format!("agent : {a}"));
    crate::staff::audit(
        s,
        &crate::staff::Actor::api(),
        action,
        Some(&ticket.to_string()),
        detail.as_deref(),
        now,
    )
}
