//! Sending to platforms: JSON POSTs retried with exponential backoff on network errors,
//! 429 and 5xx; each send recorded as a delivery so a failure is never silent. Logs
//! carry the channel and the status, never the text.

use std::time::Duration;

use chrono::Utc;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use super::signature::generic_header;
use crate::http::AppState;
use crate::store::{Channel, Delivery};

/// The header of the generic webhook's signature, in and out.
pub const SIGNATURE_HEADER: &str = "X-Guichet-Signature";

/// Attempts per message (the first and three retries: 0.25 s, 0.5 s, 1 s).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The shared HTTP client (connection pool, timeouts, rustls).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("guichet/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with static settings")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    pub attempts: u32,
    pub detail: String,
}

/// How a request proves who sends it.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// `Authorization: Bearer` (Meta's send tokens).
    Bearer(&'a str),
    /// `X-Guichet-Signature` over the exact body, timestamped at each attempt.
    Signed(&'a str),
    /// The credential is in the URL (Telegram's bot token).
    InUrl,
}

/// POSTs `body` to `url`, retrying what may succeed later; records the delivery.
pub async fn post_json(
    state: &AppState,
    channel: Channel,
    ticket: Option<i64>,
    url: &str,
    auth: Auth<'_>,
    body: &Value,
) -> Result<(), SendFailure> {
    let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        let mut request = state
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(bytes.clone());
        match auth {
            Auth::Bearer(token) => request = request.bearer_auth(token),
            Auth::Signed(secret) => {
                let header = generic_header(secret, Utc::now().timestamp(), &bytes);
                request = request.header(SIGNATURE_HEADER, header);
            }
            Auth::InUrl => {}
        }
        let sent = request.send().await;
        let (retry, outcome) = match sent {
            Ok(r) if r.status().is_success() => (false, Ok(())),
            Ok(r) => {
                let status = r.status();
                let retry = status.is_server_error() || status.as_u16() == 429;
                (retry, Err(format!("HTTP {}", status.as_u16())))
            }
            // The error names the URL, which may carry a bot token: keep only its kind.
            Err(e) => (
                true,
                Err(if e.is_timeout() {
                    "timeout".to_string()
                } else if e.is_connect() {
                    "connection failed".to_string()
                } else {
                    "transport error".to_string()
                }),
            ),
        };
        match outcome {
            Ok(()) => break Ok(()),
            Err(detail) if retry && attempts < ATTEMPTS => {
                tracing::warn!(channel = channel.as_str(), attempts, %detail, "send failed, retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(detail) => break Err(SendFailure { attempts, detail }),
        }
    };
    let delivery = Delivery {
        channel,
        ticket,
        ok: result.is_ok(),
        attempts,
        detail: match &result {
            Ok(()) => "sent".to_string(),
            Err(f) => f.detail.clone(),
        },
    };
    if let Err(f) = &result {
        crate::telemetry::delivery_failed(channel);
        tracing::error!(channel = channel.as_str(), attempts, detail = %f.detail, "message not delivered");
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.record_delivery(&delivery, Utc::now())).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            crate::telemetry::store_failed(&e);
            tracing::error!(error = %e, "cannot record a delivery");
        }
        Err(e) => tracing::error!(error = %e, "cannot record a delivery"),
    }
    result
}
