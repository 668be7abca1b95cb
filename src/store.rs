//! Persistence of conversations (redacted turns), hand-off tickets, feedback, processed
//! inbound message ids, the inbox of messages not yet answered and delivery attempts,
//! behind our own synchronous [`Store`] trait. SQLite serves one machine
//! ([`SqliteStore`]); the trait leaves room for PostgreSQL.
//!
//! Nothing personal goes in: turn and ticket texts are [`Redacted`], platform user ids
//! are pseudonymised with a keyed hash, inbound message ids are hashed. The one
//! exception is how to reach the person on their platform (a ticket's [`Route`], an
//! inbox row's route and platform id), which the reply needs; it is erased when the
//! ticket is resolved, the inbox row handled, or either purged.

#[cfg(test)]
mod contract;
#[cfg(test)]
mod contract_staffkb;
mod inbound;
mod kb;
pub mod keys;
pub mod postgres;
mod sqlite;
mod staff;
pub mod worker;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::privacy::Redacted;
use crate::reply::{HandoffReason, Outcome};

pub use kb::{
    Decider, KbStore, Label, LabelDecision, LiveFile, NewLabel, NewRevision, Origin, Revision,
    RevisionStatus,
};
pub use keys::{Pseudonym, default_route_key_file};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use staff::StaffStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (a constraint, a bad statement, a full disk): nothing of the
    /// call was kept.
    #[error("database: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// The backend is locked or the transaction lost a race (serialisation, deadlock):
    /// nothing was kept, and the same call may succeed in a moment.
    #[error("database busy: {0}")]
    Busy(String),
    /// The backend cannot be reached (connection refused or lost, pool exhausted):
    /// nothing was kept; service resumes by itself once it is back.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("route key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no such ticket")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// Another agent (named, when they gave a name) has the ticket.
    #[error("the ticket is already taken")]
    AlreadyClaimed(Option<String>),
    #[error("stored data: {0}")]
    Corrupt(String),
    /// The store's settings are incomplete (checked at open).
    #[error("{0}")]
    Config(String),
}

/// True when GUICHET_DB names PostgreSQL (`postgres://` or `postgresql://`); anything
/// else is an SQLite file.
pub fn is_postgres(db: &std::path::Path) -> bool {
    let db = db.to_string_lossy();
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// GUICHET_DB as logs and messages show it: a URL's password hidden.
pub fn shown(db: &std::path::Path) -> String {
    let text = db.to_string_lossy();
    if !is_postgres(db) {
        return db.display().to_string();
    }
    match url::Url::parse(&text) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "postgres://(unreadable URL)".to_string(),
    }
}

/// Opens the store GUICHET_DB names: PostgreSQL for a URL (its route key file is then
/// required: every replica must read the same key), else the SQLite file (its route key
/// next to it by default).
pub fn open(
    db: &std::path::Path,
    route_key_file: Option<&std::path::Path>,
    pg_pool: u32,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if is_postgres(db) {
        let key = route_key_file.ok_or_else(|| {
            StoreError::Config(
                "GUICHET_ROUTE_KEY_FILE is required with PostgreSQL: give every replica the same key file"
                    .into(),
            )
        })?;
        let url = db.to_string_lossy();
        Ok(std::sync::Arc::new(PgStore::open(&url, key, pg_pool)?))
    } else {
        Ok(std::sync::Arc::new(SqliteStore::open_with_route_key(
            db,
            route_key_file,
        )?))
    }
}

impl StoreError {
    /// True when the same call may succeed in a moment: the web layer answers 503 with
    /// `Retry-After` (a webhook's platform retries), never a silent loss.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy(_) | Self::Unavailable(_))
    }
}

