//! The knowledge base's workflow in the console: editors propose (new entries, changes,
//! withdrawals), validators of the service review the word diff and validate or send
//! back, everyone reads an entry's history and restores an earlier validated revision.
//! The rules are in [`crate::kb`]; this module only translates.

use axum::Router;

use crate::http::AppState;

pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
