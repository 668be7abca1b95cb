//! [`KbStore`] on SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, from_ts, ts};
use crate::store::{
    Decider, KbStore, Label, LabelDecision, LiveFile, NewLabel, NewRevision, Origin, Revision,
    RevisionStatus, StoreError,
};

const REVISION_COLUMNS: &str = "id, path, entry_id, service, content, status, origin, author, \
     author_staff, created_at, base, decided_by, decided_staff, decided_at, comment, answer_sha256";

fn revision_row(r: &Row<'_>) -> rusqlite::Result<Revision> {
    let status: String = r.get(5)?;
    let origin: String = r.get(6)?;
    let corrupt = |what: &str, v: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            5,
            rusqlite::types::Type::Text,
            format!("unknown revision {what} {v:?}").into(),
        )
    };
    Ok(Revision {
        id: r.get(0)?,
        path: r.get(1)?,
        entry_id: r.get(2)?,
        service: r.get(3)?,
        content: r.get(4)?,
        status: RevisionStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        origin: Origin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        author: r.get(7)?,
        author_staff: r.get(8)?,
        created_at: from_ts(r.get(9)?),
        base: r.get(10)?,
        decided_by: r.get(11)?,
        decided_staff: r.get(12)?,
        decided_at: r.get::<_, Option<i64>>(13)?.map(from_ts),
        comment: r.get(14)?,
        answer_sha256: r.get(15)?,
    })
}

fn live_revision(conn: &Connection, path: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT revision FROM kb_live WHERE path = ?1",
            [path],
            |r| r.get(0),
        )
        .optional()?)
}

/// Makes `revision` the live one of `path` (or withdraws the path when `content` is
/// `None`), refusing when the live revision is not `base` any more.
fn make_live(
    conn: &Connection,
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
    conn.execute("DELETE FROM kb_live WHERE path = ?1", [path])?;
    if !withdraw {
        // An entry id moves with its file: another path holding it is an error the
        // corpus check reports before anything is applied; the index keeps it unique.
        conn.execute(
            "INSERT INTO kb_live (path, revision, entry_id) VALUES (?1, ?2, ?3)",
            params![path, revision, entry_id],
        )?;
    }
    Ok(())
}

fn bump(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "UPDATE kb_state SET version = version + 1 WHERE id = 1 RETURNING version",
        [],
        |r| r.get(0),
    )?)
}

fn insert_revision(
    conn: &Connection,
    new: &NewRevision,
    status: RevisionStatus,
    decided: Option<(&Decider<'_>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO kb_revisions (path, entry_id, service, content, status, origin, author,
             author_staff, created_at, base, decided_by, decided_staff, decided_at, comment,
             answer_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            new.path,
            new.entry_id,
            new.service,
            new.content,
            status.as_str(),
            new.origin.as_str(),
            new.author,
            new.author_staff,
            ts(now),
            new.base,
            decided.map(|(d, _)| d.name),
            decided.and_then(|(d, _)| d.staff),
            decided.map(|(_, at)| ts(at)),
            new.comment,
            new.answer_sha256,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

fn label_row(r: &Row<'_>) -> rusqlite::Result<Label> {
    let decision: String = r.get(5)?;
    Ok(Label {
        id: r.get(0)?,
        question: r.get(1)?,
        lang: r.get(2)?,
        entry_id: r.get(3)?,
        decision: LabelDecision::parse(&decision).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                format!("unknown label decision {decision:?}").into(),
            )
        })?,
        service: r.get(4)?,
        staff: r.get(6)?,
        revision: r.get(7)?,
        created_at: from_ts(r.get(8)?),
    })
}

