//! What every backend keeps of a received platform message the same way: its id hashed
//! (a WhatsApp message id encodes the sender's phone number) and the message as JSON,
//! sealed with the route key since it says how to reach the person.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Channel, Queued, Route};
use crate::privacy::Redacted;

pub(super) fn message_hash(message_id: &str) -> String {
    hex::encode(Sha256::digest(message_id.as_bytes()))
}

/// An inbox row's `inbound` column. The text is read back as [`Redacted`]: only
/// redacted text is ever written there.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredInbound {
    channel: Channel,
    user: String,
    text: String,
    choice: Option<String>,
    lang: Option<String>,
    #[serde(default)]
    greet: bool,
    route: Route,
}

impl StoredInbound {
    pub(super) fn from_queued(q: &Queued) -> Self {
        Self {
            channel: q.channel,
            user: q.user.clone(),
            text: q.text.as_str().to_string(),
            choice: q.choice.clone(),
            lang: q.lang.clone(),
            greet: q.greet,
            route: q.route.clone(),
        }
    }

    pub(super) fn into_queued(self) -> Queued {
        Queued {
            channel: self.channel,
            user: self.user,
            text: Redacted::from_store(self.text),
            choice: self.choice,
            lang: self.lang,
            greet: self.greet,
            route: self.route,
        }
    }
}
