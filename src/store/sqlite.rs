//! The SQLite [`Store`]: one file in WAL mode, embedded migrations applied at open, one
//! connection behind a mutex (writes are small; SQLite serialises them anyway).
//!
//! A call waits for the connection no longer than SQLite waits for the file's lock
//! ([`LOCK_WAIT`]): when another process holds the database, the calls queued behind the
//! one that waits fail as busy too, instead of each waiting its turn and then its own
//! timeout (three requests would take three timeouts, past the request's own deadline).

use std::path::Path;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

mod kb;
mod staff;

use super::inbound::{StoredInbound, message_hash};
use super::keys::{Pseudonym, PseudonymKey, RouteKey, default_route_key_file};
use super::worker::Worker;
use super::{
    Author, Channel, Claim, ClosedBy, Conversation, Delivery, Feedback, HEARTBEAT_GRACE,
    INBOX_KEEP_DAYS, INBOX_MAX_ATTEMPTS, InboxDepth, InboxItem, NewTicket, NewTurn,
    PROCESSED_KEEP_DAYS, Purged, Queued, Route, Store, StoreError, Ticket, TicketStatus,
    TrafficCount, Turn,
};
use super::{Exchange, Exchanged, TicketChange, TicketEvent, TicketStep, TurnKind, count_kind};
use crate::privacy::Redacted;
use crate::reply::{HandoffReason, Outcome};

/// Migrations in order; `PRAGMA user_version` records how many were applied.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_inbox.sql"),
    include_str!("migrations/0003_agents.sql"),
    include_str!("migrations/0004_staff.sql"),
    include_str!("migrations/0005_kb.sql"),
    include_str!("migrations/0006_inbox_progress.sql"),
    include_str!("migrations/0007_turn_kind.sql"),
];

/// How long a call waits for the database file's lock, and before that for the one
/// connection: past it the call fails as [`StoreError::Busy`] (503 with `Retry-After`).
const LOCK_WAIT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    conn: Mutex<Connection>,
    pseudonym_key: PseudonymKey,
    /// Seals how to reach a person (routes, inbox rows) with a key kept outside the file.
    routes: RouteKey,
    /// The holder of the inbox rows this store takes.
    worker: Worker,
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).single().unwrap_or_default()
}

fn outcome_str(o: Outcome) -> &'static str {
    o.as_str()
}

/// Remembers an inbound message id (hashed); false when it was seen before.
fn mark_processed(
    conn: &Connection,
    channel: &str,
    hashed: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO processed (channel, message, at) VALUES (?1, ?2, ?3)",
        params![channel, hashed, ts(now)],
    )?;
    Ok(inserted == 1)
}

/// A turn from a row of `id, author, text, outcome, entry_id, at, agent`.
fn turn_from_row(r: &Row<'_>) -> rusqlite::Result<Turn> {
    Ok(Turn {
        id: r.get(0)?,
        author: Author::parse(&r.get::<_, String>(1)?),
        text: r.get(2)?,
        outcome: r
            .get::<_, Option<String>>(3)?
            .as_deref()
            .and_then(Outcome::parse),
        entry_id: r.get(4)?,
        at: from_ts(r.get(5)?),
        agent: r.get(6)?,
        answer_sha256: r.get(7)?,
        kind: TurnKind::parse(&r.get::<_, String>(8)?).unwrap_or_default(),
    })
}

