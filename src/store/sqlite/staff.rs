//! [`StaffStore`] on SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, from_ts, ts};
use crate::staff::{
    Account, Actor, AuditEvent, FAILURE_WINDOW, NewAccount, Role, SESSION_IDLE, SESSION_MAX,
    SessionRow,
};
use crate::store::{StaffStore, StoreError};

const STAFF_COLUMNS: &str = "id, email, name, roles, services, password_hash IS NOT NULL, \
     oidc_subject IS NOT NULL, disabled_at IS NOT NULL, created_at";

fn account_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    let roles: String = r.get(3)?;
    let services: String = r.get(4)?;
    Ok(Account {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        // Written by us from `Role::as_str`: an unknown word (a newer version's role)
        // gives no right rather than a failure.
        roles: roles.split(' ').filter_map(Role::parse).collect(),
        services: serde_json::from_str(&services).unwrap_or_default(),
        has_password: r.get(5)?,
        sso: r.get(6)?,
        disabled: r.get(7)?,
        created_at: from_ts(r.get(8)?),
    })
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

impl SqliteStore {
    fn staff_where(
        &self,
        clause: &str,
        arg: &dyn rusqlite::ToSql,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                &format!("SELECT {STAFF_COLUMNS} FROM staff WHERE {clause}"),
                [arg],
                account_row,
            )
            .optional()?)
    }
}

