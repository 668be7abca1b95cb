//! The PostgreSQL [`Store`]: what several replicas share. A pool of connections
//! (r2d2), embedded migrations applied at open under an advisory lock (the first replica
//! of a start migrates, the others wait), and the same guarantees as SQLite: each use
//! case is one transaction, the inbox is taken with row locks (`FOR UPDATE SKIP
//! LOCKED`), processed message ids are unique, a ticket is taken by one agent.
//!
//! Synchronous like the seam: the `postgres` client runs its own small runtime, so async
//! callers go through `spawn_blocking` (as for SQLite).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use postgres::types::Json;
use postgres::{GenericClient, NoTls, Row, Transaction};
use r2d2::PooledConnection;
use r2d2_postgres::PostgresConnectionManager;

mod kb;
mod staff;

use super::inbound::{StoredInbound, message_hash};
use super::keys::{Pseudonym, PseudonymKey, RouteKey};
use super::worker::Worker;
use super::{
    Author, Channel, Claim, ClosedBy, Conversation, Delivery, Exchange, Exchanged, Feedback,
    HEARTBEAT_GRACE, INBOX_KEEP_DAYS, INBOX_MAX_ATTEMPTS, InboxDepth, InboxItem, NewTicket,
    NewTurn, PROCESSED_KEEP_DAYS, Purged, Queued, Route, Store, StoreError, Ticket, TicketChange,
    TicketEvent, TicketStatus, TicketStep, TrafficCount, Turn, TurnKind, count_kind,
};
use crate::privacy::Redacted;
use crate::reply::{HandoffReason, Outcome};

type Manager = PostgresConnectionManager<NoTls>;
pub(crate) type Conn = PooledConnection<Manager>;

/// Migrations in order, each applied once in its own transaction and recorded in
/// `schema_migrations`. A new one is added at the end; an applied one is never edited.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("postgres/migrations/0001_core.sql")),
    (2, include_str!("postgres/migrations/0002_staff.sql")),
    (3, include_str!("postgres/migrations/0003_kb.sql")),
];

/// Any number that names our migration lock among the database's advisory locks.
const MIGRATION_LOCK: i64 = 0x0067_7569_6368_6574; // "guichet"