fn parse_outcome(raw: &str) -> Option<Outcome> {
    match raw {
        "answer" => Some(Outcome::Answer),
        "clarify" => Some(Outcome::Clarify),
        "handoff" => Some(Outcome::Handoff),
        _ => None,
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file, its folder included, and migrates it; the
    /// route key is [`default_route_key_file`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_route_key(path, None)
    }

    /// [`SqliteStore::open`] with the route key in `key_file` (created if missing).
    pub fn open_with_route_key(path: &Path, key_file: Option<&Path>) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let key = match key_file {
            Some(f) => RouteKey::load_or_create(f)?,
            None => RouteKey::load_or_create(&default_route_key_file(path))?,
        };
        Self::from_connection(Connection::open(path)?, key)
    }

    /// A private in-memory database (unit tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::from_connection(Connection::open_in_memory()?, RouteKey::random())
    }

    fn from_connection(mut conn: Connection, routes: RouteKey) -> Result<Self, StoreError> {
        conn.busy_timeout(LOCK_WAIT)?;
        // In memory the answer is "memory": WAL applies to files only.
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('pseudonym_key', ?1) ON CONFLICT (key) DO NOTHING",
            [PseudonymKey::generate()],
        )?;
        let key: String = conn.query_row(
            "SELECT value FROM meta WHERE key = 'pseudonym_key'",
            [],
            |r| r.get(0),
        )?;
        let store = Self {
            conn: Mutex::new(conn),
            pseudonym_key: PseudonymKey::from_stored(&key),
            routes,
            worker: Worker::this_process(),
        };
        store.beat(Utc::now())?;
        Ok(store)
    }

    /// The connection, once the call holding it is done, within [`LOCK_WAIT`]. (A panic
    /// while holding it leaves SQLite consistent: each call is one statement or one
    /// transaction; parking_lot's lock is not poisoned by it.)
    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.try_lock_for(LOCK_WAIT).ok_or_else(|| {
            StoreError::Busy(
                "the database connection is held by a call that waits for the database".into(),
            )
        })
    }

    fn ticket_in(&self, conn: &Connection, id: i64) -> Result<Option<Ticket>, StoreError> {
        let row = conn
            .query_row(
                &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?1"),
                [id],
                ticket_row,
            )
            .optional()?;
        row.map(|t| t.into_ticket(&self.routes)).transpose()
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}

fn bump(conn: &Connection, now: DateTime<Utc>, channel: &str, kind: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO daily_counts (day, channel, kind, n) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (day, channel, kind) DO UPDATE SET n = n + 1",
        params![now.format("%Y-%m-%d").to_string(), channel, kind],
    )?;
    Ok(())
}

const TICKET_COLUMNS: &str = "id, status, channel, conversation, reason, questions, candidates, \
     service, route, created_at, claimed_at, resolved_at, claimed_by, closed_by, claimed_staff, note";

struct RawTicket {
    id: i64,
    status: String,
    channel: String,
    conversation: i64,
    reason: String,
    questions: String,
    candidates: String,
    service: String,
    route: Option<String>,
    created_at: i64,
    claimed_at: Option<i64>,
    resolved_at: Option<i64>,
    claimed_by: Option<String>,
    closed_by: Option<String>,
    claimed_staff: Option<i64>,
    note: Option<String>,
}

fn ticket_row(r: &Row<'_>) -> rusqlite::Result<RawTicket> {
    Ok(RawTicket {
        id: r.get(0)?,
        status: r.get(1)?,
        channel: r.get(2)?,
        conversation: r.get(3)?,
        reason: r.get(4)?,
        questions: r.get(5)?,
        candidates: r.get(6)?,
        service: r.get(7)?,
        route: r.get(8)?,
        created_at: r.get(9)?,
        claimed_at: r.get(10)?,
        resolved_at: r.get(11)?,
        claimed_by: r.get(12)?,
        claimed_staff: r.get(14)?,
        closed_by: r.get(13)?,
        note: r.get(15)?,
    })
}

impl RawTicket {
    fn into_ticket(self, routes: &RouteKey) -> Result<Ticket, StoreError> {
        let bad = |what: &str, v: &str| StoreError::Corrupt(format!("{what} {v:?}"));
        Ok(Ticket {
            id: self.id,
            status: TicketStatus::parse(&self.status).ok_or_else(|| bad("status", &self.status))?,
            channel: Channel::parse(&self.channel).ok_or_else(|| bad("channel", &self.channel))?,
            conversation: self.conversation,
            reason: HandoffReason::parse(&self.reason)
                .ok_or_else(|| bad("reason", &self.reason))?,
            questions: serde_json::from_str(&self.questions)?,
            candidates: serde_json::from_str(&self.candidates)?,
            service: self.service,
            created_at: from_ts(self.created_at),
            claimed_at: self.claimed_at.map(from_ts),
            resolved_at: self.resolved_at.map(from_ts),
            claimed_by: self.claimed_by,
            claimed_staff: self.claimed_staff,
            note: self.note,
            closed_by: self
                .closed_by
                .as_deref()
                .map(|c| ClosedBy::parse(c).ok_or_else(|| bad("closed_by", c)))
                .transpose()?,
            route: self
                .route
                .as_deref()
                .map(|r| Ok::<_, StoreError>(serde_json::from_str::<Route>(&routes.open(r)?)?))
                .transpose()?,
        })
    }
}