fn changed_one(n: usize) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl StaffStore for SqliteStore {
    fn add_staff(&self, new: &NewAccount, now: DateTime<Utc>) -> Result<Account, StoreError> {
        let conn = self.conn()?;
        let (issuer, subject) = new.sso.clone().unzip();
        let inserted = conn.execute(
            "INSERT INTO staff (email, name, roles, services, oidc_issuer, oidc_subject, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                new.email,
                new.name,
                roles_text(&new.roles),
                serde_json::to_string(&new.services)?,
                issuer,
                subject,
                ts(now)
            ],
        );
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(StoreError::Conflict(format!(
                    "un compte existe déjà pour {}",
                    new.email
                )));
            }
            other => other?,
        };
        let id = conn.last_insert_rowid();
        drop(conn);
        self.staff(id)?.ok_or(StoreError::NotFound)
    }

    fn staff(&self, id: i64) -> Result<Option<Account>, StoreError> {
        self.staff_where("id = ?1", &id)
    }

    fn staff_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        self.staff_where("email = ?1", &email)
    }

    fn staff_password(&self, email: &str) -> Result<Option<(Account, Option<String>)>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                &format!("SELECT {STAFF_COLUMNS}, password_hash FROM staff WHERE email = ?1"),
                [email],
                |r| Ok((account_row(r)?, r.get(9)?)),
            )
            .optional()?)
    }

    fn staff_by_sso(&self, issuer: &str, subject: &str) -> Result<Option<Account>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                &format!(
                    "SELECT {STAFF_COLUMNS} FROM staff WHERE oidc_issuer = ?1 AND oidc_subject = ?2"
                ),
                [issuer, subject],
                account_row,
            )
            .optional()?)
    }

    fn list_staff(&self) -> Result<Vec<Account>, StoreError> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare(&format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY email"))?;
        let rows = stmt.query_map([], account_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_password(&self, id: i64, hash: &str) -> Result<(), StoreError> {
        changed_one(self.conn()?.execute(
            "UPDATE staff SET password_hash = ?2 WHERE id = ?1",
            params![id, hash],
        )?)
    }

    fn set_roles(&self, id: i64, roles: &[Role], services: &[String]) -> Result<(), StoreError> {
        changed_one(self.conn()?.execute(
            "UPDATE staff SET roles = ?2, services = ?3 WHERE id = ?1",
            params![id, roles_text(roles), serde_json::to_string(services)?],
        )?)
    }

    fn set_disabled(&self, id: i64, disabled: bool, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let at = disabled.then(|| ts(now));
        changed_one(tx.execute(
            "UPDATE staff SET disabled_at = ?2 WHERE id = ?1",
            params![id, at],
        )?)?;
        if disabled {
            tx.execute("DELETE FROM staff_sessions WHERE staff = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn link_sso(&self, id: i64, issuer: &str, subject: &str) -> Result<(), StoreError> {
        changed_one(self.conn()?.execute(
            "UPDATE staff SET oidc_issuer = ?2, oidc_subject = ?3 WHERE id = ?1",
            params![id, issuer, subject],
        )?)
    }

    fn put_setup_token(
        &self,
        hash: &str,
        staff: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO staff_setup (token_hash, staff, expires_at) VALUES (?1, ?2, ?3)",
            params![hash, staff, ts(expires_at)],
        )?;
        Ok(())
    }

    fn setup_token_staff(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT staff FROM staff_setup WHERE token_hash = ?1 AND expires_at > ?2",
                params![hash, ts(now)],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn use_setup_token(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.conn()?.execute(
            "DELETE FROM staff_setup WHERE token_hash = ?1 AND expires_at > ?2",
            params![hash, ts(now)],
        )? == 1)
    }

    fn insert_session(
        &self,
        hash: &str,
        staff: i64,
        csrf: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO staff_sessions (token_hash, staff, csrf, created_at, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![hash, staff, csrf, ts(now)],
        )?;
        Ok(())
    }

    fn session_row(&self, hash: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT staff, csrf, created_at, last_seen FROM staff_sessions WHERE token_hash = ?1",
                [hash],
                |r| {
                    Ok(SessionRow {
                        staff: r.get(0)?,
                        csrf: r.get(1)?,
                        created_at: from_ts(r.get(2)?),
                        last_seen: from_ts(r.get(3)?),
                    })
                },
            )
            .optional()?)
    }

    fn touch_session(&self, hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?.execute(
            "UPDATE staff_sessions SET last_seen = ?2 WHERE token_hash = ?1",
            params![hash, ts(now)],
        )?;
        Ok(())
    }

    fn delete_session(&self, hash: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM staff_sessions WHERE token_hash = ?1", [hash])?;
        Ok(())
    }

    fn delete_sessions_of(&self, staff: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn()?
            .execute("DELETE FROM staff_sessions WHERE staff = ?1", [staff])?)
    }

    fn record_signin_failure(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO signin_failures (key, at) VALUES (?1, ?2)",
            params![key, ts(now)],
        )?;
        Ok(())
    }

    fn signin_failures_since(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare("SELECT at FROM signin_failures WHERE key = ?1 AND at > ?2 ORDER BY at")?;
        let rows = stmt.query_map(params![key, ts(since)], |r| r.get::<_, i64>(0))?;
        Ok(rows.map(|r| r.map(from_ts)).collect::<Result<_, _>>()?)
    }

    fn clear_signin_failures(&self, key: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM signin_failures WHERE key = ?1", [key])?;
        Ok(())
    }

    fn record_audit(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO audit (at, staff, actor, action, target, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![ts(now), actor.staff, actor.label, action, target, detail],
        )?;
        Ok(())
    }

    fn audit_log(&self, limit: usize, before: Option<i64>) -> Result<Vec<AuditEvent>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, at, staff, actor, action, target, detail FROM audit
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit as i64], |r| {
            Ok(AuditEvent {
                id: r.get(0)?,
                at: from_ts(r.get(1)?),
                staff: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                detail: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_oidc_login(
        &self,
        state_hash: &str,
        pending: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO oidc_logins (state_hash, pending, created_at) VALUES (?1, ?2, ?3)",
            params![state_hash, pending, ts(now)],
        )?;
        Ok(())
    }

    fn take_oidc_login(
        &self,
        state_hash: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let conn = self.conn()?;
        let pending: Option<String> = conn
            .query_row(
                "DELETE FROM oidc_logins WHERE state_hash = ?1 AND created_at > ?2 RETURNING pending",
                params![state_hash, ts(since)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(pending)
    }

    fn purge_staff(
        &self,
        audit_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let now_s = ts(now);
        let mut n = 0;
        n += tx.execute(
            "DELETE FROM staff_sessions WHERE last_seen < ?1 OR created_at < ?2",
            params![
                now_s - SESSION_IDLE.num_seconds(),
                now_s - SESSION_MAX.num_seconds()
            ],
        )?;
        n += tx.execute("DELETE FROM staff_setup WHERE expires_at <= ?1", [now_s])?;
        n += tx.execute(
            "DELETE FROM oidc_logins WHERE created_at < ?1",
            [now_s - 3600],
        )?;
        n += tx.execute(
            "DELETE FROM signin_failures WHERE at < ?1",
            [now_s - FAILURE_WINDOW.num_seconds()],
        )?;
        n += tx.execute("DELETE FROM audit WHERE at < ?1", [ts(audit_before)])?;
        tx.commit()?;
        Ok(n as u64)
    }
}
