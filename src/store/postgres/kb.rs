//! [`KbStore`] on PostgreSQL: what SQLite does, with every change of what is live taking
//! the `kb_state` row lock first. Two replicas validating (or importing) at once are
//! thereby serialised: the second one reads what is live only after the first committed,
//! so a proposal whose base is no longer live is refused exactly as on one machine.

use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};

use super::PgStore;
use crate::store::{
    Decider, KbStore, Label, LabelDecision, LiveFile, NewLabel, NewRevision, Origin, Revision,
    RevisionStatus, StoreError,
};

const REVISION_COLUMNS: &str = "id, path, entry_id, service, content, status, origin, author, \
     author_staff, created_at, base, decided_by, decided_staff, decided_at, comment, answer_sha256";

fn revision_row(r: &Row) -> Result<Revision, StoreError> {
    let status: String = r.get(5);
    let origin: String = r.get(6);
    let id: i64 = r.get(0);
    let corrupt =
        |what: &str, v: &str| StoreError::Corrupt(format!("revision {id}: unknown {what} {v:?}"));
    Ok(Revision {
        id,
        path: r.get(1),
        entry_id: r.get(2),
        service: r.get(3),
        content: r.get(4),
        status: RevisionStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        origin: Origin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        author: r.get(7),
        author_staff: r.get(8),
        created_at: r.get(9),
        base: r.get(10),
        decided_by: r.get(11),
        decided_staff: r.get(12),
        decided_at: r.get(13),
        comment: r.get(14),
        answer_sha256: r.get(15),
    })
}

fn live_revision(conn: &mut impl GenericClient, path: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_opt("SELECT revision FROM kb_live WHERE path = $1", &[&path])?
        .map(|r| r.get(0)))
}

/// Locks the knowledge base's version for the rest of the transaction: whoever changes
/// what is live holds it, one replica at a time.
fn lock_version(conn: &mut impl GenericClient) -> Result<(), StoreError> {
    conn.query_one("SELECT version FROM kb_state WHERE id = 1 FOR UPDATE", &[])?;
    Ok(())
}

/// Makes `revision` the live one of `path` (or withdraws the path when `withdraw`),
/// refusing when the live revision is not `base` any more. The caller holds
/// [`lock_version`].
fn make_live(
    conn: &mut impl GenericClient,
    path: &str,
    entry_id: Option<&str>,
    base: Option<i64>,
    revision: i64,
    withdraw: bool,
) -> Result<(), StoreError> {
    let live = live_revision(conn, path)?;
    if live != base {
        return Err(StoreError::Conflict(format!(
            "{path} a changé depuis que cette version a été écrite : reprenez-la sur la version en ligne"
        )));
    }
    conn.execute("DELETE FROM kb_live WHERE path = $1", &[&path])?;
    if !withdraw {
        // An entry id moves with its file: another path holding it is an error the
        // corpus check reports before anything is applied; the index keeps it unique.
        conn.execute(
            "INSERT INTO kb_live (path, revision, entry_id) VALUES ($1, $2, $3)",
            &[&path, &revision, &entry_id],
        )?;
    }
    Ok(())
}

fn bump(conn: &mut impl GenericClient) -> Result<i64, StoreError> {
    Ok(conn
        .query_one(
            "UPDATE kb_state SET version = version + 1 WHERE id = 1 RETURNING version",
            &[],
        )?
        .get(0))
}

fn insert_revision(
    conn: &mut impl GenericClient,
    new: &NewRevision,
    status: RevisionStatus,
    decided: Option<(&Decider<'_>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(conn
        .query_one(
            "INSERT INTO kb_revisions (path, entry_id, service, content, status, origin, author,
                 author_staff, created_at, base, decided_by, decided_staff, decided_at, comment,
                 answer_sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             RETURNING id",
            &[
                &new.path,
                &new.entry_id,
                &new.service,
                &new.content,
                &status.as_str(),
                &new.origin.as_str(),
                &new.author,
                &new.author_staff,
                &now,
                &new.base,
                &decided.map(|(d, _)| d.name),
                &decided.and_then(|(d, _)| d.staff),
                &decided.map(|(_, at)| at),
                &new.comment,
                &new.answer_sha256,
            ],
        )?
        .get(0))
}

fn label_row(r: &Row) -> Result<Label, StoreError> {
    let id: i64 = r.get(0);
    let decision: String = r.get(5);
    Ok(Label {
        id,
        question: r.get(1),
        lang: r.get(2),
        entry_id: r.get(3),
        decision: LabelDecision::parse(&decision).ok_or_else(|| {
            StoreError::Corrupt(format!("label {id}: unknown decision {decision:?}"))
        })?,
        service: r.get(4),
        staff: r.get(6),
        revision: r.get(7),
        created_at: r.get(8),
    })
}

const ALREADY_DECIDED: &str = "cette proposition a déjà été traitée";