fn insert_turn(
    conn: &Connection,
    conversation: i64,
    turn: &NewTurn,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let channel: String = conn.query_row(
        "SELECT channel FROM conversations WHERE id = ?1",
        [conversation],
        |r| r.get(0),
    )?;
    conn.execute(
        "INSERT INTO turns (conversation, channel, author, text, outcome, entry_id,
                            answer_sha256, confidence, scores, at, agent, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            conversation,
            channel,
            turn.author.as_str(),
            turn.text.as_str(),
            turn.outcome.map(outcome_str),
            turn.entry_id,
            turn.answer_sha256,
            turn.confidence.map(f64::from),
            turn.scores.as_ref().map(serde_json::Value::to_string),
            ts(now),
            turn.agent,
            turn.kind.as_str(),
        ],
    )?;
    let id = conn.last_insert_rowid();
    bump(conn, now, &channel, count_kind(turn))?;
    Ok(id)
}

fn add_question_in(conn: &Connection, ticket: i64, question: &Redacted) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE tickets SET questions = json_insert(questions, '$[#]', ?2)
         WHERE id = ?1 AND status IN ('open', 'claimed')",
        params![ticket, question.as_str()],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn keep_reply(conn: &Connection, id: i64, reply: &serde_json::Value) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE inbox SET reply = ?2, sent = 0 WHERE id = ?1",
        params![id, serde_json::to_string(reply)?],
    )?;
    Ok(())
}

impl SqliteStore {
    fn open_ticket_in(
        &self,
        conn: &Connection,
        ticket: &NewTicket,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        conn.execute(
            "INSERT INTO tickets (status, channel, conversation, reason, questions, candidates,
                                  service, route, created_at)
             VALUES ('open', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                ticket.channel.as_str(),
                ticket.conversation,
                ticket.reason.as_str(),
                serde_json::to_string(&[ticket.question.as_str()])?,
                serde_json::to_string(&ticket.candidates)?,
                ticket.service,
                self.routes.seal(&serde_json::to_string(&ticket.route)?),
                ts(now),
            ],
        )?;
        let id = conn.last_insert_rowid();
        bump(conn, now, ticket.channel.as_str(), "ticket")?;
        Ok(id)
    }
}

impl Store for SqliteStore {
    fn worker(&self) -> &Worker {
        &self.worker
    }

    fn pseudonym(&self, channel: Channel, raw_id: &str) -> Pseudonym {
        self.pseudonym_key.pseudonym(channel, raw_id)
    }

    fn conversation(
        &self,
        channel: Channel,
        external: &Pseudonym,
        now: DateTime<Utc>,
    ) -> Result<Conversation, StoreError> {
        let conn = self.conn()?;
        let id: i64 = conn.query_row(
            "INSERT INTO conversations (channel, external, created_at, last_seen)
             VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (channel, external) DO UPDATE SET last_seen = excluded.last_seen
             RETURNING id",
            params![channel.as_str(), external.as_str(), ts(now)],
            |r| r.get(0),
        )?;
        let turns: i64 = conn.query_row(
            "SELECT count(*) FROM turns WHERE conversation = ?1",
            [id],
            |r| r.get(0),
        )?;
        Ok(Conversation {
            id,
            channel,
            turns: turns as u64,
        })
    }

