//! [`StaffStore`] on PostgreSQL: what SQLite does, with the races of several replicas
//! settled by the database (a set-up token or an OIDC sign-in is taken by one `DELETE`,
//! which a second replica waits on and then finds nothing to take).

use chrono::{DateTime, Utc};
use postgres::Row;
use postgres::error::SqlState;
use postgres::types::ToSql;

use super::PgStore;
use crate::staff::{
    Account, Actor, AuditEvent, FAILURE_WINDOW, NewAccount, Role, SESSION_IDLE, SESSION_MAX,
    SessionRow,
};
use crate::store::{StaffStore, StoreError};

const STAFF_COLUMNS: &str = "id, email, name, roles, services, password_hash IS NOT NULL, \
     oidc_subject IS NOT NULL, disabled_at IS NOT NULL, created_at";

/// How long an OIDC sign-in under way is kept (as on SQLite).
const OIDC_KEPT: chrono::Duration = chrono::Duration::hours(1);

fn account_row(r: &Row) -> Account {
    let roles: Vec<String> = r.get(3);
    Account {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        // Written by us from `Role::as_str`: an unknown word (a newer version's role)
        // gives no right rather than a failure.
        roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
        services: r.get(4),
        has_password: r.get(5),
        sso: r.get(6),
        disabled: r.get(7),
        created_at: r.get(8),
    }
}