impl KbStore for PgStore {
    fn kb_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()?
            .query_one("SELECT version FROM kb_state WHERE id = 1", &[])?
            .get(0))
    }

    fn kb_live(&self) -> Result<Vec<LiveFile>, StoreError> {
        Ok(self
            .conn()?
            .query(
                "SELECT l.path, l.revision, l.entry_id, r.content FROM kb_live l
                 JOIN kb_revisions r ON r.id = l.revision ORDER BY l.path",
                &[],
            )?
            .iter()
            .map(|r| LiveFile {
                path: r.get(0),
                revision: r.get(1),
                entry_id: r.get(2),
                content: r.get::<_, Option<String>>(3).unwrap_or_default(),
            })
            .collect())
    }

    fn kb_live_revision(&self, path: &str) -> Result<Option<i64>, StoreError> {
        live_revision(&mut *self.conn()?, path)
    }

    fn kb_entry_path(&self, entry_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()?
            .query_opt("SELECT path FROM kb_live WHERE entry_id = $1", &[&entry_id])?
            .map(|r| r.get(0)))
    }

    fn kb_apply(
        &self,
        changes: &[NewRevision],
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        lock_version(&mut tx)?;
        // Withdrawals first: a file renamed in one import frees its entry id before the
        // new path takes it.
        let mut ordered: Vec<&NewRevision> = changes.iter().collect();
        ordered.sort_by_key(|c| c.content.is_some());
        for change in ordered {
            let id = insert_revision(
                &mut tx,
                change,
                RevisionStatus::Validated,
                Some((by, now)),
                now,
            )?;
            make_live(
                &mut tx,
                &change.path,
                change.entry_id.as_deref(),
                change.base,
                id,
                change.content.is_none(),
            )?;
        }
        let version = bump(&mut tx)?;
        tx.commit()?;
        Ok(version)
    }

    fn kb_propose(&self, new: &NewRevision, now: DateTime<Utc>) -> Result<i64, StoreError> {
        insert_revision(&mut *self.conn()?, new, RevisionStatus::Draft, None, now)
    }

    fn kb_revision(&self, id: i64) -> Result<Option<Revision>, StoreError> {
        self.conn()?
            .query_opt(
                &format!("SELECT {REVISION_COLUMNS} FROM kb_revisions WHERE id = $1"),
                &[&id],
            )?
            .map(|r| revision_row(&r))
            .transpose()
    }

    fn kb_history(&self, path: &str) -> Result<Vec<Revision>, StoreError> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {REVISION_COLUMNS} FROM kb_revisions WHERE path = $1 ORDER BY id DESC"
                ),
                &[&path],
            )?
            .iter()
            .map(revision_row)
            .collect()
    }

    fn kb_drafts(&self, services: Option<&[String]>) -> Result<Vec<Revision>, StoreError> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {REVISION_COLUMNS} FROM kb_revisions
                     WHERE status = 'draft' AND ($1::text[] IS NULL OR service = ANY ($1))
                     ORDER BY id"
                ),
                &[&services],
            )?
            .iter()
            .map(revision_row)
            .collect()
    }

    fn kb_validate(
        &self,
        id: i64,
        content: Option<&str>,
        answer_sha256: Option<&str>,
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        lock_version(&mut tx)?;
        // Locked too: a send-back of the same draft on another replica waits for us
        // (or we for it) and then finds it decided.
        let draft = tx
            .query_opt(
                &format!("SELECT {REVISION_COLUMNS} FROM kb_revisions WHERE id = $1 FOR UPDATE"),
                &[&id],
            )?
            .map(|r| revision_row(&r))
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        if draft.status != RevisionStatus::Draft {
            return Err(StoreError::Conflict(ALREADY_DECIDED.into()));
        }
        tx.execute(
            "UPDATE kb_revisions SET status = 'validated', content = $2, answer_sha256 = $3,
                 decided_by = $4, decided_staff = $5, decided_at = $6
             WHERE id = $1",
            &[&id, &content, &answer_sha256, &by.name, &by.staff, &now],
        )?;
        make_live(
            &mut tx,
            &draft.path,
            draft.entry_id.as_deref(),
            draft.base,
            id,
            content.is_none(),
        )?;
        let version = bump(&mut tx)?;
        tx.commit()?;
        Ok(version)
    }

    fn kb_close_draft(
        &self,
        id: i64,
        status: RevisionStatus,
        comment: Option<&str>,
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        debug_assert!(matches!(
            status,
            RevisionStatus::SentBack | RevisionStatus::Cancelled
        ));
        // One statement: a concurrent validation holds the row, and once it committed
        // the status is no longer 'draft' here.
        let changed = self.conn()?.execute(
            "UPDATE kb_revisions SET status = $2, comment = COALESCE($3, comment),
                 decided_by = $4, decided_staff = $5, decided_at = $6
             WHERE id = $1 AND status = 'draft'",
            &[&id, &status.as_str(), &comment, &by.name, &by.staff, &now],
        )?;
        if changed == 0 {
            return Err(StoreError::Conflict(ALREADY_DECIDED.into()));
        }
        Ok(())
    }

    fn kb_self_validation(&self, service: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT 1 FROM kb_self_validation WHERE service = $1",
                &[&service],
            )?
            .is_some())
    }

    fn set_kb_self_validation(
        &self,
        service: &str,
        allowed: bool,
        staff: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        if allowed {
            conn.execute(
                "INSERT INTO kb_self_validation (service, staff, set_at) VALUES ($1, $2, $3)
                 ON CONFLICT (service) DO UPDATE SET staff = EXCLUDED.staff, set_at = EXCLUDED.set_at",
                &[&service, &staff, &now],
            )?;
        } else {
            conn.execute(
                "DELETE FROM kb_self_validation WHERE service = $1",
                &[&service],
            )?;
        }
        Ok(())
    }

    fn kb_add_label(&self, label: &NewLabel, now: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(self
            .conn()?
            .query_one(
                "INSERT INTO kb_labels (question, lang, entry_id, decision, service, staff,
                     revision, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 RETURNING id",
                &[
                    &label.question,
                    &label.lang,
                    &label.entry_id,
                    &label.decision.as_str(),
                    &label.service,
                    &label.staff,
                    &label.revision,
                    &now,
                ],
            )?
            .get(0))
    }

    fn kb_labels(&self) -> Result<Vec<Label>, StoreError> {
        self.conn()?
            .query(
                "SELECT id, question, lang, entry_id, service, decision, staff, revision,
                     created_at
                 FROM kb_labels ORDER BY id",
                &[],
            )?
            .iter()
            .map(label_row)
            .collect()
    }
}