impl KbStore for SqliteStore {
    fn kb_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()?
            .query_row("SELECT version FROM kb_state WHERE id = 1", [], |r| {
                r.get(0)
            })?)
    }

    fn kb_live(&self) -> Result<Vec<LiveFile>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT l.path, l.revision, l.entry_id, r.content FROM kb_live l
             JOIN kb_revisions r ON r.id = l.revision ORDER BY l.path",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(LiveFile {
                path: r.get(0)?,
                revision: r.get(1)?,
                entry_id: r.get(2)?,
                content: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn kb_live_revision(&self, path: &str) -> Result<Option<i64>, StoreError> {
        live_revision(&*self.conn()?, path)
    }

    fn kb_entry_path(&self, entry_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT path FROM kb_live WHERE entry_id = ?1",
                [entry_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn kb_apply(
        &self,
        changes: &[NewRevision],
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        // Withdrawals first: a file renamed in one import frees its entry id before the
        // new path takes it.
        let mut ordered: Vec<&NewRevision> = changes.iter().collect();
        ordered.sort_by_key(|c| c.content.is_some());
        for change in ordered {
            let id = insert_revision(&tx, change, RevisionStatus::Validated, Some((by, now)), now)?;
            make_live(
                &tx,
                &change.path,
                change.entry_id.as_deref(),
                change.base,
                id,
                change.content.is_none(),
            )?;
        }
        let version = bump(&tx)?;
        tx.commit()?;
        Ok(version)
    }

    fn kb_propose(&self, new: &NewRevision, now: DateTime<Utc>) -> Result<i64, StoreError> {
        insert_revision(&*self.conn()?, new, RevisionStatus::Draft, None, now)
    }

    fn kb_revision(&self, id: i64) -> Result<Option<Revision>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                &format!("SELECT {REVISION_COLUMNS} FROM kb_revisions WHERE id = ?1"),
                [id],
                revision_row,
            )
            .optional()?)
    }

    fn kb_history(&self, path: &str) -> Result<Vec<Revision>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {REVISION_COLUMNS} FROM kb_revisions WHERE path = ?1 ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map([path], revision_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn kb_drafts(&self, services: Option<&[String]>) -> Result<Vec<Revision>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {REVISION_COLUMNS} FROM kb_revisions WHERE status = 'draft' ORDER BY id"
        ))?;
        let rows = stmt.query_map([], revision_row)?;
        let all: Vec<Revision> = rows.collect::<Result<_, _>>()?;
        Ok(match services {
            None => all,
            Some(services) => all
                .into_iter()
                .filter(|r| {
                    r.service
                        .as_ref()
                        .is_some_and(|s| services.iter().any(|x| x == s))
                })
                .collect(),
        })
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
        let tx = conn.transaction()?;
        let draft = tx
            .query_row(
                &format!("SELECT {REVISION_COLUMNS} FROM kb_revisions WHERE id = ?1"),
                [id],
                revision_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound)?;
        if draft.status != RevisionStatus::Draft {
            return Err(StoreError::Conflict(
                "cette proposition a déjà été traitée".into(),
            ));
        }
        tx.execute(
            "UPDATE kb_revisions SET status = 'validated', content = ?2, answer_sha256 = ?3,
                 decided_by = ?4, decided_staff = ?5, decided_at = ?6
             WHERE id = ?1",
            params![id, content, answer_sha256, by.name, by.staff, ts(now)],
        )?;
        make_live(
            &tx,
            &draft.path,
            draft.entry_id.as_deref(),
            draft.base,
            id,
            content.is_none(),
        )?;
        let version = bump(&tx)?;
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
        let changed = self.conn()?.execute(
            "UPDATE kb_revisions SET status = ?2, comment = COALESCE(?3, comment),
                 decided_by = ?4, decided_staff = ?5, decided_at = ?6
             WHERE id = ?1 AND status = 'draft'",
            params![id, status.as_str(), comment, by.name, by.staff, ts(now)],
        )?;
        if changed == 0 {
            return Err(StoreError::Conflict(
                "cette proposition a déjà été traitée".into(),
            ));
        }
        Ok(())
    }

    fn kb_self_validation(&self, service: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT 1 FROM kb_self_validation WHERE service = ?1",
                [service],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn set_kb_self_validation(
        &self,
        service: &str,
        allowed: bool,
        staff: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        if allowed {
            conn.execute(
                "INSERT INTO kb_self_validation (service, staff, set_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (service) DO UPDATE SET staff = ?2, set_at = ?3",
                params![service, staff, ts(now)],
            )?;
        } else {
            conn.execute(
                "DELETE FROM kb_self_validation WHERE service = ?1",
                [service],
            )?;
        }
        Ok(())
    }

    fn kb_add_label(&self, label: &NewLabel, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO kb_labels (question, lang, entry_id, decision, service, staff, revision,
                 created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                label.question,
                label.lang,
                label.entry_id,
                label.decision.as_str(),
                label.service,
                label.staff,
                label.revision,
                ts(now)
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn kb_labels(&self) -> Result<Vec<Label>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, question, lang, entry_id, service, decision, staff, revision, created_at
             FROM kb_labels ORDER BY id",
        )?;
        let rows = stmt.query_map([], label_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