/// Where a conversation happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Messenger,
    Whatsapp,
    Telegram,
    Generic,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Messenger => "messenger",
            Self::Whatsapp => "whatsapp",
            Self::Telegram => "telegram",
            Self::Generic => "generic",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "web" => Some(Self::Web),
            "messenger" => Some(Self::Messenger),
            "whatsapp" => Some(Self::Whatsapp),
            "telegram" => Some(Self::Telegram),
            "generic" => Some(Self::Generic),
            _ => None,
        }
    }
}

/// How to send a message back to the person who opened a ticket, on their platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Route {
    /// The widget polls `GET /v1/chat/{session_id}/messages`.
    Web,
    Messenger {
        psid: String,
    },
    Whatsapp {
        phone_number_id: String,
        to: String,
    },
    Telegram {
        chat_id: i64,
    },
    /// Announced to the hand-off webhook with the integration's own conversation id.
    Generic {
        conversation_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: i64,
    pub channel: Channel,
    /// Turns recorded so far (0: the next reply is the first, and greets).
    pub turns: u64,
}

/// Who wrote a turn: the person (with the assistant's decision) or an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Person,
    Agent,
}

impl Author {
    fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Agent => "agent",
        }
    }

    fn parse(raw: &str) -> Self {
        if raw == "agent" {
            Self::Agent
        } else {
            Self::Person
        }
    }
}

/// What the person did in a turn: wrote a message, or picked an option the assistant
/// offered (the turn's text is then the entry id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnKind {
    #[default]
    Message,
    Option,
}

impl TurnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Option => "option",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "message" => Self::Message,
            "option" => Self::Option,
            _ => return None,
        })
    }
}

/// One exchange: what the person wrote (redacted) and what the assistant decided, or an
/// agent's message.
#[derive(Debug, Clone)]
pub struct NewTurn {
    pub author: Author,
    pub kind: TurnKind,
    pub text: Redacted,
    pub outcome: Option<Outcome>,
    pub entry_id: Option<String>,
    pub answer_sha256: Option<String>,
    pub confidence: Option<f32>,
    /// The candidates' scores (ids and numbers only), as JSON.
    pub scores: Option<serde_json::Value>,
    /// An agent's turn: the name or role they show the person.
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Turn {
    pub id: i64,
    pub author: Author,
    pub kind: TurnKind,
    pub text: String,
    pub outcome: Option<Outcome>,
    pub entry_id: Option<String>,
    pub at: DateTime<Utc>,
    /// An agent's turn: the name or role they show the person.
    pub agent: Option<String>,
    /// The SHA-256 of the validated answer the turn served, with `entry_id`.
    pub answer_sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    Claimed,
    Resolved,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Claimed => "claimed",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "claimed" => Some(Self::Claimed),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub channel: Channel,
    pub conversation: i64,
    /// Why the engine handed off.
    pub reason: HandoffReason,
    pub question: Redacted,
    /// Entry ids the engine considered, best first.
    pub candidates: Vec<String>,
    /// The service key the hand-off routed to.
    pub service: String,
    pub route: Route,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: i64,
    pub status: TicketStatus,
    pub channel: Channel,
    pub conversation: i64,
    pub reason: HandoffReason,
    /// The person's redacted messages, oldest first.
    pub questions: Vec<String>,
    pub candidates: Vec<String>,
    pub service: String,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The name or role of the agent who took it (none: an integration that gave none).
    pub claimed_by: Option<String>,
    /// The staff account that took it, when taken in the console (names are not unique).
    pub claimed_staff: Option<i64>,
    /// Who closed it, once resolved.
    pub closed_by: Option<ClosedBy>,
    /// The agent's note on closing (redacted): for colleagues, never sent to the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Never shown to agents: it may be a phone number (WhatsApp).
    #[serde(skip)]
    pub route: Option<Route>,
}

/// Who takes a ticket: the name shown to the person and, from the console, the staff
/// account (two colleagues may share a first name; the account tells them apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claimant<'a> {
    pub name: Option<&'a str>,
    pub staff: Option<i64>,
}

impl<'a> From<Option<&'a str>> for Claimant<'a> {
    fn from(name: Option<&'a str>) -> Self {
        Self { name, staff: None }
    }
}

