//! The inbox between a platform's webhook and its reply, so that a message acknowledged
//! to the platform is never lost to a crash or a restart.
//!
//! A webhook acknowledges only once each message is queued in the store (the dedupe mark
//! and the inbox row in one transaction; if that fails, 503 and the platform sends it
//! again). The receiving process holds the row for a lease, answers, delivers, then
//! deletes the row. A row whose lease ended, or whose holder is gone (its process is no
//! longer running on this machine, or it missed its heartbeats for
//! [`HEARTBEAT_GRACE`](crate::store::HEARTBEAT_GRACE)), is taken again by any replica: at
//! start and every [`REPLAY_EVERY`]; the reply kept in the row and the pieces the
//! platform accepted are neither decided nor sent again. After [`INBOX_MAX_ATTEMPTS`] it is given
//! up on, and recorded as a failed delivery. Nothing here lives in memory alone: every
//! replica sharing the database sees the same inbox.
//!
//! [`INBOX_MAX_ATTEMPTS`]: crate::store::INBOX_MAX_ATTEMPTS

use std::time::Duration;

use chrono::Utc;

use super::{Inbound, Outgoing, compose, converse_then, deliver, pieces, style_of};
use crate::conversation::greeting;
use crate::corpus::PRIMARY_LANG;
use crate::http::{ApiError, AppState};
use crate::privacy::Redacted;
use crate::store::{Channel, Claim, InboxItem, Queued, Route};