/// How long a request waits for a pooled connection before the store answers
/// [`StoreError::Unavailable`] (the web layer: 503 with `Retry-After`).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct PgStore {
    /// Always there until the store is dropped (see its `Drop`).
    pool: Option<r2d2::Pool<Manager>>,
    pseudonym_key: PseudonymKey,
    /// Seals how to reach a person with a key kept outside the database: every replica
    /// reads the same key file.
    routes: RouteKey,
    /// The holder of the inbox rows this store takes.
    worker: Worker,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host/db`), migrates, and reads the route key
    /// from `route_key_file` (created if missing: give every replica the same file).
    pub fn open(url: &str, route_key_file: &Path, pool_size: u32) -> Result<Self, StoreError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Backend(Box::new(e)))?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(2))
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let routes = RouteKey::load_or_create(route_key_file)?;
        let mut conn = pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        migrate(&mut conn)?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('pseudonym_key', $1) ON CONFLICT (key) DO NOTHING",
            &[&PseudonymKey::generate()],
        )?;
        let key: String = conn
            .query_one("SELECT value FROM meta WHERE key = 'pseudonym_key'", &[])?
            .get(0);
        drop(conn);
        let store = Self {
            pool: Some(pool),
            pseudonym_key: PseudonymKey::from_stored(&key),
            routes,
            worker: Worker::this_process(),
        };
        store.beat(Utc::now())?;
        Ok(store)
    }

    /// A pooled connection; none within [`CHECKOUT_TIMEOUT`]: unavailable.
    pub(crate) fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .as_ref()
            .expect("the pool lives as long as the store")
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    pub(crate) fn routes(&self) -> &RouteKey {
        &self.routes
    }

    pub(crate) fn pseudonym_key(&self) -> &PseudonymKey {
        &self.pseudonym_key
    }
}

/// Whole seconds, as SQLite keeps times: both backends store, compare and give back the
/// same instants, so that leases and days end at the same moment on each.
fn secs(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(0)
}

fn no_conversation() -> StoreError {
    StoreError::Backend("no such conversation".into())
}

/// Remembers an inbound message id (hashed); false when it was seen before. The primary
/// key decides: of two replicas inserting the same id at once, the second waits for the
/// first to commit and then inserts nothing.
fn mark_processed(
    c: &mut impl GenericClient,
    channel: &str,
    hashed: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = c.execute(
        "INSERT INTO processed (channel, message, at) VALUES ($1, $2, $3)
         ON CONFLICT (channel, message) DO NOTHING",
        &[&channel, &hashed, &secs(now)],
    )?;
    Ok(inserted == 1)
}

fn bump(
    c: &mut impl GenericClient,
    now: DateTime<Utc>,
    channel: &str,
    kind: &str,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO daily_counts (day, channel, kind, n) VALUES ($1, $2, $3, 1)
         ON CONFLICT (day, channel, kind) DO UPDATE SET n = daily_counts.n + 1",
        &[&now.date_naive(), &channel, &kind],
    )?;
    Ok(())
}

const TURN_COLUMNS: &str = "id, author, text, outcome, entry_id, at, agent, answer_sha256, kind";

fn turn_from_row(r: &Row) -> Result<Turn, StoreError> {
    Ok(Turn {
        id: r.try_get(0)?,
        author: Author::parse(r.try_get(1)?),
        text: r.try_get(2)?,
        outcome: r.try_get::<_, Option<&str>>(3)?.and_then(Outcome::parse),
        entry_id: r.try_get(4)?,
        at: r.try_get(5)?,
        agent: r.try_get(6)?,
        answer_sha256: r.try_get(7)?,
        kind: TurnKind::parse(r.try_get(8)?).unwrap_or_default(),
    })
}

const TICKET_COLUMNS: &str = "id, status, channel, conversation, reason, questions, candidates, \
     service, route, created_at, claimed_at, resolved_at, claimed_by, closed_by, claimed_staff, note";

fn ticket_from_row(r: &Row, routes: &RouteKey) -> Result<Ticket, StoreError> {
    let bad = |what: &str, v: &str| StoreError::Corrupt(format!("{what} {v:?}"));
    let status: &str = r.try_get(1)?;
    let channel: &str = r.try_get(2)?;
    let reason: &str = r.try_get(4)?;
    let Json(questions): Json<Vec<String>> = r.try_get(5)?;
    let Json(candidates): Json<Vec<String>> = r.try_get(6)?;
    let route: Option<&str> = r.try_get(8)?;
    let closed_by: Option<&str> = r.try_get(13)?;
    Ok(Ticket {
        id: r.try_get(0)?,
        status: TicketStatus::parse(status).ok_or_else(|| bad("status", status))?,
        channel: Channel::parse(channel).ok_or_else(|| bad("channel", channel))?,
        conversation: r.try_get(3)?,
        reason: HandoffReason::parse(reason).ok_or_else(|| bad("reason", reason))?,
        questions,
        candidates,
        service: r.try_get(7)?,
        created_at: r.try_get(9)?,
        claimed_at: r.try_get(10)?,
        resolved_at: r.try_get(11)?,
        claimed_by: r.try_get(12)?,
        closed_by: closed_by
            .map(|c| ClosedBy::parse(c).ok_or_else(|| bad("closed_by", c)))
            .transpose()?,
        claimed_staff: r.try_get(14)?,
        note: r.try_get(15)?,
        route: route
            .map(|r| Ok::<_, StoreError>(serde_json::from_str::<Route>(&routes.open(r)?)?))
            .transpose()?,
    })
}

/// The conversation's channel, its row locked until the transaction ends: the turns of
/// one conversation then take their ids in the order they commit, so that a reader
/// polling "turns after id N" (the widget) never skips one committed late. A lock that
/// foreign keys (KEY SHARE) do not wait for.
fn lock_conversation(tx: &mut Transaction<'_>, conversation: i64) -> Result<String, StoreError> {
    let row = tx.query_opt(
        "SELECT channel FROM conversations WHERE id = $1 FOR NO KEY UPDATE",
        &[&conversation],
    )?;
    Ok(row.ok_or_else(no_conversation)?.try_get(0)?)
}

/// Inserts a turn of the locked conversation (see [`lock_conversation`]).
fn insert_turn(
    tx: &mut Transaction<'_>,
    conversation: i64,
    channel: &str,
    turn: &NewTurn,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO turns (conversation, channel, author, kind, text, outcome, entry_id,
                                answer_sha256, confidence, scores, agent, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             RETURNING id",
            &[
                &conversation,
                &channel,
                &turn.author.as_str(),
                &turn.kind.as_str(),
                &turn.text.as_str(),
                &turn.outcome.map(Outcome::as_str),
                &turn.entry_id,
                &turn.answer_sha256,
                &turn.confidence,
                &turn.scores,
                &turn.agent,
                &secs(now),
            ],
        )?
        .try_get(0)?;
    bump(tx, now, channel, count_kind(turn))?;
    Ok(id)
}

fn add_question_in(
    c: &mut impl GenericClient,
    ticket: i64,
    question: &Redacted,
) -> Result<(), StoreError> {
    let changed = c.execute(
        "UPDATE tickets SET questions = questions || jsonb_build_array($2::text)
         WHERE id = $1 AND status IN ('open', 'claimed')",
        &[&ticket, &question.as_str()],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The reply is kept as the text it was serialised to: sent as it is on a replay.
fn keep_reply(
    c: &mut impl GenericClient,
    id: i64,
    reply: &serde_json::Value,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE inbox SET reply = $2, sent = 0 WHERE id = $1",
        &[&id, &serde_json::to_string(reply)?],
    )?;
    Ok(())
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl PgStore {
    fn ticket_in(
        &self,
        c: &mut impl GenericClient,
        id: i64,
        lock: bool,
    ) -> Result<Option<Ticket>, StoreError> {
        let lock = if lock { " FOR UPDATE" } else { "" };
        c.query_opt(
            &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1{lock}"),
            &[&id],
        )?
        .map(|r| ticket_from_row(&r, self.routes()))
        .transpose()
    }

    fn open_ticket_in(
        &self,
        c: &mut impl GenericClient,
        ticket: &NewTicket,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let id: i64 = c
            .query_one(
                "INSERT INTO tickets (status, channel, conversation, reason, questions, candidates,
                                      service, route, created_at)
                 VALUES ('open', $1, $2, $3, $4, $5, $6, $7, $8)
                 RETURNING id",
                &[
                    &ticket.channel.as_str(),
                    &ticket.conversation,
                    &ticket.reason.as_str(),
                    &Json([ticket.question.as_str()]),
                    &Json(&ticket.candidates),
                    &ticket.service,
                    &self.routes.seal(&serde_json::to_string(&ticket.route)?),
                    &secs(now),
                ],
            )?
            .try_get(0)?;
        bump(c, now, ticket.channel.as_str(), "ticket")?;
        Ok(id)
    }
}

impl Store for PgStore {
    fn worker(&self) -> &Worker {
        &self.worker
    }

    fn pseudonym(&self, channel: Channel, raw_id: &str) -> Pseudonym {
        self.pseudonym_key().pseudonym(channel, raw_id)
    }

    fn conversation(
        &self,
        channel: Channel,
        external: &Pseudonym,
        now: DateTime<Utc>,
    ) -> Result<Conversation, StoreError> {
        // ON CONFLICT makes the first message of a person received by two replicas at
        // once one conversation.
        let row = self.conn()?.query_one(
            "WITH c AS (
                 INSERT INTO conversations (channel, external, created_at, last_seen)
                 VALUES ($1, $2, $3, $3)
                 ON CONFLICT (channel, external) DO UPDATE SET last_seen = excluded.last_seen
                 RETURNING id
             )
             SELECT c.id, (SELECT count(*) FROM turns t WHERE t.conversation = c.id) FROM c",
            &[&channel.as_str(), &external.as_str(), &secs(now)],
        )?;
        Ok(Conversation {
            id: row.try_get(0)?,
            channel,
            turns: row.try_get::<_, i64>(1)? as u64,
        })
    }

    fn find_conversation(
        &self,
        channel: Channel,
        external: &Pseudonym,
    ) -> Result<Option<Conversation>, StoreError> {
        let row = self.conn()?.query_opt(
            "SELECT c.id, (SELECT count(*) FROM turns t WHERE t.conversation = c.id)
             FROM conversations c WHERE c.channel = $1 AND c.external = $2",
            &[&channel.as_str(), &external.as_str()],
        )?;
        row.map(|r| {
            Ok(Conversation {
                id: r.try_get(0)?,
                channel,
                turns: r.try_get::<_, i64>(1)? as u64,
            })
        })
        .transpose()
    }

    fn record_turn(
        &self,
        conversation: i64,
        turn: &NewTurn,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let channel = lock_conversation(&mut tx, conversation)?;
        let id = insert_turn(&mut tx, conversation, &channel, turn, now)?;
        tx.commit()?;
        Ok(id)
    }

    fn record_exchange(
        &self,
        exchange: &Exchange,
        now: DateTime<Utc>,
    ) -> Result<Exchanged, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // The conversation first, then its ticket: the one order every transaction here
        // takes them in.
        let channel = lock_conversation(&mut tx, exchange.conversation)?;
        let active = match &exchange.ticket {
            TicketStep::None => None,
            TicketStep::AddQuestion(id) => {
                add_question_in(&mut tx, *id, &exchange.turn.text)?;
                Some(*id)
            }
            TicketStep::Open(ticket) => Some(self.open_ticket_in(&mut tx, ticket, now)?),
        };
        let turn = insert_turn(
            &mut tx,
            exchange.conversation,
            &channel,
            &exchange.turn,
            now,
        )?;
        if let Some((row, reply)) = &exchange.kept_reply {
            keep_reply(&mut tx, *row, reply)?;
        }
        let active = match active {
            Some(id) => self.ticket_in(&mut tx, id, false)?,
            None => None,
        };
        tx.commit()?;
        Ok(Exchanged::new(turn, &exchange.ticket, active))
    }

    fn turns_after(
        &self,
        conversation: i64,
        author: Option<Author>,
        after: i64,
    ) -> Result<Vec<Turn>, StoreError> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {TURN_COLUMNS} FROM turns
                     WHERE conversation = $1 AND id > $2 AND ($3::text IS NULL OR author = $3)
                     ORDER BY id LIMIT 200"
                ),
                &[&conversation, &after, &author.map(Author::as_str)],
            )?
            .iter()
            .map(turn_from_row)
            .collect()
    }

    fn open_ticket(&self, ticket: &NewTicket, now: DateTime<Utc>) -> Result<Ticket, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let id = self.open_ticket_in(&mut tx, ticket, now)?;
        let t = self
            .ticket_in(&mut tx, id, false)?
            .ok_or(StoreError::NotFound)?;
        tx.commit()?;
        Ok(t)
    }

    fn active_ticket(&self, conversation: i64) -> Result<Option<Ticket>, StoreError> {
        self.conn()?
            .query_opt(
                &format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets
                     WHERE conversation = $1 AND status IN ('open', 'claimed')
                     ORDER BY id DESC LIMIT 1"
                ),
                &[&conversation],
            )?
            .map(|r| ticket_from_row(&r, &self.routes))
            .transpose()
    }

    fn add_question(&self, ticket: i64, question: &Redacted) -> Result<(), StoreError> {
        add_question_in(&mut *self.conn()?, ticket, question)
    }

    fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError> {
        self.ticket_in(&mut *self.conn()?, id, false)
    }

    fn tickets(&self, status: Option<TicketStatus>) -> Result<Vec<Ticket>, StoreError> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets WHERE ($1::text IS NULL OR status = $1)
                     ORDER BY id LIMIT 500"
                ),
                &[&status.map(TicketStatus::as_str)],
            )?
            .iter()
            .map(|r| ticket_from_row(r, &self.routes))
            .collect()
    }

    fn ticket_event(
        &self,
        id: i64,
        event: TicketEvent<'_>,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // The row locked before it is read: of events at once on any replica, the next
        // waits here and then reads what the first wrote.
        let ticket = self
            .ticket_in(&mut tx, id, true)?
            .ok_or(StoreError::NotFound)?;
        match ticket.on(event)? {
            TicketChange::Unchanged => return Ok(ticket),
            TicketChange::Claimed(by) => tx.execute(
                "UPDATE tickets SET status = 'claimed', claimed_at = $2, claimed_by = $3,
                        claimed_staff = $4
                 WHERE id = $1",
                &[&id, &secs(now), &by.name, &by.staff],
            )?,
            TicketChange::Resolved(by) => tx.execute(
                "UPDATE tickets SET status = 'resolved', resolved_at = $2, closed_by = $3,
                                    route = NULL
                 WHERE id = $1",
                &[&id, &secs(now), &by.as_str()],
            )?,
        };
        let t = self
            .ticket_in(&mut tx, id, false)?
            .ok_or(StoreError::NotFound)?;
        tx.commit()?;
        Ok(t)
    }

    fn note_ticket(&self, id: i64, note: &Redacted) -> Result<(), StoreError> {
        let changed = self.conn()?.execute(
            "UPDATE tickets SET note = $2 WHERE id = $1",
            &[&id, &note.as_str()],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    fn record_feedback(&self, feedback: &Feedback, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO feedback (entry_id, answer_sha256, helpful, at) VALUES ($1, $2, $3, $4)",
            &[
                &feedback.entry_id,
                &feedback.answer_sha256,
                &feedback.helpful,
                &secs(now),
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
        mark_processed(
            &mut *self.conn()?,
            channel.as_str(),
            &message_hash(message_id),
            now,
        )
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
        let (received_at, claimed_until) = (secs(now), secs(now + lease));
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        if !mark_processed(&mut tx, channel, &hashed, now)? {
            return Ok(None);
        }
        // Already queued (its processed mark purged meanwhile): a retry all the same.
        let Some(row) = tx.query_opt(
            "INSERT INTO inbox (channel, message_id, inbound, received_at, attempts, claimed_until,
                                holder)
             VALUES ($1, $2, $3, $4, 1, $5, $6)
             ON CONFLICT (channel, message_id) DO NOTHING
             RETURNING id",
            &[
                &channel,
                &hashed,
                &inbound,
                &received_at,
                &claimed_until,
                &self.worker.id,
            ],
        )?
        else {
            tx.commit()?;
            return Ok(None);
        };
        let id: i64 = row.try_get(0)?;
        tx.commit()?;
        Ok(Some(InboxItem {
            id,
            message: message.clone(),
            received_at,
            attempts: 1,
            claimed_until,
            reply: None,
            sent: 0,
        }))
    }

    fn stale_inbound(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<i64>, StoreError> {
        let now = secs(now);
        let mut conn = self.conn()?;
        let silent = now - HEARTBEAT_GRACE;
        // Workers gone: silent too long (another machine, or a hung process), or known
        // dead on this machine. Ordered by id, so that replicas doing this at once lock
        // them in one order.
        let workers = conn.query(
            "SELECT id, pid, started, boot_id, heartbeat FROM workers WHERE id <> $1 ORDER BY id",
            &[&self.worker.id],
        )?;
        let mut gone = Vec::new();
        for r in &workers {
            let w = Worker {
                id: r.try_get(0)?,
                pid: u32::try_from(r.try_get::<_, i64>(1)?).unwrap_or(0),
                started: r.try_get(2)?,
                boot_id: r.try_get(3)?,
            };
            let beat: DateTime<Utc> = r.try_get(4)?;
            let dead = self.worker.knows_dead(&w);
            if dead || beat < silent {
                gone.push((w, dead));
            }
        }
        if !gone.is_empty() {
            let mut tx = conn.transaction()?;
            for (w, dead) in &gone {
                // Its leases end only if it is still gone now: a beat since the read
                // keeps them. Of replicas doing this at once, one deletes the row and
                // releases; the others find nothing left to do.
                let deleted = tx.execute(
                    "DELETE FROM workers WHERE id = $1 AND ($2 OR heartbeat < $3)",
                    &[&w.id, dead, &silent],
                )?;
                if deleted == 0 {
                    continue;
                }
                let released = tx.execute(
                    "UPDATE inbox SET claimed_until = $2 WHERE holder = $1 AND claimed_until > $2",
                    &[&w.id, &now],
                )?;
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
        // Rows being claimed right now by another replica are skipped: it has them.
        let rows = conn.query(
            "SELECT id FROM inbox WHERE claimed_until <= $1
             ORDER BY claimed_until, id LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&now, &(limit as i64)],
        )?;
        rows.iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect::<Result<_, StoreError>>()
    }

    fn claim_inbound(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Claim, StoreError> {
        let now = secs(now);
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // Locked, or locked by another replica and then skipped: of replicas claiming one
        // row at once, one takes it. One that waited would read the row as the winner
        // left it (its lease renewed) and find it unavailable all the same.
        let Some(row) = tx.query_opt(
            "SELECT channel, inbound, received_at, attempts, reply, sent FROM inbox
             WHERE id = $1 AND claimed_until <= $2
             FOR UPDATE SKIP LOCKED",
            &[&id, &now],
        )?
        else {
            return Ok(Claim::Unavailable);
        };
        let channel: String = row.try_get(0)?;
        let inbound: String = row.try_get(1)?;
        let received_at: DateTime<Utc> = row.try_get(2)?;
        let attempts = u32::try_from(row.try_get::<_, i32>(3)?).unwrap_or(0);
        let reply: Option<String> = row.try_get(4)?;
        let sent = u32::try_from(row.try_get::<_, i32>(5)?).unwrap_or(0);
        if attempts >= INBOX_MAX_ATTEMPTS {
            tx.execute(
                "INSERT INTO deliveries (channel, ticket, ok, attempts, detail, at)
                 VALUES ($1, NULL, false, $2,
                         'not processed: gave up after repeated attempts', $3)",
                &[&channel, &count(attempts.into()), &now],
            )?;
            tx.execute("DELETE FROM inbox WHERE id = $1", &[&id])?;
            tx.commit()?;
            let channel = Channel::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("inbox channel {channel:?}")))?;
            return Ok(Claim::GaveUp { channel, attempts });
        }
        let claimed_until = secs(now + lease);
        tx.execute(
            "UPDATE inbox SET attempts = attempts + 1, claimed_until = $2, holder = $3
             WHERE id = $1",
            &[&id, &claimed_until, &self.worker.id],
        )?;
        tx.commit()?;
        let stored: StoredInbound = serde_json::from_str(&self.routes.open(&inbound)?)?;
        Ok(Claim::Claimed(Box::new(InboxItem {
            id,
            message: stored.into_queued(),
            received_at,
            attempts: attempts + 1,
            claimed_until,
            reply: reply.map(|r| serde_json::from_str(&r)).transpose()?,
            sent,
        })))
    }

    fn inbox_depth(&self) -> Result<InboxDepth, StoreError> {
        let row = self
            .conn()?
            .query_one("SELECT count(*), min(received_at) FROM inbox", &[])?;
        Ok(InboxDepth {
            rows: u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0),
            oldest: row.try_get(1)?,
        })
    }

    fn finish_inbound(&self, id: i64) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM inbox WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn record_reply(&self, id: i64, reply: &serde_json::Value) -> Result<(), StoreError> {
        keep_reply(&mut *self.conn()?, id, reply)
    }

    fn record_sent(&self, id: i64, sent: u32) -> Result<(), StoreError> {
        self.conn()?.execute(
            "UPDATE inbox SET sent = $2 WHERE id = $1",
            &[&id, &count(sent.into())],
        )?;
        Ok(())
    }

    fn beat(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let w = &self.worker;
        self.conn()?.execute(
            "INSERT INTO workers (id, pid, started, boot_id, heartbeat) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat",
            &[&w.id, &i64::from(w.pid), &w.started, &w.boot_id, &secs(now)],
        )?;
        Ok(())
    }

    fn record_delivery(&self, delivery: &Delivery, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO deliveries (channel, ticket, ok, attempts, detail, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &delivery.channel.as_str(),
                &delivery.ticket,
                &delivery.ok,
                &count(delivery.attempts.into()),
                &delivery.detail,
                &secs(now),
            ],
        )?;
        Ok(())
    }

    fn purge(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<Purged, StoreError> {
        let (cutoff, now) = (secs(before), secs(now));
        let processed_cutoff = now - chrono::Duration::days(PROCESSED_KEEP_DAYS);
        let inbox_cutoff = cutoff.max(now - chrono::Duration::days(INBOX_KEEP_DAYS));
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let turns = tx.execute("DELETE FROM turns WHERE at < $1", &[&cutoff])?;
        let tickets = tx.execute("DELETE FROM tickets WHERE created_at < $1", &[&cutoff])?;
        let deliveries = tx.execute("DELETE FROM deliveries WHERE at < $1", &[&cutoff])?;
        let conversations = tx.execute(
            "DELETE FROM conversations c WHERE c.last_seen < $1
               AND NOT EXISTS (SELECT 1 FROM turns t WHERE t.conversation = c.id)
               AND NOT EXISTS (SELECT 1 FROM tickets k WHERE k.conversation = c.id)",
            &[&cutoff],
        )?;
        let processed = tx.execute("DELETE FROM processed WHERE at < $1", &[&processed_cutoff])?;
        // Given up on and recorded in one statement, so that a row a replica finishes
        // meanwhile is neither recorded as lost nor left behind.
        let inbox = tx.execute(
            "WITH gone AS (DELETE FROM inbox WHERE received_at < $1 RETURNING channel, attempts)
             INSERT INTO deliveries (channel, ticket, ok, attempts, detail, at)
             SELECT channel, NULL, false, attempts, 'not processed: expired from the inbox', $2
             FROM gone",
            &[&inbox_cutoff, &now],
        )?;
        tx.commit()?;
        Ok(Purged {
            turns,
            tickets,
            conversations,
            processed,
            deliveries,
            inbox,
        })
    }

    fn daily_counts(&self) -> Result<Vec<(String, String, String, u64)>, StoreError> {
        self.conn()?
            .query(
                "SELECT day, channel, kind, n FROM daily_counts
                 ORDER BY day, channel COLLATE \"C\", kind COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, NaiveDate>(0)?.to_string(),
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get::<_, i64>(3)? as u64,
                ))
            })
            .collect()
    }

    fn unanswered_since(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Turn>, StoreError> {
        self.conn()?
            .query(
                "SELECT t.id, t.author, t.text, t.outcome, t.entry_id, t.at, t.agent,
                        t.answer_sha256, t.kind
                 FROM turns t
                 WHERE t.author = 'person' AND t.at >= $1
                   AND (t.outcome = 'handoff'
                        OR (t.outcome = 'clarify' AND NOT EXISTS (
                            SELECT 1 FROM turns n
                            WHERE n.id = (SELECT min(m.id) FROM turns m
                                          WHERE m.conversation = t.conversation
                                            AND m.author = 'person' AND m.id > t.id)
                              AND n.kind = 'option')))
                 ORDER BY t.at DESC, t.id DESC LIMIT $2",
                &[&secs(since), &(limit as i64)],
            )?
            .iter()
            .map(turn_from_row)
            .collect()
    }

    fn traffic_since(&self, since: DateTime<Utc>) -> Result<Vec<TrafficCount>, StoreError> {
        // `scores` is JSON written by us: `candidates` best first. Sorted as SQLite sorts
        // (bytes, no entry first).
        let rows = self.conn()?.query(
            "SELECT day, channel, outcome, entry, n FROM (
                 SELECT (at AT TIME ZONE 'UTC')::date AS day, channel, outcome,
                        coalesce(entry_id, scores -> 'candidates' -> 0 ->> 'id') AS entry,
                        count(*) AS n
                 FROM turns
                 WHERE author = 'person' AND outcome IS NOT NULL AND at >= $1
                 GROUP BY 1, 2, 3, 4
             ) counted
             ORDER BY day, channel COLLATE \"C\", outcome COLLATE \"C\",
                      entry COLLATE \"C\" NULLS FIRST",
            &[&secs(since)],
        )?;
        let bad = |what: &str, raw: &str| StoreError::Corrupt(format!("turn {what} {raw:?}"));
        rows.iter()
            .map(|r| {
                let channel: &str = r.try_get(1)?;
                let outcome: &str = r.try_get(2)?;
                Ok(TrafficCount {
                    day: r.try_get(0)?,
                    channel: Channel::parse(channel).ok_or_else(|| bad("channel", channel))?,
                    outcome: Outcome::parse(outcome).ok_or_else(|| bad("outcome", outcome))?,
                    entry: r.try_get(3)?,
                    n: r.try_get::<_, i64>(4)? as u64,
                })
            })
            .collect()
    }
}

impl Drop for PgStore {
    /// The `postgres` client closes a connection by blocking on a runtime of its own,
    /// which panics on a thread that drives tokio tasks, and the last `AppState` may be
    /// dropped on one when the server stops: the pool, and its idle connections, are
    /// dropped on a thread of their own.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let closed = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(pool))
                .map(std::thread::JoinHandle::join);
            if !matches!(closed, Ok(Ok(()))) {
                tracing::warn!("PostgreSQL connections not closed cleanly");
            }
        }
    }
}

/// Applies the migrations not applied yet, all in one transaction holding the migration
/// lock: replicas starting together migrate once, and a replica of the previous version
/// never sees half a migration.
fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let applied: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )?;
        tracing::info!(version, "database migrated");
    }
    tx.commit()?;
    Ok(())
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        if let Some(code) = e.code() {
            if [
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::LOCK_NOT_AVAILABLE,
            ]
            .contains(code)
            {
                return Self::Busy(e.to_string());
            }
            // Class 08 (connection exception), 57P (the server shutting down or
            // starting), 53 (out of resources: too many connections).
            let class = code.code();
            if class.starts_with("08") || class.starts_with("57P") || class.starts_with("53") {
                return Self::Unavailable(e.to_string());
            }
            return Self::Backend(Box::new(e));
        }
        // No SQL state: the connection closed or failed underneath.
        if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        {
            return Self::Unavailable(e.to_string());
        }
        Self::Backend(Box::new(e))
    }
}

/// A fresh database on the server named by `GUICHET_TEST_PG` (tests): created with a
/// random name, dropped when the guard is.
#[doc(hidden)]
pub mod scratch {
    use super::*;

    /// A database that exists while this lives.
    pub struct ScratchDb {
        server: String,
        pub name: String,
        pub url: String,
    }

    impl ScratchDb {
        // No Default: making one creates a database on a server, and may panic.
        #[allow(clippy::new_without_default)]
        /// # Panics
        /// When `GUICHET_TEST_PG` is not set or its server cannot be reached: the
        /// PostgreSQL tests must not pass by not running (`make test` starts a server).
        pub fn new() -> Self {
            let server = std::env::var("GUICHET_TEST_PG").expect(
                "GUICHET_TEST_PG is not set: `make test` starts a PostgreSQL server and sets it \
                 (scripts/postgres.sh)",
            );
            let name = format!("guichet_t_{}", hex::encode(rand::random::<[u8; 6]>()));
            let mut client = postgres::Client::connect(&server, NoTls)
                .unwrap_or_else(|e| panic!("GUICHET_TEST_PG={server}: {e}"));
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("scratch database created");
            let url = with_dbname(&server, &name);
            Self { server, name, url }
        }
    }

    impl Drop for ScratchDb {
        fn drop(&mut self) {
            if let Ok(mut client) = postgres::Client::connect(&self.server, NoTls) {
                let _ = client.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }

    /// `url` with its database replaced by `name`.
    pub fn with_dbname(url: &str, name: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let host_end = base[scheme_end..]
            .find('/')
            .map_or(base.len(), |i| scheme_end + i);
        let mut out = format!("{}/{name}", &base[..host_end]);
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// A store over a new scratch database, its route key in `dir`.
    pub fn store(dir: &Path) -> (PgStore, ScratchDb) {
        let db = ScratchDb::new();
        let store = PgStore::open(&db.url, &dir.join("route-key"), 4).expect("store opens");
        (store, db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At shutdown the last `AppState`, and the store with it, is dropped in a task.
    #[test]
    fn a_store_dropped_by_a_tokio_task_closes_its_connections_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _db) = scratch::store(dir.path());
        drop(store.conn().unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        runtime
            .block_on(runtime.spawn(async move { drop(store) }))
            .expect("dropped without a panic");
    }

    #[test]
    fn a_second_open_migrates_nothing_and_keeps_the_pseudonym_key() {
        let dir = tempfile::tempdir().unwrap();
        let (first, db) = scratch::store(dir.path());
        let again = PgStore::open(&db.url, &dir.path().join("route-key"), 2).unwrap();
        let a = first
            .pseudonym_key()
            .pseudonym(super::super::Channel::Web, "x");
        let b = again
            .pseudonym_key()
            .pseudonym(super::super::Channel::Web, "x");
        assert_eq!(a, b);
        let versions: i64 = again
            .conn()
            .unwrap()
            .query_one("SELECT count(*) FROM schema_migrations", &[])
            .unwrap()
            .get(0);
        assert_eq!(versions, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_test_url_takes_the_scratch_database_name() {
        assert_eq!(
            scratch::with_dbname("postgres://u@h:5/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5/t1?sslmode=disable"
        );
        assert_eq!(
            scratch::with_dbname("postgres://u@h", "t1"),
            "postgres://u@h/t1"
        );
    }
}