impl<'a> From<Option<&'a AgentName>> for Claimant<'a> {
    fn from(name: Option<&'a AgentName>) -> Self {
        Self {
            name: name.map(AgentName::as_str),
            staff: None,
        }
    }
}

impl<'a> From<&'a crate::staff::Account> for Claimant<'a> {
    fn from(account: &'a crate::staff::Account) -> Self {
        Self {
            name: Some(&account.name),
            staff: Some(account.id),
        }
    }
}

/// What an agent or the person does to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketEvent<'a> {
    /// An agent takes it.
    Claim(Claimant<'a>),
    /// An agent replies on it: taken first if open; its holder may reply again.
    Reply(Claimant<'a>),
    /// An agent resolves it, or the person withdraws the request.
    Close(ClosedBy),
}

/// What a backend writes after a [`TicketEvent`] is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketChange<'a> {
    /// open -> claimed by this claimant.
    Claimed(Claimant<'a>),
    /// Nothing: the holder replies again.
    Unchanged,
    /// -> resolved, closed by an agent or the person; the route is erased.
    Resolved(ClosedBy),
}

impl Ticket {
    /// The rules of a ticket's life, the same for every backend: open -> claimed ->
    /// resolved. A taken ticket is not taken again (the refusal names who has it), a
    /// resolved one is not reopened. A backend reads the row under a lock (so that of
    /// concurrent events on any replica one wins), asks this, and writes what it says.
    pub fn on<'a>(&self, event: TicketEvent<'a>) -> Result<TicketChange<'a>, StoreError> {
        use TicketEvent::{Claim, Close, Reply};
        use TicketStatus::{Claimed, Open, Resolved};
        match (self.status, event) {
            (Open, Claim(by) | Reply(by)) => Ok(TicketChange::Claimed(by)),
            (Claimed, Reply(by))
                if self.claimed_staff == by.staff && self.claimed_by.as_deref() == by.name =>
            {
                Ok(TicketChange::Unchanged)
            }
            (Claimed, Claim(_) | Reply(_)) => {
                Err(StoreError::AlreadyClaimed(self.claimed_by.clone()))
            }
            (Open | Claimed, Close(by)) => Ok(TicketChange::Resolved(by)),
            (Resolved, _) => Err(StoreError::Conflict(
                "the ticket is already resolved".into(),
            )),
        }
    }
}

/// The daily count a turn adds to (kept after purges): `agent`, the outcome of the
/// person's turn, or `message`.
pub fn count_kind(turn: &NewTurn) -> &'static str {
    match (turn.author, turn.outcome) {
        (Author::Agent, _) => "agent",
        (Author::Person, Some(o)) => o.as_str(),
        (Author::Person, None) => "message",
    }
}

/// What one message from the person changes, kept in one transaction so that a crash
/// leaves all of it or none: the person's turn, the question added to the ticket already
/// open or the ticket the hand-off opens, and (for a platform message from the inbox)
/// the reply decided, kept in its row so a replay sends it rather than deciding again.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub conversation: i64,
    pub turn: NewTurn,
    pub ticket: TicketStep,
    /// The inbox row answered and its reply (JSON of the platform messages).
    pub kept_reply: Option<(i64, serde_json::Value)>,
}

/// What an [`Exchange`] does to the conversation's tickets.
#[derive(Debug, Clone)]
pub enum TicketStep {
    None,
    /// A person has the conversation: the message is added to their ticket.
    AddQuestion(i64),
    /// The hand-off opens a ticket.
    Open(NewTicket),
}

/// What recording an [`Exchange`] gave.
#[derive(Debug, Clone)]
pub struct Exchanged {
    pub turn: i64,
    /// The ticket the exchange opened.
    pub opened: Option<Ticket>,
    /// The conversation's ticket still open after it (the one opened, or one before).
    pub active: Option<Ticket>,
}