    fn find_conversation(
        &self,
        channel: Channel,
        external: &Pseudonym,
    ) -> Result<Option<Conversation>, StoreError> {
        let conn = self.conn()?;
        let found = conn
            .query_row(
                "SELECT c.id, (SELECT count(*) FROM turns t WHERE t.conversation = c.id)
                 FROM conversations c WHERE c.channel = ?1 AND c.external = ?2",
                params![channel.as_str(), external.as_str()],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()?;
        Ok(found.map(|(id, turns)| Conversation {
            id,
            channel,
            turns: turns as u64,
        }))
    }

    fn record_turn(
        &self,
        conversation: i64,
        turn: &NewTurn,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let id = insert_turn(&tx, conversation, turn, now)?;
        tx.commit()?;
        Ok(id)
    }

    fn record_exchange(
        &self,
        exchange: &Exchange,
        now: DateTime<Utc>,
    ) -> Result<Exchanged, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let active = match &exchange.ticket {
            TicketStep::None => None,
            TicketStep::AddQuestion(id) => {
                add_question_in(&tx, *id, &exchange.turn.text)?;
                Some(*id)
            }
            TicketStep::Open(ticket) => Some(self.open_ticket_in(&tx, ticket, now)?),
        };
        let turn = insert_turn(&tx, exchange.conversation, &exchange.turn, now)?;
        if let Some((row, reply)) = &exchange.kept_reply {
            keep_reply(&tx, *row, reply)?;
        }
        let active = active
            .map(|id| self.ticket_in(&tx, id))
            .transpose()?
            .flatten();
        tx.commit()?;
        Ok(Exchanged::new(turn, &exchange.ticket, active))
    }

