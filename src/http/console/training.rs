//! The training loop in the console: questions residents asked that were not answered,
//! grouped by meaning per service; an editor attaches them as alternates of an entry,
//! drafts a new entry from them, or dismisses them as out of scope, and each decision is
//! kept as a label for `guichet calibrate --from-store`. The rules are in [`crate::kb`].

use axum::Router;

use crate::http::AppState;

pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