impl Exchanged {
    /// What a backend returns once `step` is recorded: the turn's id, and the ticket it
    /// left active (read back in the transaction), which is also the opened one when the
    /// step opened it.
    pub fn new(turn: i64, step: &TicketStep, active: Option<Ticket>) -> Self {
        let opened = match step {
            TicketStep::Open(_) => active.clone(),
            TicketStep::None | TicketStep::AddQuestion(_) => None,
        };
        Self {
            turn,
            opened,
            active,
        }
    }
}

/// The name an agent shows the person: a first name or a role ("Camille", "Agent de
/// l'accueil"), never an email or a number to call back privately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentName(String);

/// Longest agent name, in characters.
pub const MAX_AGENT_NAME_CHARS: usize = 60;

impl AgentName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() || name.chars().count() > MAX_AGENT_NAME_CHARS {
            return Err(format!(
                "agent must be a first name or a role of 1 to {MAX_AGENT_NAME_CHARS} characters"
            ));
        }
        // The person sees it: a redacted form would mean it held personal data.
        if name.contains('@') || Redacted::new(&name).as_str() != name {
            return Err("agent must be a first name or a role, not an email or a number".into());
        }
        if name.chars().any(char::is_control) {
            return Err("agent may not hold control characters".into());
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who ended a ticket: an agent (resolved), or the person (cancelled the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    Agent,
    Person,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Person => "person",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "agent" => Some(Self::Agent),
            "person" => Some(Self::Person),
            _ => None,
        }
    }
}

/// "Was this answer helpful?": which validated text, and the verdict. Nothing personal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub entry_id: String,
    pub answer_sha256: String,
    pub helpful: bool,
}

/// One outbound send, successful or not, so a lost message is never silent.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub channel: Channel,
    pub ticket: Option<i64>,
    pub ok: bool,
    pub attempts: u32,
    /// Status code or transport error: never the message text.
    pub detail: String,
}

/// How many of the person's turns, on one UTC day and one channel, ended in one outcome
/// with one entry: the entry served, or else the first candidate the engine considered
/// (none when nothing came close). Ids and numbers only: the report reads these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrafficCount {
    pub day: NaiveDate,
    pub channel: Channel,
    pub outcome: Outcome,
    pub entry: Option<String>,
    pub n: u64,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub turns: u64,
    pub tickets: u64,
    pub conversations: u64,
    pub processed: u64,
    pub deliveries: u64,
    /// Inbox rows given up on (each recorded as a failed delivery).
    pub inbox: u64,
}

/// How long processed inbound ids are remembered: platforms retry for up to a day or
/// two, and a hash of an id is nothing personal.
pub const PROCESSED_KEEP_DAYS: i64 = 7;

/// How long an inbox row may wait for its reply before a purge gives up on it (recorded
/// as a failed delivery): an answer a day late helps no one, and the row holds a route.
pub const INBOX_KEEP_DAYS: i64 = 1;

/// Processing attempts of an inbox row (each ended by a crash or a lost lease) before it
/// is given up on: a message that brings the process down must not do so forever.
pub const INBOX_MAX_ATTEMPTS: u32 = 5;

/// A platform message waiting in the inbox until its reply is delivered: what the
/// conversation flow needs, the text already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub channel: Channel,
    /// The platform's user or chat id (the same as in the route); pseudonymised when the
    /// conversation is looked up, erased with the row.
    pub user: String,
    pub text: Redacted,
    /// An option the person picked (an entry id) instead of typing.
    pub choice: Option<String>,
    pub lang: Option<String>,
    /// Opening the bot (Telegram's `/start`): greet, ask nothing.
    pub greet: bool,
    pub route: Route,
}

