//! The retention task: turns, tickets and delivery records older than
//! `GUICHET_RETENTION_DAYS` are deleted every hour, and inbox rows left unanswered for a
//! day are given up on; daily aggregate counts stay. Staff sign-in leftovers (ended
//! sessions, expired links, old failures) go too, and audit rows older than
//! `GUICHET_AUDIT_DAYS`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::AppState;
use crate::store::{Purged, Store, StoreError};

/// How often expired rows are looked for.
const EVERY: Duration = Duration::from_secs(3600);

/// Deletes what is older than `days` days before `now`.
pub fn purge_expired(
    store: &dyn Store,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Purged, StoreError> {
    store.purge(now - chrono::Duration::days(i64::from(days)), now)
}

/// Purges at start, then every hour, for as long as the runtime lives.
pub fn spawn_retention(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let days = state.config.retention_days;
            let audit_days = state.config.audit_days;
            match state
                .with_store(move |s| {
                    let now = Utc::now();
                    s.purge_staff(now - chrono::Duration::days(i64::from(audit_days)), now)?;
                    purge_expired(s, days, now)
                })
                .await
            {
                Ok(p) => tracing::info!(
                    turns = p.turns,
                    tickets = p.tickets,
                    conversations = p.conversations,
                    processed = p.processed,
                    deliveries = p.deliveries,
                    inbox = p.inbox,
                    "retention purge"
                ),
                Err(e) => tracing::error!(error = %e, "retention purge failed"),
            }
        }
    });
}