    fn turns_after(
        &self,
        conversation: i64,
        author: Option<Author>,
        after: i64,
    ) -> Result<Vec<Turn>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, author, text, outcome, entry_id, at, agent, answer_sha256, kind FROM turns
             WHERE conversation = ?1 AND id > ?2 AND (?3 IS NULL OR author = ?3)
             ORDER BY id LIMIT 200",
        )?;
        let rows = stmt.query_map(
            params![conversation, after, author.map(Author::as_str)],
            turn_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn open_ticket(&self, ticket: &NewTicket, now: DateTime<Utc>) -> Result<Ticket, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let id = self.open_ticket_in(&tx, ticket, now)?;
        let t = self.ticket_in(&tx, id)?.ok_or(StoreError::NotFound)?;
        tx.commit()?;
        Ok(t)
    }

    fn active_ticket(&self, conversation: i64) -> Result<Option<Ticket>, StoreError> {
        let conn = self.conn()?;
        let row = conn
            .query_row(
                &format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets
                     WHERE conversation = ?1 AND status IN ('open', 'claimed')
                     ORDER BY id DESC LIMIT 1"
                ),
                [conversation],
                ticket_row,
            )
            .optional()?;
        row.map(|t| t.into_ticket(&self.routes)).transpose()
    }

    fn add_question(&self, ticket: i64, question: &Redacted) -> Result<(), StoreError> {
        add_question_in(&*self.conn()?, ticket, question)
    }

    fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError> {
        self.ticket_in(&*self.conn()?, id)
    }

    fn tickets(&self, status: Option<TicketStatus>) -> Result<Vec<Ticket>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE (?1 IS NULL OR status = ?1)
             ORDER BY id LIMIT 500"
        ))?;
        let raws = stmt
            .query_map([status.map(TicketStatus::as_str)], ticket_row)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter()
            .map(|t| t.into_ticket(&self.routes))
            .collect()
    }

    fn ticket_event(
        &self,
        id: i64,
        event: TicketEvent<'_>,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        let mut conn = self.conn()?;
        // Immediate: the write lock is taken before the read, so of two events at once,
        // whatever the process, the second reads what the first wrote.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ticket = self.ticket_in(&tx, id)?.ok_or(StoreError::NotFound)?;
        match ticket.on(event)? {
            TicketChange::Unchanged => return Ok(ticket),
            TicketChange::Claimed(by) => tx.execute(
                "UPDATE tickets SET status = 'claimed', claimed_at = ?2, claimed_by = ?3,
                        claimed_staff = ?4
                 WHERE id = ?1",
                params![id, ts(now), by.name, by.staff],
            )?,
            TicketChange::Resolved(by) => tx.execute(
                "UPDATE tickets SET status = 'resolved', resolved_at = ?2, closed_by = ?3,
                                    route = NULL
                 WHERE id = ?1",
                params![id, ts(now), by.as_str()],
            )?,
        };
        let t = self.ticket_in(&tx, id)?.ok_or(StoreError::NotFound)?;
        tx.commit()?;
        Ok(t)
    }

    fn note_ticket(&self, id: i64, note: &Redacted) -> Result<(), StoreError> {
        let changed = self.conn()?.execute(
            "UPDATE tickets SET note = ?2 WHERE id = ?1",
            params![id, note.as_str()],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    fn record_feedback(&self, feedback: &Feedback, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO feedback (entry_id, answer_sha256, helpful, at) VALUES (?1, ?2, ?3, ?4)",
            params![
                feedback.entry_id,
                feedback.answer_sha256,
                feedback.helpful,
                ts(now)
            ],
        )?;
        Ok(())
    }

    fn first_delivery(
        &self,
        channel: Channel,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(mark_processed(
            &*self.conn()?,
            channel.as_str(),
            &message_hash(message_id),
            now,
        )?)
    }

    fn enqueue_inbound(
        &self,
        message_id: &str,
        message: &Queued,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<InboxItem>, StoreError> {
        let hashed = message_hash(message_id);
        let channel = message.channel.as_str();
        let inbound = self
            .routes
            .seal(&serde_json::to_string(&StoredInbound::from_queued(
                message,
            ))?);
        let claimed_until = now + lease;
        let mut conn = self.conn()?;
        // Immediate: the write lock first, so that replicas sharing the file queue up
        // here instead of failing on a stale read snapshot.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !mark_processed(&tx, channel, &hashed, now)? {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO inbox (channel, message_id, inbound, received_at, attempts, claimed_until,
                                holder)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
            params![
                channel,
                hashed,
                inbound,
                ts(now),
                ts(claimed_until),
                self.worker.id
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Some(InboxItem {
            id,
            message: message.clone(),
            received_at: from_ts(ts(now)),
            attempts: 1,
            claimed_until: from_ts(ts(claimed_until)),
            reply: None,
            sent: 0,
        }))
    }

    fn stale_inbound(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.conn()?;
        // Workers gone (known dead here, or silent too long): their leases end now.
        let workers: Vec<(Worker, i64)> = {
            let mut stmt =
                conn.prepare("SELECT id, pid, started, boot_id, heartbeat FROM workers")?;
            stmt.query_map([], |r| {
                Ok((
                    Worker {
                        id: r.get(0)?,
                        pid: r.get(1)?,
                        started: r.get(2)?,
                        boot_id: r.get(3)?,
                    },
                    r.get(4)?,
                ))
            })?
            .collect::<Result<_, _>>()?
        };
        let silent = ts(now - HEARTBEAT_GRACE);
        let gone: Vec<&Worker> = workers
            .iter()
            .filter(|(w, beat)| {
                w.id != self.worker.id && (*beat < silent || self.worker.knows_dead(w))
            })
            .map(|(w, _)| w)
            .collect();
        if !gone.is_empty() {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for w in &gone {
                let released = tx.execute(
                    "UPDATE inbox SET claimed_until = ?2 WHERE holder = ?1 AND claimed_until > ?2",
                    params![w.id, ts(now)],
                )?;
                tx.execute("DELETE FROM workers WHERE id = ?1", [&w.id])?;
                if released > 0 {
                    tracing::info!(
                        released,
                        pid = w.pid,
                        "inbox rows of a gone worker taken back"
                    );
                }
            }
            tx.commit()?;
        }
        let mut stmt = conn.prepare(
            "SELECT id FROM inbox WHERE claimed_until <= ?1 ORDER BY claimed_until, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ts(now), limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn claim_inbound(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Claim, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(
                "SELECT channel, inbound, received_at, attempts, reply, sent FROM inbox
                 WHERE id = ?1 AND claimed_until <= ?2",
                params![id, ts(now)],
                |r| {
                    Ok((
                        (
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, u32>(3)?,
                        ),
                        (r.get::<_, Option<String>>(4)?, r.get::<_, u32>(5)?),
                    ))
                },
            )
            .optional()?;
        let Some(((channel, inbound, received_at, attempts), (reply, sent))) = row else {
            return Ok(Claim::Unavailable);
        };
        if attempts >= INBOX_MAX_ATTEMPTS {
            tx.execute(
                "INSERT INTO deliveries (channel, ticket, ok, attempts, detail, at)
                 VALUES (?1, NULL, 0, ?2, 'not processed: gave up after repeated attempts', ?3)",
                params![channel, attempts, ts(now)],
            )?;
            tx.execute("DELETE FROM inbox WHERE id = ?1", [id])?;
            tx.commit()?;
            let channel = Channel::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("inbox channel {channel:?}")))?;
            return Ok(Claim::GaveUp { channel, attempts });
        }
        let claimed_until = now + lease;
        tx.execute(
            "UPDATE inbox SET attempts = attempts + 1, claimed_until = ?2, holder = ?3
             WHERE id = ?1",
            params![id, ts(claimed_until), self.worker.id],
        )?;
        tx.commit()?;
        let stored: StoredInbound = serde_json::from_str(&self.routes.open(&inbound)?)?;
        Ok(Claim::Claimed(Box::new(InboxItem {
            id,
            message: stored.into_queued(),
            received_at: from_ts(received_at),
            attempts: attempts + 1,
            claimed_until: from_ts(ts(claimed_until)),
            reply: reply.map(|r| serde_json::from_str(&r)).transpose()?,
            sent,
        })))
    }

    fn inbox_depth(&self) -> Result<InboxDepth, StoreError> {
        let (rows, oldest): (i64, Option<i64>) =
            self.conn()?
                .query_row("SELECT count(*), min(received_at) FROM inbox", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        Ok(InboxDepth {
            rows: u64::try_from(rows).unwrap_or(0),
            oldest: oldest.map(from_ts),
        })
    }

    fn finish_inbound(&self, id: i64) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM inbox WHERE id = ?1", [id])?;
        Ok(())
    }

    fn record_reply(&self, id: i64, reply: &serde_json::Value) -> Result<(), StoreError> {
        keep_reply(&*self.conn()?, id, reply)
    }

    fn record_sent(&self, id: i64, sent: u32) -> Result<(), StoreError> {
        self.conn()?.execute(
            "UPDATE inbox SET sent = ?2 WHERE id = ?1",
            params![id, sent],
        )?;
        Ok(())
    }

    fn beat(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let w = &self.worker;
        self.conn()?.execute(
            "INSERT INTO workers (id, pid, started, boot_id, heartbeat) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat",
            params![w.id, w.pid, w.started, w.boot_id, ts(now)],
        )?;
        Ok(())
    }

    fn record_delivery(&self, delivery: &Delivery, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO deliveries (channel, ticket, ok, attempts, detail, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                delivery.channel.as_str(),
                delivery.ticket,
                delivery.ok,
                delivery.attempts,
                delivery.detail,
                ts(now)
            ],
        )?;
        Ok(())
    }

    fn purge(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<Purged, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let cutoff = ts(before);
        let processed_cutoff = ts(now) - PROCESSED_KEEP_DAYS * 86_400;
        let turns = tx.execute("DELETE FROM turns WHERE at < ?1", [cutoff])?;
        let tickets = tx.execute("DELETE FROM tickets WHERE created_at < ?1", [cutoff])?;
        let deliveries = tx.execute("DELETE FROM deliveries WHERE at < ?1", [cutoff])?;
        let conversations = tx.execute(
            "DELETE FROM conversations WHERE last_seen < ?1
               AND NOT EXISTS (SELECT 1 FROM turns t WHERE t.conversation = conversations.id)
               AND NOT EXISTS (SELECT 1 FROM tickets k WHERE k.conversation = conversations.id)",
            [cutoff],
        )?;
        let processed = tx.execute("DELETE FROM processed WHERE at < ?1", [processed_cutoff])?;
        let inbox_cutoff = cutoff.max(ts(now) - INBOX_KEEP_DAYS * 86_400);
        tx.execute(
            "INSERT INTO deliveries (channel, ticket, ok, attempts, detail, at)
             SELECT channel, NULL, 0, attempts, 'not processed: expired from the inbox', ?2
             FROM inbox WHERE received_at < ?1",
            params![inbox_cutoff, ts(now)],
        )?;
        let inbox = tx.execute("DELETE FROM inbox WHERE received_at < ?1", [inbox_cutoff])?;
        tx.commit()?;
        Ok(Purged {
            turns: turns as u64,
            tickets: tickets as u64,
            conversations: conversations as u64,
            processed: processed as u64,
            deliveries: deliveries as u64,
            inbox: inbox as u64,
        })
    }

    fn daily_counts(&self) -> Result<Vec<(String, String, String, u64)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT day, channel, kind, n FROM daily_counts ORDER BY day, channel, kind",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn unanswered_since(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Turn>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT t.id, t.author, t.text, t.outcome, t.entry_id, t.at, t.agent, t.answer_sha256, t.kind
             FROM turns t
             WHERE t.author = 'person' AND t.at >= ?1
               AND (t.outcome = 'handoff'
                    OR (t.outcome = 'clarify' AND NOT EXISTS (
                        SELECT 1 FROM turns n
                        WHERE n.id = (SELECT MIN(m.id) FROM turns m
                                      WHERE m.conversation = t.conversation
                                        AND m.author = 'person' AND m.id > t.id)
                          AND n.kind = 'option')))
             ORDER BY t.at DESC, t.id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ts(since), limit as i64], turn_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn traffic_since(&self, since: DateTime<Utc>) -> Result<Vec<TrafficCount>, StoreError> {
        let conn = self.conn()?;
        // `scores` is JSON written by us: `candidates` best first.
        let mut stmt = conn.prepare(
            "SELECT date(at, 'unixepoch') AS day, channel, outcome,
                    COALESCE(entry_id, json_extract(scores, '$.candidates[0].id')) AS entry,
                    COUNT(*)
             FROM turns
             WHERE author = 'person' AND outcome IS NOT NULL AND at >= ?1
             GROUP BY day, channel, outcome, entry
             ORDER BY day, channel, outcome, entry",
        )?;
        let rows = stmt.query_map([ts(since)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let bad = |what: &str, raw: &str| StoreError::Corrupt(format!("turn {what} {raw:?}"));
        rows.map(|row| {
            let (day, channel, outcome, entry, n) = row?;
            Ok(TrafficCount {
                day: NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| bad("day", &day))?,
                channel: Channel::parse(&channel).ok_or_else(|| bad("channel", &channel))?,
                outcome: parse_outcome(&outcome).ok_or_else(|| bad("outcome", &outcome))?,
                entry,
                n: n as u64,
            })
        })
        .collect()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, DatabaseBusy | DatabaseLocked) =>
            {
                Self::Busy(e.to_string())
            }
            _ => Self::Backend(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_file_is_in_wal_mode_and_its_folder_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/guichet.sqlite");
        drop(SqliteStore::open(&path).unwrap());
        let s = SqliteStore::open(&path).unwrap();
        let mode: String = s
            .conn()
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn an_option_turn_of_an_older_file_is_read_as_its_kind_and_entry_id() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO conversations (id, channel, external, created_at, last_seen)
                 VALUES (1, 'web', 'x', 0, 0);
             INSERT INTO turns (conversation, channel, author, text, at)
                 VALUES (1, 'web', 'person', '[option] cantine-tarifs', 0),
                        (1, 'web', 'person', 'bonjour', 0);
             PRAGMA user_version = 6;",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows: Vec<(String, String)> = conn
            .prepare("SELECT kind, text FROM turns ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                ("option".to_string(), "cantine-tarifs".to_string()),
                ("message".to_string(), "bonjour".to_string())
            ]
        );
    }
}