/// An inbox row this process holds until `claimed_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub id: i64,
    pub message: Queued,
    pub received_at: DateTime<Utc>,
    /// Processing attempts so far, this one included.
    pub attempts: u32,
    pub claimed_until: DateTime<Utc>,
    /// The reply, once decided by an earlier attempt (its turn recorded then): JSON of
    /// the platform messages, sent as they are instead of asking again.
    pub reply: Option<serde_json::Value>,
    /// Pieces of `reply` the platform already accepted: never sent again.
    pub sent: u32,
}

/// What waits in the inbox, across every worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InboxDepth {
    pub rows: u64,
    /// When the oldest row was received; none when the inbox is empty.
    pub oldest: Option<DateTime<Utc>>,
}

/// How long a worker may miss its heartbeat before its inbox rows are taken by another:
/// several beats ([`HEARTBEAT_EVERY`]) under a heavy load, far less than a lease.
pub const HEARTBEAT_GRACE: chrono::Duration = chrono::Duration::seconds(15);

/// How often a worker records that it is alive.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What claiming an inbox row gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours until the lease ends: process it, then [`Store::finish_inbound`].
    Claimed(Box<InboxItem>),
    /// Leased by another worker, or already finished.
    Unavailable,
    /// Tried [`INBOX_MAX_ATTEMPTS`] times: deleted, and recorded as a failed delivery.
    GaveUp { channel: Channel, attempts: u32 },
}

/// The persistence the web layer and channels need. Synchronous: async callers go
/// through `spawn_blocking`.
pub trait Store: StaffStore + KbStore + Send + Sync {
    /// The worker (this process's identity) the store takes inbox rows for.
    fn worker(&self) -> &worker::Worker;

    /// A keyed hash of a platform's user or session id: the same person maps to the same
    /// conversation across restarts, and the raw id is never stored.
    fn pseudonym(&self, channel: Channel, raw_id: &str) -> Pseudonym;

    /// The conversation for `channel` and pseudonymised `external` id, created if new.
    fn conversation(
        &self,
        channel: Channel,
        external: &Pseudonym,
        now: DateTime<Utc>,
    ) -> Result<Conversation, StoreError>;

    /// An existing conversation, if any.
    fn find_conversation(
        &self,
        channel: Channel,
        external: &Pseudonym,
    ) -> Result<Option<Conversation>, StoreError>;