/// How long a worker holds a message: longer than answering and delivering it takes at
/// worst (waiting for the engine, each send retried), so that no second worker answers
/// it too; a message whose worker died waits this long to be taken again.
pub const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// How often the inbox is looked at for messages whose worker died (found by its missed
/// heartbeats, or its process gone: much sooner than its lease ends).
pub const REPLAY_EVERY: Duration = Duration::from_secs(5);

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
    .map_err(|e| {
        crate::telemetry::store_failed(&e);
        ApiError::Unavailable(e.to_string())
    })?;
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
///
/// Exactly once across crashes: the reply is kept in the row in the same step as the
/// person's turn is recorded, and each piece is recorded as soon as the platform accepts
/// it; a replay sends the kept reply from the first piece not recorded, asking nothing
/// and recording no turn. A duplicate needs a crash between the platform's answer and
/// that record.
async fn process(state: AppState, item: InboxItem) {
    let InboxItem {
        id,
        message,
        attempts,
        reply,
        sent,
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
    let kept = reply.and_then(|r| match serde_json::from_value::<Vec<Outgoing>>(r) {
        Ok(msgs) => Some(msgs),
        Err(e) => {
            tracing::error!(channel = channel.as_str(), error = %e, "kept reply unreadable");
            None
        }
    });
    let msgs: Vec<Outgoing> = match kept {
        Some(msgs) => msgs,
        None => {
            let msgs = decide(&state, &engine, message, route.clone(), style, id).await;
            let Some(msgs) = msgs else {
                // Not kept: the store failed; taken again once the lease ends.
                return;
            };
            msgs
        }
    };
    let mut sent = sent as usize;
    while sent < msgs.len() {
        if let Err(e) = deliver(&state, &route, &msgs[sent..=sent], None).await {
            tracing::error!(channel = channel.as_str(), detail = %e.detail, "reply not delivered");
            break;
        }
        sent += 1;
        let done = sent as u32;
        if !insist(&state, "sent piece not recorded", move |s| {
            s.record_sent(id, done)
        })
        .await
        {
            // Sending more unrecorded would make each a duplicate after a crash: the
            // row stays, and a replay resumes after the last recorded piece.
            return;
        }
    }
    if insist(&state, "inbox row not removed", move |s| {
        s.finish_inbound(id)
    })
    .await
        && attempts > 1
    {
        tracing::info!(
            channel = channel.as_str(),
            attempts,
            "message from the inbox handled"
        );
    }
}

/// The messages that answer a queued message, kept in its row (with the person's turn,
/// in one step). `None` when they could not be kept.
async fn decide(
    state: &AppState,
    engine: &std::sync::Arc<crate::engine::Engine>,
    message: Queued,
    route: Route,
    style: super::Style,
    id: i64,
) -> Option<Vec<Outgoing>> {
    let channel = message.channel;
    let keep = move |s: &dyn crate::store::Store, msgs: &[Outgoing]| {
        let value = serde_json::to_value(msgs)?;
        s.record_reply(id, &value)
    };
    let msgs = if message.greet {
        pieces(&greeting(engine, PRIMARY_LANG), style.limit)
    } else {
        let inbound = Inbound {
            channel,
            // The dedupe happened when the message was queued.
            message_id: None,
            user: message.user,
            text: super::clip(message.text.as_str()),
            choice: message.choice,
            lang: message.lang,
            route,
        };
        // The reply is kept in the inbox row in the transaction that records the turn. A
        // store that fails for a moment (locked, restarting) recorded nothing: the message
        // is tried again here, then left in the inbox for the lease's end, never answered
        // with an error it does not deserve.
        let mut wait = Duration::from_millis(200);
        let mut attempt = 1;
        let handled = loop {
            let composing = engine.clone();
            let handled = converse_then(state, inbound.clone(), true, move |d| {
                let msgs = compose(&composing, &d.reply, d.greeting.as_deref(), style);
                let value = serde_json::to_value(&msgs)?;
                Ok((msgs, Some((id, value))))
            })
            .await;
            match handled {
                Err(ApiError::StoreUnavailable(e)) if attempt >= WRITE_ATTEMPTS => {
                    tracing::warn!(channel = channel.as_str(), error = %e, "store unavailable: message left in the inbox");
                    return None;
                }
                Err(ApiError::StoreUnavailable(_)) => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                other => break other,
            }
        };
        match handled {
            Ok(Some((_, msgs))) => return Some(msgs),
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
    // No turn was recorded: keeping these only spares a replay sending them twice.
    let kept = msgs.clone();
    insist(state, "reply not kept", move |s| keep(s, &kept))
        .await
        .then_some(msgs)
}

/// Runs a small write, again a few times if the store fails (a full disk may free up, a
/// lock pass): true once it is done.
async fn insist(
    state: &AppState,
    what: &'static str,
    write: impl Fn(&dyn crate::store::Store) -> Result<(), crate::store::StoreError>
    + Send
    + Sync
    + 'static,
) -> bool {
    let write = std::sync::Arc::new(write);
    let mut wait = Duration::from_millis(100);
    for attempt in 1..=WRITE_ATTEMPTS {
        let w = write.clone();
        match state.with_store(move |s| w(s)).await {
            Ok(()) => return true,
            Err(e) if attempt == WRITE_ATTEMPTS => {
                tracing::error!(error = %e, attempt, "{what}");
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
    false
}

/// Tries of a write of the inbox's progress (about 10 s in all).
const WRITE_ATTEMPTS: u32 = 8;

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
        crate::telemetry::store_failed(&e);
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
                state.background.spawn(process(state.clone(), *item));
                taken += 1;
            }
            Claim::GaveUp { channel, attempts } => {
                crate::telemetry::delivery_failed(channel);
                tracing::error!(
                    channel = channel.as_str(),
                    attempts,
                    "message given up after repeated attempts"
                );
            }
            Claim::Unavailable => {}
        }
    }
    taken
}

/// Once the engine is ready, answers what an earlier process left in the inbox, then
/// looks again every [`REPLAY_EVERY`], for as long as the runtime lives.
pub fn spawn_replay(state: &AppState) {
    let beating = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::store::HEARTBEAT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = beating.with_store(|s| s.beat(Utc::now())).await {
                tracing::warn!(error = %e, "heartbeat not recorded");
            }
        }
    });
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
