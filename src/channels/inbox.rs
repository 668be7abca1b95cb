//! The inbox between a platform's webhook and its reply, so that a message acknowledged
//! to the platform is never lost to a crash or a restart.
//!
//! A webhook acknowledges only once each message is queued in the store (the dedupe mark
//! and the inbox row in one transaction; if that fails, 503 and the platform sends it
//! again). The receiving process holds the row for a lease, answers, delivers, then
//! deletes the row. A row whose lease ended (its process died) is taken again by any
//! replica: at start and every [`REPLAY_EVERY`]; after [`INBOX_MAX_ATTEMPTS`] it is given
//! up on, and recorded as a failed delivery. Nothing here lives in memory alone: every
//! replica sharing the database sees the same inbox.
//!
//! [`INBOX_MAX_ATTEMPTS`]: crate::store::INBOX_MAX_ATTEMPTS

use std::time::Duration;

use chrono::Utc;

use super::{Inbound, Outgoing, compose, converse, deliver, pieces, style_of};
use crate::conversation::greeting;
use crate::corpus::PRIMARY_LANG;
use crate::http::{ApiError, AppState};
use crate::privacy::Redacted;
use crate::store::{Channel, Claim, InboxItem, Queued, Route};

/// How long a worker holds a message: longer than answering and delivering it takes at
/// worst (waiting for the engine, each send retried), so that no second worker answers
/// it too; a message whose worker died waits this long to be taken again.
pub const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// How often the inbox is looked at for messages whose worker died.
pub const REPLAY_EVERY: Duration = Duration::from_secs(30);

/// Messages taken again per look.
const REPLAY_BATCH: usize = 50;

/// Queues a platform's message (its text redacted) and answers it in the background.
/// `Ok` once it is safely queued, or was already (a platform's retry): the webhook may
/// acknowledge. An error means nothing was kept: the platform must send it again.
pub async fn accept(state: &AppState, inbound: Inbound) -> Result<(), ApiError> {
    let Inbound {
        channel,
        message_id,
        user,
        text,
        choice,
        lang,
        route,
    } = inbound;
    let Some(message_id) = message_id else {
        return Err(ApiError::Internal(
            "a platform message without an id".into(),
        ));
    };
    let message = Queued {
        channel,
        user,
        text: Redacted::new(&text),
        choice,
        lang,
        greet: false,
        route,
    };
    queue(state, message_id, message).await
}

/// Queues a greeting (opening the bot: no question), answered like any message.
pub async fn accept_greeting(
    state: &AppState,
    channel: Channel,
    message_id: String,
    user: String,
    route: Route,
) -> Result<(), ApiError> {
    let message = Queued {
        channel,
        user,
        text: Redacted::new(""),
        choice: None,
        lang: None,
        greet: true,
        route,
    };
    queue(state, message_id, message).await
}

async fn queue(state: &AppState, message_id: String, message: Queued) -> Result<(), ApiError> {
    let channel = message.channel;
    let store = state.store.clone();
    let queued = tokio::task::spawn_blocking(move || {
        store.enqueue_inbound(&message_id, &message, Utc::now(), LEASE)
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("inbox task failed: {e}")))?
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    match queued {
        Some(item) => {
            state.background.spawn(process(state.clone(), item));
        }
        None => tracing::debug!(channel = channel.as_str(), "already received"),
    }
    Ok(())
}

/// Answers a message this worker holds, delivers the reply, and takes the message out of
/// the inbox. A failed delivery is recorded (and logged) by the sender, so the message
/// is handled either way; only a crash before the end leaves it for another attempt.
async fn process(state: AppState, item: InboxItem) {
    let InboxItem {
        id,
        message,
        attempts,
        ..
    } = item;
    let channel = message.channel;
    let route = message.route.clone();
    let Ok(engine) = state.engine() else {
        // Taken again once the lease ends.
        tracing::warn!(
            channel = channel.as_str(),
            "engine not ready: message left in the inbox"
        );
        return;
    };
    let style = style_of(&route);
    let msgs: Vec<Outgoing> = if message.greet {
        pieces(&greeting(&engine, PRIMARY_LANG), style.limit)
    } else {
        let inbound = Inbound {
            channel,
            // The dedupe happened when the message was queued.
            message_id: None,
            user: message.user,
            text: super::clip(message.text.as_str()),
            choice: message.choice,
            lang: message.lang,
            route: route.clone(),
        };
        match converse(&state, inbound, true).await {
            Ok(Some(h)) => compose(&engine, &h.reply, h.greeting.as_deref(), style),
            Ok(None) => Vec::new(),
            // An empty message (a sticker, a photo): nothing to answer.
            Err(ApiError::EmptyMessage) => Vec::new(),
            Err(e) => {
                tracing::error!(channel = channel.as_str(), error = %e, "message not processed");
                let (_, m) = engine.corpus().messages().get(PRIMARY_LANG);
                let text = match e {
                    ApiError::Busy | ApiError::NotReady => &m.error_busy,
                    _ => &m.error_generic,
                };
                pieces(text, style.limit)
            }
        }
    };
    if let Err(e) = deliver(&state, &route, &msgs, None).await {
        tracing::error!(channel = channel.as_str(), detail = %e.detail, "reply not delivered");
    }
    match state.with_store(move |s| s.finish_inbound(id)).await {
        Ok(()) if attempts > 1 => {
            tracing::info!(
                channel = channel.as_str(),
                attempts,
                "message from the inbox handled"
            );
        }
        Ok(()) => {}
        // The row stays: the message is answered again once the lease ends.
        Err(e) => tracing::error!(channel = channel.as_str(), error = %e, "inbox row not removed"),
    }
}

/// Takes the messages whose worker died and answers them. Returns how many were taken.
pub async fn replay_stale(state: &AppState) -> usize {
    let store = state.store.clone();
    let claimed = tokio::task::spawn_blocking(move || {
        let now = Utc::now();
        let mut claims = Vec::new();
        let ids = match store.stale_inbound(now, REPLAY_BATCH) {
            Ok(ids) => ids,
            Err(e) => return (claims, Some(e)),
        };
        for id in ids {
            match store.claim_inbound(id, now, LEASE) {
                Ok(c) => claims.push(c),
                // What is claimed so far is answered; the rest waits for the next look.
                Err(e) => return (claims, Some(e)),
            }
        }
        (claims, None)
    })
    .await;
    let (claims, error) = match claimed {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "inbox replay task failed");
            return 0;
        }
    };
    if let Some(e) = error {
        tracing::error!(error = %e, "cannot read the inbox");
    }
    let mut taken = 0;
    for claim in claims {
        match claim {
            Claim::Claimed(item) => {
                tracing::info!(
                    channel = item.message.channel.as_str(),
                    attempts = item.attempts,
                    "answering a message again from the inbox"
                );
                state.background.spawn(process(state.clone(), item));
                taken += 1;
            }
            Claim::GaveUp { channel, attempts } => tracing::error!(
                channel = channel.as_str(),
                attempts,
                "message given up after repeated attempts"
            ),
            Claim::Unavailable => {}
        }
    }
    taken
}

/// Once the engine is ready, answers what an earlier process left in the inbox, then
/// looks again every [`REPLAY_EVERY`], for as long as the runtime lives.
pub fn spawn_replay(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        while state.engine().is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut tick = tokio::time::interval(REPLAY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            replay_stale(&state).await;
        }
    });
}