    fn record_turn(
        &self,
        conversation: i64,
        turn: &NewTurn,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Records everything one message from the person changes, in one transaction.
    fn record_exchange(
        &self,
        exchange: &Exchange,
        now: DateTime<Utc>,
    ) -> Result<Exchanged, StoreError>;

    /// Turns of a conversation after the turn id `after`, by `author` when given.
    fn turns_after(
        &self,
        conversation: i64,
        author: Option<Author>,
        after: i64,
    ) -> Result<Vec<Turn>, StoreError>;

    fn open_ticket(&self, ticket: &NewTicket, now: DateTime<Utc>) -> Result<Ticket, StoreError>;

    /// The open or claimed ticket of a conversation: while there is one, the assistant
    /// stays quiet.
    fn active_ticket(&self, conversation: i64) -> Result<Option<Ticket>, StoreError>;

    /// Adds a message the person wrote while a ticket was open.
    fn add_question(&self, ticket: i64, question: &Redacted) -> Result<(), StoreError>;

    fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError>;

    /// Tickets, oldest first, with `status` when given.
    fn tickets(&self, status: Option<TicketStatus>) -> Result<Vec<Ticket>, StoreError>;

    /// Applies `event` to a ticket under a row lock, by [`Ticket::on`]'s rules: of
    /// concurrent events, on any replica, one is applied first and the others see its
    /// result.
    fn ticket_event(
        &self,
        id: i64,
        event: TicketEvent<'_>,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError>;

    /// open -> claimed by `by` (a name or role; none: an integration that gave none).
    /// A claimed ticket cannot be taken again: [`StoreError::AlreadyClaimed`] names who
    /// has it. Of concurrent claims, exactly one wins.
    fn claim_ticket(
        &self,
        id: i64,
        by: Claimant<'_>,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        self.ticket_event(id, TicketEvent::Claim(by), now)
    }

    /// The ticket an agent replies on: claimed by `by` first if it is open; refused
    /// with [`StoreError::AlreadyClaimed`] when another agent (another account, or
    /// another name given through the API) has it.
    fn take_for_reply(
        &self,
        id: i64,
        by: Claimant<'_>,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        self.ticket_event(id, TicketEvent::Reply(by), now)
    }

    /// open | claimed -> resolved, closed `by` an agent or the person; erases the route.
    fn resolve_ticket(
        &self,
        id: i64,
        by: ClosedBy,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        self.ticket_event(id, TicketEvent::Close(by), now)
    }

    /// Keeps the agent's note on a ticket (written when it is closed).
    fn note_ticket(&self, id: i64, note: &Redacted) -> Result<(), StoreError>;

    fn record_feedback(&self, feedback: &Feedback, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Remembers an inbound message id; false when it was already processed (a retry).
    fn first_delivery(
        &self,
        channel: Channel,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// In one transaction: remembers the inbound message id and queues the message in
    /// the inbox, claimed by the caller until `now + lease` (its first attempt). `None`
    /// when the id was seen before (a retry): nothing is queued.
    fn enqueue_inbound(
        &self,
        message_id: &str,
        message: &Queued,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<InboxItem>, StoreError>;

    /// Ids of inbox rows whose lease has ended or whose holder is gone (their processing
    /// crashed), oldest first. Ends the leases of the workers found gone.
    fn stale_inbound(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<i64>, StoreError>;

    /// Takes an inbox row whose lease has ended until `now + lease`, counting an attempt;
    /// gives it up after [`INBOX_MAX_ATTEMPTS`].
    fn claim_inbound(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Claim, StoreError>;

    /// Deletes a handled inbox row (its reply delivered, or the failure recorded).
    fn finish_inbound(&self, id: i64) -> Result<(), StoreError>;

    /// How many rows wait in the inbox (whoever holds them), and the oldest's arrival.
    fn inbox_depth(&self) -> Result<InboxDepth, StoreError>;

    /// Keeps the reply decided for an inbox row (its turn just recorded), none sent yet.
    fn record_reply(&self, id: i64, reply: &serde_json::Value) -> Result<(), StoreError>;

    /// Records that the platform accepted the first `sent` pieces of an inbox row's reply.
    fn record_sent(&self, id: i64, sent: u32) -> Result<(), StoreError>;

    /// Records that this store's worker (the process that opened it) is alive. Rows held
    /// by a worker whose heartbeat is older than [`HEARTBEAT_GRACE`], or whose process
    /// is known to be gone, are stale at once ([`Store::stale_inbound`]).
    fn beat(&self, now: DateTime<Utc>) -> Result<(), StoreError>;

    fn record_delivery(&self, delivery: &Delivery, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Deletes turns, tickets and deliveries older than `before`, processed ids older
    /// than [`PROCESSED_KEEP_DAYS`] before `now`, and gives up on inbox rows older than
    /// `before` or [`INBOX_KEEP_DAYS`] (each recorded as a failed delivery); daily
    /// aggregate counts stay.
    fn purge(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<Purged, StoreError>;

    /// Aggregate counts kept after purges: (day, channel, kind) -> number.
    fn daily_counts(&self) -> Result<Vec<(String, String, String, u64)>, StoreError>;

    /// The person's turns since `since` that were handed off, or clarified without the
    /// person then picking an option, newest first, at most `limit` (redacted texts: gap
    /// mining reads them).
    fn unanswered_since(&self, since: DateTime<Utc>, limit: usize)
    -> Result<Vec<Turn>, StoreError>;

    /// The person's turns since `since`, counted by day, channel, outcome and entry.
    fn traffic_since(&self, since: DateTime<Utc>) -> Result<Vec<TrafficCount>, StoreError>;
}