fn role_words(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

fn changed_one(n: u64) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl PgStore {
    fn staff_where(
        &self,
        clause: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Account>, StoreError> {
        Ok(self
            .conn()?
            .query_opt(
                &format!("SELECT {STAFF_COLUMNS} FROM staff WHERE {clause}"),
                args,
            )?
            .map(|r| account_row(&r)))
    }
}

impl StaffStore for PgStore {
    fn add_staff(&self, new: &NewAccount, now: DateTime<Utc>) -> Result<Account, StoreError> {
        let (issuer, subject) = new.sso.clone().unzip();
        let inserted = self.conn()?.query_one(
            &format!(
                "INSERT INTO staff (email, name, roles, services, oidc_issuer, oidc_subject,
                     created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 RETURNING {STAFF_COLUMNS}"
            ),
            &[
                &new.email,
                &new.name,
                &role_words(&new.roles),
                &new.services,
                &issuer,
                &subject,
                &now,
            ],
        );
        match inserted {
            Ok(row) => Ok(account_row(&row)),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Conflict(
                format!("un compte existe déjà pour {}", new.email),
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn staff(&self, id: i64) -> Result<Option<Account>, StoreError> {
        self.staff_where("id = $1", &[&id])
    }

    fn staff_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        self.staff_where("lower(email) = lower($1)", &[&email])
    }

    fn staff_password(&self, email: &str) -> Result<Option<(Account, Option<String>)>, StoreError> {
        Ok(self
            .conn()?
            .query_opt(
                &format!(
                    "SELECT {STAFF_COLUMNS}, password_hash FROM staff WHERE lower(email) = lower($1)"
                ),
                &[&email],
            )?
            .map(|r| (account_row(&r), r.get(9))))
    }

    fn staff_by_sso(&self, issuer: &str, subject: &str) -> Result<Option<Account>, StoreError> {
        self.staff_where(
            "oidc_issuer = $1 AND oidc_subject = $2",
            &[&issuer, &subject],
        )
    }

    fn list_staff(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self
            .conn()?
            .query(
                &format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY lower(email)"),
                &[],
            )?
            .iter()
            .map(account_row)
            .collect())
    }

    fn set_password(&self, id: i64, hash: &str) -> Result<(), StoreError> {
        changed_one(self.conn()?.execute(
            "UPDATE staff SET password_hash = $2 WHERE id = $1",
            &[&id, &hash],
        )?)
    }

    fn set_roles(&self, id: i64, roles: &[Role], services: &[String]) -> Result<(), StoreError> {
        changed_one(self.conn()?.execute(
            "UPDATE staff SET roles = $2, services = $3 WHERE id = $1",
            &[&id, &role_words(roles), &services],
        )?)
    }

    fn set_disabled(&self, id: i64, disabled: bool, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let at = disabled.then_some(now);
        changed_one(tx.execute(
            "UPDATE staff SET disabled_at = $2 WHERE id = $1",
            &[&id, &at],
        )?)?;
        if disabled {
            tx.execute("DELETE FROM staff_sessions WHERE staff = $1", &[&id])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn link_sso(&self, id: i64, issuer: &str, subject: &str) -> Result<(), StoreError> {
        changed_one(self.conn()?.execute(
            "UPDATE staff SET oidc_issuer = $2, oidc_subject = $3 WHERE id = $1",
            &[&id, &issuer, &subject],
        )?)
    }

    fn put_setup_token(
        &self,
        hash: &str,
        staff: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO staff_setup (token_hash, staff, expires_at) VALUES ($1, $2, $3)",
            &[&hash, &staff, &expires_at],
        )?;
        Ok(())
    }

    fn setup_token_staff(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT staff FROM staff_setup WHERE token_hash = $1 AND expires_at > $2",
                &[&hash, &now],
            )?
            .map(|r| r.get(0)))
    }

    fn use_setup_token(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        // Two replicas using the same link: the second DELETE waits for the first's
        // commit, then finds no row: one of them sets the password.
        Ok(self.conn()?.execute(
            "DELETE FROM staff_setup WHERE token_hash = $1 AND expires_at > $2",
            &[&hash, &now],
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
             VALUES ($1, $2, $3, $4, $4)",
            &[&hash, &staff, &csrf, &now],
        )?;
        Ok(())
    }

    fn session_row(&self, hash: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT staff, csrf, created_at, last_seen FROM staff_sessions WHERE token_hash = $1",
                &[&hash],
            )?
            .map(|r| SessionRow {
                staff: r.get(0),
                csrf: r.get(1),
                created_at: r.get(2),
                last_seen: r.get(3),
            }))
    }

    fn touch_session(&self, hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?.execute(
            "UPDATE staff_sessions SET last_seen = $2 WHERE token_hash = $1",
            &[&hash, &now],
        )?;
        Ok(())
    }

    fn delete_session(&self, hash: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM staff_sessions WHERE token_hash = $1", &[&hash])?;
        Ok(())
    }

    fn delete_sessions_of(&self, staff: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn()?
            .execute("DELETE FROM staff_sessions WHERE staff = $1", &[&staff])? as usize)
    }

    fn record_signin_failure(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO signin_failures (key, at) VALUES ($1, $2)",
            &[&key, &now],
        )?;
        Ok(())
    }

    fn signin_failures_since(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        Ok(self
            .conn()?
            .query(
                "SELECT at FROM signin_failures WHERE key = $1 AND at > $2 ORDER BY at",
                &[&key, &since],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn clear_signin_failures(&self, key: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM signin_failures WHERE key = $1", &[&key])?;
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
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&now, &actor.staff, &actor.label, &action, &target, &detail],
        )?;
        Ok(())
    }

    fn audit_log(&self, limit: usize, before: Option<i64>) -> Result<Vec<AuditEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .conn()?
            .query(
                "SELECT id, at, staff, actor, action, target, detail FROM audit
                 WHERE id < $1 ORDER BY id DESC LIMIT $2",
                &[&before.unwrap_or(i64::MAX), &limit],
            )?
            .iter()
            .map(|r| AuditEvent {
                id: r.get(0),
                at: r.get(1),
                staff: r.get(2),
                actor: r.get(3),
                action: r.get(4),
                target: r.get(5),
                detail: r.get(6),
            })
            .collect())
    }

    fn put_oidc_login(
        &self,
        state_hash: &str,
        pending: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO oidc_logins (state_hash, pending, created_at) VALUES ($1, $2, $3)",
            &[&state_hash, &pending, &now],
        )?;
        Ok(())
    }

    fn take_oidc_login(
        &self,
        state_hash: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()?
            .query_opt(
                "DELETE FROM oidc_logins WHERE state_hash = $1 AND created_at > $2
                 RETURNING pending",
                &[&state_hash, &since],
            )?
            .map(|r| r.get(0)))
    }

    fn purge_staff(
        &self,
        audit_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let mut n = 0;
        n += tx.execute(
            "DELETE FROM staff_sessions WHERE last_seen < $1 OR created_at < $2",
            &[&(now - SESSION_IDLE), &(now - SESSION_MAX)],
        )?;
        n += tx.execute("DELETE FROM staff_setup WHERE expires_at <= $1", &[&now])?;
        n += tx.execute(
            "DELETE FROM oidc_logins WHERE created_at < $1",
            &[&(now - OIDC_KEPT)],
        )?;
        n += tx.execute(
            "DELETE FROM signin_failures WHERE at < $1",
            &[&(now - FAILURE_WINDOW)],
        )?;
        n += tx.execute("DELETE FROM audit WHERE at < $1", &[&audit_before])?;
        tx.commit()?;
        Ok(n)
    }
}
